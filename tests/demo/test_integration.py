"""The demo home in Home Assistant: it obeys the inverter entities and keeps time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
import re
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, State
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.bess_demo.sim import spot_price

CONFIG_DIR = Path(__file__).parents[2] / "config"
ENTITY_ID = re.compile(r"\b(?:sensor|select|number|switch)\.[a-z0-9_]+")
TZ_NAME = "Europe/Stockholm"
# 01:00 local on a November night: no sun for hours.
START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


async def _in_malmo(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Place Home Assistant where the demo home is (its sun follows) and stop the clock."""
    await hass.config.async_set_time_zone(TZ_NAME)
    hass.config.latitude = 55.6
    hass.config.longitude = 13.0
    freezer.move_to(START)


@pytest.fixture
async def demo(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> HomeAssistant:
    """Set up the demo home (without a bess entry) at START."""
    await _in_malmo(hass, freezer)
    assert await async_setup_component(
        hass, "bess_demo", {"bess_demo": {"create_bess_entry": False}}
    )
    await hass.async_block_till_done()
    return hass


def _state(hass: HomeAssistant, entity_id: str) -> State:
    """Return an entity's state, which must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def _value(hass: HomeAssistant, entity_id: str) -> float:
    """Return an entity's state as a number."""
    return float(_state(hass, entity_id).state)


async def _move(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Move the clock and let the minute tick run."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _hours(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return today's hours from bess's daily-view sensor."""
    hours: list[dict[str, Any]] = _state(hass, "sensor.home_battery_daily_view").attributes["hours"]
    return hours


async def _until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    condition: Callable[[], bool],
    limit: timedelta = timedelta(minutes=90),
) -> None:
    """Move the clock a minute at a time until `condition` holds, failing after `limit`.

    bess's hourly trigger may land a little after the boundary in tests; this waits for it
    as a user would, instead of assuming the exact tick.
    """
    waited = timedelta()
    while not condition():
        assert waited < limit, f"still not true after {limit}"
        await _move(hass, freezer, timedelta(minutes=1))
        waited += timedelta(minutes=1)


async def test_an_hour_of_grid_charging_fills_the_battery_and_the_meters(
    demo: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass = demo
    assert _value(hass, "sensor.demo_battery_soc") == 50.0
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.demo_inverter_work_mode", "option": "Charge from grid"},
        blocking=True,
    )
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.demo_inverter_charge_power", "value": 2.0},
        blocking=True,
    )
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.demo_inverter_grid_charging"}, blocking=True
    )
    await _move(hass, freezer, timedelta(hours=1))

    # 50 % of 10 kWh plus 0.95 × 2 kWh.
    assert _value(hass, "sensor.demo_battery_soc") == pytest.approx(69.0, abs=0.01)
    assert _value(hass, "sensor.demo_battery_charge") == pytest.approx(2.0, abs=1e-3)
    assert _value(hass, "sensor.demo_solar_energy") == 0.0
    consumed = _value(hass, "sensor.demo_home_consumption")
    assert 0.2 < consumed < 2.0
    assert _value(hass, "sensor.demo_grid_import") == pytest.approx(consumed + 2.0, abs=1e-3)
    assert _value(hass, "sensor.demo_battery_power") == pytest.approx(2000.0, abs=0.5)


async def test_the_battery_runs_the_old_command_until_the_moment_it_changes(
    demo: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass = demo
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.demo_inverter_discharge_power", "value": 4.0},
        blocking=True,
    )
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.demo_inverter_work_mode", "option": "Export"},
        blocking=True,
    )
    # Half an hour of export at 4 kW, then idle for the rest of the hour.
    freezer.tick(timedelta(minutes=30))
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.demo_inverter_work_mode", "option": "Idle"},
        blocking=True,
    )
    await _move(hass, freezer, timedelta(minutes=30))
    assert _value(hass, "sensor.demo_battery_discharge") == pytest.approx(2.0, abs=1e-3)
    assert _value(hass, "sensor.demo_battery_soc") == pytest.approx(50.0 - 20.0 / 0.95, abs=0.01)


