"""The config, reconfigure and options flows: every path, every error, every tunable saved."""

from __future__ import annotations

from collections.abc import Generator
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import AsyncMock, patch

from homeassistant import config_entries
from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
    translation,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    mock_integration,
    mock_platform,
)
import voluptuous as vol
import voluptuous_serialize

from custom_components.bess.config_flow import BessOptionsFlow
from custom_components.bess.const import (
    CONF_BATTERY_CHARGE_METER,
    CONF_BATTERY_DISCHARGE_METER,
    CONF_CAPACITY_KWH,
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
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MAX_SOC,
    CONF_MIN_SOC,
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
    CONTROL_MONITOR,
    CONTROL_SCRIPT,
    DEFAULTS,
    DOMAIN,
    SAFE_MODE_HOLD,
    SAFE_MODE_SELF_CONSUMPTION,
)

FIXTURES = Path(__file__).parent / "fixtures"
# Price and forecast entities as the adapters' fixtures recorded them.
NORDPOOL_HACS = "sensor.nordpool_kwh_se3_sek_3_10_025"
ENTSOE = "sensor.current_electricity_market_price"
SOLCAST = "sensor.solcast_pv_forecast_forecast_today"
STRINGS = json.loads(
    (
        Path(__file__).parents[1] / "custom_components" / "bess" / "translations" / "en.json"
    ).read_text(encoding="utf-8")
)

BATTERY = {
    CONF_NAME: "Garage battery",
    CONF_CAPACITY_KWH: 10.2,
    CONF_MIN_SOC: 15.0,
    CONF_MAX_SOC: 95.0,
    CONF_MAX_CHARGE_KW: 5.0,
    CONF_MAX_DISCHARGE_KW: 4.6,
    CONF_CHARGE_EFFICIENCY: 0.96,
    CONF_DISCHARGE_EFFICIENCY: 0.94,
    CONF_CYCLE_COST: 0.05,
}
SENSORS = {
    CONF_SOC_ENTITY: "sensor.battery_soc",
    CONF_PRICE_ENTITY: NORDPOOL_HACS,
    CONF_SOLAR_FORECAST_ENTITY: SOLCAST,
    CONF_CONSUMPTION_ENTITY: "sensor.house_consumption",
    CONF_GRID_IMPORT_METER: "sensor.grid_import",
    CONF_GRID_EXPORT_METER: "sensor.grid_export",
    CONF_SOLAR_METER: "sensor.solar_production",
    CONF_BATTERY_CHARGE_METER: "sensor.battery_charged",
    CONF_BATTERY_DISCHARGE_METER: "sensor.battery_discharged",
}
MINIMAL_SENSORS = {
    CONF_SOC_ENTITY: "sensor.battery_soc",
    CONF_PRICE_ENTITY: NORDPOOL_HACS,
    CONF_SOLAR_FORECAST_ENTITY: SOLCAST,
}
MAPPING = {
    "mode_option_grid_charging": "Grid First",
    "mode_option_solar_storage": "Battery First",
    "mode_option_load_support": "Load First",
    "mode_option_export_arbitrage": "Grid First",
    "mode_option_idle": "Battery First",
}
BATTERY_OPTIONS = {k: v for k, v in BATTERY.items() if k != CONF_NAME}


def load_fixture(name: str) -> Any:
    """Return a JSON payload from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def home(hass: HomeAssistant) -> None:
    """Give the test home its sensors, inverter entities, price sensors and solar forecast."""
    for entity_id, state in load_fixture("flow_states.json").items():
        hass.states.async_set(entity_id, state["state"], state["attributes"])
    for recorded in (
        load_fixture("nordpool_hacs_60min.json"),
        load_fixture("entsoe.json"),
        load_fixture("solcast.json")["today"],
    ):
        hass.states.async_set(recorded["entity_id"], recorded["state"], recorded["attributes"])


@pytest.fixture(autouse=True)
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep created entries from setting up the whole integration."""
    with patch("custom_components.bess.async_setup_entry", return_value=True) as mock:
        yield mock


def assert_translated(result: ConfigFlowResult, kind: str) -> None:
    """Fail when a step, field, menu option, error or abort the user sees has no English text."""
    strings = STRINGS[kind]
    if result["type"] is FlowResultType.FORM:
        # The frontend receives the schema serialized; a selector it cannot render fails here.
        voluptuous_serialize.convert(result["data_schema"], custom_serializer=cv.custom_serializer)
        step = strings["step"][result["step_id"]]
        for key in schema_of(result):
            assert str(key) in step["data"], f"{kind}.{result['step_id']}.data.{key}"
        for error in (result["errors"] or {}).values():
            assert error in strings["error"], f"{kind}.error.{error}"
        for placeholder in result["description_placeholders"] or {}:
            assert f"{{{placeholder}}}" in step["description"]
    elif result["type"] is FlowResultType.MENU:
        step = strings["step"][result["step_id"]]
        assert set(cast(list[str], result["menu_options"])) <= set(step["menu_options"])
    elif result["type"] is FlowResultType.ABORT:
        assert result["reason"] in strings["abort"], f"{kind}.abort.{result['reason']}"


