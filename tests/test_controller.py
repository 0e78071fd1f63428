"""The Home Assistant controller: the service calls it makes, and how it fails."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.bess.const import (
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONTROL_MODE,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_GRID_CHARGE_SWITCH,
    CONF_GROWATT_DEVICE_ID,
    CONF_MODE_OPTION_PREFIX,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
    CONTROL_MONITOR,
    DOMAIN,
)
from custom_components.bess.engine.models import Intent
from custom_components.bess.ha.controller import (
    ControlConfig,
    ControlStatus,
    HomeAssistantController,
)

from .conftest import plan_of, script_controller

ENTITY_OPTIONS = {
    CONF_CONTROL_MODE: CONTROL_ENTITIES,
    CONF_WORK_MODE_SELECT: "select.inverter_mode",
    **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": f"Mode {intent.value}" for intent in Intent},
    CONF_CHARGE_POWER_NUMBER: "number.charge_power",
    CONF_DISCHARGE_POWER_NUMBER: "number.discharge_power",
    CONF_GRID_CHARGE_SWITCH: "switch.grid_charging",
}


@pytest.fixture
def start(hass: HomeAssistant) -> datetime:
    return dt_util.start_of_local_day() + timedelta(hours=10)


async def test_monitor_only_writes_nothing(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "select", "select_option")
    controller = HomeAssistantController(
        hass, "entry", ControlConfig.from_options({CONF_CONTROL_MODE: CONTROL_MONITOR})
    )
    await controller.apply(plan_of(start, [2, 0], [0, 0]), start)
    assert calls == []
    assert controller.status is ControlStatus.MONITORING


async def test_entity_mapping_sets_mode_powers_and_switch(
    hass: HomeAssistant, start: datetime
) -> None:
    hass.states.async_set("number.charge_power", "0", {"unit_of_measurement": "W", "max": 3000})
    hass.states.async_set("number.discharge_power", "0", {"unit_of_measurement": "kW"})
    selects = async_mock_service(hass, "select", "select_option")
    numbers = async_mock_service(hass, "number", "set_value")
    switch_on = async_mock_service(hass, "switch", "turn_on")
    switch_off = async_mock_service(hass, "switch", "turn_off")
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(ENTITY_OPTIONS))
    # Hour 0: 4 kWh charged with a 1 kWh load → grid charging at 4 kW.
    plan = plan_of(start, [4, 0], [0, 1])
    await controller.apply(plan, start + timedelta(minutes=5))

    assert [c.data["option"] for c in selects] == ["Mode grid_charging"]
    # 4 kW in a W number whose maximum is 3000 W: clamped to the entity's range. The
    # discharge power already shows 0: nothing to write there.
    assert {c.data["entity_id"]: c.data["value"] for c in numbers} == {
        "number.charge_power": 3000.0,
    }
    assert len(switch_on) == 1
    assert switch_off == []
    assert controller.status is ControlStatus.CONTROLLING


async def test_unchanged_settings_are_not_written_again(
    hass: HomeAssistant, start: datetime
) -> None:
    selects = async_mock_service(hass, "select", "select_option")
    numbers = async_mock_service(hass, "number", "set_value")
    async_mock_service(hass, "switch", "turn_on")
    switch_off = async_mock_service(hass, "switch", "turn_off")
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(ENTITY_OPTIONS))
    plan = plan_of(start, [0, 0, 0], [1, 1, 0.5])
    await controller.apply(plan, start)
    first = (len(selects), len(numbers), len(switch_off))
    await controller.apply(plan, start + timedelta(hours=1))  # same action: nothing to write
    assert (len(selects), len(numbers), len(switch_off)) == first
    await controller.apply(plan, start + timedelta(hours=2))  # 0.5 kW: only the power changes
    assert len(selects) == first[0]
    assert len(numbers) == first[1] + 1
    assert numbers[-1].data == {"entity_id": "number.discharge_power", "value": 0.5}


async def test_rejected_call_is_retried_once_then_raises_a_repair_issue(
    hass: HomeAssistant, start: datetime, issue_registry: ir.IssueRegistry
) -> None:
    attempts: list[ServiceCall] = []

    async def _reject(call: ServiceCall) -> None:
        attempts.append(call)
        raise HomeAssistantError("inverter offline")

    hass.services.async_register("select", "select_option", _reject)
    controller = HomeAssistantController(
        hass,
        "entry",
        ControlConfig.from_options(
            {
                CONF_CONTROL_MODE: CONTROL_ENTITIES,
                CONF_WORK_MODE_SELECT: "select.inverter_mode",
                f"{CONF_MODE_OPTION_PREFIX}idle": "Self consumption",
            }
        ),
    )
    await controller.apply(plan_of(start, [0], [0]), start)  # must not raise

    assert len(attempts) == 2
    assert controller.status is ControlStatus.ERROR
    assert "inverter offline" in (controller.last_error or "")
    issue = issue_registry.async_get_issue(DOMAIN, "control_failed_entry")
    assert issue is not None
    assert issue.translation_placeholders == {
        "service": "select.select_option",
        "error": "inverter offline",
    }

    # The inverter comes back: the next apply writes again and clears the issue.
    hass.services.async_remove("select", "select_option")
    ok = async_mock_service(hass, "select", "select_option")
    await controller.apply(plan_of(start, [0], [0]), start)
    assert len(ok) == 1
    assert controller.status is ControlStatus.CONTROLLING
    assert issue_registry.async_get_issue(DOMAIN, "control_failed_entry") is None


async def test_a_call_that_fails_once_succeeds_on_retry(
    hass: HomeAssistant, start: datetime
) -> None:
    attempts: list[ServiceCall] = []

    async def _flaky(call: ServiceCall) -> None:
        attempts.append(call)
        if len(attempts) == 1:
            raise HomeAssistantError("busy")

    hass.services.async_register("script", "turn_on", _flaky)
    controller = script_controller(hass)
    await controller.apply(plan_of(start, [0], [0]), start)
    assert len(attempts) == 2
    assert controller.status is ControlStatus.CONTROLLING


async def test_script_gets_mode_power_and_the_stretch(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)
    plan = plan_of(start, [0, 0, 0], [1, 1, 0])
    await controller.apply(plan, start + timedelta(hours=1))
    assert len(calls) == 1
    assert calls[0].data["entity_id"] == "script.battery"
    assert calls[0].data["variables"] == {
        "mode": "load_support",
        "power_kw": -1.0,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "safe_mode": False,
        "curtail": False,
        "curtail_kwh": 0.0,
    }


async def test_auto_control_off_writes_nothing(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "select", "select_option")
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(ENTITY_OPTIONS))
    controller.enabled = False
    await controller.apply(plan_of(start, [1], [0]), start)
    assert calls == []
    assert controller.status is ControlStatus.MONITORING


async def test_growatt_segments(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "growatt_server", "update_time_segment")
    controller = HomeAssistantController(
        hass,
        "entry",
        ControlConfig.from_options(
            {CONF_CONTROL_MODE: CONTROL_GROWATT, CONF_GROWATT_DEVICE_ID: "growatt-device"}
        ),
    )
    # 10:00–12:00 grid charging, 12:00–13:00 idle, 13:00–14:00 discharging.
    plan = plan_of(start, [3, 3, 0, 0], [0, 0, 0, 2])
    await controller.apply(plan, start)
    assert len(calls) == 9
    enabled = [c.data for c in calls if c.data["enabled"]]
    assert [(d["batt_mode"], d["start_time"], d["end_time"]) for d in enabled] == [
        ("battery_first", "10:00", "11:59"),
        ("grid_first", "13:00", "13:59"),
    ]
    assert {c.data["device_id"] for c in calls} == {"growatt-device"}
    assert [c.data["segment_id"] for c in calls] == list(range(1, 10))


async def test_the_repair_issue_goes_when_control_is_switched_off_and_on(
    hass: HomeAssistant, start: datetime, issue_registry: ir.IssueRegistry
) -> None:
    async def _reject(call: ServiceCall) -> None:
        raise HomeAssistantError("inverter offline")

    hass.services.async_register("select", "select_option", _reject)
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(ENTITY_OPTIONS))
    await controller.apply(plan_of(start, [0], [0]), start)
    assert issue_registry.async_get_issue(DOMAIN, "control_failed_entry") is not None

    controller.set_enabled(False)
    assert controller.status is ControlStatus.MONITORING
    assert issue_registry.async_get_issue(DOMAIN, "control_failed_entry") is None

    hass.services.async_remove("select", "select_option")
    async_mock_service(hass, "select", "select_option")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    controller.set_enabled(True)
    await controller.apply(plan_of(start, [0], [0]), start)
    assert controller.status is ControlStatus.CONTROLLING
    assert issue_registry.async_get_issue(DOMAIN, "control_failed_entry") is None
