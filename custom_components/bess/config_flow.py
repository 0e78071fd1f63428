"""UI configuration of bess: the config flow, the reconfigure flow and the options flow.

Sensor choices live in `entry.data` (changed through the reconfigure flow); every tunable
(battery, grid, prices, consumption forecast, control, stored history, capacity tariff)
lives in `entry.options`.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any, Literal, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryBaseFlow,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_NAME, UnitOfEnergy, UnitOfPower, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, selector
import voluptuous as vol

from .const import (
    CAPACITY_CUSTOM,
    CAPACITY_KEYS,
    CAPACITY_NONE,
    CONF_BATTERY_CHARGE_METER,
    CONF_BATTERY_DISCHARGE_METER,
    CONF_CAPACITY_DISTINCT_DAYS,
    CONF_CAPACITY_FEE,
    CONF_CAPACITY_HOURS_END,
    CONF_CAPACITY_HOURS_START,
    CONF_CAPACITY_KWH,
    CONF_CAPACITY_MEASUREMENT_MINUTES,
    CONF_CAPACITY_MONTHS,
    CONF_CAPACITY_NIGHT_WEIGHT,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_PRESET,
    CONF_CAPACITY_WEEKDAYS_ONLY,
    CONF_CHARGE_EFFICIENCY,
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONSUMPTION_DAYS,
    CONF_CONSUMPTION_ENTITY,
    CONF_CONTROL_MODE,
    CONF_CONTROL_SCRIPT,
    CONF_CURTAIL_ENTITY,
    CONF_CURTAILMENT,
    CONF_CYCLE_COST,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_EXPORT_COMPENSATION,
    CONF_EXPORT_LIMIT_KW,
    CONF_EXPORT_MULTIPLIER,
    CONF_FALLBACK_CONSUMPTION_KWH,
    CONF_GRID_CHARGE_SWITCH,
    CONF_GRID_CHARGING,
    CONF_GRID_EXPORT_METER,
    CONF_GRID_IMPORT_METER,
    CONF_GROWATT_DEVICE_ID,
    CONF_IMPORT_LIMIT_KW,
    CONF_KEEP_HISTORY_DAYS,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MAX_SOC,
    CONF_MIN_SOC,
    CONF_MODE_OPTION_PREFIX,
    CONF_PERIOD_MINUTES,
    CONF_PRICE_ENTITY,
    CONF_PRICE_FIXED_FEE,
    CONF_PRICE_MARKUP,
    CONF_PRICE_MULTIPLIER,
    CONF_PRICE_VAT,
    CONF_SAFE_MODE,
    CONF_SOC_ENTITY,
    CONF_SOLAR_FORECAST_ENTITY,
    CONF_SOLAR_METER,
    CONF_TERMINAL_VALUE,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
    CONTROL_MODES,
    CONTROL_SCRIPT,
    DEFAULT_NAME,
    DEFAULTS,
    DOMAIN,
    PERIOD_CHOICES,
    SAFE_MODE_HOLD,
    SAFE_MODES,
)
from .coordinator import capacity_tariff
from .engine.capacity import MEASUREMENT_MINUTES, PRESETS, CapacityTariff
from .engine.models import Intent
from .ha.forecasts import async_validate_solar_forecast
from .ha.prices import async_detect_price_source

GROWATT_DOMAIN = "growatt_server"

# The cumulative energy meters: each must be a numeric sensor.
ENERGY_METERS = (
    CONF_GRID_IMPORT_METER,
    CONF_GRID_EXPORT_METER,
    CONF_SOLAR_METER,
    CONF_BATTERY_CHARGE_METER,
    CONF_BATTERY_DISCHARGE_METER,
)
SENSOR_KEYS = (
    CONF_SOC_ENTITY,
    CONF_PRICE_ENTITY,
    CONF_SOLAR_FORECAST_ENTITY,
    CONF_CONSUMPTION_ENTITY,
    *ENERGY_METERS,
)
MODE_OPTION_KEYS = tuple(f"{CONF_MODE_OPTION_PREFIX}{intent.value}" for intent in Intent)
# Every option key the control steps own; the options flow drops them all before writing the
# chosen mode's keys, so a mode switched away from leaves no stale mapping behind.
CONTROL_KEYS = (
    CONF_CONTROL_MODE,
    CONF_WORK_MODE_SELECT,
    CONF_CHARGE_POWER_NUMBER,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_GRID_CHARGE_SWITCH,
    CONF_CURTAIL_ENTITY,
    CONF_CONTROL_SCRIPT,
    CONF_GROWATT_DEVICE_ID,
    CONF_SAFE_MODE,
    *MODE_OPTION_KEYS,
)
BATTERY_KEYS = (
    CONF_CAPACITY_KWH,
    CONF_MIN_SOC,
    CONF_MAX_SOC,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_CHARGE_EFFICIENCY,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_CYCLE_COST,
)


def _number(
    minimum: float, maximum: float, step: float | Literal["any"], unit: str | None = None
) -> selector.NumberSelector:
    """Build a boxed number field with a range and a unit."""
    config = selector.NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def _sensor(device_class: str | list[str] | None = None) -> selector.EntitySelector:
    """Build a sensor picker, narrowed to a device class where one applies."""
    config = selector.EntitySelectorConfig(domain="sensor")
    if device_class is not None:
        config["device_class"] = device_class
    return selector.EntitySelector(config)


def _entity(domain: str | list[str]) -> selector.EntitySelector:
    """Build a picker for entities of one domain (or of several)."""
    return selector.EntitySelector(selector.EntitySelectorConfig(domain=domain))


def _field(key: str, defaults: Mapping[str, Any]) -> vol.Required:
    """Make a required field that starts at its current or default value when there is one."""
    if key in defaults:
        return vol.Required(key, default=defaults[key])
    return vol.Required(key)


def _currency_per_kwh(hass: HomeAssistant) -> str:
    """Return the unit of a price in the user's currency."""
    return f"{hass.config.currency}/{UnitOfEnergy.KILO_WATT_HOUR}"


