"""Holding the capacity tariff's import cap: entity mode through the plan, scripts by variable."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.bess.const import (
    CONF_CONTROL_MODE,
    CONF_CONTROL_SCRIPT,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_FALLBACK_CONSUMPTION_KWH,
    CONF_MODE_OPTION_PREFIX,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_SCRIPT,
)
from custom_components.bess.engine.models import Intent
from custom_components.bess.ha.controller import ControlStatus

from .conftest import Home, local, plan_of, script_controller, set_up
from .test_capacity_sensors import capacity_entry, november, store

STATUS = "sensor.home_battery_control_status"
DISCHARGE = "number.inverter_discharge_power"


@pytest.fixture
def start(hass: HomeAssistant) -> datetime:
    return dt_util.start_of_local_day() + timedelta(hours=10)


# --- the controller ----------------------------------------------------------------------


async def test_a_script_gets_the_import_cap_of_the_period_now(
    hass: HomeAssistant, start: datetime
) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)
    # The plan holds 2 kW in its first two hours; the third does not count.
    caps = {start: 2.0, start + timedelta(hours=1): 2.0}
    controller.import_cap = lambda moment: caps.get(moment.replace(minute=0))
    plan = plan_of(start, [0, 0, 0], [1, 1, 1])  # one action all three hours

    await controller.apply(plan, start)

    assert calls[0].data["variables"] == {
        "mode": "load_support",
        "power_kw": -1.0,
        "start": start.isoformat(),
        # The stretch ends where the cap does: a stretch has one cap.
        "end": (start + timedelta(hours=2)).isoformat(),
        "safe_mode": False,
        "curtail": False,
        "curtail_kwh": 0.0,
        "import_cap_kw": 2.0,
    }
    assert controller.import_cap_kw == 2.0

    # The next hour holds the same: the script does not run again.
    await controller.apply(plan, start + timedelta(hours=1))
    assert len(calls) == 1
    # No cap applies in the third hour: that is a change, and the script says so.
    await controller.apply(plan, start + timedelta(hours=2))
    assert len(calls) == 2
    assert calls[1].data["variables"]["import_cap_kw"] is None
    assert calls[1].data["variables"]["start"] == (start + timedelta(hours=2)).isoformat()
    assert controller.import_cap_kw is None


async def test_a_new_cap_runs_the_script_again(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)
    cap = 2.0
    controller.import_cap = lambda moment: cap
    plan = plan_of(start, [0, 0], [1, 1])

    await controller.apply(plan, start)
    await controller.apply(plan, start + timedelta(minutes=5))  # a re-plan, same cap
    assert len(calls) == 1
    cap = 2.5  # a re-plan after a higher peak was recorded
    await controller.apply(plan, start + timedelta(minutes=10))

    assert len(calls) == 2
    assert calls[1].data["variables"]["import_cap_kw"] == 2.5


async def test_without_a_tariff_the_script_variables_are_as_they_were(
    hass: HomeAssistant, start: datetime
) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)

    await controller.apply(plan_of(start, [0], [1]), start)
    await controller.apply_fallback(None, start + timedelta(hours=2), "prices: no prices")

    assert all("import_cap_kw" not in call.data["variables"] for call in calls)
    assert controller.import_cap_kw is None


async def test_safe_mode_holds_no_cap_and_says_so(hass: HomeAssistant, start: datetime) -> None:
    calls = async_mock_service(hass, "script", "turn_on")
    controller = script_controller(hass)
    controller.import_cap = lambda moment: 3.0
    await controller.apply(plan_of(start, [0], [1]), start)
    assert controller.import_cap_kw == 3.0

    await controller.apply_fallback(None, start + timedelta(hours=2), "prices: no prices")

    assert controller.status is ControlStatus.SAFE_MODE
    assert calls[-1].data["variables"]["safe_mode"] is True
    assert calls[-1].data["variables"]["import_cap_kw"] is None
    assert controller.import_cap_kw is None

    # Following the last plan while it covers now, its cap holds.
    await controller.apply_fallback(plan_of(start, [0], [1]), start, "prices: no prices")
    assert controller.status is ControlStatus.FOLLOWING_LAST_PLAN
    assert calls[-1].data["variables"]["import_cap_kw"] == 3.0
    assert controller.import_cap_kw == 3.0


# --- through the integration -------------------------------------------------------------


def controlled(options: dict[str, Any]) -> MockConfigEntry:
    """The test battery under Ellevio's rules with 3 kW of load, controlled by `options`."""
    return capacity_entry(**{CONF_FALLBACK_CONSUMPTION_KWH: 3.0}, **options)


