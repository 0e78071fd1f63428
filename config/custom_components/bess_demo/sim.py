"""The demo home's physics: weather, spot prices, household load and an obedient battery.

Pure Python, no Home Assistant, no clock: every function takes the moment it describes, so
the whole home is deterministic given the clock. Randomness (clouds, appliances, price noise)
comes from a hash of the date and hour, so the same date always has the same weather and the
same prices, and the published forecast differs from what then happens in a repeatable way.

Energy conventions follow the bess cost model: battery charge and discharge are measured on
the AC side; stored energy grows by `η_c·charge` and falls by `discharge/η_d`; every step
balances exactly: solar + import + discharge = load + export + charge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
import hashlib
import math
from typing import Any

STEP = timedelta(minutes=1)
# Forecast and price shapes are integrated at this resolution inside an hour.
_SAMPLES_PER_HOUR = 12


class WorkMode(StrEnum):
    """The options of the inverter's work-mode select."""

    SELF_CONSUMPTION = "Self consumption"
    CHARGE_FROM_GRID = "Charge from grid"
    CHARGE_FROM_SOLAR = "Charge from solar"
    DISCHARGE = "Discharge"
    EXPORT = "Export"
    IDLE = "Idle"


# Which work mode carries out each bess intent (bess's `mode_option_<intent>` options).
MODE_FOR_INTENT: dict[str, WorkMode] = {
    "grid_charging": WorkMode.CHARGE_FROM_GRID,
    "solar_storage": WorkMode.CHARGE_FROM_SOLAR,
    "load_support": WorkMode.DISCHARGE,
    "export_arbitrage": WorkMode.EXPORT,
    "idle": WorkMode.IDLE,
}


@dataclass(frozen=True, slots=True)
class HomeSettings:
    """The simulated home: where it is, its panels, its household and its battery."""

    latitude_deg: float = 55.6
    longitude_deg: float = 13.0
    pv_peak_kw: float = 8.0
    panel_tilt_deg: float = 35.0
    daily_load_scale: float = 1.0
    capacity_kwh: float = 10.0
    min_soc_percent: float = 10.0
    max_soc_percent: float = 100.0
    max_charge_kw: float = 5.0
    max_discharge_kw: float = 5.0
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    # A home that does exactly what was forecast: each half hour's solar and each hour's load
    # are constant and equal to the forecasts (the closed-loop test's "perfect forecasts" day).
    perfect_forecasts: bool = False

    def __post_init__(self) -> None:
        """Refuse a home no inverter could have."""
        if self.capacity_kwh <= 0 or self.max_charge_kw <= 0 or self.max_discharge_kw <= 0:
            raise ValueError("capacity and power limits must be > 0")
        if not 0 <= self.min_soc_percent < self.max_soc_percent <= 100:
            raise ValueError("need 0 <= min_soc_percent < max_soc_percent <= 100")
        if not (0 < self.charge_efficiency <= 1 and 0 < self.discharge_efficiency <= 1):
            raise ValueError("efficiencies must be in (0, 1]")

    @property
    def min_energy_kwh(self) -> float:
        """Stored energy at the minimum SOC."""
        return self.capacity_kwh * self.min_soc_percent / 100.0

    @property
    def max_energy_kwh(self) -> float:
        """Stored energy at the maximum SOC."""
        return self.capacity_kwh * self.max_soc_percent / 100.0


@dataclass(frozen=True, slots=True)
class InverterCommand:
    """What the inverter was last told: work mode, power set-points (kW AC), grid charging."""

    work_mode: WorkMode = WorkMode.SELF_CONSUMPTION
    charge_power_kw: float = 0.0
    discharge_power_kw: float = 0.0
    grid_charging: bool = False


