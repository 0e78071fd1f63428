"""The soak test (issue 13): a week of the demo home under bess, with random faults.

bess runs the demo home (config/custom_components/bess_demo) for BESS_SOAK_DAYS simulated days
(7 by default) in a real Home Assistant with the real recorder on a database that outlives
restarts. A seeded random schedule (BESS_SOAK_SEED) breaks things on the way:

- the SOC sensor shows `unavailable`, nan, 150 or -5 for a while;
- the price sensor shows `unavailable`, or nan (in its state and in the period's price);
- the inverter rejects every command for a while (the demo's select/number/switch raise);
- Home Assistant stops at a random minute and starts again minutes or hours later (the
  recorder's database and the stores are kept; the demo home replays the time it was off);
- a period's trigger is missed: the clock jumps across a period boundary (or two) without
  stopping at it, as when Home Assistant stalls.

The demo publishes quarter-hour prices, so bess runs it in periods of 15 minutes. The demo's
own minute steps make the ground truth: its meters and SOC at every period boundary.
At the end (and on the way) the test asserts:

(a) no period invented: every recorded period is a quarter hour that matches the ground truth
    (flows, SOC, prices), and no period whose start or end fell while Home Assistant was down
    is recorded;
(b) every measurable period recorded: every period whose two edges bess saw live, with a good
    SOC and on time, is in the history by the end;
(c) the store always reloadable: every hour (at half past), before every stop and after
    every start, the stored data loads through the real StorePersistence and the manager's
    `load_state` with nothing dropped, holds exactly what bess has in memory, and nothing
    once recorded has gone or changed;
(d) the inverter is never left on a stale command: at every step the demo inverter runs the
    plan in force for the current period or the safe mode; only while it rejects commands
    (and until the next period boundary after) may it run the command it had before.

It prints, and adds to pytest's terminal summary, the faults it survived, e.g.
"soak: 7 days (seed 13): 14 SOC faults, 11 price faults, 7 rejected-call spans
(... calls), 4 restarts, 4 missed triggers; 625 periods recorded, 0 invented".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
import logging
import math
import os
import random
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import freezegun.api
from freezegun.api import FrozenDateTimeFactory
from homeassistant import loader
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.async_ import get_scheduled_timer_handles
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_test_home_assistant,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.bess.coordinator import BessCoordinator, HassClock, HassExecutor
from custom_components.bess.engine.manager import SimpleBatterySystemManager
from custom_components.bess.engine.models import HourlyEvent, Intent, OptimizationResult
from custom_components.bess.ha.controller import ServiceCommand
from custom_components.bess.ha.energy import STALL_LATENESS, HomeAssistantEnergyData
from custom_components.bess.ha.forecasts import RECORDER_GAP_TOLERANCE
from custom_components.bess.ha.storage import StorePersistence
from custom_components.bess_demo import home as demo_home
from custom_components.bess_demo.bess_entry import PRICING
from custom_components.bess_demo.home import DemoFaults, DemoHome
from custom_components.bess_demo.sim import (
    MODE_FOR_INTENT,
    Flows,
    HomeSettings,
    HomeState,
    InverterCommand,
    spot_price,
)

TZ_NAME = "Europe/Stockholm"
SEED = int(os.environ.get("BESS_SOAK_SEED", "13"))
DAYS = int(os.environ.get("BESS_SOAK_DAYS", "7"))
# A Monday in May: sun to store, a morning and an evening price peak.
FIRST_DAY = date.fromisoformat(os.environ.get("BESS_SOAK_START", "2026-05-18"))

# bess's period in the demo: the quarter hour of its spot prices.
PERIOD = timedelta(minutes=15)
# The unit of the power and SOC rates below, and the soak's settling time at its ends.
HOUR = timedelta(hours=1)
# The recorder compiles its 5-minute statistics 10 s past every fifth minute, only the one
# that ended last. bess rebuilds a period from the statistics ending at its two edges, and
# the hourly statistics take the one ending at the hour: a stop 10 s past every period
# boundary compiles all it reads. (A stop every 5 minutes would compile the two others of
# each quarter hour too, which nothing reads, at some 40 % more of the soak's time.)
COMPILE_OFFSET = timedelta(seconds=10)
# The recorder commits as Home Assistant does by default, every 5 s (the test plugin's 0
# commits every state on its own, a week of disk syncs); the test commits after every stop.
RECORDER_CONFIG = {"commit_interval": 5}
# The demo reads its meters one second before every period boundary; bess reads them at it.
BEFORE_BOUNDARY = timedelta(seconds=1)
# Home Assistant's time triggers fire a fraction of a second after their time, and states
# carry that time: never a whole second.
JITTER = timedelta(milliseconds=250)

# What one reading may differ from the truth: each edge is read within a second of the
# boundary (8 kW of sun for a second is 2.2 Wh) and the meters show tenths of a Wh.
FLOW_TOLERANCE_KWH = 0.005
SOC_TOLERANCE_PERCENT = 0.05
PRICE_TOLERANCE = 1e-6
# A number set-point is rounded to its step (0.01 kW) by bess.
POWER_TOLERANCE_KW = 0.006
# The most any flow of the demo home runs at (8 kW of panels, 5 kW of battery and the
# household's load through the grid), and the battery's fastest SOC change (5 kW, 10 kWh).
MAX_POWER_KW = 14.0
MAX_SOC_PER_HOUR = 50.0

SOC_KEY = "battery_soc"
PRICE_KEY = "spot_price"
REJECTION = "the inverter is busy (soak test fault)"

SOC_FAULT_VALUES: tuple[str | float, ...] = (STATE_UNAVAILABLE, math.nan, 150.0, -5.0)
PRICE_FAULT_VALUES: tuple[str | float, ...] = (STATE_UNAVAILABLE, math.nan)
ENTITY_FIELDS = {
    "select.demo_inverter_work_mode": "work_mode",
    "number.demo_inverter_charge_power": "charge_power_kw",
    "number.demo_inverter_discharge_power": "discharge_power_kw",
    "switch.demo_inverter_grid_charging": "grid_charging",
}
FLOW_FIELDS = (
    ("solar_generated", "solar_kwh"),
    ("home_consumed", "load_kwh"),
    ("grid_imported", "grid_import_kwh"),
    ("grid_exported", "grid_export_kwh"),
    ("battery_charged", "battery_charge_kwh"),
    ("battery_discharged", "battery_discharge_kwh"),
)


class Kind(StrEnum):
    """The faults of the soak."""

    SOC = "SOC"
    PRICE = "price"
    REJECT = "rejected calls"
    RESTART = "restart"
    MISSED = "missed trigger"


# Faults per simulated day (at least one of each kind in any run).
RATES = {Kind.SOC: 2.0, Kind.PRICE: 1.5, Kind.REJECT: 1.0, Kind.RESTART: 0.6, Kind.MISSED: 0.6}


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault from `start` to `end`: a bad reading, rejected calls, downtime or a jump."""

    kind: Kind
    start: datetime
    end: datetime
    value: str | float | None = None

    def holds(self, moment: datetime, margin: timedelta = timedelta()) -> bool:
        """Return whether `moment` is within the fault (widened by `margin`)."""
        return self.start - margin <= moment <= self.end + margin


