"""The optimizer on hand-built, real-shaped days, checked against HiGHS and by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
import pytest

from custom_components.bess.engine.engine import OptimizationEngine
from custom_components.bess.engine.models import (
    BatterySettings,
    Intent,
    OptimizationInput,
    OptimizationResult,
)
from custom_components.bess.engine.optimizer import build_result, optimize_battery_schedule
from custom_components.bess.engine.timeutil import day_hour_starts

from .reference import compare, objective_of

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = datetime(2026, 6, 15, tzinfo=STOCKHOLM)
BATTERY = BatterySettings(capacity_kwh=30.0, max_charge_kw=15.0, max_discharge_kw=15.0)

# A winter weekday in SE3 (currency/kWh, fees and VAT included): cheap night, two peaks.
SPREAD_BUY = (
    0.62, 0.58, 0.55, 0.54, 0.56, 0.70, 1.40, 2.80, 3.10, 2.20, 1.60, 1.30,
    1.20, 1.15, 1.25, 1.50, 2.10, 3.40, 3.90, 3.20, 2.30, 1.40, 0.90, 0.70,
)  # fmt: skip
HOUSE_LOAD = (
    0.6, 0.5, 0.5, 0.5, 0.5, 0.7, 1.2, 1.8, 1.5, 1.0, 0.8, 0.8,
    0.9, 0.8, 0.8, 1.0, 1.6, 2.4, 2.6, 2.2, 1.8, 1.4, 1.0, 0.8,
)  # fmt: skip
SUMMER_SOLAR = (
    0.0, 0.0, 0.0, 0.0, 0.1, 0.6, 1.6, 3.0, 4.6, 6.0, 7.2, 7.9,
    8.1, 7.8, 7.0, 5.8, 4.3, 2.8, 1.4, 0.5, 0.1, 0.0, 0.0, 0.0,
)  # fmt: skip


def make_input(
    buy: tuple[float, ...],
    *,
    sell: tuple[float, ...] | None = None,
    load: tuple[float, ...] | None = None,
    solar: tuple[float, ...] | None = None,
    battery: BatterySettings = BATTERY,
    soc: float = 10.0,
    terminal: float = 0.0,
    start: datetime = START,
    period_minutes: int = 60,
) -> OptimizationInput:
    """Build an optimization input; sell defaults to 60 % of buy, solar to none."""
    n = len(buy)
    return OptimizationInput(
        start=start,
        period_minutes=period_minutes,
        buy=buy,
        sell=sell if sell is not None else tuple(0.6 * p for p in buy),
        load=load if load is not None else (1.0,) * n,
        solar=solar if solar is not None else (0.0,) * n,
        battery=battery,
        initial_soc_percent=soc,
        terminal_value_per_kwh=terminal,
    )


def plan(inputs: OptimizationInput) -> OptimizationResult:
    """Optimize and assert the plan is as good as HiGHS's optimum of the same model."""
    result = optimize_battery_schedule(inputs)
    comparison = compare(inputs, result)
    assert comparison.exact_enough, comparison
    # Stronger than the bar: the DP is exact, not merely close.
    assert comparison.ours == pytest.approx(comparison.optimum, abs=1e-6)
    assert comparison.ours_excess_kwh == pytest.approx(comparison.optimum_excess_kwh, abs=1e-6)
    return result


def charges(result: OptimizationResult) -> NDArray[np.float64]:
    """Return the planned charge per period (kWh)."""
    return np.array([p.charge_kwh for p in result.periods])


def discharges(result: OptimizationResult) -> NDArray[np.float64]:
    """Return the planned discharge per period (kWh)."""
    return np.array([p.discharge_kwh for p in result.periods])


def test_high_spread_day_charges_at_night_and_covers_both_peaks() -> None:
    result = plan(make_input(SPREAD_BUY, load=HOUSE_LOAD))

    charged_hours = {t for t, p in enumerate(result.periods) if p.charge_kwh > 1e-6}
    assert charged_hours <= {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14}
    assert all(p.intent is not Intent.GRID_CHARGING for p in result.periods[6:10])
    # The morning and evening peaks are served from the battery, not the grid.
    for hour in (7, 8, 17, 18, 19):
        assert result.periods[hour].grid_import_kwh == pytest.approx(0.0, abs=1e-9)
    assert result.final_soc_percent == pytest.approx(10.0)
    assert result.total_savings > 10.0


def test_flat_prices_only_spend_the_stored_energy_on_the_load() -> None:
    inputs = make_input((1.0,) * 24, sell=(0.5,) * 24, load=(1.0,) * 24, soc=50.0)

    result = plan(inputs)

    # Cycling loses 10 %, so nothing is bought to store; the 12 kWh above the minimum
    # reach the house as 12 × 0.95 kWh that are not bought at 1.0.
    assert charges(result).sum() == pytest.approx(0.0, abs=1e-9)
    assert discharges(result).sum() == pytest.approx(12.0 * 0.95)
    assert result.total_savings == pytest.approx(11.4)
    assert all(p.grid_export_kwh == 0.0 for p in result.periods)


