"""Live hour measurement, meter resets and recorder reconstruction of HomeAssistantEnergyData."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.models import StatisticMeanType, StatisticMetaData
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.bess.const import (
    CONF_BATTERY_CHARGE_METER,
    CONF_BATTERY_DISCHARGE_METER,
    CONF_CAPACITY_KWH,
    CONF_CHARGE_EFFICIENCY,
    CONF_CONSUMPTION_DAYS,
    CONF_CONSUMPTION_ENTITY,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_FALLBACK_CONSUMPTION_KWH,
    CONF_GRID_EXPORT_METER,
    CONF_GRID_IMPORT_METER,
    CONF_SOC_ENTITY,
    CONF_SOLAR_METER,
)
from custom_components.bess.engine.ports import DataUnavailableError, HourMeasurement
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.energy import EnergySourceConfig, HomeAssistantEnergyData

TZ = "Europe/Stockholm"
DAY = date(2025, 3, 10)
CAPACITY_KWH = 10.0

METERS = {
    "solar": "sensor.inverter_pv_energy_total",
    "grid_import": "sensor.grid_energy_import_total",
    "grid_export": "sensor.grid_energy_export_total",
    "battery_charge": "sensor.battery_charge_energy_total",
    "battery_discharge": "sensor.battery_discharge_energy_total",
}
SOC = "sensor.battery_state_of_charge"
OPTIONS = {
    CONF_SOC_ENTITY: SOC,
    CONF_SOLAR_METER: METERS["solar"],
    CONF_GRID_IMPORT_METER: METERS["grid_import"],
    CONF_GRID_EXPORT_METER: METERS["grid_export"],
    CONF_BATTERY_CHARGE_METER: METERS["battery_charge"],
    CONF_BATTERY_DISCHARGE_METER: METERS["battery_discharge"],
}
START_READING_KWH = {
    "solar": 2210.7,
    "grid_import": 1520.4,
    "grid_export": 310.2,
    "battery_charge": 640.0,
    "battery_discharge": 600.5,
}

# A March morning: night charging from the grid, morning peak from the battery, solar after 7.
SOLAR = [0, 0, 0, 0, 0, 0, 0, 0.2, 0.6, 1.1, 1.5, 1.8, 1.9, 1.7]
CHARGE = [1.5, 1.5, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.8, 1.0, 0.9, 0.5]
DISCHARGE = [0, 0, 0.3, 0.3, 0.2, 0.4, 0.8, 0.9, 0.5, 0, 0, 0, 0, 0]
HOME = [0.4, 0.35, 0.35, 0.3, 0.3, 0.45, 0.9, 1.1, 0.8, 0.6, 0.5, 0.6, 0.7, 0.9]
NET = [h - s + c - d for h, s, c, d in zip(HOME, SOLAR, CHARGE, DISCHARGE, strict=True)]
FLOWS = {
    "solar": SOLAR,
    "grid_import": [max(n, 0.0) for n in NET],
    "grid_export": [max(-n, 0.0) for n in NET],
    "battery_charge": CHARGE,
    "battery_discharge": DISCHARGE,
}
SOC_EDGES = list(
    accumulate(
        (
            100 * (0.95 * c - d / 0.95) / CAPACITY_KWH
            for c, d in zip(CHARGE, DISCHARGE, strict=True)
        ),
        initial=20.0,
    )
)
# The import meter restarts from zero at 01:21, after counting 0.6 kWh of hour 1.
RESET_HOUR = 1
BEFORE_RESET_KWH = 0.6


def meter_readings(flow: str) -> list[float]:
    """Return what the meter shows at each boundary 00:00 … 14:00 (reset included)."""
    readings = [START_READING_KWH[flow]]
    for hour, kwh in enumerate(FLOWS[flow]):
        if flow == "grid_import" and hour == RESET_HOUR:
            readings.append(kwh - BEFORE_RESET_KWH)
        else:
            readings.append(readings[-1] + kwh)
    return readings


def set_meter(hass: HomeAssistant, flow: str, value: float | str) -> None:
    """Publish a meter state as an energy sensor does."""
    hass.states.async_set(
        METERS[flow],
        str(value),
        {"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing"},
    )


def set_soc(hass: HomeAssistant, value: float | str) -> None:
    """Publish the battery SOC."""
    hass.states.async_set(SOC, str(value), {"unit_of_measurement": "%", "device_class": "battery"})


def energy_metadata(statistic_id: str) -> Any:
    """The recorder's metadata of a kWh meter's statistics.

    Home Assistant 2025.11 and newer need the unit class with the unit (`unit_class`); older
    releases have no such column and refuse the key.
    """
    metadata: dict[str, Any] = {
        "has_mean": False,
        "mean_type": StatisticMeanType.NONE,
        "has_sum": True,
        "name": None,
        "source": "recorder",
        "statistic_id": statistic_id,
        "unit_of_measurement": "kWh",
    }
    if "unit_class" in StatisticMetaData.__annotations__:
        metadata["unit_class"] = "energy"
    return metadata


def import_day_statistics(hass: HomeAssistant, hour_starts: list[datetime]) -> None:
    """Import the hourly statistics the recorder compiles for these meters."""
    for flow, entity_id in METERS.items():
        readings = meter_readings(flow)
        sums = list(accumulate(FLOWS[flow], initial=0.0))
        rows: list[Any] = [
            # The previous compiled row, outside any window the tests read.
            {"start": hour_starts[0] - timedelta(days=3), "state": readings[0], "sum": 0.0}
        ]
        rows += [
            {"start": start, "state": readings[i + 1], "sum": sums[i + 1]}
            for i, start in enumerate(hour_starts)
        ]
        async_import_statistics(hass, energy_metadata(entity_id), rows)


def assert_same_hour(actual: HourMeasurement, expected: HourMeasurement) -> None:
    """Compare two measurements field by field (kWh and % to 1e-9)."""
    left, right = asdict(actual), asdict(expected)
    assert left.pop("start") == right.pop("start")
    assert left == pytest.approx(right, abs=1e-9)


async def run_live_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    data: HomeAssistantEnergyData,
    day: date = DAY,
) -> dict[datetime, HourMeasurement]:
    """Publish every reading of hours 0–13 at its time and measure each hour at its end."""
    starts = day_hour_starts(day, dt_util.get_default_time_zone())
    readings = {flow: meter_readings(flow) for flow in METERS}
    measured: dict[datetime, HourMeasurement] = {}
    for boundary_index in range(15):
        # Absolute hours from midnight: exact across the DST change.
        boundary = dt_util.as_local(dt_util.as_utc(starts[0]) + timedelta(hours=boundary_index))
        if boundary_index == RESET_HOUR + 1:
            # Inside hour 1: the last count before the reset, then the meter restarts.
            freezer.move_to(dt_util.as_utc(starts[RESET_HOUR]) + timedelta(minutes=20))
            set_meter(hass, "grid_import", readings["grid_import"][RESET_HOUR] + BEFORE_RESET_KWH)
            await hass.async_block_till_done()
            freezer.move_to(dt_util.as_utc(starts[RESET_HOUR]) + timedelta(minutes=21))
            set_meter(hass, "grid_import", 0.0)
            await hass.async_block_till_done()
        freezer.move_to(boundary)
        for flow in METERS:
            set_meter(hass, flow, round(readings[flow][boundary_index], 6))
        set_soc(hass, round(SOC_EDGES[boundary_index], 6))
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)
        freezer.tick(timedelta(seconds=5))
        result = await data.measure_period(
            dt_util.as_local(dt_util.as_utc(boundary) - timedelta(hours=1))
        )
        if boundary_index > 0:
            assert result is not None, f"hour {boundary_index - 1} not measured"
            # UTC keys: the two local 02:00 hours of an autumn day are equal as local keys.
            measured[dt_util.as_utc(result.start)] = result
    return measured


async def test_restart_at_1430_rebuilds_hours_0_to_13_equal_to_live(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    starts = day_hour_starts(DAY, dt_util.get_default_time_zone())[:14]
    freezer.move_to(starts[0] - timedelta(minutes=30))
    import_day_statistics(hass, starts)
    await async_wait_recording_done(hass)

    live = await run_live_day(
        hass, freezer, HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    )

    freezer.move_to(starts[0] + timedelta(hours=14, minutes=30))
    restarted = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    rebuilt = await restarted.reconstruct_periods(starts)

    assert list(rebuilt) == starts
    for start in starts:
        assert_same_hour(rebuilt[start], live[start])
    # The numbers themselves: hour 1 charged the battery from the grid across the meter reset.
    hour1 = rebuilt[starts[1]]
    assert hour1.grid_imported == pytest.approx(1.85)
    assert hour1.home_consumed == pytest.approx(0.35)
    assert hour1.battery_soc_end == pytest.approx(20 + 2 * 14.25)
    hour12 = rebuilt[starts[12]]
    assert hour12.grid_exported == pytest.approx(0.3)
    assert hour12.home_consumed == pytest.approx(0.7)


async def test_autumn_dst_day_rebuilds_both_2_oclock_hours(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    autumn = date(2025, 10, 26)
    starts = day_hour_starts(autumn, dt_util.get_default_time_zone())[:14]
    freezer.move_to(dt_util.as_utc(starts[0]) - timedelta(minutes=30))
    import_day_statistics(hass, starts)
    await async_wait_recording_done(hass)
    options = EnergySourceConfig.from_entry_options(OPTIONS)

    live = await run_live_day(hass, freezer, HomeAssistantEnergyData(hass, options), autumn)
    rebuilt = await HomeAssistantEnergyData(hass, options).reconstruct_periods(starts)

    assert (starts[2].hour, starts[3].hour) == (2, 2)
    assert len(rebuilt) == 14
    assert len(live) == 14
    # Python never finds a local time of the doubled hour equal to another zone's: look up in UTC.
    utc = [dt_util.as_utc(start) for start in starts]
    assert sorted(rebuilt) == utc
    for key in utc:
        assert_same_hour(rebuilt[key], live[key])
    assert rebuilt[utc[3]].start.fold == 1
    assert rebuilt[utc[2]].battery_discharged == pytest.approx(DISCHARGE[2])
    assert rebuilt[utc[3]].battery_soc_start == pytest.approx(SOC_EDGES[3])
    assert rebuilt[utc[3]].battery_soc_end == pytest.approx(SOC_EDGES[4])


async def test_meter_reset_mid_hour_counts_energy_before_and_after(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    starts = day_hour_starts(DAY, dt_util.get_default_time_zone())
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    live = await run_live_day(hass, freezer, data)

    hour1 = live[starts[1]]
    # 0.6 kWh counted before the reset + 1.25 kWh from zero: never negative, never zero.
    assert hour1.grid_imported == pytest.approx(1.85)
    assert hour1.grid_exported == 0.0
    assert hour1.home_consumed == pytest.approx(0.35)
    # The hour after the reset is a plain delta again.
    assert live[starts[2]].grid_imported == pytest.approx(0.35 - 0.3)


async def test_reset_without_history_counts_the_new_reading(hass: HomeAssistant) -> None:
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    start = dt_util.start_of_local_day()
    for flow, value in START_READING_KWH.items():
        set_meter(hass, flow, value)
    set_soc(hass, 40)
    assert await data.measure_period(start - timedelta(hours=1)) is None  # nothing before it

    for flow, value in START_READING_KWH.items():
        set_meter(hass, flow, value + 0.5)
    set_meter(hass, "grid_import", 0.8)  # reset during the hour
    set_soc(hass, 45)
    measured = await data.measure_period(start)

    assert measured is not None
    assert measured.grid_imported == pytest.approx(0.8)
    assert measured.solar_generated == pytest.approx(0.5)
    assert measured.battery_soc_start == 40.0
    assert measured.battery_soc_end == 45.0
    # home = solar + import − export + discharge − charge
    assert measured.home_consumed == pytest.approx(0.5 + 0.8 - 0.5 + 0.5 - 0.5)


async def test_unavailable_meter_falls_back_to_recorder_statistics(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    starts = day_hour_starts(DAY, dt_util.get_default_time_zone())
    freezer.move_to(starts[5] + timedelta(minutes=1))
    import_day_statistics(hass, starts[:14])
    readings = {flow: meter_readings(flow) for flow in METERS}
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    # SOC history for the edges of hours 5 and 6.
    for index in (5, 6, 7):
        freezer.move_to(starts[index])
        set_soc(hass, round(SOC_EDGES[index], 6))
        for flow in METERS:
            set_meter(hass, flow, readings[flow][index])
        if index == 6:
            set_meter(hass, "grid_export", "unavailable")
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)
        measured = await data.measure_period(starts[index - 1])
        if index == 5:
            continue  # the first boundary only primes the snapshot
        assert measured is not None
        hour = index - 1
        assert measured.grid_exported == pytest.approx(FLOWS["grid_export"][hour])
        assert measured.grid_imported == pytest.approx(FLOWS["grid_import"][hour])
        assert measured.home_consumed == pytest.approx(HOME[hour])
        assert measured.battery_soc_start == pytest.approx(SOC_EDGES[hour])


async def test_first_hour_after_restart_is_measured_from_recorded_states(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    starts = day_hour_starts(DAY, dt_util.get_default_time_zone())
    readings = {flow: meter_readings(flow) for flow in METERS}
    for index in (12, 13):
        freezer.move_to(starts[index])
        for flow in METERS:
            set_meter(hass, flow, readings[flow][index])
        set_soc(hass, round(SOC_EDGES[index], 6))
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)
    # Restarted at 12:30 without a saved snapshot; hour 12's statistics are not compiled yet.
    restarted = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    freezer.tick(timedelta(seconds=3))

    measured = await restarted.measure_period(starts[12])

    assert measured is not None
    assert measured.solar_generated == pytest.approx(SOLAR[12])
    assert measured.grid_exported == pytest.approx(FLOWS["grid_export"][12])
    assert measured.battery_charged == pytest.approx(CHARGE[12])
    assert measured.home_consumed == pytest.approx(HOME[12])
    assert measured.battery_soc_start == pytest.approx(SOC_EDGES[12])


async def test_unavailable_meter_without_history_gives_no_hour(hass: HomeAssistant) -> None:
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    start = dt_util.start_of_local_day()
    for flow, value in START_READING_KWH.items():
        set_meter(hass, flow, value)
    set_soc(hass, 40)
    await data.measure_period(start - timedelta(hours=1))
    set_meter(hass, "solar", "unavailable")
    set_soc(hass, 42)

    assert await data.measure_period(start) is None


async def test_snapshot_survives_a_restart(hass: HomeAssistant) -> None:
    options = EnergySourceConfig.from_entry_options(OPTIONS)
    before = HomeAssistantEnergyData(hass, options)
    start = dt_util.start_of_local_day()
    for flow, value in START_READING_KWH.items():
        set_meter(hass, flow, value)
    set_soc(hass, 30)
    await before.measure_period(start - timedelta(hours=1))
    saved = before.snapshot_state()

    after = HomeAssistantEnergyData(hass, options)
    after.restore_snapshot(saved)
    set_meter(hass, "grid_import", START_READING_KWH["grid_import"] + 2.0)
    set_meter(hass, "battery_charge", START_READING_KWH["battery_charge"] + 1.9)
    set_soc(hass, 48)
    measured = await after.measure_period(start)

    assert measured is not None
    assert measured.grid_imported == pytest.approx(2.0)
    assert measured.battery_charged == pytest.approx(1.9)
    assert measured.home_consumed == pytest.approx(0.1)
    assert (measured.battery_soc_start, measured.battery_soc_end) == (30.0, 48.0)


async def test_consumption_sensor_in_wh_is_used_instead_of_the_balance(hass: HomeAssistant) -> None:
    options = {**OPTIONS, CONF_CONSUMPTION_ENTITY: "sensor.house_energy"}
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))
    start = dt_util.start_of_local_day()
    for flow, value in START_READING_KWH.items():
        set_meter(hass, flow, value)
    hass.states.async_set("sensor.house_energy", "5000000", {"unit_of_measurement": "Wh"})
    set_soc(hass, 30)
    await data.measure_period(start - timedelta(hours=1))
    hass.states.async_set("sensor.house_energy", "5000750", {"unit_of_measurement": "Wh"})
    set_meter(hass, "grid_import", START_READING_KWH["grid_import"] + 1.0)
    measured = await data.measure_period(start)

    assert measured is not None
    assert measured.home_consumed == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("state", "reason"),
    [("unavailable", "SOC is unavailable"), ("unknown", "SOC is unknown"), ("n/a", "not a number")],
)
async def test_soc_unknown_raises_data_unavailable(
    hass: HomeAssistant, state: str, reason: str
) -> None:
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    set_soc(hass, state)
    with pytest.raises(DataUnavailableError, match=reason) as err:
        await data.get_battery_soc()
    assert err.value.source == SOC


async def test_soc_reads_the_state_as_float(hass: HomeAssistant) -> None:
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    set_soc(hass, "57.5")
    assert await data.get_battery_soc() == 57.5


async def test_missing_soc_entity_says_so(hass: HomeAssistant) -> None:
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))
    with pytest.raises(DataUnavailableError, match="SOC entity not found"):
        await data.get_battery_soc()


def _consumption_statistics(hass: HomeAssistant, first: datetime, days: int) -> list[float]:
    """Import `days` of hourly consumption; return the expected mean per hour of the day."""
    rows: list[Any] = [{"start": first - timedelta(hours=1), "state": 100.0, "sum": 0.0}]
    total = 0.0
    means = [0.0] * 24
    for day in range(days):
        for hour in range(24):
            kwh = 0.3 + 0.05 * hour + 0.02 * day
            means[hour] += kwh / days
            total += kwh
            start = first + timedelta(days=day, hours=hour)
            rows.append({"start": start, "state": 100.0 + total, "sum": total})
    async_import_statistics(
        hass,
        energy_metadata("sensor.house_energy"),
        rows,
    )
    return means


async def test_consumption_forecast_averages_the_same_hour_of_the_last_days(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    tz = dt_util.get_default_time_zone()
    first = day_hour_starts(date(2025, 3, 3), tz)[0]
    freezer.move_to(day_hour_starts(date(2025, 3, 10), tz)[0] + timedelta(minutes=30))
    means = _consumption_statistics(hass, first, 7)
    await async_wait_recording_done(hass)
    options = {**OPTIONS, CONF_CONSUMPTION_ENTITY: "sensor.house_energy"}
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))

    forecast = await data.get_consumption_forecast(day_hour_starts(date(2025, 3, 11), tz))

    assert len(forecast) == 24
    assert forecast == pytest.approx(means)
    assert forecast[18] == pytest.approx(0.3 + 0.05 * 18 + 0.02 * 3)


async def test_consumption_forecast_uses_fixed_value_while_history_is_short(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    tz = dt_util.get_default_time_zone()
    first = day_hour_starts(date(2025, 3, 10), tz)[0]
    freezer.move_to(first + timedelta(hours=23, minutes=55))
    _consumption_statistics(hass, first, 1)
    await async_wait_recording_done(hass)
    options = {
        **OPTIONS,
        CONF_CONSUMPTION_ENTITY: "sensor.house_energy",
        CONF_CONSUMPTION_DAYS: 7,
        CONF_FALLBACK_CONSUMPTION_KWH: 0.65,
    }
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))

    forecast = await data.get_consumption_forecast(day_hour_starts(date(2025, 3, 11), tz))

    assert forecast == [0.65] * 24


async def test_consumption_forecast_derives_home_from_the_meters(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone(TZ)
    tz = dt_util.get_default_time_zone()
    starts = day_hour_starts(DAY, tz)[:14]
    freezer.move_to(starts[0] + timedelta(hours=14, minutes=30))
    import_day_statistics(hass, starts)
    await async_wait_recording_done(hass)
    options = {**OPTIONS, CONF_CONSUMPTION_DAYS: 1, CONF_FALLBACK_CONSUMPTION_KWH: 0.5}
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))

    forecast = await data.get_consumption_forecast(day_hour_starts(DAY + timedelta(days=1), tz))

    assert forecast[:14] == pytest.approx(HOME)
    assert forecast[14:] == [0.5] * 10


async def test_unavailable_meter_keeps_the_hour_when_the_soc_is_not_recorded(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The snapshots know both edge SOCs; a SOC excluded from the recorder must not matter."""
    await hass.config.async_set_time_zone(TZ)
    starts = day_hour_starts(DAY, dt_util.get_default_time_zone())
    freezer.move_to(starts[5] + timedelta(minutes=1))
    import_day_statistics(hass, starts[:14])
    readings = {flow: meter_readings(flow) for flow in METERS}
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(OPTIONS))

    async def soc_not_recorded(*args: object, **kwargs: object) -> list[None]:
        return [None, None]

    with patch.object(HomeAssistantEnergyData, "_async_values_at", soc_not_recorded):
        for index in (5, 6):
            freezer.move_to(starts[index])
            set_soc(hass, round(SOC_EDGES[index], 6))
            for flow in METERS:
                set_meter(hass, flow, readings[flow][index])
            if index == 6:
                set_meter(hass, "grid_export", "unavailable")
            await hass.async_block_till_done()
            await async_wait_recording_done(hass)
            measured = await data.measure_period(starts[index - 1])
    assert measured is not None
    assert measured.grid_exported == pytest.approx(FLOWS["grid_export"][5])
    assert measured.battery_soc_start == pytest.approx(SOC_EDGES[5])
    assert measured.battery_soc_end == pytest.approx(SOC_EDGES[6])


