"""The coordinator's triggers at local times, DST days, and what survives a reload."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.bess.const import DOMAIN
from custom_components.bess.engine.timeutil import hours_in_day

from .conftest import Home, local, past_repair_grace, set_up


async def _next_hour(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home, **flows: float
) -> None:
    """Let one hour pass: the meters move, then the clock reaches the next full hour."""
    home.advance(**flows)
    now = dt_util.utcnow()
    freezer.move_to(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    async_fire_time_changed(hass)
    # Time triggers run as background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_each_hour_is_recorded_and_the_rest_replanned(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 8, 30))
    home.set_prices(local(2026, 11, 24, 0).date())
    await set_up(hass, mock_config_entry)
    manager = mock_config_entry.runtime_data.manager

    # Set up mid-hour: 08:00–09:00 has no reading at its start (and no recorder here).
    await _next_hour(hass, freezer, home, grid_import=1.0)  # 08:30 → 09:00
    await _next_hour(hass, freezer, home, grid_import=1.5, charge=0.5)  # 09:00 → 10:00
    event = manager.history.get_hour_event(9)
    assert event is not None
    assert event.grid_imported == 1.5
    assert event.battery_charged == 0.5
    assert event.home_consumed == 1.0  # derived from the balance
    assert event.buy_price == 1.10 + 0.01 * (local(2026, 11, 24, 0).date().toordinal() % 7)
    latest = manager.schedules.get_latest_schedule()
    assert latest.created_for_scenario == "hourly"
    assert latest.optimization_hour == 10
    # Tomorrow's prices are out: the re-plan runs from 10:00 to the end of tomorrow.
    assert len(latest.result.periods) == 14 + 24

    state = hass.states.get("sensor.home_battery_daily_view")
    hours = state.attributes["hours"]
    assert len(hours) == 24
    assert hours[9]["source"] == "actual"
    assert hours[8]["source"] == "missing"  # before set-up, no meters, no recorder: never invented
    assert [h["source"] for h in hours[10:]] == ["predicted"] * 14
    assert hass.states.get("sensor.home_battery_actual_hours").state == "1"
    assert hass.states.get("sensor.home_battery_predicted_hours").state == "14"


async def test_tomorrow_is_planned_at_23_55(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 23, 50))
    home.set_prices(local(2026, 11, 24, 0).date())
    await set_up(hass, mock_config_entry)
    # Tomorrow's prices are out, so the plan made at set-up runs through tomorrow already,
    # from the SOC the battery really has.
    manager = mock_config_entry.runtime_data.manager
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "planned"
    assert manager.tomorrow_result is not None
    assert manager.tomorrow_result.start == local(2026, 11, 25, 0)
    assert manager.schedules.get_latest_covering(local(2026, 11, 25, 0)).created_for_scenario == (
        "restart"
    )

    freezer.move_to(local(2026, 11, 24, 23, 55))
    async_fire_time_changed(hass)
    # Time triggers run as background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)

    tomorrow = manager.tomorrow_result
    assert tomorrow is not None
    assert tomorrow.start == local(2026, 11, 25, 0)
    assert manager.schedules.get_latest_covering(tomorrow.start).created_for_scenario == (
        "tomorrow"
    )
    assert len(tomorrow.periods) == 24
    # Design §5.1: tomorrow is planned from the minimum SOC.
    assert tomorrow.periods[0].soc_start_percent == 10.0
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "planned"
    savings = hass.states.get("sensor.home_battery_tomorrow_planned_savings")
    assert float(savings.state) == pytest.approx(tomorrow.total_savings, abs=1e-9)
    assert len(savings.attributes["hours"]) == 24


async def test_tomorrow_waits_for_prices_and_plans_when_they_arrive(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 23, 50))
    home.set_prices(local(2026, 11, 24, 0).date(), with_tomorrow=False)
    await set_up(hass, mock_config_entry)

    freezer.move_to(local(2026, 11, 24, 23, 55))
    async_fire_time_changed(hass)
    # Time triggers run as background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = mock_config_entry.runtime_data.manager
    assert manager.tomorrow_result is None
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "waiting_for_prices"

    freezer.move_to(local(2026, 11, 24, 23, 57))
    home.set_prices(local(2026, 11, 24, 0).date(), with_tomorrow=True)
    await hass.async_block_till_done()
    assert manager.tomorrow_result is not None
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "planned"


async def _run_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    entry: MockConfigEntry,
    day: tuple[int, int, int],
) -> list[dict[str, Any]]:
    """Set up at 23:30 the day before, let every hour pass, return the next morning's view."""
    start = local(*day, 0)
    freezer.move_to(start - timedelta(minutes=30))
    home.set_prices(start.date() - timedelta(days=1))
    await set_up(hass, entry)
    manager = entry.runtime_data.manager
    await _next_hour(hass, freezer, home, grid_import=1.0)  # to midnight
    home.set_prices(start.date())
    for _ in range(hours_in_day(start.date(), dt_util.get_default_time_zone())):
        await _next_hour(hass, freezer, home, grid_import=1.0)
    return [h.to_dict() for h in manager.build_daily_view(start.date()).hourly_data]


