"""Store speed: what saving and loading a year of history cost Home Assistant's event loop.

Run: .venv/bin/python bench/store.py

A year of hourly events (8,760, up to yesterday) and the schedules the store keeps (7 planned
days of a 23:55 plan and 24 hourly re-plans, through tomorrow from 13:00) in one manager.

For each save it times the worst case for the event loop, Home Assistant 2025.12 and newer
(the Store calls the data function and encodes in the loop): the manager's save request
(compaction check and the stores' JSON text) plus the Store's encoding of the data. Half the
saves follow a new event (the history's text is joined again), half a new plan. The old
approach, timed in the same run, is the full `dump_state` plus its encoding, as bess did
before (2025.4 encodes in a worker thread, so there only `dump_state` was in the loop).
It also times the file's write, its size, and the load: what runs in the executor (read,
parse, build the stores) and what is left for the loop.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant.helpers.json import json_encoder_default, save_json
from homeassistant.util.json import load_json

from custom_components.bess.engine.manager import SimpleBatterySystemManager
from custom_components.bess.engine.models import (
    BatterySettings,
    HourlyEvent,
    OptimizationInput,
    OptimizationResult,
    StoredSchedule,
    to_iso,
)
from custom_components.bess.engine.optimizer import optimize_battery_schedule
from custom_components.bess.engine.ports import EncodedState, HourMeasurement, PriceSeries
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.storage import store_data

TZ = ZoneInfo("Europe/Stockholm")
TODAY = date(2026, 11, 24)
HISTORY_DAYS = 365
SCHEDULE_DAYS = 7
SAVES = 48  # a day of hourly runs: a save after the recorded hour, one after the new plan
TARGET_MS = 10.0
BATTERY = BatterySettings(
    capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0, cycle_cost_per_kwh=0.05
)
EXTRA = {"meter_snapshot": {"boundary": "2026-11-24T09:00:00+00:00", "readings_kwh": {}}}


class Clock:
    """A clock the bench sets."""

    def __init__(self, now: datetime) -> None:
        """Start at `now`."""
        self.current = now

    def now(self) -> datetime:
        """Return the set time."""
        return self.current


class Executor:
    """Runs the work inline (the bench times it as executor work)."""

    async def run[T](self, func: Any) -> T:
        """Run `func`."""
        result: T = func()
        return result


class Idle:
    """The ports the bench never uses."""

    async def get_prices(self, period_starts: Any) -> PriceSeries | None:
        """Return nothing."""
        return None

    async def get_solar_forecast(self, period_starts: Any) -> list[float]:
        """Return nothing."""
        return []

    async def get_consumption_forecast(self, period_starts: Any) -> list[float]:
        """Return nothing."""
        return []

    async def get_battery_soc(self) -> float:
        """Return a SOC."""
        return 50.0

    period_minutes = 60

    async def measure_period(self, hour_start: datetime) -> HourMeasurement | None:
        """Return nothing."""
        return None

    async def reconstruct_periods(self, hour_starts: Any) -> dict[datetime, HourMeasurement]:
        """Return nothing."""
        return {}

    async def apply(self, result: OptimizationResult, now: datetime) -> None:
        """Do nothing."""


class Captured:
    """The Persistence port: keeps the last state asked to be saved."""

    def __init__(self) -> None:
        """Start with nothing saved."""
        self.state: EncodedState | None = None

    async def load(self) -> dict[str, Any] | None:
        """Return nothing."""
        return None

    async def save(self, state: EncodedState) -> None:
        """Keep `state`."""
        self.state = state

    def save_soon(self, state: EncodedState) -> None:
        """Keep `state`."""
        self.state = state


def new_manager(
    clock: Clock, persistence: Captured, keep_days: int = 400
) -> SimpleBatterySystemManager:
    """Return a manager on the bench's ports."""
    idle = Idle()
    return SimpleBatterySystemManager(
        energy=idle,
        controller=idle,
        clock=clock,
        persistence=persistence,
        executor=Executor(),
        battery=BATTERY,
        tz=TZ,
        keep_history_days=keep_days,
    )


def hour_event(rng: np.random.Generator, start: datetime, hour: int) -> HourlyEvent:
    """Return a plausible measured hour."""
    local = start.astimezone(TZ)
    solar = max(0.0, 3.0 * np.sin((local.hour - 6) / 14 * np.pi)) * rng.uniform(0.3, 1.0)
    load = rng.uniform(0.3, 2.5)
    charge = rng.uniform(0.0, 2.0) if rng.random() < 0.3 else 0.0
    discharge = rng.uniform(0.0, 2.0) if charge == 0 and rng.random() < 0.4 else 0.0
    net = load - solar + charge - discharge
    return HourlyEvent(
        hour=hour,
        timestamp=start + timedelta(hours=1, seconds=5),
        battery_soc_start=float(rng.uniform(10, 100)),
        battery_soc_end=float(rng.uniform(10, 100)),
        solar_generated=float(solar),
        home_consumed=float(load),
        grid_imported=float(max(net, 0.0)),
        grid_exported=float(max(-net, 0.0)),
        battery_charged=float(charge),
        battery_discharged=float(discharge),
        start=start,
        buy_price=float(rng.uniform(0.2, 3.0)),
        sell_price=float(rng.uniform(0.0, 1.5)),
        cycle_cost_per_kwh=0.05,
        export_limit_kw=None,
    )


