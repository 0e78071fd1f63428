"""The `EnergyData` port for Home Assistant: readings, meter snapshots and reconstruction.

Live hours come from the cumulative energy meters read at each hour boundary (the deltas since
the previous boundary); past hours are rebuilt from the recorder's hourly statistics of the
same meters and the SOC's state history, so both agree on the same data. A local hour that does
not start on a UTC hour (the :30 and :45 time zones) is rebuilt from the 5-minute statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
import logging
import math
from typing import Any

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from ..const import (
    CONF_BATTERY_CHARGE_METER,
    CONF_BATTERY_DISCHARGE_METER,
    CONF_CAPACITY_KWH,
    CONF_CHARGE_EFFICIENCY,
    CONF_CONSUMPTION_DAYS,
    CONF_CONSUMPTION_ENTITY,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_FALLBACK_CONSUMPTION_KWH,
    CONF_GRID_EXPORT_METER,
    CONF_GRID_IMPORT_METER,
    CONF_PRICE_ENTITY,
    CONF_SOC_ENTITY,
    CONF_SOLAR_FORECAST_ENTITY,
    CONF_SOLAR_METER,
    DEFAULTS,
    PERIOD_MINUTES,
)
from ..engine.models import is_soc
from ..engine.ports import DataUnavailableError, HourMeasurement, PriceSeries
from .forecasts import (
    ConsumptionForecaster,
    SolarForecast,
    SolarForecastSource,
    async_energy_changes,
    async_recorded_hours,
    balance_home_kwh,
    recorder_available,
)
from .prices import PriceFormula, PriceSource

_LOGGER = logging.getLogger(__name__)

# Flow names, in the order of HourMeasurement's fields.
SOLAR = "solar"
GRID_IMPORT = "grid_import"
GRID_EXPORT = "grid_export"
BATTERY_CHARGE = "battery_charge"
BATTERY_DISCHARGE = "battery_discharge"
HOME = "home"
# A total_increasing meter that drops below 90 % of its last value was reset (the recorder's
# own rule); a smaller dip is meter noise and counts as no energy.
RESET_RATIO = 0.9
# An hour trigger this late means Home Assistant stalled (or slept) over the boundary: nothing
# read the meters then, and the recorder's last states and statistics are from before.
STALL_LATENESS = timedelta(minutes=1)
# Stalled boundaries are remembered this long: every hourly run rebuilds back to yesterday.
STALL_MEMORY = timedelta(days=3)


def _text(options: Mapping[str, Any], key: str) -> str | None:
    """Return a configured entity id, None when empty."""
    value = options.get(key)
    return str(value) if value else None


def _battery_model(options: Mapping[str, Any]) -> BatteryModel | None:
    """Return the model that derives the battery's flows: None where meters measure them."""
    capacity = options.get(CONF_CAPACITY_KWH)
    metered = options.get(CONF_BATTERY_CHARGE_METER) or options.get(CONF_BATTERY_DISCHARGE_METER)
    if not capacity or metered:
        return None
    merged = {**DEFAULTS, **options}
    return BatteryModel(
        capacity_kwh=float(capacity),
        charge_efficiency=float(merged[CONF_CHARGE_EFFICIENCY]),
        discharge_efficiency=float(merged[CONF_DISCHARGE_EFFICIENCY]),
    )