def _battery_schema(hass: HomeAssistant, defaults: Mapping[str, Any]) -> dict[Any, Any]:
    """Return the battery fields, each starting from `defaults`."""
    kwh, kw = UnitOfEnergy.KILO_WATT_HOUR, UnitOfPower.KILO_WATT
    return {
        _field(CONF_CAPACITY_KWH, defaults): _number(0, 1000, 0.1, kwh),
        _field(CONF_MIN_SOC, defaults): _number(0, 100, 1, "%"),
        _field(CONF_MAX_SOC, defaults): _number(0, 100, 1, "%"),
        _field(CONF_MAX_CHARGE_KW, defaults): _number(0, 100, 0.1, kw),
        _field(CONF_MAX_DISCHARGE_KW, defaults): _number(0, 100, 0.1, kw),
        _field(CONF_CHARGE_EFFICIENCY, defaults): _number(0, 1, 0.01),
        _field(CONF_DISCHARGE_EFFICIENCY, defaults): _number(0, 1, 0.01),
        _field(CONF_CYCLE_COST, defaults): _number(0, 10, "any", _currency_per_kwh(hass)),
    }


def _validate_battery(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the form errors of battery settings no battery can have."""
    errors: dict[str, str] = {}
    if user_input[CONF_CAPACITY_KWH] <= 0:
        errors[CONF_CAPACITY_KWH] = "capacity_not_positive"
    if user_input[CONF_MIN_SOC] >= user_input[CONF_MAX_SOC]:
        errors[CONF_MAX_SOC] = "soc_range"
    for key in (CONF_MAX_CHARGE_KW, CONF_MAX_DISCHARGE_KW):
        if user_input[key] <= 0:
            errors[key] = "power_not_positive"
    for key in (CONF_CHARGE_EFFICIENCY, CONF_DISCHARGE_EFFICIENCY):
        if not 0 < user_input[key] <= 1:
            errors[key] = "efficiency_range"
    return errors


# What "custom" starts from where no tariff is stored yet: the common Nordic rule (the mean of
# the 3 highest hourly peaks on 3 different days, all hours, every month); the fee is yours.
CUSTOM_TARIFF = CapacityTariff(fee_per_kw_month=50.0)
CAPACITY_PRESETS = [CAPACITY_NONE, CAPACITY_CUSTOM, *PRESETS]


def _capacity_fields(tariff: CapacityTariff) -> dict[str, Any]:
    """Return a tariff as the capacity form's values (and the options it is stored as)."""
    return {
        CONF_CAPACITY_FEE: tariff.fee_per_kw_month,
        CONF_CAPACITY_PEAKS: tariff.peaks,
        CONF_CAPACITY_DISTINCT_DAYS: tariff.distinct_days,
        CONF_CAPACITY_WEEKDAYS_ONLY: tariff.weekdays_only,
        CONF_CAPACITY_HOURS_START: tariff.hours[0],
        CONF_CAPACITY_HOURS_END: tariff.hours[1],
        CONF_CAPACITY_MONTHS: [str(month) for month in sorted(tariff.months)],
        CONF_CAPACITY_NIGHT_WEIGHT: tariff.night_weight,
        CONF_CAPACITY_MEASUREMENT_MINUTES: str(tariff.measurement_minutes),
    }


def _capacity_schema(hass: HomeAssistant, defaults: Mapping[str, Any]) -> vol.Schema:
    """Return the capacity tariff's fields, each starting from `defaults`.

    The ranges are wide on purpose: a value no tariff can have gets a message saying why
    (`_validate_capacity`), not a bare refusal of the form.
    """

    def select(options: list[str], key: str, *, multiple: bool = False) -> selector.SelectSelector:
        return selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=options,
                multiple=multiple,
                mode=selector.SelectSelectorMode.LIST
                if multiple
                else selector.SelectSelectorMode.DROPDOWN,
                translation_key=key,
            )
        )

    fee_unit = f"{hass.config.currency}/{UnitOfPower.KILO_WATT}"
    return vol.Schema(
        {
            _field(CONF_CAPACITY_FEE, defaults): _number(0, 100000, "any", fee_unit),
            _field(CONF_CAPACITY_PEAKS, defaults): _number(0, 31, 1),
            _field(CONF_CAPACITY_DISTINCT_DAYS, defaults): selector.BooleanSelector(),
            _field(CONF_CAPACITY_WEEKDAYS_ONLY, defaults): selector.BooleanSelector(),
            _field(CONF_CAPACITY_HOURS_START, defaults): _number(0, 24, 1, UnitOfTime.HOURS),
            _field(CONF_CAPACITY_HOURS_END, defaults): _number(0, 24, 1, UnitOfTime.HOURS),
            _field(CONF_CAPACITY_MONTHS, defaults): select(
                [str(month) for month in range(1, 13)], CONF_CAPACITY_MONTHS, multiple=True
            ),
            _field(CONF_CAPACITY_NIGHT_WEIGHT, defaults): _number(0, 1, 0.05),
            _field(CONF_CAPACITY_MEASUREMENT_MINUTES, defaults): select(
                [str(minutes) for minutes in sorted(MEASUREMENT_MINUTES, reverse=True)],
                CONF_CAPACITY_MEASUREMENT_MINUTES,
            ),
        }
    )


