"""DailyViewBuilder (design §3.4, §6): every hour of one local day, actual then predicted.

The day is built from its periods (an hour, or a quarter of one when bess plans at 15
minutes). Periods before the one in progress come from the HistoricalDataStore (measured
flows, that period's prices); the others from the latest schedule that covers them. An hour
is the sum of its periods: `actual` when all of them were measured, `partial` when only some
were (the figures are theirs alone), `missing` when none was, `predicted` from the hour in
progress on. Nothing is invented: a period with no record and no covering plan adds nothing.
Money is recalculated per period with the one cost model (`cost.py`); the totals are sums.

A day older than the detailed history kept is compacted: its view has every hour `missing`
(no hourly figures remain), `compacted` set, and the totals and `actual_hours` of its
`DailyTotal`, which are the totals its view showed before it was compacted.

With a capacity tariff (capacity.py) the view carries the day's capacity fee as its own line,
never mixed into the energy totals: `capacity_fee` = fee(the month's peaks through the day) −
fee(the month's peaks before it), where the peaks are those recorded (`month_peaks` of the
events) and, from the period in progress on, those of the latest plan; and the same for the
no-battery baseline, whose import is the load − solar of each period
(`capacity_fee_baseline`). A finished day's fee is `actual`, today's and later ones'
`planned`. A day's share depends on the order of the days (a peak above the month's earlier
ones is charged to the day it happens on), and the days' shares sum to the month's fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
import math
from typing import Any, Literal

from .capacity import CapacityTariff, Peak, fee, month_peaks
from .cost import baseline_cost, grid_only_cost, period_cost
from .history import HistoricalDataStore
from .models import (
    BatterySettings,
    DailyTotal,
    DailyView,
    HourlyData,
    HourlyEvent,
    HourSource,
    Intent,
    OptimizationResult,
    PeriodPlan,
)
from .optimizer import classify_intent
from .ports import Clock
from .schedules import ScheduleStore
from .timeutil import day_hour_starts, hour_index, period_start


@dataclass(frozen=True, slots=True)
class _Metered:
    """A period's grid import as `month_peaks` reads it (a planned or a baseline one)."""

    start: datetime
    period_minutes: int
    grid_imported: float


def _baseline_import(event: HourlyEvent) -> _Metered:
    """Return what the home would have imported in `event`'s period without a battery."""
    return _Metered(
        start=event.start,
        period_minutes=event.period_minutes,
        grid_imported=max(event.home_consumed - event.solar_generated, 0.0),
    )


