"""The controller against real entities: Home Assistant's input helpers change state when set.

bess compares with the entity's real state, not with what it last wrote; a setting changed by
hand shows as `overridden` until the next command sets it again. When no plan can be made it
follows the plan in force, else the inverter's safe mode.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.bess.const import (
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONTROL_MODE,
    CONF_GRID_CHARGE_SWITCH,
    CONF_GROWATT_DEVICE_ID,
    CONF_MODE_OPTION_PREFIX,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
)
from custom_components.bess.engine.models import Intent
from custom_components.bess.ha.controller import (
    ControlConfig,
    ControlStatus,
    HomeAssistantController,
)

from .conftest import plan_of, script_controller

MODE = "input_select.inverter_mode"
POWER = "input_number.charge_power"
GRID = "input_boolean.grid_charging"
HELPER_OPTIONS = {
    CONF_CONTROL_MODE: CONTROL_ENTITIES,
    CONF_WORK_MODE_SELECT: MODE,
    **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": intent.value for intent in Intent},
    CONF_CHARGE_POWER_NUMBER: POWER,
    CONF_GRID_CHARGE_SWITCH: GRID,
}


@pytest.fixture
def start(hass: HomeAssistant) -> datetime:
    return dt_util.start_of_local_day() + timedelta(hours=10)


@pytest.fixture
async def helpers(hass: HomeAssistant) -> None:
    """An inverter wired through input helpers, as Modbus set-ups often are."""
    assert await async_setup_component(
        hass,
        "input_select",
        # The inverter starts in solar storage (the first option).
        {"input_select": {"inverter_mode": {"options": sorted(i.value for i in Intent)[::-1]}}},
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "charge_power": {"min": 0, "max": 5000, "step": 100, "unit_of_measurement": "W"}
            }
        },
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"grid_charging": {}}}
    )
    await hass.async_block_till_done()


def _count_calls(hass: HomeAssistant) -> list[str]:
    """Record every service call of the helper domains."""
    seen: list[str] = []

    def _listener(event: object) -> None:
        data = event.data  # type: ignore[attr-defined]
        if data["domain"] in ("input_select", "input_number", "input_boolean"):
            seen.append(f"{data['domain']}.{data['service']}")

    hass.bus.async_listen("call_service", _listener)
    return seen


async def test_input_helpers_are_driven_with_their_own_services(
    hass: HomeAssistant, helpers: None, start: datetime
) -> None:
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(HELPER_OPTIONS))
    calls = _count_calls(hass)
    # 4.275 kWh charged with a 1 kWh load: 4275 W on a 100 W step is written as 4300 W.
    plan = plan_of(start, [4.275, 0], [0, 0])
    await controller.apply(plan, start)
    await hass.async_block_till_done()

    assert hass.states.get(MODE).state == "grid_charging"
    assert float(hass.states.get(POWER).state) == 4300.0
    assert hass.states.get(GRID).state == "on"
    assert sorted(calls) == [
        "input_boolean.turn_on",
        "input_number.set_value",
        "input_select.select_option",
    ]
    assert controller.status is ControlStatus.CONTROLLING

    # The same plan again: every entity already shows it, nothing is written.
    await controller.apply(plan, start + timedelta(minutes=30))
    await hass.async_block_till_done()
    assert len(calls) == 3


async def test_a_setting_changed_by_hand_is_overridden_until_set_again(
    hass: HomeAssistant, helpers: None, start: datetime
) -> None:
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(HELPER_OPTIONS))
    plan = plan_of(start, [4, 4], [0, 0])
    await controller.apply(plan, start)
    await hass.async_block_till_done()

    # The user switches the inverter by hand; bess's last write is still "grid_charging".
    await hass.services.async_call(
        "input_select", "select_option", {"entity_id": MODE, "option": "idle"}, blocking=True
    )
    controller.async_entity_changed(MODE)
    assert controller.status is ControlStatus.OVERRIDDEN
    assert controller.overridden_entity == MODE
    assert "idle" in (controller.last_error or "")

    # The next period re-asserts the plan: the entity shows it again, the status follows.
    await controller.apply(plan, start + timedelta(hours=1))
    await hass.async_block_till_done()
    assert hass.states.get(MODE).state == "grid_charging"
    assert controller.status is ControlStatus.CONTROLLING
    assert controller.overridden_entity is None


async def test_tomorrows_plan_at_2355_leaves_an_error_an_error(
    hass: HomeAssistant, start: datetime
) -> None:
    async def _reject(call: ServiceCall) -> None:
        raise ValueError("inverter offline")

    hass.services.async_register("input_select", "select_option", _reject)
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(HELPER_OPTIONS))
    await controller.apply(plan_of(start, [0], [0]), start)
    assert controller.status is ControlStatus.ERROR
    tomorrow = plan_of(start + timedelta(days=1), [0], [0])
    await controller.apply(tomorrow, start + timedelta(minutes=30))
    assert controller.status is ControlStatus.ERROR


async def test_a_script_runs_again_only_when_the_action_changes(
    hass: HomeAssistant, start: datetime
) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)
    await controller.apply(plan_of(start, [0, 0, 0], [1, 1, 0]), start)
    # An hour later a re-plan starts at the hour in progress: same action, new start.
    replan = plan_of(start + timedelta(hours=1), [0, 0], [1, 0])
    await controller.apply(replan, start + timedelta(hours=1))
    assert len(calls) == 1
    await controller.apply(replan, start + timedelta(hours=2))  # idle now: a new action
    assert len(calls) == 2
    assert calls[1].data["variables"]["mode"] == "idle"


async def test_with_no_new_plan_the_plan_in_force_is_followed(
    hass: HomeAssistant, helpers: None, start: datetime
) -> None:
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(HELPER_OPTIONS))
    plan = plan_of(start, [4, 0], [0, 1])
    await controller.apply(plan, start)
    await controller.apply_fallback(plan, start + timedelta(hours=1), "sensor.soc: SOC is 'nan'")
    await hass.async_block_till_done()
    # The plan's next period (load support) is applied: not the 10:00 grid charging.
    assert hass.states.get(MODE).state == "load_support"
    assert hass.states.get(GRID).state == "off"
    assert controller.status is ControlStatus.FOLLOWING_LAST_PLAN
    assert controller.last_error == "sensor.soc: SOC is 'nan'"


async def test_with_no_plan_for_now_the_inverter_goes_to_its_safe_mode(
    hass: HomeAssistant, helpers: None, start: datetime
) -> None:
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(HELPER_OPTIONS))
    plan = plan_of(start, [4], [0])
    await controller.apply(plan, start)
    assert hass.states.get(GRID).state == "on"
    await controller.apply_fallback(plan, start + timedelta(hours=1), "prices: no prices")
    await hass.async_block_till_done()
    assert hass.states.get(MODE).state == "load_support"  # self-consumption
    assert hass.states.get(GRID).state == "off"  # no more grid charging
    assert controller.status is ControlStatus.SAFE_MODE


async def test_safe_mode_of_a_script_and_of_growatt(hass: HomeAssistant, start: datetime) -> None:
    scripts = async_mock_service(hass, "script", "turn_on")
    script = script_controller(hass)
    await script.apply_fallback(None, start, "prices: no prices")
    assert scripts[0].data["variables"] == {
        "mode": "load_support",
        "power_kw": 0.0,
        "safe_mode": True,
        "curtail": False,
        "curtail_kwh": 0.0,
    }

    segments = async_mock_service(hass, "growatt_server", "update_time_segment")
    growatt = HomeAssistantController(
        hass,
        "entry",
        ControlConfig.from_options(
            {CONF_CONTROL_MODE: CONTROL_GROWATT, CONF_GROWATT_DEVICE_ID: "abc"}
        ),
    )
    await growatt.apply_fallback(None, start, "prices: no prices")
    assert [c.data["enabled"] for c in segments] == [False] * 9
    assert growatt.status is ControlStatus.SAFE_MODE


async def test_a_hand_change_undone_in_safe_mode_returns_to_safe_mode(
    hass: HomeAssistant, helpers: None, start: datetime
) -> None:
    controller = HomeAssistantController(hass, "entry", ControlConfig.from_options(HELPER_OPTIONS))
    await controller.apply_fallback(None, start, "prices: no prices")
    assert controller.status is ControlStatus.SAFE_MODE

    # Safe mode leaves the power numbers alone: changing one is no override.
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": POWER, "value": 2000}, blocking=True
    )
    controller.async_entity_changed(POWER)
    assert controller.status is ControlStatus.SAFE_MODE

    for option, status in (
        ("grid_charging", ControlStatus.OVERRIDDEN),
        ("load_support", ControlStatus.SAFE_MODE),
    ):
        await hass.services.async_call(
            "input_select", "select_option", {"entity_id": MODE, "option": option}, blocking=True
        )
        controller.async_entity_changed(MODE)
        assert controller.status is status
    assert controller.last_error == "prices: no prices"