async def test_the_price_sensor_publishes_tomorrow_at_13(
    demo: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass = demo
    state = hass.states.get("sensor.demo_spot_price")
    assert state is not None
    assert float(state.state) == spot_price(date(2026, 11, 24), 1)
    assert len(state.attributes["raw_today"]) == 96  # quarter hours
    assert state.attributes["tomorrow_valid"] is False
    assert state.attributes["raw_tomorrow"] == []

    # From 01:00 to 12:59 local.
    await _move(hass, freezer, timedelta(hours=11, minutes=59))
    assert _state(hass, "sensor.demo_spot_price").attributes["tomorrow_valid"] is False
    await _move(hass, freezer, timedelta(minutes=1))
    state = _state(hass, "sensor.demo_spot_price")
    assert state.attributes["tomorrow_valid"] is True
    raw = state.attributes["raw_tomorrow"]
    assert len(raw) == 96
    assert raw[18 * 4 + 1]["value"] == spot_price(date(2026, 11, 25), 18, 15)
    assert raw[18 * 4 + 1]["end"] - raw[18 * 4 + 1]["start"] == timedelta(minutes=15)
    assert raw[0]["start"] == dt_util.as_local(datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    assert float(state.state) == spot_price(date(2026, 11, 24), 13)


async def test_the_solar_forecast_looks_like_solcast(demo: HomeAssistant) -> None:
    state = demo.states.get("sensor.demo_solar_forecast_tomorrow")
    assert state is not None
    hourly = state.attributes["detailedHourly"]
    half_hourly = state.attributes["detailedForecast"]
    assert len(hourly) == 24
    assert len(half_hourly) == 48
    assert hourly[0]["pv_estimate"] == 0.0
    assert float(state.state) == pytest.approx(sum(h["pv_estimate"] for h in hourly), abs=0.01)
    # Half-hourly values are mean kW: two halves average to the hour's kWh.
    noon = hourly[12]["pv_estimate"]
    halves = [h["pv_estimate"] for h in half_hourly[24:26]]
    assert sum(halves) / 2 == pytest.approx(noon, rel=0.02)


async def test_a_restart_replays_the_time_the_home_was_off(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hass_storage: dict[str, Any]
) -> None:
    await _in_malmo(hass, freezer)
    hass_storage["bess_demo"] = {
        "version": 1,
        "key": "bess_demo",
        "data": {
            "state": {
                "time": (START - timedelta(hours=2)).isoformat(),
                "stored_kwh": 6.0,
                "meters": {
                    "solar_kwh": 100.0,
                    "load_kwh": 200.0,
                    "grid_import_kwh": 150.0,
                    "grid_export_kwh": 40.0,
                    "battery_charge_kwh": 30.0,
                    "battery_discharge_kwh": 20.0,
                },
            },
            "command": {
                "work_mode": "Idle",
                "charge_power_kw": 0.0,
                "discharge_power_kw": 0.0,
                "grid_charging": False,
            },
        },
    }
    assert await async_setup_component(
        hass, "bess_demo", {"bess_demo": {"create_bess_entry": False}}
    )
    await hass.async_block_till_done()

    assert _value(hass, "sensor.demo_battery_soc") == pytest.approx(60.0)
    assert _state(hass, "select.demo_inverter_work_mode").state == "Idle"
    # Two idle night hours: what the home used came from the grid.
    used = _value(hass, "sensor.demo_home_consumption") - 200.0
    assert 0.4 < used < 4.0
    assert _value(hass, "sensor.demo_grid_import") - 150.0 == pytest.approx(used, abs=1e-3)


async def test_a_first_start_adds_bess_wired_to_the_demo(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await _in_malmo(hass, freezer)
    with patch("custom_components.bess.async_setup_entry", return_value=True):
        assert await async_setup_component(hass, "bess_demo", {"bess_demo": {}})
        await hass.async_block_till_done()

    entries = hass.config_entries.async_entries("bess")
    assert len(entries) == 1
    entry = entries[0]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.title == "Home battery"
    assert entry.data["soc_entity"] == "sensor.demo_battery_soc"
    assert entry.data["price_entity"] == "sensor.demo_spot_price"
    assert entry.data["solar_forecast_entity"] == "sensor.demo_solar_forecast_today"
    assert entry.options["control_mode"] == "entities"
    assert entry.options["work_mode_select"] == "select.demo_inverter_work_mode"
    assert entry.options["mode_option_grid_charging"] == "Charge from grid"
    assert entry.options["mode_option_idle"] == "Idle"
    assert entry.options["capacity_kwh"] == 10.0
    assert entry.options["price_vat_factor"] == 1.25

    # A second start leaves the user's entry alone.
    with patch("custom_components.bess.async_setup_entry", return_value=True):
        demo_entry = hass.config_entries.async_entries("bess_demo")[0]
        assert await hass.config_entries.async_reload(demo_entry.entry_id)
        await hass.async_block_till_done()
    assert len(hass.config_entries.async_entries("bess")) == 1


async def test_bess_plans_measures_and_drives_the_demo_home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The whole first start of scripts/develop: bess added, planning, measuring, controlling."""
    await _in_malmo(hass, freezer)
    assert await async_setup_component(hass, "bess_demo", {"bess_demo": {}})
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries("bess")[0]
    assert entry.state is ConfigEntryState.LOADED
    view = _state(hass, "sensor.home_battery_daily_view")
    assert len(view.attributes["hours"]) == 24
    assert view.attributes["predicted_hours"] >= 22

    # The hour in progress at the start is not measured; the next one is, from the meters.
    await _until(hass, freezer, lambda: _hours(hass)[1]["source"] == "actual")
    await _until(hass, freezer, lambda: _hours(hass)[2]["source"] == "actual")
    measured = _hours(hass)[2]
    balance = (
        measured["solar_kwh"]
        + measured["grid_import_kwh"]
        + measured["battery_discharge_kwh"]
        - measured["load_kwh"]
        - measured["grid_export_kwh"]
        - measured["battery_charge_kwh"]
    )
    assert balance == pytest.approx(0.0, abs=0.01)
    assert 0.1 < measured["load_kwh"] < 3.0
    # bess drives the demo inverter: its work mode is one bess maps an intent to.
    assert _state(hass, "select.demo_inverter_work_mode").state in {
        "Charge from grid",
        "Charge from solar",
        "Discharge",
        "Export",
        "Idle",
    }

    # Tomorrow's prices come at 13:00; bess plans tomorrow at 23:55, with the demo's sun.
    while dt_util.now().hour < 23:  # the frozen clock, moved below
        await _move(hass, freezer, timedelta(hours=1))
    assert _state(hass, "sensor.demo_spot_price").attributes["tomorrow_valid"] is True
    await _until(
        hass,
        freezer,
        lambda: _state(hass, "sensor.home_battery_tomorrow_plan_status").state == "planned",
        limit=timedelta(hours=1, minutes=30),
    )
    tomorrow = _state(hass, "sensor.home_battery_tomorrow_planned_savings").attributes["hours"]
    assert len(tomorrow) == 24
    assert sum(h["solar_kwh"] for h in tomorrow) > 1.0

    # The shipped dashboards show only entities that exist.
    for dashboard in sorted((CONFIG_DIR / "dashboards").glob("*.yaml")):
        for entity_id in set(ENTITY_ID.findall(dashboard.read_text())):
            assert hass.states.get(entity_id) is not None, f"{dashboard.name}: {entity_id}"


async def test_the_energy_dashboard_shows_the_demo_meters_unless_already_set(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    from homeassistant.components.energy.data import async_get_manager

    await _in_malmo(hass, freezer)
    assert await async_setup_component(hass, "energy", {})
    assert await async_setup_component(
        hass, "bess_demo", {"bess_demo": {"create_bess_entry": False}}
    )
    await hass.async_block_till_done()
    manager = await async_get_manager(hass)
    assert manager.data is not None
    sources: dict[str, Any] = {
        source["type"]: dict(source) for source in manager.data["energy_sources"]
    }
    assert sources["battery"]["stat_energy_to"] == "sensor.demo_battery_charge"
    assert sources["grid"]["flow_from"][0]["stat_energy_from"] == "sensor.demo_grid_import"

    # A user's own choice survives the next start.
    await manager.async_update({"energy_sources": [sources["solar"]], "device_consumption": []})
    entry = hass.config_entries.async_entries("bess_demo")[0]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert [source["type"] for source in manager.data["energy_sources"]] == ["solar"]


async def test_the_meters_are_read_within_a_second_of_the_hour(
    demo: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass = demo
    await _move(hass, freezer, timedelta(minutes=59))  # 01:59:00 local: a minute tick
    at_59 = _value(hass, "sensor.demo_home_consumption")
    await _move(hass, freezer, timedelta(seconds=30))  # no tick mid-minute
    assert _value(hass, "sensor.demo_home_consumption") == at_59
    await _move(hass, freezer, timedelta(seconds=29))  # 01:59:59: the hour-end tick
    power_kw = _value(hass, "sensor.demo_home_power") / 1000
    assert _value(hass, "sensor.demo_home_consumption") == pytest.approx(
        at_59 + power_kw * 59 / 3600, abs=2e-4
    )