async def start_mid_month(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
    entry: MockConfigEntry,
) -> None:
    """Set up at 10:30 on the 24th with the month's three highest peaks at 3.0, 2.0, 2.0 kW."""
    freezer.move_to(local(2026, 11, 24, 10, 30))
    home.set_prices(date(2026, 11, 24))
    store(hass_storage, entry, [e for day in (20, 21, 22, 23) for e in november(day)])
    await set_up(hass, entry)


async def test_entity_mode_sets_the_discharge_that_keeps_import_at_the_cap(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    hass.states.async_set(
        DISCHARGE, "0", {"unit_of_measurement": "kW", "min": 0, "max": 5, "step": 0.01}
    )
    numbers = async_mock_service(hass, "number", "set_value")
    async_mock_service(hass, "select", "select_option")
    entry = controlled(
        {
            CONF_CONTROL_MODE: CONTROL_ENTITIES,
            CONF_WORK_MODE_SELECT: "select.inverter_mode",
            CONF_DISCHARGE_POWER_NUMBER: DISCHARGE,
            **{f"{CONF_MODE_OPTION_PREFIX}{i.value}": i.value.upper() for i in Intent},
        }
    )
    await start_mid_month(hass, freezer, home, hass_storage, entry)
    manager = entry.runtime_data.manager
    now = local(2026, 11, 24, 10, 30)  # where start_mid_month left the clock
    plan = manager.latest_result
    period = plan.periods[plan.index_at(now)]
    cap = manager.import_cap_kw(now)
    assert cap is not None

    # 3 kW of load against a cap of at most 3 kW: the plan discharges to hold it, and the
    # discharge power bess sets is the plan's, so the forecast import is at the cap.
    assert period.discharge_kwh > 0.0
    assert period.grid_import_kwh <= cap + 1e-6
    assert period.load_kwh - period.discharge_kwh == pytest.approx(period.grid_import_kwh)
    assert numbers[-1].data == {"entity_id": DISCHARGE, "value": round(period.discharge_kwh, 2)}
    attributes = hass.states.get(STATUS).attributes
    assert attributes["import_cap_kw"] == pytest.approx(cap, abs=1e-3)
    assert attributes["import_cap_active"] is True


async def test_a_script_holds_the_cap_the_plan_holds_now(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    scripts = async_mock_service(hass, "script", "turn_on")
    entry = controlled({CONF_CONTROL_MODE: CONTROL_SCRIPT, CONF_CONTROL_SCRIPT: "script.battery"})
    await start_mid_month(hass, freezer, home, hass_storage, entry)
    manager = entry.runtime_data.manager
    cap = manager.import_cap_kw(local(2026, 11, 24, 10, 30))
    assert cap is not None
    assert scripts[-1].data["variables"]["import_cap_kw"] == pytest.approx(cap, abs=1e-3)
    assert hass.states.get(STATUS).attributes["import_cap_kw"] == pytest.approx(cap, abs=1e-3)

    # At 22:00 the night's half weight lets the plan import twice the cap.
    for hour in range(11, 23):
        home.advance(grid_import=2.0, discharge=0.1)
        freezer.move_to(local(2026, 11, 24, hour))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    outlook = manager.capacity_outlook()
    assert outlook is not None
    assert outlook.cap_kw is not None
    night = manager.import_cap_kw(local(2026, 11, 24, 22))
    assert night == pytest.approx(2 * outlook.cap_kw)
    assert hass.states.get(STATUS).attributes["import_cap_kw"] == pytest.approx(night, abs=1e-3)