@dataclass(frozen=True, slots=True)
class EnergySourceConfig:
    """Which entities give bess its data, and how prices and forecasts are formed."""

    soc_entity: str | None
    price_entity: str | None = None
    solar_forecast_entity: str | None = None
    consumption_entity: str | None = None
    grid_import_meter: str | None = None
    grid_export_meter: str | None = None
    solar_meter: str | None = None
    battery_charge_meter: str | None = None
    battery_discharge_meter: str | None = None
    price_formula: PriceFormula = field(default_factory=PriceFormula)
    consumption_history_days: int = 7
    fallback_consumption_kwh: float = 0.5
    period_minutes: int = PERIOD_MINUTES
    # The battery's flows from its SOC where no battery meter is configured.
    battery: BatteryModel | None = None

    @classmethod
    def from_entry_options(cls, options: Mapping[str, Any]) -> EnergySourceConfig:
        """Build the config from a config entry's data merged with its options."""
        days: Any = options.get(CONF_CONSUMPTION_DAYS)
        if days is None:
            days = DEFAULTS[CONF_CONSUMPTION_DAYS]
        fallback: Any = options.get(CONF_FALLBACK_CONSUMPTION_KWH)
        if fallback is None:
            fallback = DEFAULTS[CONF_FALLBACK_CONSUMPTION_KWH]
        return cls(
            soc_entity=_text(options, CONF_SOC_ENTITY),
            price_entity=_text(options, CONF_PRICE_ENTITY),
            solar_forecast_entity=_text(options, CONF_SOLAR_FORECAST_ENTITY),
            consumption_entity=_text(options, CONF_CONSUMPTION_ENTITY),
            grid_import_meter=_text(options, CONF_GRID_IMPORT_METER),
            grid_export_meter=_text(options, CONF_GRID_EXPORT_METER),
            solar_meter=_text(options, CONF_SOLAR_METER),
            battery_charge_meter=_text(options, CONF_BATTERY_CHARGE_METER),
            battery_discharge_meter=_text(options, CONF_BATTERY_DISCHARGE_METER),
            price_formula=PriceFormula.from_options(options),
            consumption_history_days=int(days),
            fallback_consumption_kwh=float(fallback),
            battery=_battery_model(options),
        )

    @property
    def meters(self) -> dict[str, str]:
        """Return the configured cumulative energy meters by flow name."""
        candidates = {
            SOLAR: self.solar_meter,
            GRID_IMPORT: self.grid_import_meter,
            GRID_EXPORT: self.grid_export_meter,
            BATTERY_CHARGE: self.battery_charge_meter,
            BATTERY_DISCHARGE: self.battery_discharge_meter,
        }
        return {flow: entity for flow, entity in candidates.items() if entity}


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Cumulative meter readings (kWh) and SOC (%) taken at one hour boundary."""

    boundary: datetime
    readings_kwh: Mapping[str, float]
    soc_percent: float | None

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        return {
            "boundary": self.boundary.astimezone(UTC).isoformat(),
            "readings_kwh": dict(self.readings_kwh),
            "soc_percent": self.soc_percent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeterSnapshot:
        """Deserialize what `to_dict` wrote."""
        soc = data.get("soc_percent")
        readings = {k: float(v) for k, v in dict(data["readings_kwh"]).items()}
        soc_value = float(soc) if soc is not None else None
        # Only finite readings were ever saved; anything else is not a reading.
        if not all(math.isfinite(v) for v in readings.values()) or (
            soc_value is not None and not is_soc(soc_value)
        ):
            raise ValueError("the snapshot holds a value that is not a reading")
        return cls(
            boundary=datetime.fromisoformat(data["boundary"]),
            readings_kwh=readings,
            soc_percent=soc_value,
        )


def meter_delta_kwh(previous_kwh: float, current_kwh: float) -> float:
    """Return the energy between two readings of a total_increasing meter."""
    if current_kwh < RESET_RATIO * previous_kwh:
        # The meter restarted from zero during the hour: what it shows now was counted since.
        return current_kwh
    return max(current_kwh - previous_kwh, 0.0)


def _number(state: State | None) -> float | None:
    """Return a state as a finite number, or None (unavailable, unknown, text, nan, inf)."""
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _energy_kwh(state: State | None) -> float | None:
    """Return a meter state in kWh, or None when it is not a usable (finite, ≥ 0) reading."""
    value = _number(state)
    if value is None or value < 0:
        return None
    assert state is not None  # a number came from it
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit and unit != "kWh":
        try:
            return EnergyConverter.convert(value, unit, "kWh")
        except HomeAssistantError:
            return None
    return value


def soc_percent(state: State | None) -> float | None:
    """Return an SOC state (%), or None unless it is a finite number from 0 to 100."""
    value = _number(state)
    return value if is_soc(value) else None


@dataclass(frozen=True, slots=True)
class BatteryModel:
    """What turns a SOC change into the battery's AC-side flows, when no meter measures them."""

    capacity_kwh: float
    charge_efficiency: float
    discharge_efficiency: float

    def flows_kwh(self, soc_start: float, soc_end: float) -> tuple[float, float]:
        """Return (charged, discharged) on the AC side for a SOC change over an hour.

        The net change only: an hour that both charged and discharged shows its balance.
        """
        stored = self.capacity_kwh * (soc_end - soc_start) / 100.0
        if stored >= 0:
            return stored / self.charge_efficiency, 0.0
        return 0.0, -stored * self.discharge_efficiency


