"""Solar forecasts (Solcast, energy forecast platforms) and the consumption forecast.

Solar, detected from the chosen entity:

- Solcast from HACS: its forecast sensors carry `detailedForecast` (30-minute) and
  `detailedHourly` attributes, entries {period_start, pv_estimate} with the mean power in kW.
  Every Solcast sensor of the same config entry is read, so choosing "forecast today" also
  brings tomorrow and the days after.
- An integration with an energy platform (`energy.py` with `async_get_solar_forecast`, the
  contract of the energy dashboard): Forecast.Solar (core) and Open-Meteo Solar Forecast (HACS).
  Its answer is {"wh_hours": {timestamp: Wh}}.

Consumption: the recorder's hourly long-term statistics of the home consumption (or of the
balance of the meters), the same local hour averaged over the last N days; a fixed kWh per hour
while the history is short. In a :30 or :45 time zone the local hours come from the 5-minute
statistics instead (see `async_energy_changes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util

from ..const import PERIOD_MINUTES
from ..engine.ports import DataUnavailableError
from ..engine.timeutil import day_hour_starts
from .prices import parse_time

_LOGGER = logging.getLogger(__name__)

SOLCAST_ATTRIBUTES = ("detailedForecast", "detailedHourly")
SOLCAST_ESTIMATE_KEY = "pv_estimate"
ENERGY_PLATFORM = "energy"
# Forecast.Solar stamps each value at the END of the period it covers (its first value of a
# day is at sunrise, its last at sunset); Open-Meteo Solar Forecast and others stamp the start.
END_STAMPED_FORECAST_DOMAINS = frozenset({"forecast_solar"})
# An hour of the day needs this many days of history before its average replaces the fallback.
MIN_HISTORY_DAYS = 2
RECORDER_DOMAIN = "recorder"
HOUR = timedelta(hours=1)
# The recorder's short-term statistics: one row per 5 minutes, kept purge_keep_days.
SHORT_TERM_PERIOD = timedelta(minutes=5)


class SolarForecastKind(StrEnum):
    """The kinds of solar forecast bess can read."""

    SOLCAST = "solcast"
    ENERGY_PLATFORM = "energy_platform"


@dataclass(frozen=True, slots=True)
class EnergyInterval:
    """Energy (kWh) forecast to be produced evenly between `start` and `end`."""

    start: datetime
    end: datetime
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class SolarForecast:
    """Solar energy per period (kWh), and whether a forecast was behind every period."""

    energy_kwh: tuple[float, ...]
    available: bool
    message: str | None = None


def energy_to_periods(
    intervals: Iterable[EnergyInterval],
    period_starts: Sequence[datetime],
    period_minutes: int = PERIOD_MINUTES,
) -> list[float]:
    """Return the energy falling in each period, sharing each interval by its overlap."""
    unique = {(item.start, item.end): item for item in intervals}
    ordered = sorted(unique.values(), key=lambda item: item.start)
    length = timedelta(minutes=period_minutes)
    totals: list[float] = []
    for local_start in period_starts:
        start = local_start.astimezone(UTC)
        end = start + length
        total = 0.0
        for interval in ordered:
            if interval.end <= start:
                continue
            if interval.start >= end:
                break
            span_s = (interval.end - interval.start).total_seconds()
            if span_s <= 0:
                continue
            overlap_s = (min(end, interval.end) - max(start, interval.start)).total_seconds()
            total += interval.energy_kwh * overlap_s / span_s
        totals.append(total)
    return totals


def _smallest_step(starts: Sequence[datetime], default: timedelta) -> timedelta:
    """Return the list's resolution: its smallest positive step (gaps are larger)."""
    steps = [b - a for a, b in pairwise(sorted(starts)) if b > a]
    return min(steps, default=default)


