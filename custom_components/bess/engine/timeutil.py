"""Local days and their hours, exact on daylight-saving days.

A day's hours are the local clock hours of that date: 24 normally, 23 on the spring DST day,
25 on the autumn one. They are counted in absolute time from local midnight, so the doubled
02:00 hour of the autumn day is two distinct hours with distinct starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """Return the aware start of `day` in `tz`."""
    return datetime.combine(day, time(0), tzinfo=tz)


def day_hour_starts(day: date, tz: tzinfo) -> list[datetime]:
    """Return the start of every hour of the local day, in `tz` (23, 24 or 25 entries)."""
    start = local_midnight(day, tz).astimezone(UTC)
    end = local_midnight(day + timedelta(days=1), tz).astimezone(UTC)
    hours = int((end - start).total_seconds() // 3600)
    return [(start + timedelta(hours=i)).astimezone(tz) for i in range(hours)]


def hours_in_day(day: date, tz: tzinfo) -> int:
    """Return how many hours the local day has."""
    return len(day_hour_starts(day, tz))


def hour_index(moment: datetime, tz: tzinfo) -> tuple[date, int]:
    """Return the local date of `moment` and the index of its hour within that day."""
    local = moment.astimezone(tz)
    day = local.date()
    elapsed = local.astimezone(UTC) - local_midnight(day, tz).astimezone(UTC)
    return day, int(elapsed.total_seconds() // 3600)


def hour_start(moment: datetime, tz: tzinfo) -> datetime:
    """Return the start of the local hour that contains `moment`."""
    day, index = hour_index(moment, tz)
    return day_hour_starts(day, tz)[index]


def day_period_starts(day: date, tz: tzinfo, period_minutes: int) -> list[datetime]:
    """Return the start of every period of the local day, in `tz`.

    Periods are counted in absolute time from local midnight: 96 quarter-hours on a normal
    day, 92 on the spring DST day and 100 on the autumn one.
    """
    if period_minutes <= 0 or 60 % period_minutes != 0:
        raise ValueError(f"a period of {period_minutes} minutes does not divide an hour")
    start = local_midnight(day, tz).astimezone(UTC)
    end = local_midnight(day + timedelta(days=1), tz).astimezone(UTC)
    count = int((end - start).total_seconds() // (60 * period_minutes))
    step = timedelta(minutes=period_minutes)
    return [(start + i * step).astimezone(tz) for i in range(count)]


def period_start(moment: datetime, tz: tzinfo, period_minutes: int) -> datetime:
    """Return the start of the local period of `period_minutes` that contains `moment`."""
    local = moment.astimezone(tz)
    midnight = local_midnight(local.date(), tz).astimezone(UTC)
    elapsed = (local.astimezone(UTC) - midnight).total_seconds()
    step = 60 * period_minutes
    return (midnight + timedelta(seconds=elapsed // step * step)).astimezone(tz)
