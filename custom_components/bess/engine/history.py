"""HistoricalDataStore (design §3.2): what really happened, one immutable event per hour.

Events are keyed by the UTC start of their hour, so the doubled 02:00 hour of the autumn DST
day is two distinct entries. The store is append-only: an hour, once recorded, never changes and
is never dropped (a year of hours is a few megabytes of JSON at most).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from .models import HourlyEvent
from .ports import Clock
from .timeutil import day_hour_starts, hour_index

HISTORY_FORMAT_VERSION = 1


class HistoryConflictError(Exception):
    """An hour that is already recorded was recorded again with different data."""

    def __init__(self, existing: HourlyEvent, new: HourlyEvent) -> None:
        """Keep both versions so the caller can report what differs."""
        super().__init__(
            f"hour starting {existing.start.isoformat()} is already recorded with other data"
        )
        self.existing = existing
        self.new = new


def _same_measurement(a: HourlyEvent, b: HourlyEvent) -> bool:
    """Return whether two events describe the same hour identically (recording time aside)."""
    # In UTC: an ambiguous local time (the autumn 02:00 hours) never equals a time in
    # another zone, so a restored (UTC) event would otherwise differ from its live twin.
    same_start = a.start.astimezone(UTC) == b.start.astimezone(UTC)
    return same_start and a.hour == b.hour and _payload(a) == _payload(b)


def _payload(event: HourlyEvent) -> tuple[float, ...]:
    """Return the measured values and prices of an event."""
    return (
        event.battery_soc_start,
        event.battery_soc_end,
        event.solar_generated,
        event.home_consumed,
        event.grid_imported,
        event.grid_exported,
        event.battery_charged,
        event.battery_discharged,
        event.buy_price,
        event.sell_price,
    )


class HistoricalDataStore:
    """Append-only store of `HourlyEvent`s, one per local clock hour."""

    def __init__(self, clock: Clock, tz: tzinfo) -> None:
        """Create an empty store; `clock` supplies "today", `tz` the local day boundaries."""
        self._clock = clock
        self._tz = tz
        self._events: dict[datetime, HourlyEvent] = {}

    def record_event(self, event: HourlyEvent) -> bool:
        """Record `event`; return False when the same data was already there.

        Raises HistoryConflictError when the hour is recorded with different data, and
        ValueError when `event.hour` is not the index of `event.start` within its local day.
        The recording `timestamp` is not part of the comparison: measuring the same hour twice
        gives the same event.
        """
        day, index = hour_index(event.start, self._tz)
        start_utc = event.start.astimezone(UTC)
        if day_hour_starts(day, self._tz)[index].astimezone(UTC) != start_utc:
            raise ValueError(f"event start {event.start.isoformat()} is not the start of an hour")
        if index != event.hour:
            raise ValueError(
                f"event for {event.start.isoformat()} says hour {event.hour}, "
                f"but that is hour {index} of {day.isoformat()}"
            )
        existing = self._events.get(start_utc)
        if existing is not None:
            if _same_measurement(existing, event):
                return False
            raise HistoryConflictError(existing, event)
        self._events[start_utc] = event
        return True

    def _today(self) -> date:
        """Return the clock's local date."""
        return self._clock.now().astimezone(self._tz).date()

    def get_completed_hours(self, day: date | None = None) -> list[int]:
        """Return the indexes of the recorded hours of `day` (default today), ascending."""
        starts = day_hour_starts(day or self._today(), self._tz)
        return [i for i, start in enumerate(starts) if start.astimezone(UTC) in self._events]

    def get_hour_event(self, hour: int, day: date | None = None) -> HourlyEvent | None:
        """Return the event of hour index `hour` of `day` (default today), or None."""
        starts = day_hour_starts(day or self._today(), self._tz)
        if not 0 <= hour < len(starts):
            return None
        return self._events.get(starts[hour].astimezone(UTC))

    def get_event_at(self, hour_start: datetime) -> HourlyEvent | None:
        """Return the event of the hour starting at `hour_start`, or None."""
        return self._events.get(hour_start.astimezone(UTC))

    def get_day_events(self, day: date | None = None) -> list[HourlyEvent]:
        """Return the recorded events of `day` (default today) in time order."""
        starts = day_hour_starts(day or self._today(), self._tz)
        found = (self._events.get(start.astimezone(UTC)) for start in starts)
        return [event for event in found if event is not None]

    def __len__(self) -> int:
        """Return how many hours are recorded in all."""
        return len(self._events)

    def to_dict(self) -> dict[str, Any]:
        """Serialize every event, oldest first, as JSON-able data."""
        return {
            "version": HISTORY_FORMAT_VERSION,
            "events": [self._events[key].to_dict() for key in sorted(self._events)],
        }

    def restore(self, data: dict[str, Any]) -> list[str]:
        """Replace the content with what `to_dict` wrote; return what had to be dropped.

        A layout that is not the store's raises ValueError (or KeyError, TypeError) and
        changes nothing. An event that is not a fact (a value that is not a finite number,
        an unreadable time) is dropped, and said in the returned list. An event's index
        within its day is derived from its start in the current zone, so a change of Home
        Assistant's time zone keeps every hour.
        """
        if data.get("version") != HISTORY_FORMAT_VERSION:
            raise ValueError(f"unknown history format version {data.get('version')!r}")
        events = data["events"]
        if not isinstance(events, list):
            raise TypeError("history events are not a list")
        fresh = HistoricalDataStore(self._clock, self._tz)
        dropped: list[str] = []
        for item in events:
            try:
                event = HourlyEvent.from_dict(item)
                _, index = hour_index(event.start, self._tz)
                fresh.record_event(replace(event, hour=index))
            except (KeyError, TypeError, ValueError, AttributeError, HistoryConflictError) as err:
                start = item.get("start") if isinstance(item, dict) else None
                dropped.append(f"history event {start or item!r}: {err}")
        self._events = fresh._events
        return dropped

    @classmethod
    def from_dict(cls, data: dict[str, Any], clock: Clock, tz: tzinfo) -> HistoricalDataStore:
        """Build a store from what `to_dict` wrote."""
        store = cls(clock, tz)
        store.restore(data)
        return store