async def start(hass: HomeAssistant, source: str = config_entries.SOURCE_USER) -> ConfigFlowResult:
    """Start a config flow of bess."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": source})
    assert_translated(result, "config")
    return result


async def submit(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any]
) -> ConfigFlowResult:
    """Submit a config flow form."""
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert_translated(result, "config")
    return result


async def submit_options(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any]
) -> ConfigFlowResult:
    """Submit an options flow form or menu choice."""
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert_translated(result, "options")
    return result


async def open_options(hass: HomeAssistant, entry: MockConfigEntry, step: str) -> ConfigFlowResult:
    """Open the options menu of `entry` and pick `step` from it."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert_translated(result, "options")
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [
        "battery",
        "strategy",
        "pricing",
        "consumption",
        "control",
        "capacity",
        "history",
    ]
    return await submit_options(hass, result, {"next_step_id": step})


async def to_control_step(hass: HomeAssistant) -> ConfigFlowResult:
    """Walk the config flow through the battery and sensor steps."""
    result = await submit(hass, await start(hass), BATTERY)
    result = await submit(hass, result, SENSORS)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "control"
    return result


def schema_of(result: ConfigFlowResult) -> dict[Any, Any]:
    """Return the fields of a form: marker to selector."""
    assert result["data_schema"] is not None
    return dict(result["data_schema"].schema)


def defaults_of(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the default value of every field of a form that has one."""
    return {
        str(key): key.default()
        for key in schema_of(result)
        if isinstance(key, vol.Required | vol.Optional) and callable(key.default)
    }


def suggested_of(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the suggested value of every field of a form that has one."""
    return {
        str(key): key.description["suggested_value"]
        for key in schema_of(result)
        if key.description and "suggested_value" in key.description
    }


def make_entry(
    hass: HomeAssistant,
    data: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """Add an existing bess entry for the battery in flow_states.json."""
    data = dict(SENSORS if data is None else data)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Garage battery",
        unique_id=data[CONF_SOC_ENTITY],
        data=data,
        options={**DEFAULTS, **BATTERY_OPTIONS} if options is None else options,
    )
    entry.add_to_hass(hass)
    return entry


# --- config flow -------------------------------------------------------------------------


async def test_battery_form_starts_from_the_documented_defaults(hass: HomeAssistant) -> None:
    result = await start(hass)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert defaults_of(result) == {
        CONF_NAME: "Home battery",
        CONF_MIN_SOC: 10.0,
        CONF_MAX_SOC: 100.0,
        CONF_CHARGE_EFFICIENCY: 0.95,
        CONF_DISCHARGE_EFFICIENCY: 0.95,
        CONF_CYCLE_COST: 0.0,
    }
    cycle_cost = next(k for k in schema_of(result) if k == CONF_CYCLE_COST)
    assert schema_of(result)[cycle_cost].config["unit_of_measurement"] == (
        f"{hass.config.currency}/kWh"
    )


async def test_monitor_only_setup_puts_sensors_in_data_and_every_tunable_in_options(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    result = await to_control_step(hass)
    assert defaults_of(result) == {
        CONF_CONTROL_MODE: CONTROL_MONITOR,
        CONF_SAFE_MODE: SAFE_MODE_SELF_CONSUMPTION,
    }

    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_MONITOR})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Garage battery"
    assert result["data"] == SENSORS
    assert result["options"] == {
        **DEFAULTS,
        CONF_CAPACITY_KWH: 10.2,
        CONF_MIN_SOC: 15.0,
        CONF_MAX_SOC: 95.0,
        CONF_MAX_CHARGE_KW: 5.0,
        CONF_MAX_DISCHARGE_KW: 4.6,
        CONF_CHARGE_EFFICIENCY: 0.96,
        CONF_DISCHARGE_EFFICIENCY: 0.94,
        CONF_CYCLE_COST: 0.05,
        CONF_CONTROL_MODE: CONTROL_MONITOR,
    }
    assert CONF_NAME not in result["options"]
    entry = result["result"]
    assert entry.unique_id == "sensor.battery_soc"
    assert len(mock_setup_entry.mock_calls) == 1


async def test_only_soc_and_price_sensors_are_required(hass: HomeAssistant) -> None:
    result = await submit(hass, await start(hass), BATTERY)
    result = await submit(hass, result, MINIMAL_SENSORS)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_MONITOR})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == MINIMAL_SENSORS