def solcast_intervals(entries: Iterable[Any]) -> list[EnergyInterval]:
    """Turn Solcast {period_start, pv_estimate kW} entries into energy intervals."""
    points: list[tuple[datetime, float]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        start = parse_time(entry.get("period_start"))
        raw = entry.get(SOLCAST_ESTIMATE_KEY)
        if start is None or raw is None:
            continue
        try:
            points.append((start, float(raw)))
        except (TypeError, ValueError):
            continue
    step = _smallest_step([p[0] for p in points], timedelta(minutes=30))
    hours = step.total_seconds() / 3600
    return [EnergyInterval(start, start + step, kw * hours) for start, kw in points]


def wh_hours_intervals(wh_hours: Mapping[str, Any], end_stamped: bool) -> list[EnergyInterval]:
    """Turn an energy platform's {timestamp: Wh} into energy intervals."""
    points: list[tuple[datetime, float]] = []
    for key, raw in wh_hours.items():
        moment = parse_time(key)
        if moment is None or raw is None:
            continue
        try:
            points.append((moment, float(raw) / 1000))
        except (TypeError, ValueError):
            continue
    points.sort(key=lambda p: p[0])
    step = _smallest_step([p[0] for p in points], timedelta(hours=1))
    hour = timedelta(hours=1)
    intervals: list[EnergyInterval] = []
    for index, (moment, kwh) in enumerate(points):
        if end_stamped:
            previous = points[index - 1][0] if index else None
            # The first stamp after the night (sunrise) starts a new day: its period is short.
            start = previous if previous is not None and moment - previous <= hour else None
            intervals.append(EnergyInterval(start or moment - min(step, hour), moment, kwh))
        else:
            following = points[index + 1][0] if index + 1 < len(points) else None
            end = following if following is not None and following - moment <= step else None
            intervals.append(EnergyInterval(moment, end or moment + step, kwh))
    return intervals


def _registry_entry(hass: HomeAssistant, entity_id: str) -> er.RegistryEntry | None:
    """Return the entity's registry entry, or None."""
    return er.async_get(hass).async_get(entity_id)


def _is_solcast(hass: HomeAssistant, entity_id: str) -> bool:
    """Return whether the entity carries Solcast's detailed forecast attributes."""
    state = hass.states.get(entity_id)
    return state is not None and any(
        isinstance(state.attributes.get(name), list) for name in SOLCAST_ATTRIBUTES
    )


async def _async_energy_platform(
    hass: HomeAssistant, entity_id: str
) -> tuple[str, str, Callable[..., Any]] | None:
    """Return (domain, config entry id, async_get_solar_forecast) behind the entity, or None."""
    entry = _registry_entry(hass, entity_id)
    if entry is None or entry.config_entry_id is None:
        return None
    config_entry = hass.config_entries.async_get_entry(entry.config_entry_id)
    if config_entry is None:
        return None
    try:
        integration = await async_get_integration(hass, config_entry.domain)
        platform = await integration.async_get_platform(ENERGY_PLATFORM)
    except (ImportError, LookupError) as err:
        _LOGGER.debug("%s has no energy platform: %s", config_entry.domain, err)
        return None
    get_forecast = getattr(platform, "async_get_solar_forecast", None)
    if get_forecast is None:
        return None
    return config_entry.domain, config_entry.entry_id, get_forecast


async def async_detect_solar_forecast(
    hass: HomeAssistant, entity_id: str
) -> SolarForecastKind | None:
    """Return which kind of solar forecast the entity gives, or None."""
    if _is_solcast(hass, entity_id):
        return SolarForecastKind.SOLCAST
    if await _async_energy_platform(hass, entity_id) is not None:
        return SolarForecastKind.ENERGY_PLATFORM
    return None


async def async_validate_solar_forecast(hass: HomeAssistant, entity_id: str) -> bool:
    """Return whether `entity_id` is a solar forecast bess can read."""
    return await async_detect_solar_forecast(hass, entity_id) is not None


class SolarForecastSource:
    """Reads the solar forecast behind one entity."""

    def __init__(
        self, hass: HomeAssistant, entity_id: str | None, period_minutes: int = PERIOD_MINUTES
    ) -> None:
        """Remember the forecast entity (None: no forecast configured)."""
        self._hass = hass
        self._entity_id = entity_id
        self.period_minutes = period_minutes

    async def async_get_forecast(self, period_starts: Sequence[datetime]) -> SolarForecast:
        """Return the forecast per period; zeros and `available=False` when there is none."""
        zeros = tuple(0.0 for _ in period_starts)
        if self._entity_id is None:
            return SolarForecast(zeros, False, "no solar forecast configured")
        try:
            intervals = await self._async_intervals()
        except DataUnavailableError as err:
            return SolarForecast(zeros, False, str(err))
        missing_days = _days_without_data(intervals, period_starts)
        energy = energy_to_periods(intervals, period_starts, self.period_minutes)
        if missing_days:
            days = ", ".join(day.isoformat() for day in missing_days)
            # A day the forecast does not reach counts as zero, never as another day's sun.
            energy = [
                0.0 if dt_util.as_local(start).date() in missing_days else kwh
                for start, kwh in zip(period_starts, energy, strict=True)
            ]
            return SolarForecast(
                tuple(energy), False, f"{self._entity_id}: no solar forecast for {days}"
            )
        return SolarForecast(tuple(energy), True)

    async def _async_intervals(self) -> list[EnergyInterval]:
        """Return the forecast's energy intervals; raise DataUnavailableError without any."""
        assert self._entity_id is not None
        entity_id = self._entity_id
        if _is_solcast(self._hass, entity_id):
            return self._solcast_intervals(entity_id)
        found = await _async_energy_platform(self._hass, entity_id)
        if found is None:
            if self._hass.states.get(entity_id) is None:
                raise DataUnavailableError(entity_id, "solar forecast entity not found")
            raise DataUnavailableError(
                entity_id,
                "not a supported solar forecast (Solcast, Forecast.Solar, Open-Meteo Solar "
                "Forecast or another integration with an energy forecast platform)",
            )
        domain, entry_id, get_forecast = found
        answer = await get_forecast(self._hass, entry_id)
        if not answer or not isinstance(answer.get("wh_hours"), Mapping):
            raise DataUnavailableError(entity_id, f"{domain} has no forecast right now")
        return wh_hours_intervals(answer["wh_hours"], domain in END_STAMPED_FORECAST_DOMAINS)

    def _solcast_intervals(self, entity_id: str) -> list[EnergyInterval]:
        """Return Solcast's intervals from this sensor and its siblings (today, tomorrow, …)."""
        entity_ids = [entity_id]
        entry = _registry_entry(self._hass, entity_id)
        if entry is not None and entry.config_entry_id is not None:
            registry = er.async_get(self._hass)
            entity_ids += [
                sibling.entity_id
                for sibling in er.async_entries_for_config_entry(registry, entry.config_entry_id)
                if sibling.entity_id != entity_id
            ]
        intervals: list[EnergyInterval] = []
        for sensor in entity_ids:
            state = self._hass.states.get(sensor)
            if state is None:
                continue
            # The 30-minute list is finer; the hourly one is a fallback for older versions.
            for name in SOLCAST_ATTRIBUTES:
                entries = state.attributes.get(name)
                if isinstance(entries, list) and entries:
                    intervals += solcast_intervals(entries)
                    break
        return intervals


def _days_without_data(
    intervals: Sequence[EnergyInterval], period_starts: Sequence[datetime]
) -> set[date]:
    """Return the local days of the periods on which the forecast has no entry at all."""
    covered = {dt_util.as_local(item.start).date() for item in intervals}
    # An interval ending at midnight does not reach into the next day.
    covered |= {dt_util.as_local(item.end - timedelta(microseconds=1)).date() for item in intervals}
    return {dt_util.as_local(start).date() for start in period_starts} - covered


def recorder_available(hass: HomeAssistant) -> bool:
    """Return whether the recorder is running, so statistics can be read."""
    return RECORDER_DOMAIN in hass.config.components


async def async_hourly_changes(
    hass: HomeAssistant, statistic_ids: Iterable[str], start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    """Return each meter's energy (kWh) per hour in [start, end) from long-term statistics.

    It is the difference of the sums of the hour and of the hour before it (of zero for the
    meter's first hour). An hour after a gap in the statistics is left out: its change holds
    the whole gap's energy (the meter unavailable for an hour, compiling skipped while Home
    Assistant stalled), which is no hour's.
    """
    ids = {statistic_id for statistic_id in statistic_ids if statistic_id}
    if not ids or not recorder_available(hass) or end <= start:
        return {}
    from homeassistant.components.recorder.statistics import statistics_during_period
    from homeassistant.helpers.recorder import get_instance

    first = start.astimezone(UTC)
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        first - HOUR,
        end,
        ids,
        "hour",
        {"energy": "kWh"},
        {"sum", "change"},
    )
    changes: dict[str, dict[datetime, float]] = {}
    for statistic_id, series in rows.items():
        # The meter's running total at the end of each hour, by the hour's start.
        sums = {
            datetime.fromtimestamp(row["start"], UTC): float(total)
            for row in series
            if (total := row.get("sum")) is not None
        }
        per_hour: dict[datetime, float] = {}
        for index, row in enumerate(series):
            hour = datetime.fromtimestamp(row["start"], UTC)
            if hour < first or hour not in sums:
                continue
            if hour - HOUR in sums:
                per_hour[hour] = sums[hour] - sums[hour - HOUR]
            elif index == 0 and row.get("change") == row.get("sum"):
                per_hour[hour] = sums[hour]  # the meter's first hour: nothing came before it
        changes[statistic_id] = per_hour
    return changes


def starts_on_utc_hour(moment: datetime) -> bool:
    """Return whether `moment` is a UTC hour boundary, where the hourly statistics start."""
    utc = moment.astimezone(UTC)
    return utc == utc.replace(minute=0, second=0, microsecond=0)


def _on_five_minutes(moment: datetime) -> bool:
    """Return whether `moment` is a boundary of the recorder's 5-minute statistics."""
    utc = moment.astimezone(UTC)
    return utc.minute % 5 == 0 and utc.second == 0 and utc.microsecond == 0


async def async_short_term_changes(
    hass: HomeAssistant,
    statistic_ids: Iterable[str],
    windows: Iterable[tuple[datetime, datetime]],
) -> dict[str, dict[datetime, float]]:
    """Return each meter's energy (kWh) in every [start, end) on 5-minute boundaries.

    It is the difference of the 5-minute statistics' sums at the window's two edges (the sum
    of the period ending at its start, and of the period ending at its end), so the
    recorder's own handling of meter resets carries over. A window that either edge has no
    statistic for (older than purge_keep_days, not compiled yet, the meter missing then) is
    left out, never estimated. Keys are the window starts in UTC.
    """
    ids = {statistic_id for statistic_id in statistic_ids if statistic_id}
    spans = sorted(
        {
            (start.astimezone(UTC), end.astimezone(UTC))
            for start, end in windows
            if end > start and _on_five_minutes(start) and _on_five_minutes(end)
        }
    )
    if not ids or not spans or not recorder_available(hass):
        return {}
    from homeassistant.components.recorder.statistics import statistics_during_period
    from homeassistant.helpers.recorder import get_instance

    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        spans[0][0] - SHORT_TERM_PERIOD,
        max(end for _, end in spans),
        ids,
        "5minute",
        {"energy": "kWh"},
        {"sum"},
    )
    changes: dict[str, dict[datetime, float]] = {}
    for statistic_id, series in rows.items():
        # The meter's running total at the end of each 5-minute period, by that end.
        sums = {
            datetime.fromtimestamp(row["start"], UTC) + SHORT_TERM_PERIOD: float(total)
            for row in series
            if (total := row.get("sum")) is not None
        }
        changes[statistic_id] = {
            start: sums[end] - sums[start] for start, end in spans if start in sums and end in sums
        }
    return changes


