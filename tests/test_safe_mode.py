"""The configurable safe mode, and a Growatt that holds its battery when the plan says so.

Load-first alone drains a Growatt battery in a period the plan holds it; the discharge power
number at 0 % is what holds it. When no plan covers now, the inverter gets the safe mode the
user chose: self-consumption (cover the home) or hold (neither grid charging nor discharge).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.bess.const import (
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONTROL_MODE,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_GRID_CHARGE_SWITCH,
    CONF_GROWATT_DEVICE_ID,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MODE_OPTION_PREFIX,
    CONF_SAFE_MODE,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
    SAFE_MODE_HOLD,
    SAFE_MODE_SELF_CONSUMPTION,
)
from custom_components.bess.engine.models import Intent
from custom_components.bess.ha.controller import (
    ControlConfig,
    ControlStatus,
    HomeAssistantController,
)

from .conftest import Home, plan_of, script_controller, set_up

MODE = "input_select.inverter_mode"
CHARGE = "input_number.charge_power"  # in W
DISCHARGE = "input_number.discharge_power"  # in % of the battery's maximum, as Growatt's
GRID = "input_boolean.grid_charging"
BATTERY = {CONF_MAX_CHARGE_KW: 5.0, CONF_MAX_DISCHARGE_KW: 5.0}
ENTITIES = {
    CONF_CONTROL_MODE: CONTROL_ENTITIES,
    CONF_WORK_MODE_SELECT: MODE,
    **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": intent.value for intent in Intent},
    CONF_CHARGE_POWER_NUMBER: CHARGE,
    CONF_DISCHARGE_POWER_NUMBER: DISCHARGE,
    CONF_GRID_CHARGE_SWITCH: GRID,
    **BATTERY,
}
GROWATT = {
    CONF_CONTROL_MODE: CONTROL_GROWATT,
    CONF_GROWATT_DEVICE_ID: "growatt-device",
    CONF_DISCHARGE_POWER_NUMBER: DISCHARGE,
    CONF_GRID_CHARGE_SWITCH: GRID,
    **BATTERY,
}


@pytest.fixture
def start(hass: HomeAssistant) -> datetime:
    return dt_util.start_of_local_day() + timedelta(hours=10)


@pytest.fixture
async def inverter(hass: HomeAssistant) -> None:
    """An inverter wired through input helpers; it starts discharging at 60 %."""
    assert await async_setup_component(
        hass, "input_select", {"input_select": {"inverter_mode": {"options": list(Intent)}}}
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "charge_power": {"min": 0, "max": 5000, "step": 100, "unit_of_measurement": "W"},
                "discharge_power": {
                    "min": 0,
                    "max": 100,
                    "step": 1,
                    "initial": 60,
                    "unit_of_measurement": "%",
                },
            }
        },
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"grid_charging": {"initial": True}}}
    )
    await hass.async_block_till_done()


def controller_of(hass: HomeAssistant, options: dict[str, Any]) -> HomeAssistantController:
    """A controller of the entry options `options`."""
    return HomeAssistantController(hass, "entry", ControlConfig.from_options(options))


def states(hass: HomeAssistant) -> tuple[str, float, float, str]:
    """The inverter's mode, charge power (W), discharge power (%) and grid charging."""
    return (
        hass.states.get(MODE).state,
        float(hass.states.get(CHARGE).state),
        float(hass.states.get(DISCHARGE).state),
        hass.states.get(GRID).state,
    )


@pytest.mark.usefixtures("inverter")
async def test_hold_safe_mode_stops_charging_and_discharging(
    hass: HomeAssistant, start: datetime
) -> None:
    controller = controller_of(hass, {**ENTITIES, CONF_SAFE_MODE: SAFE_MODE_HOLD})
    await controller.apply(plan_of(start, [3], [0]), start)  # grid charging at 3 kW
    assert states(hass) == ("grid_charging", 3000.0, 0.0, "on")

    await controller.apply_fallback(None, start + timedelta(hours=1), "prices: no prices")
    await hass.async_block_till_done()
    assert states(hass) == ("idle", 0.0, 0.0, "off")
    assert controller.status is ControlStatus.SAFE_MODE
    assert controller.last_error == "prices: no prices"


