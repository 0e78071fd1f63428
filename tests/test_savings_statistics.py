"""Realized savings in the recorder's long-term statistics: backfilled once, never twice.

The real recorder compiles and stores the rows; bess's store is read from a real disk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.bess.const import DOMAIN
from custom_components.bess.engine.models import HourlyEvent
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.savings_statistics import statistic_id

from .conftest import Home, local, set_up
from .test_store_retention import Disk, disk  # noqa: F401  (the real-disk fixture)

pytestmark = pytest.mark.freeze_time("2026-11-24 10:30:00+01:00")

TODAY = local(2026, 11, 24, 0).date()
YESTERDAY = TODAY - timedelta(days=1)
LAST_MONTH = local(2026, 10, 31, 0).date()


def _event(day_offset: int, hour: int) -> dict[str, Any]:
    """An hour the battery covered the home's 1 kWh: it saved that hour's buy price."""
    day = TODAY - timedelta(days=day_offset)
    start = day_hour_starts(day, dt_util.get_default_time_zone())[hour]
    return HourlyEvent(
        hour=hour,
        timestamp=start + timedelta(hours=1, seconds=5),
        battery_soc_start=60.0,
        battery_soc_end=49.5,
        solar_generated=0.0,
        home_consumed=1.0,
        grid_imported=0.0,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=1.0,
        start=start,
        buy_price=1.0 + hour / 100,
        sell_price=0.5,
    ).to_dict()


def _write_store(on: Disk, entry: MockConfigEntry, events: list[dict[str, Any]]) -> None:
    """Put a store with `events` on the disk, as an earlier bess wrote it."""
    key = f"{DOMAIN}.{entry.entry_id}"
    on.folder.mkdir(exist_ok=True)
    stored = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {
            "version": 1,
            "history": {"version": 1, "events": events},
            "schedules": {"version": 1, "schedules": []},
            "meter_snapshot": None,
            "auto_control": False,
        },
    }
    (on.folder / key).write_text(json.dumps(stored), encoding="utf-8")


async def _rows(hass: HomeAssistant, entry: MockConfigEntry) -> list[tuple[datetime, float]]:
    """Return the statistic's hourly rows (start, sum) from the recorder."""
    await async_wait_recording_done(hass)
    identifier = statistic_id(entry.entry_id)
    found = await hass.async_add_executor_job(
        lambda: statistics_during_period(
            hass, datetime(2026, 10, 1, tzinfo=UTC), None, {identifier}, "hour", None, {"sum"}
        )
    )
    return [
        (datetime.fromtimestamp(row["start"], tz=UTC), float(row["sum"] or 0.0))
        for row in found.get(identifier, [])
    ]


def _savings(hour: int) -> float:
    return 1.0 + hour / 100