def test_negative_prices_are_paid_to_charge_without_charging_and_discharging_at_once() -> None:
    buy = (
        0.9, 0.8, 0.8, 0.8, 0.9, 1.0, 1.1, 0.6, 0.2, -0.1, -0.4, -0.6,
        -0.7, -0.5, -0.2, 0.1, 0.6, 1.4, 2.0, 2.2, 1.8, 1.3, 1.0, 0.9,
    )  # fmt: skip
    sell = tuple(p - 0.15 for p in buy)
    inputs = make_input(buy, sell=sell, load=HOUSE_LOAD, solar=SUMMER_SOLAR, soc=60.0)

    result = plan(inputs)

    # The battery is emptied before the negative hours so it can be paid to fill up.
    assert result.periods[8].soc_end_percent == pytest.approx(10.0)
    assert charges(result)[9:14].sum() > 20.0
    assert result.periods[13].soc_end_percent == pytest.approx(100.0)
    for p in result.periods:
        assert min(p.charge_kwh, p.discharge_kwh) == 0.0
        assert min(p.grid_import_kwh, p.grid_export_kwh) == 0.0


def test_large_solar_surplus_is_stored_up_to_the_maximum_soc() -> None:
    battery = BatterySettings(capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0)
    solar = tuple(3.0 * s for s in SUMMER_SOLAR)
    # Exporting pays 0.05; a kWh kept for tomorrow morning is worth 0.5.
    inputs = make_input(
        SPREAD_BUY, sell=(0.05,) * 24, load=HOUSE_LOAD, solar=solar, battery=battery, terminal=0.5
    )

    result = plan(inputs)

    assert max(p.soc_end_percent for p in result.periods) == pytest.approx(100.0)
    # The evening peak is served from stored sun.
    for hour in (17, 18, 19):
        assert result.periods[hour].grid_import_kwh == pytest.approx(0.0, abs=1e-9)
    midday = result.periods[8:16]
    assert all(p.intent in (Intent.SOLAR_STORAGE, Intent.IDLE) for p in midday)
    assert sum(p.grid_export_kwh for p in result.periods) > 100.0


def test_export_limit_curtails_only_what_can_be_neither_stored_nor_exported() -> None:
    battery = BatterySettings(
        capacity_kwh=10.0, max_charge_kw=3.0, max_discharge_kw=3.0, export_limit_kw=2.0
    )
    solar = tuple(2.0 * s for s in SUMMER_SOLAR)
    inputs = make_input(SPREAD_BUY, sell=(0.4,) * 24, load=HOUSE_LOAD, solar=solar, battery=battery)

    result = plan(inputs)

    noon = result.periods[12]  # 16.2 kWh of sun, 0.9 used, 3 stored at most, 2 exported
    assert noon.grid_export_kwh == pytest.approx(2.0)
    assert noon.curtailed_kwh == pytest.approx(16.2 - 0.9 - noon.charge_kwh - 2.0)
    for p in result.periods:
        assert p.grid_export_kwh <= 2.0 + 1e-9
        used = p.solar_kwh - p.curtailed_kwh
        balance = used + p.grid_import_kwh - p.grid_export_kwh + p.discharge_kwh - p.charge_kwh
        assert balance == pytest.approx(p.load_kwh, abs=1e-9)
    # The baseline cannot export past the cap either: it is the capped, battery-less cost.
    assert result.periods[12].baseline_cost == pytest.approx(-0.4 * 2.0)


def test_grid_charging_off_charges_only_from_solar_surplus() -> None:
    battery = BatterySettings(
        capacity_kwh=30.0, max_charge_kw=15.0, max_discharge_kw=15.0, grid_charging=False
    )
    inputs = make_input(SPREAD_BUY, load=HOUSE_LOAD, solar=SUMMER_SOLAR, battery=battery)

    result = plan(inputs)

    for p in result.periods:
        assert p.charge_kwh <= max(p.solar_kwh - p.load_kwh, 0.0) + 1e-9
        assert p.intent is not Intent.GRID_CHARGING
    assert charges(result)[:6].sum() == 0.0  # cheap night, but no sun
    assert charges(result).sum() > 10.0


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
def test_daylight_saving_days_plan_every_local_hour(day: date, hours: int) -> None:
    starts = day_hour_starts(day, STOCKHOLM)
    assert len(starts) == hours
    buy = tuple(SPREAD_BUY[s.hour] for s in starts)
    load = tuple(HOUSE_LOAD[s.hour] for s in starts)

    result = plan(make_input(buy, load=load, start=starts[0]))

    assert len(result.periods) == hours
    assert [result.period_start(i) for i in range(hours)] == starts
    assert (
        result.end
        == datetime.combine(day, datetime.min.time(), STOCKHOLM).astimezone(UTC)
        + (starts[1] - starts[0]) * hours
    )