async def test_sensor_pickers_are_filtered_by_device_class(hass: HomeAssistant) -> None:
    result = await submit(hass, await start(hass), BATTERY)
    filters = {
        str(key): (picker.config["domain"], picker.config.get("device_class"))
        for key, picker in schema_of(result).items()
    }

    assert filters == {
        CONF_SOC_ENTITY: (["sensor"], ["battery"]),
        CONF_PRICE_ENTITY: (["sensor"], None),
        CONF_SOLAR_FORECAST_ENTITY: (["sensor"], ["energy"]),
        CONF_CONSUMPTION_ENTITY: (["sensor"], ["energy", "power"]),
        CONF_GRID_IMPORT_METER: (["sensor"], ["energy"]),
        CONF_GRID_EXPORT_METER: (["sensor"], ["energy"]),
        CONF_SOLAR_METER: (["sensor"], ["energy"]),
        CONF_BATTERY_CHARGE_METER: (["sensor"], ["energy"]),
        CONF_BATTERY_DISCHARGE_METER: (["sensor"], ["energy"]),
    }


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_CAPACITY_KWH: 0}, {CONF_CAPACITY_KWH: "capacity_not_positive"}),
        ({CONF_MIN_SOC: 80, CONF_MAX_SOC: 80}, {CONF_MAX_SOC: "soc_range"}),
        ({CONF_MIN_SOC: 90, CONF_MAX_SOC: 20}, {CONF_MAX_SOC: "soc_range"}),
        ({CONF_MAX_CHARGE_KW: 0}, {CONF_MAX_CHARGE_KW: "power_not_positive"}),
        ({CONF_MAX_DISCHARGE_KW: 0}, {CONF_MAX_DISCHARGE_KW: "power_not_positive"}),
        ({CONF_CHARGE_EFFICIENCY: 0}, {CONF_CHARGE_EFFICIENCY: "efficiency_range"}),
        ({CONF_DISCHARGE_EFFICIENCY: 0}, {CONF_DISCHARGE_EFFICIENCY: "efficiency_range"}),
    ],
)
async def test_battery_no_battery_can_have_is_refused_until_corrected(
    hass: HomeAssistant, changes: dict[str, float], errors: dict[str, str]
) -> None:
    result = await submit(hass, await start(hass), {**BATTERY, **changes})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    # The form keeps what the user typed, so they only fix the wrong field.
    assert all(defaults_of(result)[key] == value for key, value in changes.items())

    result = await submit(hass, result, BATTERY)
    assert result["step_id"] == "sensors"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_SOC_ENTITY: "sensor.missing_soc"}, {CONF_SOC_ENTITY: "entity_not_found"}),
        ({CONF_SOC_ENTITY: "sensor.soc_unavailable"}, {CONF_SOC_ENTITY: "not_numeric"}),
        ({CONF_SOC_ENTITY: "sensor.soc_over_100"}, {CONF_SOC_ENTITY: "soc_out_of_range"}),
        ({CONF_PRICE_ENTITY: "sensor.missing_price"}, {CONF_PRICE_ENTITY: "entity_not_found"}),
        (
            {CONF_PRICE_ENTITY: "sensor.outdoor_temperature"},
            {CONF_PRICE_ENTITY: "price_unsupported"},
        ),
        (
            {CONF_SOLAR_FORECAST_ENTITY: "sensor.missing_forecast"},
            {CONF_SOLAR_FORECAST_ENTITY: "entity_not_found"},
        ),
        (
            {CONF_SOLAR_FORECAST_ENTITY: "sensor.solar_production"},
            {CONF_SOLAR_FORECAST_ENTITY: "solar_forecast_invalid"},
        ),
        (
            {CONF_CONSUMPTION_ENTITY: "sensor.missing"},
            {CONF_CONSUMPTION_ENTITY: "entity_not_found"},
        ),
        ({CONF_GRID_IMPORT_METER: "sensor.meter_unknown"}, {CONF_GRID_IMPORT_METER: "not_numeric"}),
        ({CONF_GRID_EXPORT_METER: "sensor.meter_nan"}, {CONF_GRID_EXPORT_METER: "not_numeric"}),
        ({CONF_SOLAR_METER: "sensor.missing"}, {CONF_SOLAR_METER: "entity_not_found"}),
        (
            {
                CONF_BATTERY_CHARGE_METER: "sensor.meter_unknown",
                CONF_BATTERY_DISCHARGE_METER: "sensor.missing",
            },
            {
                CONF_BATTERY_CHARGE_METER: "not_numeric",
                CONF_BATTERY_DISCHARGE_METER: "entity_not_found",
            },
        ),
    ],
)
async def test_sensors_that_cannot_be_read_are_refused_until_corrected(
    hass: HomeAssistant, changes: dict[str, str], errors: dict[str, str]
) -> None:
    result = await submit(hass, await start(hass), BATTERY)
    result = await submit(hass, result, {**SENSORS, **changes})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sensors"
    assert result["errors"] == errors
    assert suggested_of(result) == {**SENSORS, **changes}

    result = await submit(hass, result, SENSORS)
    assert result["step_id"] == "control"


@pytest.mark.parametrize("price_entity", [NORDPOOL_HACS, ENTSOE])
async def test_supported_price_sources_are_accepted(hass: HomeAssistant, price_entity: str) -> None:
    result = await submit(hass, await start(hass), BATTERY)
    result = await submit(hass, result, {**MINIMAL_SENSORS, CONF_PRICE_ENTITY: price_entity})

    assert result["step_id"] == "control"


async def test_core_nord_pool_sensor_is_accepted_as_price_source(hass: HomeAssistant) -> None:
    nordpool = MockConfigEntry(domain="nordpool", title="Nord Pool")
    nordpool.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        "nordpool",
        "SE3-current_price",
        config_entry=nordpool,
        suggested_object_id="nord_pool_se3_current_price",
    )
    hass.states.async_set("sensor.nord_pool_se3_current_price", "0.433", {})
    result = await submit(hass, await start(hass), BATTERY)

    result = await submit(
        hass,
        result,
        {**MINIMAL_SENSORS, CONF_PRICE_ENTITY: "sensor.nord_pool_se3_current_price"},
    )

    assert result["step_id"] == "control"