class DailyViewBuilder:
    """Combine the history and the schedules into a `DailyView`."""

    def __init__(
        self,
        history: HistoricalDataStore,
        schedules: ScheduleStore,
        clock: Clock,
        tz: tzinfo,
        battery: BatterySettings,
    ) -> None:
        """Read from these stores; actual hours are priced for `battery` (wear, export cap)."""
        # Each recorded day's counted peaks (as run, and without a battery), kept while the
        # day's events are as many as they were: (event count, peaks).
        self._day_peaks: dict[tuple[date, bool], tuple[int, list[Peak]]] = {}
        self._history = history
        self.schedules = schedules
        self.battery = battery
        self._clock = clock
        self._tz = tz
        # The period in progress is predicted, the ones before it actual.
        self.period_minutes = 60
        self._capacity_tariff: CapacityTariff | None = None

    @property
    def history(self) -> HistoricalDataStore:
        """Return the history the views read."""
        return self._history

    @history.setter
    def history(self, history: HistoricalDataStore) -> None:
        """Read `history` from now on (a store loaded anew: its peaks are counted again)."""
        self._history = history
        self._day_peaks.clear()

    @property
    def capacity_tariff(self) -> CapacityTariff | None:
        """Return the capacity tariff the views report the fee of (None: no fee line)."""
        return self._capacity_tariff

    @capacity_tariff.setter
    def capacity_tariff(self, tariff: CapacityTariff | None) -> None:
        """Report the fee of `tariff` from now on (its peaks are counted again)."""
        self._capacity_tariff = tariff
        self._day_peaks.clear()

    def recorded_peaks(self, day: date, *, baseline: bool = False) -> list[Peak]:
        """Return `day`'s counted peaks from its recorded events, highest first.

        `baseline`: those of the same home without a battery (import = load − solar). Empty
        without a capacity tariff. Kept until the day's events change.
        """
        tariff = self._capacity_tariff
        if tariff is None:
            return []
        events = self.history.get_day_events(day)
        key = (day, baseline)
        kept = self._day_peaks.get(key)
        # Events are only ever added (or a day compacted away): the count tells a change.
        if kept is not None and kept[0] == len(events):
            return kept[1]
        metered = [_baseline_import(e) for e in events] if baseline else events
        peaks = month_peaks(metered, tariff, self._tz, day)
        self._day_peaks[key] = (len(events), peaks)
        return peaks

    def month_recorded_peaks(self, day: date, *, baseline: bool = False) -> list[Peak]:
        """Return the counted peaks recorded in `day`'s month up to and including `day`.

        Highest first; the basis of the month's capacity fee so far (capacity.py `fee`).
        """
        peaks: list[Peak] = []
        moment = day.replace(day=1)
        while moment <= day:
            peaks += self.recorded_peaks(moment, baseline=baseline)
            moment += timedelta(days=1)
        peaks.sort(key=lambda p: (-p.kw, p.start))
        return peaks

    def default_current_hour(self, day: date) -> int:
        """Return the hour in progress for today, n for a past day and 0 for a future one."""
        today, index = hour_index(self._clock.now(), self._tz)
        if day == today:
            return index
        return len(day_hour_starts(day, self._tz)) if day < today else 0

    def build_daily_view(
        self, current_hour: int | None = None, day: date | None = None, *, capacity: bool = True
    ) -> DailyView:
        """Return the view of `day` (default today).

        Periods before the one in progress are actual (with `current_hour`, those before that
        hour); the others predicted. `capacity=False` leaves out the capacity fee's line.
        """
        if day is None:
            day = self._clock.now().astimezone(self._tz).date()
        starts = day_hour_starts(day, self._tz)
        if current_hour is None:
            cut = self._cut(day, starts)
        elif 0 <= current_hour <= len(starts):
            cut = starts[current_hour] if current_hour < len(starts) else _day_end(starts)
        else:
            raise ValueError(f"current_hour {current_hour} outside 0…{len(starts)} for {day}")
        total = self.history.get_daily_total(day)
        if total is not None:
            return _compacted_view(day, starts, total)

        cut_utc = cut.astimezone(UTC)
        hours: list[HourlyData] = []
        periods: list[HourlyData] = []
        grid_only = 0.0
        # A stored plan is parsed once per view, not once per period it covers.
        parsed: dict[int, OptimizationResult] = {}
        ends = [*starts[1:], _day_end(starts)]
        for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
            parts: list[HourlyData] = []
            measured_minutes = 0
            for event in self.history.events_between(start, min(end, cut, key=_utc)):
                parts.append(self._actual_period(event, index))
                measured_minutes += event.period_minutes
                grid_only += grid_only_cost(event.buy_price, event.home_consumed)
            planned_from = max(start, cut, key=_utc)
            planned: list[HourlyData] = []
            if _utc(planned_from) < _utc(end):
                found = self._planned_periods(planned_from, end, index, parsed)
                if found is not None:
                    planned, planned_grid_only = found
                    grid_only += planned_grid_only
            periods += self._with_gaps(index, start, end, parts + planned)
            hours.append(
                _hour(
                    index,
                    start,
                    parts + planned,
                    _source(start, end, cut_utc, measured_minutes, planned),
                )
            )

        def total_of(*sources: HourSource) -> float:
            return sum(h.savings or 0.0 for h in hours if h.source in sources)

        def count(source: HourSource) -> int:
            return sum(1 for h in hours if h.source == source)

        fees = self._capacity_fees(day, periods) if capacity else None
        return DailyView(
            date=day.isoformat(),
            hourly_data=tuple(hours),
            total_savings=sum(h.savings or 0.0 for h in hours),
            actual_savings=total_of("actual", "partial"),
            predicted_savings=total_of("predicted"),
            total_cost=sum(h.cost or 0.0 for h in hours),
            total_baseline_cost=sum(h.baseline_cost or 0.0 for h in hours),
            total_grid_only_cost=grid_only,
            actual_hours=count("actual"),
            predicted_hours=count("predicted"),
            missing_hours=count("missing"),
            data_sources=tuple(h.source for h in hours),
            periods=tuple(periods),
            partial_hours=count("partial"),
            **(fees or {}),
        )

    def _capacity_fees(self, day: date, periods: Sequence[HourlyData]) -> dict[str, Any] | None:
        """Return the day's capacity fee line (module docstring), or None without a tariff.

        The days of the month before `day` count with what is recorded of them, and from the
        period in progress on (a day after today: tomorrow) with what is planned.
        """
        tariff = self._capacity_tariff
        if tariff is None:
            return None
        today = self._clock.now().astimezone(self._tz).date()
        before: list[Peak] = []
        before_baseline: list[Peak] = []
        moment = day.replace(day=1)
        while moment < day:
            if moment < today:
                before += self.recorded_peaks(moment)
                before_baseline += self.recorded_peaks(moment, baseline=True)
            else:  # today, before a later day: recorded, then planned
                earlier = self.build_daily_view(day=moment, capacity=False).periods
                before += self._planned_peaks(moment, earlier, baseline=False)
                before_baseline += self._planned_peaks(moment, earlier, baseline=True)
            moment += timedelta(days=1)
        this_day = self._planned_peaks(day, periods, baseline=False)
        this_baseline = self._planned_peaks(day, periods, baseline=True)
        source: Literal["actual", "planned"] = "actual" if day < today else "planned"
        return {
            "capacity_fee": fee([*before, *this_day], tariff) - fee(before, tariff),
            "capacity_fee_baseline": fee([*before_baseline, *this_baseline], tariff)
            - fee(before_baseline, tariff),
            "capacity_fee_source": source,
        }

    def _planned_peaks(
        self, day: date, periods: Sequence[HourlyData], *, baseline: bool
    ) -> list[Peak]:
        """Return the counted peaks of a day's view periods (measured and planned alike)."""
        tariff = self._capacity_tariff
        if tariff is None:
            return []
        metered = [
            _Metered(
                start=period.start,
                period_minutes=period.minutes,
                grid_imported=max((period.load_kwh or 0.0) - (period.solar_kwh or 0.0), 0.0)
                if baseline
                else period.grid_import_kwh or 0.0,
            )
            for period in periods
            if period.source != "missing"
        ]
        return month_peaks(metered, tariff, self._tz, day)

    def _with_gaps(
        self, hour: int, start: datetime, end: datetime, known: list[HourlyData]
    ) -> list[HourlyData]:
        """Return the hour's periods in order, a `missing` one on the grid for each gap."""
        step = timedelta(minutes=self.period_minutes)
        result: list[HourlyData] = []
        moment = _utc(start)

        def fill(until: datetime) -> None:
            nonlocal moment
            while moment < until:
                length = min(step, until - moment)
                result.append(
                    HourlyData(
                        hour=hour,
                        start=moment.astimezone(self._tz),
                        source="missing",
                        minutes=round(length.total_seconds() / 60),
                    )
                )
                moment += length

        for period in known:
            fill(_utc(period.start))
            result.append(period)
            moment = _utc(period.start) + timedelta(minutes=period.minutes)
        fill(_utc(end))
        return result

    def _cut(self, day: date, starts: Sequence[datetime]) -> datetime:
        """Return where the actual part of `day` ends: the start of the period in progress."""
        now = self._clock.now()
        today = now.astimezone(self._tz).date()
        if day < today:
            return _day_end(starts)
        if day > today:
            return starts[0]
        return period_start(now, self._tz, self.period_minutes)

    def _planned_periods(
        self,
        start: datetime,
        end: datetime,
        hour: int,
        parsed: dict[int, OptimizationResult],
    ) -> tuple[list[HourlyData], float] | None:
        """Return the planned periods that tile [start, end) and their grid-only cost, or None.

        The latest plan covering each moment is used; a stretch no plan covers in whole is
        not predicted.
        """
        found: list[HourlyData] = []
        grid_only = 0.0
        moment = start.astimezone(UTC)
        finish = end.astimezone(UTC)
        while moment < finish:
            schedule = self.schedules.get_latest_covering(moment)
            if schedule is None:
                return None
            if id(schedule) not in parsed:
                parsed[id(schedule)] = schedule.result
            result = parsed[id(schedule)]
            position = result.index_at(moment)
            if position is None or result.period_start(position).astimezone(UTC) != moment:
                return None  # a plan on another grid: not predicted rather than split
            period = result.periods[position]
            begins = result.period_start(position).astimezone(self._tz)
            found.append(_planned_period(period, begins, hour, result.period_minutes))
            grid_only += grid_only_cost(period.buy_price, period.load_kwh)
            moment += timedelta(minutes=result.period_minutes)
        if moment != finish:
            return None
        return found, grid_only

    def daily_total(self, day: date) -> DailyTotal | None:
        """Return `day`'s recorded hours folded into totals, as its view shows them.

        None when the day has no recorded hour or is compacted already. The money is the
        view's own totals for the whole past day, so compacting changes no figure a report
        of the day shows.
        """
        view = self.build_daily_view(
            current_hour=len(day_hour_starts(day, self._tz)), day=day, capacity=False
        )
        actual = [h for h in view.hourly_data if h.source in ("actual", "partial")]
        if view.compacted or not actual:
            return None

        def energy(values: list[float | None]) -> float:
            return sum(value or 0.0 for value in values)

        return DailyTotal(
            day=day,
            hours=len(actual),
            solar_kwh=energy([h.solar_kwh for h in actual]),
            load_kwh=energy([h.load_kwh for h in actual]),
            grid_import_kwh=energy([h.grid_import_kwh for h in actual]),
            grid_export_kwh=energy([h.grid_export_kwh for h in actual]),
            battery_charge_kwh=energy([h.battery_charge_kwh for h in actual]),
            battery_discharge_kwh=energy([h.battery_discharge_kwh for h in actual]),
            cost=view.total_cost,
            baseline_cost=view.total_baseline_cost,
            savings=view.total_savings,
            grid_only_cost=view.total_grid_only_cost,
        )

    def event_savings(self, event: HourlyEvent) -> float:
        """Return the realized savings of a recorded period (`baseline − cost`, its own terms)."""
        savings = self._actual_period(event, 0).savings
        return 0.0 if savings is None else savings

    def _actual_period(self, event: HourlyEvent, hour: int) -> HourlyData:
        """Return a period as measured, priced with the one cost model and its own terms."""
        cycle_cost, export_cap, curtailment = event_terms(event, self.battery)
        cost = period_cost(
            event.buy_price,
            event.sell_price,
            event.grid_imported,
            event.grid_exported,
            event.battery_charged,
            cycle_cost=cycle_cost,
        )
        base = baseline_cost(
            event.buy_price,
            event.sell_price,
            event.home_consumed,
            event.solar_generated,
            export_cap=export_cap,
            curtailment=curtailment,
        )
        return HourlyData(
            hour=hour,
            start=event.start.astimezone(self._tz),
            source="actual",
            solar_kwh=event.solar_generated,
            load_kwh=event.home_consumed,
            grid_import_kwh=event.grid_imported,
            grid_export_kwh=event.grid_exported,
            battery_charge_kwh=event.battery_charged,
            battery_discharge_kwh=event.battery_discharged,
            battery_action_kw=(event.battery_charged - event.battery_discharged)
            / (event.period_minutes / 60.0),
            soc_start_percent=event.battery_soc_start,
            soc_end_percent=event.battery_soc_end,
            buy_price=event.buy_price,
            sell_price=event.sell_price,
            cost=cost,
            baseline_cost=base,
            savings=base - cost,
            intent=classify_intent(
                event.battery_charged,
                event.battery_discharged,
                event.home_consumed,
                event.solar_generated,
            ),
            minutes=event.period_minutes,
        )