def a_year_of_events(rng: np.random.Generator) -> list[HourlyEvent]:
    """Return every hour of the HISTORY_DAYS days before TODAY."""
    events = []
    for offset in range(HISTORY_DAYS, 0, -1):
        day = TODAY - timedelta(days=offset)
        events += [hour_event(rng, s, i) for i, s in enumerate(day_hour_starts(day, TZ))]
    return events[-8760:]


def plan(rng: np.random.Generator, starts: list[datetime]) -> OptimizationResult:
    """Return the optimizer's plan for these hours on random prices."""
    n = len(starts)
    hours = np.array([s.astimezone(TZ).hour for s in starts])
    spot = 0.9 + 0.8 * np.exp(-(((hours - 18) / 2.0) ** 2)) + rng.normal(0, 0.2, n)
    return optimize_battery_schedule(
        OptimizationInput(
            start=starts[0],
            period_minutes=60,
            buy=tuple(float(x) for x in 1.25 * spot + 0.4),
            sell=tuple(float(x) for x in np.clip(spot, 0, None)),
            load=tuple(float(x) for x in rng.uniform(0.3, 2.0, n)),
            solar=tuple(float(x) for x in np.clip(2.5 * np.sin((hours - 6) / 14 * np.pi), 0, None)),
            battery=BATTERY,
            initial_soc_percent=50.0,
        )
    )


def kept_schedules(rng: np.random.Generator) -> list[StoredSchedule]:
    """Return the schedules of the SCHEDULE_DAYS planned days up to today."""
    stored = []
    for offset in range(SCHEDULE_DAYS - 1, -1, -1):
        day = TODAY - timedelta(days=offset)
        starts = day_hour_starts(day, TZ)
        tomorrow = day_hour_starts(day + timedelta(days=1), TZ)
        eve = datetime.combine(day - timedelta(days=1), datetime.min.time(), TZ) + timedelta(
            hours=23, minutes=55
        )
        stored.append(StoredSchedule(eve, 0, plan(rng, starts).to_dict(), "tomorrow"))
        for hour in range(1, len(starts)):
            horizon = starts[hour:] + (tomorrow if hour >= 13 else [])
            at = starts[hour] + timedelta(seconds=5)
            stored.append(StoredSchedule(at, hour, plan(rng, horizon).to_dict(), "hourly"))
    return stored


def old_dump_state(manager: SimpleBatterySystemManager) -> dict[str, Any]:
    """Return `dump_state` as the old bess made it: each event through `asdict`, every save."""
    events = manager.history._events
    old_events = []
    for key in sorted(events):
        data = asdict(events[key])
        data["timestamp"] = to_iso(events[key].timestamp)
        data["start"] = to_iso(events[key].start)
        old_events.append(data)
    return {
        "version": 1,
        "history": {"version": 1, "events": old_events},
        "schedules": manager.schedules.to_dict(),
    }


def envelope(data: Any) -> dict[str, Any]:
    """Return what the Store writes around `data`."""
    return {"version": 1, "minor_version": 1, "key": "bess.bench", "data": data}


def store_encode(data: Any) -> bytes:
    """Encode as Home Assistant's Store does (orjson, indented, its default encoder)."""
    return orjson.dumps(
        envelope(data),
        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
        default=json_encoder_default,
    )


def ms(seconds: float) -> float:
    """Return milliseconds."""
    return seconds * 1000.0


