"""ScheduleStore (design §3.3): every optimization result, timestamped, by the day it plans.

A schedule belongs to the local day of its plan's first period: the 23:55 "tomorrow" schedule
belongs to tomorrow, the midnight hourly update to the new day. The store keeps the schedules of
the `keep_days` most recent planned days and forgets older ones (history, not schedules, is the
record of what happened).

Once a planned day is over, its periodic re-plans ("hourly") are cut to the part that was in
force: from their start to the start of the next stored plan (at least one period). The rest
of such a plan was replaced before it could happen. A day's first re-plan (the plan the day
started from) and every plan of another scenario (tomorrow's, a restart's, a manual one) stay
whole. At 15-minute periods a day holds 96 re-plans of up to 192 periods each: kept whole for
a week they made 24 MB of the store, written at every boundary; cut, a week is under 1 MB.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
import itertools
import math
from typing import Any

from .encoding import json_text
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
        # Each kept schedule's JSON text by id(schedule), made once (a stored plan never
        # changes): a save joins these instead of encoding every plan again.
        self._texts: dict[int, str] = {}
        # Each kept schedule's span [start, end) in UTC by id(schedule), and per planned day
        # the union's bounds: a search for the plan covering a moment skips every day whose
        # plans cannot cover it and parses no plan's start again.
        self._spans: dict[int, tuple[datetime, datetime]] = {}
        self._day_bounds: dict[date, tuple[datetime, datetime]] = {}
        self._cut_days: set[date] = set()  # past days whose superseded re-plans are cut
        self._text: str | None = None  # the whole store's JSON text, until the next change

    def planned_day(self, schedule: StoredSchedule) -> date:
        """Return the local day the schedule plans (the day of its first period)."""
        start = from_iso(schedule.algorithm_result["start"])
        return start.astimezone(self._tz).date()

    def _today(self) -> date:
        """Return the clock's local date."""
        return self._clock.now().astimezone(self._tz).date()

    def store_schedule(self, schedule: StoredSchedule) -> None:
        """Store `schedule` under the day it plans and forget days beyond the kept number.

        The days that are over have their superseded re-plans cut (see the module's text).
        """
        self._add(schedule)
        self._cut_past_days()
        self._text = None

    def _add(self, schedule: StoredSchedule) -> None:
        """Store `schedule` under the day it plans and forget days beyond the kept number."""
        day = self.planned_day(schedule)
        schedules = self._by_day.setdefault(day, [])
        schedules.append(schedule)
        schedules.sort(key=_stored_at)
        self._texts[id(schedule)] = json_text(schedule.to_dict())
        span = self._spans[id(schedule)] = _span(schedule)
        low, high = self._day_bounds.get(day, span)
        self._day_bounds[day] = (min(low, span[0]), max(high, span[1]))
        for old in sorted(self._by_day)[: -self._keep_days]:
            self._day_bounds.pop(old, None)
            self._cut_days.discard(old)
            for forgotten in self._by_day.pop(old):
                self._texts.pop(id(forgotten), None)
                self._spans.pop(id(forgotten), None)

    def _cut_past_days(self) -> bool:
        """Cut the superseded re-plans of every planned day that is over (once per day).

        Return whether anything changed.
        """
        today = self._today()
        past = [day for day in self._by_day if day < today and day not in self._cut_days]
        if not past:
            return False
        changed = False
        ordered = sorted(
            (schedule for schedules in self._by_day.values() for schedule in schedules),
            key=_stored_at,
        )
        following = {
            id(schedule): self._spans[id(later)][0]
            for schedule, later in itertools.pairwise(ordered)
        }
        for day in past:
            schedules = self._by_day[day]
            first_replan = next((s for s in schedules if s.created_for_scenario == "hourly"), None)
            done = True
            for index, schedule in enumerate(schedules):
                if schedule.created_for_scenario != "hourly" or schedule is first_replan:
                    continue
                end = following.get(id(schedule))
                if end is None:
                    done = False  # no later plan yet (Home Assistant was down): cut it then
                else:
                    cut = self._cut(schedule, end)
                    changed = changed or cut is not schedule
                    schedules[index] = cut
            if done:
                self._cut_days.add(day)
        return changed

    def _cut(self, schedule: StoredSchedule, end: datetime) -> StoredSchedule:
        """Return `schedule` with its plan cut to the periods before `end` (at least one).

        Cut as stored data, without building the plan's objects: a day's 95 cuts at midnight
        would otherwise parse some 18,000 periods in the event loop. The totals are the sums
        over the periods kept, as `OptimizationResult.window` makes them.
        """
        result = schedule.algorithm_result
        start, _ = self._spans[id(schedule)]
        minutes = int(result["period_minutes"])
        periods = result["periods"]
        keep = max(1, math.ceil((end - start).total_seconds() / 60.0 / minutes))
        if keep >= len(periods):
            return schedule
        kept = periods[:keep]
        cut = StoredSchedule(
            schedule.timestamp,
            schedule.optimization_hour,
            {
                **result,
                "periods": kept,
                "total_cost": sum(p["cost"] for p in kept),
                "total_baseline_cost": sum(p["baseline_cost"] for p in kept),
                "total_savings": sum(p["savings"] for p in kept),
                "total_grid_only_cost": sum(p["buy_price"] * p["load_kwh"] for p in kept),
                "final_soc_percent": kept[-1]["soc_end_percent"],
            },
            schedule.created_for_scenario,
        )
        self._texts.pop(id(schedule), None)
        self._spans.pop(id(schedule), None)
        self._texts[id(cut)] = json_text(cut.to_dict())
        self._spans[id(cut)] = _span(cut)
        return cut

    def _covers(self, schedule: StoredSchedule, moment: datetime) -> bool:
        """Return whether the schedule's plan has a period containing `moment` (UTC)."""
        start, end = self._spans[id(schedule)]
        return start <= moment < end

    def _may_cover(self, day: date, moment: datetime) -> bool:
        """Return whether any schedule planned for `day` may cover `moment` (UTC)."""
        bounds = self._day_bounds.get(day)
        return bounds is not None and bounds[0] <= moment < bounds[1]

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
        for day, schedules in self._by_day.items():
            if not self._may_cover(day, moment):
                continue
            for schedule in schedules:
                if _stored_at(schedule) > moment:
                    break
                if not self._covers(schedule, moment):
                    continue
                if best is None or _stored_at(schedule) >= _stored_at(best):
                    best = schedule
        return best

    def get_latest_covering(
        self, moment: datetime, day: date | None = None
    ) -> StoredSchedule | None:
        """Return the schedule stored last whose plan covers `moment`, or None.

        With `day`, only the schedules planned for that day count; without, every kept one
        does: a plan made this afternoon through the end of tomorrow covers tomorrow too.
        """
        moment = moment.astimezone(UTC)
        days = [day] if day is not None else list(self._by_day)
        best: StoredSchedule | None = None
        for planned in days:
            if not self._may_cover(planned, moment):
                continue
            for schedule in reversed(self._by_day[planned]):
                if self._covers(schedule, moment):
                    if best is None or _stored_at(schedule) >= _stored_at(best):
                        best = schedule
                    break
        return best

    def get_all_schedules_today(self, day: date | None = None) -> list[StoredSchedule]:
        """Return every schedule stored for `day` (default today), oldest first."""
        return list(self._by_day.get(day or self._today(), []))

    def days(self) -> list[date]:
        """Return the planned days that have schedules, ascending."""
        return sorted(self._by_day)

    def to_dict(self) -> dict[str, Any]:
        """Serialize every kept schedule as JSON-able data (a day that ended is cut first)."""
        if self._cut_past_days():
            self._text = None
        return {
            "version": SCHEDULES_FORMAT_VERSION,
            "schedules": [
                schedule.to_dict() for day in sorted(self._by_day) for schedule in self._by_day[day]
            ],
        }

    def to_json(self) -> str:
        """Return what `to_dict` returns as JSON text, joined from each schedule's text.

        A day that ended is cut first, as a load of the store would cut it: what is saved
        after midnight and before the next plan (the data missing at midnight, say) equals
        what a reload holds.
        """
        if self._cut_past_days():
            self._text = None
        if self._text is None:
            parts = [
                self._texts[id(schedule)]
                for day in sorted(self._by_day)
                for schedule in self._by_day[day]
            ]
            head = f'{{"version":{SCHEDULES_FORMAT_VERSION},"schedules":['
            if not parts:
                self._text = head + "]}"
            else:
                # One join of megabytes, not two: the wrapper rides on the first and last.
                parts[0] = head + parts[0]
                parts[-1] += "]}"
                self._text = ",".join(parts)
        return self._text

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
                fresh._add(schedule)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                stamp = item.get("timestamp") if isinstance(item, dict) else None
                dropped.append(f"schedule stored {stamp or item!r}: {err}")
        fresh._cut_past_days()  # a store written before plans were cut is cut once here
        self._by_day = fresh._by_day
        self._texts = fresh._texts
        self._spans = fresh._spans
        self._day_bounds = fresh._day_bounds
        self._cut_days = fresh._cut_days
        self._text = None
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


def _span(schedule: StoredSchedule) -> tuple[datetime, datetime]:
    """Return the [start, end) of the schedule's plan, in UTC."""
    result = schedule.algorithm_result
    start = from_iso(result["start"]).astimezone(UTC)
    minutes = int(result["period_minutes"]) * len(result["periods"])
    return start, start + timedelta(minutes=minutes)
