"""The store on Home Assistant's real Store: one write per hourly run, nothing lost on a
restart, old layouts migrated, old days compacted, and the retention option."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import issue_registry as ir, storage
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.bess.const import CONF_KEEP_HISTORY_DAYS, DOMAIN
from custom_components.bess.engine.models import HourlyEvent
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.storage import SAVE_DELAY_SECONDS

from .conftest import Home, local, set_up

# Taken before the test plugin replaces them with its in-memory store.
_REAL_STORE_LOAD = storage.Store._async_load
_REAL_STORE_WRITE = storage.Store._async_write_data

TODAY = local(2026, 11, 24, 0).date()

pytestmark = pytest.mark.freeze_time("2026-11-24 09:30:00+01:00")


class Disk:
    """Home Assistant's Store on a real disk, counting the writes of bess's store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writes: list[str] = []

    def file(self, entry: MockConfigEntry) -> Path:
        """Return the store file of `entry`."""
        return self.folder / f"{DOMAIN}.{entry.entry_id}"

    def saved(self, entry: MockConfigEntry) -> dict[str, Any]:
        """Return the data of `entry`'s store file."""
        data: dict[str, Any] = json.loads(self.file(entry).read_bytes())["data"]
        return data


@pytest.fixture
def disk(hass: HomeAssistant, tmp_path: Path) -> Iterator[Disk]:
    """Use the real Store on `tmp_path` and count what bess writes."""
    hass.config.config_dir = str(tmp_path)
    found = Disk(tmp_path / ".storage")

    async def counted(store: storage.Store[Any], *args: Any) -> None:
        # (path, data) up to Home Assistant 2025; (data) from 2026.
        await _REAL_STORE_WRITE(store, *args)
        if store.key.startswith(f"{DOMAIN}."):
            found.writes.append(store.key)

    with (
        patch.object(storage.Store, "_async_load", _REAL_STORE_LOAD),
        patch.object(storage.Store, "_async_write_data", counted),
    ):
        yield found


