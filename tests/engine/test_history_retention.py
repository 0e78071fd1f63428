"""Retention: days before the detailed history kept become daily totals, losing no figure.

Also the stores' JSON text (each entry encoded once) and the layouts older bess wrote.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
import json
import math
from typing import Any

import pytest

from custom_components.bess.engine.cost import baseline_cost, grid_only_cost, period_cost
from custom_components.bess.engine.daily_view import DailyViewBuilder
from custom_components.bess.engine.encoding import json_text
from custom_components.bess.engine.history import (
    DayCompactedError,
    HistoricalDataStore,
)
from custom_components.bess.engine.manager import (
    DEFAULT_KEEP_HISTORY_DAYS,
    SimpleBatterySystemManager,
)
from custom_components.bess.engine.models import DailyTotal, HourlyEvent
from custom_components.bess.engine.schedules import ScheduleStore
from custom_components.bess.engine.timeutil import day_hour_starts

from .fakes import (
    BATTERY,
    STOCKHOLM,
    FakeClock,
    FakeController,
    ImmediateExecutor,
    MemoryPersistence,
    SimulatedHome,
    local,
    price_following_optimizer,
)

TODAY = date(2026, 6, 15)
DAY_400 = TODAY - timedelta(days=399)  # the oldest day kept in detail by default
DAY_401 = TODAY - timedelta(days=400)  # the newest day compacted by default
AUTUMN = date(2025, 10, 26)  # 25 hours


def event(day: date, hour: int, **terms: float | None) -> HourlyEvent:
    """Return a measured hour with flows and prices that vary with the hour."""
    start = local(day, hour)
    solar = max(0.0, 2.5 - abs(hour - 13) * 0.4)
    load = 0.8 + (hour % 5) * 0.3
    charged = 1.5 if hour < 5 else 0.0
    discharged = 1.2 if 17 <= hour <= 20 else 0.0
    net = load - solar + charged - discharged
    return HourlyEvent(
        hour=hour,
        timestamp=start + timedelta(hours=1, seconds=5),
        battery_soc_start=40.0,
        battery_soc_end=45.0,
        solar_generated=solar,
        home_consumed=load,
        grid_imported=max(net, 0.0),
        grid_exported=max(-net, 0.0),
        battery_charged=charged,
        battery_discharged=discharged,
        start=start,
        buy_price=0.4 + hour * 0.07,
        sell_price=0.2 + hour * 0.03,
        cycle_cost_per_kwh=terms.get("cycle_cost_per_kwh", 0.1),
        export_limit_kw=terms.get("export_limit_kw", 0.5),
    )


def whole_day(day: date, **terms: float | None) -> list[HourlyEvent]:
    """Return an event for every hour of the local day."""
    return [event(day, hour, **terms) for hour in range(len(day_hour_starts(day, STOCKHOLM)))]


def priced_independently(events: list[HourlyEvent], cycle: float, cap: float | None) -> float:
    """Return the savings of these hours, computed here from the cost model's definition."""
    total = 0.0
    for e in events:
        exported = min(
            max(e.solar_generated - e.home_consumed, 0.0), math.inf if cap is None else cap
        )
        base = e.buy_price * max(e.home_consumed - e.solar_generated, 0.0) - e.sell_price * exported
        cost = (
            e.buy_price * e.grid_imported
            - e.sell_price * e.grid_exported
            + cycle * e.battery_charged
        )
        total += base - cost
    return total


def manager(
    clock: FakeClock,
    persistence: MemoryPersistence | None = None,
    keep_history_days: int = DEFAULT_KEEP_HISTORY_DAYS,
    home: SimulatedHome | None = None,
) -> SimpleBatterySystemManager:
    """Return a manager with plain fakes of its ports."""
    return SimpleBatterySystemManager(
        energy=home or SimulatedHome(),
        controller=FakeController(),
        clock=clock,
        persistence=persistence or MemoryPersistence(),
        executor=ImmediateExecutor(),
        battery=BATTERY,
        tz=STOCKHOLM,
        keep_history_days=keep_history_days,
        optimize=price_following_optimizer,
        plan_through_tomorrow=False,
    )


