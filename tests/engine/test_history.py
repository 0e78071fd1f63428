"""HistoricalDataStore: append-only hourly events, keyed by their start, exact on DST days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.bess.engine.history import HistoricalDataStore, HistoryConflictError
from custom_components.bess.engine.models import HourlyEvent

from .fakes import STOCKHOLM, FakeClock, local

DAY = date(2026, 6, 15)
AUTUMN = date(2026, 10, 25)
SPRING = date(2026, 3, 29)


def event(
    day: date, hour: int, *, charged: float = 1.0, recorded: datetime | None = None
) -> HourlyEvent:
    """Return a plausible event for hour index `hour` of `day`."""
    start = local(day, hour)
    return HourlyEvent(
        hour=hour,
        timestamp=recorded or start + timedelta(hours=1, seconds=5),
        battery_soc_start=20.0,
        battery_soc_end=29.5,
        solar_generated=0.4,
        home_consumed=1.1,
        grid_imported=1.7,
        grid_exported=0.0,
        battery_charged=charged,
        battery_discharged=0.0,
        start=start,
        buy_price=0.8 + hour / 100,
        sell_price=0.5,
    )


@pytest.fixture
def store() -> HistoricalDataStore:
    return HistoricalDataStore(FakeClock(local(DAY, 15, 30)), STOCKHOLM)


def test_recorded_hours_are_listed_for_the_clocks_day(store: HistoricalDataStore) -> None:
    for hour in (0, 1, 5):
        assert store.record_event(event(DAY, hour)) is True
    store.record_event(event(DAY - timedelta(days=1), 23))

    assert store.get_completed_hours() == [0, 1, 5]
    assert store.get_completed_hours(DAY - timedelta(days=1)) == [23]
    assert store.get_hour_event(5) == event(DAY, 5)
    assert store.get_hour_event(2) is None
    assert store.get_hour_event(24) is None
    assert store.get_hour_event(23, DAY - timedelta(days=1)) == event(DAY - timedelta(days=1), 23)


def test_recording_the_same_hour_again_is_a_no_op_even_at_another_time(
    store: HistoricalDataStore,
) -> None:
    first = event(DAY, 3)
    store.record_event(first)

    again = event(DAY, 3, recorded=first.timestamp + timedelta(minutes=40))
    assert store.record_event(again) is False
    assert store.get_hour_event(3) is first
    assert len(store) == 1


def test_recording_an_hour_with_different_data_raises_and_keeps_the_first(
    store: HistoricalDataStore,
) -> None:
    store.record_event(event(DAY, 3, charged=1.0))

    with pytest.raises(HistoryConflictError) as caught:
        store.record_event(event(DAY, 3, charged=1.5))

    assert caught.value.existing.battery_charged == 1.0
    assert caught.value.new.battery_charged == 1.5
    event_3 = store.get_hour_event(3)
    assert event_3 is not None
    assert event_3.battery_charged == 1.0


def test_an_event_whose_hour_index_does_not_match_its_start_is_refused(
    store: HistoricalDataStore,
) -> None:
    with pytest.raises(ValueError, match="hour 4"):
        store.record_event(replace(event(DAY, 4), hour=5))
    with pytest.raises(ValueError, match="not the start"):
        store.record_event(replace(event(DAY, 4), start=local(DAY, 4, 30)))
    assert len(store) == 0


def test_the_doubled_autumn_hour_is_two_distinct_events() -> None:
    store = HistoricalDataStore(FakeClock(local(AUTUMN, 20)), STOCKHOLM)
    first_two = event(AUTUMN, 2)
    second_two = event(AUTUMN, 3, charged=2.0)
    # Both start at 02:00 local time, an hour apart in absolute time.
    assert first_two.start.astimezone(STOCKHOLM).hour == 2
    assert second_two.start.astimezone(STOCKHOLM).hour == 2
    assert first_two.start.astimezone(UTC) == datetime(2026, 10, 25, 0, tzinfo=UTC)

    store.record_event(first_two)
    store.record_event(second_two)
    for hour in range(4, 25):
        store.record_event(event(AUTUMN, hour))

    assert store.get_completed_hours() == [2, *range(3, 25)]
    assert store.get_hour_event(2) == first_two
    assert store.get_hour_event(3) == second_two
    assert store.get_hour_event(24) is not None
    assert store.get_hour_event(25) is None


def test_the_spring_day_has_23_hours_and_its_last_is_index_22() -> None:
    store = HistoricalDataStore(FakeClock(local(SPRING, 12)), STOCKHOLM)
    for hour in range(23):
        store.record_event(event(SPRING, hour))

    assert store.get_completed_hours() == list(range(23))
    last = store.get_hour_event(22)
    assert last is not None
    assert last.start.astimezone(STOCKHOLM).hour == 23
    # 03:00 local is hour index 2: 02:00 does not exist that day.
    third = store.get_hour_event(2)
    assert third is not None
    assert third.start.astimezone(STOCKHOLM).hour == 3


def test_json_round_trip_keeps_every_event_exactly(store: HistoricalDataStore) -> None:
    for day in (DAY - timedelta(days=40), DAY):
        for hour in range(24):
            store.record_event(event(day, hour, charged=hour * 0.1 + 1 / 3))

    text = json.dumps(store.to_dict())
    restored = HistoricalDataStore.from_dict(json.loads(text), FakeClock(local(DAY, 1)), STOCKHOLM)

    assert len(restored) == 48
    assert restored.get_day_events(DAY) == store.get_day_events(DAY)
    old = restored.get_hour_event(7, DAY - timedelta(days=40))
    assert old is not None
    assert old.battery_charged == 7 * 0.1 + 1 / 3
    # A restored event is the same data: recording it again is still a no-op.
    assert restored.record_event(event(DAY, 7, charged=7 * 0.1 + 1 / 3)) is False


def test_restore_refuses_an_unknown_layout_and_keeps_what_it_had(
    store: HistoricalDataStore,
) -> None:
    store.record_event(event(DAY, 1))
    with pytest.raises(ValueError, match="version"):
        store.restore({"version": 99, "events": []})
    with pytest.raises(TypeError):
        store.restore({"version": 1, "events": {"not": "a list"}})
    assert store.get_completed_hours() == [1]


def test_restore_drops_entries_that_are_not_facts_and_keeps_the_rest(
    store: HistoricalDataStore,
) -> None:
    for hour in (1, 2, 3, 4):
        store.record_event(event(DAY, hour))
    data = json.loads(json.dumps(store.to_dict()))
    data["events"][1]["battery_soc_end"] = None  # NaN, as JSON writes it
    data["events"][2]["buy_price"] = "nan"
    data["events"].append({**data["events"][0], "battery_charged": 9.0})  # a second hour 1
    data["events"].append({"hour": "garbage"})

    fresh = HistoricalDataStore(store._clock, STOCKHOLM)
    dropped = fresh.restore(data)

    assert fresh.get_completed_hours(DAY) == [1, 4]
    assert fresh.get_hour_event(1, DAY).battery_charged == 1.0  # the first record stands
    assert len(dropped) == 4
    assert "battery_soc_end is None" in dropped[0]


def test_an_event_refuses_values_that_are_not_finite_or_a_soc_out_of_range() -> None:
    good = event(DAY, 1)
    for field, value in (
        ("battery_soc_start", float("nan")),
        ("grid_imported", float("inf")),
        ("battery_soc_end", 150.0),
        ("battery_soc_start", -5.0),
        ("sell_price", None),
    ):
        changes: dict[str, Any] = {field: value}
        with pytest.raises(ValueError, match=field):
            replace(good, **changes)


def test_a_change_of_time_zone_keeps_every_recorded_hour() -> None:
    store = HistoricalDataStore(FakeClock(local(DAY, 12)), STOCKHOLM)
    for hour in range(24):
        store.record_event(event(DAY, hour))
    data = json.loads(json.dumps(store.to_dict()))

    helsinki = ZoneInfo("Europe/Helsinki")
    moved = HistoricalDataStore(FakeClock(local(DAY, 12)), helsinki)
    assert moved.restore(data) == []
    assert len(moved) == 24
    # The same absolute hours, now indexed in the new zone: Stockholm's 00:00 is 01:00 there.
    first = moved.get_event_at(local(DAY, 0))
    assert first.hour == 1
    assert first.start.astimezone(UTC) == local(DAY, 0).astimezone(UTC)


def test_a_restored_autumn_event_equals_its_live_twin() -> None:
    store = HistoricalDataStore(FakeClock(local(AUTUMN, 6)), STOCKHOLM)
    for hour in (2, 3):
        store.record_event(event(AUTUMN, hour, charged=float(hour)))

    restored = HistoricalDataStore.from_dict(
        json.loads(json.dumps(store.to_dict())), FakeClock(local(AUTUMN, 6)), STOCKHOLM
    )

    # Restored starts are UTC; the live ones are the ambiguous local 02:00s.
    assert restored.record_event(event(AUTUMN, 2, charged=2.0)) is False
    assert restored.record_event(event(AUTUMN, 3, charged=3.0)) is False
    with pytest.raises(HistoryConflictError):
        restored.record_event(event(AUTUMN, 3, charged=2.0))
