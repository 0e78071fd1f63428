"""HistoricalDataStore (design §3.2): what really happened, one immutable event per period.

An event covers one period of the planning resolution (an hour, or a quarter of one); periods
of different lengths may follow each other (a store of hourly events from before bess planned
at 15 minutes) but never overlap. Events are keyed by the UTC start of their period, so the
doubled 02:00 hour of the autumn DST day is two distinct entries. The store is append-only:
a period, once recorded, never changes and is never dropped while it is within the detailed
history kept. A day older than that is
compacted: its events are replaced by one immutable `DailyTotal` holding every figure a report
of the day needs, and the day can never be recorded again.

Layouts: version 1 held events only; version 2 adds `daily_totals`. Both load.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from .encoding import json_array_text, json_text
from .models import DailyTotal, HourlyEvent
from .ports import Clock
from .timeutil import day_hour_starts, hour_index, local_midnight

HISTORY_FORMAT_VERSION = 2
READABLE_HISTORY_VERSIONS = (1, 2)


class HistoryConflictError(Exception):
    """An hour that is already recorded was recorded again with different data."""

    def __init__(self, existing: HourlyEvent, new: HourlyEvent) -> None:
        """Keep both versions so the caller can report what differs."""
        super().__init__(
            f"hour starting {existing.start.isoformat()} is already recorded with other data"
        )
        self.existing = existing
        self.new = new


class DayCompactedError(Exception):
    """An hour was recorded for a day that is already compacted into a daily total."""

    def __init__(self, day: date) -> None:
        """Name the day."""
        super().__init__(f"{day.isoformat()} is compacted into daily totals; it takes no hours")
        self.day = day


def _end(event: HourlyEvent) -> datetime:
    """Return the end of an event's period, in UTC."""
    return event.start.astimezone(UTC) + timedelta(minutes=event.period_minutes)