@pytest.mark.parametrize(
    ("soc_end", "grid_import", "charged", "discharged", "home"),
    [
        # SOC 60 → 100 % of 10 kWh with 4.7 kWh bought: 4 kWh stored, 4/0.95 charged.
        (100.0, 4.7, 4 / 0.95, 0.0, 4.7 - 4 / 0.95),
        # SOC 60 → 40 %: 2 kWh out of the cells, 2 × 0.95 delivered to the home.
        (40.0, 0.3, 0.0, 2 * 0.95, 0.3 + 2 * 0.95),
    ],
)
async def test_without_battery_meters_the_battery_flows_come_from_the_soc(
    hass: HomeAssistant,
    soc_end: float,
    grid_import: float,
    charged: float,
    discharged: float,
    home: float,
) -> None:
    await hass.config.async_set_time_zone(TZ)
    options = {
        CONF_SOC_ENTITY: SOC,
        CONF_GRID_IMPORT_METER: METERS["grid_import"],
        CONF_GRID_EXPORT_METER: METERS["grid_export"],
        CONF_CAPACITY_KWH: 10.0,
        CONF_CHARGE_EFFICIENCY: 0.95,
        CONF_DISCHARGE_EFFICIENCY: 0.95,
    }
    data = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))
    start = day_hour_starts(DAY, dt_util.get_default_time_zone())[10]
    set_meter(hass, "grid_import", 1000.0)
    set_meter(hass, "grid_export", 50.0)
    set_soc(hass, 60.0)
    data.restore_snapshot(data.take_snapshot(start).to_dict())
    set_meter(hass, "grid_import", 1000.0 + grid_import)
    set_soc(hass, soc_end)

    measured = await data.measure_period(start)

    assert measured is not None
    assert measured.battery_charged == pytest.approx(charged)
    assert measured.battery_discharged == pytest.approx(discharged)
    assert measured.home_consumed == pytest.approx(home)
    assert measured.grid_imported == pytest.approx(grid_import)