async def test_solar_forecast_of_an_energy_platform_is_accepted(hass: HomeAssistant) -> None:
    # Forecast.Solar and Open-Meteo Solar Forecast answer through an energy platform.
    mock_integration(hass, MockModule("open_meteo_solar_forecast"))
    mock_platform(
        hass,
        "open_meteo_solar_forecast.energy",
        SimpleNamespace(
            async_get_solar_forecast=AsyncMock(
                return_value=load_fixture("forecast_solar_energy.json")
            )
        ),
    )
    forecast = MockConfigEntry(domain="open_meteo_solar_forecast", title="Roof")
    forecast.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        "open_meteo_solar_forecast",
        "roof-energy_production_today",
        config_entry=forecast,
        suggested_object_id="energy_production_today",
    )
    hass.states.async_set("sensor.energy_production_today", "31.2", {"device_class": "energy"})
    result = await submit(hass, await start(hass), BATTERY)

    result = await submit(
        hass,
        result,
        {**MINIMAL_SENSORS, CONF_SOLAR_FORECAST_ENTITY: "sensor.energy_production_today"},
    )

    assert result["step_id"] == "control"


async def test_a_second_entry_for_the_same_soc_sensor_is_aborted(hass: HomeAssistant) -> None:
    make_entry(hass)
    result = await submit(hass, await start(hass), BATTERY)

    result = await submit(hass, result, {**MINIMAL_SENSORS})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_another_battery_with_its_own_soc_sensor_is_added(hass: HomeAssistant) -> None:
    make_entry(hass)
    result = await submit(hass, await start(hass), BATTERY)
    result = await submit(
        hass, result, {**MINIMAL_SENSORS, CONF_SOC_ENTITY: "sensor.garage_battery_soc"}
    )
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_MONITOR})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == "sensor.garage_battery_soc"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def test_entity_control_maps_each_intent_to_the_selects_own_options(
    hass: HomeAssistant,
) -> None:
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})
    assert result["step_id"] == "control_entities"

    entities = {
        CONF_WORK_MODE_SELECT: "select.inverter_work_mode",
        CONF_CHARGE_POWER_NUMBER: "number.inverter_charge_power",
        CONF_DISCHARGE_POWER_NUMBER: "number.inverter_discharge_power",
        CONF_GRID_CHARGE_SWITCH: "switch.inverter_grid_charge",
    }
    result = await submit(hass, result, entities)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "control_modes"
    assert result["description_placeholders"] == {"entity": "Inverter work mode"}
    pickers = schema_of(result)
    assert [str(key) for key in pickers] == list(MAPPING)
    for picker in pickers.values():
        assert picker.config["options"] == ["Load First", "Battery First", "Grid First"]

    result = await submit(hass, result, MAPPING)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    options = result["options"]
    assert options[CONF_CONTROL_MODE] == CONTROL_ENTITIES
    assert {k: options[k] for k in entities} == entities
    assert {k: options[k] for k in MAPPING} == MAPPING


async def test_entity_control_needs_only_the_work_mode_select(hass: HomeAssistant) -> None:
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})
    result = await submit(hass, result, {CONF_WORK_MODE_SELECT: "select.inverter_work_mode"})
    result = await submit(hass, result, MAPPING)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_CHARGE_POWER_NUMBER not in result["options"]
    assert result["options"][CONF_WORK_MODE_SELECT] == "select.inverter_work_mode"


@pytest.mark.parametrize(
    "curtail_entity", ["number.inverter_export_limit", "input_boolean.curtail_solar"]
)
async def test_entity_control_takes_an_export_limit_or_a_curtail_switch(
    hass: HomeAssistant, curtail_entity: str
) -> None:
    hass.states.async_set(
        "number.inverter_export_limit",
        "10000",
        {"min": 0, "max": 10000, "step": 100, "unit_of_measurement": "W"},
    )
    hass.states.async_set("input_boolean.curtail_solar", "off")
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})
    picker = next(v for k, v in schema_of(result).items() if k == CONF_CURTAIL_ENTITY)
    assert picker.config["domain"] == ["number", "input_number", "switch", "input_boolean"]
    select = {CONF_WORK_MODE_SELECT: "select.inverter_work_mode"}

    result = await submit(hass, result, {**select, CONF_CURTAIL_ENTITY: "number.gone"})
    assert result["errors"] == {CONF_CURTAIL_ENTITY: "entity_not_found"}
    result = await submit(hass, result, {**select, CONF_CURTAIL_ENTITY: curtail_entity})
    assert result["step_id"] == "control_modes"
    result = await submit(hass, result, MAPPING)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_CURTAIL_ENTITY] == curtail_entity
    assert result["options"][CONF_CURTAILMENT] is False  # switched on under Strategy

    # Back to monitor only: the curtail entity goes with the other control settings.
    entry = result["result"]
    result = await open_options(hass, entry, "control")
    result = await submit_options(hass, result, {CONF_CONTROL_MODE: CONTROL_MONITOR})
    assert CONF_CURTAIL_ENTITY not in entry.options


