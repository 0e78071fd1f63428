"""The capacity tariff in the manager (every plan under the cap) and in the daily view (its fee)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import functools

import numpy as np
import pytest

from custom_components.bess.engine.capacity import (
    PRESETS,
    CapacityTariff,
    fee,
    month_peaks,
    plan_with_capacity,
)
from custom_components.bess.engine.daily_view import DailyViewBuilder
from custom_components.bess.engine.history import HistoricalDataStore
from custom_components.bess.engine.manager import SimpleBatterySystemManager
from custom_components.bess.engine.models import (
    HourlyEvent,
    OptimizationInput,
    OptimizationResult,
    StoredSchedule,
)
from custom_components.bess.engine.optimizer import build_result, optimize_battery_schedule
from custom_components.bess.engine.schedules import ScheduleStore
from custom_components.bess.engine.timeutil import day_hour_starts, hour_index

from .fakes import BATTERY, STOCKHOLM, FakeClock, ImmediateExecutor, local
from .test_manager import World

ELLEVIO = PRESETS["ellevio"]  # 3 peaks on 3 days, night hours (22–06) at half, 80 per kW
WINTER_DAY = date(2026, 11, 24)  # a Tuesday
ONE_DAY = timedelta(days=1)


def recorded(start: datetime, grid_import: float, *, load: float | None = None) -> HourlyEvent:
    """Return a recorded hour importing `grid_import` kWh (load = import unless given)."""
    _, index = hour_index(start, STOCKHOLM)
    home = grid_import if load is None else load
    return HourlyEvent(
        hour=index,
        timestamp=start + timedelta(hours=1),
        battery_soc_start=50.0,
        battery_soc_end=50.0,
        solar_generated=0.0,
        home_consumed=home,
        grid_imported=grid_import,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=max(home - grid_import, 0.0),
        start=start,
        buy_price=1.0,
        sell_price=0.5,
    )


class RecordingExecutor(ImmediateExecutor):
    """Runs the work inline, and keeps the inputs of every plan made under a tariff."""

    def __init__(self) -> None:
        super().__init__()
        self.planned: list[OptimizationInput] = []

    async def run[T](self, func: Callable[[], T]) -> T:
        if isinstance(func, functools.partial) and isinstance(
            func.args[0] if func.args else None, OptimizationInput
        ):
            self.planned.append(func.args[0])
        return await super().run(func)


@dataclass
class CapacityWorld(World):
    """The manager's world, every manager planning under `tariff`."""

    tariff: CapacityTariff | None = ELLEVIO
    executor: RecordingExecutor = field(default_factory=RecordingExecutor)

    def new_manager(self) -> SimpleBatterySystemManager:
        """Return a manager as the coordinator builds it: the tariff in its constructor."""
        manager = super().new_manager()
        manager.capacity_tariff = self.tariff
        return manager


def record_month(world: World, days: dict[date, float]) -> None:
    """Record each day's hours at 0.5 kWh, and one hour at 18:00 of `days[day]` kWh."""
    for day, peak in days.items():
        for start in day_hour_starts(day, STOCKHOLM):
            world.manager.history.record_event(recorded(start, peak if start.hour == 18 else 0.5))


# ------------------------------------------------------------------------------ planning


async def test_without_a_tariff_every_plan_is_one_optimizer_run() -> None:
    world = World(WINTER_DAY)
    await world.manager.create_tomorrows_schedule()
    for hour in range(3):
        await world.live_hour(hour)

    stored = world.manager.schedules.get_all_schedules_today(WINTER_DAY)
    assert len(world.inputs) == len(stored) == 4
    assert all(inputs.import_cap_kwh is None for inputs in world.inputs)
    assert world.manager.capacity_outlook() is None
    assert world.manager.import_cap_kw(local(WINTER_DAY, 3)) is None
    assert "capacity_fee" not in world.manager.build_daily_view().to_dict()


