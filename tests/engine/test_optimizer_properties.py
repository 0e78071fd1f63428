"""Properties every plan has, on arbitrary inputs: feasible, balanced, never worse than idle."""

from __future__ import annotations

from datetime import UTC, datetime
import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.bess.engine.models import BatterySettings, OptimizationInput
from custom_components.bess.engine.optimizer import optimize_battery_schedule

from .reference import compare, objective_of

TOL = 1e-9

prices = st.floats(min_value=-1.5, max_value=4.0, allow_nan=False)
energies = st.floats(min_value=0.0, max_value=6.0, allow_nan=False)


@st.composite
def batteries(draw: st.DrawFn) -> BatterySettings:
    """Draw any battery the settings allow."""
    low = draw(st.floats(min_value=0.0, max_value=50.0))
    return BatterySettings(
        capacity_kwh=draw(st.floats(min_value=1.0, max_value=40.0)),
        max_charge_kw=draw(st.floats(min_value=0.5, max_value=20.0)),
        max_discharge_kw=draw(st.floats(min_value=0.5, max_value=20.0)),
        min_soc_percent=low,
        max_soc_percent=draw(st.floats(min_value=low + 5.0, max_value=100.0)),
        charge_efficiency=draw(st.floats(min_value=0.7, max_value=1.0)),
        discharge_efficiency=draw(st.floats(min_value=0.7, max_value=1.0)),
        cycle_cost_per_kwh=draw(st.sampled_from([0.0, 0.01, 0.1])),
        grid_charging=draw(st.booleans()),
        export_limit_kw=draw(st.none() | st.floats(min_value=0.0, max_value=5.0)),
        import_limit_kw=draw(st.none() | st.floats(min_value=0.0, max_value=8.0)),
    )


@st.composite
def inputs(draw: st.DrawFn, max_periods: int = 30) -> OptimizationInput:
    """Draw an optimization input of any shape, prices of any sign, SOC anywhere."""
    n = draw(st.integers(min_value=1, max_value=max_periods))
    series = st.lists(prices, min_size=n, max_size=n)
    amounts = st.lists(energies, min_size=n, max_size=n)
    return OptimizationInput(
        start=datetime(2026, 3, 29, tzinfo=UTC),
        period_minutes=draw(st.sampled_from([15, 30, 60])),
        buy=tuple(draw(series)),
        sell=tuple(draw(series)),
        load=tuple(draw(amounts)),
        solar=tuple(draw(amounts)),
        battery=draw(batteries()),
        initial_soc_percent=draw(st.floats(min_value=0.0, max_value=100.0)),
        terminal_value_per_kwh=draw(st.floats(min_value=0.0, max_value=2.0)),
    )


@settings(max_examples=80, deadline=None)
@given(inputs())
def test_every_plan_is_physically_feasible(problem: OptimizationInput) -> None:
    battery = problem.battery
    dt = problem.period_minutes / 60.0
    # The optimizer's tolerance is on energy (kWh); as a share of the capacity it is larger.
    soc_tol = 100.0 * TOL / battery.capacity_kwh
    floor = min(problem.initial_soc_percent, battery.min_soc_percent) - soc_tol
    ceiling = max(problem.initial_soc_percent, battery.max_soc_percent) + soc_tol

    result = optimize_battery_schedule(problem)

    assert len(result.periods) == len(problem.buy)
    assert result.periods[0].soc_start_percent == pytest.approx(problem.initial_soc_percent)
    for before, after in zip(result.periods, result.periods[1:], strict=False):
        assert after.soc_start_percent == before.soc_end_percent
    for p in result.periods:
        assert floor <= p.soc_end_percent <= ceiling
        if p.soc_start_percent < battery.min_soc_percent - soc_tol:
            assert p.discharge_kwh == 0.0, "below the minimum the battery only charges or idles"
        if p.soc_start_percent > battery.max_soc_percent + soc_tol:
            assert p.charge_kwh == 0.0, "above the maximum the battery only discharges or idles"
        if (
            battery.min_soc_percent - soc_tol
            <= p.soc_start_percent
            <= battery.max_soc_percent + soc_tol
        ):
            assert battery.min_soc_percent - soc_tol <= p.soc_end_percent
            assert p.soc_end_percent <= battery.max_soc_percent + soc_tol
        assert 0.0 <= p.charge_kwh <= battery.max_charge_kw * dt + TOL
        assert 0.0 <= p.discharge_kwh <= battery.max_discharge_kw * dt + TOL
        assert p.charge_kwh == 0.0 or p.discharge_kwh == 0.0
        assert p.grid_import_kwh == 0.0 or p.grid_export_kwh == 0.0
        if not battery.grid_charging:
            assert p.charge_kwh <= max(p.solar_kwh - p.load_kwh, 0.0) + TOL
        if battery.export_limit_kw is not None:
            assert p.grid_export_kwh <= battery.export_limit_kw * dt + TOL
        if battery.import_limit_kw is None:
            assert p.import_excess_kwh == 0.0
        else:
            # Import beyond the limit is only ever what the load needs and is reported.
            assert p.import_excess_kwh >= 0.0
            assert p.grid_import_kwh - p.import_excess_kwh <= battery.import_limit_kw * dt + TOL
            assert p.import_excess_kwh <= max(p.load_kwh - p.solar_kwh, 0.0) + TOL
        assert 0.0 <= p.curtailed_kwh <= p.solar_kwh + TOL
        used = p.solar_kwh - p.curtailed_kwh
        supplied = used + p.grid_import_kwh - p.grid_export_kwh + p.discharge_kwh - p.charge_kwh
        assert abs(supplied - p.load_kwh) <= TOL
        assert abs(p.savings - (p.baseline_cost - p.cost)) <= TOL


@settings(max_examples=80, deadline=None)
@given(inputs())
def test_a_plan_is_never_worse_than_leaving_the_battery_idle(problem: OptimizationInput) -> None:
    result = optimize_battery_schedule(problem)

    objective = objective_of(problem, result.total_cost, result.final_soc_percent)
    excess = sum(p.import_excess_kwh for p in result.periods)
    limit = problem.battery.import_limit_kw
    cap = math.inf if limit is None else limit * problem.period_minutes / 60.0
    idle_excess = sum(
        max(x - s - cap, 0.0) for x, s in zip(problem.load, problem.solar, strict=True)
    )
    assert excess <= idle_excess + TOL
    # The import limit comes first: money is only compared when the battery could not lessen
    # the import excess (it may cost money to lessen it: a kWh bought at a negative price).
    if excess >= idle_excess - TOL:
        # Kinks closer than 1e-9 kWh are merged, so a micro-currency of rounding is allowed.
        assert objective <= result.total_baseline_cost + 1e-6


@settings(max_examples=60, deadline=None)
@given(inputs(max_periods=10))
def test_short_arbitrary_horizons_match_highs(problem: OptimizationInput) -> None:
    comparison = compare(problem, optimize_battery_schedule(problem))

    assert comparison.exact_enough, comparison
