"""The import limit and two-day horizons: checked by hand and against HiGHS to 1e-6."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.bess.engine.models import (
    BatterySettings,
    Intent,
    OptimizationInput,
    PeriodPlan,
)
from custom_components.bess.engine.optimizer import optimize_battery_schedule

from .reference import compare, solve_reference
from .test_optimizer import HOUSE_LOAD, SPREAD_BUY, SUMMER_SOLAR, make_input, plan

STOCKHOLM = ZoneInfo("Europe/Stockholm")
BIG = BatterySettings(capacity_kwh=30.0, max_charge_kw=15.0, max_discharge_kw=15.0)


def test_import_limit_makes_the_night_charge_slower() -> None:
    unlimited = plan(make_input(SPREAD_BUY, load=HOUSE_LOAD))
    # Without a limit the cheap night is used at full power: more than 5 kW is imported.
    assert max(p.grid_import_kwh for p in unlimited.periods) > 10.0

    limited = plan(
        make_input(SPREAD_BUY, load=HOUSE_LOAD, battery=replace(BIG, import_limit_kw=5.0))
    )

    assert max(p.grid_import_kwh for p in limited.periods) == pytest.approx(5.0)
    assert all(p.grid_import_kwh <= 5.0 + 1e-9 for p in limited.periods)
    assert all(p.import_excess_kwh == 0.0 for p in limited.periods)
    # Charging spreads over more hours, so the plan costs more than the unlimited one.
    charged = sum(1 for p in limited.periods if p.charge_kwh > 1e-6)
    assert charged > sum(1 for p in unlimited.periods if p.charge_kwh > 1e-6)
    assert limited.total_cost > unlimited.total_cost + 0.1


def test_load_above_the_limit_is_planned_at_the_limit_and_the_excess_reported() -> None:
    battery = BatterySettings(
        capacity_kwh=5.0, max_charge_kw=2.0, max_discharge_kw=2.0, import_limit_kw=3.0
    )
    load = list(HOUSE_LOAD)
    load[17:20] = [6.0, 6.0, 8.0]  # sauna and car: 3, 3 and 5 kWh above the limit
    sell = [0.6 * p for p in SPREAD_BUY]
    sell[16] = 10.0  # selling the battery before the peak would pay far more than buying
    inputs = make_input(SPREAD_BUY, sell=tuple(sell), load=tuple(load), battery=battery)

    result = plan(inputs)

    # 4.5 kWh usable (10 %→100 %) reach the house as 4.275 kWh; at most 2 kWh per hour.
    usable = 4.5 * 0.95
    excess = [p.import_excess_kwh for p in result.periods]
    assert sum(excess) == pytest.approx(11.0 - usable)
    # 2 kW is all the battery gives at 17 and 18 (the dearer hours); 19 gets the rest.
    assert excess[17:20] == pytest.approx([1.0, 1.0, 5.0 - (usable - 4.0)])
    assert result.periods[16].discharge_kwh == 0.0  # kept for the peak, not sold at 10
    for hour, p in enumerate(result.periods):
        # Planned at the limit: the excess is what the load needs beyond it.
        assert p.grid_import_kwh - p.import_excess_kwh <= 3.0 + 1e-9
        if hour in (17, 18, 19):
            assert p.grid_import_kwh == pytest.approx(3.0 + p.import_excess_kwh)
            assert p.intent is Intent.LOAD_SUPPORT
        else:
            assert p.import_excess_kwh == 0.0
    # The excess is bought, so it is in the cost, like all import.
    peak = result.periods[19]
    assert peak.cost == pytest.approx(peak.buy_price * peak.grid_import_kwh)


def test_load_above_the_limit_with_an_empty_battery_reports_all_of_it() -> None:
    battery = BatterySettings(
        capacity_kwh=10.0,
        max_charge_kw=5.0,
        max_discharge_kw=5.0,
        grid_charging=False,
        import_limit_kw=2.0,
    )
    inputs = make_input((1.0, 3.0, 1.0), load=(1.0, 4.5, 2.5), battery=battery, soc=10.0)

    result = plan(inputs)

    assert [p.import_excess_kwh for p in result.periods] == pytest.approx([0.0, 2.5, 0.5])
    assert [p.grid_import_kwh for p in result.periods] == pytest.approx([1.0, 4.5, 2.5])


def test_import_limit_of_zero_with_negative_prices_and_a_capped_export_matches_highs() -> None:
    hourly = np.repeat(np.array(SPREAD_BUY), 4)
    dip = -1.5 * np.exp(-(((np.arange(96) / 4.0) - 13.0) ** 2) / 6.0)
    buy = tuple(float(p) for p in hourly + dip)
    battery = replace(BIG, export_limit_kw=1.0, import_limit_kw=0.0)
    inputs = make_input(
        buy,
        sell=tuple(p - 0.2 for p in buy),
        load=tuple(float(x) / 4.0 for x in np.repeat(np.array(HOUSE_LOAD), 4)),
        solar=tuple(float(s) / 4.0 for s in np.repeat(np.array(SUMMER_SOLAR), 4)),
        battery=battery,
        soc=50.0,
        period_minutes=15,
    )

    result = plan(inputs)

    # Nothing may be bought beyond the load's own need, not even at a negative price.
    for p in result.periods:
        assert p.grid_import_kwh == pytest.approx(p.import_excess_kwh)
        assert p.charge_kwh <= max(p.solar_kwh - p.load_kwh, 0.0) + 1e-9


def test_import_limit_and_excess_survive_serialization_and_old_data_loads() -> None:
    battery = replace(BIG, import_limit_kw=11.0)
    assert BatterySettings.from_dict(battery.to_dict()) == battery
    stored = BIG.to_dict()
    del stored["import_limit_kw"]  # written before the limit existed
    assert BatterySettings.from_dict(stored).import_limit_kw is None

    result = optimize_battery_schedule(
        make_input(
            (1.0, 2.0), load=(1.0, 4.0), battery=replace(BIG, import_limit_kw=1.0, capacity_kwh=1.0)
        )
    )
    period = result.periods[1]
    assert period.import_excess_kwh > 0.0
    assert PeriodPlan.from_dict(period.to_dict()) == period
    old = period.to_dict()
    del old["import_excess_kwh"]
    assert PeriodPlan.from_dict(old).import_excess_kwh == 0.0


@pytest.mark.parametrize("limit", [-1.0, math.nan, math.inf])
def test_import_limit_must_be_a_finite_number_not_below_zero(limit: float) -> None:
    with pytest.raises(ValueError, match="import_limit_kw"):
        replace(BIG, import_limit_kw=limit)


def two_days(
    seed: int,
    *,
    negative: int = 0,
    export_kw: float | None = None,
    import_kw: float | None = None,
    evening_kw: float = 0.0,
    battery: BatterySettings = BIG,
    soc: float = 30.0,
) -> OptimizationInput:
    """Return two real-shaped quarter-hour days (192 periods) from 00:00 local time.

    `negative` periods around noon get negative buy and sell prices; `evening_kw` adds a load
    peak around 18:00.
    """
    rng = np.random.default_rng(seed)
    n, dt = 192, 0.25
    clock = (np.arange(n) * dt) % 24.0
    spot = (
        0.9
        + 0.5 * np.sin((clock - 13.0) / 24.0 * 2.0 * np.pi)
        + 0.6 * np.exp(-(((clock - 8.0) / 1.5) ** 2))
        + 0.9 * np.exp(-(((clock - 18.5) / 1.5) ** 2))
        + rng.normal(0.0, 0.15, n)
    )
    buy = 1.25 * spot + 0.4
    sell = np.clip(spot, 0.0, None)
    solar = np.clip(6.0 * np.exp(-(((clock - 12.5) / 3.0) ** 2)) + rng.normal(0, 0.3, n), 0, None)
    load = rng.uniform(0.3, 2.0, n) + evening_kw * np.exp(-(((clock - 18.0) / 1.2) ** 2))
    if negative:
        sunniest = np.sort(np.argsort(-solar)[:negative])
        spot_negative = -rng.uniform(0.05, 1.0, negative)
        buy[sunniest] = spot_negative + 0.1
        sell[sunniest] = spot_negative
    return OptimizationInput(
        start=datetime(2026, 6, 15, tzinfo=STOCKHOLM),
        period_minutes=15,
        buy=tuple(float(p) for p in buy),
        sell=tuple(float(p) for p in sell),
        load=tuple(float(x) for x in load * dt),
        solar=tuple(float(x) for x in solar * dt),
        battery=replace(battery, export_limit_kw=export_kw, import_limit_kw=import_kw),
        initial_soc_percent=soc,
        terminal_value_per_kwh=0.3,
    )


SMALL = BatterySettings(
    capacity_kwh=6.0, max_charge_kw=3.0, max_discharge_kw=3.0, cycle_cost_per_kwh=0.05
)


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param(two_days(0), id="plain"),
        pytest.param(two_days(1, negative=30, export_kw=1.0), id="30-negative-1kW-export-cap"),
        pytest.param(two_days(2, import_kw=4.0), id="import-limit"),
        pytest.param(
            two_days(3, import_kw=2.5, evening_kw=5.0, battery=SMALL, negative=12, soc=5.0),
            id="load-above-the-limit-negative-prices-below-minimum",
        ),
    ],
)
def test_two_quarter_hour_days_match_highs(inputs: OptimizationInput) -> None:
    result = plan(inputs)

    assert len(result.periods) == 192
    limit = inputs.battery.import_limit_kw
    if limit is not None:
        for p in result.periods:
            assert p.grid_import_kwh - p.import_excess_kwh <= limit / 4.0 + 1e-9


def test_two_days_with_load_above_the_limit_report_the_same_excess_as_highs() -> None:
    inputs = two_days(4, import_kw=2.0, evening_kw=6.0, battery=SMALL)

    result = plan(inputs)

    excess = sum(p.import_excess_kwh for p in result.periods)
    assert excess > 1.0  # the peaks are beyond what the small battery can cover
    assert excess == pytest.approx(solve_reference(inputs).import_excess_kwh, abs=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_random_import_limited_days_match_highs(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    battery = BatterySettings(
        capacity_kwh=float(rng.uniform(3.0, 15.0)),
        max_charge_kw=float(rng.uniform(1.0, 6.0)),
        max_discharge_kw=float(rng.uniform(1.0, 6.0)),
        charge_efficiency=float(rng.uniform(0.85, 0.99)),
        discharge_efficiency=float(rng.uniform(0.85, 0.99)),
        cycle_cost_per_kwh=float(rng.choice([0.0, 0.05])),
        grid_charging=seed % 5 != 4,
    )
    inputs = two_days(
        seed,
        negative=int(rng.choice([0, 0, 8, 30])),
        export_kw=float(rng.uniform(0.0, 3.0)) if seed % 3 == 0 else None,
        import_kw=float(rng.uniform(0.5, 5.0)),
        evening_kw=float(rng.uniform(0.0, 7.0)),
        battery=battery,
        soc=float(rng.uniform(0.0, 100.0)),
    )
    hours = int(rng.choice([24, 36, 48]))
    inputs = replace(
        inputs,
        buy=inputs.buy[: hours * 4],
        sell=inputs.sell[: hours * 4],
        load=inputs.load[: hours * 4],
        solar=inputs.solar[: hours * 4],
    )

    comparison = compare(inputs, optimize_battery_schedule(inputs))

    assert comparison.ours == pytest.approx(comparison.optimum, abs=1e-6)
    assert comparison.ours_excess_kwh == pytest.approx(comparison.optimum_excess_kwh, abs=1e-6)