async def test_a_work_mode_outside_the_selects_options_is_rejected(hass: HomeAssistant) -> None:
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})
    result = await submit(hass, result, {CONF_WORK_MODE_SELECT: "select.inverter_work_mode"})

    with pytest.raises(vol.Invalid):
        await submit(hass, result, {**MAPPING, "mode_option_idle": "Turbo"})


@pytest.mark.parametrize(
    ("entities", "errors"),
    [
        (
            {CONF_WORK_MODE_SELECT: "select.missing"},
            {CONF_WORK_MODE_SELECT: "entity_not_found"},
        ),
        (
            {CONF_WORK_MODE_SELECT: "select.empty_mode"},
            {CONF_WORK_MODE_SELECT: "select_no_options"},
        ),
        (
            {
                CONF_WORK_MODE_SELECT: "select.inverter_work_mode",
                CONF_CHARGE_POWER_NUMBER: "number.missing",
                CONF_DISCHARGE_POWER_NUMBER: "number.missing_too",
                CONF_GRID_CHARGE_SWITCH: "switch.missing",
            },
            {
                CONF_CHARGE_POWER_NUMBER: "entity_not_found",
                CONF_DISCHARGE_POWER_NUMBER: "entity_not_found",
                CONF_GRID_CHARGE_SWITCH: "entity_not_found",
            },
        ),
    ],
)
async def test_control_entities_that_do_not_exist_are_refused(
    hass: HomeAssistant, entities: dict[str, str], errors: dict[str, str]
) -> None:
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})

    result = await submit(hass, result, entities)

    assert result["step_id"] == "control_entities"
    assert result["errors"] == errors
    assert suggested_of(result) == entities


async def test_a_select_without_an_options_list_is_refused(hass: HomeAssistant) -> None:
    hass.states.async_set("select.broken_mode", "x", {"options": "Load First"})
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})

    result = await submit(hass, result, {CONF_WORK_MODE_SELECT: "select.broken_mode"})

    assert result["errors"] == {CONF_WORK_MODE_SELECT: "select_no_options"}


async def test_script_control_stores_the_script(hass: HomeAssistant) -> None:
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_SCRIPT})
    assert result["step_id"] == "control_script"

    result = await submit(hass, result, {CONF_CONTROL_SCRIPT: "script.missing"})
    assert result["errors"] == {CONF_CONTROL_SCRIPT: "entity_not_found"}

    result = await submit(hass, result, {CONF_CONTROL_SCRIPT: "script.drive_battery"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_CONTROL_MODE] == CONTROL_SCRIPT
    assert result["options"][CONF_CONTROL_SCRIPT] == "script.drive_battery"


def add_growatt_inverter(hass: HomeAssistant) -> str:
    """Register an inverter device of the growatt_server integration and return its id."""
    growatt = MockConfigEntry(domain="growatt_server", title="Growatt")
    growatt.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=growatt.entry_id,
        identifiers={("growatt_server", "TLX123456")},
        name="Growatt MOD 10KTL3-XH",
    )
    return device.id


async def test_growatt_control_stores_the_inverter_device(hass: HomeAssistant) -> None:
    device_id = add_growatt_inverter(hass)
    result = await to_control_step(hass)
    result = await submit(hass, result, {CONF_CONTROL_MODE: CONTROL_GROWATT})
    assert result["step_id"] == "control_growatt"
    device_picker = next(iter(schema_of(result).values()))
    assert device_picker.config["filter"] == [{"integration": "growatt_server"}]

    result = await submit(hass, result, {CONF_GROWATT_DEVICE_ID: "no-such-device"})
    assert result["errors"] == {CONF_GROWATT_DEVICE_ID: "device_not_found"}

    result = await submit(hass, result, {CONF_GROWATT_DEVICE_ID: device_id})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_CONTROL_MODE] == CONTROL_GROWATT
    assert result["options"][CONF_GROWATT_DEVICE_ID] == device_id


