"""Closed loop: the manager lives through a sequence of days, and the money it makes is counted.

Run:
    .venv/bin/python bench/closed_loop.py [FILE]            the three policies (default FILE:
                                                            bench/data/nordic_14d_15min.json)
    .venv/bin/python bench/closed_loop.py FILE --noise 1 0.1 0.2
                                                            the same, with forecast errors
    .venv/bin/python bench/closed_loop.py --terminal-rules  candidate end-of-horizon values
    .venv/bin/python bench/closed_loop.py --reference       the policies planned by the bench
                                                            itself (no manager): a check
    .venv/bin/python bench/closed_loop.py --generate OUT [--seed N --first-day D --days N]
    .venv/bin/python bench/closed_loop.py bench/data/nordic_winter_31d_15min.json --capacity ellevio
                                                            a winter month with a capacity
                                                            tariff (a preset of
                                                            engine/capacity.py): fee and energy
                                                            cost without a battery, with bess
                                                            on energy prices only, with bess
                                                            planning for the tariff, and the
                                                            month's hindsight optimum with it

What it does. The real `SimpleBatterySystemManager` runs with fake ports (below, in one
place) and no Home Assistant. A fake clock moves from period to period. At each boundary where
the manager would be triggered, its scenario 2 (`update_hourly_schedule`) is called: every hour
for an hourly policy, every period for one at the market's resolution; scenario 1
(`create_tomorrows_schedule`) runs at 23:55. Tomorrow's prices become known at 13:00 local the
day before (as Nord Pool's day-ahead auction). Between calls, the battery carries out the
applied plan: the inverter keeps the mode (the plan's intent) and power of the last command it
took, so an hourly plan's power is held for the whole hour while load and solar vary inside it;
load support covers only the real load and solar storage takes only real surplus sun, as
inverter modes do; the battery stays within its SOC window, and the meters record the TRUE
flows. The money is always counted per market period
with the true prices, load and solar, by the one cost model (`engine/cost.py`, through
`build_result`).

Policies (manager configurations):
    1. day-bounded hourly       period 60, horizon to local midnight, terminal value 0: bess
                                 before issue 10 (15-minute prices averaged to the hour);
    2. day-bounded, market      period of the file, horizon to midnight, terminal value 0;
    3. bess now                 period of the file, the horizon runs through tomorrow once its
                                 prices are known, terminal value derived from the prices
                                 (`engine/terminal.py`).
A configuration the manager does not support yet is printed as "not available yet".

Hindsight optimum and the end of the file. The file's last day is the look-ahead day: the
policies live through the days before it and see it only as "tomorrow" (published at 13:00
the day before, as every other day), so every scored day has a real tomorrow. Energy carried
into the last day is worth what it earns there with perfect knowledge,
W(E) = best savings of the last day from E − best savings of the last day from the minimum SOC,
one function for every policy and for hindsight; no per-kWh guess decides the comparison (a
fixed end value favours the terminal rule closest to it). The hindsight optimum is
`optimize_battery_schedule` over the whole file at the market's resolution with perfect
knowledge, from the same start SOC, on the same footing:

    capture = (realized savings before the last day + W(E_end))
              / (whole-file optimum − best savings of the last day from the minimum SOC)

A policy cannot beat 100 %: its run followed by the best last day is one plan of the whole file.

Terminal rules (`--terminal-rules`). Policies 2 and 3 with every candidate end-of-horizon value
(RULES, applied by the optimizer hook to each horizon's prices) on the given file and three
generated sequences (OTHER_SEQUENCES); add `--noise` to judge them with forecast errors. The
bench chose the rule in `engine/terminal.py` (min buy × η_c·η_d): see its docstring.

Forecast noise (`--noise SEED LOAD SOLAR`). Each market period's forecast is the truth times
(1 + e), clipped at 0, with e normal of standard deviation LOAD (or SOLAR), correlated from
one period to the next with ρ = exp(−period/1 h) (forecast errors persist for hours). One
draw per run: every re-plan sees the same forecast of a period, and every policy the same
errors. Prices are always exact (they are published).

File format (JSON; prices in currency/kWh, final: fees and VAT included; energies in kWh per
period):
    {
      "description": "free text",                      optional
      "currency": "SEK",                               optional, for printing
      "timezone": "Europe/Stockholm",                  IANA zone; optional when every start
                                                       has the same UTC offset
      "battery": {"capacity_kwh": 10, "max_charge_kw": 5, "max_discharge_kw": 5,
                  ... any other BatterySettings field (min_soc_percent, charge_efficiency,
                  cycle_cost_per_kwh, grid_charging, export_limit_kw ...),
                  "initial_soc_percent": 10},          optional, default min_soc_percent
      "periods": [
        {"start": "2026-03-23T00:00:00+01:00", "buy": 1.02, "sell": 0.31,
         "load": 0.21, "solar": 0.0},
        ...
      ]
    }
Periods are consecutive, of one length that divides 60 minutes, each start an ISO 8601 time
with its UTC offset (the doubled hour of an autumn DST day is told apart by it). Other keys in a
period are ignored; unknown keys elsewhere are refused (a misspelt battery setting must not pass
silently). The run covers the whole local days in the file; periods before the first local
midnight or after the last are left out (and said so).

The shipped file `data/nordic_14d_15min.json` is made by `--generate` with its defaults (seed
10, 14 days from 2026-03-23 in Europe/Stockholm): it holds the spring DST day of 92 periods and
three days with negative spot (and sell) prices; see `generate_days` for the model.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
import itertools
import json
import math
from pathlib import Path
import sys
import time
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.bess.engine.capacity import (
    PRESETS,
    CapacityTariff,
    fee,
    month_peaks,
    plan_with_capacity,
)
from custom_components.bess.engine.hindsight import HindsightReport
from custom_components.bess.engine.manager import SimpleBatterySystemManager
from custom_components.bess.engine.models import (
    BatterySettings,
    Intent,
    OptimizationInput,
    OptimizationResult,
    is_soc,
)
from custom_components.bess.engine.optimizer import build_result, optimize_battery_schedule
from custom_components.bess.engine.ports import HourMeasurement, PriceSeries
from custom_components.bess.engine.timeutil import local_midnight

type FloatArray = NDArray[np.float64]
type TerminalRule = Callable[[Sequence[float], Sequence[float], BatterySettings], float]

SHIPPED = Path(__file__).resolve().parent / "data" / "nordic_14d_15min.json"
PUBLISH_HOUR = 13  # tomorrow's day-ahead prices are known from 13:00 local
EVENING = timedelta(minutes=5)  # scenario 1 runs 5 minutes before local midnight
NOISE_CORRELATION_HOURS = 1.0

_TOP_KEYS = {"description", "currency", "timezone", "battery", "periods", "generator"}
_PERIOD_KEYS = ("start", "buy", "sell", "load", "solar")
_BATTERY_KEYS = {f.name for f in fields(BatterySettings)} | {"initial_soc_percent"}


# ------------------------------------------------------------------------------- the data


class SequenceError(ValueError):
    """The file is not a sequence of periods the bench can run."""


@dataclass(frozen=True, eq=False)
class Days:
    """A validated sequence of whole local days at one period length (the market's)."""

    description: str
    currency: str
    tz: tzinfo
    period_minutes: int
    starts: tuple[datetime, ...]  # aware, in `tz`
    buy: FloatArray
    sell: FloatArray
    load: FloatArray
    solar: FloatArray
    battery: BatterySettings
    initial_soc_percent: float
    trimmed: int = 0  # periods left out before the first / after the last local midnight

    @property
    def n(self) -> int:
        """Return the number of periods."""
        return len(self.starts)

    @property
    def dates(self) -> list[date]:
        """Return the local days, in order."""
        return sorted({s.date() for s in self.starts})

    @property
    def scored(self) -> int:
        """Return the number of periods the policies live through: all before the last day."""
        last = self.dates[-1]
        return next(i for i, s in enumerate(self.starts) if s.date() == last)

    def truth(
        self, first: int = 0, stop: int | None = None, soc: float | None = None
    ) -> OptimizationInput:
        """Return periods [first, stop) as one optimization input with perfect knowledge."""
        part = slice(first, stop)
        return OptimizationInput(
            start=self.starts[first],
            period_minutes=self.period_minutes,
            buy=tuple(float(v) for v in self.buy[part]),
            sell=tuple(float(v) for v in self.sell[part]),
            load=tuple(float(v) for v in self.load[part]),
            solar=tuple(float(v) for v in self.solar[part]),
            battery=self.battery,
            initial_soc_percent=self.initial_soc_percent if soc is None else soc,
        )


def load_days(path: Path) -> Days:
    """Read and validate a sequence file; raise SequenceError saying what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SequenceError(f"{path}: cannot be read: {err}") from err
    except json.JSONDecodeError as err:
        raise SequenceError(f"{path}: not JSON: {err}") from err
    return parse_days(data)


def _number(value: object, where: str, *, at_least: float = -math.inf) -> float:
    """Return `value` as a finite float, or raise SequenceError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SequenceError(f"{where} is {value!r}, not a number")
    if not math.isfinite(value):
        raise SequenceError(f"{where} is {value!r}, not a finite number")
    if value < at_least:
        raise SequenceError(f"{where} is {value!r}; it must be >= {at_least:g}")
    return float(value)


def _zone(data: dict[str, Any], offsets: list[timedelta]) -> tzinfo:
    """Return the file's time zone: its IANA name, else the one offset all starts share."""
    name = data.get("timezone")
    if name is None:
        if len(set(offsets)) > 1:
            raise SequenceError(
                "the UTC offsets of the starts change (a DST change?): give the IANA"
                ' "timezone" the data belongs to'
            )
        from datetime import timezone  # a fixed offset: no DST in this file

        return timezone(offsets[0])
    if not isinstance(name, str):
        raise SequenceError(f"timezone is {name!r}, not an IANA zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise SequenceError(f"timezone {name!r} is not a known IANA zone") from err


def _battery(data: object) -> tuple[BatterySettings, float]:
    """Return the battery settings and the start SOC of the file's "battery" object."""
    if not isinstance(data, dict):
        raise SequenceError('"battery" must be an object of battery settings')
    unknown = sorted(set(data) - _BATTERY_KEYS)
    if unknown:
        raise SequenceError(f"battery: unknown setting(s) {', '.join(unknown)}")
    settings = {k: v for k, v in data.items() if k != "initial_soc_percent"}
    for key, value in settings.items():
        if key == "grid_charging":
            if not isinstance(value, bool):
                raise SequenceError(f"battery.grid_charging is {value!r}, not true/false")
        elif not (key == "export_limit_kw" and value is None):
            _number(value, f"battery.{key}")
    try:
        battery = BatterySettings(**settings)
    except TypeError as err:  # a required setting is missing
        raise SequenceError(f"battery: {err}") from err
    except ValueError as err:
        raise SequenceError(f"battery: {err}") from err
    soc = data.get("initial_soc_percent", battery.min_soc_percent)
    if not is_soc(soc) or isinstance(soc, bool):
        raise SequenceError(f"battery.initial_soc_percent is {soc!r}, not from 0 to 100 %")
    return battery, float(soc)


def parse_days(data: object) -> Days:
    """Validate the decoded JSON of a sequence file and return its whole local days."""
    if not isinstance(data, dict):
        raise SequenceError("the file must hold a JSON object with a list of periods")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SequenceError(f"unknown key(s) {', '.join(unknown)}; expected {sorted(_TOP_KEYS)}")
    periods = data.get("periods")
    if not isinstance(periods, list) or not periods:
        raise SequenceError('"periods" must be a non-empty list')
    if "battery" not in data:
        raise SequenceError('"battery" is missing')
    battery, initial_soc = _battery(data["battery"])

    starts: list[datetime] = []
    columns: dict[str, list[float]] = {key: [] for key in _PERIOD_KEYS[1:]}
    for i, period in enumerate(periods):
        if not isinstance(period, dict):
            raise SequenceError(f"period {i} is {period!r}, not an object")
        missing = [key for key in _PERIOD_KEYS if key not in period]
        if missing:
            raise SequenceError(f"period {i} has no {', '.join(missing)}")
        text = period["start"]
        try:
            start = datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            start = None
        if start is None:
            raise SequenceError(f"period {i}: start {text!r} is not an ISO 8601 time")
        if start.tzinfo is None:
            raise SequenceError(f"period {i}: start {text!r} has no UTC offset")
        starts.append(start)
        for key in ("buy", "sell"):
            columns[key].append(_number(period[key], f"period {i} ({text}) {key}"))
        for key in ("load", "solar"):
            columns[key].append(_number(period[key], f"period {i} ({text}) {key}", at_least=0.0))

    utc = [s.astimezone(UTC) for s in starts]
    steps = [(b - a).total_seconds() / 60.0 for a, b in itertools.pairwise(utc)]
    for i, step in enumerate(steps, start=1):
        if step <= 0:
            raise SequenceError(
                f"period {i} starts at {starts[i].isoformat()}, not after period {i - 1}"
                f" ({starts[i - 1].isoformat()}): starts must increase"
            )
    if len(starts) < 2:
        raise SequenceError("a sequence needs at least two periods")
    minutes = steps[0]
    for i, step in enumerate(steps, start=1):
        if step != minutes:
            if step > minutes and step % minutes == 0:
                raise SequenceError(
                    f"gap: {int(step / minutes) - 1} period(s) missing between"
                    f" {starts[i - 1].isoformat()} and {starts[i].isoformat()}"
                )
            raise SequenceError(
                f"mixed period lengths ({minutes:g} and {step:g} minutes, at"
                f" {starts[i].isoformat()}): resample the file to one length"
            )
    if minutes != int(minutes) or 60 % int(minutes) != 0:
        raise SequenceError(f"periods of {minutes:g} minutes: the length must divide 60")
    period_minutes = int(minutes)

    offsets = [s.utcoffset() or timedelta(0) for s in starts]
    tz = _zone(data, offsets)
    for i, (start, moment) in enumerate(zip(starts, utc, strict=True)):
        if moment.astimezone(tz).utcoffset() != start.utcoffset():
            raise SequenceError(
                f"period {i}: start {start.isoformat()} has not the UTC offset of"
                f" {data.get('timezone')} at that moment"
            )
    local = [moment.astimezone(tz) for moment in utc]
    since_midnight = [
        (moment - local_midnight(there.date(), tz).astimezone(UTC)).total_seconds() / 60.0
        for moment, there in zip(utc, local, strict=True)
    ]
    if since_midnight[0] % period_minutes:
        raise SequenceError(
            f"the first start {starts[0].isoformat()} is not on the {period_minutes}-minute grid"
        )

    # Whole local days only: a day-bounded plan, scenario 1 and the publication rule are
    # defined per local day.
    midnights = [i for i, minute in enumerate(since_midnight) if minute == 0]
    end = utc[-1] + timedelta(minutes=period_minutes)
    if end == local_midnight(local[-1].date() + timedelta(days=1), tz).astimezone(UTC):
        midnights.append(len(starts))
    if len(midnights) < 3:
        raise SequenceError(
            "the periods must cover at least two whole local days (midnight to midnight):"
            " the last one is the look-ahead day"
        )
    first, last = midnights[0], midnights[-1]
    keep = slice(first, last)
    return Days(
        description=str(data.get("description", "")),
        currency=str(data.get("currency", "")),
        tz=tz,
        period_minutes=period_minutes,
        starts=tuple(local[keep]),
        buy=np.asarray(columns["buy"][keep]),
        sell=np.asarray(columns["sell"][keep]),
        load=np.asarray(columns["load"][keep]),
        solar=np.asarray(columns["solar"][keep]),
        battery=battery,
        initial_soc_percent=initial_soc,
        trimmed=len(starts) - (last - first),
    )


# --------------------------------------------------------------------- the generated data


STOCKHOLM = "Europe/Stockholm"
LATITUDE_DEG = 59.3
LONGITUDE_DEG = 18.1
PV_KWP = 8.0
BATTERY = {
    "capacity_kwh": 10.0,
    "max_charge_kw": 5.0,
    "max_discharge_kw": 5.0,
    "min_soc_percent": 10.0,
    "max_soc_percent": 100.0,
    "charge_efficiency": 0.95,
    "discharge_efficiency": 0.95,
    "cycle_cost_per_kwh": 0.05,
    "initial_soc_percent": 10.0,
}
# Swedish bills: energy tax and transfer fee per kWh, retailer markup, 25 % VAT on the lot;
# the export price is the spot plus the grid's compensation for fed-in energy.
ENERGY_TAX = 0.36
TRANSFER_FEE = 0.25
MARKUP = 0.05
VAT = 1.25
GRID_BENEFIT = 0.05
HOLIDAYS = {date(2026, 4, 3), date(2026, 4, 5), date(2026, 4, 6), date(2026, 12, 25)}


def _bump(hours: FloatArray, centre: float, width: float) -> FloatArray:
    """Return a bell of height 1 around `centre` (hours)."""
    bell: FloatArray = np.exp(-(((hours - centre) / width) ** 2))
    return bell


def _season(day: date) -> float:
    """Return 1 in midwinter, 0 in midsummer (a cosine over the year)."""
    return 0.5 + 0.5 * math.cos(2.0 * math.pi * (day.timetuple().tm_yday + 10) / 365.25)


def _solar_kw(day: date, utc_hours: FloatArray, clearness: FloatArray) -> FloatArray:
    """Return PV power (kW) of a south-facing 35° array at Stockholm's latitude."""
    doy = day.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2.0 * math.pi * (284 + doy) / 365.0)
    solar_time = utc_hours + LONGITUDE_DEG / 15.0
    hour_angle = np.radians(15.0 * (solar_time - 12.0))
    lat = math.radians(LATITUDE_DEG)
    tilt = math.radians(35.0)
    elevation_sin = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
        hour_angle
    )
    incidence = np.sin(lat - tilt) * np.sin(declination) + np.cos(lat - tilt) * np.cos(
        declination
    ) * np.cos(hour_angle)
    up = elevation_sin > 0.02
    beam = np.where(up, np.clip(incidence, 0.0, None), 0.0) * clearness
    diffuse = np.where(up, 0.3 * elevation_sin, 0.0) * (1.0 - clearness)
    power: FloatArray = PV_KWP * 0.75 * (beam + diffuse)
    return power