def _same_measurement(a: HourlyEvent, b: HourlyEvent) -> bool:
    """Return whether two events describe the same hour identically (recording time aside)."""
    # In UTC: an ambiguous local time (the autumn 02:00 hours) never equals a time in
    # another zone, so a restored (UTC) event would otherwise differ from its live twin.
    same_start = a.start.astimezone(UTC) == b.start.astimezone(UTC)
    same_period = same_start and a.period_minutes == b.period_minutes
    return same_period and a.hour == b.hour and _payload(a) == _payload(b)


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
    """Append-only store of `HourlyEvent`s, one per local clock hour, and of `DailyTotal`s."""

    def __init__(self, clock: Clock, tz: tzinfo) -> None:
        """Create an empty store; `clock` supplies "today", `tz` the local day boundaries."""
        self._clock = clock
        self._tz = tz
        self._events: dict[datetime, HourlyEvent] = {}
        self._totals: dict[date, DailyTotal] = {}
        # Each entry's JSON text, made once: entries never change, so a save joins these
        # instead of encoding a year of history again (in Home Assistant's event loop).
        # The events' starts in time order, and their texts in the same order.
        self._order: list[datetime] = []
        self._event_texts: list[str] = []
        self._total_texts: dict[date, str] = {}
        self._text: str | None = None  # the whole store's JSON text, until the next change

    def record_event(self, event: HourlyEvent) -> bool:
        """Record `event`; return False when the same data was already there.

        Raises HistoryConflictError when the hour is recorded with different data, and
        ValueError when `event.hour` is not the index of `event.start` within its local day.
        The recording `timestamp` is not part of the comparison: measuring the same hour twice
        gives the same event. An hour of a compacted day raises DayCompactedError.
        """
        start_utc = event.start.astimezone(UTC)
        day = event.start.astimezone(self._tz).date()
        # The day's periods are whole periods from local midnight in absolute time (see
        # `day_period_starts`); checked without building the day's list, once per event loaded.
        elapsed = (start_utc - local_midnight(day, self._tz).astimezone(UTC)).total_seconds()
        if elapsed % (60 * event.period_minutes):
            raise ValueError(
                f"event start {event.start.isoformat()} is not the start of a "
                f"{event.period_minutes}-minute period"
            )
        index = int(elapsed // 3600)
        if index != event.hour:
            raise ValueError(
                f"event for {event.start.isoformat()} says hour {event.hour}, "
                f"but that is hour {index} of {day.isoformat()}"
            )
        if day in self._totals:
            raise DayCompactedError(day)
        existing = self._events.get(start_utc)
        if existing is not None:
            if _same_measurement(existing, event):
                return False
            raise HistoryConflictError(existing, event)
        position = bisect.bisect_left(self._order, start_utc)
        # Periods never overlap: an hour recorded whole is not recorded again by quarters.
        end_utc = start_utc + timedelta(minutes=event.period_minutes)
        if position > 0:
            before = self._events[self._order[position - 1]]
            if _end(before) > start_utc:
                raise HistoryConflictError(before, event)
        if position < len(self._order) and self._order[position] < end_utc:
            raise HistoryConflictError(self._events[self._order[position]], event)
        self._events[start_utc] = event
        self._order.insert(position, start_utc)
        self._event_texts.insert(position, json_text(event.to_dict()))
        self._text = None
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

    def get_event_at(self, start: datetime) -> HourlyEvent | None:
        """Return the event of the period starting at `start`, or None."""
        return self._events.get(start.astimezone(UTC))

    def events_between(self, start: datetime, end: datetime) -> list[HourlyEvent]:
        """Return the events whose periods start in [start, end), in time order."""
        lo = bisect.bisect_left(self._order, start.astimezone(UTC))
        hi = bisect.bisect_left(self._order, end.astimezone(UTC))
        return [self._events[key] for key in self._order[lo:hi]]

    def is_recorded(self, start: datetime, end: datetime) -> bool:
        """Return whether [start, end) is covered by recorded periods from end to end."""
        reached = start.astimezone(UTC)
        position = bisect.bisect_right(self._order, reached)
        if position > 0 and _end(self._events[self._order[position - 1]]) > reached:
            reached = _end(self._events[self._order[position - 1]])
        finish = end.astimezone(UTC)
        while reached < finish and position < len(self._order):
            key = self._order[position]
            if key > reached:
                return False
            reached = max(reached, _end(self._events[key]))
            position += 1
        return reached >= finish

    def get_day_events(self, day: date | None = None) -> list[HourlyEvent]:
        """Return the recorded events of `day` (default today) in time order."""
        day = day or self._today()
        return self.events_between(
            local_midnight(day, self._tz), local_midnight(day + timedelta(days=1), self._tz)
        )

    def events(self) -> list[HourlyEvent]:
        """Return every event recorded in detail, in time order."""
        return [self._events[start] for start in self._order]

    def __len__(self) -> int:
        """Return how many hours are recorded in detail in all."""
        return len(self._events)

    # ----------------------------------------------------------------------- compaction

    def get_daily_total(self, day: date) -> DailyTotal | None:
        """Return the totals of `day` if it is compacted, else None."""
        return self._totals.get(day)

    def daily_totals(self) -> list[DailyTotal]:
        """Return every compacted day's totals, oldest first."""
        return [self._totals[day] for day in sorted(self._totals)]

    def days_before(self, day: date) -> list[date]:
        """Return the local dates before `day` that still hold recorded hours, ascending."""
        end = local_midnight(day, self._tz).astimezone(UTC)
        old = self._order[: bisect.bisect_left(self._order, end)]
        return sorted({start.astimezone(self._tz).date() for start in old})

    def compact(self, totals: Iterable[DailyTotal]) -> None:
        """Replace the events of each total's day by the total; that day's hours are gone.

        Raises ValueError, and changes nothing, when a day is compacted already or a total
        does not count exactly the hours recorded for its day (an event would be lost).
        """
        planned: dict[date, tuple[DailyTotal, list[datetime]]] = {}
        for total in totals:
            if total.day in self._totals or total.day in planned:
                raise ValueError(f"{total.day.isoformat()} is compacted already")
            events = self.get_day_events(total.day)
            keys = [event.start.astimezone(UTC) for event in events]
            hours = len({event.hour for event in events})
            if hours != total.hours:
                raise ValueError(
                    f"the total of {total.day.isoformat()} counts {total.hours} hours, "
                    f"but {hours} have recorded periods"
                )
            planned[total.day] = (total, keys)
        for day, (total, keys) in planned.items():
            for key in keys:
                del self._events[key]
                position = bisect.bisect_left(self._order, key)
                del self._order[position]
                del self._event_texts[position]
            self._totals[day] = total
            self._total_texts[day] = json_text(total.to_dict())
        if planned:
            self._text = None

    # -------------------------------------------------------------------- serialization

    def to_dict(self) -> dict[str, Any]:
        """Serialize every event and daily total, oldest first, as JSON-able data."""
        return {
            "version": HISTORY_FORMAT_VERSION,
            "events": [self._events[key].to_dict() for key in sorted(self._events)],
            "daily_totals": [total.to_dict() for total in self.daily_totals()],
        }

    def to_json(self) -> str:
        """Return what `to_dict` returns as JSON text, joined from each entry's text.

        The text is kept until the next change, so saving an unchanged store costs nothing.
        """
        if self._text is None:
            totals = json_array_text(self._total_texts[day] for day in sorted(self._total_texts))
            head = f'{{"version":{HISTORY_FORMAT_VERSION},"events":['
            tail = f'],"daily_totals":{totals}}}'
            if not self._event_texts:
                self._text = head + tail
            else:
                # One join of megabytes, not two: the wrapper rides on the first and last.
                parts = self._event_texts.copy()
                parts[0] = head + parts[0]
                parts[-1] += tail
                self._text = ",".join(parts)
        return self._text

    def restore(self, data: dict[str, Any]) -> list[str]:
        """Replace the content with what `to_dict` wrote; return what had to be dropped.

        Both layouts load: version 1 (events only, as bess wrote before daily totals) and
        version 2. A layout that is not the store's raises ValueError (or KeyError,
        TypeError) and changes nothing. An event or total that is not a fact (a value that
        is not a finite number, an unreadable time), or an event of a day that is compacted,
        is dropped, and said in the returned list. An event's index within its day is
        derived from its start in the current zone, so a change of Home Assistant's time
        zone keeps every hour.
        """
        version = data.get("version")
        if isinstance(version, bool) or version not in READABLE_HISTORY_VERSIONS:
            raise ValueError(f"unknown history format version {version!r}")
        events = data["events"]
        if not isinstance(events, list):
            raise TypeError("history events are not a list")
        totals = data["daily_totals"] if version >= 2 else []
        if not isinstance(totals, list):
            raise TypeError("history daily totals are not a list")
        fresh = HistoricalDataStore(self._clock, self._tz)
        dropped: list[str] = []
        for item in totals:
            try:
                total = DailyTotal.from_dict(item)
                if total.day in fresh._totals:
                    raise ValueError("the day has totals already")
                fresh._totals[total.day] = total
                fresh._total_texts[total.day] = json_text(total.to_dict())
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                day = item.get("day") if isinstance(item, dict) else None
                dropped.append(f"daily total {day or item!r}: {err}")
        for item in events:
            try:
                event = HourlyEvent.from_dict(item)
                _, index = hour_index(event.start, self._tz)
                fresh.record_event(event if event.hour == index else replace(event, hour=index))
            except (
                KeyError,
                TypeError,
                ValueError,
                AttributeError,
                HistoryConflictError,
                DayCompactedError,
            ) as err:
                start = item.get("start") if isinstance(item, dict) else None
                dropped.append(f"history event {start or item!r}: {err}")
        self._events = fresh._events
        self._totals = fresh._totals
        self._order = fresh._order
        self._event_texts = fresh._event_texts
        self._total_texts = fresh._total_texts
        self._text = None
        return dropped

    @classmethod
    def from_dict(cls, data: dict[str, Any], clock: Clock, tz: tzinfo) -> HistoricalDataStore:
        """Build a store from what `to_dict` wrote."""
        store = cls(clock, tz)
        store.restore(data)
        return store
