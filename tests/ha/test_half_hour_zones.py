"""Time zones with :30 and :45 offsets: local hours come from the 5-minute statistics.

In India (+05:30), Nepal (+05:45) or South Australia (+10:30, +09:30 in winter) a local hour
never starts on a UTC hour, where the recorder's hourly statistics start. The real recorder
here compiles its statistics every 5 minutes while the meters move by known amounts at known
moments; the hours bess rebuilds after a restart must hold exactly the energy that moved
inside each local hour, and its consumption forecast must see the same local hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import random

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.bess.const import (
    CONF_CONSUMPTION_DAYS,
    CONF_FALLBACK_CONSUMPTION_KWH,
    CONF_GRID_EXPORT_METER,
    CONF_GRID_IMPORT_METER,
    CONF_SOC_ENTITY,
    CONF_SOLAR_METER,
)
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.energy import EnergySourceConfig, HomeAssistantEnergyData

# Home Assistant starts at 15:00 UTC on 4 April 2026 and runs five hours: 20:30-01:30 in
# Kolkata, 20:45-01:45 in Kathmandu, and 01:30-05:30 in Adelaide, whose clocks go back from
# 03:00 (+10:30) to 02:00 (+09:30) at 16:30 UTC: its day has two 02:00 hours.
START = datetime(2026, 4, 4, 15, 0, tzinfo=UTC)
END = START + timedelta(hours=5)
STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)
# Each meter moves once inside every 5 minutes, never on a boundary: the hour it belongs to
# is then beyond doubt.
PUBLISH_AFTER = timedelta(minutes=2, seconds=30)
# The recorder compiles the 5 minutes that just ended at 10 s past every fifth minute.
COMPILE_AFTER = timedelta(seconds=10)

IMPORT = "sensor.grid_import"
EXPORT = "sensor.grid_export"
SOLAR = "sensor.solar_energy"
SOC = "sensor.battery_soc"
OPTIONS = {
    CONF_SOC_ENTITY: SOC,
    CONF_GRID_IMPORT_METER: IMPORT,
    CONF_GRID_EXPORT_METER: EXPORT,
    CONF_SOLAR_METER: SOLAR,
}
METER_ATTRIBUTES = {
    "unit_of_measurement": "kWh",
    "device_class": "energy",
    "state_class": "total_increasing",
}
# The import meter restarts from zero once, 2 h 7.5 min into the run.
RESET_STEP = 25

pytestmark = [
    pytest.mark.parametrize("enable_statistics", [True]),
    pytest.mark.freeze_time(START.isoformat()),
]


@dataclass
class Flows:
    """What moved, and when: every increment (kWh) of every meter and every SOC reading."""

    moves: list[tuple[datetime, str, float]] = field(default_factory=list)
    socs: list[tuple[datetime, float]] = field(default_factory=list)

    def kwh(self, entity_id: str, start: datetime, end: datetime) -> float:
        """Return the energy the meter counted in [start, end)."""
        return sum(
            kwh for moment, meter, kwh in self.moves if meter == entity_id and start <= moment < end
        )

    def soc_at(self, moment: datetime) -> float:
        """Return the SOC shown at `moment` (the last reading at or before it)."""
        return [soc for at, soc in self.socs if at <= moment][-1]


async def run_home(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> Flows:
    """Move the meters and the SOC every 5 minutes from START to END; the recorder compiles."""
    assert await async_setup_component(hass, "sensor", {})  # the meters' statistics
    draw = random.Random(13)
    flows = Flows()
    readings = {IMPORT: 1520.4, EXPORT: 310.2, SOLAR: 2210.7}
    soc = 40.0
    for step in range(int((END - START) / STEP)):
        slot = START + step * STEP
        moment = slot + PUBLISH_AFTER
        freezer.move_to(moment)
        # Uneven on purpose: a local hour's energy differs from the UTC hour's beside it.
        moved = {
            IMPORT: round(draw.uniform(0.0, 0.4), 3),
            EXPORT: round(draw.uniform(0.0, 0.15), 3),
            SOLAR: round(draw.uniform(0.0, 0.3), 3),
        }
        for entity_id, kwh in moved.items():
            readings[entity_id] += kwh
            flows.moves.append((moment, entity_id, kwh))
        if step == RESET_STEP:
            readings[IMPORT] = moved[IMPORT]  # restarted from zero, then counted this much
        for entity_id, value in readings.items():
            hass.states.async_set(entity_id, f"{value:.3f}", METER_ATTRIBUTES)
        soc = round(soc + draw.uniform(-0.8, 1.0), 2)
        flows.socs.append((moment, soc))
        hass.states.async_set(
            SOC, str(soc), {"unit_of_measurement": "%", "device_class": "battery"}
        )
        await hass.async_block_till_done()
        compile_at = slot + STEP + COMPILE_AFTER
        freezer.move_to(compile_at)
        async_fire_time_changed(hass, compile_at)
        await async_wait_recording_done(hass)
    return flows


def local_hours(zone: str) -> list[datetime]:
    """Return every local hour (the engine's, DST included) that overlaps the run."""
    tz = dt_util.get_time_zone(zone)
    assert tz is not None
    days = {START.astimezone(tz).date(), END.astimezone(tz).date()}
    return [
        start
        for day in sorted(days)
        for start in day_hour_starts(day, tz)
        if start < END and dt_util.as_utc(start) + HOUR > START
    ]


def within_run(hours: list[datetime]) -> list[datetime]:
    """Return the hours that began after Home Assistant started and ended before it stopped."""
    # Added in UTC: a local time plus an hour is wall-clock arithmetic across a DST change.
    return [s for s in hours if s > START and dt_util.as_utc(s) + HOUR <= END]


@pytest.mark.parametrize(
    ("zone", "clock_hours"),
    [
        ("Asia/Kolkata", [21, 22, 23, 0]),
        ("Asia/Kathmandu", [21, 22, 23, 0]),
        ("Australia/Adelaide", [2, 2, 3, 4]),  # 02:00 twice: the clocks went back
    ],
)
async def test_restart_rebuilds_local_hours_from_5_minute_statistics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    zone: str,
    clock_hours: list[int],
) -> None:
    await hass.config.async_set_time_zone(zone)
    flows = await run_home(hass, freezer)
    hours = local_hours(zone)
    inside = within_run(hours)

    restarted = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    rebuilt = await restarted.reconstruct_periods(hours)

    # No local hour starts on a UTC hour here; every one inside the run is rebuilt ...
    assert all(start.astimezone(UTC).minute in (15, 30) for start in hours)
    assert [start.hour for start in inside] == clock_hours
    assert sorted(rebuilt) == [dt_util.as_utc(start) for start in inside]
    # ... and the hours the run cuts (begun before Home Assistant started, or not over
    # when the statistics were last compiled) stay missing: no estimate from hourly rows.
    for start in hours:
        if start not in inside:
            assert dt_util.as_utc(start) not in rebuilt
    for start in inside:
        end = dt_util.as_utc(start) + HOUR
        hour = rebuilt[dt_util.as_utc(start)]
        imported = flows.kwh(IMPORT, start, end)
        exported = flows.kwh(EXPORT, start, end)
        solar = flows.kwh(SOLAR, start, end)
        assert hour.start == start
        assert hour.grid_imported == pytest.approx(imported, abs=1e-6)
        assert hour.grid_exported == pytest.approx(exported, abs=1e-6)
        assert hour.solar_generated == pytest.approx(solar, abs=1e-6)
        assert hour.home_consumed == pytest.approx(solar + imported - exported, abs=1e-6)
        assert hour.battery_soc_start == flows.soc_at(start)
        assert hour.battery_soc_end == flows.soc_at(end)


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu"])
async def test_consumption_forecast_averages_local_hours(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory, zone: str
) -> None:
    await hass.config.async_set_time_zone(zone)
    flows = await run_home(hass, freezer)
    inside = within_run(local_hours(zone))
    options = {**OPTIONS, CONF_CONSUMPTION_DAYS: 1, CONF_FALLBACK_CONSUMPTION_KWH: 0.5}
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))
    tz = dt_util.get_default_time_zone()
    tomorrow = day_hour_starts(dt_util.now().date() + timedelta(days=1), tz)

    forecast = await data.get_consumption_forecast(tomorrow)

    # Each of yesterday's local hours the recorder has is tomorrow's forecast for that hour.
    measured = {
        start.hour: sum(
            sign * flows.kwh(meter, start, dt_util.as_utc(start) + HOUR)
            for meter, sign in ((SOLAR, 1), (IMPORT, 1), (EXPORT, -1))
        )
        for start in inside
    }
    assert sorted(measured) == [0, 21, 22, 23]
    expected = [measured.get(start.hour, 0.5) for start in tomorrow]
    assert forecast == pytest.approx(expected, abs=1e-6)