def event_terms(event: HourlyEvent, battery: BatterySettings) -> tuple[float, float, bool]:
    """Return the cycle cost, export cap (kWh over the period) and curtailment of a fact.

    They are those in force when the period was recorded (a later change of the options
    does not re-price the past); events recorded before the terms were kept get `battery`'s.
    """
    if event.cycle_cost_per_kwh is None:  # recorded before the terms were kept
        cycle_cost, limit = battery.cycle_cost_per_kwh, battery.export_limit_kw
        curtailment = battery.curtailment
    else:
        cycle_cost, limit = event.cycle_cost_per_kwh, event.export_limit_kw
        curtailment = event.curtailment
    export_cap = math.inf if limit is None else limit * event.period_minutes / 60.0
    return cycle_cost, export_cap, curtailment


def _utc(moment: datetime) -> datetime:
    """Return `moment` in UTC (local times of one zone compare by wall clock)."""
    return moment.astimezone(UTC)


def _day_end(starts: Sequence[datetime]) -> datetime:
    """Return the end of the day whose hour starts are `starts`."""
    return (starts[-1].astimezone(UTC) + timedelta(hours=1)).astimezone(starts[-1].tzinfo)


def _source(
    start: datetime, end: datetime, cut: datetime, measured_minutes: int, planned: list[HourlyData]
) -> HourSource:
    """Return what an hour is: measured all through, in part or not at all, or planned."""
    if _utc(end) > cut:
        # The hour in progress, or one to come: planned (what is measured of it counts too).
        return "predicted" if planned else "missing"
    full = round((_utc(end) - _utc(start)).total_seconds() / 60)
    if measured_minutes >= full:
        return "actual"
    return "partial" if measured_minutes else "missing"


