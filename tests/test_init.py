"""Set-up, unload, reload and persistence of a bess entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.bess.const import DOMAIN
from custom_components.bess.ha.storage import SAVE_DELAY_SECONDS

from .conftest import Home

pytestmark = pytest.mark.freeze_time("2026-11-24 10:30:00+01:00")


async def test_setup_plans_the_rest_of_today_and_tomorrow(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    manager = entry.runtime_data.manager
    latest = manager.latest_result
    assert latest is not None
    # A restart at 10:30 re-plans from the hour in progress to the end of tomorrow, whose
    # prices the home publishes.
    assert len(latest.periods) == 14 + 24
    assert latest.start.hour == 10
    assert manager.schedules.get_latest_schedule().created_for_scenario == "restart"
    assert hass.states.get("sensor.home_battery_total_savings_today") is not None


async def test_unload_and_reload(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    entry = init_integration
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # The schedule made at the first set-up survived the unload through the Store.
    scenarios = [
        s.created_for_scenario
        for s in entry.runtime_data.manager.schedules.get_all_schedules_today()
    ]
    assert scenarios == ["restart", "restart"]


async def test_services_are_registered_once(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert set(hass.services.async_services_for_domain(DOMAIN)) == {
        "create_tomorrows_schedule",
        "update_schedule",
        "reconstruct",
        "get_daily_view",
        "get_schedules",
    }


async def test_remove_entry_deletes_its_store(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    key = f"{DOMAIN}.{init_integration.entry_id}"
    freezer.tick(timedelta(seconds=SAVE_DELAY_SECONDS))  # the set-up's plan is written
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert key in hass_storage
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_setup_without_soc_makes_entities_unavailable(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    home.set_soc("unavailable")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"


async def test_setup_during_start_plans_once_home_assistant_has_started(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    hass.set_state(CoreState.starting)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    manager = mock_config_entry.runtime_data.manager
    # The sensors bess reads may not exist yet while Home Assistant starts.
    assert manager.latest_result is None

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert manager.latest_result is not None
    assert hass.states.get("sensor.home_battery_total_savings_today").state != "unavailable"


async def test_no_solar_forecast_is_said_in_the_ui(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # The test home has no solar forecast configured: bess plans with zero solar and says so.
    state = hass.states.get("sensor.home_battery_solar_forecast")
    assert state.state == "missing"
    assert "no solar forecast" in state.attributes["message"]
    latest = init_integration.runtime_data.manager.latest_result
    assert all(period.solar_kwh == 0 for period in latest.periods)