async def next_hour(hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home) -> None:
    """Let one hour pass with 1 kWh imported, up to the next full hour and its run."""
    home.advance(grid_import=1.0)
    now = dt_util.utcnow()
    freezer.move_to(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def past_save_delay(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the delayed save's time come."""
    freezer.tick(timedelta(seconds=SAVE_DELAY_SECONDS + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def recorded_starts(data: dict[str, Any]) -> list[str]:
    """Return the starts of the events in saved data."""
    return [event["start"] for event in data["history"]["events"]]


async def test_an_hourly_run_writes_the_store_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,
) -> None:
    await set_up(hass, mock_config_entry)
    await past_save_delay(hass, freezer)
    assert disk.writes == [f"{DOMAIN}.{mock_config_entry.entry_id}"]  # the set-up's plan
    await next_hour(hass, freezer, home)  # 10:00: the meters' snapshot; nothing to record
    await past_save_delay(hass, freezer)
    disk.writes.clear()

    await next_hour(hass, freezer, home)  # 11:00: records 10:00–11:00, then re-plans
    assert disk.writes == []  # asked, not yet written
    await past_save_delay(hass, freezer)

    assert len(disk.writes) == 1
    saved = disk.saved(mock_config_entry)
    assert local(2026, 11, 24, 10).astimezone(dt_util.UTC).isoformat() in recorded_starts(saved)
    scenarios = [s["created_for_scenario"] for s in saved["schedules"]["schedules"]]
    assert scenarios[-1] == "hourly"
    assert saved["auto_control"] is True
    assert saved["meter_snapshot"]["boundary"].startswith("2026-11-24T10:00")


async def test_an_hour_recorded_just_before_an_unload_is_there_after_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,
) -> None:
    await set_up(hass, mock_config_entry)
    await next_hour(hass, freezer, home)
    await next_hour(hass, freezer, home)  # 11:00: the 10:00 hour, its save still pending
    assert mock_config_entry.runtime_data.manager.history.get_completed_hours() == [10]

    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    manager = mock_config_entry.runtime_data.manager
    assert manager.history.get_completed_hours() == [10]
    event = manager.history.get_hour_event(10)
    assert event is not None
    assert event.grid_imported == 1.0
    assert local(2026, 11, 24, 10).astimezone(dt_util.UTC).isoformat() in recorded_starts(
        disk.saved(mock_config_entry)
    )


async def test_home_assistant_stopping_writes_the_pending_save(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,
) -> None:
    await set_up(hass, mock_config_entry)
    await next_hour(hass, freezer, home)
    await past_save_delay(hass, freezer)
    await next_hour(hass, freezer, home)  # 11:00: the 10:00 hour, its save still pending
    hour_ten = local(2026, 11, 24, 10).astimezone(dt_util.UTC).isoformat()
    assert hour_ten not in recorded_starts(disk.saved(mock_config_entry))

    # Home Assistant's stop ends with the final write (entries are not unloaded).
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()

    assert hour_ten in recorded_starts(disk.saved(mock_config_entry))


def _old_event(start_index: int, day_offset: int) -> dict[str, Any]:
    """Return an event as the first layout stored it, for hour `start_index` days back."""
    day = TODAY - timedelta(days=day_offset)
    start = day_hour_starts(day, dt_util.get_default_time_zone())[start_index]
    return HourlyEvent(
        hour=start_index,
        timestamp=start + timedelta(hours=1, seconds=5),
        battery_soc_start=50.0,
        battery_soc_end=50.0,
        solar_generated=0.0,
        home_consumed=1.0 + start_index / 10,
        grid_imported=1.0 + start_index / 10,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=0.0,
        start=start,
        buy_price=1.0,
        sell_price=0.5,
    ).to_dict()


async def test_a_store_of_the_first_layout_loads_and_its_old_days_are_compacted(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,
    issue_registry: ir.IssueRegistry,
) -> None:
    key = f"{DOMAIN}.{mock_config_entry.entry_id}"
    yesterday = [_old_event(h, 1) for h in range(24)]
    long_ago = [_old_event(h, 400) for h in range(24)]  # day 401 counting today
    first_layout = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {
            "version": 1,
            "history": {"version": 1, "events": long_ago + yesterday},
            "schedules": {"version": 1, "schedules": []},
            "meter_snapshot": None,
            "auto_control": False,
        },
    }
    disk.folder.mkdir()
    (disk.folder / key).write_text(json.dumps(first_layout), encoding="utf-8")

    await set_up(hass, mock_config_entry)
    coordinator = mock_config_entry.runtime_data

    assert issue_registry.async_get_issue(DOMAIN, f"store_invalid_{key[5:]}") is None
    assert not list(disk.folder.glob(f"{key}.invalid.*"))
    assert coordinator.controller.enabled is False  # the stored choice stands
    day_401 = TODAY - timedelta(days=400)
    assert [e.to_dict() for e in coordinator.manager.history.get_day_events(day_401)] == []
    view = coordinator.daily_view(day_401)
    assert view.compacted is True
    assert view.actual_hours == 24
    # Savings are 0 (no battery, no solar); the cost is what the grid import cost.
    assert view.total_cost == pytest.approx(sum(1.0 + h / 10 for h in range(24)))
    assert view.total_savings == pytest.approx(0.0)
    response = await hass.services.async_call(
        DOMAIN,
        "get_daily_view",
        {"config_entry_id": mock_config_entry.entry_id, "date": day_401.isoformat()},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    assert response["compacted"] is True
    assert response["total_cost"] == pytest.approx(view.total_cost)
    hours = response["hours"]
    assert isinstance(hours, list)
    assert {h["source"] for h in hours if isinstance(h, dict)} == {"missing"}
    assert len(hours) == 24
    assert [
        e.to_dict() for e in coordinator.manager.history.get_day_events(TODAY - timedelta(days=1))
    ] == yesterday

    await past_save_delay(hass, freezer)
    saved = disk.saved(mock_config_entry)
    assert saved["history"]["version"] == 2
    assert saved["history"]["events"][:24] == yesterday
    assert [t["day"] for t in saved["history"]["daily_totals"]] == [day_401.isoformat()]
    assert json.loads((disk.folder / key).read_bytes())["minor_version"] == 1


async def test_the_retention_option_is_offered_and_used(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    await set_up(hass, mock_config_entry)
    assert mock_config_entry.runtime_data.manager._keep_history_days == 400

    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert "history" in result["menu_options"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "history"}
    )
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"].schema
    assert {str(key): key.default() for key in schema} == {CONF_KEEP_HISTORY_DAYS: 400}
    with pytest.raises(InvalidData, match="keep_history_days"):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_KEEP_HISTORY_DAYS: 30}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_KEEP_HISTORY_DAYS: 90.0}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options[CONF_KEEP_HISTORY_DAYS] == 90
    assert isinstance(mock_config_entry.options[CONF_KEEP_HISTORY_DAYS], int)
    # The options reload the entry: the new manager keeps 90 days.
    assert mock_config_entry.runtime_data.manager._keep_history_days == 90
