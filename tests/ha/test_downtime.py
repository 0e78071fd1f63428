"""Downtime is not a fact: the real recorder, stopped for hours and started again.

Home Assistant is down 09:30-12:05. On the next start the recorder compiles statistics for
the hours it missed: a change of 0 for 10:00 and 11:00, and the whole outage's energy in
12:00, with the SOC of before the shutdown at both edges. None of those hours may be recorded
as actual; the hours recorded all through are rebuilt as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_test_home_assistant,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.bess.const import (
    CONF_GRID_EXPORT_METER,
    CONF_GRID_IMPORT_METER,
    CONF_SOC_ENTITY,
)
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.energy import EnergySourceConfig, HomeAssistantEnergyData
from custom_components.bess.ha.forecasts import async_hourly_changes

TZ = "Europe/Stockholm"
DAY = date(2026, 11, 24)
IMPORT = "sensor.grid_import"
EXPORT = "sensor.grid_export"
SOC = "sensor.battery_soc"
OPTIONS = {CONF_SOC_ENTITY: SOC, CONF_GRID_IMPORT_METER: IMPORT, CONF_GRID_EXPORT_METER: EXPORT}
# 1 kWh an hour, read every 5 minutes; the SOC climbs 1 % an hour.
KWH_PER_MINUTE = 1 / 60
UNFINISH_LAST_RUN = """
UPDATE recorder_runs SET end = NULL WHERE end = (SELECT MAX(end) FROM recorder_runs)
"""


def _publish(hass: HomeAssistant, moment: datetime, first: datetime) -> None:
    minutes = (moment - first).total_seconds() / 60
    meter = {
        "unit_of_measurement": "kWh",
        "device_class": "energy",
        "state_class": "total_increasing",
    }
    hass.states.async_set(IMPORT, f"{100 + minutes * KWH_PER_MINUTE:.4f}", meter)
    hass.states.async_set(EXPORT, "5.0", meter)
    hass.states.async_set(
        SOC, f"{40 + minutes / 60:.3f}", {"unit_of_measurement": "%", "device_class": "battery"}
    )


async def _run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start: datetime,
    end: datetime,
    first: datetime,
) -> None:
    """Home Assistant runs from start to end: readings every 5 minutes, statistics compiled."""
    moment = start
    while moment <= end:
        freezer.move_to(moment)
        _publish(hass, moment, first)
        await hass.async_block_till_done()
        # The recorder compiles at 10 s past every fifth minute.
        freezer.move_to(moment + timedelta(seconds=10))
        async_fire_time_changed(hass, moment + timedelta(seconds=10))
        await async_wait_recording_done(hass)
        moment += timedelta(minutes=5)


@asynccontextmanager
async def _home_assistant(
    async_test_recorder: Any, freezer: FrozenDateTimeFactory, start: datetime
) -> AsyncIterator[HomeAssistant]:
    """Home Assistant started at `start` with the recorder (and its statistics) on the test
    database; stopped, as by a shutdown, at the end."""
    freezer.move_to(start)
    async with async_test_home_assistant() as hass:
        await hass.config.async_set_time_zone(TZ)
        async with async_test_recorder(hass):
            assert await async_setup_component(hass, "sensor", {})  # its statistics
            yield hass
            await hass.async_stop()


@pytest.mark.parametrize("persistent_database", [True])
@pytest.mark.parametrize("enable_statistics", [True])
@pytest.mark.parametrize("enable_missing_statistics", [True])
@pytest.mark.parametrize("crash", [False, True], ids=["shut down", "power cut"])
async def test_hours_of_downtime_are_never_rebuilt_as_actual(
    async_test_recorder: object,
    recorder_db_url: str,
    freezer: FrozenDateTimeFactory,
    crash: bool,
) -> None:
    tz = ZoneInfo(TZ)
    starts = day_hour_starts(DAY, tz)
    first = starts[7]
    async with _home_assistant(async_test_recorder, freezer, first - timedelta(minutes=5)) as hass:
        await _run(
            hass, freezer, first - timedelta(minutes=5), starts[9] + timedelta(minutes=30), first
        )

    if crash:
        # A power cut: the recorder never wrote the end of its run. On the next start it
        # closes the run "incorrectly", with the end set to that start, 12:05.
        with sqlite3.connect(recorder_db_url.removeprefix("sqlite:///")) as db:
            db.execute(UNFINISH_LAST_RUN)

    # Down from 09:30 to 12:05; then running until 13:05, when hour 12's statistics exist.
    back = starts[12] + timedelta(minutes=5)
    async with _home_assistant(async_test_recorder, freezer, back) as hass:
        await _run(hass, freezer, back, starts[13] + timedelta(minutes=5), first)
        data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
        rebuilt = await data.reconstruct_periods(starts[7:13])
        # What the recorder compiled for the hours around the outage, trusted by bess before.
        compiled = await get_instance(hass).async_add_executor_job(
            statistics_during_period,
            hass,
            starts[7],
            starts[13],
            {IMPORT},
            "hour",
            {"energy": "kWh"},
            {"change"},
        )
        changes = await async_hourly_changes(hass, [IMPORT], starts[7], starts[13])

    change = {datetime.fromtimestamp(row["start"], UTC): row["change"] for row in compiled[IMPORT]}
    # The statistics put the outage's 3.5 kWh into 12:00 and half an hour into 09:00 ...
    assert change[dt_util.as_utc(starts[12])] == pytest.approx(3.5, abs=1e-3)
    assert change[dt_util.as_utc(starts[9])] == pytest.approx(0.5, abs=1e-3)
    # ... with no hour between them: bess takes no hour's energy across that gap ...
    assert dt_util.as_utc(starts[12]) not in changes[IMPORT]
    assert changes[IMPORT][dt_util.as_utc(starts[9])] == pytest.approx(0.5, abs=1e-3)
    # ... and only the hours recorded all through are facts.
    assert sorted(start.astimezone(tz).hour for start in rebuilt) == [7, 8]
    for start in starts[7:9]:
        assert rebuilt[dt_util.as_utc(start)].grid_imported == pytest.approx(1.0, abs=1e-3)
        assert rebuilt[dt_util.as_utc(start)].battery_soc_end - rebuilt[
            dt_util.as_utc(start)
        ].battery_soc_start == pytest.approx(1.0, abs=1e-2)