async def test_every_plan_of_the_day_is_made_under_the_cap() -> None:
    world = CapacityWorld(WINTER_DAY)
    record_month(world, {date(2026, 11, d): 1.2 for d in (2, 3, 4)})

    def holds_its_cap(result: OptimizationResult | None) -> None:
        """The newest outlook is this plan's, and every counted period keeps to its cap."""
        assert result is not None
        outlook = world.manager.capacity_outlook(result.start)
        assert outlook is not None
        assert outlook.start == result.start
        assert outlook.cap_kw is not None
        for index, period in enumerate(result.periods):
            assert outlook.weights[index] * period.grid_import_kwh <= outlook.cap_kw + 1e-9
        assert result.solve_seconds > 0.0

    holds_its_cap(await world.manager.create_tomorrows_schedule())
    for hour in range(3):
        holds_its_cap(await world.live_hour(hour))
    holds_its_cap(await world.restart(local(WINTER_DAY, 3, 20)))

    # Planned under the tariff: the injected optimizer never ran.
    assert world.inputs == []
    assert len(world.executor.planned) == 5
    # The plan in force now is the restart's; it holds import at cap / weight.
    outlook = world.manager.capacity_outlook(local(WINTER_DAY, 3, 30))
    assert outlook is not None
    assert outlook.cap_kw is not None
    assert outlook.created == local(WINTER_DAY, 3, 20)
    assert world.manager.import_cap_kw(local(WINTER_DAY, 3, 30)) == pytest.approx(
        outlook.cap_kw / 0.5  # 03:00 is a night hour
    )
    assert world.manager.import_cap_kw(local(WINTER_DAY, 12)) == pytest.approx(outlook.cap_kw)
    assert world.manager.import_cap_kw(local(WINTER_DAY + ONE_DAY, 12)) is None  # beyond it


async def test_the_months_recorded_peaks_set_the_plan() -> None:
    world = CapacityWorld(WINTER_DAY)
    # A month whose three highest peaks are 9 kW: nothing the plan does costs a fee.
    record_month(world, {date(2026, 11, d): 9.0 for d in (2, 3, 4)})
    world.clock.set(local(WINTER_DAY, 10, 0, 5))
    result = await world.manager.restart_and_reconstruct()

    outlook = world.manager.capacity_outlook()
    assert outlook is not None
    assert outlook.dp_runs == 1
    assert outlook.fee_increase == 0.0
    assert [p.kw for p in world.manager.month_peaks()] == [9.0, 9.0, 9.0]
    # …so the plan is the plan without a tariff.
    plain = optimize_battery_schedule(world.executor.planned[-1])
    assert [p.charge_kwh for p in result.periods] == pytest.approx(
        [p.charge_kwh for p in plain.periods]
    )

    # A month of low peaks: the same morning is planned with a lower peak than the plain plan.
    low = CapacityWorld(WINTER_DAY)
    record_month(low, {date(2026, 11, d): 0.6 for d in (2, 3, 4)})
    low.clock.set(local(WINTER_DAY, 10, 0, 5))
    capped = await low.manager.restart_and_reconstruct()
    low_outlook = low.manager.capacity_outlook()
    assert low_outlook is not None
    plain_peak = max(
        w * p.grid_import_kwh for w, p in zip(low_outlook.weights, plain.periods, strict=True)
    )
    assert low_outlook.peak_kw < plain_peak - 0.1
    direct = plan_with_capacity(
        low.executor.planned[-1], ELLEVIO, low.manager.month_peaks(), STOCKHOLM
    )
    assert low_outlook.cap_kw == pytest.approx(direct.cap_kw)
    assert [p.grid_import_kwh for p in capped.periods] == pytest.approx(
        [p.grid_import_kwh for p in direct.result.periods]
    )


async def test_a_plan_caps_only_its_own_month_and_tomorrows_plan_starts_a_new_one() -> None:
    last = date(2026, 11, 30)
    world = CapacityWorld(last, through_tomorrow=True)
    world.home.publish(last + ONE_DAY)
    record_month(world, {date(2026, 11, d): 1.0 for d in (2, 3, 4)})
    world.clock.set(local(last, 22, 0, 5))
    tonight = await world.manager.restart_and_reconstruct()
    outlook = world.manager.capacity_outlook()
    assert outlook is not None
    # 22:00 and 23:00 count (at half); December is left uncapped by a November plan.
    assert outlook.weights[:2] == (0.5, 0.5)
    assert set(outlook.weights[2:]) == {0.0}
    assert len(tonight.periods) == 2 + 24

    world.clock.set(local(last, 23, 55))
    tomorrow = await world.manager.create_tomorrows_schedule()
    assert tomorrow is not None
    december = world.manager.capacity_outlook(local(last + ONE_DAY, 0))
    assert december is not None
    assert december.start == local(last + ONE_DAY, 0)
    assert min(december.weights) == 0.5  # every December hour counts
    # Nothing of December is recorded: the month starts from zero.
    assert world.manager.month_peaks(last + ONE_DAY) == []
    # The newest plan covering a moment is the one in force: tomorrow's, for December.
    assert world.manager.import_cap_kw(local(last + ONE_DAY, 12)) == pytest.approx(december.cap_kw)


async def test_a_weekday_tariff_leaves_a_sunday_uncapped() -> None:
    sunday = date(2026, 11, 29)
    world = CapacityWorld(sunday, tariff=PRESETS["weekday_07_20_winter"])
    world.clock.set(local(sunday, 10, 0, 5))
    await world.manager.restart_and_reconstruct()

    outlook = world.manager.capacity_outlook()
    assert outlook is not None
    assert outlook.cap_kw is None
    assert outlook.dp_runs == 1
    assert world.manager.import_cap_kw(local(sunday, 12)) is None


