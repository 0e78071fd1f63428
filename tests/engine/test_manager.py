"""SimpleBatterySystemManager: the three scenarios driven with plain fakes of the ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import json
import logging

import pytest

from custom_components.bess.engine import optimizer
from custom_components.bess.engine.cost import baseline_cost, period_cost
from custom_components.bess.engine.manager import CorruptStoreError, SimpleBatterySystemManager
from custom_components.bess.engine.models import (
    OptimizationInput,
    OptimizationResult,
)
from custom_components.bess.engine.ports import DataUnavailableError
from custom_components.bess.engine.timeutil import day_hour_starts

from .fakes import (
    BATTERY,
    STOCKHOLM,
    FakeClock,
    FakeController,
    ImmediateExecutor,
    MemoryPersistence,
    SimulatedHome,
    buy_price,
    local,
    price_following_optimizer,
    sell_price,
)

DAY = date(2026, 6, 15)
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)
ONE_DAY = timedelta(days=1)
Optimize = Callable[[OptimizationInput], OptimizationResult]


def real_optimizer(inputs: OptimizationInput) -> OptimizationResult:
    """Run whatever `optimize_battery_schedule` is now (the DP, or its placeholder)."""
    return optimizer.optimize_battery_schedule(inputs)


@dataclass
class World:
    """A home, its clock and the manager's ports, with one manager at a time."""

    day: date
    optimize: Optimize = real_optimizer
    home: SimulatedHome = field(default_factory=SimulatedHome)
    persistence: MemoryPersistence = field(default_factory=MemoryPersistence)
    controller: FakeController = field(default_factory=FakeController)
    executor: ImmediateExecutor = field(default_factory=ImmediateExecutor)
    inputs: list[OptimizationInput] = field(default_factory=list)
    # Most tests check the day-bounded scenarios of the design; the horizon through tomorrow
    # has its own tests.
    through_tomorrow: bool = False
    period_minutes: int = 60

    def __post_init__(self) -> None:
        self.clock = FakeClock(local(self.day - ONE_DAY, 23, 55))
        self.home.publish(self.day - ONE_DAY, self.day, self.day + ONE_DAY)
        self.manager = self.new_manager()

    def new_manager(self) -> SimpleBatterySystemManager:
        """Return a manager as Home Assistant would build it after a (re)start."""

        def recording(inputs: OptimizationInput) -> OptimizationResult:
            self.inputs.append(inputs)
            return self.optimize(inputs)

        return SimpleBatterySystemManager(
            energy=self.home,
            controller=self.controller,
            clock=self.clock,
            persistence=self.persistence,
            executor=self.executor,
            battery=BATTERY,
            tz=STOCKHOLM,
            optimize=recording,
            plan_through_tomorrow=self.through_tomorrow,
            period_minutes=self.period_minutes,
        )

    async def restart(self, at: datetime) -> OptimizationResult:
        """Restart Home Assistant at `at`: a new manager loads the stores and reconstructs."""
        self.clock.set(at)
        self.manager = self.new_manager()
        await self.manager.async_load()
        return await self.manager.restart_and_reconstruct()

    async def live_hour(self, hour: int) -> OptimizationResult:
        """Live through hour `hour` of the day, then run the hourly update 5 s after its end."""
        self.home.run_hour(local(self.day, hour), self.controller.plan)
        self.clock.set(local(self.day, hour, 60, 5))
        return await self.manager.update_hourly_schedule(hour)


def expected_savings(home: SimulatedHome, starts: list[datetime]) -> float:
    """Return the savings of these measured hours, priced independently of the engine."""
    total = 0.0
    for start in starts:
        m = home.recorder[start.astimezone(UTC)]
        buy, sell = buy_price(start), sell_price(start)
        total += baseline_cost(buy, sell, m.home_consumed, m.solar_generated) - period_cost(
            buy,
            sell,
            m.grid_imported,
            m.grid_exported,
            m.battery_charged,
            cycle_cost=BATTERY.cycle_cost_per_kwh,
        )
    return total


# ---------------------------------------------------------------------------- full days


