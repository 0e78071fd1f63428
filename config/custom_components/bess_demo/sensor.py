"""Demo home sensors: battery, meters, powers, a Nord Pool-like price, a Solcast-like forecast."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.util import dt as dt_util

from . import DemoConfigEntry
from .const import CURRENCY_FALLBACK
from .entity import DemoEntity
from .home import DemoHome
from .sim import day_hour_starts, day_prices, prices_published, solar_forecast_kwh

KWH = UnitOfEnergy.KILO_WATT_HOUR


@dataclass(frozen=True, kw_only=True)
class DemoSensorDescription(SensorEntityDescription):
    """A sensor whose value is read from the home."""

    name: str
    value_fn: Callable[[DemoHome], float]


def _meter(key: str, name: str, field: str) -> DemoSensorDescription:
    """Describe a cumulative energy meter."""
    return DemoSensorDescription(
        key=key,
        name=name,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=KWH,
        suggested_display_precision=2,
        value_fn=lambda home: round(float(getattr(home.state.meters, field)), 4),
    )


def _power(key: str, name: str, fn: Callable[[DemoHome], float]) -> DemoSensorDescription:
    """Describe a power sensor (W) showing the mean of the last minute."""
    return DemoSensorDescription(
        key=key,
        name=name,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda home: round(1000.0 * fn(home), 1),
    )


SENSORS: tuple[DemoSensorDescription, ...] = (
    DemoSensorDescription(
        key="battery_soc",
        name="Demo battery SOC",
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value_fn=lambda home: round(home.state.soc_percent(home.settings), 2),
    ),
    _meter("grid_import", "Demo grid import", "grid_import_kwh"),
    _meter("grid_export", "Demo grid export", "grid_export_kwh"),
    _meter("solar_energy", "Demo solar energy", "solar_kwh"),
    _meter("battery_charge", "Demo battery charge", "battery_charge_kwh"),
    _meter("battery_discharge", "Demo battery discharge", "battery_discharge_kwh"),
    _meter("home_consumption", "Demo home consumption", "load_kwh"),
    _power("home_power", "Demo home power", lambda home: home.state.power_kw("load_kwh")),
    _power("solar_power", "Demo solar power", lambda home: home.state.power_kw("solar_kwh")),
    _power(
        "battery_power",
        "Demo battery power",
        lambda home: (
            home.state.power_kw("battery_charge_kwh") - home.state.power_kw("battery_discharge_kwh")
        ),
    ),
    _power(
        "grid_power",
        "Demo grid power",
        lambda home: (
            home.state.power_kw("grid_import_kwh") - home.state.power_kw("grid_export_kwh")
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the demo home's sensors."""
    home = entry.runtime_data
    currency = hass.config.currency or CURRENCY_FALLBACK
    async_add_entities(
        [
            *(DemoSensor(home, description) for description in SENSORS),
            DemoPriceSensor(home, currency),
            DemoSolarForecastSensor(home, "solar_forecast_today", "Demo solar forecast today", 0),
            DemoSolarForecastSensor(
                home, "solar_forecast_tomorrow", "Demo solar forecast tomorrow", 1
            ),
        ]
    )


class DemoSensorEntity(DemoEntity, SensorEntity):
    """A demo sensor that shows an injected bad reading as a broken source would."""

    @property
    @override
    def state(self) -> Any:  # type: ignore[misc]
        """Return the state; a number injected by a test as it is, nan included.

        Home Assistant refuses nan from a numeric sensor entity, but a template or MQTT
        sensor shows it, and bess must cope with that.
        """
        fault = self.home.faults.readings.get(self.key)
        if isinstance(fault, int | float):
            return fault
        return super().state


class DemoSensor(DemoSensorEntity):
    """A reading of the simulated home."""

    entity_description: DemoSensorDescription

    def __init__(self, home: DemoHome, description: DemoSensorDescription) -> None:
        """Create the sensor of one description."""
        super().__init__(home, description.key, description.name)
        self.entity_description = description

    @callback
    def _async_refresh(self) -> None:
        """Read the value."""
        self._attr_native_value = self.entity_description.value_fn(self.home)


