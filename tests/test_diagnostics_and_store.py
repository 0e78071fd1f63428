"""Diagnostics, and what happens when the stored data cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir, storage
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.bess.const import CONF_GROWATT_DEVICE_ID, DOMAIN
from custom_components.bess.diagnostics import async_get_config_entry_diagnostics
from custom_components.bess.ha.storage import SAVE_DELAY_SECONDS

from .conftest import Home, local

# Taken before the test plugin replaces them with its in-memory store.
_REAL_STORE_LOAD = storage.Store._async_load
_REAL_STORE_WRITE = storage.Store._async_write_data

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


# What a user's disk can hold where bess expects its store, and what bess must not lose.
UNREADABLE_STORES = {
    "written by a newer bess": {
        "version": 2,
        "minor_version": 1,
        "key": "KEY",
        "data": {"version": 2, "periods": {"future": True}},
    },
    "not valid JSON": b'{"version": 1, "minor_version": 1, "key": "KEY", "data": {"hist',
    "data not an object": {"version": 1, "minor_version": 1, "key": "KEY", "data": [1, 2]},
    "a meter snapshot that is a list": {
        "version": 1,
        "minor_version": 1,
        "key": "KEY",
        "data": {
            "version": 1,
            "history": {"version": 1, "events": []},
            "schedules": {"version": 1, "schedules": []},
            "meter_snapshot": [1, 2],
        },
    },
    "events of the wrong shape": {
        "version": 1,
        "minor_version": 1,
        "key": "KEY",
        "data": {"version": 1, "history": {"events": [{"hour": "garbage"}]}, "schedules": {}},
    },
}


@pytest.fixture
def real_storage(hass: HomeAssistant, tmp_path: Path) -> Iterator[Path]:
    """Home Assistant's Store on a real disk, not the test plugin's dictionary."""
    hass.config.config_dir = str(tmp_path)
    with (
        patch.object(storage.Store, "_async_load", _REAL_STORE_LOAD),
        patch.object(storage.Store, "_async_write_data", _REAL_STORE_WRITE),
    ):
        yield tmp_path / ".storage"


@pytest.mark.parametrize("content", UNREADABLE_STORES.values(), ids=UNREADABLE_STORES.keys())
async def test_an_unreadable_store_file_survives_set_up_and_hourly_saves(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    real_storage: Path,
    issue_registry: ir.IssueRegistry,
    content: dict[str, Any] | bytes,
) -> None:
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    if isinstance(content, dict):
        content = json.dumps({**content, "key": key}).encode()
    real_storage.mkdir()
    (real_storage / key).write_bytes(content)

    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # bess runs, on a new history, and says where the old file is.
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert mock_config_entry.runtime_data.manager.latest_result is not None
    issue = issue_registry.async_get_issue(DOMAIN, f"store_invalid_{mock_config_entry.entry_id}")
    assert issue is not None
    kept = Path(issue.translation_placeholders["path"])
    assert kept.parent == real_storage
    assert kept.name.startswith(f"{key}.invalid.")
    assert kept.read_bytes() == content

    freezer.move_to(local(2026, 11, 24, 11, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(timedelta(seconds=SAVE_DELAY_SECONDS))  # the hourly run's one delayed write
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    saved = json.loads((real_storage / key).read_bytes())
    assert saved["version"] == 1
    scenarios = [s["created_for_scenario"] for s in saved["data"]["schedules"]["schedules"]]
    assert scenarios == ["restart", "hourly"]
    assert kept.read_bytes() == content  # the hourly save left the kept file alone
    assert sorted(p.name for p in real_storage.iterdir() if p.name.startswith(key)) == [
        key,
        kept.name,
    ]


async def test_a_readable_store_file_loads_without_a_repair(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    real_storage: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # The second set-up read the first one's file: two restart plans, no repair, no copy.
    manager = mock_config_entry.runtime_data.manager
    assert len(manager.schedules.get_all_schedules_today()) == 2
    assert (
        issue_registry.async_get_issue(DOMAIN, f"store_invalid_{mock_config_entry.entry_id}")
        is None
    )
    assert [p.name for p in real_storage.iterdir() if p.name.startswith(key)] == [key]
