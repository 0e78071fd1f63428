"""Automatic control through the integration: the switch, the hourly writes, a failing inverter."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.bess.const import (
    CONF_CAPACITY_KWH,
    CONF_CONTROL_MODE,
    CONF_MODE_OPTION_PREFIX,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    DOMAIN,
)
from custom_components.bess.engine.models import Intent

from .conftest import Home, entry_options, local, set_up

SWITCH = "switch.home_battery_automatic_control"
STATUS = "sensor.home_battery_control_status"
HELPER_SELECT = "input_select.inverter_mode"
CONTROL_OPTIONS = {
    CONF_CONTROL_MODE: CONTROL_ENTITIES,
    CONF_WORK_MODE_SELECT: "select.inverter_mode",
    **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": intent.value.upper() for intent in Intent},
}


@pytest.fixture
def controlled_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The test battery with entity-mapping control."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options=entry_options(**CONTROL_OPTIONS),
    )


async def test_hourly_update_commands_the_inverter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    controlled_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 9, 30))
    home.set_prices(local(2026, 11, 24, 0).date())
    calls = async_mock_service(hass, "select", "select_option")
    await set_up(hass, controlled_entry)
    manager = controlled_entry.runtime_data.manager
    first = manager.latest_result.periods[0].intent
    assert [c.data["option"] for c in calls] == [first.value.upper()]
    assert hass.states.get("sensor.home_battery_control_status").state == "controlling"

    freezer.move_to(local(2026, 11, 24, 10, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    now_intent = manager.latest_result.periods[0].intent
    expected = [first.value.upper()]
    if now_intent is not first:
        expected.append(now_intent.value.upper())
    assert [c.data["option"] for c in calls] == expected


async def test_switch_off_stops_writes_and_on_applies_now(
    hass: HomeAssistant, home: Home, controlled_entry: MockConfigEntry
) -> None:
    calls = async_mock_service(hass, "select", "select_option")
    await set_up(hass, controlled_entry)
    assert len(calls) == 1
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)
    assert hass.states.get(SWITCH).state == "off"
    assert hass.states.get("sensor.home_battery_control_status").state == "monitoring"

    await hass.services.async_call(
        DOMAIN, "update_schedule", {"config_entry_id": controlled_entry.entry_id}, blocking=True
    )
    assert len(calls) == 1  # off: nothing written

    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    assert hass.states.get(SWITCH).state == "on"
    assert len(calls) == 2  # on: the hour in progress is applied at once


async def test_switched_off_stays_off_across_a_reload(
    hass: HomeAssistant, home: Home, controlled_entry: MockConfigEntry
) -> None:
    calls = async_mock_service(hass, "select", "select_option")
    await set_up(hass, controlled_entry)
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)
    written = len(calls)

    # An options change, a reconfigure or a restart reloads the entry: nothing may be written.
    assert await hass.config_entries.async_reload(controlled_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(SWITCH).state == "off"
    assert controlled_entry.runtime_data.controller.enabled is False
    assert len(calls) == written
    assert hass.states.get("sensor.home_battery_control_status").state == "monitoring"


async def test_failing_inverter_raises_repair_issue_and_the_loop_goes_on(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    controlled_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 9, 30))
    home.set_prices(local(2026, 11, 24, 0).date())
    attempts: list[ServiceCall] = []

    async def _reject(call: ServiceCall) -> None:
        attempts.append(call)
        raise HomeAssistantError("inverter offline")

    hass.services.async_register("select", "select_option", _reject)
    await set_up(hass, controlled_entry)
    assert len(attempts) == 2
    assert hass.states.get("sensor.home_battery_control_status").state == "error"
    assert issue_registry.async_get_issue(DOMAIN, f"control_failed_{controlled_entry.entry_id}")
    # Planning and reporting go on.
    assert hass.states.get("sensor.home_battery_total_savings_today").state != "unavailable"

    freezer.move_to(local(2026, 11, 24, 10, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    latest = controlled_entry.runtime_data.manager.schedules.get_latest_schedule()
    assert latest.created_for_scenario == "hourly"


async def test_options_change_reloads_with_the_new_battery(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    freezer.tick(timedelta(minutes=7))
    hass.config_entries.async_update_entry(
        init_integration, options={**init_integration.options, CONF_CAPACITY_KWH: 20.0}
    )
    await hass.async_block_till_done()
    manager = init_integration.runtime_data.manager
    assert manager.battery.capacity_kwh == 20.0
    # The reload re-planned with the new battery and kept the earlier schedule.
    assert [s.created_for_scenario for s in manager.schedules.get_all_schedules_today()] == [
        "restart",
        "restart",
    ]
    assert manager.last_optimization_time == dt_util.now()  # re-planned at the change


@pytest.fixture
async def helper_entry(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The test battery driving an inverter wired through an input_select helper."""
    assert await async_setup_component(
        hass,
        "input_select",
        {"input_select": {"inverter_mode": {"options": [i.value for i in Intent]}}},
    )
    options = {
        CONF_CONTROL_MODE: CONTROL_ENTITIES,
        CONF_WORK_MODE_SELECT: HELPER_SELECT,
        **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": intent.value for intent in Intent},
    }
    return MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options=entry_options(**options),
    )


async def test_hand_changes_missing_data_and_no_plan_are_all_on_the_control_status(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    helper_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 9, 30))
    home.set_prices(local(2026, 11, 24, 0).date(), with_tomorrow=False)
    await set_up(hass, helper_entry)
    manager = helper_entry.runtime_data.manager
    planned = manager.latest_result
    assert hass.states.get(HELPER_SELECT).state == planned.periods[0].intent.value
    assert hass.states.get(STATUS).state == "controlling"

    # By hand: shown at once, with the entity.
    other = next(i.value for i in Intent if i is not planned.periods[0].intent)
    await hass.services.async_call(
        "input_select", "select_option", {"entity_id": HELPER_SELECT, "option": other}, True
    )
    await hass.async_block_till_done()
    assert hass.states.get(STATUS).state == "overridden"
    assert hass.states.get(STATUS).attributes["overridden_entity"] == HELPER_SELECT

    # The SOC goes away: at 10:00 no plan can be made, so the plan in force is followed
    # (which also sets the mode back) and the status says so, staying available.
    home.set_soc("unavailable")
    freezer.move_to(local(2026, 11, 24, 10, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"
    assert hass.states.get(STATUS).state == "following_last_plan"
    assert "unavailable" in hass.states.get(STATUS).attributes["last_error"]
    assert hass.states.get(HELPER_SELECT).state == planned.periods[1].intent.value

    # Midnight, still no SOC and tomorrow's prices never came: no plan covers 00:00.
    for moment in [*(local(2026, 11, 24, h) for h in range(11, 24)), local(2026, 11, 24, 23, 55)]:
        freezer.move_to(moment)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    # Tomorrow's (failed) planning does not hide that today's SOC is missing.
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "waiting_for_prices"
    freezer.move_to(local(2026, 11, 25, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(STATUS).state == "safe_mode"
    assert hass.states.get(HELPER_SELECT).state == Intent.LOAD_SUPPORT.value
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state != "unavailable"