class DemoPriceSensor(DemoSensorEntity):
    """The spot price as the HACS Nord Pool sensor shows it.

    State: the current hour's price. Attributes: `raw_today` / `raw_tomorrow` lists of
    {start, end, value}, `today` / `tomorrow` lists of values, and `tomorrow_valid`, which
    turns true at 13:00 local time when the day-ahead auction results are out.
    """

    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_icon = "mdi:cash"
    _attr_suggested_display_precision = 3

    def __init__(self, home: DemoHome, currency: str) -> None:
        """Create the price sensor in the home's currency."""
        super().__init__(home, "spot_price", "Demo spot price")
        self._currency = currency
        self._attr_native_unit_of_measurement = f"{currency}/{KWH}"

    @callback
    def _async_refresh(self) -> None:
        """Publish the current price and the published days."""
        now = dt_util.now()
        tz = self.home.tz
        today = now.date()
        tomorrow = today + timedelta(days=1)
        raw_today = _raw_prices(today, tz)
        raw_tomorrow = _raw_prices(tomorrow, tz) if prices_published(tomorrow, now, tz) else []
        fault = self.home.faults.readings.get(self.key)
        if isinstance(fault, int | float):
            # A broken feed: the hour in progress shows the bad value in the list too.
            raw_today = [
                {**entry, "value": fault} if entry["start"] <= now < entry["end"] else entry
                for entry in raw_today
            ]
        current = next(
            (entry["value"] for entry in raw_today if entry["start"] <= now < entry["end"]), None
        )
        values = [entry["value"] for entry in raw_today]
        self._attr_native_value = current
        self._attr_extra_state_attributes = {
            "current_price": current,
            "average": round(sum(values) / len(values), 5),
            "min": min(values),
            "max": max(values),
            "unit": KWH,
            "currency": self._currency,
            "country": "Sweden",
            "region": "SE4",
            "price_in_cents": False,
            "today": values,
            "tomorrow": [entry["value"] for entry in raw_tomorrow],
            "tomorrow_valid": bool(raw_tomorrow),
            "raw_today": raw_today,
            "raw_tomorrow": raw_tomorrow,
        }


def _raw_prices(day: date, tz: Any) -> list[dict[str, Any]]:
    """Return a day's prices as Nord Pool's {start, end, value} entries."""
    return [
        {"start": start, "end": end, "value": value} for start, end, value in day_prices(day, tz)
    ]


class DemoSolarForecastSensor(DemoEntity, SensorEntity):
    """A day's solar forecast as the Solcast integration shows it.

    State: the day's forecast production (kWh). Attributes: `detailedForecast` (half-hourly)
    and `detailedHourly`, entries {period_start, pv_estimate, pv_estimate10, pv_estimate90}
    with pv_estimate the mean power of the period in kW.
    """

    _attr_device_class = SensorDeviceClass.ENERGY
    _attr_native_unit_of_measurement = KWH
    _attr_suggested_display_precision = 1
    _attr_icon = "mdi:solar-power"

    def __init__(self, home: DemoHome, key: str, name: str, day_offset: int) -> None:
        """Create the forecast of today (offset 0) or tomorrow (offset 1)."""
        super().__init__(home, key, name)
        self._day_offset = day_offset
        self._cached_day: date | None = None

    @callback
    def _async_refresh(self) -> None:
        """Publish the forecast; it is fixed per day, so it is computed once a day."""
        day = dt_util.now().date() + timedelta(days=self._day_offset)
        if day == self._cached_day:
            return
        self._cached_day = day
        settings, tz = self.home.settings, self.home.tz
        hourly: list[dict[str, Any]] = []
        half_hourly: list[dict[str, Any]] = []
        for start in day_hour_starts(day, tz):
            kwh = solar_forecast_kwh(settings, start, tz)
            hourly.append(_solcast_entry(start, kwh))
            for half in (start, start + timedelta(minutes=30)):
                kw = solar_forecast_kwh(settings, half, tz, hours=0.5) / 0.5
                half_hourly.append(_solcast_entry(half, kw))
        self._attr_native_value = round(sum(entry["pv_estimate"] for entry in hourly), 2)
        self._attr_extra_state_attributes = {
            "detailedForecast": half_hourly,
            "detailedHourly": hourly,
        }


def _solcast_entry(start: datetime, kw: float) -> dict[str, Any]:
    """Return one Solcast forecast entry with its 10 % and 90 % estimates."""
    return {
        "period_start": start,
        "pv_estimate": round(kw, 4),
        "pv_estimate10": round(kw * 0.6, 4),
        "pv_estimate90": round(kw * 1.25, 4),
    }