async def test_setting_the_tariff_drops_what_earlier_plans_held() -> None:
    world = CapacityWorld(WINTER_DAY)
    world.clock.set(local(WINTER_DAY, 10, 0, 5))
    await world.manager.restart_and_reconstruct()
    assert world.manager.capacity_outlook() is not None

    world.manager.capacity_tariff = None
    assert world.manager.capacity_outlook() is None
    assert world.manager.daily_view_builder.capacity_tariff is None
    await world.manager.restart_and_reconstruct()
    assert len(world.inputs) == 1  # the plain optimizer again, once
    assert world.manager.capacity_outlook() is None


# ---------------------------------------------------------------------------- daily view


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local(WINTER_DAY, 15, 20))


@pytest.fixture
def builder(clock: FakeClock) -> DailyViewBuilder:
    history = HistoricalDataStore(clock, STOCKHOLM)
    schedules = ScheduleStore(clock, STOCKHOLM)
    view = DailyViewBuilder(history, schedules, clock, STOCKHOLM, BATTERY)
    view.capacity_tariff = ELLEVIO
    return view


def record_day(
    builder: DailyViewBuilder, day: date, imports: dict[int, tuple[float, float]]
) -> None:
    """Record `day`'s hours: 0.5 kWh import and load, except `imports[hour]` = (import, load)."""
    for start in day_hour_starts(day, STOCKHOLM):
        grid_import, load = imports.get(start.hour, (0.5, 0.5))
        builder.history.record_event(recorded(start, grid_import, load=load))


def planned(start: datetime, grid_import: list[float], load: list[float]) -> OptimizationResult:
    """Return an hourly plan from `start` with these imports (the battery covering the rest)."""
    n = len(grid_import)
    inputs = OptimizationInput(
        start=start,
        period_minutes=60,
        buy=(1.0,) * n,
        sell=(0.5,) * n,
        load=tuple(load),
        solar=(0.0,) * n,
        battery=BATTERY,
        initial_soc_percent=90.0,
    )
    discharge = np.array(load) - np.array(grid_import)
    return build_result(inputs, np.zeros(n), discharge)


def test_finished_days_fees_are_facts_and_sum_to_the_months_fee(
    builder: DailyViewBuilder,
) -> None:
    # Day 20: 3 kW at 18:00 (4 kW without the battery); day 21: 2 kW (load 2);
    # day 22: 2.5 kW (load 5); day 23: 1 kW (load 1).
    days = {
        date(2026, 11, 20): {18: (3.0, 4.0)},
        date(2026, 11, 21): {8: (2.0, 2.0)},
        date(2026, 11, 22): {17: (2.5, 5.0)},
        date(2026, 11, 23): {12: (1.0, 1.0)},
    }
    for day, imports in days.items():
        record_day(builder, day, imports)

    views = {day: builder.build_daily_view(day=day) for day in days}

    fees = {day.day: view.capacity_fee for day, view in views.items()}
    baseline = {day.day: view.capacity_fee_baseline for day, view in views.items()}
    # fee = 80 × sum of the 3 highest / 3: each day adds its share of that sum.
    assert fees == pytest.approx({20: 80.0, 21: 80.0 * 2 / 3, 22: 80.0 * 2.5 / 3, 23: 0.0})
    assert baseline == pytest.approx({20: 80 * 4 / 3, 21: 80 * 2 / 3, 22: 80 * 5 / 3, 23: 0.0})
    assert {view.capacity_fee_source for view in views.values()} == {"actual"}
    month = month_peaks(builder.history.events(), ELLEVIO, STOCKHOLM, WINTER_DAY)
    assert sum(f or 0.0 for f in fees.values()) == pytest.approx(fee(month, ELLEVIO))
    # The battery's share of the fee: (4 − 3) and (5 − 2.5) kW of peak, at 80/3 per kW.
    savings = {day.day: view.capacity_savings for day, view in views.items()}
    assert savings == pytest.approx({20: 80 / 3, 21: 0.0, 22: 80 * 2.5 / 3, 23: 0.0})
    data = views[date(2026, 11, 22)].to_dict()
    assert data["capacity_fee"] == pytest.approx(80.0 * 2.5 / 3)
    assert data["capacity_savings"] == pytest.approx(80.0 * 2.5 / 3)
    assert data["capacity_fee_source"] == "actual"
    # The energy savings are the energy's alone.
    assert data["total_savings"] == pytest.approx(sum(h["savings"] or 0.0 for h in data["hours"]))