def stored(*days: list[HourlyEvent], version: int = 2) -> dict[str, Any]:
    """Return what the manager saves for these events (layout `version` of the history)."""
    events = [e.to_dict() for day in days for e in day]
    history: dict[str, Any] = {"version": version, "events": events}
    if version >= 2:
        history["daily_totals"] = []
    return {"version": 1, "history": history, "schedules": {"version": 1, "schedules": []}}


# --------------------------------------------------------------------------- retention


def test_a_day_past_the_kept_days_is_compacted_and_the_oldest_kept_day_is_not() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    m = manager(clock)
    old, kept = whole_day(DAY_401), whole_day(DAY_400)

    dropped = m.load_state(stored(old, kept))

    assert dropped == []
    assert m.history.get_day_events(DAY_401) == []
    assert m.history.get_day_events(DAY_400) == kept
    total = m.history.get_daily_total(DAY_401)
    assert total is not None
    assert total.hours == 24
    assert m.history.get_daily_total(DAY_400) is None
    assert [t.day for t in m.history.daily_totals()] == [DAY_401]


def test_a_compacted_day_keeps_the_totals_its_view_showed() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    events = whole_day(DAY_401)
    # A few hours unrecorded: they stay out of the totals, and the count says so.
    events = [e for e in events if e.hour not in (3, 14)]
    before = manager(clock, keep_history_days=3650)
    before.load_state(stored(events))
    view_before = before.build_daily_view(DAY_401)

    after = manager(clock)
    after.load_state(stored(events))
    view = after.build_daily_view(DAY_401)

    assert view.compacted is True
    assert view.data_sources == ("missing",) * 24
    assert all(h.savings is None for h in view.hourly_data)
    assert (view.actual_hours, view.predicted_hours, view.missing_hours) == (22, 0, 2)
    assert view.total_savings == view_before.total_savings
    assert view.actual_savings == view_before.actual_savings
    assert view.total_cost == view_before.total_cost
    assert view.total_baseline_cost == view_before.total_baseline_cost
    assert view.total_grid_only_cost == view_before.total_grid_only_cost
    # And those are the figures the cost model gives, worked out here by hand.
    assert view.total_savings == pytest.approx(priced_independently(events, 0.1, 0.5), abs=1e-9)
    assert view.total_grid_only_cost == pytest.approx(
        sum(e.buy_price * e.home_consumed for e in events), abs=1e-9
    )
    total = after.history.get_daily_total(DAY_401)
    assert total is not None
    assert total.load_kwh == pytest.approx(sum(e.home_consumed for e in events))
    assert total.battery_charge_kwh == pytest.approx(sum(e.battery_charged for e in events))
    assert total.grid_export_kwh == pytest.approx(sum(e.grid_exported for e in events))
    assert total.savings == pytest.approx(total.baseline_cost - total.cost)


def test_hours_recorded_before_terms_were_kept_are_compacted_with_todays_terms() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    events = whole_day(DAY_401, cycle_cost_per_kwh=None, export_limit_kw=None)
    m = manager(clock)
    m.load_state(stored(events))

    total = m.history.get_daily_total(DAY_401)

    assert total is not None
    assert total.savings == pytest.approx(
        priced_independently(events, BATTERY.cycle_cost_per_kwh, BATTERY.export_limit_kw),
        abs=1e-9,
    )
    assert total.cost == pytest.approx(
        sum(
            period_cost(
                e.buy_price,
                e.sell_price,
                e.grid_imported,
                e.grid_exported,
                e.battery_charged,
                cycle_cost=BATTERY.cycle_cost_per_kwh,
            )
            for e in events
        )
    )
    assert total.baseline_cost == pytest.approx(
        sum(
            baseline_cost(e.buy_price, e.sell_price, e.home_consumed, e.solar_generated)
            for e in events
        )
    )
    assert total.grid_only_cost == pytest.approx(
        sum(grid_only_cost(e.buy_price, e.home_consumed) for e in events)
    )


def test_the_autumn_day_compacts_all_25_hours() -> None:
    clock = FakeClock(local(AUTUMN + timedelta(days=40), 12))
    events = whole_day(AUTUMN)
    assert len(events) == 25
    m = manager(clock, keep_history_days=30)
    m.load_state(stored(events))

    total = m.history.get_daily_total(AUTUMN)
    view = m.build_daily_view(AUTUMN)

    assert total is not None
    assert total.hours == 25
    assert len(view.hourly_data) == 25
    assert view.missing_hours == 0
    assert total.savings == pytest.approx(priced_independently(events, 0.1, 0.5), abs=1e-9)