def generate_days(
    seed: int, first_day: date, days: int, timezone: str = STOCKHOLM, period_minutes: int = 15
) -> dict[str, Any]:
    """Return a generated sequence file (JSON-able): Nordic prices, a heat-pump home, PV.

    Prices: a daily level (calm or windy weather, lower at weekends and holidays) shaped by a
    morning and an evening peak, a solar dip at midday that goes below zero on sunny, windy
    days off work, and quarter-hour structure: the price follows the load ramp inside the hour
    with a step at the hour change, plus a few percent of noise. Load: a base, a heat pump
    that works harder in the cold and in the morning and evening, cooking and appliances.
    Solar: 8 kWp facing south at 35°, clear or clouded day by day and hour by hour.
    """
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(timezone)
    dt = period_minutes / 60.0
    periods: list[dict[str, Any]] = []
    level = 0.0
    for d in range(days):
        day = first_day + timedelta(days=d)
        begin = local_midnight(day, tz).astimezone(UTC)
        end = local_midnight(day + timedelta(days=1), tz).astimezone(UTC)
        n = int((end - begin).total_seconds() // (period_minutes * 60))
        moments = [begin + timedelta(minutes=period_minutes * i) for i in range(n)]
        # Local clock time of each period's middle (the doubled autumn hour repeats it).
        clock = np.array(
            [(m + timedelta(minutes=period_minutes / 2)).astimezone(tz) for m in moments]
        )
        hours = np.array([c.hour + c.minute / 60.0 for c in clock])
        utc_hours = (
            np.array(
                [
                    (m - datetime(day.year, day.month, day.day, tzinfo=UTC)).total_seconds()
                    / 3600.0
                    for m in moments
                ]
            )
            + dt / 2
        )
        winter = _season(day)
        off_work = day.weekday() >= 5 or day in HOLIDAYS

        # Weather: clearness of the sky and wind (which lowers prices), day by day.
        sunny = rng.random() < 0.35 + 0.25 * (1.0 - winter)
        clear_day = rng.uniform(0.75, 1.0) if sunny else rng.uniform(0.1, 0.5)
        clouds = np.clip(clear_day + np.cumsum(rng.normal(0.0, 0.04, n)), 0.05, 1.0)
        windy = rng.random() < 0.4
        temperature = 12.0 - 16.0 * winter + rng.normal(0.0, 2.5)

        # The price level wanders from day to day around the season's mean (SEK/kWh spot).
        mean_level = 0.35 + 0.75 * winter
        level = 0.6 * level + 0.4 * mean_level * rng.uniform(0.7, 1.5) if d else mean_level
        today = level * (0.45 if windy else 1.0) * (0.85 if off_work else 1.0)
        morning = 0.5 * _bump(hours, 7.75, 1.4) * (0.5 if off_work else 1.0)
        peaks = morning + 0.9 * _bump(hours, 18.25, 1.9)
        night = 0.3 * _bump(hours, 3.0, 2.5)
        dip_depth = (1.0 - winter) * clear_day * (1.1 if windy else 0.6)
        negative = sunny and windy and winter < 0.7 and (off_work or rng.random() < 0.4)
        dip = dip_depth * _bump(hours, 13.0, 2.4)
        spot_hourly = today * (1.0 + peaks - night - dip)
        if negative:
            spot_hourly = spot_hourly - rng.uniform(0.25, 0.5) * _bump(hours, 13.0, 2.0)
        # Quarter-hour structure: the price moves with the ramp inside the hour, then steps
        # back at the hour change (production is scheduled hour by hour).
        quarter = np.array([c.minute // period_minutes for c in clock], dtype=float)
        per_hour = 60 // period_minutes
        ramp = np.gradient(spot_hourly, dt)
        within = (quarter - (per_hour - 1) / 2.0) / max(per_hour - 1, 1)
        spot = spot_hourly + 0.5 * ramp * within + rng.normal(0.0, 0.02 + 0.03 * today, n)

        buy = VAT * (spot + MARKUP + ENERGY_TAX + TRANSFER_FEE)
        sell = spot + GRID_BENEFIT

        # Load (kW): base, heat pump (harder when cold, morning and evening), household.
        heat = max(0.0, 17.0 - temperature) / 25.0
        heat_pump = 2.2 * heat * (0.8 + 0.5 * _bump(hours, 7.0, 1.5) + 0.4 * _bump(hours, 19.0, 2))
        household = 0.35 + 0.6 * _bump(hours, 7.5, 1.0) + 1.0 * _bump(hours, 18.5, 1.6)
        household = household * (1.0 - 0.6 * ((hours < 6.0) | (hours > 23.0)))
        spikes = (rng.random(n) < 0.08) * rng.uniform(0.5, 2.5, n)
        load_kw = heat_pump + household + spikes + rng.normal(0.0, 0.08, n)
        solar_kw = _solar_kw(day, utc_hours, clouds)

        for i, moment in enumerate(moments):
            periods.append(
                {
                    "start": moment.astimezone(tz).isoformat(),
                    "buy": round(float(buy[i]), 4),
                    "sell": round(float(sell[i]), 4),
                    "load": round(max(float(load_kw[i]), 0.05) * dt, 4),
                    "solar": round(max(float(solar_kw[i]), 0.0) * dt, 4),
                }
            )
    return {
        "description": (
            f"Generated by bench/closed_loop.py --generate (seed {seed}): {days} days from"
            f" {first_day.isoformat()} at {period_minutes} minutes in {timezone}; Nordic-shaped"
            " spot prices with Swedish fees, a heat-pump home, 8 kWp of PV."
        ),
        "currency": "SEK",
        "timezone": timezone,
        "generator": {"seed": seed, "first_day": first_day.isoformat(), "days": days},
        "battery": dict(BATTERY),
        "periods": periods,
    }


# ------------------------------------------------------------------------------ forecasts


@dataclass(frozen=True, slots=True)
class Noise:
    """Forecast errors: a seed and the relative standard deviations of load and solar."""

    seed: int
    load: float
    solar: float


def forecasts(days: Days, noise: Noise | None) -> tuple[FloatArray, FloatArray]:
    """Return (load, solar) forecasts per market period: the truth, or the truth with errors."""
    if noise is None:
        return days.load.copy(), days.solar.copy()
    rng = np.random.default_rng(noise.seed)
    rho = math.exp(-days.period_minutes / 60.0 / NOISE_CORRELATION_HOURS)

    def errors() -> FloatArray:
        """Return one AR(1) series of unit standard deviation."""
        draws = rng.normal(0.0, 1.0, days.n)
        out = np.empty(days.n)
        out[0] = draws[0]
        for t in range(1, days.n):
            out[t] = rho * out[t - 1] + math.sqrt(1.0 - rho * rho) * draws[t]
        return out

    load_errors, solar_errors = errors(), errors()  # drawn in this order: both are seeded
    load = np.clip(days.load * (1.0 + noise.load * load_errors), 0.0, None)
    solar = np.clip(days.solar * (1.0 + noise.solar * solar_errors), 0.0, None)
    return load, solar


# ------------------------------------------------------------ the world and the fake ports


@dataclass(frozen=True, slots=True)
class Setting:
    """What the inverter was told: a mode (the plan's intent) and its powers (kW, AC side)."""

    intent: Intent
    charge_kw: float
    discharge_kw: float


class World:
    """The simulated home: the true data, the forecasts, the battery, its meters, the clock.

    The inverter keeps the setting of the last command it took (the intent and power of the
    plan's period then) until the next one, as a real one does; the battery follows it within
    the mode's meaning and its SOC window; the meters record what really flowed.
    """

    def __init__(self, days: Days, load_forecast: FloatArray, solar_forecast: FloatArray) -> None:
        """Start at the first period with the file's start SOC and an idle inverter."""
        self.days = days
        self.load_forecast = load_forecast
        self.solar_forecast = solar_forecast
        self.now = days.starts[0]
        b = days.battery
        self.energy_kwh = b.capacity_kwh * days.initial_soc_percent / 100.0
        self.charge = np.zeros(days.n)
        self.discharge = np.zeros(days.n)
        self.meters: list[HourMeasurement] = []
        self.setting = Setting(Intent.IDLE, 0.0, 0.0)  # what the inverter was last told
        self.index = {s.astimezone(UTC): i for i, s in enumerate(days.starts)}
        self.first_day = days.starts[0].date()
        self.day_set = set(days.dates)
        self.solves = 0
        self.commands = 0
        self.ignore_every_second_command = False

    def command(self, result: OptimizationResult, now: datetime) -> None:
        """Set the inverter to the plan's period now (a plan not covering now changes nothing).

        With `ignore_every_second_command` every second command is ignored: the inverter
        keeps the setting it had.
        """
        self.commands += 1
        if self.ignore_every_second_command and self.commands % 2 == 0:
            return
        k = result.index_at(now)
        if k is not None:
            period = result.periods[k]
            hours = result.period_minutes / 60.0
            self.setting = Setting(
                period.intent, period.charge_kwh / hours, period.discharge_kwh / hours
            )

    # The clock port.
    def clock_now(self) -> datetime:
        """Return the simulated time, in the local zone."""
        return self.now

    def published(self, day: date) -> bool:
        """Return whether the prices of the local `day` are known now (13:00 the day before)."""
        if day not in self.day_set:
            return False  # the day after the file is never published
        if day <= self.first_day:
            return True
        before = day - timedelta(days=1)
        # 13:00 on the wall clock: on a DST day that is not 13 hours after midnight.
        publication = datetime(
            before.year, before.month, before.day, PUBLISH_HOUR, tzinfo=self.days.tz
        ).astimezone(UTC)
        return self.now.astimezone(UTC) >= publication

    def periods_in(self, start: datetime, minutes: int) -> range | None:
        """Return the market periods inside [start, start + minutes), or None if not all exist."""
        first = self.index.get(start.astimezone(UTC))
        count = minutes // self.days.period_minutes
        if first is None or count < 1 or first + count > self.days.n:
            return None
        return range(first, first + count)

    def run_period(self, i: int) -> None:
        """Live through market period `i`: the battery follows the plan, the meters record."""
        days, b = self.days, self.days.battery
        start = days.starts[i]
        load, solar = float(days.load[i]), float(days.solar[i])
        hours = days.period_minutes / 60.0
        setting = self.setting
        charge = setting.charge_kw * hours
        discharge = setting.discharge_kw * hours
        # The inverter's modes: storing solar takes only surplus sun, supporting the load
        # never discharges more than the home needs.
        if setting.intent is Intent.SOLAR_STORAGE:
            charge = min(charge, max(solar - load, 0.0))
        elif setting.intent is Intent.LOAD_SUPPORT:
            discharge = min(discharge, max(load - solar, 0.0))
        if not b.grid_charging:
            charge = min(charge, max(solar - load, 0.0))  # the inverter charges from PV only
        # The battery cannot go beyond its SOC window, whatever the plan says.
        charge = max(0.0, min(charge, (b.max_energy_kwh - self.energy_kwh) / b.charge_efficiency))
        discharge = max(
            0.0, min(discharge, (self.energy_kwh - b.min_energy_kwh) * b.discharge_efficiency)
        )
        soc_start = self.energy_kwh / b.capacity_kwh * 100.0
        self.energy_kwh += b.charge_efficiency * charge - discharge / b.discharge_efficiency
        self.charge[i], self.discharge[i] = charge, discharge
        net = load - solar + charge - discharge
        limit = b.export_limit_kw
        cap = math.inf if limit is None else limit * days.period_minutes / 60.0
        self.meters.append(
            HourMeasurement(
                start=start,
                battery_soc_start=soc_start,
                battery_soc_end=self.energy_kwh / b.capacity_kwh * 100.0,
                solar_generated=solar,
                home_consumed=load,
                grid_imported=max(net, 0.0),
                grid_exported=min(max(-net, 0.0), cap),
                battery_charged=charge,
                battery_discharged=discharge,
            )
        )

    def measure(self, start: datetime, minutes: int) -> HourMeasurement | None:
        """Return the meters' reading of [start, start + minutes), None if not all lived yet."""
        found = self.periods_in(start, minutes)
        if found is None or found[-1] >= len(self.meters):
            return None
        parts = [self.meters[i] for i in found]
        return HourMeasurement(
            start=start,
            battery_soc_start=parts[0].battery_soc_start,
            battery_soc_end=parts[-1].battery_soc_end,
            solar_generated=sum(p.solar_generated for p in parts),
            home_consumed=sum(p.home_consumed for p in parts),
            grid_imported=sum(p.grid_imported for p in parts),
            grid_exported=sum(p.grid_exported for p in parts),
            battery_charged=sum(p.battery_charged for p in parts),
            battery_discharged=sum(p.battery_discharged for p in parts),
        )

    def prices(self, starts: Sequence[datetime], minutes: int) -> PriceSeries | None:
        """Return the mean prices of each period of `minutes` (None if any is unknown now)."""
        buy: list[float] = []
        sell: list[float] = []
        for start in starts:
            found = self.periods_in(start, minutes)
            if found is None or not self.published(start.astimezone(self.days.tz).date()):
                return None
            buy.append(float(self.days.buy[found].mean()))
            sell.append(float(self.days.sell[found].mean()))
        return PriceSeries(buy=tuple(buy), sell=tuple(sell))

    def forecast(self, series: FloatArray, starts: Sequence[datetime], minutes: int) -> list[float]:
        """Return the forecast energy of each period of `minutes` (0 outside the data)."""
        out = []
        for start in starts:
            found = self.periods_in(start, minutes)
            out.append(0.0 if found is None else float(series[found].sum()))
        return out


class Ports:
    """The manager's ports, all in one place: energy data, inverter, clock, storage, executor.

    `minutes` is the manager's period: an hourly manager gets hourly mean prices, as the
    integration's price adapter gives it when it averages 15-minute prices.
    """

    def __init__(self, world: World, minutes: int) -> None:
        """Serve `world` in periods of `minutes`."""
        self.world = world
        self.minutes = minutes

    @property
    def period_minutes(self) -> int:
        """Return the period the manager reads in (it sets it to its own)."""
        return self.minutes

    @period_minutes.setter
    def period_minutes(self, minutes: int) -> None:
        self.minutes = minutes

    # Clock
    def now(self) -> datetime:
        """Return the simulated time."""
        return self.world.clock_now()

    # EnergyData
    async def get_prices(self, period_starts: Sequence[datetime]) -> PriceSeries | None:
        """Return the published prices of these periods, or None."""
        return self.world.prices(period_starts, self.minutes)

    async def get_solar_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        """Return the solar forecast (kWh per period)."""
        return self.world.forecast(self.world.solar_forecast, period_starts, self.minutes)

    async def get_consumption_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        """Return the consumption forecast (kWh per period)."""
        return self.world.forecast(self.world.load_forecast, period_starts, self.minutes)

    async def get_battery_soc(self) -> float:
        """Return the SOC now (%)."""
        return self.world.energy_kwh / self.world.days.battery.capacity_kwh * 100.0

    async def measure_period(self, period_start: datetime) -> HourMeasurement | None:
        """Return the meters' reading of the period that just ended."""
        return self.world.measure(period_start, self.minutes)

    async def reconstruct_periods(
        self, period_starts: Sequence[datetime]
    ) -> dict[datetime, HourMeasurement]:
        """Return the recorded periods among these, keyed by UTC start (none before the data)."""
        found = {}
        for start in period_starts:
            measured = self.world.measure(start, self.minutes)
            if measured is not None:
                found[start.astimezone(UTC)] = measured
        return found

    # BatteryController
    async def apply(self, result: OptimizationResult, now: datetime) -> None:
        """Set the inverter to the plan's period now (a plan not covering now changes nothing).

        A faulty inverter (`World.ignore_every_second_command`) ignores every second command
        and keeps the setting it had.
        """
        self.world.command(result, now)

    # Persistence: nothing survives (the run never restarts), and nothing costs time.
    async def load(self) -> dict[str, Any] | None:
        """Return nothing saved."""
        return None

    async def save(self, *_: Any, **__: Any) -> None:
        """Save nothing."""

    def save_soon(self, *_: Any, **__: Any) -> None:
        """Save nothing."""

    # Executor
    async def run[T](self, func: Callable[[], T]) -> T:
        """Run the optimizer inline."""
        self.world.solves += 1
        return func()


# ------------------------------------------------------------------------------- policies


@dataclass(frozen=True, slots=True)
class Policy:
    """A manager configuration."""

    name: str
    minutes: int | None  # the planning period; None: the market's (the file's)
    through_tomorrow: bool
    terminal_value_per_kwh: float | None  # None: derived from the prices (engine/terminal.py)
    # A capacity tariff the plans include (engine/capacity.py); None: energy prices only.
    tariff: CapacityTariff | None = None


POLICIES = (
    Policy("1 day-bounded hourly (bess before #10)", 60, False, 0.0),
    Policy("2 day-bounded, market resolution", None, False, 0.0),
    Policy("3 bess now: through tomorrow", None, True, None),
)


@dataclass(frozen=True, eq=False)
class Outcome:
    """The money one policy made over the sequence."""

    policy: str
    savings: float  # realized: baseline − cost over the file, true prices and flows
    end_energy_kwh: float
    value: float  # savings before the last day + worth of the energy carried into it
    solves: int
    seconds: float
    # Where forecast errors show: battery energy that went to the grid, grid energy that went
    # into the battery (kWh), and the buy−sell spread paid on them.
    sold_from_battery_kwh: float = 0.0
    bought_into_battery_kwh: float = 0.0
    spread_paid: float = 0.0
    # The manager's hindsight report of every finished day (engine/hindsight.py).
    reports: tuple[HindsightReport, ...] = ()
    # The grid import of every scored market period (kWh): what a capacity fee is made of.
    imports: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class NotAvailable:
    """A policy the manager cannot run (yet)."""

    policy: str
    reason: str


class Planner(Protocol):
    """What the simulated clock triggers."""

    async def start(self) -> None:
        """Plan at the first period (the manager's restart scenario)."""
        ...

    async def boundary(self) -> None:
        """Record the period that ended and re-plan (scenario 2)."""
        ...

    async def evening(self) -> None:
        """Plan tomorrow at 23:55 (scenario 1)."""
        ...


def _optimizer(rule: TerminalRule | None) -> Callable[[OptimizationInput], OptimizationResult]:
    """Return the optimizer, with the terminal value set by `rule` from each input's prices."""

    def optimize(inputs: OptimizationInput) -> OptimizationResult:
        """Plan `inputs` (with the rule's terminal value, if any)."""
        if rule is not None:
            value = rule(inputs.buy, inputs.sell, inputs.battery)
            inputs = replace(inputs, terminal_value_per_kwh=value)
        return optimize_battery_schedule(inputs)

    return optimize


class ManagerPlanner:
    """The real SimpleBatterySystemManager on the fake ports."""

    def __init__(self, world: World, policy: Policy, minutes: int, rule: TerminalRule | None):
        """Build the manager as the policy configures it (TypeError/ValueError: not supported)."""
        ports = Ports(world, minutes)
        config: dict[str, Any] = {
            "energy": ports,
            "controller": ports,
            "clock": ports,
            "persistence": ports,
            "executor": ports,
            "battery": world.days.battery,
            "tz": world.days.tz,
            "terminal_value_per_kwh": policy.terminal_value_per_kwh,
            "period_minutes": minutes,
            "optimize": _optimizer(rule),
        }
        if policy.tariff is not None:
            config["capacity_tariff"] = policy.tariff  # TypeError: this manager has none
        try:
            self.manager = SimpleBatterySystemManager(
                **config, plan_through_tomorrow=policy.through_tomorrow
            )
        except TypeError as err:
            if policy.through_tomorrow or "plan_through_tomorrow" not in str(err):
                raise
            # A manager that has no such flag plans to midnight: the day-bounded policy.
            self.manager = SimpleBatterySystemManager(**config)

    async def start(self) -> None:
        """Run the restart scenario: plan the rest of the day from the real SOC."""
        await self.manager.restart_and_reconstruct()

    async def boundary(self) -> None:
        """Run scenario 2."""
        await self.manager.update_hourly_schedule()

    async def evening(self) -> None:
        """Run scenario 1."""
        await self.manager.create_tomorrows_schedule()


class ReferencePlanner:
    """The policy planned by the bench itself: what the manager should do, in a few lines.

    From the real SOC, over the periods from now to local midnight (to the end of tomorrow
    once its prices are known, when the policy plans through tomorrow), with the forecasts and
    the published prices; the plan goes straight to the inverter. Nothing is recorded.
    """

    def __init__(self, world: World, policy: Policy, minutes: int, rule: TerminalRule | None):
        """Plan for `policy` in periods of `minutes`."""
        self.world = world
        self.policy = policy
        self.minutes = minutes
        self.optimize = _optimizer(rule)

    async def start(self) -> None:
        """Plan now."""
        self._plan()

    async def boundary(self) -> None:
        """Plan now."""
        self._plan()

    async def evening(self) -> None:
        """Nothing: the plan made at midnight from the real SOC replaces tomorrow's anyway."""

    def _plan(self) -> None:
        """Optimize from now to the end of the horizon and hand the plan to the inverter."""
        from custom_components.bess.engine.terminal import default_terminal_value

        world, tz = self.world, self.world.days.tz
        now = world.now.astimezone(UTC)
        day = world.now.astimezone(tz).date()
        if self.policy.through_tomorrow and world.published(day + timedelta(days=1)):
            day += timedelta(days=1)
        end = local_midnight(day + timedelta(days=1), tz).astimezone(UTC)
        starts = []
        while now < end:
            starts.append(now.astimezone(tz))
            now += timedelta(minutes=self.minutes)
        prices = world.prices(starts, self.minutes)
        assert prices is not None, "today's prices are always known"
        terminal = self.policy.terminal_value_per_kwh
        if terminal is None:
            terminal = default_terminal_value(prices.buy, prices.sell, world.days.battery)
        b = world.days.battery
        inputs = OptimizationInput(
            start=starts[0],
            period_minutes=self.minutes,
            buy=prices.buy,
            sell=prices.sell,
            load=tuple(world.forecast(world.load_forecast, starts, self.minutes)),
            solar=tuple(world.forecast(world.solar_forecast, starts, self.minutes)),
            battery=b,
            initial_soc_percent=min(max(world.energy_kwh / b.capacity_kwh * 100.0, 0.0), 100.0),
            terminal_value_per_kwh=terminal,
        )
        world.solves += 1
        tariff = self.policy.tariff
        if tariff is None:
            world.command(self.optimize(inputs), world.now)
            return
        recorded = [
            Metered(m.start, world.days.period_minutes, m.grid_imported) for m in world.meters
        ]
        peaks = month_peaks(recorded, tariff, tz, world.now.astimezone(tz).date())
        plan = plan_with_capacity(inputs, tariff, peaks, tz)
        world.solves += plan.dp_runs - 1
        world.command(plan.result, world.now)


def _minutes_since_midnight(moment: datetime, tz: tzinfo) -> float:
    """Return the minutes elapsed since the local midnight before `moment` (exact on DST days)."""
    local = moment.astimezone(tz)
    return (local.astimezone(UTC) - local_midnight(local.date(), tz).astimezone(UTC)).seconds / 60


async def _live(world: World, planner: Planner, minutes: int) -> None:
    """Move the clock through every period, triggering the planner where bess is triggered."""
    days = world.days
    tz = days.tz
    step = timedelta(minutes=days.period_minutes)
    evenings = [
        local_midnight(d + timedelta(days=1), tz).astimezone(UTC) - EVENING for d in days.dates[:-1]
    ]
    for i, start in enumerate(days.starts[: days.scored]):
        world.now = start
        if i and _minutes_since_midnight(start, tz) % minutes == 0:
            await planner.boundary()
        world.run_period(i)
        begin = start.astimezone(UTC)
        for evening in evenings:
            if begin <= evening < begin + step:
                world.now = evening.astimezone(tz)
                await planner.evening()


def run_policy(
    days: Days,
    policy: Policy,
    noise: Noise | None = None,
    *,
    rule: TerminalRule | None = None,
    reference: bool = False,
    faulty_inverter: bool = False,
) -> Outcome | NotAvailable:
    """Live through `days` under `policy`; return the money made, or why it cannot run.

    With `faulty_inverter` the inverter ignores every second command it is given.
    """
    minutes = policy.minutes or days.period_minutes
    if minutes % days.period_minutes:
        return NotAvailable(policy.name, f"{minutes}-minute periods from {days.period_minutes}")
    load_forecast, solar_forecast = forecasts(days, noise)
    world = World(days, load_forecast, solar_forecast)
    world.ignore_every_second_command = faulty_inverter
    began = time.perf_counter()
    kind = ReferencePlanner if reference else ManagerPlanner
    try:
        planner = kind(world, policy, minutes, rule)
        asyncio.run(planner.start())
    except (TypeError, ValueError) as err:
        # A configuration this manager does not know (yet): say so, run the others.
        return NotAvailable(policy.name, f"{type(err).__name__}: {err}")
    asyncio.run(_live(world, planner, minutes))
    scored = days.scored
    realized = build_result(
        days.truth(stop=scored), world.charge[:scored], world.discharge[:scored]
    )
    end_energy = realized.final_soc_percent * days.battery.capacity_kwh / 100.0
    assert abs(end_energy - world.energy_kwh) < 1e-6, "the meters and the cost model disagree"
    sold = np.array([min(p.discharge_kwh, p.grid_export_kwh) for p in realized.periods])
    bought = np.array([min(p.charge_kwh, p.grid_import_kwh) for p in realized.periods])
    spread = days.buy[:scored] - days.sell[:scored]
    reports: list[HindsightReport] = []
    if isinstance(planner, ManagerPlanner):
        for day in days.dates:
            report = planner.manager.hindsight_report(day)
            if report is not None:
                reports.append(report)
    return Outcome(
        reports=tuple(reports),
        imports=tuple(m.grid_imported for m in world.meters[:scored]),
        policy=policy.name,
        savings=realized.total_savings,
        end_energy_kwh=end_energy,
        value=realized.total_savings + end_worth(days, end_energy),
        solves=world.solves,
        seconds=time.perf_counter() - began,
        sold_from_battery_kwh=float(sold.sum()),
        bought_into_battery_kwh=float(bought.sum()),
        spread_paid=float((spread * (sold + bought)).sum()),
    )


def lookahead_savings(days: Days, energy_kwh: float) -> float:
    """Return the best savings of the file's last day from `energy_kwh` stored at its start."""
    soc = energy_kwh / days.battery.capacity_kwh * 100.0
    result = optimize_battery_schedule(days.truth(days.scored, soc=min(max(soc, 0.0), 100.0)))
    return result.total_savings


def end_worth(days: Days, energy_kwh: float) -> float:
    """Return what energy left before the last day is worth: what it earns on that day.

    That is the best savings of the last day from `energy_kwh`, less the best from the
    minimum SOC; the same function values the realized runs and the hindsight optimum.
    """
    empty = days.battery.min_energy_kwh
    return lookahead_savings(days, energy_kwh) - lookahead_savings(days, empty)


def hindsight(days: Days) -> Outcome:
    """Return the optimum of the whole sequence with perfect knowledge (the 100 %)."""
    began = time.perf_counter()
    whole = optimize_battery_schedule(days.truth())
    # Its value on the same footing as a policy's: the days before the last, plus the worth
    # of the energy it carries into the last day, is the whole file's savings less the last
    # day's from the minimum SOC.
    value = whole.total_savings - lookahead_savings(days, days.battery.min_energy_kwh)
    scored = whole.periods[: days.scored]
    return Outcome(
        policy="hindsight optimum",
        savings=sum(p.savings for p in scored),
        end_energy_kwh=scored[-1].soc_end_percent * days.battery.capacity_kwh / 100.0,
        value=value,
        solves=1,
        seconds=time.perf_counter() - began,
    )


def capture(outcome: Outcome, best: Outcome) -> float:
    """Return the share of the hindsight optimum's value the policy realized."""
    return outcome.value / best.value if best.value > 0 else math.nan


# ------------------------------------------------------------------------ terminal rules


def _zero(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return 0: energy left at the end is worth nothing (the design document)."""
    return 0.0


def _evcc(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return 0.9 × the lowest buy price of the horizon (evcc)."""
    return 0.9 * min(buy)


def _bess_manager(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return the median buy price after discharge losses and wear, capped at the best sale.

    bess-manager's scalar rule: max(0, median(buy)·η_d − wear), capped at
    max(0, max(sell)·η_d − wear) when the sell price varies.
    """
    by_buy = max(0.0, float(np.median(buy)) * b.discharge_efficiency - b.cycle_cost_per_kwh)
    cap = max(0.0, max(sell) * b.discharge_efficiency - b.cycle_cost_per_kwh)
    return min(by_buy, cap) if max(sell) > min(sell) else by_buy


def _min_buy_eta(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return the lowest buy price after discharge losses (a kWh displaces the cheapest buy)."""
    return max(min(buy), 0.0) * b.discharge_efficiency


def _median_sell_eta(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return the median sell price after discharge losses (a kWh sold at a typical price)."""
    return max(float(np.median(sell)), 0.0) * b.discharge_efficiency


def _refill(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return what storing a kWh costs at the cheapest buy price (wear and charge losses)."""
    return max((min(buy) + b.cycle_cost_per_kwh) / b.charge_efficiency, 0.0)


def _bess_default(buy: Sequence[float], sell: Sequence[float], b: BatterySettings) -> float:
    """Return bess's default rule (engine/terminal.py)."""
    from custom_components.bess.engine.terminal import default_terminal_value

    return default_terminal_value(buy, sell, b)


RULES: dict[str, TerminalRule] = {
    "0 (the design)": _zero,
    "evcc: 0.9 × min buy": _evcc,
    "bess-manager: capped median buy": _bess_manager,
    "min buy × η_d": _min_buy_eta,
    "median sell × η_d": _median_sell_eta,
    "refill: (min buy + wear) / η_c": _refill,
    "bess: min buy × η_c·η_d": _bess_default,
}


# ------------------------------------------------------------------------------ reporting

# The sequences beside the given file that every terminal rule is also judged on.
OTHER_SEQUENCES = (
    ("winter, generated seed 21 from 2026-01-12", 21, date(2026, 1, 12)),
    ("summer, generated seed 32 from 2026-06-15", 32, date(2026, 6, 15)),
    ("autumn DST, generated seed 43 from 2026-10-19", 43, date(2026, 10, 19)),
)


def describe(days: Days) -> str:
    """Return a few lines on what the sequence holds."""
    b = days.battery
    per_day: dict[date, int] = {}
    negative: set[date] = set()
    for start, sell in zip(days.starts, days.sell, strict=True):
        per_day[start.date()] = per_day.get(start.date(), 0) + 1
        if sell < 0:
            negative.add(start.date())
    usual = 24 * 60 // days.period_minutes
    odd = [f"{d.isoformat()} ({count})" for d, count in per_day.items() if count != usual]
    lines = [
        f"{len(per_day)} days {days.dates[0]} … {days.dates[-1]} ({days.tz}), {days.n} periods of"
        f" {days.period_minutes} min" + (f"; DST days: {', '.join(odd)}" if odd else ""),
        f"negative sell prices on {len(negative)} day(s); buy {days.buy.min():.2f} …"
        f" {days.buy.max():.2f}, sell {days.sell.min():.2f} … {days.sell.max():.2f}"
        f" {days.currency}/kWh; load {days.load.sum():.0f} kWh, solar {days.solar.sum():.0f} kWh",
        f"battery {b.capacity_kwh:g} kWh, {b.max_charge_kw:g}/{b.max_discharge_kw:g} kW,"
        f" SOC {b.min_soc_percent:g}–{b.max_soc_percent:g} %, η {b.charge_efficiency:g}/"
        f"{b.discharge_efficiency:g}, wear {b.cycle_cost_per_kwh:g}/kWh, start SOC"
        f" {days.initial_soc_percent:g} %",
    ]
    if days.trimmed:
        lines.append(f"{days.trimmed} period(s) outside whole local days left out")
    return "\n".join(lines)


def _cell(outcome: Outcome | NotAvailable, best: Outcome) -> str:
    """Return a capture as a table cell."""
    if isinstance(outcome, NotAvailable):
        return "n/a"
    return f"{capture(outcome, best):.2%}"


def print_policies(
    days: Days, policies: Sequence[Policy], noise: Noise | None, *, reference: bool
) -> None:
    """Print realized savings and capture per policy (perfect forecasts, and noisy ones)."""
    best = hindsight(days)
    unit = days.currency or "money"
    print(
        f"scored: {len(days.dates) - 1} days before the look-ahead day {days.dates[-1]};"
        f" hindsight optimum {best.value:.2f} {unit} ({best.savings:.2f} saved,"
        f" {best.end_energy_kwh:.1f} kWh carried into the last day)"
    )
    rows = []
    for policy in policies:
        perfect = run_policy(days, policy, rule=None, reference=reference)
        noisy = run_policy(days, policy, noise, reference=reference) if noise is not None else None
        rows.append((policy, perfect, noisy))
    head = f"{'policy':<40} | {'realized':>9} {'capture':>8} | {'solves':>6} {'s':>5}"
    if noise is not None:
        head += f" | {'noisy realized':>14} {'capture':>8}"
    print(head)
    print("-" * len(head))
    for policy, perfect, noisy in rows:
        if isinstance(perfect, NotAvailable):
            print(f"{policy.name:<40} | not available yet: {perfect.reason}")
            continue
        line = (
            f"{policy.name:<40} | {perfect.savings:>9.2f} {_cell(perfect, best):>8} |"
            f" {perfect.solves:>6} {perfect.seconds:>5.1f}"
        )
        if isinstance(noisy, Outcome):
            line += f" | {noisy.savings:>14.2f} {_cell(noisy, best):>8}"
        print(line)
    if noise is not None:
        explain_noise(days, rows, best, noise, reference=reference)


def explain_noise(
    days: Days,
    rows: list[tuple[Policy, Outcome | NotAvailable, Outcome | NotAvailable | None]],
    best: Outcome,
    noise: Noise,
    *,
    reference: bool,
) -> None:
    """Print what limits capture with noise: load errors alone, solar errors alone, both."""
    policy, perfect, noisy = rows[-1]
    if not isinstance(perfect, Outcome) or not isinstance(noisy, Outcome):
        return
    alone = {}
    for name, part in (
        ("load", Noise(noise.seed, noise.load, 0.0)),
        ("solar", Noise(noise.seed, 0.0, noise.solar)),
    ):
        outcome = run_policy(days, policy, part, reference=reference)
        if isinstance(outcome, Outcome):
            alone[name] = capture(perfect, best) - capture(outcome, best)
    both = capture(perfect, best) - capture(noisy, best)
    unit = days.currency or "money"
    print(
        f"what limits capture ({policy.name}): with perfect forecasts it misses"
        f" {1 - capture(perfect, best):.2%} (prices beyond the horizon); forecast errors cost"
        f" {both:.2%} more: load errors ({noise.load:.0%}) alone {alone.get('load', math.nan):.2%},"
        f" solar errors ({noise.solar:.0%}) alone {alone.get('solar', math.nan):.2%}.\n"
        f"  The inverter follows the plan's mode (load support covers only the real load, solar"
        f" storage only real surplus), and what the modes cannot absorb goes to the grid:"
        f" battery energy exported {noisy.sold_from_battery_kwh:.0f} kWh (perfect"
        f" {perfect.sold_from_battery_kwh:.0f}), grid energy charged"
        f" {noisy.bought_into_battery_kwh:.0f} kWh (perfect {perfect.bought_into_battery_kwh:.0f});"
        f" the buy−sell spread paid on them rose by"
        f" {noisy.spread_paid - perfect.spread_paid:.2f} {unit}, of the"
        f" {perfect.value - noisy.value:.2f} {unit} lost."
    )


def print_terminal_rules(
    sequences: Sequence[tuple[str, Days]], noise: Noise | None, *, reference: bool
) -> None:
    """Print the capture of every candidate terminal rule, per sequence, for policies 2 and 3."""
    policies = [
        replace(POLICIES[1], name="day-bounded"),
        replace(POLICIES[2], name="through tomorrow"),
    ]
    best = {label: hindsight(days) for label, days in sequences}
    for label, _ in sequences:
        print(f"  [{label}] hindsight {best[label].savings:.2f}")
    results: dict[tuple[str, str, str], float] = {}
    for rule_name, rule in RULES.items():
        for label, days in sequences:
            for policy in policies:
                outcome = run_policy(days, policy, noise, rule=rule, reference=reference)
                if isinstance(outcome, Outcome):
                    results[rule_name, label, policy.name] = capture(outcome, best[label])
    for policy in policies:
        print(f"capture, {policy.name} ({len(sequences)} sequences; min, mean):")
        head = f"{'rule':<36} | " + " ".join(f"{i + 1:>7}" for i in range(len(sequences)))
        head += f" | {'min':>7} {'mean':>7}"
        print(head)
        print("-" * len(head))
        for rule_name in RULES:
            values = [results.get((rule_name, label, policy.name)) for label, _ in sequences]
            known = [v for v in values if v is not None]
            cells = " ".join("    n/a" if v is None else f"{v:>7.2%}" for v in values)
            summary = f"{min(known):>7.2%} {np.mean(known):>7.2%}" if known else "    n/a"
            print(f"{rule_name:<36} | {cells} | {summary}")
    print("sequences: " + "; ".join(f"{i + 1} {label}" for i, (label, _) in enumerate(sequences)))


# ------------------------------------------------------------------------ capacity tariff


@dataclass(frozen=True, slots=True)
class Metered:
    """A metered period as `capacity.month_peaks` reads it."""

    start: datetime
    period_minutes: int
    grid_imported: float


def month_fee(days: Days, imports: Sequence[float], tariff: CapacityTariff) -> float:
    """Return the capacity fee of the first day's month for these imports (scored periods)."""
    events = [
        Metered(start, days.period_minutes, float(kwh))
        for start, kwh in zip(days.starts, imports, strict=False)
    ]
    return fee(month_peaks(events, tariff, days.tz, days.dates[0]), tariff)


def print_capacity(days: Days, tariff: CapacityTariff, name: str, *, reference: bool) -> None:
    """Print the month's energy cost and capacity fee without a battery, with bess without
    the tariff, with bess planning for it, and the hindsight optimum of the month with it.

    The month is the first day's; only its periods count towards the fee. Money is over the
    scored days; savings are against the home without a battery, fee included, plus the
    worth of the energy carried into the last day (as everywhere in this bench).
    """
    scored = days.scored
    b = days.battery
    load, solar = days.load[:scored], days.solar[:scored]
    buy, sell = days.buy[:scored], days.sell[:scored]
    cap = math.inf if b.export_limit_kw is None else b.export_limit_kw * days.period_minutes / 60
    no_import = np.maximum(load - solar, 0.0)
    no_export = np.minimum(np.maximum(solar - load, 0.0), cap)
    base_cost = float((buy * no_import - sell * no_export).sum())
    base_fee = month_fee(days, [float(x) for x in no_import], tariff)
    rows: list[tuple[str, float, float, float | None]] = [("no battery", base_cost, base_fee, None)]
    whole = plan_with_capacity(days.truth(), tariff, [], days.tz)
    periods = whole.result.periods[:scored]
    opt_cost = sum(p.cost for p in periods)
    opt_fee = month_fee(days, [p.grid_import_kwh for p in periods], tariff)
    best_value = (
        whole.result.total_savings - lookahead_savings(days, b.min_energy_kwh) + base_fee - opt_fee
    )
    for label, policy in (
        ("bess, energy prices only", POLICIES[2]),
        (
            "bess with the tariff",
            replace(POLICIES[2], name="4 bess with the tariff", tariff=tariff),
        ),
    ):
        outcome = run_policy(days, policy, reference=reference)
        if isinstance(outcome, NotAvailable):
            print(f"{label}: not available ({outcome.reason})")
            continue
        case_fee = month_fee(days, outcome.imports, tariff)
        rows.append(
            (label, base_cost - outcome.savings, case_fee, outcome.value + base_fee - case_fee)
        )
    rows.append(("hindsight optimum, with the tariff", opt_cost, opt_fee, best_value))
    unit = days.currency
    print(
        f"\nCapacity tariff '{name}': {tariff.fee_per_kw_month:g} {unit}/kW·month on the mean of"
        f" the {tariff.peaks} highest {tariff.measurement_minutes}-minute peaks"
        f"{' on different days' if tariff.distinct_days else ''}; {days.dates[0]:%B %Y},"
        f" {scored} periods scored"
    )
    header = f"{'case':36s} {'energy':>9s} {'fee':>8s} {'total':>9s} {'saved':>8s} {'capture':>8s}"
    print(header)
    print("-" * len(header))
    for label, energy, month, value in rows:
        saved = "" if value is None else f"{value:8.2f}"
        share = "" if value is None or not best_value > 0 else f"{value / best_value:8.2%}"
        print(
            f"{label:36s} {energy:9.2f} {month:8.2f} {energy + month:9.2f} {saved:>8s} {share:>8s}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=SHIPPED)
    parser.add_argument("--noise", nargs=3, metavar=("SEED", "LOAD", "SOLAR"))
    parser.add_argument("--terminal-rules", action="store_true")
    parser.add_argument("--reference", action="store_true", help="plan without the manager")
    parser.add_argument("--policies", default="123", help="which policies to run, e.g. 13")
    parser.add_argument("--generate", type=Path, metavar="OUT")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--first-day", type=date.fromisoformat, default=date(2026, 3, 23))
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument(
        "--capacity",
        choices=sorted(PRESETS),
        help="the month of the file's first day with this capacity tariff (engine/capacity.py)",
    )
    args = parser.parse_args(argv)

    if args.generate is not None:
        data = generate_days(args.seed, args.first_day, args.days)
        args.generate.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, separators=(",", ":"))
        # One period per line: small, and readable in a diff.
        text = text.replace(',"periods":[', ',"periods":[\n').replace("},{", "},\n{")
        args.generate.write_text(text + "\n", encoding="utf-8")
        days = parse_days(data)
        print(f"wrote {args.generate} ({len(text) / 1024:.0f} KiB)\n{describe(days)}")
        return 0

    try:
        days = load_days(args.file)
    except SequenceError as err:
        print(f"{args.file}: {err}", file=sys.stderr)
        return 2
    print(f"{args.file.name}: {days.description}\n{describe(days)}")
    if args.reference:
        print("planned by the bench's reference planner, not the manager")
    noise = None
    if args.noise is not None:
        noise = Noise(int(args.noise[0]), float(args.noise[1]), float(args.noise[2]))
    if args.terminal_rules:
        sequences = [(args.file.name, days)]
        for label, seed, first in OTHER_SEQUENCES:
            sequences.append((label, parse_days(generate_days(seed, first, args.days))))
        print_terminal_rules(sequences, noise, reference=args.reference)
        return 0
    if args.capacity is not None:
        print_capacity(days, PRESETS[args.capacity], args.capacity, reference=args.reference)
        return 0
    policies = [p for p in POLICIES if p.name[0] in args.policies]
    print_policies(days, policies, noise, reference=args.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