def _validate_capacity(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the form errors of capacity tariff rules no network company publishes."""
    errors: dict[str, str] = {}
    if not user_input[CONF_CAPACITY_FEE] > 0:
        errors[CONF_CAPACITY_FEE] = "capacity_fee_not_positive"
    peaks = user_input[CONF_CAPACITY_PEAKS]
    if peaks < 1 or peaks != int(peaks):
        errors[CONF_CAPACITY_PEAKS] = "capacity_peaks_range"
    start, end = user_input[CONF_CAPACITY_HOURS_START], user_input[CONF_CAPACITY_HOURS_END]
    if start != int(start) or end != int(end) or not 0 <= start < end <= 24:
        errors[CONF_CAPACITY_HOURS_END] = "capacity_hours_order"
    if not user_input[CONF_CAPACITY_MONTHS]:
        errors[CONF_CAPACITY_MONTHS] = "capacity_months_empty"
    if not 0 < user_input[CONF_CAPACITY_NIGHT_WEIGHT] <= 1:
        errors[CONF_CAPACITY_NIGHT_WEIGHT] = "capacity_night_weight_range"
    return errors


def _capacity_options(preset: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options a valid capacity form is stored as (whole numbers, month numbers)."""
    return {
        CONF_CAPACITY_PRESET: preset,
        CONF_CAPACITY_FEE: float(user_input[CONF_CAPACITY_FEE]),
        CONF_CAPACITY_PEAKS: int(user_input[CONF_CAPACITY_PEAKS]),
        CONF_CAPACITY_DISTINCT_DAYS: bool(user_input[CONF_CAPACITY_DISTINCT_DAYS]),
        CONF_CAPACITY_WEEKDAYS_ONLY: bool(user_input[CONF_CAPACITY_WEEKDAYS_ONLY]),
        CONF_CAPACITY_HOURS_START: int(user_input[CONF_CAPACITY_HOURS_START]),
        CONF_CAPACITY_HOURS_END: int(user_input[CONF_CAPACITY_HOURS_END]),
        CONF_CAPACITY_MONTHS: sorted(int(month) for month in user_input[CONF_CAPACITY_MONTHS]),
        CONF_CAPACITY_NIGHT_WEIGHT: float(user_input[CONF_CAPACITY_NIGHT_WEIGHT]),
        CONF_CAPACITY_MEASUREMENT_MINUTES: int(user_input[CONF_CAPACITY_MEASUREMENT_MINUTES]),
    }


def _sensors_schema() -> vol.Schema:
    """Return the sensor pickers; optional ones may be left empty."""
    energy = "energy"
    fields: dict[vol.Marker, selector.EntitySelector] = {
        vol.Required(CONF_SOC_ENTITY): _sensor("battery"),
        vol.Required(CONF_PRICE_ENTITY): _sensor(),
        vol.Optional(CONF_SOLAR_FORECAST_ENTITY): _sensor(energy),
        # A consumption source may be an energy meter or a power sensor.
        vol.Optional(CONF_CONSUMPTION_ENTITY): _sensor([energy, "power"]),
    }
    fields.update({vol.Optional(key): _sensor(energy) for key in ENERGY_METERS})
    return vol.Schema(fields)


def _numeric_error(hass: HomeAssistant, entity_id: str) -> tuple[str | None, float]:
    """Return an error key for an entity that is missing or not a number, else its value."""
    state = hass.states.get(entity_id)
    if state is None:
        return "entity_not_found", math.nan
    try:
        value = float(state.state)
    except ValueError:
        return "not_numeric", math.nan
    if not math.isfinite(value):
        return "not_numeric", math.nan
    return None, value


async def _async_validate_sensors(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> dict[str, str]:
    """Return the form errors of the chosen sensors."""
    errors: dict[str, str] = {}
    error, soc = _numeric_error(hass, user_input[CONF_SOC_ENTITY])
    if error is None and not 0 <= soc <= 100:
        error = "soc_out_of_range"
    if error is not None:
        errors[CONF_SOC_ENTITY] = error

    price_entity = user_input[CONF_PRICE_ENTITY]
    if hass.states.get(price_entity) is None:
        errors[CONF_PRICE_ENTITY] = "entity_not_found"
    elif await async_detect_price_source(hass, price_entity) is None:
        errors[CONF_PRICE_ENTITY] = "price_unsupported"

    if (forecast := user_input.get(CONF_SOLAR_FORECAST_ENTITY)) is not None:
        if hass.states.get(forecast) is None:
            errors[CONF_SOLAR_FORECAST_ENTITY] = "entity_not_found"
        elif not await async_validate_solar_forecast(hass, forecast):
            errors[CONF_SOLAR_FORECAST_ENTITY] = "solar_forecast_invalid"

    for key in (CONF_CONSUMPTION_ENTITY, *ENERGY_METERS):
        if (entity_id := user_input.get(key)) is not None:
            error, _ = _numeric_error(hass, entity_id)
            if error is not None:
                errors[key] = error
    return errors


def _select_options(hass: HomeAssistant, entity_id: str) -> list[str]:
    """Return the options a select entity offers, empty when it offers none."""
    state = hass.states.get(entity_id)
    options = state.attributes.get("options") if state is not None else None
    if not isinstance(options, list):
        return []
    return [str(option) for option in options]


class _ControlStepsFlow(ConfigEntryBaseFlow):
    """The control steps the config flow and the options flow share."""

    _control: dict[str, Any]

    def _control_defaults(self) -> Mapping[str, Any]:
        """Return the control settings the forms start from."""
        return {}

    async def _async_finish_control(self, control: dict[str, Any]) -> ConfigFlowResult:
        """Store the chosen control settings and end the flow."""
        raise NotImplementedError

    async def async_step_control(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose how the integration drives the inverter: monitor only by default."""
        if user_input is not None:
            mode = user_input[CONF_CONTROL_MODE]
            self._control = {
                CONF_CONTROL_MODE: mode,
                CONF_SAFE_MODE: user_input.get(CONF_SAFE_MODE, DEFAULTS[CONF_SAFE_MODE]),
            }
            if mode == CONTROL_ENTITIES:
                return await self.async_step_control_entities()
            if mode == CONTROL_SCRIPT:
                return await self.async_step_control_script()
            if mode == CONTROL_GROWATT:
                return await self.async_step_control_growatt()
            return await self._async_finish_control(self._control)

        defaults = {**DEFAULTS, **self._control_defaults()}
        schema = vol.Schema(
            {
                _field(CONF_CONTROL_MODE, defaults): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(CONTROL_MODES),
                        mode=selector.SelectSelectorMode.LIST,
                        translation_key=CONF_CONTROL_MODE,
                    )
                ),
                # What the inverter is told when bess has no plan for now.
                _field(CONF_SAFE_MODE, defaults): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(SAFE_MODES),
                        mode=selector.SelectSelectorMode.LIST,
                        translation_key=CONF_SAFE_MODE,
                    )
                ),
            }
        )
        return self.async_show_form(step_id="control", data_schema=schema)

    async def async_step_control_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the work-mode select and the optional power numbers, switch and curtail entity."""
        errors: dict[str, str] = {}
        if user_input is not None:
            select = user_input[CONF_WORK_MODE_SELECT]
            if self.hass.states.get(select) is None:
                errors[CONF_WORK_MODE_SELECT] = "entity_not_found"
            elif not _select_options(self.hass, select):
                errors[CONF_WORK_MODE_SELECT] = "select_no_options"
            for key in (
                CONF_CHARGE_POWER_NUMBER,
                CONF_DISCHARGE_POWER_NUMBER,
                CONF_GRID_CHARGE_SWITCH,
                CONF_CURTAIL_ENTITY,
            ):
                entity_id = user_input.get(key)
                if entity_id is not None and self.hass.states.get(entity_id) is None:
                    errors[key] = "entity_not_found"
            if not errors:
                self._control.update(user_input)
                return await self.async_step_control_modes()

        schema = vol.Schema(
            {
                # The helpers too: Modbus inverters are often wired through them.
                vol.Required(CONF_WORK_MODE_SELECT): _entity(["select", "input_select"]),
                vol.Optional(CONF_CHARGE_POWER_NUMBER): _entity(["number", "input_number"]),
                vol.Optional(CONF_DISCHARGE_POWER_NUMBER): _entity(["number", "input_number"]),
                vol.Optional(CONF_GRID_CHARGE_SWITCH): _entity(["switch", "input_boolean"]),
                # An export limit set to 0 curtails as surely as a switch does.
                vol.Optional(CONF_CURTAIL_ENTITY): _entity(
                    ["number", "input_number", "switch", "input_boolean"]
                ),
            }
        )
        suggested = user_input if user_input is not None else self._control_defaults()
        return self.async_show_form(
            step_id="control_entities",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def async_step_control_modes(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Map every intent to one of the work-mode select's own options."""
        if user_input is not None:
            self._control.update(user_input)
            return await self._async_finish_control(self._control)

        select = self._control[CONF_WORK_MODE_SELECT]
        options = _select_options(self.hass, select)
        current = self._control_defaults()
        # A saved mapping is offered again only while the select still has that option.
        defaults = {key: current[key] for key in MODE_OPTION_KEYS if current.get(key) in options}
        picker = selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=options, mode=selector.SelectSelectorMode.DROPDOWN
            )
        )
        schema = vol.Schema({_field(key, defaults): picker for key in MODE_OPTION_KEYS})
        state = self.hass.states.get(select)
        name = state.name if state is not None else select
        return self.async_show_form(
            step_id="control_modes",
            data_schema=schema,
            description_placeholders={"entity": name},
        )

    async def async_step_control_script(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the script called with the variables mode, power_kw, start and end."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if self.hass.states.get(user_input[CONF_CONTROL_SCRIPT]) is None:
                errors[CONF_CONTROL_SCRIPT] = "entity_not_found"
            else:
                self._control.update(user_input)
                return await self._async_finish_control(self._control)

        schema = vol.Schema({vol.Required(CONF_CONTROL_SCRIPT): _entity("script")})
        suggested = user_input if user_input is not None else self._control_defaults()
        return self.async_show_form(
            step_id="control_script",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def async_step_control_growatt(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the Growatt inverter, and the power numbers and AC-charge switch that hold it.

        Time segments alone cannot hold the battery: outside battery-first and grid-first a
        Growatt runs load-first and discharges. Its discharge power number at 0 % holds it,
        so the hold safe mode needs that number.
        """
        errors: dict[str, str] = {}
        if user_input is not None:
            device = dr.async_get(self.hass).async_get(user_input[CONF_GROWATT_DEVICE_ID])
            if device is None:
                errors[CONF_GROWATT_DEVICE_ID] = "device_not_found"
            for key in (
                CONF_CHARGE_POWER_NUMBER,
                CONF_DISCHARGE_POWER_NUMBER,
                CONF_GRID_CHARGE_SWITCH,
            ):
                entity_id = user_input.get(key)
                if entity_id is not None and self.hass.states.get(entity_id) is None:
                    errors[key] = "entity_not_found"
            if (
                self._control.get(CONF_SAFE_MODE) == SAFE_MODE_HOLD
                and CONF_DISCHARGE_POWER_NUMBER not in user_input
            ):
                errors[CONF_DISCHARGE_POWER_NUMBER] = "hold_needs_discharge_power"
            if not errors:
                self._control.update(user_input)
                return await self._async_finish_control(self._control)

        schema = vol.Schema(
            {
                vol.Required(CONF_GROWATT_DEVICE_ID): selector.DeviceSelector(
                    selector.DeviceSelectorConfig(
                        filter=selector.DeviceFilterSelectorConfig(integration=GROWATT_DOMAIN)
                    )
                ),
                vol.Optional(CONF_CHARGE_POWER_NUMBER): _entity(["number", "input_number"]),
                vol.Optional(CONF_DISCHARGE_POWER_NUMBER): _entity(["number", "input_number"]),
                vol.Optional(CONF_GRID_CHARGE_SWITCH): _entity(["switch", "input_boolean"]),
            }
        )
        suggested = user_input if user_input is not None else self._control_defaults()
        return self.async_show_form(
            step_id="control_growatt",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )


class BessConfigFlow(_ControlStepsFlow, ConfigFlow, domain=DOMAIN):
    """Add a battery: its settings, its sensors, then how it is controlled."""

    VERSION = 1
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._title = DEFAULT_NAME
        self._battery: dict[str, Any] = {}
        self._sensors: dict[str, Any] = {}
        self._control = {}

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> BessOptionsFlow:
        """Return the options flow; it finds its entry itself."""
        return BessOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Describe the battery."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _validate_battery(user_input)
            if not errors:
                self._title = user_input[CONF_NAME]
                self._battery = {key: user_input[key] for key in BATTERY_KEYS}
                return await self.async_step_sensors()

        defaults = {CONF_NAME: DEFAULT_NAME, **DEFAULTS, **(user_input or {})}
        schema = vol.Schema(
            {
                _field(CONF_NAME, defaults): selector.TextSelector(),
                **_battery_schema(self.hass, defaults),
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_sensors(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the SOC and price sensors, and the optional forecasts and energy meters."""
        errors: dict[str, str] = {}
        if user_input is not None:
            # One entry per battery, and a battery is known by its SOC sensor.
            await self.async_set_unique_id(user_input[CONF_SOC_ENTITY])
            self._abort_if_unique_id_configured()
            errors = await _async_validate_sensors(self.hass, user_input)
            if not errors:
                self._sensors = dict(user_input)
                return await self.async_step_control()

        return self.async_show_form(
            step_id="sensors",
            data_schema=self.add_suggested_values_to_schema(_sensors_schema(), user_input),
            errors=errors,
        )

    @override
    async def _async_finish_control(self, control: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry: sensors in its data, every tunable in its options."""
        return self.async_create_entry(
            title=self._title,
            data=self._sensors,
            options={**DEFAULTS, **self._battery, **control},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the sensors of an existing entry."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            soc = user_input[CONF_SOC_ENTITY]
            other = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, soc)
            if other is not None and other.entry_id != entry.entry_id:
                errors[CONF_SOC_ENTITY] = "soc_already_configured"
            else:
                errors = await _async_validate_sensors(self.hass, user_input)
            if not errors:
                # Data is replaced whole, so an optional sensor left empty is removed.
                return self.async_update_reload_and_abort(entry, unique_id=soc, data=user_input)

        suggested = user_input if user_input is not None else entry.data
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(_sensors_schema(), suggested),
            errors=errors,
        )


class BessOptionsFlow(_ControlStepsFlow, OptionsFlow):
    """Tune an existing entry: battery, grid, prices, consumption forecast, control, history."""

    def __init__(self) -> None:
        """Start with no control chosen; the entry is read through `self.config_entry`."""
        self._control = {}
        self._capacity_preset = CAPACITY_CUSTOM

    @override
    def _control_defaults(self) -> Mapping[str, Any]:
        """Return the entry's current control settings."""
        return self.config_entry.options

    def _save(self, changes: Mapping[str, Any], drop: tuple[str, ...] = ()) -> ConfigFlowResult:
        """Write the entry's options with `changes` applied and the `drop` keys removed."""
        options = {k: v for k, v in self.config_entry.options.items() if k not in drop}
        return self.async_create_entry(data={**options, **changes})

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer the groups of settings."""
        return self.async_show_menu(
            step_id="init",
            menu_options=[
                "battery",
                "strategy",
                "pricing",
                "consumption",
                "control",
                "capacity",
                "history",
            ],
        )

    async def async_step_battery(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the battery."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _validate_battery(user_input)
            if not errors:
                return self._save(user_input)

        defaults = {**DEFAULTS, **self.config_entry.options, **(user_input or {})}
        return self.async_show_form(
            step_id="battery",
            data_schema=vol.Schema(_battery_schema(self.hass, defaults)),
            errors=errors,
        )

    async def async_step_strategy(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the planning period, grid charging, the grid limits, curtailment and the end value.

        An emptied limit means no limit, and an emptied end value means the one derived from
        the prices: their keys go.
        """
        if user_input is not None:
            return self._save(
                user_input, drop=(CONF_EXPORT_LIMIT_KW, CONF_IMPORT_LIMIT_KW, CONF_TERMINAL_VALUE)
            )

        options = {**DEFAULTS, **self.config_entry.options}
        schema = vol.Schema(
            {
                _field(CONF_PERIOD_MINUTES, options): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(PERIOD_CHOICES),
                        mode=selector.SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_PERIOD_MINUTES,
                    )
                ),
                _field(CONF_GRID_CHARGING, options): selector.BooleanSelector(),
                vol.Optional(CONF_IMPORT_LIMIT_KW): _number(0, 1000, 0.1, UnitOfPower.KILO_WATT),
                vol.Optional(CONF_EXPORT_LIMIT_KW): _number(0, 100, 0.1, UnitOfPower.KILO_WATT),
                _field(CONF_CURTAILMENT, options): selector.BooleanSelector(),
                vol.Optional(CONF_TERMINAL_VALUE): _number(
                    0, 10, "any", _currency_per_kwh(self.hass)
                ),
            }
        )
        return self.async_show_form(
            step_id="strategy", data_schema=self.add_suggested_values_to_schema(schema, options)
        )

    async def async_step_pricing(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the formula that turns the spot price into buy and sell prices."""
        if user_input is not None:
            return self._save(user_input)

        options = {**DEFAULTS, **self.config_entry.options}
        price = _currency_per_kwh(self.hass)
        schema = vol.Schema(
            {
                _field(CONF_PRICE_MULTIPLIER, options): _number(0, 10, 0.001),
                _field(CONF_PRICE_MARKUP, options): _number(-10, 10, "any", price),
                _field(CONF_PRICE_VAT, options): _number(1, 3, 0.01),
                _field(CONF_PRICE_FIXED_FEE, options): _number(-10, 10, "any", price),
                _field(CONF_EXPORT_MULTIPLIER, options): _number(0, 10, 0.001),
                _field(CONF_EXPORT_COMPENSATION, options): _number(-10, 10, "any", price),
            }
        )
        return self.async_show_form(step_id="pricing", data_schema=schema)

    async def async_step_consumption(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit how the consumption forecast is made."""
        if user_input is not None:
            days = int(user_input[CONF_CONSUMPTION_DAYS])
            return self._save({**user_input, CONF_CONSUMPTION_DAYS: days})

        options = {**DEFAULTS, **self.config_entry.options}
        schema = vol.Schema(
            {
                _field(CONF_CONSUMPTION_DAYS, options): _number(1, 28, 1, UnitOfTime.DAYS),
                _field(CONF_FALLBACK_CONSUMPTION_KWH, options): _number(
                    0, 100, 0.01, UnitOfEnergy.KILO_WATT_HOUR
                ),
            }
        )
        return self.async_show_form(step_id="consumption", data_schema=schema)

    async def async_step_history(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit how many days of hourly history are kept (older days keep daily totals)."""
        if user_input is not None:
            days = int(user_input[CONF_KEEP_HISTORY_DAYS])
            return self._save({**user_input, CONF_KEEP_HISTORY_DAYS: days})

        options = {**DEFAULTS, **self.config_entry.options}
        schema = vol.Schema(
            {_field(CONF_KEEP_HISTORY_DAYS, options): _number(31, 3650, 1, UnitOfTime.DAYS)}
        )
        return self.async_show_form(step_id="history", data_schema=schema)

    async def async_step_capacity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the capacity tariff: none, one of the presets, or custom rules.

        None removes the tariff; any other choice goes on to its rules, prefilled.
        """
        if user_input is not None:
            preset = user_input[CONF_CAPACITY_PRESET]
            if preset == CAPACITY_NONE:
                return self._save({}, drop=CAPACITY_KEYS)
            self._capacity_preset = preset
            return await self.async_step_capacity_rules()

        current = self.config_entry.options.get(CONF_CAPACITY_PRESET, CAPACITY_NONE)
        if current not in CAPACITY_PRESETS:
            current = CAPACITY_CUSTOM  # a preset this bess no longer ships: its rules stay
        schema = vol.Schema(
            {
                vol.Required(CONF_CAPACITY_PRESET, default=current): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=CAPACITY_PRESETS,
                        mode=selector.SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_CAPACITY_PRESET,
                    )
                )
            }
        )
        return self.async_show_form(step_id="capacity", data_schema=schema)

    async def async_step_capacity_rules(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the tariff's rules, prefilled from the preset or from what is saved.

        The saved rules are offered when they belong to the preset chosen (or for custom);
        another preset starts from its published rules. Every field stays adjustable.
        """
        preset = self._capacity_preset
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _validate_capacity(user_input)
            if not errors:
                return self._save(_capacity_options(preset, user_input))

        options = self.config_entry.options
        saved = capacity_tariff(options)
        if saved is not None and (
            preset == CAPACITY_CUSTOM or options.get(CONF_CAPACITY_PRESET) == preset
        ):
            start = saved
        else:
            start = PRESETS.get(preset, CUSTOM_TARIFF)
        defaults = {**_capacity_fields(start), **(user_input or {})}
        return self.async_show_form(
            step_id="capacity_rules",
            data_schema=_capacity_schema(self.hass, defaults),
            errors=errors,
        )

    @override
    async def _async_finish_control(self, control: dict[str, Any]) -> ConfigFlowResult:
        """Replace every control setting with the chosen ones."""
        return self._save(control, drop=CONTROL_KEYS)