async def async_energy_changes(
    hass: HomeAssistant,
    statistic_ids: Iterable[str],
    starts: Iterable[datetime],
    length: timedelta = HOUR,
) -> dict[str, dict[datetime, float]]:
    """Return each meter's energy (kWh) in [start, start + length) per start, keyed in UTC.

    An hour that starts on a UTC hour comes from the hourly statistics, kept for good. The
    local hours of a :30 or :45 time zone (India, Iran, Nepal, South Australia,
    Newfoundland), and any period shorter than an hour, come from the 5-minute statistics,
    which the recorder keeps only for purge_keep_days (10 by default): older ones are left
    out, as is a window off the 5-minute grid. The offset is checked per start, since a DST
    change can move it (Lord Howe Island shifts by 30 minutes).
    """
    ids = [statistic_id for statistic_id in statistic_ids if statistic_id]
    utc_starts = sorted({start.astimezone(UTC) for start in starts})
    hourly = {s for s in utc_starts if length == HOUR and starts_on_utc_hour(s)}
    short = [s for s in utc_starts if s not in hourly]
    changes: dict[str, dict[datetime, float]] = {}
    if hourly:
        found = await async_hourly_changes(hass, ids, min(hourly), max(hourly) + HOUR)
        for statistic_id, series in found.items():
            changes.setdefault(statistic_id, {}).update(
                (start, kwh) for start, kwh in series.items() if start in hourly
            )
    if short:
        found = await async_short_term_changes(hass, ids, [(s, s + length) for s in short])
        for statistic_id, series in found.items():
            changes.setdefault(statistic_id, {}).update(series)
    return changes


