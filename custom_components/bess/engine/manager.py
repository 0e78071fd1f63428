"""SimpleBatterySystemManager (design §3.1, §5): the three scenarios, and nothing else.

The manager talks to the world only through the protocols in `ports.py`. Every scenario:
gathers its inputs, optimizes in the executor, stores the result in the ScheduleStore, hands
the stores to Persistence to be saved, and only then applies the plan to the inverter. So a
failing controller never loses a schedule: the error is recorded in `status.last_error` and
raised out of the scenario AFTER storing and saving. A missing SOC raises
`DataUnavailableError` before anything is optimized (the hour already recorded stays recorded).

Capacity tariff: with one set (`capacity_tariff`), every plan (today's re-plans, the restart,
tomorrow's) is made with `capacity.plan_with_capacity` from the month's peaks recorded in the
history (so they survive a restart), in the executor like any plan; what it holds (the cap,
the planned peak, the fee increase, whether the load sets the peak) is kept as a
`CapacityOutlook` per plan, read by the entities and the controller (`import_cap_kw`). It is
not stored: a restart plans again. Without a tariff plans are made exactly as before.

Saving: each change asks Persistence to save soon (`save_soon`), so the changes of one
scenario are written once; what is handed over is JSON text the stores keep per entry, so a
save does not encode a year of history again. Loading parses in the executor. Days before the
detailed history kept (`keep_history_days`) are compacted into daily totals when the stores
are loaded or saved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
import functools
import logging
import math
import time
from typing import Any

from .capacity import CapacityTariff, Peak, counted_weights, plan_with_capacity
from .daily_view import DailyViewBuilder
from .engine import OptimizationEngine
from .hindsight import HindsightReport, hindsight_report
from .history import DayCompactedError, HistoricalDataStore, HistoryConflictError
from .models import (
    PERIOD_LENGTHS,
    BatterySettings,
    DailyView,
    HourlyEvent,
    OptimizationInput,
    OptimizationResult,
    Scenario,
    StoredSchedule,
    from_iso,
    is_soc,
)
from .ports import (
    BatteryController,
    Clock,
    DataUnavailableError,
    EncodedState,
    EnergyData,
    Executor,
    HourMeasurement,
    Persistence,
    PriceSeries,
)
from .schedules import DEFAULT_KEEP_DAYS, ScheduleStore
from .terminal import default_terminal_value
from .timeutil import (
    day_hour_starts,
    day_period_starts,
    hour_index,
    local_midnight,
    period_start,
)

_LOGGER = logging.getLogger(__name__)

STORAGE_FORMAT_VERSION = 1
# Days of hourly detail kept: more than a year, so a year's report compares like with like.
DEFAULT_KEEP_HISTORY_DAYS = 400
PERIOD_MINUTES = 60  # the default planning period; the market's resolution is set instead

type Optimizer = Callable[[OptimizationInput], OptimizationResult]


class CorruptStoreError(ValueError):
    """What Persistence returned cannot be read; nothing was loaded."""


@dataclass(frozen=True, slots=True)
class ManagerStatus:
    """What the integration shows about the manager."""

    latest_result: OptimizationResult | None
    latest_scenario: Scenario | None
    tomorrow_result: OptimizationResult | None
    last_optimization_time: datetime | None
    last_optimization_seconds: float | None
    last_error: str | None
    waiting_for_prices: bool


@dataclass(frozen=True, slots=True)
class CapacityOutlook:
    """What a plan made under a capacity tariff holds (capacity.py's `CapacityPlan`).

    `cap_kw` is the cap on counted (weighted) import power the plan holds in every period
    of `weights` > 0, None when no period of the plan counts; `peak_kw` the plan's highest
    counted import power, `fee_increase` what the plan adds to the month's fee, and
    `load_exceeds_cap` whether the load alone sets that peak (the battery cannot hold it
    lower, though the fee would have it lower). `weights` are per period of the plan from
    `start`: 0 where import does not count (or lies in the next month, left uncapped).
    """

    created: datetime
    start: datetime
    period_minutes: int
    weights: tuple[float, ...]
    cap_kw: float | None
    peak_kw: float
    fee_increase: float
    load_exceeds_cap: bool
    dp_runs: int

    @property
    def end(self) -> datetime:
        """Return the end of the plan's last period."""
        return self.start.astimezone(UTC) + timedelta(
            minutes=self.period_minutes * len(self.weights)
        )

    def covers(self, moment: datetime) -> bool:
        """Return whether `moment` lies within the plan."""
        return self.start.astimezone(UTC) <= moment.astimezone(UTC) < self.end

    def import_cap_kw(self, moment: datetime) -> float | None:
        """Return the most grid import power the plan allows at `moment` (kW), or None.

        None where no cap applies: outside the plan, no cap, or a period that does not
        count. In a counted period the cap on import power is `cap_kw / weight` (a night
        hour at half weight may import twice the cap).
        """
        if self.cap_kw is None or not self.covers(moment):
            return None
        elapsed = (moment.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds()
        weight = self.weights[int(elapsed // (60 * self.period_minutes))]
        return self.cap_kw / weight if weight > 0.0 else None


def _plan_under_capacity(
    inputs: OptimizationInput,
    tariff: CapacityTariff,
    peaks: Sequence[Peak],
    tz: tzinfo,
    now: datetime,
) -> tuple[OptimizationResult, CapacityOutlook]:
    """Plan energy cost plus the month's fee increase (executor); time the whole search."""
    began = time.perf_counter()
    plan = plan_with_capacity(inputs, tariff, peaks, tz)
    result = replace(plan.result, solve_seconds=time.perf_counter() - began)
    starts = [result.period_start(i) for i in range(len(result.periods))]
    first = inputs.start.astimezone(tz)
    weights = tuple(
        weight
        if (start.astimezone(tz).year, start.astimezone(tz).month) == (first.year, first.month)
        else 0.0
        for start, weight in zip(
            starts, counted_weights(starts, inputs.period_minutes, tariff, tz), strict=True
        )
    )
    outlook = CapacityOutlook(
        created=now,
        start=inputs.start,
        period_minutes=inputs.period_minutes,
        weights=weights,
        cap_kw=plan.cap_kw,
        peak_kw=plan.peak_kw,
        fee_increase=plan.fee_increase,
        load_exceeds_cap=plan.load_exceeds_cap,
        dp_runs=plan.dp_runs,
    )
    return result, outlook


def _default_optimizer(inputs: OptimizationInput) -> OptimizationResult:
    """Plan with the OptimizationEngine (design §3.5), which times the solve."""
    return OptimizationEngine().optimize(inputs)


class SimpleBatterySystemManager:
    """The facade: create tomorrow's schedule, update every hour, recover after a restart."""

    def __init__(
        self,
        *,
        energy: EnergyData,
        controller: BatteryController,
        clock: Clock,
        persistence: Persistence,
        executor: Executor,
        battery: BatterySettings,
        tz: tzinfo,
        terminal_value_per_kwh: float | None = None,
        keep_schedule_days: int = DEFAULT_KEEP_DAYS,
        keep_history_days: int = DEFAULT_KEEP_HISTORY_DAYS,
        period_minutes: int = PERIOD_MINUTES,
        optimize: Optimizer = _default_optimizer,
        plan_through_tomorrow: bool = True,
        capacity_tariff: CapacityTariff | None = None,
    ) -> None:
        """Wire the manager to its ports; the stores start empty until `async_load`."""
        if period_minutes not in PERIOD_LENGTHS:
            raise ValueError(f"a period of {period_minutes} minutes does not divide an hour")
        if keep_history_days < 2:
            # Yesterday's hours are still recorded after midnight (a restart at 00:30).
            raise ValueError("keep_history_days must be >= 2")
        self._energy = energy
        self._controller = controller
        self._clock = clock
        self._persistence = persistence
        self._executor = executor
        self._tz = tz
        self._optimize = optimize
        self._battery = battery
        self._terminal_value_per_kwh = terminal_value_per_kwh
        # Once the next day's prices are published, every re-plan runs to the end of it:
        # a plan that stops at midnight empties the battery before a dear morning.
        self._plan_through_tomorrow = plan_through_tomorrow
        self.history = HistoricalDataStore(clock, tz)
        self._keep_history_days = keep_history_days
        self._keep_schedule_days = keep_schedule_days
        self.schedules = ScheduleStore(clock, tz, keep_schedule_days)
        self.daily_view_builder = DailyViewBuilder(self.history, self.schedules, clock, tz, battery)
        self._period_minutes = PERIOD_MINUTES
        self.period_minutes = period_minutes
        self._capacity_tariff: CapacityTariff | None = None
        # What each plan under the capacity tariff holds, while the plan lasts.
        self._capacity_outlooks: list[CapacityOutlook] = []
        self.capacity_tariff = capacity_tariff
        # One scenario at a time: the hourly update and a restart must not interleave their
        # record → optimize → store → apply steps.
        self._lock = asyncio.Lock()
        self._latest_result: OptimizationResult | None = None
        self._latest_scenario: Scenario | None = None
        self._last_optimization_time: datetime | None = None
        self._last_error: str | None = None
        self._waiting_for: date | None = None  # the day whose prices are awaited

    # ----------------------------------------------------------------- settings and state

    @property
    def battery(self) -> BatterySettings:
        """Return the battery settings the next optimization uses."""
        return self._battery

    @property
    def terminal_value_per_kwh(self) -> float | None:
        """Return what a kWh left in the battery at the end of the horizon is worth."""
        return self._terminal_value_per_kwh

    @property
    def period_minutes(self) -> int:
        """Return the length of the periods bess plans, controls and records in."""
        return self._period_minutes

    @period_minutes.setter
    def period_minutes(self, minutes: int) -> None:
        """Plan, control and record in periods of `minutes` from the next scenario on.

        The energy source reads and measures at the same resolution. Recorded periods and
        stored plans keep theirs: the daily view sums any of them into hours.
        """
        if minutes not in PERIOD_LENGTHS:
            raise ValueError(f"a period of {minutes} minutes does not divide an hour")
        self._period_minutes = minutes
        self.daily_view_builder.period_minutes = minutes
        self._energy.period_minutes = minutes

    def update_settings(
        self,
        battery: BatterySettings | None = None,
        terminal_value_per_kwh: float | None = None,
    ) -> None:
        """Use new settings from the next scenario on (stored plans are left as they were)."""
        if battery is not None:
            self._battery = battery
            self.daily_view_builder.battery = battery
        if terminal_value_per_kwh is not None:
            self._terminal_value_per_kwh = terminal_value_per_kwh

    @property
    def capacity_tariff(self) -> CapacityTariff | None:
        """Return the capacity tariff the plans are made under (None: no capacity fee)."""
        return self._capacity_tariff

    @capacity_tariff.setter
    def capacity_tariff(self, tariff: CapacityTariff | None) -> None:
        """Plan under `tariff` from the next scenario on; the outlooks of earlier plans go."""
        self._capacity_tariff = tariff
        self._capacity_outlooks = []
        self.daily_view_builder.capacity_tariff = tariff

    def capacity_outlook(self, moment: datetime | None = None) -> CapacityOutlook | None:
        """Return what the newest plan under the tariff covering `moment` (default now) holds."""
        moment = moment or self._clock.now()
        covering = [o for o in self._capacity_outlooks if o.covers(moment)]
        return max(covering, key=lambda o: o.created) if covering else None

    def import_cap_kw(self, moment: datetime) -> float | None:
        """Return the import power cap (kW) the plan holds at `moment`, None where none applies."""
        outlook = self.capacity_outlook(moment)
        return outlook.import_cap_kw(moment) if outlook is not None else None

    def month_peaks(self, day: date | None = None) -> list[Peak]:
        """Return the counted peaks recorded in `day`'s month (default today's), highest first."""
        day = day or self._clock.now().astimezone(self._tz).date()
        return self.daily_view_builder.month_recorded_peaks(day)

    @property
    def waiting_for_prices(self) -> bool:
        """Return whether tomorrow's schedule waits for prices that are not published yet."""
        today = self._clock.now().astimezone(self._tz).date()
        return self._waiting_for is not None and self._waiting_for > today

    @property
    def latest_result(self) -> OptimizationResult | None:
        """Return the result of the last optimization (any scenario), or None."""
        return self._latest_result

    @property
    def tomorrow_result(self) -> OptimizationResult | None:
        """Return tomorrow's part of the latest plan that covers tomorrow, or None.

        That is the 23:55 plan once it is made, and before it the latest re-plan that runs
        through tomorrow (made once tomorrow's prices are published).
        """
        today = self._clock.now().astimezone(self._tz).date()
        tomorrow = today + timedelta(days=1)
        start = local_midnight(tomorrow, self._tz)
        schedule = self.schedules.get_latest_covering(start)
        if schedule is None:
            return None
        part = schedule.result.window(start, local_midnight(tomorrow + timedelta(days=1), self._tz))
        return self._local(part) if part is not None else None

    @property
    def last_optimization_time(self) -> datetime | None:
        """Return when the last optimization ran, or None."""
        return self._last_optimization_time

    @property
    def last_solve_seconds(self) -> float | None:
        """Return how long the last optimization took (wall clock, seconds), or None."""
        return None if self._latest_result is None else self._latest_result.solve_seconds

    @property
    def last_error(self) -> str | None:
        """Return the error of the last scenario, or None when it succeeded."""
        return self._last_error

    @property
    def status(self) -> ManagerStatus:
        """Return a snapshot of what the integration shows."""
        return ManagerStatus(
            latest_result=self._latest_result,
            latest_scenario=self._latest_scenario,
            tomorrow_result=self.tomorrow_result,
            last_optimization_time=self._last_optimization_time,
            last_optimization_seconds=self.last_solve_seconds,
            last_error=self._last_error,
            waiting_for_prices=self.waiting_for_prices,
        )

    def plan_in_force(self, moment: datetime | None = None) -> OptimizationResult | None:
        """Return the plan in force at `moment` (default now): the newest stored that covers it."""
        moment = moment or self._clock.now()
        schedule = self.schedules.get_schedule_at_time(moment)
        return self._local(schedule.result) if schedule is not None else None

    def build_daily_view(self, day: date | None = None) -> DailyView:
        """Return the view of `day` (default today): actual up to the hour in progress."""
        return self.daily_view_builder.build_daily_view(day=day)

    def hindsight_report(self, day: date) -> HindsightReport | None:
        """Return the hindsight report of a finished `day`, or None (see hindsight.py).

        None while the day runs, or while any of its periods is not measured.
        """
        today = self._clock.now().astimezone(self._tz).date()
        events = self.history.get_day_events(day)
        if day >= today or not events:
            return None
        minutes = events[0].period_minutes
        midnight = local_midnight(day, self._tz).astimezone(UTC)
        starting = [
            schedule
            for schedule in self.schedules.get_all_schedules_today(day)
            if from_iso(schedule.algorithm_result["start"]).astimezone(UTC) == midnight
        ]
        # The plan the day started from: the first re-plan at midnight, else tomorrow's plan.
        first = next(
            (s for s in starting if s.created_for_scenario != "tomorrow"),
            starting[0] if starting else None,
        )
        battery = self._battery

        def in_force(moment: datetime) -> OptimizationResult | None:
            schedule = self.schedules.get_schedule_at_time(moment)
            return schedule.result if schedule is not None else None

        def terminal(buy: Sequence[float], sell: Sequence[float]) -> float:
            if self._terminal_value_per_kwh is not None:
                return self._terminal_value_per_kwh
            return default_terminal_value(buy, sell, battery)

        return hindsight_report(
            day,
            events,
            expected_periods=len(day_period_starts(day, self._tz, minutes)),
            battery=battery,
            event_savings=self.daily_view_builder.event_savings,
            plan_in_force=in_force,
            first_plan=first.result if first is not None else None,
            terminal_value=terminal,
        )

    # ------------------------------------------------------------------------ persistence

    async def async_load(self) -> None:
        """Load the stores from Persistence; raise CorruptStoreError if they cannot be read."""
        await self.async_load_state(await self._persistence.load())

    async def async_load_state(self, data: dict[str, Any] | None) -> list[str]:
        """Do what `load_state` does, parsing in the executor (a year is too long for the loop)."""
        parsed = await self._executor.run(functools.partial(self._parse_state, data))
        return self._install_state(*parsed)

    def load_state(self, data: dict[str, Any] | None) -> list[str]:
        """Replace the stores with `data` (None: empty); return the entries it dropped.

        A layout that cannot be read raises CorruptStoreError and loads nothing. A single
        entry that is not readable (a value that is not a finite number, say) is dropped,
        logged, and named in the returned list; the rest loads. Days before the detailed
        history kept are compacted into daily totals.
        """
        return self._install_state(*self._parse_state(data))

    def _parse_state(
        self, data: dict[str, Any] | None
    ) -> tuple[HistoricalDataStore, ScheduleStore, list[str]]:
        """Build new stores from `data` and compact them; change nothing of the manager's.

        It reads only the clock and the settings, so it may run in the executor.
        """
        history = HistoricalDataStore(self._clock, self._tz)
        schedules = ScheduleStore(self._clock, self._tz, self._keep_schedule_days)
        dropped: list[str] = []
        if data is not None:
            try:
                if data.get("version") != STORAGE_FORMAT_VERSION:
                    raise ValueError(f"unknown storage version {data.get('version')!r}")
                dropped += history.restore(data["history"])
                dropped += schedules.restore(data["schedules"])
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                raise CorruptStoreError(f"stored bess data cannot be read: {err!r}") from err
        builder = DailyViewBuilder(history, schedules, self._clock, self._tz, self._battery)
        self._compact_history(history, builder)
        return history, schedules, dropped

    def _install_state(
        self, history: HistoricalDataStore, schedules: ScheduleStore, dropped: list[str]
    ) -> list[str]:
        """Use the stores `_parse_state` built; return the entries it dropped."""
        for what in dropped:
            _LOGGER.debug("Dropped an unreadable stored entry: %s", what)
        # Parsed in full before anything is replaced: a corrupt store changes nothing.
        self.history = self.daily_view_builder.history = history
        self.schedules = self.daily_view_builder.schedules = schedules
        today = self._clock.now().astimezone(self._tz).date()
        latest = self.schedules.get_latest_schedule(today)
        self._latest_result = self._local(latest.result) if latest is not None else None
        self._latest_scenario = latest.created_for_scenario if latest is not None else None
        return dropped

    def dump_state(self) -> dict[str, Any]:
        """Return everything that is saved, as JSON-able data."""
        return {
            "version": STORAGE_FORMAT_VERSION,
            "history": self.history.to_dict(),
            "schedules": self.schedules.to_dict(),
        }

    def encoded_state(self) -> EncodedState:
        """Return what `dump_state` returns, each top-level value as JSON text.

        Joined from the text each entry was given once, and kept by each store until it
        changes: cheap enough for the event loop with a year of history.
        """
        return {
            "version": str(STORAGE_FORMAT_VERSION),
            "history": self.history.to_json(),
            "schedules": self.schedules.to_json(),
        }

    def _compact_history(self, history: HistoricalDataStore, builder: DailyViewBuilder) -> None:
        """Fold the recorded days before the detailed history kept into daily totals."""
        today = self._clock.now().astimezone(self._tz).date()
        first_kept = today - timedelta(days=self._keep_history_days - 1)
        days = history.days_before(first_kept)
        if not days:
            return
        history.compact(total for day in days if (total := builder.daily_total(day)) is not None)
        _LOGGER.debug("Compacted %s day(s) of history, up to %s", len(days), days[-1])

    def _local(self, result: OptimizationResult) -> OptimizationResult:
        """Return `result` with its times in the local zone (storage keeps them in UTC)."""
        return replace(result, start=result.start.astimezone(self._tz))

    async def async_save(self) -> None:
        """Save both stores through Persistence now (unload: nothing may stay unwritten)."""
        self._compact_history(self.history, self.daily_view_builder)
        await self._persistence.save(self.encoded_state())

    def _save_soon(self) -> None:
        """Ask Persistence to save both stores; the requests of one scenario make one write."""
        self._compact_history(self.history, self.daily_view_builder)
        self._persistence.save_soon(self.encoded_state())

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the scenario lock while commanding the inverter outside a scenario.

        The fail-safe and switching control on must not interleave their writes with a
        scenario's.
        """
        async with self._lock:
            yield

    # -------------------------------------------------------------------------- scenarios

    async def create_tomorrows_schedule(self, day: date | None = None) -> OptimizationResult | None:
        """Plan the whole of `day` (default tomorrow) from the minimum SOC (design §5.1).

        Returns None, and sets `waiting_for_prices`, when the day's prices are not published.
        """
        async with self._lock, self._errors_recorded():
            now = self._clock.now()
            today = now.astimezone(self._tz).date()
            if day is None:
                day = today + timedelta(days=1)
                if self._waiting_for is not None and self._waiting_for <= today:
                    # The day whose prices never came has begun: the hourly scenario plans it
                    # from the real SOC. Stop waiting; never look for the day after instead.
                    self._waiting_for = None
                    return None
            starts = day_period_starts(day, self._tz, self._period_minutes)
            try:
                prices = await self._energy.get_prices(starts)
            except DataUnavailableError as err:
                # The price sensor is down at 23:55: wait and look again, as for prices not
                # published yet; today's plan is not affected.
                _LOGGER.info("Prices for %s cannot be read yet (%s); waiting", day, err)
                prices = None
            if prices is None:
                self._waiting_for = day
                _LOGGER.info("Prices for %s are not published yet; waiting", day)
                return None
            self._waiting_for = None
            result = await self._plan(
                "tomorrow",
                now,
                starts=starts,
                first_hour=0,
                prices=prices,
                soc_percent=self._battery.min_soc_percent,
            )
            await self._apply(result, now)
            return result

    async def update_hourly_schedule(
        self, completed_hour: int | None = None, day: date | None = None
    ) -> OptimizationResult:
        """Record the completed period, then re-plan from the period now starting (§5.2).

        The design's hourly update, run at every period boundary. With neither argument the
        period that ended last is the completed one (exact on DST days). `completed_hour`
        (an index within `day`; `day` defaults to the day of the period that ended last)
        names an hour instead: its last period is the completed one. The plan runs from the
        next period to the end of its day, or of the day after once its prices are out.
        """
        async with self._lock, self._errors_recorded():
            now = self._clock.now()
            minutes = self._period_minutes
            length = timedelta(minutes=minutes)
            # In UTC: one period back on the local wall clock is wrong around a DST change.
            current = period_start(now, self._tz, minutes).astimezone(UTC)
            last_day = (current - length).astimezone(self._tz).date()
            if day is None:
                day = last_day
            if completed_hour is None:
                if day != last_day:
                    raise ValueError("give completed_hour when day is not the last hour's day")
            else:
                hours = day_hour_starts(day, self._tz)
                if not 0 <= completed_hour < len(hours):
                    raise ValueError(f"{day} has no hour {completed_hour}")
                current = hours[completed_hour].astimezone(UTC) + timedelta(hours=1)
            completed = (current - length).astimezone(self._tz)

            await self._record_periods(now, [completed], live=True)
            # Any period a missed trigger, a stall or a restart left unrecorded, back to the
            # start of yesterday, once the recorder has it.
            await self._record_periods(now, self._periods_since_yesterday(completed), live=False)

            soc = await self._energy.get_battery_soc()
            result = await self._plan_from(
                "hourly", now, current.astimezone(self._tz), soc_percent=soc
            )
            await self._apply(result, now)
            return result

    async def restart_and_reconstruct(self, current_hour: int | None = None) -> OptimizationResult:
        """Rebuild the unrecorded periods since yesterday, then re-plan from now (§5.3).

        `current_hour` (default: the clock's period) is the index of the hour today to plan
        from; periods before it that have no event are reconstructed, recorded ones are kept
        as they are.
        """
        async with self._lock, self._errors_recorded():
            now = self._clock.now()
            day = now.astimezone(self._tz).date()
            if current_hour is None:
                current = period_start(now, self._tz, self._period_minutes)
            else:
                hours = day_hour_starts(day, self._tz)
                if not 0 <= current_hour < len(hours):
                    raise ValueError(f"{day} has no hour {current_hour}")
                current = hours[current_hour]

            # Today's periods before now, and yesterday's (a restart at 00:30 must not lose
            # 22:00 and 23:00).
            await self._record_periods(now, self._periods_since_yesterday(current), live=False)

            soc = await self._energy.get_battery_soc()
            result = await self._plan_from("restart", now, current, soc_percent=soc)
            await self._apply(result, now)
            return result

    # ---------------------------------------------------------------------------- helpers

    async def _plan_from(
        self, scenario: Scenario, now: datetime, first: datetime, *, soc_percent: float
    ) -> OptimizationResult:
        """Plan from the period starting at `first` to the end of its day (or the next)."""
        day = first.astimezone(self._tz).date()
        starts = [
            start
            for start in day_period_starts(day, self._tz, self._period_minutes)
            if start.astimezone(UTC) >= first.astimezone(UTC)
        ]
        starts, prices = await self._horizon(starts, day)
        _, first_hour = hour_index(first, self._tz)
        return await self._plan(
            scenario,
            now,
            starts=starts,
            first_hour=first_hour,
            prices=prices,
            soc_percent=soc_percent,
        )

    def _periods_since_yesterday(self, until: datetime) -> list[datetime]:
        """Return the period starts from the start of yesterday up to (not including) `until`."""
        today = self._clock.now().astimezone(self._tz).date()
        end = until.astimezone(UTC)
        return [
            start
            for day in (today - timedelta(days=1), today)
            for start in day_period_starts(day, self._tz, self._period_minutes)
            if start.astimezone(UTC) < end
        ]

    async def _record_periods(
        self, now: datetime, starts: Sequence[datetime], *, live: bool
    ) -> None:
        """Measure (live) or reconstruct the unrecorded periods among `starts`, record, save.

        A period already covered by what is recorded (an hour recorded whole before bess
        planned in quarters, say) is not measured again.
        """
        length = timedelta(minutes=self._period_minutes)
        # Keyed by UTC start: the two 02:00 hours of the autumn day are equal as local times.
        # In UTC: a local time plus a timedelta is wall-clock arithmetic, which drops the
        # fold of the autumn day's second 02:00 hour.
        spans = [(start, start.astimezone(UTC), start.astimezone(UTC) + length) for start in starts]
        wanted = {
            begin: start
            for start, begin, end in spans
            if not self.history.events_between(begin, end)
            and not self.history.is_recorded(begin, end)
        }
        if not wanted:
            return
        measurements: dict[datetime, HourMeasurement] = {}
        if live:
            for key, start in wanted.items():
                measured = await self._energy.measure_period(start)
                if measured is not None:
                    measurements[key] = measured
        else:
            rebuilt = await self._energy.reconstruct_periods(list(wanted.values()))
            measurements = {
                moment.astimezone(UTC): measured
                for moment, measured in rebuilt.items()
                if moment.astimezone(UTC) in wanted
            }
        lost = [start for key, start in wanted.items() if key not in measurements]
        if lost:
            # A live period that cannot be measured is worth a warning; periods before the
            # install (or a long outage) that the recorder does not know are expected.
            _LOGGER.log(
                logging.WARNING if live else logging.DEBUG,
                "%s period(s) from %s cannot be measured; they stay missing",
                len(lost),
                lost[0].isoformat(),
            )
        if not measurements:
            return
        prices = await self._hour_prices([wanted[key] for key in sorted(measurements)])
        changed = False
        for key in sorted(measurements):
            start = wanted[key]
            price = prices.get(key)
            if price is None:
                _LOGGER.log(
                    logging.WARNING if live else logging.DEBUG,
                    "No price known for the period starting %s; it stays missing",
                    start,
                )
                continue
            try:
                event = self._event(now, start, measurements[key], price)
            except ValueError as err:
                # Never recorded: a fact holds finite numbers only (a nan reading, say).
                _LOGGER.warning("The period starting %s stays missing: %s", start, err)
                continue
            try:
                changed |= self.history.record_event(event)
            except (HistoryConflictError, DayCompactedError) as err:
                # The first record of a period stands; a differing second one is reported,
                # and the scenario goes on.
                _LOGGER.warning("%s; keeping the recorded data", err)
        if changed:
            self._save_soon()

    def _event(
        self, now: datetime, start: datetime, measured: HourMeasurement, price: tuple[float, float]
    ) -> HourlyEvent:
        """Return the event of one measured period at `price` (buy, sell)."""
        _, index = hour_index(start, self._tz)
        return HourlyEvent(
            hour=index,
            timestamp=now,
            battery_soc_start=measured.battery_soc_start,
            battery_soc_end=measured.battery_soc_end,
            solar_generated=measured.solar_generated,
            home_consumed=measured.home_consumed,
            grid_imported=measured.grid_imported,
            grid_exported=measured.grid_exported,
            battery_charged=measured.battery_charged,
            battery_discharged=measured.battery_discharged,
            start=start,
            buy_price=price[0],
            sell_price=price[1],
            cycle_cost_per_kwh=self._battery.cycle_cost_per_kwh,
            export_limit_kw=self._battery.export_limit_kw,
            period_minutes=self._period_minutes,
            curtailment=self._battery.curtailment,
        )

    async def _hour_prices(self, starts: list[datetime]) -> dict[datetime, tuple[float, float]]:
        """Return (buy, sell) per past hour by UTC start: from the price source, else the plan."""
        found: dict[datetime, tuple[float, float]] = {}
        series = await self._energy.get_prices(starts)
        if series is not None and len(series.buy) == len(series.sell) == len(starts):
            found = {
                start.astimezone(UTC): (series.buy[i], series.sell[i])
                for i, start in enumerate(starts)
            }
        for start in starts:
            if start.astimezone(UTC) in found:
                continue
            schedule = self.schedules.get_schedule_at_time(start)
            if schedule is None:
                continue
            result = schedule.result
            index = result.index_at(start)
            if index is not None:
                period = result.periods[index]
                found[start.astimezone(UTC)] = (period.buy_price, period.sell_price)
        return found

    async def _horizon(
        self, starts: list[datetime], day: date
    ) -> tuple[list[datetime], PriceSeries]:
        """Return the periods to plan from `starts` (the rest of `day`) and their prices.

        The horizon runs to the end of the next day once its prices are published (and
        `plan_through_tomorrow` is on), else to the end of `day`.
        """
        if self._plan_through_tomorrow:
            through = starts + day_period_starts(
                day + timedelta(days=1), self._tz, self._period_minutes
            )
            try:
                series = await self._energy.get_prices(through)
            except DataUnavailableError:
                series = None  # today's prices alone decide below, or say what is missing
            if series is not None and len(series.buy) == len(series.sell) == len(through):
                return through, series
        return starts, await self._prices_or_planned(starts, day)

    async def _prices_or_planned(self, starts: Sequence[datetime], day: date) -> PriceSeries:
        """Return prices for `starts`; fall back to the day's stored plan, never to made-up ones."""
        series = await self._energy.get_prices(starts)
        if series is not None:
            return series
        schedule = self.schedules.get_latest_schedule(day)
        if schedule is not None:
            result = schedule.result
            indexes = [result.index_at(start) for start in starts]
            if all(i is not None for i in indexes):
                periods = [result.periods[i] for i in indexes if i is not None]
                return PriceSeries(
                    buy=tuple(p.buy_price for p in periods),
                    sell=tuple(p.sell_price for p in periods),
                )
        raise DataUnavailableError("prices", f"no prices for the rest of {day.isoformat()}")

    @contextlib.asynccontextmanager
    async def _errors_recorded(self) -> AsyncIterator[None]:
        """Keep missing data as the last error (the controller's are kept by `_apply`)."""
        try:
            yield
        except DataUnavailableError as err:
            self._last_error = str(err)
            raise

    async def _plan(
        self,
        scenario: Scenario,
        now: datetime,
        *,
        starts: Sequence[datetime],
        first_hour: int,
        prices: PriceSeries,
        soc_percent: float,
    ) -> OptimizationResult:
        """Optimize the hours `starts` from `soc_percent`, store the result and save."""
        solar = await self._energy.get_solar_forecast(starts)
        load = await self._energy.get_consumption_forecast(starts)
        for name, series in (
            ("buy prices", prices.buy),
            ("sell prices", prices.sell),
            ("solar forecast", solar),
            ("consumption forecast", load),
        ):
            if len(series) != len(starts):
                raise DataUnavailableError(name, f"{len(series)} values for {len(starts)} periods")
            for start, value in zip(starts, series, strict=True):
                if not math.isfinite(value):
                    raise DataUnavailableError(
                        name, f"the value for {start.isoformat()} is {value}, not a number"
                    )
        if not is_soc(soc_percent):
            # Never planned with, nor clipped into range: a broken reading is not a SOC.
            raise DataUnavailableError("battery SOC", f"{soc_percent} is not from 0 to 100 %")
        battery = self._battery
        # The plan starts from the real SOC, even outside the configured window (below the
        # minimum after a deep discharge): the optimizer then only charges or idles until
        # the battery is back inside it.
        initial = soc_percent
        inputs = OptimizationInput(
            start=starts[0],
            period_minutes=self._period_minutes,
            buy=tuple(float(v) for v in prices.buy),
            sell=tuple(float(v) for v in prices.sell),
            load=tuple(float(v) for v in load),
            solar=tuple(float(v) for v in solar),
            battery=battery,
            initial_soc_percent=initial,
            terminal_value_per_kwh=self._terminal_value(prices, battery),
        )
        tariff = self._capacity_tariff
        if tariff is None:
            result = await self._executor.run(functools.partial(self._optimize, inputs))
        else:
            # This month's peaks so far: the plan's month is that of its first period. With
            # peaks on distinct days each day has one (today's is its floor); otherwise only
            # the N highest can ever be among the month's N highest (and every one is a kink
            # of the fee the search would visit).
            peaks = self.month_peaks(starts[0].astimezone(self._tz).date())
            if not tariff.distinct_days:
                peaks = peaks[: tariff.peaks]
            result, outlook = await self._executor.run(
                functools.partial(_plan_under_capacity, inputs, tariff, peaks, self._tz, now)
            )
            self._capacity_outlooks = [
                *(o for o in self._capacity_outlooks if o.end > now.astimezone(UTC)),
                outlook,
            ]

        self.schedules.store_schedule(
            StoredSchedule(
                timestamp=now,
                optimization_hour=first_hour,
                algorithm_result=result.to_dict(),
                created_for_scenario=scenario,
            )
        )
        self._latest_result = result
        self._latest_scenario = scenario
        self._last_optimization_time = now
        self._last_error = None
        self._save_soon()
        return result

    def _terminal_value(self, prices: PriceSeries, battery: BatterySettings) -> float:
        """Return what a kWh left at the horizon's end is worth: the user's, else derived."""
        if self._terminal_value_per_kwh is not None:
            return self._terminal_value_per_kwh
        return default_terminal_value(prices.buy, prices.sell, battery)

    async def _apply(self, result: OptimizationResult, now: datetime) -> None:
        """Apply the stored plan; record a controller failure and re-raise it."""
        try:
            await self._controller.apply(result, now)
        except Exception as err:
            self._last_error = f"controller: {err!r}"
            raise
