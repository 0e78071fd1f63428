"""ScheduleStore: every optimization result, by the local day it plans, bounded in days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
import json

import numpy as np
import pytest

from custom_components.bess.engine.models import OptimizationInput, StoredSchedule
from custom_components.bess.engine.optimizer import build_result
from custom_components.bess.engine.schedules import ScheduleStore
from custom_components.bess.engine.timeutil import day_hour_starts

from .fakes import BATTERY, STOCKHOLM, FakeClock, local

DAY = date(2026, 6, 15)
AUTUMN = date(2026, 10, 25)


def stored(
    day: date, first_hour: int, stored_at: datetime, scenario: str = "hourly", price: float = 1.0
) -> StoredSchedule:
    """Return a stored plan of hours `first_hour`… of `day`, all at buy price `price`."""
    starts = day_hour_starts(day, STOCKHOLM)[first_hour:]
    n = len(starts)
    inputs = OptimizationInput(
        start=starts[0],
        period_minutes=60,
        buy=(price,) * n,
        sell=(price / 2,) * n,
        load=(1.0,) * n,
        solar=(0.0,) * n,
        battery=BATTERY,
        initial_soc_percent=50.0,
    )
    result = build_result(inputs, np.zeros(n), np.zeros(n))
    return StoredSchedule(
        timestamp=stored_at,
        optimization_hour=first_hour,
        algorithm_result=result.to_dict(),
        created_for_scenario=scenario,  # type: ignore[arg-type]
    )


@pytest.fixture
def store() -> ScheduleStore:
    return ScheduleStore(FakeClock(local(DAY, 10, 30)), STOCKHOLM)


def test_schedules_belong_to_the_day_they_plan(store: ScheduleStore) -> None:
    tomorrow_plan = stored(DAY, 0, local(DAY - timedelta(days=1), 23, 55), "tomorrow")
    late_yesterday = stored(DAY - timedelta(days=1), 23, local(DAY - timedelta(days=1), 23, 0))
    store.store_schedule(late_yesterday)
    store.store_schedule(tomorrow_plan)

    assert store.get_all_schedules_today() == [tomorrow_plan]
    assert store.get_latest_schedule() == tomorrow_plan
    assert store.get_latest_schedule(DAY - timedelta(days=1)) == late_yesterday
    assert store.get_latest_schedule(DAY + timedelta(days=1)) is None


def test_latest_is_the_last_stored_in_time_even_when_stored_out_of_order(
    store: ScheduleStore,
) -> None:
    nine = stored(
        DAY,
        9,
        local(
            DAY,
            9,
            0,
        )
        + timedelta(seconds=5),
    )
    eight = stored(DAY, 8, local(DAY, 8, 0) + timedelta(seconds=5))
    store.store_schedule(nine)
    store.store_schedule(eight)
    restart = stored(DAY, 9, local(DAY, 9, 0) + timedelta(seconds=5), "restart")
    store.store_schedule(restart)

    assert store.get_all_schedules_today() == [eight, nine, restart]
    # Same timestamp: the one stored last wins.
    assert store.get_latest_schedule() == restart


def test_schedule_at_time_is_the_plan_in_force_then(store: ScheduleStore) -> None:
    tomorrow_plan = stored(DAY, 0, local(DAY - timedelta(days=1), 23, 55), "tomorrow", price=1.0)
    at_one = stored(
        DAY,
        1,
        local(
            DAY,
            1,
            0,
        ),
        price=2.0,
    )
    at_two = stored(DAY, 2, local(DAY, 2, 0), price=3.0)
    for schedule in (tomorrow_plan, at_one, at_two):
        store.store_schedule(schedule)

    assert store.get_schedule_at_time(local(DAY, 0, 30)) == tomorrow_plan
    # The hourly update at 01:00 plans from 01:00 on; at 01:00 sharp it is already in force.
    assert store.get_schedule_at_time(local(DAY, 1)) == at_one
    assert store.get_schedule_at_time(local(DAY, 1, 59)) == at_one
    assert store.get_schedule_at_time(local(DAY, 5)) == at_two
    # Before anything was planned for that moment.
    assert store.get_schedule_at_time(local(DAY - timedelta(days=1), 22)) is None


def test_latest_covering_skips_plans_that_do_not_reach_the_hour(store: ScheduleStore) -> None:
    full_day = stored(DAY, 0, local(DAY - timedelta(days=1), 23, 55), "tomorrow")
    from_noon = stored(DAY, 12, local(DAY, 12, 0))
    store.store_schedule(full_day)
    store.store_schedule(from_noon)

    assert store.get_latest_covering(local(DAY, 11)) == full_day
    assert store.get_latest_covering(local(DAY, 12)) == from_noon
    assert store.get_latest_covering(local(DAY, 23)) == from_noon
    assert store.get_latest_covering(local(DAY + timedelta(days=1), 0)) is None


def test_only_the_latest_days_are_kept(store: ScheduleStore) -> None:
    small = ScheduleStore(FakeClock(local(DAY, 10)), STOCKHOLM, keep_days=3)
    for back in range(6, -1, -1):
        day = DAY - timedelta(days=back)
        small.store_schedule(stored(day, 0, local(day, 0) - timedelta(minutes=5), "tomorrow"))
        small.store_schedule(stored(day, 5, local(day, 5)))

    assert small.days() == [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    assert len(small.get_all_schedules_today()) == 2
    assert small.get_all_schedules_today(DAY - timedelta(days=3)) == []
    # The default keeps a week.
    for back in range(10):
        day = DAY - timedelta(days=back)
        store.store_schedule(stored(day, 0, local(day, 0) - timedelta(minutes=5), "tomorrow"))
    assert len(store.days()) == 7


def test_the_autumn_days_second_0200_hour_is_covered_by_the_right_plan() -> None:
    store = ScheduleStore(FakeClock(local(AUTUMN, 4)), STOCKHOLM)
    # Planned at the first 02:30 (hour 2), from the second 02:00 (hour 3) on.
    plan = stored(AUTUMN, 3, local(AUTUMN, 2, 30))
    store.store_schedule(plan)

    assert store.get_latest_covering(local(AUTUMN, 3)) == plan
    assert store.get_latest_covering(local(AUTUMN, 2)) is None
    assert store.get_schedule_at_time(local(AUTUMN, 3, 10)) == plan
    # The first 02:10 is before it was stored, although it reads later on the wall clock.
    assert store.get_schedule_at_time(local(AUTUMN, 2, 10)) is None
    assert plan.result.index_at(local(AUTUMN, 24)) == 21


def test_json_round_trip_keeps_every_schedule(store: ScheduleStore) -> None:
    schedules = [
        stored(DAY, 0, local(DAY - timedelta(days=1), 23, 55), "tomorrow", price=0.7),
        stored(DAY, 3, local(DAY, 3), price=1 / 3),
        stored(DAY, 7, local(DAY, 7, 30), "restart"),
    ]
    for schedule in schedules:
        store.store_schedule(schedule)

    restored = ScheduleStore.from_dict(
        json.loads(json.dumps(store.to_dict())), FakeClock(local(DAY, 12)), STOCKHOLM
    )

    assert restored.get_all_schedules_today() == schedules
    assert restored.get_all_schedules_today()[1].result == schedules[1].result
    assert restored.get_all_schedules_today()[1].result.periods[0].buy_price == 1 / 3


def test_restore_drops_an_unreadable_schedule_and_keeps_the_rest(store: ScheduleStore) -> None:
    for hour in (0, 1, 2):
        store.store_schedule(stored(DAY, hour, local(DAY, hour)))
    data = json.loads(json.dumps(store.to_dict()))
    del data["schedules"][0]["algorithm_result"]["periods"][0]["cost"]
    data["schedules"][1]["algorithm_result"]["periods"][0]["savings"] = None  # a NaN saved

    fresh = ScheduleStore(store._clock, STOCKHOLM)
    dropped = fresh.restore(data)
    assert [s.optimization_hour for s in fresh.get_all_schedules_today()] == [2]
    assert len(dropped) == 2
    assert "not a finite number" in dropped[1]


def test_restore_refuses_an_unknown_layout_and_keeps_what_it_had(store: ScheduleStore) -> None:
    store.store_schedule(stored(DAY, 0, local(DAY, 0)))
    with pytest.raises(TypeError):
        store.restore({"version": 1, "schedules": {"a": 1}})
    with pytest.raises(ValueError, match="version"):
        store.restore({"version": 7, "schedules": []})
    assert len(store.get_all_schedules_today()) == 1


def _a_day_of_replans(clock: FakeClock) -> tuple[ScheduleStore, list[StoredSchedule]]:
    """Yesterday planned at 23:55 the day before, then re-planned at every hour."""
    yesterday = DAY - timedelta(days=1)
    store = ScheduleStore(clock, STOCKHOLM)
    plans = [stored(yesterday, 0, local(yesterday - timedelta(days=1), 23, 55), "tomorrow")]
    plans += [stored(yesterday, hour, local(yesterday, hour, 0, 1)) for hour in range(24)]
    for plan in plans:
        store.store_schedule(plan)
    return store, plans


def test_a_past_days_superseded_replans_are_cut_to_what_was_in_force() -> None:
    clock = FakeClock(local(DAY - timedelta(days=1), 23, 30))
    store, plans = _a_day_of_replans(clock)
    yesterday = DAY - timedelta(days=1)
    # While the day runs, every plan stays whole.
    assert store.get_all_schedules_today(yesterday) == plans
    size_whole = len(store.to_json())

    clock.set(local(DAY, 0, 0, 1))
    store.store_schedule(stored(DAY, 0, local(DAY, 0, 0, 1)))

    kept = store.get_all_schedules_today(yesterday)
    lengths = [len(s.result.periods) for s in kept]
    # Tomorrow's plan and the first re-plan (the plan the day started from) stay whole; every
    # later re-plan keeps the one hour it was in force, until the next re-plan.
    assert lengths == [24, 24] + [1] * 23
    assert [s.timestamp for s in kept] == [s.timestamp for s in plans]
    for hour in range(1, 24):
        in_force = store.get_schedule_at_time(local(yesterday, hour, 30))
        assert in_force is kept[hour + 1]
        assert in_force.result.periods[0] == plans[hour + 1].result.periods[0]
    assert len(store.to_json()) < size_whole / 2  # with a whole plan of today added
    # Cut once: a store read back is the same, and so is one written before plans were cut.
    assert ScheduleStore.from_dict(json.loads(store.to_json()), clock, STOCKHOLM).to_json() == (
        store.to_json()
    )
    whole = {"version": 1, "schedules": [p.to_dict() for p in plans]}
    restored = ScheduleStore.from_dict(whole, clock, STOCKHOLM)
    assert [len(s.result.periods) for s in restored.get_all_schedules_today(yesterday)] == (
        [24, 24] + [1] * 23
    )


def test_a_restart_across_midnight_cuts_the_last_replan_once_the_next_plan_exists() -> None:
    """Found by the soak test: the day was marked cut at load although its last re-plan had
    no later plan yet; it stayed whole in memory and was cut at every reload after."""
    yesterday = DAY - timedelta(days=1)
    clock = FakeClock(local(yesterday, 23, 30))
    before = ScheduleStore(clock, STOCKHOLM)
    before.store_schedule(
        stored(yesterday, 0, local(yesterday - timedelta(days=1), 23, 55), "tomorrow")
    )
    for hour in range(23):
        before.store_schedule(stored(yesterday, hour, local(yesterday, hour, 0, 1)))
    # The 23:00 re-plan runs through the next day (its prices are out).
    n = 25
    inputs = OptimizationInput(
        start=local(yesterday, 23),
        period_minutes=60,
        buy=(1.0,) * n,
        sell=(0.5,) * n,
        load=(1.0,) * n,
        solar=(0.0,) * n,
        battery=BATTERY,
        initial_soc_percent=50.0,
    )
    through = build_result(inputs, np.zeros(n), np.zeros(n))
    last = StoredSchedule(local(yesterday, 23, 0, 1), 23, through.to_dict(), "hourly")
    before.store_schedule(last)
    saved = json.loads(before.to_json())
    # Home Assistant stops at 23:30 and starts again at 00:18: the store loads, then the
    # restart plan is stored.
    clock.set(local(DAY, 0, 18))
    live = ScheduleStore.from_dict(saved, clock, STOCKHOLM)
    live.store_schedule(stored(DAY, 0, local(DAY, 0, 18), "restart"))

    reloaded = ScheduleStore.from_dict(json.loads(live.to_json()), clock, STOCKHOLM)

    assert reloaded.to_json() == live.to_json()
    assert [len(s.result.periods) for s in live.get_all_schedules_today(yesterday)] == (
        [24, 24] + [1] * 23
    )


def test_what_is_saved_after_midnight_before_the_next_plan_equals_a_reload() -> None:
    """Found by the soak test (seed 7): no plan after midnight (the prices were missing), so
    the day that ended was not cut in memory, though a reload of the store cut it."""
    clock = FakeClock(local(DAY - timedelta(days=1), 23, 30))
    store, _ = _a_day_of_replans(clock)
    clock.set(local(DAY, 0, 30))  # no plan stored since midnight

    saved = store.to_json()

    assert ScheduleStore.from_dict(json.loads(saved), clock, STOCKHOLM).to_json() == saved
    assert store.to_dict() == json.loads(saved)
    yesterday = DAY - timedelta(days=1)
    lengths = [len(s.result.periods) for s in store.get_all_schedules_today(yesterday)]
    assert lengths == [24, 24] + [1] * 22 + [1]