@pytest.mark.parametrize(
    "optimize", [real_optimizer, price_following_optimizer], ids=["optimizer", "price_following"]
)
@pytest.mark.parametrize(("day", "hours"), [(DAY, 24), (SPRING, 23), (AUTUMN, 25)])
async def test_a_full_day_through_the_manager_ends_with_every_hour_actual(
    optimize: Optimize, day: date, hours: int
) -> None:
    world = World(day, optimize)
    starts = day_hour_starts(day, STOCKHOLM)
    assert len(starts) == hours

    tomorrow = await world.manager.create_tomorrows_schedule()
    assert tomorrow is not None
    assert len(tomorrow.periods) == hours
    assert tomorrow.start == starts[0]
    assert world.controller.plan is tomorrow

    for hour in range(hours):
        if hour == 14:
            restarted = await world.restart(local(day, 14, 30))
            assert restarted.start == starts[14]
            assert len(restarted.periods) == hours - 14
        result = await world.live_hour(hour)
        if hour < hours - 1:
            assert result.start == starts[hour + 1]
            assert len(result.periods) == hours - hour - 1
            view = world.manager.build_daily_view()
            assert view.data_sources == ("actual",) * (hour + 1) + ("predicted",) * (
                hours - hour - 1
            )
            assert view.total_savings == pytest.approx(view.actual_savings + view.predicted_savings)

    # The update after the last hour ran at 00:00:05 and planned the whole next day.
    assert result.start == local(day + ONE_DAY, 0)
    assert len(result.periods) == len(day_hour_starts(day + ONE_DAY, STOCKHOLM))

    view = world.manager.build_daily_view(day)
    assert len(view.hourly_data) == hours
    assert view.data_sources == ("actual",) * hours
    assert (view.actual_hours, view.predicted_hours, view.missing_hours) == (hours, 0, 0)
    assert view.total_savings == pytest.approx(sum(h.savings or 0.0 for h in view.hourly_data))
    assert view.total_savings == pytest.approx(expected_savings(world.home, starts), abs=1e-9)
    events = world.manager.history.get_day_events(day)
    # In UTC: an ambiguous local time never equals a time in another zone.
    assert [e.start.astimezone(UTC) for e in events] == [s.astimezone(UTC) for s in starts]
    assert [e.buy_price for e in events] == [buy_price(s) for s in starts]
    scenarios = [
        s.created_for_scenario for s in world.manager.schedules.get_all_schedules_today(day)
    ]
    assert scenarios == ["tomorrow"] + ["hourly"] * 14 + ["restart"] + ["hourly"] * (hours - 15)


async def test_a_moving_battery_shows_up_in_the_actual_hours() -> None:
    world = World(DAY, price_following_optimizer)
    await world.manager.create_tomorrows_schedule()
    for hour in range(24):
        await world.live_hour(hour)

    view = world.manager.build_daily_view(DAY)
    charged = sum(h.battery_charge_kwh or 0.0 for h in view.hourly_data)
    discharged = sum(h.battery_discharge_kwh or 0.0 for h in view.hourly_data)
    assert charged > 1.0
    assert discharged > 1.0
    # The SOC the manager read each hour is the one the home really had.
    for inputs, event in zip(
        world.inputs[1:], world.manager.history.get_day_events(DAY), strict=True
    ):
        assert inputs.initial_soc_percent == pytest.approx(
            max(event.battery_soc_end, BATTERY.min_soc_percent)
        )


# ----------------------------------------------------------------------------- tomorrow


async def test_tomorrow_is_planned_from_min_soc_whatever_the_battery_holds() -> None:
    world = World(DAY)
    world.home.soc_percent = 80.0

    result = await world.manager.create_tomorrows_schedule()

    assert result is not None
    assert world.inputs[0].initial_soc_percent == BATTERY.min_soc_percent
    assert result.periods[0].soc_start_percent == pytest.approx(BATTERY.min_soc_percent)
    assert world.inputs[0].buy == tuple(buy_price(s) for s in day_hour_starts(DAY, STOCKHOLM))
    stored = world.manager.schedules.get_latest_schedule(DAY)
    assert stored is not None
    assert stored.created_for_scenario == "tomorrow"
    assert stored.optimization_hour == 0
    status = world.manager.status
    assert status.tomorrow_result is not None
    assert status.tomorrow_result.to_dict() == result.to_dict()
    assert status.last_optimization_time == local(DAY - ONE_DAY, 23, 55)
    assert status.last_optimization_seconds is not None
    assert world.executor.calls == 1


async def test_tomorrow_waits_for_prices_and_never_plans_on_made_up_ones() -> None:
    world = World(DAY)
    world.home.published_days.discard(DAY)

    assert await world.manager.create_tomorrows_schedule() is None

    assert world.manager.waiting_for_prices is True
    assert world.manager.status.waiting_for_prices is True
    assert world.inputs == []
    assert world.controller.applied == []
    assert world.manager.schedules.get_all_schedules_today(DAY) == []

    world.home.publish(DAY)
    world.clock.set(local(DAY - ONE_DAY, 23, 58))
    result = await world.manager.create_tomorrows_schedule()

    assert result is not None
    assert world.manager.waiting_for_prices is False
    assert len(world.manager.schedules.get_all_schedules_today(DAY)) == 1