def main() -> None:
    """Build the year, then time saves, the write and the load."""
    rng = np.random.default_rng(7)
    began = time.perf_counter()
    events = a_year_of_events(rng)
    schedules = kept_schedules(rng)
    data = {
        "version": 1,
        "history": {"version": 1, "events": [e.to_dict() for e in events]},
        "schedules": {"version": 1, "schedules": [s.to_dict() for s in schedules]},
    }
    clock = Clock(datetime.combine(TODAY, datetime.min.time(), TZ) + timedelta(hours=10, seconds=5))
    persistence = Captured()
    manager = new_manager(clock, persistence)
    manager.load_state(data)
    periods = sum(len(s.algorithm_result["periods"]) for s in schedules)
    print(
        f"store: {len(manager.history)} hourly events, {len(schedules)} schedules "
        f"({periods} periods) (built in {time.perf_counter() - began:.1f} s)"
    )

    # --- the old approach: the full dump and its encoding, every save -------------------
    old_dump: list[float] = []
    old_total: list[float] = []
    full_dump: list[float] = []
    for _ in range(5):
        t0 = time.perf_counter()
        dumped = {**old_dump_state(manager), **EXTRA}
        t1 = time.perf_counter()
        store_encode(dumped)
        t2 = time.perf_counter()
        store_encode({**manager.dump_state(), **EXTRA})
        t3 = time.perf_counter()
        old_dump.append(t1 - t0)
        old_total.append(t2 - t0)
        full_dump.append(t3 - t2)

    # --- the new one: a save request plus the Store's encoding, in the loop --------------
    requests: list[float] = []
    encodes: list[float] = []
    in_loop: list[float] = []
    today_starts = day_hour_starts(TODAY, TZ)
    written = b""
    for i in range(SAVES):
        hour = 10 + i // 2
        start = today_starts[hour % len(today_starts)] + timedelta(days=hour // 24)
        if i % 2 == 0:
            manager.history.record_event(hour_event(rng, start, hour % 24))
        else:
            result = plan(rng, [start + timedelta(hours=h) for h in range(1, 24)])
            manager.schedules.store_schedule(
                StoredSchedule(start + timedelta(hours=1), hour, result.to_dict(), "hourly")
            )
        t0 = time.perf_counter()
        manager._save_soon()  # the manager's request: compaction check, the stores' text
        state = persistence.state
        assert state is not None
        prepared = store_data(state, EXTRA)

        def data_func(prepared: dict[str, Any] = prepared) -> dict[str, Any]:
            """Return the data built beforehand, as StorePersistence's data function does."""
            return prepared

        t1 = time.perf_counter()
        written = store_encode(data_func())
        t2 = time.perf_counter()
        requests.append(t1 - t0)
        encodes.append(t2 - t1)
        in_loop.append(t2 - t0)

    # --- the write (a worker thread in every release) ------------------------------------
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bess.bench"
        t0 = time.perf_counter()
        save_json(
            str(path), envelope(store_data(manager.encoded_state(), EXTRA)), atomic_writes=True
        )
        write_s = time.perf_counter() - t0
        size = path.stat().st_size

        # --- the load: the file, the stores (executor), their install (loop) -------------
        loads: list[tuple[float, float, float]] = []
        for _ in range(3):
            t0 = time.perf_counter()
            raw = load_json(str(path))
            t1 = time.perf_counter()
            assert isinstance(raw, dict)
            loaded = raw["data"]
            assert isinstance(loaded, dict)
            fresh = new_manager(clock, Captured())
            parsed = fresh._parse_state(loaded)
            t2 = time.perf_counter()
            fresh._install_state(*parsed)
            t3 = time.perf_counter()
            loads.append((t1 - t0, t2 - t1, t3 - t2))
        assert fresh.dump_state() == manager.dump_state()
        read_s, parse_s, install_s = (statistics.median(x) for x in zip(*loads, strict=True))

    # --- a day leaving the kept window: compacted once a day, in the loop ----------------
    keep = new_manager(clock, Captured(), keep_days=HISTORY_DAYS - 1)
    keep.load_state(manager.dump_state())
    compacted = len(keep.history.daily_totals())
    clock.current += timedelta(days=1)
    t0 = time.perf_counter()
    keep._save_soon()
    compact_s = time.perf_counter() - t0
    clock.current -= timedelta(days=1)
    assert len(keep.history.daily_totals()) == compacted + 1

    old_ms = ms(statistics.median(old_total))
    new_ms = ms(statistics.median(in_loop))
    history_mb = len(manager.history.to_json()) / 1e6
    print(f"file: {size / 1e6:.2f} MB (history {history_mb:.2f} MB, the rest schedules)")
    assert len(written) > 0
    print()
    print(f"{'per save, in the event loop':<44} {'median ms':>10} {'max ms':>8}")
    print("-" * 64)
    rows = [
        ("old: dump_state (2025.4: encoded in a thread)", old_dump),
        ("old: dump_state + encode (2025.12 and newer)", old_total),
        ("full dump + encode, today's event to_dict", full_dump),
        ("new: save request (compaction check, text)", requests),
        ("new: data function + Store encode", encodes),
        ("new: total in the loop (2025.12 and newer)", in_loop),
    ]
    for label, values in rows:
        print(f"{label:<44} {ms(statistics.median(values)):>10.2f} {ms(max(values)):>8.2f}")
    print()
    print(f"{'once':<44} {'ms':>10}")
    print("-" * 64)
    print(f"{'write the file (executor)':<44} {ms(write_s):>10.1f}")
    print(f"{'load: read + parse JSON (executor)':<44} {ms(read_s):>10.1f}")
    print(f"{'load: build the stores (executor)':<44} {ms(parse_s):>10.1f}")
    print(f"{'load: install the stores (event loop)':<44} {ms(install_s):>10.2f}")
    print("(the old bess built the stores in the event loop)")
    print(f"{'compact a day leaving the kept window (loop)':<44} {ms(compact_s):>10.2f}")
    print()
    print(
        f"in the loop per save: {new_ms:.2f} ms median, {ms(max(in_loop)):.2f} ms max "
        f"(target <= {TARGET_MS:.0f} ms); {old_ms / new_ms:.0f}x less than the old {old_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