def test_a_compacted_day_cannot_be_recorded_again() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    m = manager(clock)
    m.load_state(stored(whole_day(DAY_401)))

    with pytest.raises(DayCompactedError, match=DAY_401.isoformat()):
        m.history.record_event(event(DAY_401, 5))
    assert m.history.get_day_events(DAY_401) == []
    assert m.history.record_event(event(DAY_400, 5)) is True


def test_compaction_refuses_totals_that_would_lose_an_event() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    history = HistoricalDataStore(clock, STOCKHOLM)
    for e in whole_day(DAY_401):
        history.record_event(e)
    builder = DailyViewBuilder(history, ScheduleStore(clock, STOCKHOLM), clock, STOCKHOLM, BATTERY)
    total = builder.daily_total(DAY_401)
    assert total is not None

    with pytest.raises(ValueError, match="counts 23 hours, but 24 have recorded periods"):
        history.compact([DailyTotal(**{**total.to_dict(), "day": DAY_401, "hours": 23})])
    assert len(history.get_day_events(DAY_401)) == 24

    history.compact([total])
    with pytest.raises(ValueError, match="compacted already"):
        history.compact([total])
    assert builder.daily_total(DAY_401) is None


async def test_the_hourly_run_compacts_the_day_that_leaves_the_kept_window() -> None:
    home = SimulatedHome()
    home.publish(TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=1))
    clock = FakeClock(local(TODAY - timedelta(days=1), 23, 0, 5))
    persistence = MemoryPersistence()
    m = manager(clock, persistence, keep_history_days=2, home=home)
    two_days_ago = whole_day(TODAY - timedelta(days=2))
    yesterday = [event(TODAY - timedelta(days=1), hour) for hour in range(22)]
    m.load_state(stored(two_days_ago, yesterday))
    assert m.history.get_daily_total(TODAY - timedelta(days=2)) is None  # still kept

    home.run_hour(local(TODAY - timedelta(days=1), 23), None)
    clock.set(local(TODAY, 0, 0, 5))
    await m.update_hourly_schedule()

    assert m.history.get_daily_total(TODAY - timedelta(days=2)) is not None
    assert m.history.get_day_events(TODAY - timedelta(days=2)) == []
    assert len(m.history.get_day_events(TODAY - timedelta(days=1))) == 23
    saved = json.loads(persistence.text or "{}")
    assert [t["day"] for t in saved["history"]["daily_totals"]] == [
        (TODAY - timedelta(days=2)).isoformat()
    ]
    reloaded = manager(clock, MemoryPersistence(persistence.text), keep_history_days=2)
    await reloaded.async_load()
    assert reloaded.dump_state() == m.dump_state()


def test_fewer_than_two_kept_days_are_refused() -> None:
    with pytest.raises(ValueError, match="keep_history_days"):
        manager(FakeClock(local(TODAY, 10)), keep_history_days=1)


# ----------------------------------------------------------------- layouts and loading


def test_a_history_of_the_first_layout_loads_unchanged() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    old_layout = stored(whole_day(TODAY - timedelta(days=1)), version=1)
    assert "daily_totals" not in old_layout["history"]
    m = manager(clock)

    dropped = m.load_state(json.loads(json.dumps(old_layout)))

    assert dropped == []
    assert m.history.get_day_events(TODAY - timedelta(days=1)) == whole_day(
        TODAY - timedelta(days=1)
    )
    saved = m.dump_state()["history"]
    assert saved["version"] == 2
    assert saved["events"] == old_layout["history"]["events"]
    assert saved["daily_totals"] == []


def test_an_unknown_history_layout_is_refused() -> None:
    history = HistoricalDataStore(FakeClock(local(TODAY, 10)), STOCKHOLM)
    with pytest.raises(ValueError, match="version 3"):
        history.restore({"version": 3, "events": [], "daily_totals": []})
    with pytest.raises(ValueError, match="version True"):
        history.restore({"version": True, "events": []})