@dataclass(frozen=True, slots=True)
class Flows:
    """Energy that flowed during a stretch of time (kWh)."""

    solar_kwh: float = 0.0
    load_kwh: float = 0.0
    grid_import_kwh: float = 0.0
    grid_export_kwh: float = 0.0
    battery_charge_kwh: float = 0.0
    battery_discharge_kwh: float = 0.0

    def __add__(self, other: Flows) -> Flows:
        """Return the flows of two stretches together."""
        return Flows(
            self.solar_kwh + other.solar_kwh,
            self.load_kwh + other.load_kwh,
            self.grid_import_kwh + other.grid_import_kwh,
            self.grid_export_kwh + other.grid_export_kwh,
            self.battery_charge_kwh + other.battery_charge_kwh,
            self.battery_discharge_kwh + other.battery_discharge_kwh,
        )

    @property
    def imbalance_kwh(self) -> float:
        """Sources minus sinks: zero for every physical stretch."""
        return (
            self.solar_kwh
            + self.grid_import_kwh
            + self.battery_discharge_kwh
            - self.load_kwh
            - self.grid_export_kwh
            - self.battery_charge_kwh
        )


@dataclass(frozen=True, slots=True)
class HomeState:
    """The home at `time`: the energy in the battery and every cumulative meter (kWh)."""

    time: datetime
    stored_kwh: float
    meters: Flows
    last_flows: Flows = Flows()
    last_step_hours: float = 0.0

    def soc_percent(self, settings: HomeSettings) -> float:
        """Return the state of charge in percent of the capacity."""
        return 100.0 * self.stored_kwh / settings.capacity_kwh

    def power_kw(self, field_name: str) -> float:
        """Return the mean power of one flow over the last step (kW)."""
        if self.last_step_hours <= 0:
            return 0.0
        return float(getattr(self.last_flows, field_name)) / self.last_step_hours

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        return {
            "time": self.time.astimezone(UTC).isoformat(),
            "stored_kwh": self.stored_kwh,
            "meters": asdict(self.meters),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HomeState:
        """Deserialize what `to_dict` wrote."""
        return cls(
            time=datetime.fromisoformat(data["time"]),
            stored_kwh=float(data["stored_kwh"]),
            meters=Flows(**{k: float(v) for k, v in data["meters"].items()}),
        )


def initial_state(settings: HomeSettings, now: datetime, soc_percent: float) -> HomeState:
    """Return a fresh home at `now` with the battery at `soc_percent` and zeroed meters."""
    soc = min(max(soc_percent, settings.min_soc_percent), settings.max_soc_percent)
    return HomeState(time=now, stored_kwh=settings.capacity_kwh * soc / 100.0, meters=Flows())


# --- Deterministic randomness -------------------------------------------------------------


def unit(*key: object) -> float:
    """Return a number in [0, 1) that depends only on `key` (stable across runs and versions)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _bump(x: float, center: float, width: float) -> float:
    """Return a Gaussian bump of height 1."""
    return math.exp(-0.5 * ((x - center) / width) ** 2)


# --- Local days ---------------------------------------------------------------------------


def day_hour_starts(day: date, tz: tzinfo) -> list[datetime]:
    """Return the start of every local hour of `day` (23, 24 or 25 on DST days)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    count = int((end - start).total_seconds() // 3600)
    return [(start + timedelta(hours=i)).astimezone(tz) for i in range(count)]


def _clock_hours(moment: datetime, tz: tzinfo) -> float:
    """Return the local wall-clock time of `moment` in hours since midnight."""
    local = moment.astimezone(tz)
    return local.hour + local.minute / 60.0 + local.second / 3600.0


def _samples(start: datetime, hours: float = 1.0) -> Iterator[datetime]:
    """Yield the midpoints of equal slices of a stretch beginning at `start`."""
    count = max(1, round(_SAMPLES_PER_HOUR * hours))
    slice_length = timedelta(hours=hours) / count
    for i in range(count):
        yield start + slice_length * (i + 0.5)


# --- Sun and clouds ------------------------------------------------------------------------


def clear_sky_pv_kw(settings: HomeSettings, moment: datetime) -> float:
    """Return what the south-facing panels would give under a clear sky at `moment` (kW)."""
    utc = moment.astimezone(UTC)
    day_of_year = utc.timetuple().tm_yday
    utc_hours = utc.hour + utc.minute / 60.0 + utc.second / 3600.0
    gamma = 2 * math.pi / 365.0 * (day_of_year - 1 + (utc_hours - 12) / 24.0)
    equation_of_time_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
    )
    solar_minutes = utc_hours * 60 + equation_of_time_min + 4 * settings.longitude_deg
    hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
    lat = math.radians(settings.latitude_deg)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    if cos_zenith <= 0.0:
        return 0.0
    # A south-facing tilted plane sees the sun as a horizontal plane at latitude − tilt would.
    plane_lat = lat - math.radians(settings.panel_tilt_deg)
    cos_incidence = math.sin(plane_lat) * math.sin(declination) + math.cos(plane_lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    air_mass = 1.0 / max(cos_zenith, 0.05)
    beam = 0.75 ** (air_mass**0.678)
    irradiance = max(cos_incidence, 0.0) * beam + 0.12 * cos_zenith
    return max(0.0, settings.pv_peak_kw * irradiance * 0.95)


def _sky_clearness(day: date) -> float:
    """Return how clear a day's sky is on average (0 overcast … 1 clear)."""
    return 0.15 + 0.85 * unit("sky", day.isoformat()) ** 0.8


def _forecast_clearness(day: date, utc_hour: datetime) -> float:
    """Return the clearness the forecast expects in one hour."""
    wobble = 0.3 * (unit("cloud-forecast", utc_hour.isoformat()) - 0.5)
    return min(1.0, max(0.05, _sky_clearness(day) + wobble))


def _actual_clearness(day: date, utc_hour: datetime) -> float:
    """Return the clearness that then happens: the forecast, off by up to ±30 %."""
    error = 0.6 * (unit("cloud-actual", utc_hour.isoformat()) - 0.5)
    return min(1.0, max(0.0, _forecast_clearness(day, utc_hour) * (1.0 + error)))


def _utc_hour(moment: datetime) -> datetime:
    """Return the start of the UTC hour containing `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def solar_power_kw(settings: HomeSettings, moment: datetime, tz: tzinfo) -> float:
    """Return the panels' actual output at `moment` (kW)."""
    if settings.perfect_forecasts:  # constant over each half hour of the Solcast forecast
        half_hour = _utc_hour(moment) + timedelta(
            minutes=30 * (moment.astimezone(UTC).minute >= 30)
        )
        return solar_forecast_kwh(settings, half_hour, tz, hours=0.5) / 0.5
    day = moment.astimezone(tz).date()
    return clear_sky_pv_kw(settings, moment) * _actual_clearness(day, _utc_hour(moment))


def solar_forecast_kwh(
    settings: HomeSettings, start: datetime, tz: tzinfo, hours: float = 1.0
) -> float:
    """Return the forecast production of the stretch of `hours` beginning at `start` (kWh).

    Stretches are expected within one hour (a whole hour or half of one).
    """
    day = start.astimezone(tz).date()
    clearness = _forecast_clearness(day, _utc_hour(start))
    values = [clear_sky_pv_kw(settings, t) for t in _samples(start, hours)]
    return clearness * hours * sum(values) / len(values)


# --- Household ----------------------------------------------------------------------------


def load_power_kw(settings: HomeSettings, moment: datetime, tz: tzinfo) -> float:
    """Return the household's consumption at `moment` (kW)."""
    if settings.perfect_forecasts:
        return load_forecast_kwh(settings, _utc_hour(moment), tz)
    return _varying_load_kw(settings, moment, tz)


def load_forecast_kwh(settings: HomeSettings, start: datetime, tz: tzinfo) -> float:
    """Return the household's use in the hour beginning at `start` (kWh), minute by minute."""
    minutes = [start + timedelta(minutes=m, seconds=30) for m in range(60)]
    return sum(_varying_load_kw(settings, t, tz) for t in minutes) / 60.0


def _varying_load_kw(settings: HomeSettings, moment: datetime, tz: tzinfo) -> float:
    """Return the household's consumption at `moment` (kW), as it varies within hours."""
    local = moment.astimezone(tz)
    day = local.date()
    h = _clock_hours(moment, tz)
    weekend = day.weekday() >= 5
    morning = _bump(h, 9.0, 1.3) * 0.7 if weekend else _bump(h, 7.2, 0.8) * 0.9
    midday = _bump(h, 12.5, 1.5) * (0.5 if weekend else 0.2)
    evening = _bump(h, 18.6, 1.5) * 1.3 + _bump(h, 21.5, 0.9) * 0.4
    # Heating and lighting make winter days heavier than summer ones.
    season = 0.15 * (1 + math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.0))
    power = 0.28 + season + morning + midday + evening
    # One machine run (washing, dishes) a day, at an hour that depends on the date.
    machine_hour = 9 + int(unit("machine", day.isoformat()) * 13)
    if machine_hour <= h < machine_hour + 1.25:
        power += 1.8
    ten_minutes = local.replace(minute=local.minute - local.minute % 10, second=0, microsecond=0)
    noise = 0.7 + 0.6 * unit("load", ten_minutes.isoformat())
    day_factor = 0.85 + 0.3 * unit("load-day", day.isoformat())
    return settings.daily_load_scale * power * noise * day_factor


# --- Spot prices --------------------------------------------------------------------------

# The day-ahead market's resolution since 1 October 2025: quarter hours.
PRICE_MINUTES = 15


def spot_price(day: date, clock_hour: int, minute: int = 0) -> float:
    """Return the spot price (currency/kWh) of a local quarter hour of `day`, Nord Pool-like.

    `clock_hour:minute` starts the quarter hour. Low at night, a morning and a larger evening
    peak, a midday dip that deepens on sunny days and on weekends can go below zero; each
    quarter hour has its own noise, as the day-ahead market's quarter-hour products do.
    """
    key = day.isoformat()
    level = 0.03 + 0.12 * unit("price-level", key)
    weekend = day.weekday() >= 5
    peak = 0.7 if weekend else 1.0
    h = clock_hour + (minute + PRICE_MINUTES / 2) / 60.0
    shape = (
        0.6
        + peak * 0.8 * _bump(h, 8.0, 1.2)
        + 0.35 * _bump(h, 13.0, 3.0)
        + peak * 1.2 * _bump(h, 18.5, 1.5)
        + 0.3 * _bump(h, 22.0, 1.2)
    )
    sunny_dip = 0.45 * _sky_clearness(day) * _bump(h, 13.0, 2.0)
    noise = 1.0 + 0.12 * (unit("price", key, clock_hour, minute) - 0.5)
    value = level * (shape - sunny_dip) * noise
    if weekend:
        value -= 0.02 * _sky_clearness(day) * _bump(h, 13.0, 1.5)
    return round(value, 5)


def day_prices(day: date, tz: tzinfo) -> list[tuple[datetime, datetime, float]]:
    """Return `(start, end, price)` for every local quarter hour of `day` (92, 96 or 100)."""
    step = timedelta(minutes=PRICE_MINUTES)
    prices = []
    for hour_start in day_hour_starts(day, tz):
        for quarter in range(60 // PRICE_MINUTES):
            # In UTC: local wall-clock arithmetic loses the doubled autumn hour's fold.
            utc = hour_start.astimezone(UTC) + quarter * step
            start, end = utc.astimezone(tz), (utc + step).astimezone(tz)
            prices.append((start, end, spot_price(day, start.hour, start.minute)))
    return prices


def prices_published(day: date, now: datetime, tz: tzinfo) -> bool:
    """Return whether `day`'s prices are known at `now`: day-ahead results come at 13:00."""
    local = now.astimezone(tz)
    return day <= local.date() or (day == local.date() + timedelta(days=1) and local.hour >= 13)


# --- The battery --------------------------------------------------------------------------


def dispatch(
    settings: HomeSettings,
    command: InverterCommand,
    stored_kwh: float,
    *,
    solar_kw: float,
    load_kw: float,
    hours: float,
) -> Flows:
    """Return what flows during `hours` of constant solar and load under `command`."""
    solar = max(solar_kw, 0.0) * hours
    load = max(load_kw, 0.0) * hours
    surplus = max(solar - load, 0.0)
    deficit = max(load - solar, 0.0)
    # What the cells can take or give in this step, on the AC side.
    room = max(settings.max_energy_kwh - stored_kwh, 0.0) / settings.charge_efficiency
    available = max(stored_kwh - settings.min_energy_kwh, 0.0) * settings.discharge_efficiency
    hw_charge = settings.max_charge_kw * hours
    hw_discharge = settings.max_discharge_kw * hours
    set_charge = min(max(command.charge_power_kw, 0.0) * hours, hw_charge)
    set_discharge = min(max(command.discharge_power_kw, 0.0) * hours, hw_discharge)

    charge = discharge = 0.0
    mode = command.work_mode
    if mode is WorkMode.SELF_CONSUMPTION:
        charge, discharge = min(surplus, hw_charge), min(deficit, hw_discharge)
    elif mode is WorkMode.CHARGE_FROM_GRID:
        charge = set_charge if command.grid_charging else min(surplus, set_charge)
    elif mode is WorkMode.CHARGE_FROM_SOLAR:
        charge = min(surplus, set_charge)
    elif mode is WorkMode.DISCHARGE:
        discharge = min(deficit, set_discharge)
    elif mode is WorkMode.EXPORT:
        discharge = set_discharge
    charge = min(charge, room)
    discharge = min(discharge, available)

    net = load - solar + charge - discharge
    return Flows(
        solar_kwh=solar,
        load_kwh=load,
        grid_import_kwh=max(net, 0.0),
        grid_export_kwh=max(-net, 0.0),
        battery_charge_kwh=charge,
        battery_discharge_kwh=discharge,
    )


def step(
    settings: HomeSettings,
    state: HomeState,
    command: InverterCommand,
    until: datetime,
    tz: tzinfo,
) -> HomeState:
    """Return the home at `until`, within one minute of constant sun and load, under `command`."""
    hours = (until - state.time).total_seconds() / 3600.0
    if hours <= 0:
        return state
    # Sun and load are sampled once per whole minute, so a minute split by a command change
    # flows exactly as it would have in one piece.
    middle = state.time.astimezone(UTC).replace(second=30, microsecond=0)
    flows = dispatch(
        settings,
        command,
        state.stored_kwh,
        solar_kw=solar_power_kw(settings, middle, tz),
        load_kw=load_power_kw(settings, middle, tz),
        hours=hours,
    )
    stored = (
        state.stored_kwh
        + settings.charge_efficiency * flows.battery_charge_kwh
        - flows.battery_discharge_kwh / settings.discharge_efficiency
    )
    # Rounding must never push the cells past their limits (nor past where they already were,
    # should the limits have been changed under a battery outside them).
    floor = min(settings.min_energy_kwh, state.stored_kwh)
    ceiling = max(settings.max_energy_kwh, state.stored_kwh)
    stored = min(max(stored, floor), ceiling)
    return replace(
        state,
        time=until,
        stored_kwh=stored,
        meters=state.meters + flows,
        last_flows=flows,
        last_step_hours=hours,
    )


def advance(
    settings: HomeSettings,
    state: HomeState,
    command: InverterCommand,
    until: datetime,
    tz: tzinfo,
) -> HomeState:
    """Return the home at `until`, stepping minute by minute on whole-minute boundaries.

    Steps end on whole minutes so that hourly meter readings split exactly at the hour.
    """
    current = state
    last_flows = Flows()
    last_hours = 0.0
    while current.time < until:
        boundary = current.time.astimezone(UTC).replace(second=0, microsecond=0) + STEP
        current = step(settings, current, command, min(boundary, until), tz)
        last_flows, last_hours = current.last_flows, current.last_step_hours
    return replace(current, last_flows=last_flows, last_step_hours=last_hours)
