"""The capacity tariff in a running bess: the month's peaks, today's cap, the daily view's fee."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.bess.const import (
    CONF_CAPACITY_DISTINCT_DAYS,
    CONF_CAPACITY_FEE,
    CONF_CAPACITY_HOURS_END,
    CONF_CAPACITY_HOURS_START,
    CONF_CAPACITY_MEASUREMENT_MINUTES,
    CONF_CAPACITY_MONTHS,
    CONF_CAPACITY_NIGHT_WEIGHT,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_PRESET,
    CONF_CAPACITY_WEEKDAYS_ONLY,
    CONF_FALLBACK_CONSUMPTION_KWH,
    CONF_PRICE_ENTITY,
    CONF_SOC_ENTITY,
    DOMAIN,
)
from custom_components.bess.coordinator import capacity_tariff
from custom_components.bess.engine.capacity import PRESETS, CapacityTariff
from custom_components.bess.engine.models import HourlyEvent
from custom_components.bess.engine.timeutil import hour_index

from .conftest import METERS, PRICE, SOC, Home, entry_options, local, set_up

PEAKS = "sensor.home_battery_capacity_peaks"
CAP = "sensor.home_battery_capacity_cap_today"
DAILY_VIEW = "sensor.home_battery_daily_view"
ELLEVIO = PRESETS["ellevio"]  # 3 peaks on 3 days, night hours at half, 80 per kW


def tariff_options(tariff: CapacityTariff, preset: str = "custom") -> dict[str, Any]:
    """Return the options the capacity flow stores for `tariff`."""
    return {
        CONF_CAPACITY_PRESET: preset,
        CONF_CAPACITY_FEE: tariff.fee_per_kw_month,
        CONF_CAPACITY_PEAKS: tariff.peaks,
        CONF_CAPACITY_DISTINCT_DAYS: tariff.distinct_days,
        CONF_CAPACITY_WEEKDAYS_ONLY: tariff.weekdays_only,
        CONF_CAPACITY_HOURS_START: tariff.hours[0],
        CONF_CAPACITY_HOURS_END: tariff.hours[1],
        CONF_CAPACITY_MONTHS: sorted(tariff.months),
        CONF_CAPACITY_NIGHT_WEIGHT: tariff.night_weight,
        CONF_CAPACITY_MEASUREMENT_MINUTES: tariff.measurement_minutes,
    }


def capacity_entry(tariff: CapacityTariff = ELLEVIO, /, **options: Any) -> MockConfigEntry:
    """The test battery with a capacity tariff."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home battery",
        unique_id=SOC,
        data={CONF_SOC_ENTITY: SOC, CONF_PRICE_ENTITY: PRICE, **METERS},
        options=entry_options(**tariff_options(tariff), **options),
    )


def event(start: datetime, grid_import: float, *, load: float | None = None) -> dict[str, Any]:
    """A recorded hour as the store keeps it: `grid_import` kWh, no battery, no solar."""
    _, index = hour_index(start, dt_util.get_default_time_zone())
    return HourlyEvent(
        hour=index,
        timestamp=start + timedelta(hours=1, seconds=5),
        battery_soc_start=50.0,
        battery_soc_end=50.0,
        solar_generated=0.0,
        home_consumed=grid_import if load is None else load,
        grid_imported=grid_import,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=0.0,
        start=start,
        buy_price=1.0,
        sell_price=0.5,
    ).to_dict()


def store(
    hass_storage: dict[str, Any], entry: MockConfigEntry, events: list[dict[str, Any]]
) -> None:
    """Put a history of `events` where bess finds its store at start."""
    key = f"{DOMAIN}.{entry.entry_id}"
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {
            "version": 1,
            "history": {"version": 1, "events": events},
            "schedules": {"version": 1, "schedules": []},
        },
    }