async def test_hold_with_growatt_needs_the_discharge_power_number(hass: HomeAssistant) -> None:
    device_id = add_growatt_inverter(hass)
    hass.states.async_set("input_number.discharge_power", "60", {"unit_of_measurement": "%"})
    result = await to_control_step(hass)
    result = await submit(
        hass, result, {CONF_CONTROL_MODE: CONTROL_GROWATT, CONF_SAFE_MODE: SAFE_MODE_HOLD}
    )
    assert result["step_id"] == "control_growatt"

    result = await submit(hass, result, {CONF_GROWATT_DEVICE_ID: device_id})
    assert result["errors"] == {CONF_DISCHARGE_POWER_NUMBER: "hold_needs_discharge_power"}

    result = await submit(
        hass,
        result,
        {CONF_GROWATT_DEVICE_ID: device_id, CONF_DISCHARGE_POWER_NUMBER: "number.gone"},
    )
    assert result["errors"] == {CONF_DISCHARGE_POWER_NUMBER: "entity_not_found"}

    result = await submit(
        hass,
        result,
        {
            CONF_GROWATT_DEVICE_ID: device_id,
            CONF_DISCHARGE_POWER_NUMBER: "input_number.discharge_power",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_SAFE_MODE] == SAFE_MODE_HOLD
    assert result["options"][CONF_DISCHARGE_POWER_NUMBER] == "input_number.discharge_power"


# --- reconfigure flow --------------------------------------------------------------------


async def test_reconfigure_replaces_the_sensors_and_reloads(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    entry = make_entry(hass)
    options_before = dict(entry.options)
    result = await entry.start_reconfigure_flow(hass)
    assert_translated(result, "config")
    assert result["step_id"] == "reconfigure"
    assert suggested_of(result) == SENSORS

    new = {
        **SENSORS,
        CONF_PRICE_ENTITY: ENTSOE,
        CONF_SOLAR_METER: "sensor.grid_export",
    }
    del new[CONF_BATTERY_DISCHARGE_METER]
    result = await submit(hass, result, new)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.data) == new
    assert CONF_BATTERY_DISCHARGE_METER not in entry.data
    assert entry.unique_id == "sensor.battery_soc"
    assert dict(entry.options) == options_before
    assert len(mock_setup_entry.mock_calls) == 1  # the reload set the entry up again


async def test_reconfigure_to_a_new_soc_sensor_moves_the_unique_id(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await entry.start_reconfigure_flow(hass)

    result = await submit(
        hass, result, {**MINIMAL_SENSORS, CONF_SOC_ENTITY: "sensor.garage_battery_soc"}
    )

    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == "sensor.garage_battery_soc"
    assert entry.data[CONF_SOC_ENTITY] == "sensor.garage_battery_soc"


async def test_reconfigure_refuses_a_soc_sensor_another_entry_uses(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    make_entry(hass, data={**MINIMAL_SENSORS, CONF_SOC_ENTITY: "sensor.garage_battery_soc"})
    result = await entry.start_reconfigure_flow(hass)

    taken = {**SENSORS, CONF_SOC_ENTITY: "sensor.garage_battery_soc"}
    result = await submit(hass, result, taken)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SOC_ENTITY: "soc_already_configured"}
    assert suggested_of(result) == taken
    assert entry.unique_id == "sensor.battery_soc"
    assert entry.data[CONF_SOC_ENTITY] == "sensor.battery_soc"


async def test_reconfigure_validates_like_the_setup(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await entry.start_reconfigure_flow(hass)

    result = await submit(
        hass,
        result,
        {
            **SENSORS,
            CONF_SOC_ENTITY: "sensor.soc_over_100",
            CONF_PRICE_ENTITY: "sensor.outdoor_temperature",
        },
    )

    assert result["errors"] == {
        CONF_SOC_ENTITY: "soc_out_of_range",
        CONF_PRICE_ENTITY: "price_unsupported",
    }
    assert entry.data == SENSORS


# --- options flow ------------------------------------------------------------------------


async def test_options_battery_saves_every_battery_setting(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "battery")
    assert result["step_id"] == "battery"
    assert defaults_of(result) == BATTERY_OPTIONS

    new = {
        CONF_CAPACITY_KWH: 13.5,
        CONF_MIN_SOC: 5.0,
        CONF_MAX_SOC: 90.0,
        CONF_MAX_CHARGE_KW: 3.3,
        CONF_MAX_DISCHARGE_KW: 3.0,
        CONF_CHARGE_EFFICIENCY: 0.9,
        CONF_DISCHARGE_EFFICIENCY: 0.92,
        CONF_CYCLE_COST: 0.12,
    }
    result = await submit_options(hass, result, new)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert dict(entry.options) == {**DEFAULTS, **new}


async def test_options_battery_refuses_impossible_values(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "battery")

    result = await submit_options(
        hass,
        result,
        {
            **BATTERY_OPTIONS,
            CONF_CAPACITY_KWH: 0,
            CONF_MIN_SOC: 60,
            CONF_MAX_SOC: 40,
            CONF_MAX_CHARGE_KW: 0,
            CONF_DISCHARGE_EFFICIENCY: 0,
        },
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        CONF_CAPACITY_KWH: "capacity_not_positive",
        CONF_MAX_SOC: "soc_range",
        CONF_MAX_CHARGE_KW: "power_not_positive",
        CONF_DISCHARGE_EFFICIENCY: "efficiency_range",
    }
    assert entry.options[CONF_CAPACITY_KWH] == 10.2


async def test_options_strategy_saves_the_period_grid_limits_and_terminal_value(
    hass: HomeAssistant,
) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "strategy")
    assert defaults_of(result) == {
        CONF_PERIOD_MINUTES: "auto",
        CONF_GRID_CHARGING: True,
        CONF_CURTAILMENT: False,
    }
    assert suggested_of(result).get(CONF_EXPORT_LIMIT_KW) is None
    assert suggested_of(result).get(CONF_TERMINAL_VALUE) is None  # derived from the prices

    result = await submit_options(
        hass,
        result,
        {
            CONF_PERIOD_MINUTES: "15",
            CONF_GRID_CHARGING: False,
            CONF_IMPORT_LIMIT_KW: 11.0,
            CONF_EXPORT_LIMIT_KW: 6.5,
            CONF_CURTAILMENT: True,
            CONF_TERMINAL_VALUE: 0.35,
        },
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_CURTAILMENT] is True
    assert entry.options[CONF_PERIOD_MINUTES] == "15"
    assert entry.options[CONF_GRID_CHARGING] is False
    assert entry.options[CONF_IMPORT_LIMIT_KW] == 11.0
    assert entry.options[CONF_EXPORT_LIMIT_KW] == 6.5
    assert entry.options[CONF_TERMINAL_VALUE] == 0.35
    assert entry.options[CONF_CAPACITY_KWH] == 10.2

    # Emptying a limit removes it (no limit); emptying the end value goes back to derived.
    result = await open_options(hass, entry, "strategy")
    assert suggested_of(result)[CONF_EXPORT_LIMIT_KW] == 6.5
    assert defaults_of(result)[CONF_CURTAILMENT] is True
    result = await submit_options(
        hass,
        result,
        {CONF_PERIOD_MINUTES: "auto", CONF_GRID_CHARGING: False, CONF_CURTAILMENT: False},
    )
    assert entry.options[CONF_CURTAILMENT] is False
    assert CONF_EXPORT_LIMIT_KW not in entry.options
    assert CONF_IMPORT_LIMIT_KW not in entry.options
    assert CONF_TERMINAL_VALUE not in entry.options


async def test_an_entry_of_1_1_loses_the_old_default_end_value_but_keeps_a_chosen_one(
    hass: HomeAssistant,
) -> None:
    from custom_components.bess import async_migrate_entry

    old_default = MockConfigEntry(
        domain=DOMAIN, version=1, minor_version=1, options={CONF_TERMINAL_VALUE: 0.0}
    )
    chosen = MockConfigEntry(
        domain=DOMAIN, version=1, minor_version=1, options={CONF_TERMINAL_VALUE: 0.4}
    )
    newer = MockConfigEntry(domain=DOMAIN, version=2, minor_version=1, options={})
    for entry in (old_default, chosen, newer):
        entry.add_to_hass(hass)

    assert await async_migrate_entry(hass, old_default)
    assert await async_migrate_entry(hass, chosen)
    assert not await async_migrate_entry(hass, newer)
    assert CONF_TERMINAL_VALUE not in old_default.options
    assert chosen.options[CONF_TERMINAL_VALUE] == 0.4
    assert (old_default.minor_version, chosen.minor_version) == (2, 2)


async def test_options_pricing_saves_the_price_formula(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "pricing")
    assert defaults_of(result) == {
        CONF_PRICE_MULTIPLIER: 1.0,
        CONF_PRICE_MARKUP: 0.0,
        CONF_PRICE_VAT: 1.0,
        CONF_PRICE_FIXED_FEE: 0.0,
        CONF_EXPORT_MULTIPLIER: 1.0,
        CONF_EXPORT_COMPENSATION: 0.0,
    }

    formula = {
        CONF_PRICE_MULTIPLIER: 1.0,
        CONF_PRICE_MARKUP: 0.059,
        CONF_PRICE_VAT: 1.25,
        CONF_PRICE_FIXED_FEE: 0.796,
        CONF_EXPORT_MULTIPLIER: 0.9,
        CONF_EXPORT_COMPENSATION: 0.0675,
    }
    result = await submit_options(hass, result, formula)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert {k: entry.options[k] for k in formula} == formula


async def test_options_consumption_saves_whole_history_days_and_the_fallback(
    hass: HomeAssistant,
) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "consumption")
    assert defaults_of(result) == {
        CONF_CONSUMPTION_DAYS: 7,
        CONF_FALLBACK_CONSUMPTION_KWH: 0.5,
    }

    result = await submit_options(
        hass, result, {CONF_CONSUMPTION_DAYS: 14.0, CONF_FALLBACK_CONSUMPTION_KWH: 0.8}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_CONSUMPTION_DAYS] == 14
    assert isinstance(entry.options[CONF_CONSUMPTION_DAYS], int)
    assert entry.options[CONF_FALLBACK_CONSUMPTION_KWH] == 0.8


async def test_options_control_switches_to_entities_and_offers_the_saved_mapping(
    hass: HomeAssistant,
) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "control")
    assert defaults_of(result) == {
        CONF_CONTROL_MODE: CONTROL_MONITOR,
        CONF_SAFE_MODE: SAFE_MODE_SELF_CONSUMPTION,
    }

    result = await submit_options(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})
    assert result["step_id"] == "control_entities"
    result = await submit_options(
        hass,
        result,
        {
            CONF_WORK_MODE_SELECT: "select.inverter_work_mode",
            CONF_GRID_CHARGE_SWITCH: "switch.inverter_grid_charge",
        },
    )
    assert result["step_id"] == "control_modes"
    assert defaults_of(result) == {}
    result = await submit_options(hass, result, MAPPING)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_CONTROL_MODE] == CONTROL_ENTITIES
    assert entry.options[CONF_GRID_CHARGE_SWITCH] == "switch.inverter_grid_charge"
    assert {k: entry.options[k] for k in MAPPING} == MAPPING

    # Editing again starts from what is saved, except options the select no longer has.
    hass.states.async_set(
        "select.inverter_work_mode", "Load First", {"options": ["Load First", "Battery First"]}
    )
    result = await open_options(hass, entry, "control")
    assert defaults_of(result) == {
        CONF_CONTROL_MODE: CONTROL_ENTITIES,
        CONF_SAFE_MODE: SAFE_MODE_SELF_CONSUMPTION,
    }
    result = await submit_options(hass, result, {CONF_CONTROL_MODE: CONTROL_ENTITIES})
    assert suggested_of(result) == {
        CONF_WORK_MODE_SELECT: "select.inverter_work_mode",
        CONF_GRID_CHARGE_SWITCH: "switch.inverter_grid_charge",
    }
    result = await submit_options(
        hass, result, {CONF_WORK_MODE_SELECT: "select.inverter_work_mode"}
    )
    assert defaults_of(result) == {
        "mode_option_solar_storage": "Battery First",
        "mode_option_load_support": "Load First",
        "mode_option_idle": "Battery First",
    }
    changed = {**MAPPING, "mode_option_grid_charging": "Battery First"}
    changed["mode_option_export_arbitrage"] = "Load First"
    result = await submit_options(hass, result, changed)

    assert {k: entry.options[k] for k in MAPPING} == changed
    # The switch left empty this time is gone, not kept from before.
    assert CONF_GRID_CHARGE_SWITCH not in entry.options


