"""Curtailing at a negative export price, carried out on real input helpers and by a script.

Where exporting costs money, an export-limit number is set to what the plan exports there
(nearly always 0), and to its maximum elsewhere; a curtail switch is on where the plan exports
nothing at a loss. A hand change shows as `overridden`; the safe mode allows export again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.bess.const import (
    CONF_CONTROL_MODE,
    CONF_CONTROL_SCRIPT,
    CONF_CURTAIL_ENTITY,
    CONF_CURTAILMENT,
    CONF_EXPORT_COMPENSATION,
    CONF_GRID_CHARGE_SWITCH,
    CONF_MODE_OPTION_PREFIX,
    CONF_PRICE_ENTITY,
    CONF_SOC_ENTITY,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
    CONTROL_SCRIPT,
    DOMAIN,
)
from custom_components.bess.coordinator import battery_settings
from custom_components.bess.engine.models import (
    BatterySettings,
    Intent,
    OptimizationInput,
    OptimizationResult,
)
from custom_components.bess.engine.optimizer import build_result
from custom_components.bess.ha.controller import (
    ControlConfig,
    ControlStatus,
    HomeAssistantController,
)

from .conftest import METERS, PRICE, SOC, Home, entry_options, local, set_up

MODE = "input_select.inverter_mode"
GRID = "input_boolean.grid_charging"
EXPORT_LIMIT = "input_number.export_limit"  # in W, up to 8 kW
CURTAIL = "input_boolean.curtail_solar"
ENTITIES = {
    CONF_CONTROL_MODE: CONTROL_ENTITIES,
    CONF_WORK_MODE_SELECT: MODE,
    **{f"{CONF_MODE_OPTION_PREFIX}{intent.value}": intent.value for intent in Intent},
    CONF_GRID_CHARGE_SWITCH: GRID,
    CONF_CURTAIL_ENTITY: EXPORT_LIMIT,
    CONF_CURTAILMENT: True,
}


@pytest.fixture
def start(hass: HomeAssistant) -> datetime:
    return dt_util.start_of_local_day() + timedelta(hours=10)


@pytest.fixture
async def inverter(hass: HomeAssistant) -> None:
    """An inverter wired through input helpers; export is open at 8 kW, nothing curtailed."""
    assert await async_setup_component(
        hass, "input_select", {"input_select": {"inverter_mode": {"options": list(Intent)}}}
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "export_limit": {
                    "min": 0,
                    "max": 8000,
                    "step": 100,
                    "initial": 8000,
                    "unit_of_measurement": "W",
                }
            }
        },
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"grid_charging": {}, "curtail_solar": {}}}
    )
    await hass.async_block_till_done()


def sunny_plan(start: datetime) -> OptimizationResult:
    """Three hours of a plan that may curtail.

    10:00 sell −0.2, 5 kWh sun, 1 kWh load: the 4 kWh surplus is curtailed.
    11:00 sell 0.3, the same sun: the surplus is sold.
    12:00 sell −0.2, the battery gives 2 kWh to a 1 kWh load: that 1 kWh must be exported,
          the 0.5 kWh of sun is curtailed.
    """
    inputs = OptimizationInput(
        start=start,
        period_minutes=60,
        buy=(0.4, 0.9, 0.4),
        sell=(-0.2, 0.3, -0.2),
        load=(1.0, 1.0, 1.0),
        solar=(5.0, 5.0, 0.5),
        battery=BatterySettings(
            capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5, curtailment=True
        ),
        initial_soc_percent=50,
    )
    return build_result(inputs, np.zeros(3), np.array([0.0, 0.0, 2.0]))


def controller_of(hass: HomeAssistant, options: dict[str, Any]) -> HomeAssistantController:
    """A controller of the entry options `options`."""
    return HomeAssistantController(hass, "entry", ControlConfig.from_options(options))


def export_limit(hass: HomeAssistant) -> float:
    """The export limit the inverter has now (W)."""
    return float(hass.states.get(EXPORT_LIMIT).state)


@pytest.mark.usefixtures("inverter")
async def test_the_export_limit_closes_only_where_the_plan_curtails(
    hass: HomeAssistant, start: datetime
) -> None:
    controller = controller_of(hass, ENTITIES)
    plan = sunny_plan(start)
    assert [p.curtailed_kwh for p in plan.periods] == [4.0, 0.0, 0.5]
    assert [p.grid_export_kwh for p in plan.periods] == [0.0, 4.0, 1.0]

    seen = []
    for hour in range(3):
        await controller.apply(plan, start + timedelta(hours=hour))
        await hass.async_block_till_done()
        seen.append(export_limit(hass))

    # 12:00 costs money to export too, but the battery's discharge must go somewhere.
    assert seen == [0.0, 8000.0, 1000.0]
    assert controller.status is ControlStatus.CONTROLLING
    assert EXPORT_LIMIT in controller.controlled_entities


@pytest.mark.usefixtures("inverter")
async def test_a_hand_changed_export_limit_is_overridden_until_set_again(
    hass: HomeAssistant, start: datetime
) -> None:
    controller = controller_of(hass, ENTITIES)
    plan = sunny_plan(start)
    await controller.apply(plan, start)
    assert export_limit(hass) == 0.0

    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": EXPORT_LIMIT, "value": 3000}, blocking=True
    )
    controller.async_entity_changed(EXPORT_LIMIT)
    assert controller.status is ControlStatus.OVERRIDDEN
    assert controller.overridden_entity == EXPORT_LIMIT

    # Set back by hand to what bess set: the status of before.
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": EXPORT_LIMIT, "value": 0}, blocking=True
    )
    controller.async_entity_changed(EXPORT_LIMIT)
    assert controller.status is ControlStatus.CONTROLLING


@pytest.mark.usefixtures("inverter")
async def test_a_curtail_switch_is_on_only_while_curtailing_and_off_in_safe_mode(
    hass: HomeAssistant, start: datetime
) -> None:
    controller = controller_of(hass, {**ENTITIES, CONF_CURTAIL_ENTITY: CURTAIL})
    plan = sunny_plan(start)
    await controller.apply(plan, start)
    await hass.async_block_till_done()
    assert hass.states.get(CURTAIL).state == "on"

    await controller.apply_fallback(None, start + timedelta(hours=1), "prices: no prices")
    await hass.async_block_till_done()
    assert controller.status is ControlStatus.SAFE_MODE
    assert hass.states.get(CURTAIL).state == "off"  # export allowed again

    # In safe mode too, curtailing by hand is a change bess undoes.
    await hass.services.async_call("input_boolean", "turn_on", {"entity_id": CURTAIL})
    await hass.async_block_till_done()
    controller.async_entity_changed(CURTAIL)
    assert controller.status is ControlStatus.OVERRIDDEN


@pytest.mark.usefixtures("inverter")
async def test_the_safe_mode_opens_the_export_limit(hass: HomeAssistant, start: datetime) -> None:
    controller = controller_of(hass, ENTITIES)
    await controller.apply(sunny_plan(start), start)
    assert export_limit(hass) == 0.0

    await controller.apply_fallback(None, start + timedelta(hours=1), "prices: no prices")
    await hass.async_block_till_done()

    assert export_limit(hass) == 8000.0
    assert controller.status is ControlStatus.SAFE_MODE


@pytest.mark.usefixtures("inverter")
async def test_without_the_option_the_export_limit_stays_open(
    hass: HomeAssistant, start: datetime
) -> None:
    # Left low by somebody: bess opens it, since the plan may not curtail.
    hass.states.async_set(EXPORT_LIMIT, "2000", hass.states.get(EXPORT_LIMIT).attributes)
    controller = controller_of(hass, {**ENTITIES, CONF_CURTAILMENT: False})

    await controller.apply(sunny_plan(start), start)
    await hass.async_block_till_done()

    assert export_limit(hass) == 8000.0


async def test_a_script_is_told_when_to_curtail(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = controller_of(
        hass,
        {
            CONF_CONTROL_MODE: CONTROL_SCRIPT,
            CONF_CONTROL_SCRIPT: "script.battery",
            CONF_CURTAILMENT: True,
        },
    )
    plan = sunny_plan(start)

    await controller.apply(plan, start)
    await controller.apply(plan, start + timedelta(hours=1))
    await controller.apply_fallback(None, start + timedelta(hours=3), "prices: no prices")

    variables = [call.data["variables"] for call in calls]
    # 10:00 and 11:00 are both idle at 0 kW, yet only 10:00 curtails: two stretches.
    assert [(v["mode"], v["curtail"], v["curtail_kwh"]) for v in variables[:2]] == [
        ("idle", True, 4.0),
        ("idle", False, 0.0),
    ]
    assert variables[0]["end"] == (start + timedelta(hours=1)).isoformat()
    assert variables[2] == {
        "mode": "load_support",
        "power_kw": 0.0,
        "safe_mode": True,
        "curtail": False,
        "curtail_kwh": 0.0,
    }


async def test_bess_closes_the_export_limit_on_a_day_when_export_costs_money(
    hass: HomeAssistant, home: Home, freezer: FrozenDateTimeFactory
) -> None:
    """Set up for real: a fee on every kWh sold makes the sell price negative all day."""
    assert await async_setup_component(
        hass,
        "input_number",
        {"input_number": {"export_limit": {"min": 0, "max": 10, "step": 0.1, "initial": 10}}},
    )
    options = entry_options(
        **{
            CONF_CONTROL_MODE: CONTROL_ENTITIES,
            CONF_CURTAIL_ENTITY: EXPORT_LIMIT,
            CONF_CURTAILMENT: True,
            CONF_EXPORT_COMPENSATION: -2.5,
        }
    )
    assert battery_settings(options).curtailment is True
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home battery",
        unique_id=SOC,
        data={CONF_SOC_ENTITY: SOC, CONF_PRICE_ENTITY: PRICE, **METERS},
        options=options,
    )

    await set_up(hass, entry)

    coordinator = entry.runtime_data
    assert coordinator.controller.status is ControlStatus.CONTROLLING
    assert float(hass.states.get(EXPORT_LIMIT).state) == 0.0
    # Opened by hand: the coordinator sees it at once and reports the override.
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": EXPORT_LIMIT, "value": 10}, blocking=True
    )
    await hass.async_block_till_done()
    assert coordinator.controller.status is ControlStatus.OVERRIDDEN
    # The next period closes it again.
    home.advance(grid_import=0.0, discharge=0.5)
    freezer.move_to(local(2026, 11, 24, 11))  # the frozen 10:30 (conftest), to the next hour
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(hass.states.get(EXPORT_LIMIT).state) == 0.0
    assert coordinator.controller.status is ControlStatus.CONTROLLING


@pytest.mark.parametrize(
    ("options", "plans_curtailing"),
    [
        ({**ENTITIES}, True),
        ({**ENTITIES, CONF_CURTAIL_ENTITY: None}, False),  # nothing to carry it out with
        ({CONF_CONTROL_MODE: CONTROL_GROWATT, CONF_CURTAILMENT: True}, False),
        ({CONF_CONTROL_MODE: CONTROL_SCRIPT, CONF_CURTAILMENT: True}, True),
        ({CONF_CURTAILMENT: True}, True),  # monitor only: the user acts on the plan
        ({CONF_CONTROL_MODE: CONTROL_SCRIPT}, False),  # not turned on
    ],
)
def test_the_plan_curtails_only_where_the_control_can(
    options: dict[str, Any], plans_curtailing: bool
) -> None:
    """A plan that curtails where the inverter cannot would promise savings never made."""
    assert battery_settings(entry_options(**options)).curtailment is plans_curtailing
    assert ControlConfig.from_options(entry_options(**options)).curtailment is plans_curtailing