def _period_floor(moment: datetime) -> datetime:
    """Return the start of the period of `moment` in UTC (local periods are UTC ones here)."""
    utc = moment.astimezone(UTC)
    step = int(PERIOD.total_seconds()) // 60
    return utc.replace(minute=utc.minute - utc.minute % step, second=0, microsecond=0)


def fault_schedule(seed: int, first: datetime, last: datetime) -> list[Fault]:
    """Return the seeded random faults between `first` and `last` (UTC), in time order.

    Sensor faults may overlap anything; a restart and a missed trigger (both move the clock)
    keep 15 minutes from each other, and rejected calls hold over a boundary that neither
    hides, so the inverter has commands to reject.
    """
    rng = random.Random(seed)
    days = (last - first) / timedelta(days=1)
    begin = first + 2 * HOUR
    span_minutes = int((last - HOUR - begin).total_seconds() // 60)

    def moment() -> datetime:
        return begin + timedelta(minutes=rng.randrange(span_minutes), seconds=30)

    def minutes(short: tuple[int, int], long: tuple[int, int], p_long: float) -> timedelta:
        low, high = long if rng.random() < p_long else short
        return timedelta(minutes=rng.randint(low, high))

    clock_faults: list[Fault] = []

    def free(start: datetime, end: datetime) -> bool:
        margin = timedelta(minutes=15)
        return all(end + margin < f.start or f.end + margin < start for f in clock_faults)

    wanted = {
        Kind.RESTART: max(1, round(RATES[Kind.RESTART] * days)),
        Kind.MISSED: max(1, round(RATES[Kind.MISSED] * days)),
    }
    for kind, count in wanted.items():
        made = tries = 0
        while made < count and tries < 1000:
            tries += 1
            if kind is Kind.RESTART:
                start = moment()
                if rng.random() < 0.5:
                    # Down across a period boundary: neither period has its edge seen live.
                    start = _period_floor(start) + PERIOD - timedelta(minutes=rng.randint(1, 5))
                end = start + minutes((1, 10), (30, 240), 0.4)
            else:
                # Jump from a few minutes before a boundary to minutes after it (or after the
                # next one: a whole trigger never fires), short of the boundary after.
                boundary = _period_floor(moment()) + PERIOD
                start = boundary - timedelta(minutes=rng.randint(1, 9), seconds=30)
                skipped = PERIOD if rng.random() < 0.25 else timedelta()
                end = boundary + skipped + timedelta(minutes=rng.randint(1, 13), seconds=30)
            if end < last - HOUR and free(start, end):
                clock_faults.append(Fault(kind, start, end))
                made += 1

    faults: list[Fault] = []
    for _ in range(max(1, round(RATES[Kind.SOC] * days))):
        start = moment()
        value = rng.choice(SOC_FAULT_VALUES)
        faults.append(Fault(Kind.SOC, start, start + minutes((2, 20), (20, 150), 0.4), value))
    for _ in range(max(1, round(RATES[Kind.PRICE] * days))):
        start = moment()
        value = rng.choice(PRICE_FAULT_VALUES)
        faults.append(Fault(Kind.PRICE, start, start + minutes((2, 20), (20, 150), 0.4), value))
    made = tries = 0
    while made < max(1, round(RATES[Kind.REJECT] * days)) and tries < 1000:
        tries += 1
        # Over a period boundary that Home Assistant sees, where bess commands the inverter.
        boundary = _period_floor(moment()) + PERIOD
        start = boundary - timedelta(minutes=rng.randint(1, 40), seconds=30)
        end = boundary + minutes((1, 20), (20, 120), 0.5)
        if end < last - HOUR and free(boundary, boundary):
            faults.append(Fault(Kind.REJECT, start, end))
            made += 1
    return sorted(faults + clock_faults, key=lambda f: (f.start, f.kind))


def step_times(first: datetime, last: datetime, faults: list[Fault]) -> list[datetime]:
    """Return every moment the clock stops at: as a running Home Assistant would fire.

    A second before every period boundary, at it and 10 s past it (when the recorder
    compiles), and where a fault starts or ends; none while Home Assistant is down or while
    the clock jumps over a missed trigger.
    """
    stops: set[datetime] = set()
    boundary = _period_floor(first)
    while boundary <= last:
        stops |= {boundary - BEFORE_BOUNDARY, boundary, boundary + COMPILE_OFFSET}
        boundary += PERIOD
    for fault in faults:
        stops |= {fault.start, fault.end}
    for fault in faults:
        if fault.kind in (Kind.RESTART, Kind.MISSED):
            stops = {s for s in stops if not fault.start < s < fault.end}
    return sorted(s + JITTER for s in stops if first <= s <= last)


class Truth:
    """The demo home's meters and SOC at every period boundary, as its simulation passed it."""

    def __init__(self) -> None:
        """Start with no boundary seen."""
        self.at: dict[datetime, tuple[Flows, float]] = {}

    def recording(
        self, advance: Callable[..., HomeState]
    ) -> Callable[[HomeSettings, HomeState, InverterCommand, datetime, tzinfo], HomeState]:
        """Return `advance` that also notes the home at each period boundary it crosses.

        The home steps minute by minute on whole minutes, so stopping at a boundary changes
        nothing in what it simulates.
        """

        def wrapped(
            settings: HomeSettings,
            state: HomeState,
            command: InverterCommand,
            until: datetime,
            tz: tzinfo,
        ) -> HomeState:
            current = state
            if state.time == _period_floor(state.time):  # the home started at a boundary
                self.at.setdefault(state.time, (state.meters, state.soc_percent(settings)))
            boundary = _period_floor(state.time) + PERIOD
            while boundary <= until:
                current = advance(settings, current, command, boundary, tz)
                self.at[boundary] = (current.meters, current.soc_percent(settings))
                boundary += PERIOD
            if current.time >= until:
                return current
            return advance(settings, current, command, until, tz)

        return wrapped

    def problems(self, event: HourlyEvent, stale: timedelta = timedelta()) -> list[str]:
        """Return how a recorded period differs from what happened (empty: it is a fact).

        `stale`: how old a reading at an edge may be (bess's tolerance of a quick restart
        over the edge); the flows may then be off by that long at full power.
        """
        start = event.start.astimezone(UTC)
        if timedelta(minutes=event.period_minutes) != PERIOD or start != _period_floor(start):
            return [f"a period of {event.period_minutes} minutes from {start}, not a quarter hour"]
        before, after = self.at.get(start), self.at.get(start + PERIOD)
        if before is None or after is None:
            return ["the home never passed this period"]
        found = [f"recorded at {event.timestamp.astimezone(UTC):%a %H:%M:%S}"]
        stale_hours = stale / HOUR
        flow_tolerance = FLOW_TOLERANCE_KWH + MAX_POWER_KW * stale_hours
        soc_tolerance = SOC_TOLERANCE_PERCENT + MAX_SOC_PER_HOUR * stale_hours
        for name, meter in FLOW_FIELDS:
            true_kwh = getattr(after[0], meter) - getattr(before[0], meter)
            if abs(getattr(event, name) - true_kwh) > flow_tolerance:
                found.append(f"{name} {getattr(event, name):.4f} != {true_kwh:.4f} kWh")
        for name, true_soc in (("battery_soc_start", before[1]), ("battery_soc_end", after[1])):
            if abs(getattr(event, name) - true_soc) > soc_tolerance:
                found.append(f"{name} {getattr(event, name):.2f} != {true_soc:.2f} %")
        local = event.start.astimezone(ZoneInfo(TZ_NAME))
        spot = spot_price(local.date(), local.hour, local.minute)
        buy = (spot * PRICING["price_multiplier"] + PRICING["price_markup"]) * PRICING[
            "price_vat_factor"
        ] + PRICING["price_fixed_fee"]
        sell = spot * PRICING["export_multiplier"] + PRICING["export_compensation"]
        for name, price in (("buy_price", buy), ("sell_price", sell)):
            if abs(getattr(event, name) - price) > PRICE_TOLERANCE:
                found.append(f"{name} {getattr(event, name)} != {price}")
        return found if len(found) > 1 else []


@dataclass
class Soak:
    """What the run saw, for the assertions and the summary."""

    faults: list[Fault]
    down: list[Fault] = field(default_factory=list)
    inverter_checks: int = 0
    store_checks: int = 0
    stale: list[str] = field(default_factory=list)
    store_problems: list[str] = field(default_factory=list)
    # Every period ever seen recorded, as first seen: it may never change or go.
    seen: dict[datetime, dict[str, Any]] = field(default_factory=dict)

    def count(self, kind: Kind) -> int:
        """Return how many faults of `kind` the schedule holds."""
        return sum(1 for fault in self.faults if fault.kind is kind)


def _copy(entry: ConfigEntry) -> MockConfigEntry:
    """Return the entry as Home Assistant loads it again from .storage at the next start."""
    return MockConfigEntry(
        domain=entry.domain,
        entry_id=entry.entry_id,
        title=entry.title,
        data=dict(entry.data),
        options=dict(entry.options),
        unique_id=entry.unique_id,
        version=entry.version,
        minor_version=entry.minor_version,
        source=entry.source,
    )


class HomeAssistantRun:
    """One run of Home Assistant, from its start to its stop, on the kept database."""

    def __init__(self, async_test_recorder: Any) -> None:
        """Start nothing yet."""
        self._async_test_recorder = async_test_recorder
        self._stack = AsyncExitStack()
        self.hass: HomeAssistant | None = None

    async def start(self, entries: list[ConfigEntry]) -> HomeAssistant:
        """Start Home Assistant with the recorder, the demo home and bess (new or `entries`)."""
        self._stack = AsyncExitStack()
        hass: HomeAssistant = await self._stack.enter_async_context(async_test_home_assistant())
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # load bess and bess_demo
        await hass.config.async_set_time_zone(TZ_NAME)
        hass.config.latitude, hass.config.longitude = 55.6, 13.0
        await self._stack.enter_async_context(self._async_test_recorder(hass, RECORDER_CONFIG))
        if entries:
            for entry in entries:
                _copy(entry).add_to_hass(hass)
            assert await async_setup_component(hass, "bess_demo", {})
            assert await async_setup_component(hass, "bess", {})
        else:
            # The first start, as scripts/develop's: the demo adds bess through its flow.
            assert await async_setup_component(
                hass, "bess_demo", {"bess_demo": {"initial_soc_percent": 30}}
            )
        await hass.async_block_till_done(wait_background_tasks=True)
        self.hass = hass
        return hass

    async def stop(self) -> list[ConfigEntry]:
        """Stop Home Assistant as a shutdown does; return its config entries.

        A shutdown unloads no config entry: what is not saved by then is lost. The process
        then ends, and with it every timer still scheduled (here they would go on firing in
        the next run, on the same event loop).
        """
        hass = self.hass
        assert hass is not None
        entries = [*_entries(hass, "bess_demo"), *_entries(hass, "bess")]
        await hass.async_stop()
        await self._stack.aclose()
        for handle in get_scheduled_timer_handles(hass.loop):
            handle.cancel()
        self.hass = None
        return entries


def _entries(hass: HomeAssistant, domain: str) -> list[ConfigEntry]:
    """Return the config entries of a domain."""
    return list(hass.config_entries.async_entries(domain))


def _home(hass: HomeAssistant) -> DemoHome:
    """Return the demo home."""
    home: DemoHome = _entries(hass, "bess_demo")[0].runtime_data
    return home


def _coordinator(hass: HomeAssistant) -> BessCoordinator:
    """Return bess's coordinator."""
    coordinator: BessCoordinator = _entries(hass, "bess")[0].runtime_data
    return coordinator


def _shows(command: InverterCommand, service: ServiceCommand) -> bool:
    """Return whether the demo inverter does what one of bess's service calls sets."""
    if service.entity_id not in ENTITY_FIELDS:
        return True
    value: object = getattr(command, ENTITY_FIELDS[service.entity_id])
    if isinstance(value, bool):
        return ("on" if value else "off") == service.expected
    if isinstance(value, str):
        return value == service.expected
    assert isinstance(service.expected, float)
    assert isinstance(value, int | float)
    return abs(value - service.expected) <= POWER_TOLERANCE_KW


def _plan_command(plan: OptimizationResult, now: datetime) -> InverterCommand | None:
    """Return what the demo inverter runs for the plan's period at `now` (the demo's mapping)."""
    index = plan.index_at(now)
    if index is None:
        return None
    period = plan.periods[index]
    return InverterCommand(
        work_mode=MODE_FOR_INTENT[period.intent.value],
        charge_power_kw=max(period.battery_action_kw, 0.0),
        discharge_power_kw=max(-period.battery_action_kw, 0.0),
        grid_charging=period.intent is Intent.GRID_CHARGING,
    )


def _same_command(a: InverterCommand, b: InverterCommand) -> bool:
    """Return whether two inverter commands agree (power set-points to their step)."""
    return (
        a.work_mode is b.work_mode
        and a.grid_charging == b.grid_charging
        and abs(a.charge_power_kw - b.charge_power_kw) <= POWER_TOLERANCE_KW
        and abs(a.discharge_power_kw - b.discharge_power_kw) <= POWER_TOLERANCE_KW
    )


def check_inverter(hass: HomeAssistant, soak: Soak, now: datetime) -> None:
    """(d) The demo inverter runs the current period of the plan in force, or the safe mode.

    While it rejects commands, and until the first period boundary after, it may run what
    it ran before.
    """
    soak.inverter_checks += 1
    coordinator = _coordinator(hass)
    command = _home(hass).command
    plan = coordinator.manager.plan_in_force(now)
    expected = _plan_command(plan, now) if plan is not None else None
    if expected is not None and _same_command(command, expected):
        return
    safe = coordinator.controller.safe_commands()
    if safe and all(_shows(command, service) for service in safe):
        return
    period_start = _period_floor(now)
    if any(
        fault.kind is Kind.REJECT and fault.start <= now and period_start < fault.end
        for fault in soak.faults
    ):
        return
    soak.stale.append(
        f"{now.isoformat()}: inverter runs {command}, plan in force says {expected} "
        f"(status {coordinator.controller.status}, error {coordinator.controller.last_error})"
    )


def _probe(hass: HomeAssistant, manager: SimpleBatterySystemManager) -> SimpleBatterySystemManager:
    """Return a manager of its own to load stored data into (bess's own is left alone).

    Its energy data is its own too: a manager sets its period on its energy data.
    """
    coordinator = _coordinator(hass)
    return SimpleBatterySystemManager(
        energy=HomeAssistantEnergyData(hass, coordinator.energy.config),
        controller=coordinator.controller,
        clock=HassClock(),
        persistence=coordinator.persistence,  # never used: nothing is saved
        executor=HassExecutor(hass),
        battery=manager.battery,
        tz=ZoneInfo(TZ_NAME),
        period_minutes=manager.period_minutes,
    )


def _events(manager: SimpleBatterySystemManager) -> dict[datetime, HourlyEvent]:
    """Return every recorded period of the soak's days by UTC start."""
    return {
        event.start.astimezone(UTC): event
        for day in range(-1, DAYS + 1)
        for event in manager.history.get_day_events(FIRST_DAY + timedelta(days=day))
    }


def check_kept(soak: Soak, manager: SimpleBatterySystemManager, when: str) -> None:
    """No period once recorded has gone or changed (a recorded period is a fact for good)."""
    events = {start: event.to_dict() for start, event in _events(manager).items()}
    for start, first_seen in soak.seen.items():
        if events.get(start) != first_seen:
            soak.store_problems.append(f"{when}: the period of {start} changed or went")
    for start, item in events.items():
        soak.seen.setdefault(start, item)


def check_loaded(
    soak: Soak, probe: SimpleBatterySystemManager, data: Any, live: dict[str, Any], when: str
) -> None:
    """(c) `data` loads in full into `probe` and holds `live` (bess's dumped state)."""
    soak.store_checks += 1
    try:
        assert data is not None, "nothing stored"
        dropped = probe.load_state(data)
    except Exception as err:  # any failure to load is the finding
        soak.store_problems.append(f"{when}: the store does not load: {err!r}")
        return
    if dropped:
        soak.store_problems.append(f"{when}: loading dropped {dropped}")
    stored = probe.dump_state()
    for part in ("history", "schedules"):
        if stored[part] != live[part]:
            soak.store_problems.append(f"{when}: the stored {part} is not bess's")


async def check_store(hass: HomeAssistant, soak: Soak, when: str) -> None:
    """(c) What is stored loads through the real StorePersistence and is what bess holds.

    Called long enough after bess's last change for its delayed save to have been written.
    """
    manager = _coordinator(hass).manager
    try:
        data = await StorePersistence(hass, _coordinator(hass).config_entry.entry_id).load()
    except Exception as err:  # any failure to load is the finding
        soak.store_problems.append(f"{when}: the store does not load: {err!r}")
        return
    check_loaded(soak, _probe(hass, manager), data, manager.dump_state(), when)
    check_kept(soak, manager, when)


def _measurable_periods(first: datetime, last: datetime, faults: list[Fault]) -> list[datetime]:
    """Return the periods bess must have recorded: both edges seen live, good and on time."""
    margin = timedelta(minutes=2)

    def good_edge(boundary: datetime) -> bool:
        for fault in faults:
            if fault.kind in (Kind.RESTART, Kind.MISSED) and fault.holds(boundary, margin):
                return False
            if fault.kind is Kind.SOC and fault.holds(boundary, margin):
                return False
        return True

    periods = []
    start = _period_floor(first) + PERIOD
    while start + PERIOD <= last:
        if good_edge(start) and good_edge(start + PERIOD):
            periods.append(start)
        start += PERIOD
    return periods


def _down_periods(faults: list[Fault]) -> tuple[set[datetime], dict[datetime, timedelta]]:
    """Return the periods with an edge while Home Assistant was down: they are no facts.

    Except after a restart within bess's tolerance of a recorder gap: those periods it may
    rebuild, with readings at the edge as old as the gap (returned with that age). An edge
    that Home Assistant was back for within STALL_LATENESS is read live, on time.
    """
    down: set[datetime] = set()
    quick: dict[datetime, timedelta] = {}
    for fault in faults:
        if fault.kind is not Kind.RESTART:
            continue
        gap = fault.end - fault.start
        boundary = _period_floor(fault.start) + PERIOD
        while boundary < fault.end + JITTER:
            back_after = fault.end + JITTER - boundary
            for period in (boundary - PERIOD, boundary):
                if gap <= RECORDER_GAP_TOLERANCE:
                    quick[period] = max(quick.get(period, timedelta()), gap)
                elif back_after > STALL_LATENESS + timedelta(seconds=1):
                    down.add(period)
            boundary += PERIOD
    return down, quick


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """Leave the event loop out of debug mode, which the test plugin turns on.

    In debug mode every future keeps the stack it was made from: some 10 % of a week's time
    here, to look for mistakes the other tests look for. Home Assistant's own checks of the
    thread a call comes from stay on.
    """


@pytest.fixture
def soak_faults() -> DemoFaults:
    """The faults the demo home shows, kept across restarts."""
    return DemoFaults()


@pytest.fixture
def quiet_database() -> Iterator[None]:
    """Do not log every SQL statement of a week (the test plugin logs them all)."""
    engine = logging.getLogger("sqlalchemy.engine")
    level = engine.level
    engine.setLevel(logging.WARNING)
    yield
    engine.setLevel(level)


@pytest.mark.parametrize("persistent_database", [True])
@pytest.mark.parametrize("enable_statistics", [True])
@pytest.mark.parametrize("enable_missing_statistics", [True])
async def test_a_week_of_faults_loses_and_invents_nothing(
    async_test_recorder: Any,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    soak_faults: DemoFaults,
    quiet_database: None,
    record_property: Callable[[str, object], None],
) -> None:
    """Seven days of random faults: no period invented or lost, store and inverter sound."""
    tz = ZoneInfo(TZ_NAME)
    first = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=tz).astimezone(
        UTC
    ) - timedelta(minutes=30)
    last = datetime.combine(
        FIRST_DAY + timedelta(days=DAYS), datetime.min.time(), tzinfo=tz
    ).astimezone(UTC).replace(minute=0) + timedelta(minutes=10)
    faults = fault_schedule(SEED, first, last)
    soak = Soak(faults)
    truth = Truth()
    stops = step_times(first, last, faults)
    stopping = {f.start + JITTER for f in faults if f.kind is Kind.RESTART}
    starting = {f.end + JITTER for f in faults if f.kind is Kind.RESTART}
    sensor_faults = [f for f in faults if f.kind in (Kind.SOC, Kind.PRICE, Kind.REJECT)]
    rejected_calls = 0
    real_command = DemoHome.async_command

    def counting_command(home: DemoHome, **changes: Any) -> None:
        nonlocal rejected_calls
        if home.faults.rejected_commands is not None:
            rejected_calls += 1
        real_command(home, **changes)

    def apply_faults(now: datetime) -> bool:
        """Show the faults that hold at `now`; return whether anything changed."""
        before = (dict(soak_faults.readings), soak_faults.rejected_commands)
        readings: dict[str, str | float] = {}
        rejected: str | None = None
        for fault in sensor_faults:  # in start order: the latest fault of a sensor shows
            if not fault.start <= now < fault.end:
                continue
            if fault.kind is Kind.REJECT:
                rejected = REJECTION
            else:
                assert fault.value is not None
                readings[SOC_KEY if fault.kind is Kind.SOC else PRICE_KEY] = fault.value
        soak_faults.readings = readings
        soak_faults.rejected_commands = rejected
        return before != (readings, rejected)

    began = freezegun.api.real_monotonic()  # the wall clock: the frozen one stands still
    run = HomeAssistantRun(async_test_recorder)
    with (
        patch.object(demo_home, "advance", truth.recording(demo_home.advance)),
        patch.object(demo_home, "DemoFaults", return_value=soak_faults),
        patch.object(DemoHome, "async_command", counting_command),
    ):
        freezer.move_to(first)
        hass: HomeAssistant | None = await run.start([])
        entries: list[ConfigEntry] = []
        for now in stops:
            freezer.move_to(now)
            changed = apply_faults(now)
            if hass is None:
                if now not in starting:
                    continue
                hass = await run.start(entries)
                # Everything recorded before the stop came back.
                check_kept(soak, _coordinator(hass).manager, f"after the start at {now}")
            elif changed:
                # Show the faults now; the home itself moves on with the clock's tick.
                home = _home(hass)
                home.async_advance(home.state.time)
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
            # Whatever bess asks the recorder next sees every state written so far.
            await async_wait_recording_done(hass)
            check_inverter(hass, soak, now)
            if (now.minute, now.second) == (30, 10) and now not in starting:  # saves written
                await check_store(hass, soak, f"at {now}")
            if now in stopping:
                manager = _coordinator(hass).manager
                probe, live = _probe(hass, manager), manager.dump_state()
                entry_id = _coordinator(hass).config_entry.entry_id
                entries = await run.stop()
                hass = None
                # The stop wrote what bess held (a delayed save by the final write).
                stored = hass_storage.get(f"bess.{entry_id}", {})
                check_loaded(soak, probe, stored.get("data"), live, f"at the stop at {now}")
        assert hass is not None
        await check_store(hass, soak, "at the end")
        events = _events(_coordinator(hass).manager)
        await run.stop()
    seconds = freezegun.api.real_monotonic() - began

    # (a) No period invented.
    down, quick = _down_periods(faults)
    invented = {
        start: problems
        for start, event in events.items()
        if (problems := truth.problems(event, quick.get(start, timedelta())))
    }
    down_recorded = sorted(set(events) & down)
    # (b) Every measurable period recorded.
    measurable = _measurable_periods(first, last, faults)
    lost = [start for start in measurable if start not in events]

    summary = (
        f"soak: {DAYS} days (seed {SEED}): {soak.count(Kind.SOC)} SOC faults, "
        f"{soak.count(Kind.PRICE)} price faults, {soak.count(Kind.REJECT)} rejected-call "
        f"spans ({rejected_calls} calls rejected), {soak.count(Kind.RESTART)} restarts, "
        f"{soak.count(Kind.MISSED)} missed triggers; {len(events)} periods recorded "
        f"({len(measurable)} required), {len(invented) + len(down_recorded)} invented, "
        f"{len(lost)} lost; {soak.store_checks} store reloads, {soak.inverter_checks} "
        f"inverter checks, {len(soak.stale)} stale; {seconds:.0f} s"
    )
    print(f"\n{summary}")
    for fault in faults:
        print(
            f"  {fault.kind:15} {fault.start:%a %H:%M:%S} - {fault.end:%a %H:%M:%S} {fault.value}"
        )
    record_property("soak_summary", summary)

    assert not invented, f"periods that did not happen so: {invented}"
    assert not down_recorded, f"periods recorded across downtime: {down_recorded}"
    assert not lost, f"measurable periods never recorded: {lost}"
    assert not soak.store_problems, soak.store_problems
    assert not soak.stale, soak.stale[:10]
    # The run was a soak: most periods measured, every kind of fault met.
    assert len(events) >= len(measurable) > DAYS * (timedelta(days=1) / PERIOD) * 0.6
    assert rejected_calls > 0