def test_start_below_minimum_only_charges_or_idles_until_back_in_the_window() -> None:
    buy = (3.0, 3.2, 2.9, *SPREAD_BUY[3:])
    result = plan(make_input(buy, load=HOUSE_LOAD, soc=3.0))

    below = [p for p in result.periods if p.soc_start_percent < 10.0 - 1e-9]
    assert below, "the plan starts from the real SOC"
    assert result.periods[0].soc_start_percent == pytest.approx(3.0)
    assert all(p.discharge_kwh == 0.0 for p in below)
    socs = [p.soc_end_percent for p in result.periods]
    # Idle through the expensive first hours rather than buying at 3.0.
    assert charges(result)[:3].sum() == 0.0
    reached = next(i for i, s in enumerate(socs) if s >= 10.0 - 1e-9)
    assert min(socs[reached:]) >= 10.0 - 1e-9


def test_start_above_maximum_only_discharges_or_idles_until_back_in_the_window() -> None:
    battery = BatterySettings(
        capacity_kwh=30.0, max_charge_kw=15.0, max_discharge_kw=2.0, max_soc_percent=80.0
    )
    result = plan(make_input(SPREAD_BUY, load=HOUSE_LOAD, soc=95.0, battery=battery))

    above = [p for p in result.periods if p.soc_start_percent > 80.0 + 1e-9]
    assert above
    assert all(p.charge_kwh == 0.0 for p in above)
    assert max(p.soc_end_percent for p in result.periods) <= 95.0 + 1e-9


def test_quarter_hour_day_with_negative_prices_and_capped_export_matches_highs() -> None:
    hourly = np.repeat(np.array(SPREAD_BUY), 4)
    dip = -1.2 * np.exp(-(((np.arange(96) / 4.0) - 13.0) ** 2) / 4.0)
    buy = tuple(float(p) for p in hourly + dip)
    solar = tuple(float(s) / 4.0 for s in np.repeat(np.array(SUMMER_SOLAR), 4))
    battery = BatterySettings(
        capacity_kwh=30.0, max_charge_kw=15.0, max_discharge_kw=15.0, export_limit_kw=3.0
    )
    inputs = make_input(
        buy,
        sell=tuple(p - 0.2 for p in buy),
        load=(0.25,) * 96,
        solar=solar,
        battery=battery,
        soc=40.0,
        period_minutes=15,
    )

    result = plan(inputs)

    assert len(result.periods) == 96
    assert all(p.curtailed_kwh <= p.solar_kwh + 1e-9 for p in result.periods)


def test_terminal_value_keeps_energy_that_is_worth_more_than_selling_it() -> None:
    inputs = make_input((1.0,) * 24, sell=(0.5,) * 24, load=(0.2,) * 24, soc=50.0, terminal=2.0)

    result = plan(inputs)

    # Each stored kWh is worth 2.0 at the end; charging one costs 1.0 / 0.95.
    assert result.final_soc_percent == pytest.approx(100.0)
    assert objective_of(inputs, result.total_cost, 100.0) < result.total_baseline_cost


def test_engine_wraps_the_optimizer_and_times_the_solve() -> None:
    inputs = make_input(SPREAD_BUY, load=HOUSE_LOAD)

    result = OptimizationEngine().optimize(inputs)

    assert result.solve_seconds > 0.0
    assert result.periods == optimize_battery_schedule(inputs).periods


def test_build_result_keeps_the_energy_balance_and_soc_chain() -> None:
    battery = BatterySettings(
        capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0, export_limit_kw=1.0
    )
    inputs = make_input(
        (1.0, 2.0, 0.5), load=(1.0, 2.0, 0.5), solar=(6.0, 0.0, 0.0), battery=battery, soc=50.0
    )

    result = build_result(inputs, np.array([3.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0]))

    first, second, third = result.periods
    # 6 kWh sun: 1 to the house, 3 into the battery, 1 exported, 1 curtailed.
    assert (first.grid_export_kwh, first.curtailed_kwh) == (1.0, 1.0)
    assert first.soc_end_percent == pytest.approx(50.0 + 3.0 * 0.95 * 10.0)
    assert second.soc_start_percent == first.soc_end_percent
    assert second.soc_end_percent == pytest.approx(first.soc_end_percent - 2.0 / 0.95 * 10.0)
    assert second.grid_import_kwh == 0.0
    assert second.intent is Intent.LOAD_SUPPORT
    assert third.intent is Intent.IDLE
    assert result.final_soc_percent == third.soc_end_percent
