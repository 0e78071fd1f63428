"""Work at every period boundary: the event-loop time of one scenario-2 run in Home Assistant.

Run: .venv/bin/python -m pytest bench/boundary.py -s -p no:cacheprovider
     (BESS_BENCH_QUICK=1: 24 boundaries of each case and a smaller store, for a smoke run)

It is a bench, not a test: `pyproject.toml` keeps pytest's `testpaths` to `tests/`, and its
name does not match `test_*.py`, so the normal run never collects it.

The real bess config entry runs in the test Home Assistant of
pytest-homeassistant-custom-component, with the real recorder (SQLite in memory, statistics
compiled every 5 minutes as in production), the real Store (files in a temporary directory,
not the test harness's in-memory mock, whose write encodes in the loop) and entity-mode control
of real `input_select` / `input_number` / `input_boolean` helpers. A 10 kWh, 5 kW battery in
Stockholm; Nord Pool-style quarter-hour prices for today and tomorrow; meters that move every
5 minutes with a winter load, a little solar and the battery following the plan in force.

The clock runs in 5-minute ticks from 00:00 (the coordinator's trigger), for a day of
boundaries: with tomorrow's prices known the horizon runs from 192 periods down to 97, then
96 after midnight. A boundary's work is everything the loop runs from the tick until the
Store's delayed write 10 s later: the trigger, the scenario (record the period from the meter
snapshot, fill unrecorded periods since yesterday from the recorder, the consumption forecast
from the recorder's statistics, plan in the executor, store, ask for a save, apply through the
controller), the service calls and the helpers' state changes, the entities' updates, the
recorder's handling of all those states, and the Store's write.

Event-loop time is measured exactly: every callback the loop runs (`asyncio.Handle._run`) is
timed, and the sum over a boundary is its event-loop time. What the executor runs is not in it;
it is shown beside it (the wall time of every executor job the boundary started, the solve
among them). The bench's own driving task (moving the clock, firing the timers) is left out.

Cases, each in its own Home Assistant:
- "a year in": the store holds a year of quarter-hour history and the schedules of the last
  7 planned days (96 re-plans a day), as after a year at 15 minutes. The headline.
- "fresh install": empty store, yesterday unrecorded (every boundary asks the recorder to
  rebuild it).
- the reference, "60 min, a year in": the same home at 60-minute periods (the option), a year of
  hourly history and schedules: what a boundary cost before quarter-hour periods.
- the profiled run repeats "a year in" with Python's profiler on the loop's callbacks (the
  loop's thread alone) for the functions that cost the most.

Printed per case: boundaries, median / p95 / max event-loop ms per boundary, the longest
single callback (what blocks the loop at once), executor ms and the optimizer's solve ms
(median), and loop time as a ratio to the reference and to the solve; then the loop time by
step (record, plan inputs, plan bookkeeping, save, apply, entity updates, the rest of Home
Assistant), and the profiled run's top functions.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
import functools
import gc
import inspect
import logging
import math
import os
from pathlib import Path
import statistics
import sys
import time
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import storage
from homeassistant.helpers.json import json_encoder_default
from homeassistant.setup import async_setup_component
import numpy as np
import orjson
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.bess.const import (
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONTROL_MODE,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_GRID_CHARGE_SWITCH,
    CONF_MODE_OPTION_PREFIX,
    CONF_PERIOD_MINUTES,
    CONF_PRICE_ENTITY,
    CONF_SOC_ENTITY,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    DOMAIN,
)
from custom_components.bess.coordinator import BessCoordinator
from custom_components.bess.engine.daily_view import DailyViewBuilder
from custom_components.bess.engine.history import HistoricalDataStore
from custom_components.bess.engine.manager import (
    STORAGE_FORMAT_VERSION,
    SimpleBatterySystemManager,
)
from custom_components.bess.engine.models import (
    BatterySettings,
    HourlyEvent,
    Intent,
    OptimizationInput,
    StoredSchedule,
)
from custom_components.bess.engine.optimizer import optimize_battery_schedule
from custom_components.bess.engine.schedules import DEFAULT_KEEP_DAYS, ScheduleStore
from custom_components.bess.engine.timeutil import day_period_starts, hour_index
from custom_components.bess.ha.energy import HomeAssistantEnergyData
from custom_components.bess.ha.storage import (
    STORAGE_MINOR_VERSION,
    STORAGE_VERSION,
    BessStore,
    store_data,
)
from tests.conftest import METERS, PRICE, PRICE_SHAPE, SOC, TIME_ZONE, Home, entry_options

QUICK = os.environ.get("BESS_BENCH_QUICK") == "1"
TARGET_MS = 50.0
TODAY = date(2026, 11, 24)
TICK = timedelta(minutes=5)  # the coordinator's trigger
SAVE_DELAY = timedelta(seconds=11)  # the Store's delayed write (10 s) and the statistics (:10)
HISTORY_DAYS = 60 if QUICK else 365
SCHEDULE_DAYS = 2 if QUICK else DEFAULT_KEEP_DAYS - 1  # planned days before today
BATTERY = BatterySettings(capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0)
ENTRY_ID = "bench_boundary"
MODE = "input_select.inverter_mode"
CHARGE = "input_number.charge_power"
DISCHARGE = "input_number.discharge_power"
GRID = "input_boolean.grid_charging"
CONTROL_OPTIONS = {
    CONF_CONTROL_MODE: CONTROL_ENTITIES,
    CONF_WORK_MODE_SELECT: MODE,
    **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": intent.value for intent in Intent},
    CONF_CHARGE_POWER_NUMBER: CHARGE,
    CONF_DISCHARGE_POWER_NUMBER: DISCHARGE,
    CONF_GRID_CHARGE_SWITCH: GRID,
}
# Captured before the test harness replaces them with its in-memory mock (whose write encodes
# and decodes the whole store in the event loop, which Home Assistant does not do).


def clock_s() -> float:
    """Return a monotonic clock in seconds that the frozen clock leaves alone.

    freezegun replaces `time.perf_counter` and `time.monotonic`, and every module attribute
    that holds them; it does not know `clock_gettime`.
    """
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# The steps of a boundary timed on their own: (class, attribute, step). Exclusive: the time of
# a step inside another (a save inside recording) is that step's.
STEPS: tuple[tuple[type, str, str], ...] = (
    (SimpleBatterySystemManager, "update_hourly_schedule", "scenario (lock, SOC, periods)"),
    (SimpleBatterySystemManager, "_record_periods", "record the period (meters, recorder)"),
    (HomeAssistantEnergyData, "get_prices", "plan inputs: prices"),
    (HomeAssistantEnergyData, "get_solar_forecast", "plan inputs: solar forecast"),
    (HomeAssistantEnergyData, "get_consumption_forecast", "plan inputs: consumption"),
    (HomeAssistantEnergyData, "get_battery_soc", "plan inputs: SOC"),
    (SimpleBatterySystemManager, "_plan_from", "plan bookkeeping (horizon, result)"),
    (SimpleBatterySystemManager, "_plan", "plan bookkeeping (horizon, result)"),
    (ScheduleStore, "store_schedule", "store the schedule (its JSON text)"),
    (SimpleBatterySystemManager, "_save_soon", "save request (the stores' text)"),
    (SimpleBatterySystemManager, "_apply", "apply (controller, service calls)"),
    (BessCoordinator, "_build_data", "entities: build the data"),
    (DailyViewBuilder, "build_daily_view", "entities: today's view"),
    (SimpleBatterySystemManager, "tomorrow_result", "entities: tomorrow's plan"),
    (BessCoordinator, "async_update_listeners", "entities: write the states"),
    (BessStore, "_async_handle_write_data", "Store write (loop side)"),
)
OTHER = "Home Assistant (timers, bus, recorder, helpers)"
REAL_STORE_METHODS = {
    name: getattr(storage.Store, name) for name in ("_async_load", "_async_write_data")
}


# --------------------------------------------------------------------------- measuring


@dataclass
class Window:
    """What the loop and the executor did between a window's start and its end."""

    kind: str
    loop_s: float = 0.0
    callbacks: int = 0
    longest_s: float = 0.0
    executor_s: float = 0.0
    solve_s: float = 0.0
    horizon: int = 0
    # Python's garbage collection inside the window's measured callbacks (part of loop_s).
    gc_s: float = 0.0
    # Loop time by step (exclusive: a step inside another counts for itself alone).
    steps: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class LoopMeter:
    """Times every callback the event loop runs (`Handle._run`), inside open windows only.

    The bench's own task is not timed (moving the clock, the harness's patching around the
    timers it fires); what it runs inside (the timers fired) is. Executor jobs are timed in
    their thread, by wrapping the loop's `run_in_executor`. Named steps of bess (see `STEPS`)
    are timed where they run, exclusive of the steps inside them; a coroutine step only while
    it runs, not while it awaits.

    With `profile`, `LoopProfiler` runs each measured callback.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, profile: bool = False) -> None:
        """Measure `loop`; with `profile`, profile the measured callbacks."""
        self._loop = loop
        self._bench_task = asyncio.current_task()
        self._depth = 0
        self._stack: list[list[Any]] = []  # [step, since] of the steps running, innermost last
        self.window: Window | None = None
        self.windows: list[Window] = []
        self.profiler = LoopProfiler() if profile else None

    def push(self, step: str) -> None:
        """A step starts (or resumes) running."""
        now = clock_s()
        if self._stack and self.window is not None:
            outer = self._stack[-1]
            self.window.steps[outer[0]] += now - outer[1]
        self._stack.append([step, now])

    def pop(self) -> None:
        """The innermost step returns (or suspends)."""
        now = clock_s()
        step, since = self._stack.pop()
        if self.window is not None:
            self.window.steps[step] += now - since
        if self._stack:
            self._stack[-1][1] = now

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap `Handle._run`, the loop's `run_in_executor` and the steps while in the block."""
        original_run = asyncio.events.Handle._run
        original_executor = self._loop.run_in_executor
        meter = self

        def timed_run(handle: asyncio.Handle) -> None:
            callback = handle._callback  # type: ignore[attr-defined]
            if (
                meter.window is None
                or meter._depth
                or getattr(callback, "__self__", None) is meter._bench_task
            ):
                original_run(handle)
                return
            meter._depth += 1
            began = clock_s()
            try:
                if meter.profiler is not None:
                    meter.profiler.run(original_run, handle)
                else:
                    original_run(handle)
            finally:
                spent = clock_s() - began
                meter._depth -= 1
                window = meter.window
                if window is not None:
                    window.loop_s += spent
                    window.callbacks += 1
                    window.longest_s = max(window.longest_s, spent)

        def timed_executor(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            window = meter.window
            name = _name(func)

            def job() -> Any:
                began = clock_s()
                try:
                    return func(*args)
                finally:
                    if window is not None:
                        spent = clock_s() - began
                        window.executor_s += spent
                        if name.endswith("_default_optimizer"):
                            window.solve_s += spent

            return original_executor(executor, job)

        gc_began: list[float] = []

        def gc_timer(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_began[:] = [clock_s()]
            elif gc_began and meter.window is not None and meter._depth:
                meter.window.gc_s += clock_s() - gc_began[0]

        gc.callbacks.append(gc_timer)
        with contextlib.ExitStack() as stack:
            stack.callback(gc.callbacks.remove, gc_timer)
            stack.enter_context(patch.object(asyncio.events.Handle, "_run", timed_run))
            stack.enter_context(patch.object(self._loop, "run_in_executor", timed_executor))
            for owner, name, step in STEPS:
                stack.enter_context(patch.object(owner, name, self._timed(owner, name, step)))
            yield

    def _timed(self, owner: type, name: str, step: str) -> Any:
        """Return `owner.name` timed as `step` (a method, coroutine method or property)."""
        original = inspect.getattr_static(owner, name)
        meter = self
        if isinstance(original, property):
            assert original.fget is not None
            return property(self._timed_function(original.fget, step))
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            def start(*args: Any, **kwargs: Any) -> Any:
                return _TimedAwaitable(meter, step, original(*args, **kwargs))

            return start
        return self._timed_function(original, step)

    def _timed_function(self, function: Callable[..., Any], step: str) -> Callable[..., Any]:
        """Return `function` timed as `step`."""
        meter = self

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            meter.push(step)
            try:
                return function(*args, **kwargs)
            finally:
                meter.pop()

        return timed

    def open(self, kind: str) -> None:
        """Start a window."""
        self.window = Window(kind)

    def close(self) -> Window:
        """End the window and keep it."""
        window = self.window
        assert window is not None
        self.window = None
        self.windows.append(window)
        return window


@dataclass
class FunctionTime:
    """What one function cost the loop: calls (each resumption of a coroutine is one)."""

    calls: int = 0
    own_s: float = 0.0
    cumulative_s: float = 0.0


class LoopProfiler:
    """A deterministic profiler of the loop's thread alone (`sys.setprofile` is per thread).

    cProfile on Python 3.12+ sees every thread's calls, the recorder's and the executor's
    among them, and `profile` stops on frames entered from compiled code; this one keeps a
    stack of frames and unwinds to the frame that returns. Its own cost per call slows the
    loop and weighs on functions called often.
    """

    def __init__(self) -> None:
        """Start with nothing profiled."""
        self.functions: dict[tuple[str, int, str], FunctionTime] = defaultdict(FunctionTime)
        self._stack: list[list[Any]] = []  # [frame, key, began, time in callees]

    def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run `func(*args)` profiled."""
        sys.setprofile(self._event)
        try:
            return func(*args)
        finally:
            sys.setprofile(None)
            self._unwind(None, clock_s())

    def _event(self, frame: Any, event: str, arg: Any) -> None:
        """Keep the stack of Python frames (C calls count in their caller's own time)."""
        if event == "call":
            code = frame.f_code
            key = (code.co_filename, code.co_firstlineno, code.co_qualname)
            self._stack.append([frame, key, clock_s(), 0.0])
        elif event == "return":
            self._unwind(frame, clock_s())

    def _unwind(self, frame: Any, now: float) -> None:
        """Close the stack's frames down to `frame` (all of them for None)."""
        if frame is not None and not any(entry[0] is frame for entry in self._stack):
            return
        while self._stack:
            entry_frame, key, began, callees = self._stack.pop()
            elapsed = now - began
            function = self.functions[key]
            function.calls += 1
            function.own_s += elapsed - callees
            function.cumulative_s += elapsed
            if self._stack:
                self._stack[-1][3] += elapsed
            if entry_frame is frame:
                return


class _TimedAwaitable:
    """A coroutine timed as a step while it runs (each resumption), not while it awaits."""

    def __init__(self, meter: LoopMeter, step: str, coro: Any) -> None:
        """Time `coro` as `step`."""
        self._meter = meter
        self._step = step
        self._coro = coro

    def __await__(self) -> Any:
        """Drive the coroutine, timing each resumption."""
        value: Any = None
        error: BaseException | None = None
        while True:
            self._meter.push(self._step)
            try:
                yielded = self._coro.send(value) if error is None else self._coro.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self._meter.pop()
            try:
                value, error = (yield yielded), None
            except BaseException as err:  # cancellation and close go into the coroutine
                value, error = None, err


def _name(func: Any) -> str:
    """Return a callable's qualified name (through partials and bound methods)."""
    while isinstance(func, functools.partial):
        func = func.func
    return str(getattr(func, "__qualname__", type(func).__name__))


# ------------------------------------------------------------------------------ the home


def spot(moment: datetime) -> float:
    """A winter quarter-hour price (currency/kWh): the hour's shape, a step per quarter."""
    local = moment.astimezone(ZoneInfo(TIME_ZONE))
    day_shift = 0.03 * (local.toordinal() % 5)
    return PRICE_SHAPE[local.hour] + 0.04 * (local.minute // 15) - 0.06 + day_shift


def price_entries(day: date) -> list[dict[str, Any]]:
    """Nord Pool (HACS) quarter-hour entries of a local day."""
    tz = ZoneInfo(TIME_ZONE)
    quarter = timedelta(minutes=15)
    return [
        {
            "start": start.isoformat(),
            "end": (start.astimezone(UTC) + quarter).astimezone(tz).isoformat(),
            "value": round(spot(start), 5),
        }
        for start in day_period_starts(day, tz, 15)
    ]


def publish_prices(hass: HomeAssistant, today: date, with_tomorrow: bool) -> None:
    """Publish today's (and tomorrow's) quarter-hour prices, as the Nord Pool sensor does."""
    tomorrow = price_entries(today + timedelta(days=1)) if with_tomorrow else []
    entries = price_entries(today)
    hass.states.async_set(
        PRICE,
        str(entries[0]["value"]),
        {
            "unit_of_measurement": "SEK/kWh",
            "raw_today": entries,
            "raw_tomorrow": tomorrow,
            "tomorrow_valid": with_tomorrow,
        },
    )


def load_kw(moment: datetime) -> float:
    """The home's winter load (kW): a base, a morning and an evening peak."""
    hour = moment.hour + moment.minute / 60
    return (
        0.5
        + 1.2 * math.exp(-(((hour - 7.5) / 1.2) ** 2))
        + 1.8 * math.exp(-(((hour - 18.5) / 2.0) ** 2))
    )


def solar_kw(moment: datetime) -> float:
    """A November day's solar (kW) in Stockholm: a little, around noon."""
    hour = moment.hour + moment.minute / 60
    return max(0.0, 1.2 * math.sin((hour - 8.5) / 6.5 * math.pi)) if 8.5 < hour < 15 else 0.0


def follow_plan(home: Home, plan_kw: float, moment: datetime) -> None:
    """Move the meters and the SOC by 5 minutes of load, solar and the planned battery power."""
    hours = TICK.total_seconds() / 3600
    room_kwh = 0.999 * (100.0 - home.soc) / 100 * BATTERY.capacity_kwh / 0.95
    stored_kwh = 0.999 * home.soc / 100 * BATTERY.capacity_kwh * 0.95
    charge = min(max(plan_kw, 0.0) * hours, room_kwh)
    discharge = min(max(-plan_kw, 0.0) * hours, stored_kwh)
    net = (load_kw(moment) - solar_kw(moment)) * hours + charge - discharge
    home.advance(
        grid_import=max(net, 0.0),
        grid_export=max(-net, 0.0),
        solar=solar_kw(moment) * hours,
        charge=charge,
        discharge=discharge,
    )


async def set_up_helpers(hass: HomeAssistant) -> None:
    """An inverter wired through input helpers, as Modbus set-ups often are."""
    power = {"min": 0, "max": 5000, "step": 100, "unit_of_measurement": "W"}
    assert await async_setup_component(
        hass, "input_select", {"input_select": {"inverter_mode": {"options": list(Intent)}}}
    )
    assert await async_setup_component(
        hass, "input_number", {"input_number": {"charge_power": power, "discharge_power": power}}
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"grid_charging": {}}}
    )


# ----------------------------------------------------------------- a year of stored data


class _FixedClock:
    """The stores' clock while the year is built: the start of the bench."""

    def now(self) -> datetime:
        """Return the bench's start."""
        return datetime.combine(TODAY, datetime.min.time(), ZoneInfo(TIME_ZONE))


def _event(rng: np.random.Generator, start: datetime, minutes: int) -> HourlyEvent:
    """A plausible measured period."""
    tz = ZoneInfo(TIME_ZONE)
    local = start.astimezone(tz)
    hours = minutes / 60
    solar = solar_kw(local) * rng.uniform(0.2, 1.0) * hours
    load = load_kw(local) * rng.uniform(0.7, 1.3) * hours
    charge = rng.uniform(0.0, 5.0 * hours) if rng.random() < 0.25 else 0.0
    discharge = rng.uniform(0.0, 5.0 * hours) if charge == 0 and rng.random() < 0.35 else 0.0
    net = load - solar + charge - discharge
    soc = float(rng.uniform(10, 95))
    return HourlyEvent(
        hour=hour_index(start, tz)[1],
        timestamp=start + timedelta(minutes=minutes, seconds=1),
        battery_soc_start=soc,
        battery_soc_end=min(100.0, max(0.0, soc + (charge * 0.95 - discharge / 0.95) * 10)),
        solar_generated=float(solar),
        home_consumed=float(load),
        grid_imported=float(max(net, 0.0)),
        grid_exported=float(max(-net, 0.0)),
        battery_charged=float(charge),
        battery_discharged=float(discharge),
        start=start,
        buy_price=spot(start) * 1.25 + 0.4,
        sell_price=spot(start),
        cycle_cost_per_kwh=0.0,
        period_minutes=minutes,
    )


def _plan(starts: list[datetime], minutes: int, soc: float) -> dict[str, Any]:
    """The optimizer's plan for `starts` (stored as a schedule)."""
    hours = minutes / 60
    prices = [spot(s) for s in starts]
    inputs = OptimizationInput(
        start=starts[0],
        period_minutes=minutes,
        buy=tuple(p * 1.25 + 0.4 for p in prices),
        sell=tuple(prices),
        load=tuple(load_kw(s.astimezone(starts[0].tzinfo)) * hours for s in starts),
        solar=tuple(solar_kw(s.astimezone(starts[0].tzinfo)) * hours for s in starts),
        battery=BATTERY,
        initial_soc_percent=soc,
    )
    return optimize_battery_schedule(inputs).to_dict()


@functools.cache
def year_store(minutes: int) -> bytes:
    """The store file after a year at `minutes` periods: history, and 7 days of schedules.

    Built with the engine's own stores, so its layout is the one bess writes.
    """
    tz = ZoneInfo(TIME_ZONE)
    rng = np.random.default_rng(11)
    clock = _FixedClock()
    history = HistoricalDataStore(clock, tz)
    for offset in range(HISTORY_DAYS, 0, -1):
        for start in day_period_starts(TODAY - timedelta(days=offset), tz, minutes):
            history.record_event(_event(rng, start, minutes))
    schedules = ScheduleStore(clock, tz)
    published = 13 * 60 // minutes  # tomorrow's prices are out from 13:00
    for offset in range(SCHEDULE_DAYS, 0, -1):
        day = TODAY - timedelta(days=offset)
        starts = day_period_starts(day, tz, minutes)
        tomorrow = day_period_starts(day + timedelta(days=1), tz, minutes)
        eve = starts[0] - timedelta(minutes=5)
        schedules.store_schedule(StoredSchedule(eve, 0, _plan(starts, minutes, 10.0), "tomorrow"))
        for index in range(len(starts)):
            horizon = starts[index:] + (tomorrow if index >= published else [])
            at = starts[index] + timedelta(seconds=1)
            hour = hour_index(starts[index], tz)[1]
            plan = _plan(horizon, minutes, float(rng.uniform(15, 90)))
            schedules.store_schedule(StoredSchedule(at, hour, plan, "hourly"))
    state = {
        "version": str(STORAGE_FORMAT_VERSION),
        "history": history.to_json(),
        "schedules": schedules.to_json(),
    }
    envelope = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": f"{DOMAIN}.{ENTRY_ID}",
        "data": store_data(state, {"auto_control": True}),
    }
    return orjson.dumps(envelope, default=json_encoder_default)


# ---------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One run: the period, how many boundaries, and what the store holds at the start."""

    name: str
    period: str  # the option: "auto" follows the quarter-hour prices
    minutes: int
    boundaries: int
    year_in: bool
    profile: bool = False


DAY_15 = 24 if QUICK else 96
CASES = (
    Case("15 min, a year in", "auto", 15, DAY_15, year_in=True),
    Case("15 min, fresh install", "auto", 15, DAY_15, year_in=False),
    Case("60 min, a year in (reference)", "60", 60, 24, year_in=True),
    Case(
        "15 min, a year in, profiled", "auto", 15, 24 if QUICK else 48, year_in=True, profile=True
    ),
)
RESULTS: dict[str, list[Window]] = {}
PROFILES: dict[str, LoopProfiler] = {}


@pytest.fixture(autouse=True)
def quiet_logs() -> None:
    """Log at Home Assistant's default level (the test harness logs every SQL statement)."""
    for logger in ("", "sqlalchemy", "homeassistant", "custom_components"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # "took 287 s": the frozen clock


@pytest.fixture(autouse=True)
def enable_event_loop_debug(event_loop: asyncio.AbstractEventLoop) -> None:
    """Run the loop as production does: asyncio's debug mode (which the test harness turns on)
    records a traceback for every callback scheduled, many times what the callback costs."""
    event_loop.set_debug(False)


@pytest.fixture
def enable_statistics() -> bool:
    """Compile the recorder's statistics every 5 minutes, as in production."""
    return True


@pytest.mark.freeze_time("2026-11-24 00:00:00+01:00")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_boundary(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    enable_custom_integrations: None,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    case: Case,
) -> None:
    """Run the case's boundaries and keep their windows; the last case prints the table."""
    await hass.config.async_set_time_zone(TIME_ZONE)
    hass.config.currency = "SEK"
    hass.config.config_dir = str(tmp_path)
    tz = ZoneInfo(TIME_ZONE)
    start = datetime.combine(TODAY, datetime.min.time(), tz)
    freezer.move_to(start)
    if case.year_in:
        store = tmp_path / ".storage" / f"{DOMAIN}.{ENTRY_ID}"
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_bytes(year_store(case.minutes))

    await set_up_helpers(hass)
    home = Home(hass)
    home.set_soc(50.0)
    home.publish_meters()
    publish_prices(hass, TODAY, with_tomorrow=True)
    await async_wait_recording_done(hass)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home battery",
        unique_id=SOC,
        entry_id=ENTRY_ID,
        data={CONF_SOC_ENTITY: SOC, CONF_PRICE_ENTITY: PRICE, **METERS},
        options=entry_options(**CONTROL_OPTIONS, **{CONF_PERIOD_MINUTES: case.period}),
    )
    meter = LoopMeter(hass.loop, profile=case.profile)
    with (
        patch.multiple(BessStore, **REAL_STORE_METHODS),
        meter.installed(),
    ):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(hass)
        manager = entry.runtime_data.manager
        assert manager.period_minutes == case.minutes
        assert manager.latest_result is not None

        recorded_before = len(manager.history)
        ticks = case.boundaries * case.minutes // 5
        moment = start
        for _ in range(ticks):
            plan = manager.latest_result
            index = plan.index_at(moment) if plan is not None else None
            plan_kw = plan.periods[index].battery_action_kw if index is not None else 0.0
            freezer.move_to(moment + TICK - timedelta(seconds=2))
            follow_plan(home, plan_kw, moment.astimezone(tz))
            moment += TICK
            if moment.astimezone(tz).time() == datetime.min.time():
                # Nord Pool's day rolls at midnight; tomorrow's come at 13:00.
                publish_prices(hass, moment.astimezone(tz).date(), with_tomorrow=False)
            await hass.async_block_till_done(wait_background_tasks=True)
            await async_wait_recording_done(hass)

            local = moment.astimezone(tz)
            boundary = (local.hour * 60 + local.minute) % case.minutes == 0
            kind = "boundary" if boundary else ("23:55" if local.hour == 23 else "tick")
            schedules = len(manager.schedules.get_all_schedules_today(local.date()))
            meter.open(kind)
            freezer.move_to(moment)
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
            freezer.move_to(moment + SAVE_DELAY)
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
            window = meter.close()
            await async_wait_recording_done(hass)
            if boundary:
                # The boundary re-planned from the real SOC, and the controller is driving.
                assert len(manager.schedules.get_all_schedules_today(local.date())) > schedules
                latest = manager.latest_result
                assert latest is not None
                assert latest.start.astimezone(UTC) == moment.astimezone(UTC)
                window.horizon = len(latest.periods)
                status = hass.states.get("sensor.home_battery_control_status")
                assert status is not None
                assert status.state == "controlling"
        recorded = len(manager.history) - recorded_before
    RESULTS[case.name] = meter.windows
    if meter.profiler is not None:
        PROFILES[case.name] = meter.profiler
    print(
        f"\n{case.name}: {recorded} periods recorded live, "
        f"{len(manager.history)} in the history, "
        f"store file {_size_mb(tmp_path)} MB"
    )
    print_rows([case])
    if case is CASES[-1]:
        print_report()


def _size_mb(tmp_path: Path) -> str:
    """Return the size of the bess store file."""
    path = tmp_path / ".storage" / f"{DOMAIN}.{ENTRY_ID}"
    return f"{path.stat().st_size / 1e6:.1f}" if path.exists() else "-"


# --------------------------------------------------------------------------------- report


def ms(seconds: float) -> float:
    """Return milliseconds."""
    return seconds * 1000.0


def p95(values: list[float]) -> float:
    """Return the 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def print_rows(cases: tuple[Case, ...] | list[Case]) -> tuple[dict[str, float], dict[str, float]]:
    """Print the table's rows of `cases`; return their median loop and solve ms."""
    header = (
        f"{'case':34s} {'n':>3s} {'horizon':>9s} {'median':>7s} {'p95':>7s} {'max':>7s} "
        f"{'longest cb':>10s} {'executor':>9s} {'solve':>7s}"
    )
    print(header)
    print("-" * len(header))
    medians: dict[str, float] = {}
    solves: dict[str, float] = {}
    for case in cases:
        windows = [w for w in RESULTS.get(case.name, []) if w.kind == "boundary"]
        if not windows:
            continue
        loop = [ms(w.loop_s) for w in windows]
        medians[case.name] = statistics.median(loop)
        solves[case.name] = statistics.median(ms(w.solve_s) for w in windows)
        horizons = [w.horizon for w in windows]
        print(
            f"{case.name:34s} {len(windows):3d} {max(horizons):4d}-{min(horizons):<4d} "
            f"{statistics.median(loop):7.1f} {p95(loop):7.1f} {max(loop):7.1f} "
            f"{max(ms(w.longest_s) for w in windows):10.1f} "
            f"{statistics.median(ms(w.executor_s) for w in windows):9.1f} "
            f"{solves[case.name]:7.1f}"
        )
    return medians, solves


def print_report() -> None:
    """Print the table, the ratios and the breakdown."""
    print()
    print("Work at every period boundary: event-loop ms per boundary (target < 50 ms)")
    medians, solves = print_rows(CASES)
    for case in CASES:
        boundaries = [w for w in RESULTS.get(case.name, []) if w.kind == "boundary"]
        if boundaries:
            index, worst = max(enumerate(boundaries), key=lambda item: item[1].loop_s)
            top = sorted(worst.steps.items(), key=lambda item: -item[1])[:3]
            print(
                f"  {case.name}, slowest: boundary {index + 1} of {len(boundaries)}, "
                f"{ms(worst.loop_s):.1f} ms (garbage collection {ms(worst.gc_s):.1f}): "
                + ", ".join(f"{name} {ms(seconds):.1f}" for name, seconds in top)
            )
        others = [w for w in RESULTS.get(case.name, []) if w.kind != "boundary"]
        for kind in ("tick", "23:55"):
            chosen = [ms(w.loop_s) for w in others if w.kind == kind]
            if chosen:
                print(
                    f"  {case.name}, {kind} (not a boundary): median "
                    f"{statistics.median(chosen):.1f} ms, max {max(chosen):.1f} ms"
                )
    headline, reference = CASES[0].name, CASES[2].name
    if headline in medians and reference in medians:
        print(
            f"ratio, median loop ms: {headline} / {reference} = "
            f"{medians[headline] / medians[reference]:.2f}; "
            f"loop / solve = {medians[headline] / max(solves[headline], 1e-9):.2f}"
        )
    for case in CASES[:3]:
        windows = [w for w in RESULTS.get(case.name, []) if w.kind == "boundary"]
        if windows:
            print_steps(case.name, windows)
    for name, stats in PROFILES.items():
        print_profile(name, stats, [w for w in RESULTS[name] if w.kind == "boundary"])


def print_steps(name: str, windows: list[Window]) -> None:
    """Print where a boundary's loop time goes, by step (mean ms per boundary)."""
    n = len(windows)
    totals: dict[str, float] = defaultdict(float)
    for window in windows:
        for step, spent in window.steps.items():
            totals[step] += spent
        totals[OTHER] += window.loop_s - sum(window.steps.values())
    whole = sum(w.loop_s for w in windows)
    print(f"\n{name}: loop time by step, mean ms per boundary (exclusive)")
    for step, spent in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {ms(spent) / n:7.2f}  {100 * spent / whole:5.1f} %  {step}")
    print(f"  {ms(whole) / n:7.2f}  100.0 %  all")


def print_profile(name: str, profiler: LoopProfiler, windows: list[Window]) -> None:
    """Print the top 5 loop functions by own time, and the top 5 of bess by cumulative time."""
    n = max(len(windows), 1)
    per = 1000.0 / n
    table = profiler.functions
    print(f"\n{name}: top 5 functions by own time, ms per boundary (slowed by the profiler)")
    for (path, line, function), cost in sorted(table.items(), key=lambda item: -item[1].own_s)[:5]:
        print(
            f"  {cost.own_s * per:7.2f} own {cost.cumulative_s * per:7.2f} cum "
            f"{cost.calls / n:8.0f} calls  {function} ({_short(path)}:{line})"
        )
    ours = {key: cost for key, cost in table.items() if "custom_components/bess" in key[0]}
    print(f"{name}: top 5 bess functions by cumulative time, ms per boundary")
    for (path, line, function), cost in sorted(
        ours.items(), key=lambda item: -item[1].cumulative_s
    )[:5]:
        print(
            f"  {cost.cumulative_s * per:7.2f} cum {cost.own_s * per:7.2f} own "
            f"{cost.calls / n:8.0f} calls  {function} ({_short(path)}:{line})"
        )


def _short(path: str) -> str:
    """Return the last two parts of a path (a built-in's name as it is)."""
    return "/".join(Path(path).parts[-2:]) if "/" in path else path
