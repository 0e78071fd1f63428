"""ScheduleStore (design §3.3): every optimization result, timestamped, by the day it plans.

A schedule belongs to the local day of its plan's first period: the 23:55 "tomorrow" schedule
belongs to tomorrow, the midnight hourly update to the new day. The store keeps the schedules of
the `keep_days` most recent planned days and forgets older ones (history, not schedules, is the
record of what happened).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

from .models import OptimizationResult, StoredSchedule, from_iso
from .ports import Clock

SCHEDULES_FORMAT_VERSION = 1
DEFAULT_KEEP_DAYS = 7


class ScheduleStore:
    """Stored optimization results, in the order they were stored, per planned local day."""

    def __init__(self, clock: Clock, tz: tzinfo, keep_days: int = DEFAULT_KEEP_DAYS) -> None:
        """Create an empty store keeping the schedules of the `keep_days` latest planned days."""
        if keep_days < 1:
            raise ValueError("keep_days must be >= 1")
        self._clock = clock
        self._tz = tz
        self._keep_days = keep_days
        # Each list is sorted by stored timestamp; equal timestamps keep the order of storing,
        # so "latest" is the one stored last.
        self._by_day: dict[date, list[StoredSchedule]] = {}

    def planned_day(self, schedule: StoredSchedule) -> date:
        """Return the local day the schedule plans (the day of its first period)."""
        start = from_iso(schedule.algorithm_result["start"])
        return start.astimezone(self._tz).date()

    def _today(self) -> date:
        """Return the clock's local date."""
        return self._clock.now().astimezone(self._tz).date()

    def store_schedule(self, schedule: StoredSchedule) -> None:
        """Store `schedule` under the day it plans and forget days beyond the kept number."""
        day = self.planned_day(schedule)
        schedules = self._by_day.setdefault(day, [])
        schedules.append(schedule)
        schedules.sort(key=_stored_at)
        for old in sorted(self._by_day)[: -self._keep_days]:
            del self._by_day[old]

    def get_latest_schedule(self, day: date | None = None) -> StoredSchedule | None:
        """Return the schedule stored last for `day` (default today), or None."""
        schedules = self._by_day.get(day or self._today())
        return schedules[-1] if schedules else None

    def get_schedule_at_time(self, timestamp: datetime) -> StoredSchedule | None:
        """Return the schedule in force at `timestamp`, or None.

        That is the schedule stored last at or before `timestamp` among those whose plan
        covers `timestamp`: the plan that was being followed at that moment.
        """
        moment = timestamp.astimezone(UTC)
        best: StoredSchedule | None = None
        for schedules in self._by_day.values():
            for schedule in schedules:
                if _stored_at(schedule) > moment:
                    break
                if not _covers(schedule, moment):
                    continue
                if best is None or _stored_at(schedule) >= _stored_at(best):
                    best = schedule
        return best

    def get_latest_covering(
        self, moment: datetime, day: date | None = None
    ) -> StoredSchedule | None:
        """Return the schedule stored last for `day` (default today) whose plan covers `moment`."""
        for schedule in reversed(self._by_day.get(day or self._today(), [])):
            if _covers(schedule, moment):
                return schedule
        return None

    def get_all_schedules_today(self, day: date | None = None) -> list[StoredSchedule]:
        """Return every schedule stored for `day` (default today), oldest first."""
        return list(self._by_day.get(day or self._today(), []))

    def days(self) -> list[date]:
        """Return the planned days that have schedules, ascending."""
        return sorted(self._by_day)

    def to_dict(self) -> dict[str, Any]:
        """Serialize every kept schedule as JSON-able data."""
        return {
            "version": SCHEDULES_FORMAT_VERSION,
            "schedules": [
                schedule.to_dict() for day in sorted(self._by_day) for schedule in self._by_day[day]
            ],
        }

    def restore(self, data: dict[str, Any]) -> list[str]:
        """Replace the content with what `to_dict` wrote; return what had to be dropped.

        A layout that is not the store's raises and changes nothing; a schedule that cannot
        be read (or holds a value that is not a finite number) is dropped and said.
        """
        if data.get("version") != SCHEDULES_FORMAT_VERSION:
            raise ValueError(f"unknown schedules format version {data.get('version')!r}")
        items = data["schedules"]
        if not isinstance(items, list):
            raise TypeError("schedules are not a list")
        fresh = ScheduleStore(self._clock, self._tz, self._keep_days)
        dropped: list[str] = []
        for item in items:
            try:
                schedule = StoredSchedule.from_dict(item)
                result = OptimizationResult.from_dict(schedule.algorithm_result)
                if not result.is_finite():
                    raise ValueError("it holds a value that is not a finite number")
                fresh.store_schedule(schedule)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                stamp = item.get("timestamp") if isinstance(item, dict) else None
                dropped.append(f"schedule stored {stamp or item!r}: {err}")
        self._by_day = fresh._by_day
        return dropped

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], clock: Clock, tz: tzinfo, keep_days: int = DEFAULT_KEEP_DAYS
    ) -> ScheduleStore:
        """Build a store from what `to_dict` wrote."""
        store = cls(clock, tz, keep_days)
        store.restore(data)
        return store


def _stored_at(schedule: StoredSchedule) -> datetime:
    """Return when the schedule was stored, in UTC (same-zone comparisons ignore DST folds)."""
    return schedule.timestamp.astimezone(UTC)


def _covers(schedule: StoredSchedule, moment: datetime) -> bool:
    """Return whether the schedule's plan has a period containing `moment`."""
    result = schedule.algorithm_result
    start = from_iso(result["start"]).astimezone(UTC)
    length_minutes = int(result["period_minutes"]) * len(result["periods"])
    offset_minutes = (moment.astimezone(UTC) - start).total_seconds() / 60.0
    return 0 <= offset_minutes < length_minutes