def november(day: int) -> list[dict[str, Any]]:
    """A November day at 1 kWh an hour, except its own peak (a day a week before the 24th)."""
    peak_hour, peak = {20: (18, 3.0), 21: (8, 2.0), 22: (23, 4.0), 23: (12, 1.5)}[day]
    return [
        event(local(2026, 11, day, hour), peak if hour == peak_hour else 1.0) for hour in range(24)
    ]


async def next_hour(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home, **flows: float
) -> None:
    """Let one hour pass: the meters move, then the clock reaches the next full hour."""
    home.advance(**flows)
    now = dt_util.utcnow()
    freezer.move_to(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def peaks_of(hass: HomeAssistant) -> list[tuple[str, float]]:
    """Return the counted peaks the sensor shows: (start, kW)."""
    return [(p["start"], p["kw"]) for p in hass.states.get(PEAKS).attributes["peaks"]]


async def test_peaks_come_from_the_recorded_hours_and_survive_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(local(2026, 11, 24, 8, 30))
    home.set_prices(date(2026, 11, 24))
    entry = capacity_entry()
    # Last month's 9 kW hour does not count in November.
    history = [event(local(2026, 10, 31, 18), 9.0)] + [
        e for day in (20, 21, 22, 23) for e in november(day)
    ]
    store(hass_storage, entry, history)
    await set_up(hass, entry)

    # Daily highs: 20th 3.0 kW, 21st 2.0, 22nd 2.0 (4.0 at 23:00, a night hour at half),
    # 23rd 1.5. The three highest: 3.0, 2.0, 2.0 → mean 2.333 kW, fee 80 × 2.333.
    state = hass.states.get(PEAKS)
    assert float(state.state) == pytest.approx(7.0 / 3.0)
    assert state.attributes["unit_of_measurement"] == "kW"
    assert peaks_of(hass) == [
        ("2026-11-20T18:00:00+01:00", 3.0),
        ("2026-11-21T08:00:00+01:00", 2.0),
        ("2026-11-22T23:00:00+01:00", 2.0),
    ]
    assert [p["day"] for p in state.attributes["peaks"]] == [
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ]
    assert state.attributes["peaks_counted"] == 3
    assert state.attributes["month"] == "2026-11"
    assert state.attributes["fee_so_far"] == pytest.approx(80.0 * 7.0 / 3.0, abs=0.01)

    # A 5 kW hour today becomes the month's highest peak.
    await next_hour(hass, freezer, home, grid_import=1.0)  # 08:30 → 09:00
    await next_hour(hass, freezer, home, grid_import=5.0)  # 09:00 → 10:00
    assert float(hass.states.get(PEAKS).state) == pytest.approx((5.0 + 3.0 + 2.0) / 3.0)

    # A restart mid-month: the peaks come back from the stored history.
    freezer.move_to(local(2026, 11, 24, 10, 20))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(PEAKS).state) == pytest.approx((5.0 + 3.0 + 2.0) / 3.0)
    assert peaks_of(hass)[0] == ("2026-11-24T09:00:00+01:00", 5.0)


