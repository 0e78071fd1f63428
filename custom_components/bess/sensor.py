"""Sensors of bess: today's savings and hours, the plan now, tomorrow's plan, diagnostics.

The two capacity sensors (the month's peaks, today's cap) exist only while a capacity tariff
is configured: turning the tariff off removes them from the entity registry, rather than
leaving entities that can never have a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfPower, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import BessConfigEntry, BessCoordinator, BessData, TomorrowStatus
from .engine.daily_view import plan_hours
from .engine.models import Intent
from .entity import BessEntity
from .ha.controller import ControlStatus

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class BessSensorEntityDescription(SensorEntityDescription):
    """Describes a bess sensor: how to read its value (and attributes) from BessData."""

    value_fn: Callable[[BessData], StateType | date | datetime]
    attr_fn: Callable[[BessData], dict[str, Any]] | None = None
    monetary: bool = False
    price: bool = False
    # None from value_fn means "cannot be computed" (unavailable), unless this is False.
    none_is_unavailable: bool = True
    # A status read from the coordinator itself: available even while the data is missing
    # (the control status must say what the inverter does when no plan can be made).
    status_fn: Callable[[BessCoordinator], StateType] | None = None
    status_attr_fn: Callable[[BessCoordinator], dict[str, Any]] | None = None
    # Created only while a capacity tariff is configured.
    capacity: bool = False


def _hour_value(field: str) -> Callable[[BessData], StateType]:
    """Read a field of the hour in progress."""

    def value(data: BessData) -> StateType:
        hour = data.current
        return None if hour is None else getattr(hour, field)

    return value


def _period_value(field: str) -> Callable[[BessData], StateType]:
    """Read a field of the period in progress: what the inverter does, and the price, now."""

    def value(data: BessData) -> StateType:
        period = data.current_period
        return None if period is None else getattr(period, field)

    return value


def _intent(data: BessData) -> str | None:
    """The intent of the period in progress."""
    if data.current_period is None or data.current_period.intent is None:
        return None
    return data.current_period.intent.value


def _daily_view_attributes(data: BessData) -> dict[str, Any]:
    """Every hour of today, with the day's totals, and its periods when shorter than hours."""
    view = data.today.to_dict()
    attributes = {key: value for key, value in view.items() if key != "date"}
    attributes["period_minutes"] = data.period_minutes
    if data.period_minutes < 60:
        attributes["periods"] = [period.to_dict() for period in data.today.periods]
    return attributes


def _tomorrow_attributes(data: BessData) -> dict[str, Any]:
    """Tomorrow's planned hours, and its periods when they are shorter than hours."""
    if data.tomorrow is None:
        return {"hours": []}
    result = data.tomorrow
    attributes: dict[str, Any] = {
        "hours": plan_hours(result, dt_util.get_default_time_zone()),
        "total_cost": result.total_cost,
        "total_baseline_cost": result.total_baseline_cost,
        "period_minutes": result.period_minutes,
    }
    if result.period_minutes < 60:
        attributes["periods"] = [
            {"start": result.period_start(i).isoformat(), **period.to_dict()}
            for i, period in enumerate(result.periods)
        ]
    return attributes


def _capacity_peaks_attributes(data: BessData) -> dict[str, Any]:
    """The month's counted peaks (kW, local day and start), N, and the fee so far."""
    capacity = data.capacity
    if capacity is None:
        return {}
    return {
        "peaks": [
            {"kw": round(peak.kw, 3), "day": peak.day.isoformat(), "start": peak.start.isoformat()}
            for peak in capacity.peaks
        ],
        "peaks_counted": capacity.tariff.peaks,
        "month": capacity.month.isoformat()[:7],
        "fee_so_far": round(capacity.fee_so_far, 2),
        "fee_per_kw_month": capacity.tariff.fee_per_kw_month,
    }


def _capacity_cap(data: BessData) -> float | None:
    """The cap on counted import power the plan in force holds (None: no period counts)."""
    if data.capacity is None or data.capacity.outlook is None:
        return None
    return data.capacity.outlook.cap_kw