def test_events_of_a_compacted_day_and_a_second_total_are_dropped_and_said() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    source = manager(clock)
    source.load_state(stored(whole_day(DAY_401)))
    data = source.dump_state()
    total = data["history"]["daily_totals"][0]
    data["history"]["daily_totals"].append(dict(total))
    data["history"]["events"].append(event(DAY_401, 7).to_dict())

    m = manager(clock)
    dropped = m.load_state(data)

    assert len(dropped) == 2
    assert "the day has totals already" in dropped[0]
    assert "compacted into daily totals" in dropped[1]
    assert m.history.daily_totals() == source.history.daily_totals()
    assert m.history.get_day_events(DAY_401) == []


async def test_loading_parses_in_the_executor() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    persistence = MemoryPersistence(json.dumps(stored(whole_day(TODAY - timedelta(days=1)))))
    m = manager(clock, persistence)
    executor = m._executor
    assert isinstance(executor, ImmediateExecutor)

    await m.async_load()

    assert executor.calls == 1
    assert len(m.history) == 24


# ------------------------------------------------------------------------- JSON text


def test_the_kept_json_text_is_the_stores_content() -> None:
    clock = FakeClock(local(TODAY, 10, 30))
    m = manager(clock)
    # Recorded out of order, with a compacted day and a restored one.
    m.load_state(stored(whole_day(DAY_401), whole_day(DAY_400)))
    m.history.record_event(event(TODAY, 3))
    m.history.record_event(event(TODAY, 1))

    encoded = m.encoded_state()

    assert json.loads(encoded["history"]) == m.history.to_dict()
    assert json.loads(encoded["schedules"]) == m.schedules.to_dict()
    assert {key: json.loads(text) for key, text in encoded.items()} == m.dump_state()
    # Kept until the next change, then made again.
    assert m.encoded_state()["history"] is encoded["history"]
    m.history.record_event(event(TODAY, 2))
    assert json.loads(m.encoded_state()["history"])["events"][-3:] == [
        event(TODAY, h).to_dict() for h in (1, 2, 3)
    ]


async def test_the_schedule_text_follows_what_is_stored_and_forgotten() -> None:
    home = SimulatedHome()
    days = [TODAY + timedelta(days=i) for i in range(4)]
    home.publish(*days)
    clock = FakeClock(local(TODAY, 10, 30))
    m = SimpleBatterySystemManager(
        energy=home,
        controller=FakeController(),
        clock=clock,
        persistence=MemoryPersistence(),
        executor=ImmediateExecutor(),
        battery=BATTERY,
        tz=STOCKHOLM,
        keep_schedule_days=2,
        optimize=price_following_optimizer,
        plan_through_tomorrow=False,
    )
    for day in days[1:]:
        clock.set(local(day - timedelta(days=1), 23, 55))
        await m.create_tomorrows_schedule()

    assert [s["algorithm_result"]["start"][:10] for s in m.schedules.to_dict()["schedules"]] == [
        local(day, 0).astimezone(UTC).isoformat()[:10] for day in days[2:]
    ]
    assert json.loads(m.schedules.to_json()) == m.schedules.to_dict()


def test_a_number_that_is_not_finite_is_written_as_null() -> None:
    assert json_text({"a": [1.0, math.nan], "b": math.inf}) == '{"a":[1.0,null],"b":null}'
    assert json_text({"a": 1.5}) == '{"a":1.5}'


def test_a_daily_total_that_is_not_a_fact_is_refused() -> None:
    good: dict[str, Any] = {
        "day": "2025-05-11",
        "hours": 24,
        **dict.fromkeys(
            (
                "solar_kwh",
                "load_kwh",
                "grid_import_kwh",
                "grid_export_kwh",
                "battery_charge_kwh",
                "battery_discharge_kwh",
                "cost",
                "baseline_cost",
                "savings",
                "grid_only_cost",
            ),
            1.0,
        ),
    }
    assert DailyTotal.from_dict(good).to_dict() == good
    for bad in ({"hours": 0}, {"savings": math.nan}, {"cost": None}, {"day": 20250511}):
        with pytest.raises((ValueError, TypeError)):
            DailyTotal.from_dict({**good, **bad})