async def test_the_cap_today_is_the_plans_and_the_daily_view_carries_the_fee(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(local(2026, 11, 24, 10, 30))
    home.set_prices(date(2026, 11, 24))
    # 2.2 kW of load all day, against the month's three highest peaks of 3.0, 2.0, 2.0 kW.
    entry = capacity_entry(**{CONF_FALLBACK_CONSUMPTION_KWH: 2.2})
    store(hass_storage, entry, [e for day in (20, 21, 22, 23) for e in november(day)])
    await set_up(hass, entry)
    manager = entry.runtime_data.manager

    outlook = manager.capacity_outlook()
    assert outlook is not None
    assert outlook.cap_kw is not None
    state = hass.states.get(CAP)
    assert float(state.state) == pytest.approx(outlook.cap_kw)
    assert state.attributes["planned_peak_kw"] == pytest.approx(outlook.peak_kw, abs=1e-3)
    assert state.attributes["fee_increase"] == pytest.approx(outlook.fee_increase, abs=0.01)
    assert state.attributes["load_exceeds_cap"] is False
    assert state.attributes["counts"] is True
    # Every planned counted hour holds the cap (weight 1 by day, 0.5 at night).
    plan = manager.latest_result
    for index, period in enumerate(plan.periods):
        weight = outlook.weights[index]
        assert weight * period.grid_import_kwh <= outlook.cap_kw + 1e-6

    # The fee is its own line of the daily view, beside (never inside) the energy savings.
    # Without the battery today's peak would be 2.2 kW, replacing a 2.0 of the three counted:
    # 80 × 0.2 / 3. The plan keeps today's peak lower.
    attributes = hass.states.get(DAILY_VIEW).attributes
    assert attributes["capacity_fee_source"] == "planned"
    assert attributes["capacity_fee_baseline"] == pytest.approx(80.0 * 0.2 / 3.0)
    assert attributes["capacity_fee"] < attributes["capacity_fee_baseline"] - 1.0
    assert attributes["capacity_fee"] == pytest.approx(
        80.0 * max(outlook.peak_kw - 2.0, 0.0) / 3.0, abs=0.01
    )
    assert attributes["capacity_savings"] == pytest.approx(
        attributes["capacity_fee_baseline"] - attributes["capacity_fee"]
    )
    assert attributes["total_savings"] == pytest.approx(
        sum(h["savings"] or 0.0 for h in attributes["hours"])
    )
    # Yesterday is a fact: recorded peaks. The 23rd's 1.5 kW is below the month's three
    # highest before it (3.0, 2.0, 2.0): it adds nothing.
    response = await hass.services.async_call(
        DOMAIN,
        "get_daily_view",
        {"config_entry_id": entry.entry_id, "date": "2026-11-23"},
        blocking=True,
        return_response=True,
    )
    assert response["capacity_fee_source"] == "actual"
    assert response["capacity_fee"] == pytest.approx(0.0)
    response = await hass.services.async_call(
        DOMAIN,
        "get_daily_view",
        {"config_entry_id": entry.entry_id, "date": "2026-11-20"},
        blocking=True,
        return_response=True,
    )
    # The month's first peak: 3.0 kW of the three counted → 80 × 3.0 / 3.
    assert response["capacity_fee"] == pytest.approx(80.0)
    assert response["capacity_fee_baseline"] == pytest.approx(80.0)  # no battery then
    assert response["capacity_savings"] == pytest.approx(0.0)


async def test_the_month_boundary_starts_a_new_months_peaks(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(local(2026, 11, 30, 23, 30))
    home.set_prices(date(2026, 11, 30))
    entry = capacity_entry()
    store(hass_storage, entry, [e for day in (20, 21, 22, 23) for e in november(day)])
    await set_up(hass, entry)
    assert float(hass.states.get(PEAKS).state) == pytest.approx(7.0 / 3.0)
    # The plan made now runs into December, which it leaves uncapped (a December plan caps it).
    outlook = entry.runtime_data.manager.capacity_outlook()
    december = local(2026, 12, 1, 0)
    first_december = outlook.weights[
        round((december - outlook.start).total_seconds() / 60 / outlook.period_minutes)
    ]
    assert first_december == 0.0

    home.set_prices(date(2026, 12, 1))
    await next_hour(hass, freezer, home, grid_import=1.0)  # 23:30 → 00:00
    state = hass.states.get(PEAKS)
    assert float(state.state) == 0.0
    assert state.attributes["peaks"] == []
    assert state.attributes["month"] == "2026-12"
    assert state.attributes["fee_so_far"] == 0.0
    assert entry.runtime_data.manager.capacity_outlook().weights[0] == 0.5  # night, December

    await next_hour(hass, freezer, home, grid_import=2.0)  # 00:00 → 01:00, a night hour
    assert peaks_of(hass) == [("2026-12-01T00:00:00+01:00", 1.0)]
    assert float(hass.states.get(PEAKS).state) == pytest.approx(1.0 / 3.0)


async def test_the_doubled_autumn_hour_is_two_peaks(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    tz = dt_util.get_default_time_zone()
    freezer.move_to(local(2026, 10, 25, 12, 30))
    home.set_prices(date(2026, 10, 25))
    # Any hour counts, several a day; no night rebate.
    tariff = CapacityTariff(fee_per_kw_month=60.0, peaks=3, distinct_days=False)
    entry = capacity_entry(tariff)
    utc_two = datetime(2026, 10, 25, 0, tzinfo=dt_util.UTC)  # 02:00 summer time
    first, second = utc_two.astimezone(tz), (utc_two + timedelta(hours=1)).astimezone(tz)
    assert (first.hour, second.hour) == (2, 2)
    store(
        hass_storage,
        entry,
        [event(first, 4.0), event(second, 3.0), event(local(2026, 10, 25, 8), 2.0)],
    )
    await set_up(hass, entry)

    assert peaks_of(hass) == [
        ("2026-10-25T02:00:00+02:00", 4.0),
        ("2026-10-25T02:00:00+01:00", 3.0),
        ("2026-10-25T08:00:00+01:00", 2.0),
    ]
    assert float(hass.states.get(PEAKS).state) == pytest.approx(3.0)
    # Today's plan over the 25-hour day is made under the cap, and today's fee (recorded
    # hours, then planned ones) is the month's whole fee: nothing was recorded before today.
    outlook = entry.runtime_data.manager.capacity_outlook()
    assert outlook is not None
    assert outlook.cap_kw is not None
    assert len(outlook.weights) >= 25 - 12
    attributes = hass.states.get(DAILY_VIEW).attributes
    assert len(attributes["hours"]) == 25
    assert attributes["capacity_fee_source"] == "planned"
    assert attributes["capacity_fee"] >= 60.0 * 3.0 - 1e-6


async def test_load_alone_above_the_cap_is_said_so(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(local(2026, 11, 24, 10, 30))
    home.set_prices(date(2026, 11, 24))
    # 9 kWh an hour against a 5 kW, 10 kWh battery: at least 4 kW comes from the grid in
    # every hour, far above the month's recorded peaks of 2–3 kW.
    entry = capacity_entry(**{CONF_FALLBACK_CONSUMPTION_KWH: 9.0})
    store(hass_storage, entry, [e for day in (20, 21, 22, 23) for e in november(day)])
    await set_up(hass, entry)

    state = hass.states.get(CAP)
    assert state.attributes["load_exceeds_cap"] is True
    # The plan says so and does not pretend otherwise: its peak is the real one.
    assert float(state.state) >= 4.0
    assert state.attributes["planned_peak_kw"] >= 4.0
    assert state.attributes["fee_increase"] > 0.0


async def test_without_a_tariff_there_are_no_capacity_sensors_nor_fee_line(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    await set_up(hass, mock_config_entry)

    assert hass.states.get(PEAKS) is None
    assert hass.states.get(CAP) is None
    assert "capacity_fee" not in hass.states.get(DAILY_VIEW).attributes
    assert mock_config_entry.runtime_data.manager.capacity_tariff is None
    assert "import_cap_kw" not in hass.states.get("sensor.home_battery_control_status").attributes


def test_options_become_the_tariff_and_hand_edits_no_tariff_can_have_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert capacity_tariff({}) is None
    assert capacity_tariff({CONF_CAPACITY_PRESET: "none"}) is None
    assert capacity_tariff(tariff_options(ELLEVIO, "ellevio")) == ELLEVIO
    # A preset's rules fill what the options lack.
    assert capacity_tariff({CONF_CAPACITY_PRESET: "ellevio"}) == ELLEVIO
    broken = {**tariff_options(ELLEVIO), CONF_CAPACITY_NIGHT_WEIGHT: 0.0}
    assert capacity_tariff(broken) is None
    assert "not valid" in caplog.text
