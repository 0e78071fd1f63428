"""The recorder keeps the daily view's totals but not its large `hours` attribute."""

from __future__ import annotations

from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from .conftest import Home

pytestmark = pytest.mark.freeze_time("2026-11-24 10:30:00+01:00")

DAILY_VIEW = "sensor.home_battery_daily_view"


async def test_hours_are_not_recorded(
    recorder_mock: Recorder, hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert len(hass.states.get(DAILY_VIEW).attributes["hours"]) == 24
    await async_wait_recording_done(hass)

    states = await recorder_mock.async_add_executor_job(
        get_significant_states, hass, dt_util.utcnow().replace(hour=0), None, [DAILY_VIEW]
    )
    recorded = states[DAILY_VIEW][-1]
    assert "hours" not in recorded.attributes
    assert "data_sources" not in recorded.attributes
    assert recorded.attributes["predicted_hours"] == 14
