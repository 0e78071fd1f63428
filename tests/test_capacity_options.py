"""The options flow's power tariff step: presets, custom rules, every error, none."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, translation
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.bess.config_flow import CUSTOM_TARIFF
from custom_components.bess.const import (
    CAPACITY_KEYS,
    CONF_CAPACITY_DISTINCT_DAYS,
    CONF_CAPACITY_FEE,
    CONF_CAPACITY_HOURS_END,
    CONF_CAPACITY_HOURS_START,
    CONF_CAPACITY_MEASUREMENT_MINUTES,
    CONF_CAPACITY_MONTHS,
    CONF_CAPACITY_NIGHT_WEIGHT,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_PRESET,
    CONF_CAPACITY_WEEKDAYS_ONLY,
    DEFAULTS,
    DOMAIN,
)
from custom_components.bess.coordinator import capacity_tariff
from custom_components.bess.engine.capacity import PRESETS, WINTER, CapacityTariff

from .conftest import Home, set_up
from .test_config_flow import (
    BATTERY_OPTIONS,
    STRINGS,
    defaults_of,
    make_entry,
    open_options,
    submit_options,
)

ALL_MONTHS = [str(month) for month in range(1, 13)]
# The form of Ellevio's rules, as the flow fills it.
ELLEVIO_FORM = {
    CONF_CAPACITY_FEE: 80.0,
    CONF_CAPACITY_PEAKS: 3,
    CONF_CAPACITY_DISTINCT_DAYS: True,
    CONF_CAPACITY_WEEKDAYS_ONLY: False,
    CONF_CAPACITY_HOURS_START: 0,
    CONF_CAPACITY_HOURS_END: 24,
    CONF_CAPACITY_MONTHS: ALL_MONTHS,
    CONF_CAPACITY_NIGHT_WEIGHT: 0.5,
    CONF_CAPACITY_MEASUREMENT_MINUTES: "60",
}


async def to_rules(hass: HomeAssistant, entry: MockConfigEntry, preset: str) -> Any:
    """Open the power tariff step, pick `preset`, and return the rules form."""
    result = await open_options(hass, entry, "capacity")
    assert result["step_id"] == "capacity"
    result = await submit_options(hass, result, {CONF_CAPACITY_PRESET: preset})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "capacity_rules"
    return result


async def test_a_preset_fills_its_published_rules_and_saves_them(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await open_options(hass, entry, "capacity")
    assert defaults_of(result) == {CONF_CAPACITY_PRESET: "none"}
    result = await submit_options(hass, result, {CONF_CAPACITY_PRESET: "ellevio"})
    assert defaults_of(result) == ELLEVIO_FORM

    result = await submit_options(hass, result, ELLEVIO_FORM)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_CAPACITY_PRESET] == "ellevio"
    assert entry.options[CONF_CAPACITY_MONTHS] == list(range(1, 13))
    assert entry.options[CONF_CAPACITY_MEASUREMENT_MINUTES] == 60
    assert capacity_tariff(entry.options) == PRESETS["ellevio"]
    # The other options are kept.
    assert {key: entry.options[key] for key in BATTERY_OPTIONS} == BATTERY_OPTIONS


async def test_every_rule_of_a_preset_stays_adjustable(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await to_rules(hass, entry, "sala_heby_winter")
    assert defaults_of(result) == {
        CONF_CAPACITY_FEE: 111.5,
        CONF_CAPACITY_PEAKS: 3,
        CONF_CAPACITY_DISTINCT_DAYS: False,
        CONF_CAPACITY_WEEKDAYS_ONLY: True,
        CONF_CAPACITY_HOURS_START: 7,
        CONF_CAPACITY_HOURS_END: 19,
        CONF_CAPACITY_MONTHS: ["1", "2", "3", "11", "12"],
        CONF_CAPACITY_NIGHT_WEIGHT: 1.0,
        CONF_CAPACITY_MEASUREMENT_MINUTES: "60",
    }
    mine = {
        **defaults_of(result),
        CONF_CAPACITY_FEE: 120.25,
        CONF_CAPACITY_PEAKS: 2.0,  # number fields arrive as floats
        CONF_CAPACITY_HOURS_START: 6.0,
        CONF_CAPACITY_HOURS_END: 22.0,
        CONF_CAPACITY_MONTHS: ["12", "1", "2"],
        CONF_CAPACITY_MEASUREMENT_MINUTES: "15",
    }
    await submit_options(hass, result, mine)
    assert capacity_tariff(entry.options) == CapacityTariff(
        fee_per_kw_month=120.25,
        peaks=2,
        distinct_days=False,
        weekdays_only=True,
        hours=(6, 22),
        months=frozenset({12, 1, 2}),
        measurement_minutes=15,
    )
    assert isinstance(entry.options[CONF_CAPACITY_PEAKS], int)
    assert entry.options[CONF_CAPACITY_MONTHS] == [1, 2, 12]

    # The same preset again: the form starts from my rules, not the published ones.
    result = await to_rules(hass, entry, "sala_heby_winter")
    assert defaults_of(result)[CONF_CAPACITY_FEE] == 120.25
    assert defaults_of(result)[CONF_CAPACITY_MONTHS] == ["1", "2", "12"]
    assert defaults_of(result)[CONF_CAPACITY_MEASUREMENT_MINUTES] == "15"
    # Another preset: its own rules.
    result = await to_rules(hass, entry, "weekday_07_20_winter")
    assert defaults_of(result)[CONF_CAPACITY_HOURS_END] == 20
    assert defaults_of(result)[CONF_CAPACITY_FEE] == 100.0


async def test_custom_starts_from_the_saved_rules_or_the_common_rule(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await to_rules(hass, entry, "custom")
    assert defaults_of(result) == {
        **ELLEVIO_FORM,
        CONF_CAPACITY_FEE: CUSTOM_TARIFF.fee_per_kw_month,
        CONF_CAPACITY_NIGHT_WEIGHT: 1.0,
    }
    await submit_options(
        hass,
        result,
        {**defaults_of(result), CONF_CAPACITY_FEE: 42.0, CONF_CAPACITY_MONTHS: ["11"]},
    )
    assert entry.options[CONF_CAPACITY_PRESET] == "custom"
    assert capacity_tariff(entry.options) == CapacityTariff(
        fee_per_kw_month=42.0, months=frozenset({11})
    )

    result = await open_options(hass, entry, "capacity")
    assert defaults_of(result) == {CONF_CAPACITY_PRESET: "custom"}
    result = await submit_options(hass, result, {CONF_CAPACITY_PRESET: "custom"})
    assert defaults_of(result)[CONF_CAPACITY_FEE] == 42.0
    assert defaults_of(result)[CONF_CAPACITY_MONTHS] == ["11"]

    # Custom after a preset starts from that preset's saved rules.
    await submit_options(hass, await to_rules(hass, entry, "ellevio"), ELLEVIO_FORM)
    result = await to_rules(hass, entry, "custom")
    assert defaults_of(result) == ELLEVIO_FORM


async def test_none_removes_the_tariff_and_keeps_everything_else(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    await submit_options(hass, await to_rules(hass, entry, "ellevio"), ELLEVIO_FORM)
    assert capacity_tariff(entry.options) is not None

    result = await open_options(hass, entry, "capacity")
    assert defaults_of(result) == {CONF_CAPACITY_PRESET: "ellevio"}
    result = await submit_options(hass, result, {CONF_CAPACITY_PRESET: "none"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not set(CAPACITY_KEYS) & set(entry.options)
    assert dict(entry.options) == {**DEFAULTS, **BATTERY_OPTIONS}
    assert capacity_tariff(entry.options) is None


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_CAPACITY_FEE: 0}, {CONF_CAPACITY_FEE: "capacity_fee_not_positive"}),
        ({CONF_CAPACITY_PEAKS: 0}, {CONF_CAPACITY_PEAKS: "capacity_peaks_range"}),
        ({CONF_CAPACITY_PEAKS: 2.5}, {CONF_CAPACITY_PEAKS: "capacity_peaks_range"}),
        (
            {CONF_CAPACITY_HOURS_START: 19, CONF_CAPACITY_HOURS_END: 7},
            {CONF_CAPACITY_HOURS_END: "capacity_hours_order"},
        ),
        (
            {CONF_CAPACITY_HOURS_START: 7, CONF_CAPACITY_HOURS_END: 7},
            {CONF_CAPACITY_HOURS_END: "capacity_hours_order"},
        ),
        (
            {CONF_CAPACITY_HOURS_START: 24, CONF_CAPACITY_HOURS_END: 24},
            {CONF_CAPACITY_HOURS_END: "capacity_hours_order"},
        ),
        (
            {CONF_CAPACITY_HOURS_START: 6.5},
            {CONF_CAPACITY_HOURS_END: "capacity_hours_order"},
        ),
        ({CONF_CAPACITY_MONTHS: []}, {CONF_CAPACITY_MONTHS: "capacity_months_empty"}),
        (
            {CONF_CAPACITY_NIGHT_WEIGHT: 0},
            {CONF_CAPACITY_NIGHT_WEIGHT: "capacity_night_weight_range"},
        ),
    ],
)
async def test_rules_no_tariff_can_have_are_refused_with_a_message(
    hass: HomeAssistant, changes: dict[str, Any], errors: dict[str, str]
) -> None:
    entry = make_entry(hass)
    result = await to_rules(hass, entry, "ellevio")

    result = await submit_options(hass, result, {**ELLEVIO_FORM, **changes})

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert CONF_CAPACITY_PRESET not in entry.options
    # The form keeps what was typed, and the corrected rules are saved.
    assert {k: defaults_of(result)[k] for k in changes} == changes
    result = await submit_options(hass, result, ELLEVIO_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert capacity_tariff(entry.options) == PRESETS["ellevio"]


async def test_every_error_at_once(hass: HomeAssistant) -> None:
    entry = make_entry(hass)
    result = await to_rules(hass, entry, "custom")
    result = await submit_options(
        hass,
        result,
        {
            **ELLEVIO_FORM,
            CONF_CAPACITY_FEE: 0,
            CONF_CAPACITY_PEAKS: 0,
            CONF_CAPACITY_HOURS_START: 20,
            CONF_CAPACITY_HOURS_END: 8,
            CONF_CAPACITY_MONTHS: [],
            CONF_CAPACITY_NIGHT_WEIGHT: 0,
        },
    )
    assert set(result["errors"] or {}) == {
        CONF_CAPACITY_FEE,
        CONF_CAPACITY_PEAKS,
        CONF_CAPACITY_HOURS_END,
        CONF_CAPACITY_MONTHS,
        CONF_CAPACITY_NIGHT_WEIGHT,
    }


def test_every_field_preset_and_choice_has_text() -> None:
    steps = STRINGS["options"]["step"]
    assert steps["init"]["menu_options"]["capacity"]
    for step in ("capacity", "capacity_rules"):
        assert set(steps[step]["data"]) == set(steps[step]["data_description"]), step
        assert all(steps[step]["data_description"].values())
    assert set(steps["capacity_rules"]["data"]) == set(ELLEVIO_FORM)
    selectors = STRINGS["selector"]
    assert set(selectors["capacity_preset"]["options"]) == {"none", "custom", *PRESETS}
    assert set(selectors["capacity_months"]["options"]) == set(ALL_MONTHS)
    assert set(selectors["capacity_measurement_minutes"]["options"]) == {"60", "15"}
    for error in ("capacity_fee_not_positive", "capacity_hours_order"):
        assert STRINGS["options"]["error"][error] == STRINGS["config"]["error"][error]


async def test_home_assistant_loads_the_tariff_strings(hass: HomeAssistant) -> None:
    options = await translation.async_get_translations(hass, "en", "options", {DOMAIN})
    selectors = await translation.async_get_translations(hass, "en", "selector", {DOMAIN})

    assert options["component.bess.options.step.capacity_rules.data.capacity_peaks"] == (
        "Number of peaks averaged"
    )
    assert selectors["component.bess.selector.capacity_preset.options.ellevio"].startswith(
        "Ellevio"
    )


async def test_choosing_a_tariff_adds_the_capacity_sensors_and_none_removes_them(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    await set_up(hass, mock_config_entry)
    assert hass.states.get("sensor.home_battery_capacity_peaks") is None

    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "capacity"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAPACITY_PRESET: "weekday_07_20_winter"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**defaults_of(result), CONF_CAPACITY_FEE: 95.0}
    )
    await hass.async_block_till_done()

    # The options reload the entry: the new manager plans under the tariff.
    coordinator = mock_config_entry.runtime_data
    assert coordinator.manager.capacity_tariff == CapacityTariff(
        fee_per_kw_month=95.0,
        distinct_days=False,
        weekdays_only=True,
        hours=(7, 20),
        months=WINTER,
    )
    assert coordinator.manager.capacity_outlook() is not None
    assert hass.states.get("sensor.home_battery_capacity_peaks").state == "0.0"
    assert hass.states.get("sensor.home_battery_capacity_cap_today") is not None
    assert "import_cap_kw" in hass.states.get("sensor.home_battery_control_status").attributes

    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "capacity"}
    )
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAPACITY_PRESET: "none"}
    )
    await hass.async_block_till_done()

    assert mock_config_entry.runtime_data.manager.capacity_tariff is None
    assert hass.states.get("sensor.home_battery_capacity_peaks") is None
    assert entity_registry.async_get("sensor.home_battery_capacity_peaks") is None
    assert entity_registry.async_get("sensor.home_battery_capacity_cap_today") is None