def test_todays_fee_counts_the_recorded_hours_then_the_plan(
    builder: DailyViewBuilder, clock: FakeClock
) -> None:
    record_day(builder, date(2026, 11, 23), {18: (2.0, 2.0)})
    for start in day_hour_starts(WINTER_DAY, STOCKHOLM)[:15]:
        builder.history.record_event(recorded(start, 1.5 if start.hour == 8 else 0.5))
    # The plan for the rest: 3 kW at 17:00 where the load is 4.
    rest = day_hour_starts(WINTER_DAY, STOCKHOLM)[15:]
    imports = [3.0 if s.hour == 17 else 0.5 for s in rest]
    loads = [4.0 if s.hour == 17 else 0.5 for s in rest]
    result = planned(rest[0], imports, loads)
    builder.schedules.store_schedule(
        StoredSchedule(
            timestamp=clock.now(),
            optimization_hour=15,
            algorithm_result=result.to_dict(),
            created_for_scenario="hourly",
        )
    )

    view = builder.build_daily_view()

    assert view.capacity_fee_source == "planned"
    # Before today: one peak of 2 kW. Today adds its highest, the planned 3 kW at 17:00.
    assert view.capacity_fee == pytest.approx(80.0 * 3.0 / 3)
    assert view.capacity_fee_baseline == pytest.approx(80.0 * 4.0 / 3)
    assert view.capacity_savings == pytest.approx(80.0 / 3)

    # Tomorrow counts today's planned 3 kW among the peaks before it.
    tomorrow = WINTER_DAY + ONE_DAY
    later = planned(local(tomorrow, 0), [3.5] + [0.5] * 23, [3.5] + [0.5] * 23)
    builder.schedules.store_schedule(
        StoredSchedule(
            timestamp=clock.now(),
            optimization_hour=0,
            algorithm_result=later.to_dict(),
            created_for_scenario="tomorrow",
        )
    )
    ahead = builder.build_daily_view(day=tomorrow)
    # 00:00 is a night hour: 3.5 kW counts as 1.75, the lowest of 3, 2, 1.75.
    assert ahead.capacity_fee == pytest.approx(80.0 * 1.75 / 3)
    assert ahead.capacity_fee_source == "planned"


def test_the_doubled_autumn_hour_is_two_intervals_of_the_days_fee(clock: FakeClock) -> None:
    autumn = date(2026, 10, 25)
    clock.set(local(autumn + ONE_DAY, 10))
    builder = DailyViewBuilder(
        HistoricalDataStore(clock, STOCKHOLM),
        ScheduleStore(clock, STOCKHOLM),
        clock,
        STOCKHOLM,
        BATTERY,
    )
    # Any hour, several a day, no night rebate; quarter-hour events over the 25-hour day.
    builder.capacity_tariff = CapacityTariff(fee_per_kw_month=60.0, distinct_days=False)
    two = datetime(2026, 10, 25, 0, tzinfo=UTC)  # 02:00 summer time; an hour later 02:00 again
    start = day_hour_starts(autumn, STOCKHOLM)[0].astimezone(UTC)
    for quarter in range(25 * 4):
        moment = start + timedelta(minutes=15 * quarter)
        kwh = 1.0 if two <= moment < two + timedelta(hours=2) else 0.1
        _, index = hour_index(moment, STOCKHOLM)
        builder.history.record_event(
            replace(
                recorded(moment.astimezone(STOCKHOLM), kwh),
                hour=index,
                period_minutes=15,
            )
        )

    view = builder.build_daily_view(day=autumn)

    assert len(view.hourly_data) == 25
    # Two 4 kW hours (the two 02:00 hours) and a 0.4 kW one: 60 × (4 + 4 + 0.4) / 3.
    assert view.capacity_fee == pytest.approx(60.0 * 8.4 / 3)
    assert view.capacity_fee_source == "actual"


def test_a_compacted_day_and_a_view_without_a_tariff_have_no_fee_line(
    builder: DailyViewBuilder,
) -> None:
    record_day(builder, date(2026, 11, 20), {18: (3.0, 3.0)})
    assert builder.build_daily_view(day=date(2026, 11, 20)).capacity_fee is not None

    builder.capacity_tariff = None
    view = builder.build_daily_view(day=date(2026, 11, 20))
    assert view.capacity_fee is None
    assert view.capacity_savings is None
    assert "capacity_fee" not in view.to_dict()
    total = builder.daily_total(date(2026, 11, 20))
    assert total is not None
    builder.capacity_tariff = ELLEVIO
    builder.history.compact([total])
    assert builder.build_daily_view(day=date(2026, 11, 20)).capacity_fee is None
    assert builder.recorded_peaks(date(2026, 11, 20)) == []