# ------------------------------------------------------------------------------- hourly


async def test_an_hour_that_cannot_be_measured_stays_missing_and_the_loop_goes_on() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    world.home.unmeasurable.add(local(DAY, 1).astimezone(UTC))
    world.home.lost_from_recorder.add(local(DAY, 1).astimezone(UTC))

    for hour in range(4):
        await world.live_hour(hour)

    view = world.manager.build_daily_view()
    assert view.data_sources[:5] == ("actual", "missing", "actual", "actual", "predicted")
    assert world.manager.history.get_completed_hours() == [0, 2, 3]


async def test_an_hour_missed_live_is_recorded_at_the_next_run_from_the_recorder() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    world.home.unmeasurable.add(local(DAY, 1).astimezone(UTC))  # e.g. a stalled trigger

    await world.live_hour(0)
    await world.live_hour(1)
    assert world.manager.history.get_completed_hours() == [0]
    await world.live_hour(2)
    assert world.manager.history.get_completed_hours() == [0, 1, 2]
    recorded = world.manager.history.get_hour_event(1)
    assert (
        recorded.grid_imported == world.home.recorder[local(DAY, 1).astimezone(UTC)].grid_imported
    )


async def test_a_restart_at_0030_records_yesterdays_last_hours() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    for hour in range(22):
        await world.live_hour(hour)
    # Home Assistant is down from 22:00 to 00:30; the recorder has 22:00 and 23:00 (it was
    # a frontend restart, say), the live loop never measured them.
    for hour in (22, 23):
        world.home.run_hour(local(DAY, hour), world.controller.plan)
    await world.restart(local(DAY + ONE_DAY, 0, 30))

    assert world.manager.history.get_completed_hours(DAY) == list(range(24))


