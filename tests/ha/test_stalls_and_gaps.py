"""What the soak test (tests/demo/test_soak.py) found: hours invented around stalls and gaps.

- A Home Assistant that stalls (or sleeps) over an hour boundary fires the hour's trigger
  late: the readings then are not the boundary's, and the recorder's last ones are from
  before the stall. Neither hour next to that boundary is a fact.
- A recorder gap over an hour's edge counts whole: down from 12:24 to 13:02, the reading at
  13:00 is the one of 12:24, though only 2.5 minutes of the gap fall in the hour.
- A missing hour of statistics (meter unavailable, compiling skipped) makes the recorder give
  the next hour the energy of both: that hour is no fact either.
- The stalled boundaries are remembered across a restart: the next start rebuilds the hours
  since yesterday from the recorder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.bess.const import CONF_SOC_ENTITY
from custom_components.bess.ha.energy import EnergySourceConfig, HomeAssistantEnergyData
from custom_components.bess.ha.forecasts import async_hourly_changes, hour_recorded

from ..conftest import METERS, SOC, Home, local, set_up
from .test_energy import energy_metadata

HOUR = timedelta(hours=1)


def _at(hour: int, minute: int = 0) -> datetime:
    """A UTC time on the test day."""
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC)


def test_a_gap_over_an_edge_counts_whole() -> None:
    # Down from 12:24 to 13:02: only 2.5 minutes of it fall in 13:00-14:00.
    runs = [(_at(0), _at(12, 24)), (_at(13, 2), _at(23))]
    assert not hour_recorded(runs, _at(13))
    assert not hour_recorded(runs, _at(12))
    assert hour_recorded(runs, _at(11))
    assert hour_recorded(runs, _at(14))


def test_a_quick_restart_over_an_edge_is_tolerated_and_a_long_one_is_not() -> None:
    quick = [(_at(0), _at(12, 59)), (_at(13, 1), _at(23))]
    assert hour_recorded(quick, _at(12))
    assert hour_recorded(quick, _at(13))
    # Down from 13:58 to 14:30: the reading at 14:00 is the one of 13:58.
    long = [(_at(0), _at(13, 58)), (_at(14, 30), _at(23))]
    assert not hour_recorded(long, _at(13))
    # A gap that ended before the hour began leaves the hour's readings fresh.
    before = [(_at(0), _at(12, 40)), (_at(12, 59), _at(23))]
    assert hour_recorded(before, _at(13))


async def test_an_hour_after_missing_statistics_is_left_out(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    meter = "sensor.grid_import"
    metadata = energy_metadata(meter)
    # 1 kWh an hour, but no statistics for 03:00 (compiling was skipped): the recorder's
    # change of 04:00 is then 2 kWh.
    rows = [
        {"start": _at(hour), "state": 100.0 + hour + 1, "sum": float(hour + 1)}
        for hour in (0, 1, 2, 4, 5)
    ]
    async_import_statistics(hass, metadata, rows)  # type: ignore[arg-type]
    await async_wait_recording_done(hass)

    changes = await async_hourly_changes(hass, [meter], _at(0), _at(6))

    assert changes[meter] == {_at(0): 1.0, _at(1): 1.0, _at(2): 1.0, _at(5): 1.0}


async def _at_local(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    moment: datetime,
    home: Home,
    **flows: float,
) -> None:
    """Move the clock to `moment`, where the meters show `flows` more; fire what is due."""
    freezer.move_to(moment)
    if flows:
        home.advance(**flows)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_the_hours_next_to_a_stalled_boundary_stay_missing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 9, 30))
    await set_up(hass, mock_config_entry)
    manager = mock_config_entry.runtime_data.manager

    await _at_local(hass, freezer, local(2026, 11, 24, 10), home)  # the first reading
    await _at_local(hass, freezer, local(2026, 11, 24, 11), home, grid_import=1.0)
    assert manager.history.get_hour_event(10) is not None
    # Stalled from 11:58 to 12:07: the 12:00 trigger fires at 12:07, once.
    await _at_local(hass, freezer, local(2026, 11, 24, 11, 58), home, grid_import=1.0)
    await _at_local(hass, freezer, local(2026, 11, 24, 12, 7), home, grid_import=0.2)
    await _at_local(hass, freezer, local(2026, 11, 24, 13), home, grid_import=0.8)
    await _at_local(hass, freezer, local(2026, 11, 24, 14), home, grid_import=1.0)

    # 11:00 would have had 1.2 kWh, 12:00 0.8 kWh: neither reading at 12:00 was taken.
    assert manager.history.get_hour_event(11) is None
    assert manager.history.get_hour_event(12) is None
    assert manager.history.get_hour_event(13).grid_imported == 1.0


async def test_a_boundary_skipped_by_a_stall_is_no_edge_either(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 9, 30))
    await set_up(hass, mock_config_entry)
    manager = mock_config_entry.runtime_data.manager

    await _at_local(hass, freezer, local(2026, 11, 24, 10), home)
    # Asleep from 10:55 to 12:00:20: the 11:00 trigger never fires, the 12:00 one on time.
    # What the recorder holds for 11:00 is the reading of 10:55.
    await _at_local(hass, freezer, local(2026, 11, 24, 10, 55), home, grid_import=1.0)
    await async_wait_recording_done(hass)
    await _at_local(
        hass, freezer, local(2026, 11, 24, 12) + timedelta(seconds=20), home, grid_import=2.0
    )
    await _at_local(hass, freezer, local(2026, 11, 24, 13), home, grid_import=1.0)

    # How the 2 kWh of the sleep split between 10:00, 11:00 and 12:00 nobody knows.
    assert manager.history.get_hour_event(10) is None
    assert manager.history.get_hour_event(11) is None
    # 12:00 was read on time.
    assert manager.history.get_hour_event(12).grid_imported == 1.0


async def test_stalled_boundaries_survive_a_restart(hass: HomeAssistant, home: Home) -> None:
    options = EnergySourceConfig.from_entry_options({CONF_SOC_ENTITY: SOC, **METERS})
    start = local(2026, 11, 24, 10)
    before = HomeAssistantEnergyData(hass, options)
    at_start = before.take_snapshot(start).to_dict()
    before.restore_snapshot(at_start)
    before.note_stall(start + HOUR)
    saved = before.snapshot_state()
    home.advance(grid_import=1.0)

    after = HomeAssistantEnergyData(hass, options)
    after.restore_snapshot(saved)
    unaware = HomeAssistantEnergyData(hass, options)
    unaware.restore_snapshot(at_start)

    assert await after.measure_period(start) is None
    assert (await unaware.measure_period(start)).grid_imported == 1.0