async def test_options_control_back_to_monitor_drops_the_old_mapping(hass: HomeAssistant) -> None:
    entry = make_entry(
        hass,
        options={
            **DEFAULTS,
            **BATTERY_OPTIONS,
            CONF_CONTROL_MODE: CONTROL_ENTITIES,
            CONF_WORK_MODE_SELECT: "select.inverter_work_mode",
            CONF_CHARGE_POWER_NUMBER: "number.inverter_charge_power",
            **MAPPING,
        },
    )
    result = await open_options(hass, entry, "control")

    result = await submit_options(hass, result, {CONF_CONTROL_MODE: CONTROL_MONITOR})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert dict(entry.options) == {**DEFAULTS, **BATTERY_OPTIONS}


async def test_options_control_script_and_growatt(hass: HomeAssistant) -> None:
    device_id = add_growatt_inverter(hass)
    entry = make_entry(hass)
    result = await open_options(hass, entry, "control")
    result = await submit_options(hass, result, {CONF_CONTROL_MODE: CONTROL_SCRIPT})
    result = await submit_options(hass, result, {CONF_CONTROL_SCRIPT: "script.missing"})
    assert result["errors"] == {CONF_CONTROL_SCRIPT: "entity_not_found"}
    result = await submit_options(hass, result, {CONF_CONTROL_SCRIPT: "script.drive_battery"})
    assert entry.options[CONF_CONTROL_MODE] == CONTROL_SCRIPT
    assert entry.options[CONF_CONTROL_SCRIPT] == "script.drive_battery"

    result = await open_options(hass, entry, "control")
    result = await submit_options(hass, result, {CONF_CONTROL_MODE: CONTROL_GROWATT})
    result = await submit_options(hass, result, {CONF_GROWATT_DEVICE_ID: "gone"})
    assert result["errors"] == {CONF_GROWATT_DEVICE_ID: "device_not_found"}
    result = await submit_options(hass, result, {CONF_GROWATT_DEVICE_ID: device_id})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_CONTROL_MODE] == CONTROL_GROWATT
    assert entry.options[CONF_GROWATT_DEVICE_ID] == device_id
    assert CONF_CONTROL_SCRIPT not in entry.options