async def test_spring_dst_day_has_23_hours(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    hours = await _run_day(hass, freezer, home, mock_config_entry, (2026, 3, 29))
    assert len(hours) == 23
    assert [h["source"] for h in hours] == ["actual"] * 23
    # 02:00 does not exist: the third hour starts at 03:00 local (01:00 UTC).
    assert hours[2]["start"] == "2026-03-29T01:00:00+00:00"


async def test_autumn_dst_day_has_25_hours(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    hours = await _run_day(hass, freezer, home, mock_config_entry, (2026, 10, 25))
    assert len(hours) == 25
    assert [h["source"] for h in hours] == ["actual"] * 25
    # The doubled 02:00 hour: two distinct hours, an hour apart in UTC.
    assert hours[2]["start"] == "2026-10-25T00:00:00+00:00"
    assert hours[3]["start"] == "2026-10-25T01:00:00+00:00"
    assert (
        mock_config_entry.runtime_data.manager.history.get_hour_event(
            24, local(2026, 10, 25, 0).date()
        )
        is not None
    )


async def test_reload_mid_day_keeps_every_recorded_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 5, 30))
    home.set_prices(local(2026, 11, 24, 0).date())
    await set_up(hass, mock_config_entry)
    for _ in range(5):  # 05:30 → 10:00
        await _next_hour(hass, freezer, home, grid_import=0.8, discharge=0.2)
    manager = mock_config_entry.runtime_data.manager
    before = [manager.history.get_hour_event(h) for h in range(6, 10)]
    assert all(event is not None for event in before)

    freezer.move_to(local(2026, 11, 24, 10, 20))
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    manager = mock_config_entry.runtime_data.manager
    assert [manager.history.get_hour_event(h) for h in range(6, 10)] == before
    view = manager.build_daily_view()
    assert [h.source for h in view.hourly_data[6:10]] == ["actual"] * 4
    assert view.hourly_data[10].source == "predicted"
    assert abs(view.total_savings - sum(h.savings or 0 for h in view.hourly_data)) < 1e-9

    # The hour that spans the reload is measured from the meters at its end, not lost.
    await _next_hour(hass, freezer, home, grid_import=0.6, charge=0.4)  # 10:20 → 11:00
    spanning = manager.history.get_hour_event(10)
    assert spanning is not None
    assert spanning.grid_imported == pytest.approx(0.6)
    assert spanning.battery_charged == pytest.approx(0.4)


async def test_soc_unavailable_and_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert hass.states.get("sensor.home_battery_total_savings_today").state != "unavailable"
    home.set_soc("unavailable")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"
    assert hass.states.get("sensor.home_battery_planned_battery_action").state == "unavailable"
    await past_repair_grace(hass, freezer)
    issue = issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{init_integration.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["source"] == "sensor.battery_soc"

    home.set_soc(42.0)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_battery_total_savings_today").state != "unavailable"
    assert (
        issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{init_integration.entry_id}")
        is None
    )
    latest = init_integration.runtime_data.manager.latest_result
    assert latest.periods[0].soc_start_percent == pytest.approx(42.0)


async def test_price_sensor_unavailable_at_start_and_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 10, 30))
    hass.states.async_set("sensor.nordpool", "unavailable")
    await set_up(hass, mock_config_entry)
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"
    await past_repair_grace(hass, freezer)
    issue = issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{mock_config_entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["source"] == "sensor.nordpool"

    home.set_prices(local(2026, 11, 24, 0).date())
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_battery_total_savings_today").state != "unavailable"
    assert (
        issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{mock_config_entry.entry_id}")
        is None
    )


async def test_a_blip_raises_no_repair_and_no_warning(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    home.set_soc("unavailable")
    await hass.async_block_till_done()
    # Today's numbers are unavailable; what bess is doing stays visible.
    assert hass.states.get("sensor.home_battery_total_savings_today").state == "unavailable"
    assert hass.states.get("sensor.home_battery_control_status").state == "monitoring"
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state != "unavailable"
    freezer.tick(timedelta(minutes=3))
    async_fire_time_changed(hass)
    home.set_soc(48.0)
    await hass.async_block_till_done()
    await past_repair_grace(hass, freezer)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{init_integration.entry_id}")
        is None
    )
    assert [r for r in caplog.records if r.name.startswith("custom_components.bess")] == []


async def test_the_repair_names_the_price_when_the_price_fails(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    hass.states.async_set("sensor.nordpool", "unavailable")
    await hass.async_block_till_done()
    await hass.services.async_call(
        DOMAIN, "update_schedule", {"config_entry_id": init_integration.entry_id}, blocking=True
    )
    await past_repair_grace(hass, freezer)
    issue = issue_registry.async_get_issue(DOMAIN, f"data_unavailable_{init_integration.entry_id}")
    assert issue.translation_placeholders["source"] == "sensor.nordpool"


async def test_removing_the_entry_removes_its_repair_issues(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    home.set_soc("unavailable")
    await hass.async_block_till_done()
    await past_repair_grace(hass, freezer)
    issue_id = f"data_unavailable_{init_integration.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_a_price_sensor_down_at_2355_leaves_today_alone(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    mock_config_entry: MockConfigEntry,
) -> None:
    freezer.move_to(local(2026, 11, 24, 23, 50))
    home.set_prices(local(2026, 11, 24, 0).date(), with_tomorrow=False)
    await set_up(hass, mock_config_entry)
    # The price sensor restarts just as tomorrow is planned.
    hass.states.async_set("sensor.nordpool", "unavailable")
    freezer.move_to(local(2026, 11, 24, 23, 55))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.home_battery_total_savings_today").state != "unavailable"
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "waiting_for_prices"

    # Back with tomorrow's prices: planned at once.
    home.set_prices(local(2026, 11, 24, 0).date(), with_tomorrow=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.home_battery_tomorrow_plan_status").state == "planned"