def _capacity_cap_attributes(data: BessData) -> dict[str, Any]:
    """The plan's peak and fee increase, and whether the load alone sets the peak."""
    if data.capacity is None or data.capacity.outlook is None:
        return {}
    outlook = data.capacity.outlook
    return {
        "planned_peak_kw": round(outlook.peak_kw, 3),
        "fee_increase": round(outlook.fee_increase, 2),
        # The plan says so and does not pretend otherwise: the battery cannot hold the peak
        # lower, though the fee would have it lower.
        "load_exceeds_cap": outlook.load_exceeds_cap,
        "counts": outlook.cap_kw is not None,
        "plan_start": outlook.start.isoformat(),
        "plan_end": outlook.end.astimezone(dt_util.get_default_time_zone()).isoformat(),
    }


def _control_status_attributes(coordinator: BessCoordinator) -> dict[str, Any]:
    """Why the status is what it is; under a capacity tariff, the import cap held now."""
    controller = coordinator.controller
    attributes: dict[str, Any] = {
        "last_error": controller.last_error,
        "overridden_entity": controller.overridden_entity,
    }
    if coordinator.capacity_tariff is not None:
        attributes["import_cap_kw"] = controller.import_cap_kw
        attributes["import_cap_active"] = controller.import_cap_kw is not None
    return attributes


