"""Quarter-hour prices are planned, controlled and recorded in quarter-hours.

With the planning period on "auto" bess follows the price source: Nord Pool's quarter-hourly
day-ahead prices give 15-minute periods. Scenario 2 then runs at every quarter: the quarter
that ended is recorded from the meters, and the rest is re-planned from the real SOC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.bess.const import CONF_PERIOD_MINUTES, DOMAIN
from custom_components.bess.engine.timeutil import day_period_starts

from .conftest import PRICE, PRICE_SHAPE, SOC, Home, entry_options, local, set_up

QUARTER = timedelta(minutes=15)
DAY = date(2026, 11, 24)  # the frozen day of every test here


def quarter_entries(day: date) -> list[dict[str, Any]]:
    """Nord Pool (HACS) quarter-hour entries of a local day: the hour's price, then steps."""
    tz = dt_util.get_default_time_zone()
    return [
        {
            "start": start.isoformat(),
            "end": (start.astimezone(UTC) + QUARTER).astimezone(tz).isoformat(),
            "value": PRICE_SHAPE[start.hour] + 0.05 * (start.minute // 15),
        }
        for start in day_period_starts(day, tz, 15)
    ]


def publish_quarters(home: Home, day: date) -> None:
    """Publish today's and tomorrow's quarter-hour prices."""
    home.hass.states.async_set(
        PRICE,
        str(PRICE_SHAPE[10]),
        {
            "unit_of_measurement": "SEK/kWh",
            "raw_today": quarter_entries(day),
            "raw_tomorrow": quarter_entries(day + timedelta(days=1)),
            "tomorrow_valid": True,
        },
    )


def entry(**options: Any) -> MockConfigEntry:
    """The test battery's entry with these options."""
    from custom_components.bess.const import CONF_PRICE_ENTITY, CONF_SOC_ENTITY

    from .conftest import METERS

    return MockConfigEntry(
        domain=DOMAIN,
        title="Home battery",
        unique_id=SOC,
        data={CONF_SOC_ENTITY: SOC, CONF_PRICE_ENTITY: PRICE, **METERS},
        options=entry_options(**options),
    )


async def next_quarter(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home, grid_import: float
) -> datetime:
    """Let one quarter pass: the meters move, then the clock reaches the next quarter."""
    home.advance(grid_import=grid_import, charge=0.0)
    now = dt_util.utcnow()
    boundary = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) + QUARTER
    freezer.move_to(boundary)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    return boundary


async def test_quarter_hour_prices_are_planned_and_recorded_in_quarters(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home
) -> None:
    freezer.move_to(local(2026, 11, 24, 10, 37))
    publish_quarters(home, DAY)
    config = entry()
    await set_up(hass, config)
    manager = config.runtime_data.manager

    assert manager.period_minutes == 15
    plan = manager.latest_result
    assert plan is not None
    assert plan.period_minutes == 15
    assert plan.start == local(2026, 11, 24, 10, 30)  # the quarter in progress
    assert len(plan.periods) == 54 + 96  # 10:30 … 23:45 today, then all of tomorrow
    # The quarter prices reach the plan: 10:30 costs 0.10 more than 10:00.
    assert plan.periods[0].buy_price == pytest.approx(PRICE_SHAPE[10] + 0.10)

    await next_quarter(hass, freezer, home, grid_import=0.3)  # 10:37 → 10:45: no start reading
    await next_quarter(hass, freezer, home, grid_import=0.4)  # 10:45 → 11:00
    event = manager.history.get_event_at(local(2026, 11, 24, 10, 45))
    assert event is not None
    assert event.period_minutes == 15
    assert event.grid_imported == pytest.approx(0.4)
    assert event.buy_price == pytest.approx(PRICE_SHAPE[10] + 0.15)
    assert manager.history.get_event_at(local(2026, 11, 24, 10, 30)) is None  # never invented

    # A tick inside the quarter does nothing.
    schedules = len(manager.schedules.get_all_schedules_today())
    freezer.move_to(local(2026, 11, 24, 11, 5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(manager.schedules.get_all_schedules_today()) == schedules

    view = hass.states.get("sensor.home_battery_daily_view")
    assert view.attributes["period_minutes"] == 15
    periods = view.attributes["periods"]
    assert len(periods) == 96
    assert [p["source"] for p in periods[42:45]] == ["missing", "actual", "predicted"]
    assert view.attributes["hours"][10]["source"] == "partial"  # 10:45 measured, 10:30 not
    # The price sensor shows the quarter in progress, not the hour's mean.
    buy = hass.states.get("sensor.home_battery_buy_price_now")
    assert float(buy.state) == pytest.approx(PRICE_SHAPE[11])
    # Tomorrow's part of the plan: 24 hours made of its 96 quarters.
    tomorrow = hass.states.get("sensor.home_battery_tomorrow_planned_savings").attributes
    assert len(tomorrow["hours"]) == 24
    assert len(tomorrow["periods"]) == 96
    assert [h["period_count"] for h in tomorrow["hours"]] == [4] * 24
    quarters = tomorrow["periods"][40:44]  # 10:00 … 10:45
    assert tomorrow["hours"][10]["start"] == quarters[0]["start"]
    assert tomorrow["hours"][10]["buy_price"] == pytest.approx(
        sum(q["buy_price"] for q in quarters) / 4
    )
    assert tomorrow["hours"][10]["load_kwh"] == pytest.approx(sum(q["load_kwh"] for q in quarters))


async def test_a_chosen_period_overrides_the_sources_resolution(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home
) -> None:
    freezer.move_to(local(2026, 11, 24, 10, 37))
    publish_quarters(home, DAY)
    config = entry(**{CONF_PERIOD_MINUTES: "60"})
    await set_up(hass, config)
    manager = config.runtime_data.manager
    assert manager.period_minutes == 60
    plan = manager.latest_result
    assert plan is not None
    assert plan.start == local(2026, 11, 24, 10)
    # The hour's price is the mean of its four quarters.
    assert plan.periods[0].buy_price == pytest.approx(PRICE_SHAPE[10] + 0.075)


async def test_hourly_prices_keep_hourly_periods(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    await set_up(hass, mock_config_entry)
    assert mock_config_entry.runtime_data.manager.period_minutes == 60
    assert "periods" not in hass.states.get("sensor.home_battery_daily_view").attributes


async def test_a_restart_mid_quarter_plans_from_the_quarter_in_progress(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home
) -> None:
    freezer.move_to(local(2026, 11, 24, 10, 37))
    publish_quarters(home, DAY)
    config = entry()
    await set_up(hass, config)
    await next_quarter(hass, freezer, home, grid_import=0.3)  # 10:45
    freezer.move_to(local(2026, 11, 24, 10, 52) + timedelta(seconds=30))
    assert await hass.config_entries.async_reload(config.entry_id)
    await hass.async_block_till_done()
    manager = config.runtime_data.manager
    assert manager.period_minutes == 15
    assert manager.latest_result is not None
    assert manager.latest_result.start == local(2026, 11, 24, 10, 45)
    assert manager.latest_result.periods[0].soc_start_percent == pytest.approx(home.soc)