async def test_options_flow_keeps_the_entry_it_edits_unassigned(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    flow = cast(BessOptionsFlow, hass.config_entries.options._progress[result["flow_id"]])

    # Home Assistant 2026 refuses options flows that set config_entry themselves.
    assert "_config_entry" not in vars(flow)
    assert flow.config_entry is entry


# --- translations ------------------------------------------------------------------------


def test_every_control_mode_has_a_label() -> None:
    labels = STRINGS["selector"]["control_mode"]["options"]

    assert set(labels) == {CONTROL_MONITOR, CONTROL_ENTITIES, CONTROL_SCRIPT, CONTROL_GROWATT}


def test_every_error_and_abort_the_flows_raise_has_text() -> None:
    source = (
        Path(__file__).parents[1] / "custom_components" / "bess" / "config_flow.py"
    ).read_text(encoding="utf-8")
    config_errors = set(STRINGS["config"]["error"])
    for error in config_errors:
        assert f'"{error}"' in source, f"unused error text {error}"
    options_errors = set(STRINGS["options"]["error"])
    assert options_errors <= config_errors
    assert set(STRINGS["config"]["abort"]) == {"already_configured", "reconfigure_successful"}


async def test_home_assistant_loads_the_flow_strings(hass: HomeAssistant) -> None:
    config = await translation.async_get_translations(hass, "en", "config", {DOMAIN})
    options = await translation.async_get_translations(hass, "en", "options", {DOMAIN})
    selectors = await translation.async_get_translations(hass, "en", "selector", {DOMAIN})

    assert config["component.bess.config.step.control_modes.description"] == (
        "For each thing the plan can do, pick the option of {entity} that makes the inverter do it."
    )
    assert config["component.bess.config.abort.already_configured"].startswith("A bess entry")
    assert options["component.bess.options.step.init.menu_options.pricing"] == "Price formula"
    assert selectors["component.bess.selector.control_mode.options.monitor"].startswith(
        "Monitor only"
    )