def _planned_period(period: PeriodPlan, start: datetime, hour: int, minutes: int) -> HourlyData:
    """Return one planned period as the view shows it."""
    return HourlyData(
        hour=hour,
        start=start,
        source="predicted",
        solar_kwh=period.solar_kwh,
        load_kwh=period.load_kwh,
        grid_import_kwh=period.grid_import_kwh,
        grid_export_kwh=period.grid_export_kwh,
        battery_charge_kwh=period.charge_kwh,
        battery_discharge_kwh=period.discharge_kwh,
        battery_action_kw=period.battery_action_kw,
        soc_start_percent=period.soc_start_percent,
        soc_end_percent=period.soc_end_percent,
        buy_price=period.buy_price,
        sell_price=period.sell_price,
        cost=period.cost,
        baseline_cost=period.baseline_cost,
        savings=period.savings,
        intent=period.intent,
        minutes=minutes,
    )


def _hour(index: int, start: datetime, parts: list[HourlyData], source: HourSource) -> HourlyData:
    """Return an hour as the sum of its periods (prices weighted by time); empty when missing."""
    if source == "missing" or not parts:
        return HourlyData(hour=index, start=start, source="missing")
    if len(parts) == 1 and parts[0].minutes == 60:
        part = parts[0]
        return HourlyData(**{**{f: getattr(part, f) for f in _FIELDS}, "source": source})

    def add(name: str) -> float:
        return float(sum(getattr(p, name) or 0.0 for p in parts))

    minutes = sum(p.minutes for p in parts)
    charge, discharge = add("battery_charge_kwh"), add("battery_discharge_kwh")
    load, solar = add("load_kwh"), add("solar_kwh")

    def mean_price(name: str) -> float:
        return sum((getattr(p, name) or 0.0) * p.minutes for p in parts) / minutes

    return HourlyData(
        hour=index,
        start=start,
        source=source,
        solar_kwh=solar,
        load_kwh=load,
        grid_import_kwh=add("grid_import_kwh"),
        grid_export_kwh=add("grid_export_kwh"),
        battery_charge_kwh=charge,
        battery_discharge_kwh=discharge,
        battery_action_kw=(charge - discharge) / (minutes / 60.0),
        soc_start_percent=parts[0].soc_start_percent,
        soc_end_percent=parts[-1].soc_end_percent,
        buy_price=mean_price("buy_price"),
        sell_price=mean_price("sell_price"),
        cost=add("cost"),
        baseline_cost=add("baseline_cost"),
        savings=add("savings"),
        intent=classify_intent(charge, discharge, load, solar),
        minutes=minutes,
    )