# A recorder gap this short inside an hour (a restart) still leaves the hour's meter deltas
# in the right hour; a longer one (Home Assistant down) does not.
RECORDER_GAP_TOLERANCE = timedelta(minutes=3)


async def async_recorded_hours(
    hass: HomeAssistant, hour_starts: Iterable[datetime], length: timedelta = HOUR
) -> set[datetime]:
    """Return the periods (UTC starts) of `length` the recorder was recording all through.

    After downtime the recorder compiles statistics for the hours it missed with a change of
    0 and puts the whole outage's energy into the first hour after it: none of those hours
    is a fact. Coverage comes from the recorder's own runs table; a run that ended with a
    crash (no clean end) counts up to its last recorded state. Hours before the oldest run
    the recorder still keeps (older ones are purged) count as recorded.
    """
    starts = sorted({start.astimezone(UTC) for start in hour_starts})
    if not starts or not recorder_available(hass):
        return set()
    from homeassistant.helpers.recorder import get_instance

    slack = RECORDER_GAP_TOLERANCE
    first, last = starts[0] - slack, starts[-1] + length + slack
    runs = await get_instance(hass).async_add_executor_job(_recorder_runs, hass, first, last)
    return {start for start in starts if hour_recorded(runs, start, length)}


def _recorder_runs(
    hass: HomeAssistant, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Return the recorder's runs overlapping [start, end) as (start, end) in UTC."""
    from homeassistant.components.recorder.db_schema import RecorderRuns, States
    from homeassistant.helpers.recorder import session_scope
    from sqlalchemy import func, or_

    now = dt_util.utcnow()
    spans: list[tuple[datetime, datetime]] = []
    with session_scope(hass=hass, read_only=True) as session:
        rows = (
            session.query(RecorderRuns.start, RecorderRuns.end, RecorderRuns.closed_incorrect)
            .filter(RecorderRuns.start < end)
            .filter(or_(RecorderRuns.end.is_(None), RecorderRuns.end > start))
            .all()
        )
        for run_start, run_end, crashed in rows:
            begin = _utc(run_start)
            finish = _utc(run_end) if run_end is not None else now
            if crashed:
                # Ended by the next start, not by a shutdown: it recorded up to its last state.
                last_state = (
                    session.query(func.max(States.last_updated_ts))
                    .filter(States.last_updated_ts >= begin.timestamp())
                    # The next run starts at `finish`: its states are not this run's.
                    .filter(States.last_updated_ts < finish.timestamp())
                    .scalar()
                )
                finish = datetime.fromtimestamp(last_state, UTC) if last_state else begin
            spans.append((begin, finish))
        # The recorder purges its runs with its states (purge_keep_days), not its long-term
        # statistics: before the oldest run kept, gaps cannot be known, and the statistics
        # are all there is.
        oldest = session.query(func.min(RecorderRuns.start)).scalar()
        if oldest is not None:
            spans.append((datetime.min.replace(tzinfo=UTC), _utc(oldest)))
    return sorted(spans)


def _utc(moment: datetime) -> datetime:
    """Return a recorder time in UTC (the database gives naive UTC times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hour_recorded(
    runs: Sequence[tuple[datetime, datetime]], start: datetime, length: timedelta = HOUR
) -> bool:
    """Return whether the recorder's runs cover the hour from `start`, its edges included.

    A gap over an edge counts whole, not only its part inside the hour: down from 12:24 to
    13:02, the recorder's reading at 13:00 is the one of 12:24. Only a gap up to the
    tolerance may touch an edge (a quick restart: readings there at most that old).
    """
    slack = RECORDER_GAP_TOLERANCE
    return _covered(runs, start - slack, start + length + slack)


def _covered(runs: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    """Return whether the runs cover [start, end) but for gaps up to the tolerance."""
    reached = start
    for run_start, run_end in runs:
        if run_end <= reached:
            continue
        if run_start - reached > RECORDER_GAP_TOLERANCE:
            return False
        reached = max(reached, run_end)
        if reached >= end:
            return True
    return end - reached <= RECORDER_GAP_TOLERANCE


def _local_hour_starts(start: datetime, end: datetime) -> list[datetime]:
    """Return the starts of the local days' hours that fall in [start, end)."""
    tz = dt_util.get_default_time_zone()
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    day = dt_util.as_local(start).date()
    starts: list[datetime] = []
    while day <= dt_util.as_local(end).date():
        # Compared in UTC: the two 02:00 hours of an autumn day are equal as local times.
        starts += [s for s in day_hour_starts(day, tz) if first <= s.astimezone(UTC) < last]
        day += timedelta(days=1)
    return starts


def balance_home_kwh(
    solar_kwh: float,
    import_kwh: float,
    export_kwh: float,
    discharge_kwh: float,
    charge_kwh: float,
) -> float:
    """Return home consumption from the energy balance (meter noise never makes it negative)."""
    return max(solar_kwh + import_kwh - export_kwh + discharge_kwh - charge_kwh, 0.0)


class ConsumptionForecaster:
    """Forecasts home consumption per period from the recorder's hourly statistics."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        consumption_entity: str | None,
        meters: Mapping[str, str],
        history_days: int,
        fallback_kwh_per_hour: float,
        period_minutes: int = PERIOD_MINUTES,
    ) -> None:
        """Remember the consumption sensor (or the meters of the balance) and the fallback.

        `meters` maps flow names (solar, grid_import, grid_export, battery_charge,
        battery_discharge) to meter entity ids.
        """
        self._hass = hass
        self._consumption_entity = consumption_entity
        self._meters = dict(meters)
        self._history_days = max(int(history_days), 1)
        self._fallback_kwh_per_hour = fallback_kwh_per_hour
        self.period_minutes = period_minutes

    async def async_hourly_history(self, start: datetime, end: datetime) -> dict[datetime, float]:
        """Return measured home consumption (kWh) per hour in [start, end).

        Hours the recorder did not record all through (downtime) are left out: their
        compiled change of 0 is not a consumption of 0.
        """
        history = await self._async_hourly_history(start, end)
        recorded = await async_recorded_hours(self._hass, history)
        return {hour: kwh for hour, kwh in history.items() if hour in recorded}

    async def _async_hourly_history(self, start: datetime, end: datetime) -> dict[datetime, float]:
        """Return the consumption per local hour in [start, end), keyed by UTC start."""
        # Local hours, not UTC ones: in a :30 or :45 zone a UTC hour straddles two of them.
        hours = _local_hour_starts(start, end)
        if self._consumption_entity:
            changes = await async_energy_changes(self._hass, [self._consumption_entity], hours)
            if measured := changes.get(self._consumption_entity, {}):
                return measured
            # A power sensor has no energy statistics: the meters' balance still may.
        if "grid_import" not in self._meters:
            return {}
        changes = await async_energy_changes(self._hass, self._meters.values(), hours)
        by_flow = {flow: changes.get(entity, {}) for flow, entity in self._meters.items()}
        history: dict[datetime, float] = {}
        for hour in by_flow["grid_import"]:
            # An hour counts only when every configured meter has it: a gap is not zero flow.
            if any(hour not in series for series in by_flow.values()):
                continue
            flow = {name: series[hour] for name, series in by_flow.items()}
            history[hour] = balance_home_kwh(
                flow.get("solar", 0.0),
                flow["grid_import"],
                flow.get("grid_export", 0.0),
                flow.get("battery_discharge", 0.0),
                flow.get("battery_charge", 0.0),
            )
        return history

    async def async_get_forecast(
        self, period_starts: Sequence[datetime], now: datetime | None = None
    ) -> list[float]:
        """Return the forecast consumption per period (kWh)."""
        if not period_starts:
            return []
        now = now or dt_util.now()
        end = dt_util.as_local(now).replace(minute=0, second=0, microsecond=0)
        # Exactly N occurrences of every hour of the day before now.
        start = end - timedelta(days=self._history_days)
        history = (
            await self.async_hourly_history(start, end) if recorder_available(self._hass) else {}
        )
        samples: dict[int, list[float]] = {}
        for hour, kwh in history.items():
            samples.setdefault(dt_util.as_local(hour).hour, []).append(kwh)
        needed = min(MIN_HISTORY_DAYS, self._history_days)
        scale = self.period_minutes / 60
        forecast: list[float] = []
        for period_start in period_starts:
            values = samples.get(dt_util.as_local(period_start).hour, [])
            if len(values) >= needed:
                forecast.append(sum(values) / len(values) * scale)
            else:
                forecast.append(self._fallback_kwh_per_hour * scale)
        return forecast