def build_measurement(
    start: datetime,
    soc_start: float,
    soc_end: float,
    flows_kwh: Mapping[str, float],
    battery: BatteryModel | None = None,
) -> HourMeasurement:
    """Return the hour's measurement; home comes from the balance when no sensor gives it.

    `battery` is given where no battery meters exist: the battery's flows are then derived
    from the SOC change (capacity and efficiencies); else charging would count as home load.
    """
    solar = flows_kwh.get(SOLAR, 0.0)
    grid_import = flows_kwh.get(GRID_IMPORT, 0.0)
    grid_export = flows_kwh.get(GRID_EXPORT, 0.0)
    charge = flows_kwh.get(BATTERY_CHARGE, 0.0)
    discharge = flows_kwh.get(BATTERY_DISCHARGE, 0.0)
    if (
        battery is not None
        and BATTERY_CHARGE not in flows_kwh
        and BATTERY_DISCHARGE not in flows_kwh
    ):
        charge, discharge = battery.flows_kwh(soc_start, soc_end)
    home = flows_kwh.get(HOME)
    if home is None:
        home = balance_home_kwh(solar, grid_import, grid_export, discharge, charge)
    return HourMeasurement(
        start=start,
        battery_soc_start=soc_start,
        battery_soc_end=soc_end,
        solar_generated=solar,
        home_consumed=home,
        grid_imported=grid_import,
        grid_exported=grid_export,
        battery_charged=charge,
        battery_discharged=discharge,
    )