_FIELDS = tuple(HourlyData.__dataclass_fields__)


def _compacted_view(day: date, starts: list[datetime], total: DailyTotal) -> DailyView:
    """Return the view of a compacted day: no hourly figures, the totals of its DailyTotal."""
    hours = tuple(
        HourlyData(hour=index, start=start, source="missing") for index, start in enumerate(starts)
    )
    return DailyView(
        date=day.isoformat(),
        hourly_data=hours,
        total_savings=total.savings,
        actual_savings=total.savings,
        predicted_savings=0.0,
        total_cost=total.cost,
        total_baseline_cost=total.baseline_cost,
        total_grid_only_cost=total.grid_only_cost,
        actual_hours=total.hours,
        predicted_hours=0,
        missing_hours=max(len(starts) - total.hours, 0),
        data_sources=tuple(h.source for h in hours),
        compacted=True,
    )


_SUMMED = (
    "charge_kwh",
    "discharge_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "load_kwh",
    "solar_kwh",
    "cost",
    "baseline_cost",
    "savings",
    "curtailed_kwh",
    "import_excess_kwh",
)


def plan_hours(result: OptimizationResult, tz: tzinfo) -> list[dict[str, Any]]:
    """Return a plan's local hours, each built from its periods (the tomorrow sensor's `hours`).

    Energies and money are summed; `battery_action_kw` and the prices are the hour's means
    (its periods are equally long); the SOC runs from the first period's start to the last
    one's end; `intent` is the one held longest (the earliest of equals). Hours are local
    clock hours counted in absolute time, so the doubled autumn hour is two hours, and in a
    zone off UTC by a half hour an hour is made of the periods that fall in it. An hour the
    plan covers only in part is built from the periods it has (`period_count` says how many).
    """
    groups: dict[datetime, list[PeriodPlan]] = {}
    for index, period in enumerate(result.periods):
        local = result.period_start(index).astimezone(tz)
        # The local hour's start: the same wall-clock hour (fold kept) minus the minutes.
        hour_start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        groups.setdefault(hour_start, []).append(period)
    hours: list[dict[str, Any]] = []
    for start, periods in groups.items():
        count = len(periods)
        held: dict[Intent, int] = {}
        for period in periods:
            held[period.intent] = held.get(period.intent, 0) + 1
        hour: dict[str, Any] = {
            "start": start.astimezone(tz).isoformat(),
            **{name: sum(getattr(p, name) for p in periods) for name in _SUMMED},
            "battery_action_kw": sum(p.battery_action_kw for p in periods) / count,
            "soc_start_percent": periods[0].soc_start_percent,
            "soc_end_percent": periods[-1].soc_end_percent,
            "buy_price": sum(p.buy_price for p in periods) / count,
            "sell_price": sum(p.sell_price for p in periods) / count,
            "intent": max(held, key=lambda intent: held[intent]).value,
            "period_count": count,
        }
        hours.append(hour)
    return hours
