"""DailyViewBuilder (design §3.4, §6): every hour of one local day, actual then predicted.

Hours before `current_hour` come from the HistoricalDataStore (measured flows, that hour's
prices); the others from the latest schedule of the day that covers them. An hour with no
record, or no covering plan, is `missing`: nothing is invented. Money is recalculated per hour
with the one cost model (`cost.py`), and the totals are sums over the hours that have data.

A day older than the detailed history kept is compacted: its view has every hour `missing`
(no hourly figures remain), `compacted` set, and the totals and `actual_hours` of its
`DailyTotal`, which are the totals its view showed before it was compacted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
import math

from .cost import baseline_cost, grid_only_cost, period_cost
from .history import HistoricalDataStore
from .models import (
    BatterySettings,
    DailyTotal,
    DailyView,
    HourlyData,
    HourlyEvent,
    OptimizationResult,
    PeriodPlan,
)
from .optimizer import classify_intent
from .ports import Clock
from .schedules import ScheduleStore
from .timeutil import day_hour_starts, hour_index


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
        self.history = history
        self.schedules = schedules
        self.battery = battery
        self._clock = clock
        self._tz = tz

    def default_current_hour(self, day: date) -> int:
        """Return the hour in progress for today, n for a past day and 0 for a future one."""
        today, index = hour_index(self._clock.now(), self._tz)
        if day == today:
            return index
        return len(day_hour_starts(day, self._tz)) if day < today else 0

    def build_daily_view(
        self, current_hour: int | None = None, day: date | None = None
    ) -> DailyView:
        """Return the view of `day` (default today) with hours before `current_hour` actual."""
        if day is None:
            day = self._clock.now().astimezone(self._tz).date()
        if current_hour is None:
            current_hour = self.default_current_hour(day)
        starts = day_hour_starts(day, self._tz)
        if not 0 <= current_hour <= len(starts):
            raise ValueError(f"current_hour {current_hour} outside 0…{len(starts)} for {day}")
        compacted = self.history.get_daily_total(day)
        if compacted is not None:
            return _compacted_view(day, starts, compacted)

        hours: list[HourlyData] = []
        grid_only = 0.0
        # A stored plan is parsed once per view, not once per hour it covers.
        parsed: dict[int, OptimizationResult] = {}
        for index, start in enumerate(starts):
            if index < current_hour:
                event = self.history.get_event_at(start)
                if event is None:
                    hours.append(HourlyData(hour=index, start=start, source="missing"))
                    continue
                hours.append(self._actual_hour(event, start))
                grid_only += grid_only_cost(event.buy_price, event.home_consumed)
                continue
            schedule = self.schedules.get_latest_covering(start)
            planned = None
            if schedule is not None:
                if id(schedule) not in parsed:
                    parsed[id(schedule)] = schedule.result
                planned = _predicted_hour(parsed[id(schedule)], index, start)
            if planned is None:
                hours.append(HourlyData(hour=index, start=start, source="missing"))
                continue
            data, hour_grid_only = planned
            hours.append(data)
            grid_only += hour_grid_only

        def total(source: str) -> float:
            return sum(h.savings or 0.0 for h in hours if h.source == source)

        return DailyView(
            date=day.isoformat(),
            hourly_data=tuple(hours),
            total_savings=sum(h.savings or 0.0 for h in hours),
            actual_savings=total("actual"),
            predicted_savings=total("predicted"),
            total_cost=sum(h.cost or 0.0 for h in hours),
            total_baseline_cost=sum(h.baseline_cost or 0.0 for h in hours),
            total_grid_only_cost=grid_only,
            actual_hours=sum(1 for h in hours if h.source == "actual"),
            predicted_hours=sum(1 for h in hours if h.source == "predicted"),
            missing_hours=sum(1 for h in hours if h.source == "missing"),
            data_sources=tuple(h.source for h in hours),
        )

    def daily_total(self, day: date) -> DailyTotal | None:
        """Return `day`'s recorded hours folded into totals, as its view shows them.

        None when the day has no recorded hour or is compacted already. The money is the
        view's own totals for the whole past day, so compacting changes no figure a report
        of the day shows.
        """
        view = self.build_daily_view(current_hour=len(day_hour_starts(day, self._tz)), day=day)
        actual = [h for h in view.hourly_data if h.source == "actual"]
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

    def _actual_hour(self, event: HourlyEvent, start: datetime) -> HourlyData:
        """Return an hour as measured, priced with the one cost model and its own terms.

        The cycle cost and export limit are those in force when the hour was recorded (a
        later change of the options does not re-price the past); older events without them
        are priced with today's.
        """
        if event.cycle_cost_per_kwh is None:  # recorded before the terms were kept
            cycle_cost, limit = self.battery.cycle_cost_per_kwh, self.battery.export_limit_kw
        else:
            cycle_cost, limit = event.cycle_cost_per_kwh, event.export_limit_kw
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
            export_cap=math.inf if limit is None else limit,  # kW over one hour
        )
        return HourlyData(
            hour=event.hour,
            start=start,
            source="actual",
            solar_kwh=event.solar_generated,
            load_kwh=event.home_consumed,
            grid_import_kwh=event.grid_imported,
            grid_export_kwh=event.grid_exported,
            battery_charge_kwh=event.battery_charged,
            battery_discharge_kwh=event.battery_discharged,
            battery_action_kw=event.battery_charged - event.battery_discharged,
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
        )


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


def _predicted_hour(
    result: OptimizationResult, index: int, start: datetime
) -> tuple[HourlyData, float] | None:
    """Return the plan's hour starting at `start` and its grid-only cost, or None if not covered.

    Plans with periods shorter than an hour are summed over the hour (prices averaged); an
    hour the plan covers only in part is not predicted.
    """
    first = result.index_at(start)
    if first is None or result.period_start(first).astimezone(UTC) != start.astimezone(UTC):
        return None
    if 60 % result.period_minutes != 0:
        return None
    count = 60 // result.period_minutes
    if first + count > len(result.periods):
        return None
    periods: tuple[PeriodPlan, ...] = result.periods[first : first + count]

    def add(values: list[float]) -> float:
        return float(sum(values))

    charge = add([p.charge_kwh for p in periods])
    discharge = add([p.discharge_kwh for p in periods])
    load = add([p.load_kwh for p in periods])
    solar = add([p.solar_kwh for p in periods])
    data = HourlyData(
        hour=index,
        start=start,
        source="predicted",
        solar_kwh=solar,
        load_kwh=load,
        grid_import_kwh=add([p.grid_import_kwh for p in periods]),
        grid_export_kwh=add([p.grid_export_kwh for p in periods]),
        battery_charge_kwh=charge,
        battery_discharge_kwh=discharge,
        battery_action_kw=charge - discharge,
        soc_start_percent=periods[0].soc_start_percent,
        soc_end_percent=periods[-1].soc_end_percent,
        buy_price=add([p.buy_price for p in periods]) / count,
        sell_price=add([p.sell_price for p in periods]) / count,
        cost=add([p.cost for p in periods]),
        baseline_cost=add([p.baseline_cost for p in periods]),
        savings=add([p.savings for p in periods]),
        intent=periods[0].intent if count == 1 else classify_intent(charge, discharge, load, solar),
    )
    hour_grid_only = add([grid_only_cost(p.buy_price, p.load_kwh) for p in periods])
    return data, hour_grid_only
