"""DailyViewBuilder: actual hours from history, predicted from the latest covering plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
import itertools

import numpy as np
import pytest

from custom_components.bess.engine.daily_view import DailyViewBuilder
from custom_components.bess.engine.history import HistoricalDataStore
from custom_components.bess.engine.models import (
    HourlyEvent,
    Intent,
    OptimizationInput,
    OptimizationResult,
    StoredSchedule,
)
from custom_components.bess.engine.optimizer import build_result
from custom_components.bess.engine.schedules import ScheduleStore
from custom_components.bess.engine.timeutil import day_hour_starts

from .fakes import BATTERY, STOCKHOLM, FakeClock, local

DAY = date(2026, 6, 15)
CYCLE_COST = 0.05


def plan(
    day: date, first_hour: int, *, charge_kwh: float = 0.0, period_minutes: int = 60
) -> OptimizationResult:
    """Return a plan from hour `first_hour` of `day` to its end, charging in every period."""
    starts = day_hour_starts(day, STOCKHOLM)[first_hour:]
    n = len(starts) * 60 // period_minutes
    t = np.arange(n)
    inputs = OptimizationInput(
        start=starts[0],
        period_minutes=period_minutes,
        buy=tuple(1.0 + 0.1 * (t % 5)),
        sell=tuple(0.4 + 0.0 * t),
        load=tuple(0.5 * period_minutes / 60 + 0.0 * t),
        solar=tuple(0.2 * period_minutes / 60 + 0.0 * t),
        battery=BATTERY,
        initial_soc_percent=10.0,
    )
    charge = np.full(n, charge_kwh * period_minutes / 60)
    return build_result(inputs, charge, np.zeros(n))


def store_plan(schedules: ScheduleStore, result: OptimizationResult, first_hour: int) -> None:
    """Store `result` as planned at its start."""
    schedules.store_schedule(
        StoredSchedule(
            timestamp=result.start,
            optimization_hour=first_hour,
            algorithm_result=result.to_dict(),
            created_for_scenario="hourly",
        )
    )


def measured(day: date, hour: int) -> HourlyEvent:
    """Return a measured hour: 1.2 kWh load, 0.3 kWh solar, discharging 0.5 kWh."""
    start = local(day, hour)
    return HourlyEvent(
        hour=hour,
        timestamp=start + timedelta(hours=1),
        battery_soc_start=50.0,
        battery_soc_end=44.7,
        solar_generated=0.3,
        home_consumed=1.2,
        grid_imported=0.4,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=0.5,
        start=start,
        buy_price=2.0,
        sell_price=1.5,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local(DAY, 15, 20))


@pytest.fixture
def builder(clock: FakeClock) -> DailyViewBuilder:
    history = HistoricalDataStore(clock, STOCKHOLM)
    schedules = ScheduleStore(clock, STOCKHOLM)
    return DailyViewBuilder(
        history, schedules, clock, STOCKHOLM, replace(BATTERY, cycle_cost_per_kwh=CYCLE_COST)
    )


def test_hours_before_the_current_hour_are_actual_the_rest_predicted(
    builder: DailyViewBuilder,
) -> None:
    for hour in range(15):
        builder.history.record_event(measured(DAY, hour))
    store_plan(builder.schedules, plan(DAY, 15, charge_kwh=1.0), 15)

    view = builder.build_daily_view(15)

    assert view.date == "2026-06-15"
    assert len(view.hourly_data) == 24
    assert view.data_sources == ("actual",) * 15 + ("predicted",) * 9
    assert (view.actual_hours, view.predicted_hours, view.missing_hours) == (15, 9, 0)
    assert [h.hour for h in view.hourly_data] == list(range(24))
    assert [h.start for h in view.hourly_data] == day_hour_starts(DAY, STOCKHOLM)


def test_actual_hours_are_priced_with_the_one_cost_model(builder: DailyViewBuilder) -> None:
    builder.history.record_event(measured(DAY, 0))

    hour = builder.build_daily_view(1).hourly_data[0]

    # cost = 2.0·0.4 − 1.5·0 + 0.05·0; baseline = 2.0·(1.2 − 0.3)
    assert hour.source == "actual"
    assert hour.cost == pytest.approx(0.8)
    assert hour.baseline_cost == pytest.approx(1.8)
    assert hour.savings == pytest.approx(1.0)
    assert hour.battery_action_kw == pytest.approx(-0.5)
    assert hour.intent is Intent.LOAD_SUPPORT
    assert (hour.soc_start_percent, hour.soc_end_percent) == (50.0, 44.7)


def test_actual_hours_pay_the_batterys_cycle_cost_on_charged_energy(
    builder: DailyViewBuilder,
) -> None:
    event = measured(DAY, 0)
    builder.history.record_event(
        HourlyEvent(
            **{
                **{f: getattr(event, f) for f in event.__dataclass_fields__},
                "battery_charged": 2.0,
                "battery_discharged": 0.0,
                "grid_imported": 2.9,
            }
        )
    )

    hour = builder.build_daily_view(1).hourly_data[0]

    assert hour.cost == pytest.approx(2.0 * 2.9 + CYCLE_COST * 2.0)
    assert hour.intent is Intent.GRID_CHARGING


def test_a_recorded_hour_is_priced_with_the_terms_that_held_then(
    builder: DailyViewBuilder,
) -> None:
    # Recorded with no cycle cost and an export limit of 0.2 kW, solar 1.0 over a 0.3 load.
    builder.history.record_event(
        replace(
            measured(DAY, 0),
            battery_charged=0.5,
            battery_discharged=0.0,
            solar_generated=1.0,
            home_consumed=0.3,
            grid_imported=0.0,
            grid_exported=0.2,
            cycle_cost_per_kwh=0.0,
            export_limit_kw=0.2,
        )
    )
    before = builder.build_daily_view(1).hourly_data[0]
    # Later the user sets a cycle cost and lifts the export limit: the past stays as it was.
    builder.battery = replace(builder.battery, cycle_cost_per_kwh=0.5, export_limit_kw=None)
    after = builder.build_daily_view(1).hourly_data[0]

    assert after.cost == before.cost == pytest.approx(-1.5 * 0.2)
    # The baseline exports the 0.7 kWh surplus, capped at 0.2 kWh then.
    assert after.baseline_cost == before.baseline_cost == pytest.approx(-1.5 * 0.2)
    # An event recorded before the terms were kept is priced with today's.
    builder.history.record_event(replace(measured(DAY, 1), battery_charged=1.0))
    old = builder.build_daily_view(2).hourly_data[1]
    assert old.cost == pytest.approx(2.0 * 0.4 + 0.5 * 1.0)


def test_predicted_hours_carry_the_plans_own_numbers(builder: DailyViewBuilder) -> None:
    result = plan(DAY, 10, charge_kwh=1.0)
    store_plan(builder.schedules, result, 10)

    view = builder.build_daily_view(10)

    for hour, period in zip(view.hourly_data[10:], result.periods, strict=True):
        assert hour.source == "predicted"
        assert hour.savings == period.savings
        assert hour.cost == period.cost
        assert hour.grid_import_kwh == period.grid_import_kwh
        assert hour.soc_end_percent == period.soc_end_percent
    assert view.predicted_savings == pytest.approx(sum(p.savings for p in result.periods))
    assert view.total_grid_only_cost == pytest.approx(
        sum(p.buy_price * p.load_kwh for p in result.periods)
    )


def test_missing_hours_are_marked_never_invented(builder: DailyViewBuilder) -> None:
    for hour in (0, 1, 3):
        builder.history.record_event(measured(DAY, hour))
    # The only plan starts at 18:00: 15…17 have no covering plan.
    store_plan(builder.schedules, plan(DAY, 18), 18)

    view = builder.build_daily_view(15)

    assert view.data_sources[:5] == ("actual", "actual", "missing", "actual", "missing")
    assert view.data_sources[15:18] == ("missing",) * 3
    assert (view.actual_hours, view.predicted_hours, view.missing_hours) == (3, 6, 15)
    missing = view.hourly_data[2]
    assert missing.savings is None
    assert missing.load_kwh is None
    assert view.total_savings == pytest.approx(3 * 1.0 + view.predicted_savings)


def test_the_latest_plan_covering_an_hour_wins(builder: DailyViewBuilder) -> None:
    early = plan(DAY, 0, charge_kwh=0.0)
    later = plan(DAY, 12, charge_kwh=1.0)
    store_plan(builder.schedules, early, 0)
    store_plan(builder.schedules, later, 12)

    view = builder.build_daily_view(0)

    assert view.hourly_data[11].battery_charge_kwh == 0.0
    assert view.hourly_data[12].battery_charge_kwh == 1.0
    assert view.predicted_hours == 24


def test_totals_are_sums_of_the_hours(builder: DailyViewBuilder) -> None:
    for hour in range(15):
        builder.history.record_event(measured(DAY, hour))
    store_plan(builder.schedules, plan(DAY, 15, charge_kwh=1.0), 15)

    view = builder.build_daily_view(15)
    hours = view.hourly_data

    assert view.total_savings == pytest.approx(sum(h.savings or 0.0 for h in hours))
    assert view.total_savings == pytest.approx(view.actual_savings + view.predicted_savings)
    assert view.actual_savings == pytest.approx(15 * 1.0)
    assert view.total_cost == pytest.approx(sum(h.cost or 0.0 for h in hours))
    assert view.total_baseline_cost - view.total_cost == pytest.approx(view.total_savings)


def test_quarter_hour_plans_are_summed_per_hour(builder: DailyViewBuilder) -> None:
    result = plan(DAY, 20, charge_kwh=1.0, period_minutes=15)
    store_plan(builder.schedules, result, 20)

    view = builder.build_daily_view(20)
    hour_20 = view.hourly_data[20]

    first_four = result.periods[:4]
    assert hour_20.battery_charge_kwh == pytest.approx(1.0)
    assert hour_20.savings == pytest.approx(sum(p.savings for p in first_four))
    assert hour_20.buy_price == pytest.approx(sum(p.buy_price for p in first_four) / 4)
    assert hour_20.soc_end_percent == first_four[-1].soc_end_percent
    assert view.predicted_hours == 4


def test_default_current_hour_follows_the_clock(
    builder: DailyViewBuilder, clock: FakeClock
) -> None:
    assert builder.default_current_hour(DAY) == 15
    assert builder.default_current_hour(DAY - timedelta(days=1)) == 24
    assert builder.default_current_hour(DAY + timedelta(days=1)) == 0
    with pytest.raises(ValueError, match="current_hour"):
        builder.build_daily_view(25)


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
def test_dst_days_have_one_entry_per_local_hour(
    builder: DailyViewBuilder, day: date, hours: int
) -> None:
    for hour in range(5):
        builder.history.record_event(measured(day, hour))
    result = plan(day, 5)
    store_plan(builder.schedules, result, 5)

    view = builder.build_daily_view(5, day)

    assert len(view.hourly_data) == hours
    assert (view.actual_hours, view.predicted_hours) == (5, hours - 5)
    starts = [h.start for h in view.hourly_data]
    assert len({s.timestamp() for s in starts}) == hours
    assert all(b.timestamp() - a.timestamp() == 3600 for a, b in itertools.pairwise(starts))


def test_an_actual_hour_under_an_export_cap_has_the_plans_baseline(
    builder: DailyViewBuilder,
) -> None:
    # 16.2 kWh of sun, 0.9 kWh load, a 2 kW export cap: without a battery only 2 kWh could
    # be sold, the rest curtailed. A measured hour and a planned hour agree on that.
    builder.battery = replace(builder.battery, export_limit_kw=2.0)
    event = replace(
        measured(DAY, 0),
        solar_generated=16.2,
        home_consumed=0.9,
        grid_imported=0.0,
        grid_exported=2.0,
        battery_charged=13.3,
        battery_discharged=0.0,
        sell_price=0.4,
    )
    builder.history.record_event(event)
    inputs = OptimizationInput(
        start=event.start,
        period_minutes=60,
        buy=(event.buy_price,),
        sell=(0.4,),
        load=(0.9,),
        solar=(16.2,),
        battery=builder.battery,
        initial_soc_percent=10.0,
    )
    planned = build_result(inputs, np.array([13.3]), np.array([0.0])).periods[0]

    actual = builder.build_daily_view(1).hourly_data[0]

    assert actual.baseline_cost == pytest.approx(-0.4 * 2.0)
    assert actual.baseline_cost == pytest.approx(planned.baseline_cost)
    assert actual.savings == pytest.approx(planned.savings)
