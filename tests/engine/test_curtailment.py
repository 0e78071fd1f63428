"""Curtailment at a negative export price: the plan may curtail instead of paying to export.

Checked against HiGHS to 1e-6, by hand on a sunny day of negative prices, and through the one
cost model (plan, baseline and a measured period agree).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from custom_components.bess.engine.cost import baseline_cost, curtailable_solar, grid_flows
from custom_components.bess.engine.daily_view import DailyViewBuilder
from custom_components.bess.engine.history import HistoricalDataStore
from custom_components.bess.engine.models import (
    BatterySettings,
    HourlyEvent,
    OptimizationInput,
    OptimizationResult,
)
from custom_components.bess.engine.optimizer import build_result, optimize_battery_schedule
from custom_components.bess.engine.schedules import ScheduleStore

from .fakes import FakeClock
from .reference import objective_of, solve_reference
from .test_optimizer import HOUSE_LOAD, START, STOCKHOLM, SUMMER_SOLAR, make_input, plan
from .test_optimizer_random import random_day

SMALL = BatterySettings(capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0)
CURTAILING = replace(SMALL, curtailment=True)
# A sunny Sunday: export costs money from 09:00 to 17:00, most of all at noon.
NEGATIVE = range(9, 17)
SUNDAY_SELL = tuple(
    (-0.40 if hour == 12 else -0.15) if hour in NEGATIVE else 0.30 for hour in range(24)
)
SUNDAY_BUY = tuple(sell + 0.60 for sell in SUNDAY_SELL)


def sunday(battery: BatterySettings) -> OptimizationInput:
    """Return the sunny Sunday of negative export prices for `battery`."""
    return make_input(
        SUNDAY_BUY, sell=SUNDAY_SELL, load=HOUSE_LOAD, solar=SUMMER_SOLAR, battery=battery
    )


def solar_surplus(result: OptimizationResult, hour: int) -> float:
    """Return the solar the home does not use in an hour of `result`."""
    period = result.periods[hour]
    return max(period.solar_kwh - period.load_kwh, 0.0)


def test_a_sunny_day_of_negative_prices_curtails_what_the_battery_cannot_store() -> None:
    result = plan(sunday(CURTAILING))  # equal to HiGHS's optimum to 1e-6

    for hour, period in enumerate(result.periods):
        if hour in NEGATIVE:
            # Nothing is exported at a loss: all surplus goes to the battery or is curtailed.
            assert period.grid_export_kwh == pytest.approx(0.0, abs=1e-9)
            assert period.curtailed_kwh == pytest.approx(
                solar_surplus(result, hour) - period.charge_kwh, abs=1e-9
            )
            assert period.discharge_kwh == 0.0
        else:
            assert period.curtailed_kwh == 0.0
    # The battery takes 9 kWh (10 % → 100 %) as 9 / 0.95 kWh of AC; the rest is curtailed.
    negative_surplus = sum(solar_surplus(result, hour) for hour in NEGATIVE)
    stored = sum(result.periods[hour].charge_kwh for hour in NEGATIVE)
    assert stored == pytest.approx(9.0 / 0.95)
    assert sum(p.curtailed_kwh for p in result.periods) == pytest.approx(negative_surplus - stored)
    assert negative_surplus == pytest.approx(46.4)  # 54.1 kWh of sun, 7.7 used at home


def test_without_curtailment_the_plan_exports_at_a_loss_as_before() -> None:
    without = plan(sunday(SMALL))
    with_curtailment = plan(sunday(CURTAILING))

    assert all(p.curtailed_kwh == 0.0 for p in without.periods)
    for hour in NEGATIVE:
        period = without.periods[hour]
        # Every kWh of surplus not stored is exported, whatever it costs.
        assert period.grid_export_kwh == pytest.approx(
            solar_surplus(without, hour) - period.charge_kwh + period.discharge_kwh
        )
    assert sum(without.periods[hour].grid_export_kwh for hour in NEGATIVE) > 30.0
    # Curtailing instead of paying to export: 5.90 saved on the day.
    assert without.total_cost - with_curtailment.total_cost == pytest.approx(5.903, abs=1e-3)
    assert with_curtailment.total_cost == pytest.approx(0.585)


def test_the_baseline_curtails_too_so_savings_are_the_batterys_alone() -> None:
    without = plan(sunday(SMALL))
    with_curtailment = plan(sunday(CURTAILING))

    for hour in NEGATIVE:
        # The home without a battery, with the same inverter, exports nothing at a loss.
        assert with_curtailment.periods[hour].baseline_cost == pytest.approx(0.0)
        assert without.periods[hour].baseline_cost == pytest.approx(
            -SUNDAY_SELL[hour] * solar_surplus(without, hour)
        )
    assert with_curtailment.total_baseline_cost == pytest.approx(7.83)
    assert without.total_baseline_cost == pytest.approx(16.59)
    # The battery still saves money on its own, less than when it was also credited with
    # the exports it avoided.
    assert with_curtailment.total_savings == pytest.approx(7.245)
    assert 0.0 < with_curtailment.total_savings < without.total_savings


def test_curtailment_never_pays_where_export_earns_money() -> None:
    positive = make_input(
        tuple(abs(p) + 0.6 for p in SUNDAY_SELL),
        sell=tuple(abs(p) for p in SUNDAY_SELL),
        load=HOUSE_LOAD,
        solar=SUMMER_SOLAR,
        battery=CURTAILING,
    )

    result = plan(positive)

    assert all(p.curtailed_kwh == 0.0 for p in result.periods)
    without = optimize_battery_schedule(replace(positive, battery=SMALL))
    assert result.total_cost == pytest.approx(without.total_cost)


def test_curtailment_under_an_export_cap_and_at_quarter_hours_matches_highs() -> None:
    battery = replace(CURTAILING, export_limit_kw=2.0, grid_charging=False)
    quarters = [hour for hour in range(24) for _ in range(4)]
    inputs = make_input(
        tuple(SUNDAY_BUY[h] for h in quarters),
        sell=tuple(SUNDAY_SELL[h] for h in quarters),
        load=tuple(HOUSE_LOAD[h] / 4 for h in quarters),
        solar=tuple(SUMMER_SOLAR[h] / 4 for h in quarters),
        battery=battery,
        soc=60.0,
        period_minutes=15,
    )

    result = plan(inputs)

    negative = [k for k, h in enumerate(quarters) if h in NEGATIVE]
    assert all(result.periods[k].grid_export_kwh == pytest.approx(0.0) for k in negative)
    # Before the negative hours the cap still curtails what cannot be exported.
    assert result.periods[32].grid_export_kwh == pytest.approx(0.5)


# The random days on which exporting costs money at some time.
NEGATIVE_SEEDS = [seed for seed in range(60) if min(random_day(seed).sell) < 0.0]


def test_the_random_negative_price_days_cover_the_hard_cases() -> None:
    days = [random_day(seed) for seed in NEGATIVE_SEEDS]

    assert len(days) >= 15
    assert sum(min(d.buy) < 0.0 for d in days) >= 5
    assert sum(d.battery.export_limit_kw is not None for d in days) >= 3
    assert {d.period_minutes for d in days} >= {15, 60}
    curtailing = [replace(d, battery=replace(d.battery, curtailment=True)) for d in days]
    curtailed = [
        sum(p.curtailed_kwh for p in optimize_battery_schedule(d).periods) for d in curtailing
    ]
    assert sum(kwh > 1.0 for kwh in curtailed) >= 5


@pytest.mark.parametrize("seed", NEGATIVE_SEEDS)
def test_random_negative_price_days_with_curtailment_match_highs(seed: int) -> None:
    day = random_day(seed)
    inputs = replace(day, battery=replace(day.battery, curtailment=True))

    result = optimize_battery_schedule(inputs)

    ours = objective_of(inputs, result.total_cost, result.final_soc_percent)
    assert ours == pytest.approx(solve_reference(inputs).objective, abs=1e-6)
    # Curtailing is a choice the plan has: never worse than exporting at a loss.
    without = optimize_battery_schedule(day)
    assert ours <= objective_of(day, without.total_cost, without.final_soc_percent) + 1e-9
    for period in result.periods:
        if period.sell_price < 0.0:
            # Only the battery's own discharge beyond the load is ever exported.
            forced = max(period.discharge_kwh - period.load_kwh, 0.0)
            assert period.grid_export_kwh == pytest.approx(forced, abs=1e-9)
        # Curtailing never makes the home import: only surplus solar is curtailed.
        assert (
            period.curtailed_kwh
            <= max(
                period.solar_kwh - period.load_kwh - period.charge_kwh + period.discharge_kwh, 0.0
            )
            + 1e-9
        )


def test_the_cost_model_curtails_only_surplus_solar_where_export_costs_money() -> None:
    sell = np.array([0.5, -0.2, -0.2, -0.2, 0.0])
    solar = np.array([4.0, 4.0, 4.0, 1.0, 4.0])
    # load − solar + charge − discharge
    net = np.array([-3.0, -3.0, 1.0, -2.0, -3.0])

    curtailable = curtailable_solar(sell, solar, curtailment=True)
    grid_import, grid_export = grid_flows(net, np.inf, curtailable)

    assert curtailable.tolist() == [0.0, 4.0, 4.0, 1.0, 0.0]
    assert grid_import.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    # The fourth period discharges 1 kWh beyond the load: that much must be exported.
    assert grid_export.tolist() == [3.0, 0.0, 0.0, 1.0, 3.0]
    assert curtailable_solar(sell, solar, curtailment=False).tolist() == [0.0] * 5
    # Scalars and arrays price the baseline alike, with and without curtailment.
    buy, load = np.array([1.0, 0.3, 0.3, 0.3, 0.6]), np.array([1.0, 1.0, 5.0, 0.5, 1.0])
    for curtailment in (False, True):
        whole = baseline_cost(buy, sell, load, solar, curtailment=curtailment)
        one_by_one = [
            baseline_cost(b, s, ld, so, curtailment=curtailment)
            for b, s, ld, so in zip(buy, sell, load, solar, strict=True)
        ]
        assert whole.tolist() == pytest.approx(one_by_one)
    assert baseline_cost(0.3, -0.2, 1.0, 4.0, curtailment=True) == 0.0
    assert baseline_cost(0.3, -0.2, 1.0, 4.0) == pytest.approx(0.6)
    assert baseline_cost(0.3, -0.2, 1.0, 4.0, export_cap=2.0) == pytest.approx(0.4)


def test_a_measured_period_with_curtailment_has_the_plans_baseline() -> None:
    clock = FakeClock(START + timedelta(hours=15))
    builder = DailyViewBuilder(
        HistoricalDataStore(clock, STOCKHOLM),
        ScheduleStore(clock, STOCKHOLM),
        clock,
        STOCKHOLM,
        SMALL,  # today's options differ: the event's own terms hold
    )
    start = START + timedelta(hours=12)
    event = HourlyEvent(
        hour=12,
        timestamp=start + timedelta(hours=1),
        battery_soc_start=40.0,
        battery_soc_end=87.5,
        solar_generated=5.9,  # 8.1 kWh could have been made; 2.2 were curtailed
        home_consumed=0.9,
        grid_imported=0.0,
        grid_exported=0.0,
        battery_charged=5.0,
        battery_discharged=0.0,
        start=start,
        buy_price=0.2,
        sell_price=-0.4,
        cycle_cost_per_kwh=0.0,
        export_limit_kw=None,
        curtailment=True,
    )
    builder.history.record_event(event)
    inputs = make_input((0.2,), sell=(-0.4,), load=(0.9,), solar=(8.1,), battery=CURTAILING)
    inputs = replace(inputs, start=start, initial_soc_percent=40.0)
    planned = build_result(inputs, np.array([5.0]), np.array([0.0])).periods[0]

    actual = builder.build_daily_view(13).hourly_data[12]

    assert planned.curtailed_kwh == pytest.approx(2.2)
    assert actual.baseline_cost == planned.baseline_cost == 0.0
    assert actual.savings == pytest.approx(planned.savings)


def test_an_event_stores_curtailment_only_when_it_was_on() -> None:
    start = START + timedelta(hours=12)
    event = HourlyEvent(
        hour=12,
        timestamp=start + timedelta(hours=1),
        battery_soc_start=40.0,
        battery_soc_end=40.0,
        solar_generated=1.0,
        home_consumed=1.0,
        grid_imported=0.0,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=0.0,
        start=start,
        buy_price=0.2,
        sell_price=-0.4,
    )

    assert "curtailment" not in event.to_dict()
    assert HourlyEvent.from_dict(event.to_dict()) == event
    on = replace(event, curtailment=True)
    assert on.to_dict()["curtailment"] is True
    assert HourlyEvent.from_dict(on.to_dict()) == on
    with pytest.raises(ValueError, match="curtailment"):
        HourlyEvent.from_dict({**on.to_dict(), "curtailment": "yes"})
    with pytest.raises(ValueError, match="curtailment"):
        replace(SMALL, curtailment=1)  # type: ignore[arg-type]
    assert BatterySettings.from_dict(CURTAILING.to_dict()) == CURTAILING
