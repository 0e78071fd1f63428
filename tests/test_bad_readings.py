"""A reading that is not a finite number in its range is unavailable: never planned, never saved.

Some integrations report `nan` (or `inf`, or a SOC of 150 %). bess used to plan with it, save
it as `null`, and find its whole store unreadable on the next start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.bess.const import DOMAIN

from .conftest import PRICE, SOC, Home, local, past_repair_grace, price_entries, set_up

TOTAL = "sensor.home_battery_total_savings_today"
ACTION = "sensor.home_battery_planned_battery_action"


def _issue(issue_registry: ir.IssueRegistry, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{entry.entry_id}")


def _stored(hass_storage: dict[str, Any], entry: MockConfigEntry) -> dict[str, Any]:
    data: dict[str, Any] = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    return data


@pytest.mark.parametrize("reading", ["nan", "inf", "-inf", "150", "-5", "NaN"])
async def test_a_soc_that_is_not_a_soc_is_unavailable_atset_up(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    hass_storage: dict[str, Any],
    reading: str,
) -> None:
    home.set_soc(reading)
    await set_up(hass, mock_config_entry)
    await past_repair_grace(hass, freezer)

    assert hass.states.get(TOTAL).state == "unavailable"
    assert hass.states.get(ACTION).state == "unavailable"
    issue = _issue(issue_registry, mock_config_entry)
    assert issue is not None
    assert issue.translation_placeholders["source"] == SOC
    assert repr(reading) in issue.translation_placeholders["error"]
    # Nothing was planned with it.
    assert mock_config_entry.runtime_data.manager.schedules.get_all_schedules_today() == []


async def test_a_nan_soc_mid_day_goes_unavailable_and_back_and_the_store_stays_readable(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(local(2026, 11, 24, 9, 30))
    home.set_prices(local(2026, 11, 24, 0).date())
    await set_up(hass, mock_config_entry)
    assert hass.states.get(TOTAL).state != "unavailable"

    home.set_soc("nan")
    await hass.async_block_till_done()
    assert hass.states.get(TOTAL).state == "unavailable"
    await past_repair_grace(hass, freezer)
    assert "'nan'" in _issue(issue_registry, mock_config_entry).translation_placeholders["error"]

    # The hourly run with the nan SOC records nothing false and plans nothing.
    home.meters["sensor.grid_import"] += 1.0  # the meters move on; the SOC stays nan
    home.publish_meters()
    freezer.move_to(local(2026, 11, 24, 10, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = mock_config_entry.runtime_data.manager
    assert [s.created_for_scenario for s in manager.schedules.get_all_schedules_today()] == [
        "restart"
    ]
    saved = json.dumps(_stored(hass_storage, mock_config_entry))
    assert "null" not in saved.replace('"meter_snapshot": null', "")
    assert "NaN" not in saved

    home.set_soc(47.0)
    await hass.async_block_till_done()
    assert hass.states.get(TOTAL).state != "unavailable"
    assert _issue(issue_registry, mock_config_entry) is None
    assert manager.latest_result.periods[0].soc_start_percent == pytest.approx(47.0)


@pytest.mark.parametrize("bad", [float("nan"), "nan", float("inf")])
async def test_a_price_that_is_not_a_number_is_unavailable_and_named(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    bad: Any,
) -> None:
    entries = price_entries(local(2026, 11, 24, 0).date())
    entries[15]["value"] = bad
    hass.states.async_set(PRICE, "0.6", {"unit_of_measurement": "SEK/kWh", "raw_today": entries})
    await set_up(hass, mock_config_entry)

    assert hass.states.get(TOTAL).state == "unavailable"
    await past_repair_grace(hass, freezer)
    issue = _issue(issue_registry, mock_config_entry)
    assert issue.translation_placeholders["source"] == PRICE
    assert "15:00" in issue.translation_placeholders["error"]
    assert mock_config_entry.runtime_data.manager.schedules.get_all_schedules_today() == []

    home.set_prices(local(2026, 11, 24, 0).date())
    await hass.async_block_till_done()
    assert hass.states.get(TOTAL).state != "unavailable"


async def test_a_store_holding_a_nan_entry_loads_without_it_and_keeps_a_copy(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
) -> None:
    hass.config.config_dir = str(tmp_path)
    # A first run stores two schedules; then one of them gets a null where a number was.
    await set_up(hass, mock_config_entry)
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    data = _stored(hass_storage, mock_config_entry)
    assert len(data["schedules"]["schedules"]) == 2
    data["schedules"]["schedules"][0]["algorithm_result"]["periods"][3]["cost"] = None

    with caplog.at_level(logging.WARNING):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()

    manager = mock_config_entry.runtime_data.manager
    # One dropped, one kept, one new: not "corrupt", no new history.
    assert len(manager.schedules.get_all_schedules_today()) == 2
    assert (
        issue_registry.async_get_issue(DOMAIN, f"store_invalid_{mock_config_entry.entry_id}")
        is None
    )
    assert "1 unreadable stored entry was dropped" in caplog.text
    kept = sorted((tmp_path / ".storage").glob(f"{DOMAIN}.{mock_config_entry.entry_id}.invalid.*"))
    assert len(kept) == 1
    assert '"cost": null' in kept[0].read_text().replace("\n", "").replace("  ", "")