async def test_a_history_conflict_does_not_stop_the_hourly_update(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    await world.live_hour(0)
    earlier = world.manager.history.get_hour_event(0)
    assert earlier is not None

    def someone_else_records(start: datetime) -> None:
        """Record the hour with other data while the manager measures it."""
        if start == local(DAY, 1):
            other = replace(earlier, hour=1, start=start, grid_imported=99.0)
            world.manager.history.record_event(other)

    world.home.measure_hook = someone_else_records
    with caplog.at_level(logging.WARNING):
        result = await world.live_hour(1)

    assert "already recorded with other data" in caplog.text
    assert result.start == local(DAY, 2)
    kept = world.manager.history.get_hour_event(1)
    assert kept is not None
    assert kept.grid_imported == 99.0


async def test_the_hour_is_recorded_with_its_planned_price_when_the_source_has_none() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    world.home.published_days.clear()

    result = await world.live_hour(7)

    event = world.manager.history.get_hour_event(7)
    assert event is not None
    assert (event.buy_price, event.sell_price) == (
        buy_price(local(DAY, 7)),
        sell_price(local(DAY, 7)),
    )
    # The rest of the day is planned on the prices the stored plan was made with.
    assert world.inputs[-1].buy == tuple(buy_price(s) for s in day_hour_starts(DAY, STOCKHOLM)[8:])
    assert result.start == local(DAY, 8)


async def test_without_any_price_the_hour_stays_missing_and_nothing_is_planned() -> None:
    world = World(DAY)
    world.home.published_days.clear()
    world.clock.set(local(DAY, 9, 0))

    world.home.run_hour(local(DAY, 8), None)
    world.clock.set(local(DAY, 9, 0, 5))
    with pytest.raises(DataUnavailableError, match="prices"):
        await world.manager.update_hourly_schedule(8)

    assert world.manager.history.get_completed_hours() == []
    assert world.inputs == []
    assert world.manager.status.last_error is not None


async def test_a_missing_soc_raises_after_recording_the_completed_hour() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    world.home.soc_available = False

    with pytest.raises(DataUnavailableError, match=r"sensor\.battery_soc"):
        await world.live_hour(0)

    assert world.manager.history.get_completed_hours() == [0]
    assert world.manager.status.last_error == "sensor.battery_soc: unavailable"
    assert [s.created_for_scenario for s in world.manager.schedules.get_all_schedules_today()] == [
        "tomorrow"
    ]
    saved = json.loads(world.persistence.text or "{}")
    assert len(saved["history"]["events"]) == 1


async def test_a_failing_controller_raises_after_the_schedule_is_stored_and_saved() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    world.controller.error = RuntimeError("inverter offline")

    with pytest.raises(RuntimeError, match="inverter offline"):
        await world.live_hour(0)

    assert world.manager.status.last_error == "controller: RuntimeError('inverter offline')"
    assert world.manager.latest_result is not None
    assert world.manager.latest_result.start == local(DAY, 1)
    reloaded = world.new_manager()
    await reloaded.async_load()
    latest = reloaded.schedules.get_latest_schedule(DAY)
    assert latest is not None
    assert (latest.created_for_scenario, latest.optimization_hour) == ("hourly", 1)

    world.controller.error = None
    await world.live_hour(1)
    assert world.manager.status.last_error is None


async def test_the_midnight_update_plans_the_whole_new_day_from_the_real_soc() -> None:
    world = World(DAY)
    world.clock.set(local(DAY, 23, 0))
    world.home.soc_percent = 55.0
    world.home.run_hour(local(DAY, 23), None)
    world.clock.set(local(DAY + ONE_DAY, 0, 0, 5))

    result = await world.manager.update_hourly_schedule(23)

    assert world.manager.history.get_completed_hours(DAY) == [23]
    assert result.start == local(DAY + ONE_DAY, 0)
    assert len(result.periods) == 24
    assert world.inputs[-1].initial_soc_percent == pytest.approx(55.0)
    stored = world.manager.schedules.get_latest_schedule(DAY + ONE_DAY)
    assert stored is not None
    assert (stored.created_for_scenario, stored.optimization_hour) == ("hourly", 0)


async def test_without_arguments_the_hour_that_just_ended_is_recorded_even_at_dst() -> None:
    world = World(AUTUMN)
    await world.manager.create_tomorrows_schedule()
    for hour in range(5):
        world.home.run_hour(local(AUTUMN, hour), world.controller.plan)
        world.clock.set(local(AUTUMN, hour, 60, 5))
        result = await world.manager.update_hourly_schedule()
        assert result.start.astimezone(UTC) == local(AUTUMN, hour + 1).astimezone(UTC)

    assert world.manager.history.get_completed_hours() == [0, 1, 2, 3, 4]
    # At 00:00:05 the hour that ended is yesterday's last.
    world.home.run_hour(local(AUTUMN, 24), None)
    world.clock.set(local(AUTUMN + ONE_DAY, 0, 0, 5))
    result = await world.manager.update_hourly_schedule()
    assert world.manager.history.get_completed_hours(AUTUMN)[-1] == 24
    assert result.start == local(AUTUMN + ONE_DAY, 0)


async def test_an_hour_index_outside_the_day_is_refused() -> None:
    world = World(SPRING)
    world.clock.set(local(SPRING, 12, 5))
    with pytest.raises(ValueError, match="no hour 23"):
        await world.manager.update_hourly_schedule(23, day=SPRING)


async def test_a_soc_below_min_is_planned_from_the_real_soc() -> None:
    world = World(DAY)
    world.home.soc_percent = 4.0
    world.home.run_hour(local(DAY, 5), None)
    world.clock.set(local(DAY, 6, 0, 5))

    result = await world.manager.update_hourly_schedule(5)

    assert BATTERY.min_soc_percent > 4.0
    assert world.inputs[-1].initial_soc_percent == pytest.approx(world.home.soc_percent)
    assert result.periods[0].soc_start_percent == pytest.approx(world.home.soc_percent)
    # Below the minimum the plan never discharges.
    for period in result.periods:
        if period.soc_start_percent < BATTERY.min_soc_percent - 1e-9:
            assert period.discharge_kwh == 0.0


# ------------------------------------------------------------------------------ restart


async def test_a_restart_reconstructs_the_gap_and_keeps_every_recorded_hour() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    for hour in range(10):
        await world.live_hour(hour)
    recorded = world.manager.history.get_day_events(DAY)
    # Home Assistant is down from 10:10 to 14:30; the recorder lost hour 12 and now
    # remembers hour 3 differently from what was measured live.
    for hour in range(10, 14):
        world.home.run_hour(local(DAY, hour), world.controller.plan)
    world.home.lost_from_recorder.add(local(DAY, 12).astimezone(UTC))
    world.home.recorder[local(DAY, 3).astimezone(UTC)] = replace(
        world.home.recorder[local(DAY, 3).astimezone(UTC)], grid_imported=42.0
    )

    result = await world.restart(local(DAY, 14, 30))

    assert world.manager.history.get_day_events(DAY)[:10] == recorded
    assert world.manager.history.get_completed_hours() == [*range(12), 13]
    assert result.start == local(DAY, 14)
    assert len(result.periods) == 10
    view = world.manager.build_daily_view()
    assert view.data_sources[:15] == ("actual",) * 12 + ("missing", "actual", "predicted")
    stored = world.manager.schedules.get_latest_schedule()
    assert stored is not None
    assert (stored.created_for_scenario, stored.optimization_hour) == ("restart", 14)
    assert world.controller.applied[-1] == (result, local(DAY, 14, 30))


async def test_a_restart_on_the_autumn_day_reconstructs_both_0200_hours() -> None:
    world = World(AUTUMN)
    world.clock.set(local(AUTUMN, 0))
    for hour in range(5):
        world.home.run_hour(local(AUTUMN, hour), None)

    result = await world.restart(local(AUTUMN, 5, 10))

    events = world.manager.history.get_day_events(AUTUMN)
    assert [e.hour for e in events] == [0, 1, 2, 3, 4]
    assert [e.start.astimezone(STOCKHOLM).hour for e in events] == [0, 1, 2, 2, 3]
    assert len({e.start.astimezone(UTC) for e in events}) == 5
    assert result.start == local(AUTUMN, 5)
    assert len(result.periods) == 20


async def test_a_restart_without_soc_raises_but_keeps_the_reconstructed_hours() -> None:
    world = World(DAY)
    for hour in range(3):
        world.home.run_hour(local(DAY, hour), None)
    world.home.soc_available = False

    with pytest.raises(DataUnavailableError):
        await world.restart(local(DAY, 3, 30))

    assert world.manager.history.get_completed_hours() == [0, 1, 2]
    reloaded = world.new_manager()
    await reloaded.async_load()
    assert reloaded.history.get_completed_hours() == [0, 1, 2]


# -------------------------------------------------------------------- stores and settings


async def test_every_change_is_saved_and_a_new_manager_loads_it_all() -> None:
    world = World(DAY)
    await world.manager.create_tomorrows_schedule()
    saves_after_tomorrow = world.persistence.saves
    await world.live_hour(0)

    # One save for the recorded hour, one for the new schedule.
    assert world.persistence.saves == saves_after_tomorrow + 2
    reloaded = world.new_manager()
    await reloaded.async_load()
    assert reloaded.history.get_day_events(DAY) == world.manager.history.get_day_events(DAY)
    assert reloaded.dump_state() == world.manager.dump_state()
    assert reloaded.latest_result is not None
    assert reloaded.latest_result.start == local(DAY, 1)
    assert reloaded.latest_result.start.tzinfo is STOCKHOLM


async def test_a_corrupt_store_raises_and_loads_nothing() -> None:
    world = World(DAY)
    world.persistence.text = json.dumps({"version": 1, "history": {"version": 1}, "schedules": {}})

    with pytest.raises(CorruptStoreError):
        await world.manager.async_load()
    assert len(world.manager.history) == 0

    world.persistence.text = None
    await world.manager.async_load()
    assert world.manager.dump_state()["history"]["events"] == []


async def test_new_settings_are_used_by_the_next_optimization_and_the_view() -> None:
    world = World(DAY)
    bigger = replace(BATTERY, capacity_kwh=20.0, cycle_cost_per_kwh=0.2)

    world.manager.update_settings(battery=bigger, terminal_value_per_kwh=0.9)
    await world.manager.create_tomorrows_schedule()

    assert world.inputs[-1].battery == bigger
    assert world.inputs[-1].terminal_value_per_kwh == 0.9
    assert world.manager.daily_view_builder.battery.cycle_cost_per_kwh == 0.2
    world.manager.update_settings(terminal_value_per_kwh=0.0)
    assert world.manager.battery == bigger
    assert world.manager.terminal_value_per_kwh == 0.0


def test_only_periods_that_divide_an_hour_are_accepted() -> None:
    world = World(DAY)
    with pytest.raises(ValueError, match="does not divide an hour"):
        SimpleBatterySystemManager(
            energy=world.home,
            controller=world.controller,
            clock=world.clock,
            persistence=world.persistence,
            executor=world.executor,
            battery=BATTERY,
            tz=STOCKHOLM,
            period_minutes=45,
        )
    with pytest.raises(ValueError, match="does not divide an hour"):
        world.manager.period_minutes = 7


async def test_a_forecast_of_the_wrong_length_is_missing_data_not_a_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(DAY)

    async def short_forecast(period_starts: object) -> list[float]:
        return [0.0] * 3

    monkeypatch.setattr(world.home, "get_solar_forecast", short_forecast)
    with pytest.raises(DataUnavailableError, match="solar forecast"):
        await world.manager.create_tomorrows_schedule()

    assert world.manager.last_error == "solar forecast: 3 values for 24 periods"
    assert world.inputs == []
    assert world.manager.schedules.get_all_schedules_today(DAY) == []
