"""Diagnostics, and what happens when the stored data cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.bess.const import CONF_GROWATT_DEVICE_ID, DOMAIN
from custom_components.bess.diagnostics import async_get_config_entry_diagnostics

from .conftest import Home

pytestmark = pytest.mark.freeze_time("2026-11-24 10:30:00+01:00")


async def test_diagnostics(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    data = await async_get_config_entry_diagnostics(hass, init_integration)
    assert data["entry"]["data"]["soc_entity"] == "sensor.battery_soc"
    assert [s["created_for_scenario"] for s in data["schedules_today"]] == ["restart"]
    assert data["history_today"] == []
    assert data["sources"]["price_entity"] == "sensor.nordpool"
    assert data["sources"]["solar_forecast_available"] is False
    assert len(data["daily_view"]["hours"]) == 24
    assert data["control"]["mode"] == "monitor"
    assert data["last_update_success"] is True


async def test_diagnostics_redact_the_growatt_device(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, CONF_GROWATT_DEVICE_ID: "abc"}
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    data = await async_get_config_entry_diagnostics(hass, mock_config_entry)
    assert data["entry"]["options"][CONF_GROWATT_DEVICE_ID] == "**REDACTED**"


async def test_unreadable_store_is_kept_aside_and_reported(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
    tmp_path: Path,
) -> None:
    hass.config.config_dir = str(tmp_path)
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {"version": 1, "history": {"events": [{"hour": "garbage"}]}, "schedules": {}},
    }
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    # The entry starts clean and plans; the user is told where the old data went.
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert mock_config_entry.runtime_data.manager.latest_result is not None
    issue = issue_registry.async_get_issue(DOMAIN, f"store_invalid_{mock_config_entry.entry_id}")
    assert issue is not None
    kept = issue.translation_placeholders["path"]
    assert ".invalid." in kept
    assert kept.startswith(str(tmp_path))
    assert "garbage" in Path(kept).read_text(encoding="utf-8")


async def test_an_older_store_layout_goes_through_the_migration(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    hass_storage[key] = {
        "version": 1,
        "minor_version": 0,
        "key": key,
        "data": {
            "version": 1,
            "history": {"version": 1, "events": []},
            "schedules": {"version": 1, "schedules": []},
        },
    }
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, f"store_invalid_{mock_config_entry.entry_id}") is None
    # Saved again in the current layout.
    assert hass_storage[key]["minor_version"] == 1


async def test_a_store_from_a_newer_bess_is_not_misread(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    hass_storage[key] = {"version": 2, "minor_version": 1, "key": key, "data": {"future": True}}
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert hass_storage[key]["data"] == {"future": True}  # left as it was