SENSORS: tuple[BessSensorEntityDescription, ...] = (
    BessSensorEntityDescription(
        key="total_savings_today",
        translation_key="total_savings_today",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda data: data.today.total_savings,
    ),
    BessSensorEntityDescription(
        key="savings_this_month",
        translation_key="savings_this_month",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda data: data.savings_month,
    ),
    BessSensorEntityDescription(
        key="savings_this_year",
        translation_key="savings_this_year",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda data: data.savings_year,
    ),
    BessSensorEntityDescription(
        key="actual_savings_today",
        translation_key="actual_savings_today",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda data: data.today.actual_savings,
    ),
    BessSensorEntityDescription(
        key="predicted_savings_remaining",
        translation_key="predicted_savings_remaining",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda data: data.today.predicted_savings,
    ),
    BessSensorEntityDescription(
        key="battery_action",
        translation_key="battery_action",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=_period_value("battery_action_kw"),
    ),
    BessSensorEntityDescription(
        key="intent",
        translation_key="intent",
        device_class=SensorDeviceClass.ENUM,
        options=[intent.value for intent in Intent],
        value_fn=_intent,
    ),
    BessSensorEntityDescription(
        key="planned_soc",
        translation_key="planned_soc",
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=_hour_value("soc_end_percent"),
    ),
    BessSensorEntityDescription(
        key="buy_price",
        translation_key="buy_price",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        price=True,
        value_fn=_period_value("buy_price"),
    ),
    BessSensorEntityDescription(
        key="sell_price",
        translation_key="sell_price",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        price=True,
        value_fn=_period_value("sell_price"),
    ),
    BessSensorEntityDescription(
        key="actual_hours",
        translation_key="actual_hours",
        value_fn=lambda data: data.today.actual_hours,
    ),
    BessSensorEntityDescription(
        key="predicted_hours",
        translation_key="predicted_hours",
        value_fn=lambda data: data.today.predicted_hours,
    ),
    BessSensorEntityDescription(
        key="daily_view",
        translation_key="daily_view",
        device_class=SensorDeviceClass.DATE,
        value_fn=lambda data: date.fromisoformat(data.today.date),
        attr_fn=_daily_view_attributes,
    ),
    BessSensorEntityDescription(
        key="tomorrow_savings",
        translation_key="tomorrow_savings",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        none_is_unavailable=False,
        value_fn=lambda data: None if data.tomorrow is None else data.tomorrow.total_savings,
        attr_fn=_tomorrow_attributes,
    ),
    BessSensorEntityDescription(
        key="tomorrow_status",
        translation_key="tomorrow_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in TomorrowStatus],
        value_fn=lambda data: data.tomorrow_status.value,
        status_fn=lambda coordinator: coordinator.tomorrow_status.value,
    ),
    BessSensorEntityDescription(
        key="control_status",
        translation_key="control_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in ControlStatus],
        value_fn=lambda data: data.control_status.value,
        status_fn=lambda coordinator: coordinator.controller.status.value,
        status_attr_fn=_control_status_attributes,
    ),
    BessSensorEntityDescription(
        key="solar_forecast",
        translation_key="solar_forecast",
        device_class=SensorDeviceClass.ENUM,
        options=["available", "missing"],
        # "missing": bess plans with zero solar; the attribute says why.
        value_fn=lambda data: "available" if data.solar_forecast_available else "missing",
        attr_fn=lambda data: {"message": data.solar_forecast_message},
    ),
    BessSensorEntityDescription(
        key="yesterday_capture",
        translation_key="yesterday_capture",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda data: None if data.hindsight is None else data.hindsight.capture_percent,
        attr_fn=lambda data: {} if data.hindsight is None else data.hindsight.to_dict(),
    ),
    BessSensorEntityDescription(
        key="capacity_peaks",
        translation_key="capacity_peaks",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        capacity=True,
        value_fn=lambda data: None if data.capacity is None else data.capacity.mean_kw,
        attr_fn=_capacity_peaks_attributes,
    ),
    BessSensorEntityDescription(
        key="capacity_cap_today",
        translation_key="capacity_cap_today",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        capacity=True,
        # Unknown (not unavailable) while no period of the plan counts, or before a plan.
        none_is_unavailable=False,
        value_fn=_capacity_cap,
        attr_fn=_capacity_cap_attributes,
    ),
    BessSensorEntityDescription(
        key="last_optimization",
        translation_key="last_optimization",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.last_optimization,
    ),
    BessSensorEntityDescription(
        key="solve_duration",
        translation_key="solve_duration",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: None if data.solve_seconds is None else data.solve_seconds * 1000,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BessConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the sensors of one entry (the capacity ones only with a capacity tariff)."""
    coordinator = entry.runtime_data
    with_capacity = coordinator.capacity_tariff is not None
    if not with_capacity:
        registry = er.async_get(hass)
        for description in SENSORS:
            unique_id = f"{entry.entry_id}_{description.key}"
            if description.capacity and (
                entity_id := registry.async_get_entity_id("sensor", DOMAIN, unique_id)
            ):
                registry.async_remove(entity_id)
    async_add_entities(
        BessSensor(coordinator, description)
        for description in SENSORS
        if with_capacity or not description.capacity
    )


class BessSensor(BessEntity, SensorEntity):
    """A sensor that renders one BessSensorEntityDescription."""

    entity_description: BessSensorEntityDescription
    # The hours are large and change every hour; the recorder keeps the totals instead.
    _unrecorded_attributes = frozenset({"hours", "periods", "data_sources"})

    def __init__(self, coordinator: Any, description: BessSensorEntityDescription) -> None:
        """Create the sensor; the currency comes from Home Assistant's configuration."""
        super().__init__(coordinator, description)
        currency = coordinator.hass.config.currency
        if description.monetary:
            self._attr_native_unit_of_measurement = currency
        elif description.price:
            self._attr_native_unit_of_measurement = f"{currency}/kWh"

    @property
    def available(self) -> bool:
        """Unavailable when the data behind the sensor cannot be computed."""
        if self.entity_description.status_fn is not None:
            return True
        if not super().available or self.coordinator.data is None:
            return False
        if self.entity_description.none_is_unavailable:
            return self.entity_description.value_fn(self.coordinator.data) is not None
        return True

    @property
    def native_value(self) -> StateType | date | datetime:
        """Return the sensor's value."""
        if self.entity_description.status_fn is not None:
            return self.entity_description.status_fn(self.coordinator)
        if self.coordinator.data is None:
            return None
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the sensor's attributes, if it has any."""
        if self.entity_description.status_attr_fn is not None:
            return self.entity_description.status_attr_fn(self.coordinator)
        if self.entity_description.attr_fn is None or self.coordinator.data is None:
            return None
        return self.entity_description.attr_fn(self.coordinator.data)