@pytest.mark.usefixtures("inverter")
async def test_self_consumption_safe_mode_lets_the_battery_cover_the_home(
    hass: HomeAssistant, start: datetime
) -> None:
    controller = controller_of(hass, {**ENTITIES, CONF_SAFE_MODE: SAFE_MODE_SELF_CONSUMPTION})
    await controller.apply(plan_of(start, [0], [0]), start)  # the plan holds: discharge 0 %
    assert states(hass)[2] == 0.0

    await controller.apply_fallback(None, start + timedelta(hours=1), "sensor.soc: SOC is 'nan'")
    await hass.async_block_till_done()
    # A hold left by the last plan would keep the battery from covering the home.
    mode, charge, discharge, grid = states(hass)
    assert (mode, discharge, grid) == ("load_support", 100.0, "off")
    assert charge == 0.0  # the charge power is left as the plan set it
    assert controller.status is ControlStatus.SAFE_MODE


@pytest.mark.usefixtures("inverter")
async def test_growatt_holds_the_battery_where_the_plan_idles(
    hass: HomeAssistant, start: datetime
) -> None:
    segments = async_mock_service(hass, "growatt_server", "update_time_segment")
    controller = controller_of(hass, GROWATT)
    # 10:00 grid charging 3 kW, 11:00 idle, 12:00 discharge 2 kW, 13:00 discharge 5 kW.
    plan = plan_of(start, [3, 0, 0, 0], [0, 0, 2, 5])
    seen = []
    for hour in range(4):
        await controller.apply(plan, start + timedelta(hours=hour))
        await hass.async_block_till_done()
        _, _, discharge, grid = states(hass)
        seen.append((discharge, grid))
    # Load-first alone would discharge at 11:00; 0 % holds the battery. The AC-charge switch
    # is on only while the plan charges from the grid.
    assert seen == [(0.0, "on"), (0.0, "off"), (40.0, "off"), (100.0, "off")]
    assert controller.status is ControlStatus.CONTROLLING
    first = [c.data for c in segments[:9] if c.data["enabled"]]
    assert [(d["batt_mode"], d["start_time"], d["end_time"]) for d in first] == [
        ("battery_first", "10:00", "10:59"),
        ("grid_first", "12:00", "13:59"),
    ]


@pytest.mark.usefixtures("inverter")
async def test_growatt_hold_safe_mode_disables_the_segments_and_holds(
    hass: HomeAssistant, start: datetime
) -> None:
    segments = async_mock_service(hass, "growatt_server", "update_time_segment")
    controller = controller_of(hass, {**GROWATT, CONF_SAFE_MODE: SAFE_MODE_HOLD})
    await controller.apply_fallback(None, start, "prices: no prices")
    await hass.async_block_till_done()
    assert [c.data["enabled"] for c in segments] == [False] * 9
    assert states(hass)[2:] == (0.0, "off")
    assert controller.status is ControlStatus.SAFE_MODE

    # A hand change of the held discharge power is an override, set again next period.
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": DISCHARGE, "value": 80}, blocking=True
    )
    controller.async_entity_changed(DISCHARGE)
    assert controller.status is ControlStatus.OVERRIDDEN
    await controller.apply_fallback(None, start + timedelta(hours=1), "prices: no prices")
    await hass.async_block_till_done()
    assert states(hass)[2] == 0.0
    assert controller.status is ControlStatus.SAFE_MODE


async def test_hold_safe_mode_of_a_script(hass: HomeAssistant, start: datetime) -> None:
    scripts = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)
    controller.config = replace(controller.config, safe_mode=SAFE_MODE_HOLD)
    await controller.apply_fallback(None, start, "prices: no prices")
    assert scripts[0].data["variables"] == {
        "mode": "idle",
        "power_kw": 0.0,
        "safe_mode": True,
        "curtail": False,
        "curtail_kwh": 0.0,
    }


async def test_the_fail_safe_waits_for_a_running_scenario(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    """The fail-safe's writes never interleave with a scenario's: it takes the same lock."""
    await set_up(hass, mock_config_entry)
    coordinator = mock_config_entry.runtime_data
    written: list[str] = []

    async def fallback(plan: object, now: datetime, reason: str) -> None:
        written.append(reason)

    coordinator.controller.apply_fallback = fallback
    async with coordinator.manager.exclusive():  # a scenario in progress
        task = hass.async_create_task(coordinator._async_fail_safe("prices: no prices"))
        for _ in range(5):
            await asyncio.sleep(0)
        assert written == []  # waits for the scenario to finish
    await task
    assert written == ["prices: no prices"]
