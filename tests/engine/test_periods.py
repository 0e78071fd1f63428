"""Planning, recording and viewing at the market's resolution: 15-minute periods.

A day of quarter-hours has 96 periods, 92 on the spring DST day and 100 on the autumn one.
Scenario 2 runs at every period boundary: it records the period that ended and re-plans from
the one starting. The daily view still shows the day's hours, each the sum of its periods,
and offers the periods themselves. Hourly events recorded before bess planned in quarters
load unchanged and sit beside the new ones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import itertools
import json
from zoneinfo import ZoneInfo

import pytest

from custom_components.bess.engine.daily_view import plan_hours
from custom_components.bess.engine.history import HistoryConflictError
from custom_components.bess.engine.models import (
    BatterySettings,
    HourlyEvent,
    OptimizationInput,
)
from custom_components.bess.engine.optimizer import optimize_battery_schedule
from custom_components.bess.engine.timeutil import day_hour_starts, day_period_starts

from .fakes import STOCKHOLM, MemoryPersistence, buy_price, local
from .test_manager import AUTUMN, DAY, ONE_DAY, SPRING, World, expected_savings

QUARTER = timedelta(minutes=15)


def quarter_world(day: date) -> World:
    """A world whose manager plans, controls and records in quarter-hours."""
    world = World(day, period_minutes=15)
    assert world.home.period_minutes == 15  # the manager sets its energy source's period
    return world


async def live_period(world: World, start: datetime) -> None:
    """Live through the quarter from `start`, then run the update 5 s after its end."""
    world.home.run_hour(start, world.controller.plan)
    world.clock.set((start.astimezone(UTC) + QUARTER + timedelta(seconds=5)).astimezone(STOCKHOLM))
    await world.manager.update_hourly_schedule()


@pytest.mark.parametrize(
    ("day", "periods", "hours"), [(DAY, 96, 24), (SPRING, 92, 23), (AUTUMN, 100, 25)]
)
async def test_a_day_of_quarter_hours_is_planned_recorded_and_summed_into_hours(
    day: date, periods: int, hours: int
) -> None:
    world = quarter_world(day)
    starts = day_period_starts(day, STOCKHOLM, 15)
    assert len(starts) == periods

    tomorrow = await world.manager.create_tomorrows_schedule()
    assert tomorrow is not None
    assert tomorrow.period_minutes == 15
    assert len(tomorrow.periods) == periods

    for index, start in enumerate(starts):
        if index == 58:  # 14:30 (14:30 local on every one of these days, DST is at night)
            await world.restart(start + timedelta(minutes=7))
            assert world.manager.latest_result is not None
            assert (
                world.manager.latest_result.start == start
            )  # planned from the quarter in progress
        await live_period(world, start)
        if index == 41:
            # 10:15 (10:30 on the day with 25 hours … the index is what counts): mid-hour.
            view = world.manager.build_daily_view(day)
            in_progress = view.hourly_data[(index + 1) // 4]
            assert in_progress.source == "predicted"  # the hour in progress
            assert in_progress.minutes == 60  # two measured quarters, two planned ones
            assert [p.source for p in view.periods[index - 1 : index + 3]] == [
                "actual",
                "actual",
                "predicted",
                "predicted",
            ]

    view = world.manager.build_daily_view(day)
    assert len(view.hourly_data) == hours
    assert len(view.periods) == periods
    assert view.data_sources == ("actual",) * hours
    assert all(p.minutes == 15 for p in view.periods)
    # Each hour is its four quarters; the day's money is the measured quarters', priced here.
    assert view.total_savings == pytest.approx(expected_savings(world.home, starts), abs=1e-9)
    hour_starts = day_hour_starts(day, STOCKHOLM)
    for hour, hour_start in zip(view.hourly_data, hour_starts, strict=True):
        quarters = [
            world.home.recorder[(hour_start.astimezone(UTC) + i * QUARTER)] for i in range(4)
        ]
        assert hour.grid_import_kwh == pytest.approx(sum(q.grid_imported for q in quarters))
        assert hour.soc_end_percent == pytest.approx(quarters[-1].battery_soc_end)
    events = world.manager.history.get_day_events(day)
    assert len(events) == periods
    assert {e.period_minutes for e in events} == {15}
    assert [e.buy_price for e in events] == [buy_price(s) for s in starts]


async def test_a_restart_mid_period_plans_from_that_period_and_rebuilds_the_quarters() -> None:
    world = quarter_world(DAY)
    starts = day_period_starts(DAY, STOCKHOLM, 15)
    for start in starts[:40]:  # until 10:00, recorded by the recorder only (bess was down)
        world.home.run_hour(start, None)
    result = await world.restart(local(DAY, 10, 22, 40))
    assert result.start == local(DAY, 10, 15)
    assert result.period_minutes == 15
    assert world.manager.history.events_between(local(DAY, 0), local(DAY, 10))
    assert len(world.manager.history.get_day_events(DAY)) == 40
    # 10:00–10:15 is not in the recorder: missing, never invented; 10:15 is in progress.
    view = world.manager.build_daily_view(DAY)
    assert [p.source for p in view.periods[39:42]] == ["actual", "missing", "predicted"]
    assert view.hourly_data[10].source == "predicted"


async def test_an_hourly_store_loads_unchanged_and_quarters_follow_its_hours() -> None:
    hourly = World(DAY)
    await hourly.manager.create_tomorrows_schedule()
    for hour in range(10):
        await hourly.live_hour(hour)
    saved = json.loads(hourly.persistence.text or "")
    events = saved["history"]["events"]
    assert len(events) == 10
    # A store written by the hourly version: its events have no period length at all.
    for event in events:
        event.pop("period_minutes", None)

    quarters = World(DAY, persistence=MemoryPersistence(json.dumps(saved)), period_minutes=15)
    quarters.home.recorder = hourly.home.recorder
    quarters.home.soc_percent = hourly.home.soc_percent
    quarters.clock.set(local(DAY, 10, 0, 5))
    await quarters.manager.async_load()
    loaded = quarters.manager.history.get_day_events(DAY)
    assert [(e.period_minutes, e.hour) for e in loaded] == [(60, h) for h in range(10)]

    await quarters.manager.restart_and_reconstruct()
    for start in day_period_starts(DAY, STOCKHOLM, 15)[40:48]:  # 10:00 … 12:00 in quarters
        await live_period(quarters, start)
    view = quarters.manager.build_daily_view(DAY)
    assert view.data_sources[:12] == ("actual",) * 12
    assert [p.minutes for p in view.periods[:12]] == [60] * 10 + [15, 15]
    assert view.hourly_data[9].grid_import_kwh == pytest.approx(
        hourly.home.recorder[local(DAY, 9).astimezone(UTC)].grid_imported
    )


def test_periods_never_overlap_and_an_hour_recorded_whole_is_not_recorded_again() -> None:
    world = quarter_world(DAY)
    history = world.manager.history

    def event(start: datetime, minutes: int, imported: float) -> HourlyEvent:
        return HourlyEvent(
            hour=start.hour,
            timestamp=start,
            battery_soc_start=50.0,
            battery_soc_end=50.0,
            solar_generated=0.0,
            home_consumed=imported,
            grid_imported=imported,
            grid_exported=0.0,
            battery_charged=0.0,
            battery_discharged=0.0,
            start=start,
            buy_price=1.0,
            sell_price=0.5,
            period_minutes=minutes,
        )

    assert history.record_event(event(local(DAY, 9), 60, 1.0))
    with pytest.raises(HistoryConflictError):
        history.record_event(event(local(DAY, 9, 30), 15, 0.3))  # inside the recorded hour
    assert history.record_event(event(local(DAY, 10), 15, 0.25))
    with pytest.raises(HistoryConflictError):
        history.record_event(event(local(DAY, 10), 60, 1.0))  # over the recorded quarter
    with pytest.raises(ValueError, match="15-minute period"):
        history.record_event(event(local(DAY, 11, 5), 15, 0.3))
    assert history.is_recorded(local(DAY, 9, 15), local(DAY, 9, 30))
    assert history.is_recorded(local(DAY, 9), local(DAY, 10, 15))
    assert not history.is_recorded(local(DAY, 9), local(DAY, 10, 30))


def test_tomorrow_of_the_autumn_day_has_100_quarters() -> None:
    assert len(day_period_starts(AUTUMN, STOCKHOLM, 15)) == 100
    assert len(day_period_starts(SPRING, STOCKHOLM, 15)) == 92
    assert len(day_period_starts(AUTUMN - ONE_DAY, STOCKHOLM, 15)) == 96


@pytest.mark.parametrize(("day", "hours"), [(AUTUMN, 25), (SPRING, 23), (DAY, 24)])
def test_a_plans_quarters_make_its_local_hours_on_every_day(day: date, hours: int) -> None:
    starts = day_period_starts(day, STOCKHOLM, 15)
    n = len(starts)
    inputs = OptimizationInput(
        start=starts[0],
        period_minutes=15,
        buy=tuple(buy_price(start) + 0.01 * (i % 4) for i, start in enumerate(starts)),
        sell=tuple(0.5 * buy_price(start) for start in starts),
        load=tuple(0.2 + 0.1 * (i % 3) for i in range(n)),
        solar=(0.0,) * n,
        battery=BatterySettings(capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0),
        initial_soc_percent=50.0,
    )
    plan = optimize_battery_schedule(inputs)

    result = plan_hours(plan, STOCKHOLM)

    assert len(result) == hours
    assert [h["period_count"] for h in result] == [4] * hours
    # The doubled 02:00 of the autumn day is two hours, an hour of absolute time apart.
    starts_utc = [datetime.fromisoformat(h["start"]).astimezone(UTC) for h in result]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts_utc))
    for index, hour in enumerate(result):
        quarters = plan.periods[4 * index : 4 * index + 4]
        assert hour["load_kwh"] == pytest.approx(sum(q.load_kwh for q in quarters))
        assert hour["savings"] == pytest.approx(sum(q.savings for q in quarters))
        assert hour["soc_start_percent"] == quarters[0].soc_start_percent
        assert hour["soc_end_percent"] == quarters[-1].soc_end_percent
        assert hour["buy_price"] == pytest.approx(sum(q.buy_price for q in quarters) / 4)


def test_an_hour_is_the_quarters_of_a_half_hour_zone_that_fall_in_it() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start = datetime(2026, 11, 24, 10, 15, tzinfo=kolkata)  # a plan from 10:15 local
    inputs = OptimizationInput(
        start=start,
        period_minutes=15,
        buy=(1.0,) * 7,
        sell=(0.5,) * 7,
        load=(0.25,) * 7,
        solar=(0.0,) * 7,
        battery=BatterySettings(capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0),
        initial_soc_percent=50.0,
    )

    result = plan_hours(optimize_battery_schedule(inputs), kolkata)

    assert [(h["start"], h["period_count"]) for h in result] == [
        ("2026-11-24T10:00:00+05:30", 3),  # 10:15, 10:30, 10:45
        ("2026-11-24T11:00:00+05:30", 4),
    ]
    assert result[0]["load_kwh"] == pytest.approx(0.75)