class HomeAssistantEnergyData:
    """Implements the engine's `EnergyData` port with Home Assistant entities and recorder."""

    def __init__(self, hass: HomeAssistant, config: EnergySourceConfig) -> None:
        """Wire the price, forecast and meter sources of one config entry."""
        self._hass = hass
        self._config = config
        self._prices = (
            PriceSource(hass, config.price_entity, config.price_formula, config.period_minutes)
            if config.price_entity
            else None
        )
        self._solar = SolarForecastSource(hass, config.solar_forecast_entity, config.period_minutes)
        self._consumption = ConsumptionForecaster(
            hass,
            consumption_entity=config.consumption_entity,
            meters=config.meters,
            history_days=config.consumption_history_days,
            fallback_kwh_per_hour=config.fallback_consumption_kwh,
            period_minutes=config.period_minutes,
        )
        self._period_minutes = config.period_minutes
        self._snapshot: MeterSnapshot | None = None
        # Hour boundaries (UTC) Home Assistant stalled over: no hour touching one is a fact.
        self._stalled: set[datetime] = set()
        self.last_solar_forecast: SolarForecast | None = None

    @property
    def config(self) -> EnergySourceConfig:
        """The entities and settings this adapter reads."""
        return self._config

    @property
    def period_minutes(self) -> int:
        """Return the length of the periods prices, forecasts and measurements are for."""
        return self._period_minutes

    @period_minutes.setter
    def period_minutes(self, minutes: int) -> None:
        """Read, forecast and measure in periods of `minutes` (the manager's own)."""
        self._period_minutes = minutes
        if self._prices is not None:
            self._prices.period_minutes = minutes
        self._solar.period_minutes = minutes
        self._consumption.period_minutes = minutes

    @property
    def solar_forecast_available(self) -> bool:
        """False when the last solar request had no forecast behind it (zeros were used)."""
        return self.last_solar_forecast is None or self.last_solar_forecast.available

    @property
    def solar_forecast_message(self) -> str | None:
        """Why the last solar request had no forecast, for the UI."""
        return self.last_solar_forecast.message if self.last_solar_forecast else None

    @property
    def measured_flows(self) -> dict[str, str]:
        """Return every meter read per hour; the consumption sensor when it measures energy."""
        flows = self._config.meters
        entity_id = self._config.consumption_entity
        if entity_id:
            state = self._hass.states.get(entity_id)
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) if state else None
            # A power sensor (W) cannot give an hour's energy: home then comes from the balance.
            if state is None or unit in EnergyConverter.VALID_UNITS:
                flows[HOME] = entity_id
        return flows

    # Prices and forecasts

    async def get_prices(self, period_starts: Sequence[datetime]) -> PriceSeries | None:
        """Return final prices for the periods, None when not all are published yet."""
        if self._prices is None:
            raise DataUnavailableError("price_entity", "no price entity configured")
        return await self._prices.async_get_prices(period_starts)

    async def async_price_resolution(self, day: date) -> int | None:
        """Return the price source's resolution on `day` in minutes (15, 30, 60), or None."""
        if self._prices is None:
            return None
        return await self._prices.async_resolution_minutes(day)

    async def get_solar_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        """Return forecast solar per period (kWh); zeros, flagged, when there is no forecast."""
        forecast = await self._solar.async_get_forecast(period_starts)
        if not forecast.available and (
            self.last_solar_forecast is None or self.last_solar_forecast.available
        ):
            # A configured forecast that fails is worth a warning; none configured is a
            # choice (the solar forecast sensor says so), not a problem at every reload.
            _LOGGER.log(
                logging.WARNING if self._config.solar_forecast_entity else logging.DEBUG,
                "Planning with zero solar: %s",
                forecast.message,
            )
        self.last_solar_forecast = forecast
        return list(forecast.energy_kwh)

    async def get_consumption_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        """Return forecast home consumption per period (kWh)."""
        return await self._consumption.async_get_forecast(period_starts)

    async def get_battery_soc(self) -> float:
        """Return the battery SOC now (%); raise DataUnavailableError when unknown."""
        entity_id = self._config.soc_entity
        if not entity_id:
            raise DataUnavailableError("soc_entity", "no SOC entity configured")
        state = self._hass.states.get(entity_id)
        if state is None:
            raise DataUnavailableError(entity_id, "SOC entity not found")
        if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            raise DataUnavailableError(entity_id, f"SOC is {state.state}")
        soc = soc_percent(state)
        if soc is None:
            # Never planned with: nan, inf, 150 % or -5 % is a broken reading, not a SOC.
            raise DataUnavailableError(
                entity_id, f"SOC {state.state!r} is not a number from 0 to 100 %"
            )
        return soc

    # Snapshots that carry the meter readings from one hour boundary to the next

    def snapshot_state(self) -> dict[str, Any] | None:
        """Return the last boundary snapshot as JSON-able data, to survive a restart.

        The boundaries Home Assistant stalled over ride along: after a restart, the hours
        next to them are rebuilt from the recorder no more than before it.
        """
        data: dict[str, Any] = self._snapshot.to_dict() if self._snapshot else {}
        if self._stalled:
            data["stalled"] = sorted(moment.isoformat() for moment in self._stalled)
        return data or None

    def restore_snapshot(self, data: Mapping[str, Any] | None) -> None:
        """Restore what `snapshot_state` returned (ignored when unreadable)."""
        if not data:
            return
        try:
            self._stalled = {
                datetime.fromisoformat(text).astimezone(UTC) for text in data.get("stalled", [])
            }
        except (TypeError, ValueError) as err:
            _LOGGER.warning("Ignoring unreadable stalled hour boundaries: %s", err)
        if "boundary" not in data:
            return
        try:
            self._snapshot = MeterSnapshot.from_dict(data)
        except (KeyError, TypeError, ValueError) as err:
            _LOGGER.warning("Ignoring an unreadable meter snapshot: %s", err)

    def note_stall(self, boundary: datetime) -> None:
        """Remember that Home Assistant stalled over `boundary`.

        Neither hour next to it is measured or rebuilt: no reading, live or recorded, is from
        that moment.
        """
        utc = boundary.astimezone(UTC)
        self._stalled = {b for b in self._stalled if utc - b < STALL_MEMORY} | {utc}
        _LOGGER.warning("Home Assistant stalled over %s: the hours next to it stay missing", utc)

    def snapshot_boundary(self, boundary: datetime) -> None:
        """Keep the meters' readings now as those at `boundary`, unless it has a snapshot."""
        if self._snapshot is not None and self._snapshot.boundary.astimezone(
            UTC
        ) == boundary.astimezone(UTC):
            return
        self._snapshot = self.take_snapshot(boundary.astimezone(UTC))

    def take_snapshot(self, boundary: datetime) -> MeterSnapshot:
        """Read every meter and the SOC now, as the readings at `boundary`."""
        readings: dict[str, float] = {}
        for flow, entity_id in self.measured_flows.items():
            value = _energy_kwh(self._hass.states.get(entity_id))
            if value is not None:
                readings[flow] = value
        soc = (
            soc_percent(self._hass.states.get(self._config.soc_entity))
            if self._config.soc_entity
            else None
        )
        return MeterSnapshot(boundary=boundary, readings_kwh=readings, soc_percent=soc)

    @property
    def _length(self) -> timedelta:
        """Return the length of a period."""
        return timedelta(minutes=self._period_minutes)

    async def measure_period(self, hour_start: datetime) -> HourMeasurement | None:
        """Measure the period that just ended, from the meters' deltas since its start."""
        flows = self.measured_flows
        if not flows or not self._config.soc_entity:
            return None
        # Boundaries are compared and moved in UTC: local datetimes of one zone compare by
        # wall clock, which makes the two 02:00 hours of an autumn day equal.
        utc_start = hour_start.astimezone(UTC)
        hour_end = utc_start + self._length
        if hour_end in self._stalled:
            # Nothing read the meters at a stalled boundary, the recorder included: readings
            # now are not the boundary's, recorded ones are from before the stall.
            self._snapshot = None
            _LOGGER.info("Hour %s not measured: Home Assistant stalled at its end", hour_start)
            return None
        current = self.take_snapshot(hour_end)
        previous = self._snapshot
        if previous is not None and previous.boundary.astimezone(UTC) != utc_start:
            previous = None
        self._snapshot = current
        if utc_start in self._stalled:
            _LOGGER.info("Hour %s not measured: Home Assistant stalled at its start", hour_start)
            return None

        deltas: dict[str, float] = {}
        missing: list[str] = []
        for flow in flows:
            before = previous.readings_kwh.get(flow) if previous else None
            after = current.readings_kwh.get(flow)
            if before is None or after is None:
                missing.append(flow)
            elif after < RESET_RATIO * before:
                deltas[flow] = await self._async_delta_across_reset(
                    flows[flow], utc_start, hour_end, before, after
                )
            else:
                deltas[flow] = meter_delta_kwh(before, after)
        soc_start = previous.soc_percent if previous else None
        soc_end = current.soc_percent

        if missing or soc_start is None or soc_end is None:
            # A reading missing at either edge: the recorder knows the hour from its own data.
            recorded = await self._async_recorded_hour(
                utc_start, missing, previous, current, (soc_start, soc_end)
            )
            if recorded is None:
                _LOGGER.info(
                    "Hour %s not measured: no reading for %s and no recorded history",
                    hour_start.isoformat(),
                    ", ".join(missing) or "the SOC",
                )
                return None
            flows_kwh, soc_start, soc_end = recorded
            deltas.update(flows_kwh)
        return build_measurement(hour_start, soc_start, soc_end, deltas, self._config.battery)

    async def _async_recorded_hour(
        self,
        hour_start: datetime,
        flows: Sequence[str],
        previous: MeterSnapshot | None,
        current: MeterSnapshot,
        known_socs: tuple[float | None, float | None],
    ) -> tuple[dict[str, float], float, float] | None:
        """Return the given flows and the edge SOCs of one hour from the recorder, or None.

        The hour's compiled statistics come first; right after the boundary they are not
        compiled yet, so the meters' recorded states at the hour's edges come next. Only an
        edge SOC the snapshots do not know is looked up.
        """
        if not recorder_available(self._hass):
            return None
        if hour_start not in await async_recorded_hours(self._hass, [hour_start], self._length):
            _LOGGER.info("Hour %s was not recorded all through (downtime)", hour_start)
            return None
        hour_end = hour_start + self._length
        entities = {flow: self.measured_flows[flow] for flow in flows}
        changes = await async_energy_changes(
            self._hass, entities.values(), [hour_start], self._length
        )
        flows_kwh: dict[str, float] = {}
        for flow, entity_id in entities.items():
            value = changes.get(entity_id, {}).get(hour_start)
            if value is None:
                value = await self._async_delta_from_states(
                    entity_id,
                    hour_start,
                    previous.readings_kwh.get(flow) if previous else None,
                    current.readings_kwh.get(flow),
                )
            if value is None:
                return None
            flows_kwh[flow] = max(value, 0.0)
        socs = list(known_socs)
        if None in socs:
            recorded = await self._async_values_at(
                self._config.soc_entity, [hour_start, hour_end], soc_percent
            )
            socs = [
                known if known is not None else found
                for known, found in zip(socs, recorded, strict=True)
            ]
        soc_start, soc_end = socs
        if soc_start is None or soc_end is None:
            return None
        return flows_kwh, soc_start, soc_end

    async def _async_delta_from_states(
        self, entity_id: str, hour_start: datetime, before: float | None, after: float | None
    ) -> float | None:
        """Return a meter's energy over the hour from its recorded states, or None."""
        hour_end = hour_start + self._length
        if before is None:
            before = (await self._async_values_at(entity_id, [hour_start], _energy_kwh))[0]
        if after is None:
            after = (await self._async_values_at(entity_id, [hour_end], _energy_kwh))[0]
        if before is None or after is None:
            return None
        return await self._async_delta_across_reset(entity_id, hour_start, hour_end, before, after)

    async def _async_history(
        self, entity_id: str, start: datetime, end: datetime, include_start: bool
    ) -> list[State]:
        """Return the entity's recorded states in [start, end], oldest first."""
        if not recorder_available(self._hass):
            return []
        from homeassistant.components.recorder.history import get_significant_states
        from homeassistant.helpers.recorder import get_instance

        history = await get_instance(self._hass).async_add_executor_job(
            get_significant_states,
            self._hass,
            start,
            end,
            [entity_id],
            None,
            include_start,
            False,
        )
        states = [s for s in history.get(entity_id, []) if isinstance(s, State)]
        states.sort(key=lambda s: s.last_updated)
        return states

    async def _async_delta_across_reset(
        self, entity_id: str, start: datetime, end: datetime, before: float, after: float
    ) -> float:
        """Return a reset meter's energy over the hour, walking its recorded readings.

        Like the recorder's statistics: what it counted before the reset, then everything it
        counted from zero. Without history, the new reading is all that is known.
        """
        total = 0.0
        last = before
        for state in await self._async_history(entity_id, start, end, include_start=False):
            reading = _energy_kwh(state)
            if reading is None or state.last_updated >= end:
                continue
            total += meter_delta_kwh(last, reading)
            last = reading
        return total + meter_delta_kwh(last, after)

    async def _async_values_at(
        self,
        entity_id: str | None,
        moments: Sequence[datetime],
        parse: Callable[[State | None], float | None],
    ) -> list[float | None]:
        """Return the entity's recorded value at each moment (its last state at or before it)."""
        if not moments or not entity_id or not recorder_available(self._hass):
            return [None for _ in moments]
        first, last = min(moments), max(moments)
        # The history query excludes a state written exactly at its start: begin just before.
        states = await self._async_history(
            entity_id, first - timedelta(seconds=1), last + timedelta(seconds=1), include_start=True
        )
        result: list[float | None] = []
        for moment in moments:
            value: float | None = None
            for state in states:
                if state.last_updated > moment:
                    break
                value = parse(state)
            result.append(value)
        return result

    async def reconstruct_periods(
        self, hour_starts: Sequence[datetime]
    ) -> dict[datetime, HourMeasurement]:
        """Rebuild past hours from the meters' statistics and the SOC history; gaps are left out.

        Keys are the hour starts in UTC (they compare and hash equal to the local starts).
        """
        flows = self.measured_flows
        if not hour_starts or not flows or not recorder_available(self._hass):
            return {}
        by_utc = {
            start.astimezone(UTC): start
            for start in hour_starts
            if not self._stalled & {start.astimezone(UTC), start.astimezone(UTC) + self._length}
        }
        # An hour the recorder missed part of (downtime) is no fact, whatever its statistics
        # say: the recorder gives it a change of 0 and the outage's energy to the next hour.
        recorded = await async_recorded_hours(self._hass, by_utc, self._length)
        ordered = sorted(key for key in by_utc if key in recorded)
        if not ordered:
            return {}
        # Hourly statistics where the local hour is a UTC hour, 5-minute ones elsewhere.
        changes = await async_energy_changes(self._hass, flows.values(), ordered, self._length)
        # Only hours every meter has statistics for; the SOC history is read for those alone
        # (every hourly run asks again for the hours since yesterday that are still missing).
        measured = {
            key: {flow: changes.get(entity, {}).get(key) for flow, entity in flows.items()}
            for key in ordered
        }
        complete = {
            key: {flow: max(value, 0.0) for flow, value in values.items() if value is not None}
            for key, values in measured.items()
            if None not in values.values()
        }
        if not complete:
            return {}
        edges = sorted({*complete, *(start + self._length for start in complete)})
        socs = await self._async_values_at(self._config.soc_entity, edges, soc_percent)
        soc_by_edge = dict(zip(edges, socs, strict=True))
        rebuilt: dict[datetime, HourMeasurement] = {}
        for key, flows_kwh in complete.items():
            soc_start, soc_end = soc_by_edge[key], soc_by_edge[key + self._length]
            if soc_start is None or soc_end is None:
                continue
            # Keyed in UTC: the two local 02:00 hours of an autumn day would be one key.
            rebuilt[key] = build_measurement(
                by_utc[key], soc_start, soc_end, flows_kwh, self._config.battery
            )
        return rebuilt

    def describe_sources(self) -> dict[str, Any]:
        """Return which entity feeds what, for diagnostics."""
        return {
            "soc_entity": self._config.soc_entity,
            "price_entity": self._config.price_entity,
            "solar_forecast_entity": self._config.solar_forecast_entity,
            "consumption_entity": self._config.consumption_entity,
            "meters": self._config.meters,
            "solar_forecast_available": self.solar_forecast_available,
            "now": dt_util.utcnow().isoformat(),
        }