async def test_history_is_backfilled_once_and_a_reload_counts_nothing_twice(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,  # noqa: F811
) -> None:
    last_month = [_event(24, hour) for hour in range(2)]  # 31 October
    yesterday = [_event(1, hour) for hour in range(24)]
    _write_store(disk, mock_config_entry, last_month + yesterday)

    await set_up(hass, mock_config_entry)

    rows = await _rows(hass, mock_config_entry)
    assert len(rows) == 26
    expected = sum(_savings(h) for h in range(2)) + sum(_savings(h) for h in range(24))
    assert rows[-1][1] == pytest.approx(expected)
    # Each hour's change is its own savings, at its own UTC hour.
    changes = [rows[0][1]] + [b[1] - a[1] for a, b in itertools.pairwise(rows)]
    assert changes[2:] == pytest.approx([_savings(h) for h in range(24)])
    assert rows[2][0] == day_hour_starts(YESTERDAY, dt_util.get_default_time_zone())[0]
    month = hass.states.get("sensor.home_battery_savings_this_month")
    year = hass.states.get("sensor.home_battery_savings_this_year")
    assert float(month.state) == pytest.approx(sum(_savings(h) for h in range(24)))
    assert float(year.state) == pytest.approx(expected)

    # A reload mid-period, then a restart right after a boundary: the same rows, no sum doubled.
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert await _rows(hass, mock_config_entry) == rows

    home.advance(grid_import=0.0, discharge=1.0)
    freezer.move_to(local(2026, 11, 24, 11, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    after = await _rows(hass, mock_config_entry)
    # 10:00–11:00 was only half seen (set up at 10:30): not measured, no row, nothing made up.
    assert after == rows
    home.advance(grid_import=0.0, discharge=1.0)
    freezer.move_to(local(2026, 11, 24, 12, 0))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    after = await _rows(hass, mock_config_entry)
    assert len(after) == 27
    event = mock_config_entry.runtime_data.manager.history.get_event_at(local(2026, 11, 24, 11))
    assert event is not None
    saved = mock_config_entry.runtime_data.manager.daily_view_builder.event_savings(event)
    assert saved > 0
    assert after[-1][0] == local(2026, 11, 24, 11).astimezone(UTC)
    assert after[-1][1] == pytest.approx(expected + saved)
    month = hass.states.get("sensor.home_battery_savings_this_month")
    assert float(month.state) == pytest.approx(sum(_savings(h) for h in range(24)) + saved)


async def test_without_the_recorder_nothing_is_written_and_totals_still_show(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,  # noqa: F811
) -> None:
    _write_store(disk, mock_config_entry, [_event(1, hour) for hour in range(3)])

    await set_up(hass, mock_config_entry)

    assert "recorder" not in hass.config.components
    month = hass.states.get("sensor.home_battery_savings_this_month")
    assert float(month.state) == pytest.approx(sum(_savings(h) for h in range(3)))


async def test_yesterdays_hindsight_report_is_a_sensor_and_in_the_daily_view(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    disk: Disk,  # noqa: F811
) -> None:
    # Yesterday the battery covered the home from 17:00 to 21:00 and held otherwise.
    events, soc = [], 60.0
    for hour in range(24):
        event = _event(1, hour)
        discharge = 1.0 if 17 <= hour < 21 else 0.0
        end = soc - discharge / 0.95 * 10
        event |= {
            "battery_soc_start": soc,
            "battery_soc_end": end,
            "battery_discharged": discharge,
            "grid_imported": 1.0 - discharge,
        }
        events.append(event)
        soc = end
    _write_store(disk, mock_config_entry, events)

    await set_up(hass, mock_config_entry)

    state = hass.states.get("sensor.home_battery_yesterday_s_capture")
    assert state is not None
    attributes = state.attributes
    assert attributes["day"] == YESTERDAY.isoformat()
    assert attributes["periods"] == 24
    # Realized: each hour's savings, plus the worth of the energy the day took out of the
    # battery (from 60 % of a 10 kWh battery).
    value = attributes["terminal_value_per_kwh"]
    assert value > 0
    realized = sum(_savings(h) for h in range(17, 21)) + value * (soc - 60.0) / 10
    assert attributes["realized"] == pytest.approx(realized)
    assert attributes["optimum"] >= attributes["realized"] - 1e-9
    assert float(state.state) == pytest.approx(100 * realized / attributes["optimum"], rel=1e-3)
    # bess was not running yesterday: no plan foresaw the day, none was in force.
    assert attributes["predicted"] is None
    assert attributes["commanded"] == pytest.approx(value * 0.0)  # held: nothing commanded
    assert attributes["forecast_gap"] + attributes["execution_gap"] == pytest.approx(
        attributes["optimum"] - attributes["realized"]
    )

    response = await hass.services.async_call(
        DOMAIN,
        "get_daily_view",
        {"config_entry_id": mock_config_entry.entry_id, "date": YESTERDAY.isoformat()},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    report = response["hindsight"]
    assert isinstance(report, dict)
    assert report == {key: attributes[key] for key in report}
    today = await hass.services.async_call(
        DOMAIN,
        "get_daily_view",
        {"config_entry_id": mock_config_entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert isinstance(today, dict)
    assert today["hindsight"] is None  # the day runs
