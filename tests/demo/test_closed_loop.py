"""A closed-loop day: bess plans, commands the simulated inverter, measures, reports.

The demo home (config/custom_components/bess_demo) obeys bess's entity-mapping control and
its meters and SOC evolve minute by minute from what it was told. Time moves with the
freezer, quarter hour by quarter hour, through a whole local day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.bess.engine.models import DailyView, OptimizationResult
from custom_components.bess.ha.energy import HomeAssistantEnergyData
from custom_components.bess_demo.sim import HomeSettings, _utc_hour, load_forecast_kwh

TZ_NAME = "Europe/Stockholm"
# A May day: sun enough to store, a morning and an evening price peak.
DAY = date(2026, 5, 20)
PERIOD = timedelta(minutes=15)


async def _fire(hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime) -> None:
    """Move the clock to `moment` and run every trigger due, background ones included."""
    freezer.move_to(moment)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _run_day(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, perfect: bool
) -> tuple[DailyView, OptimizationResult]:
    """Set up the demo at 23:30 the day before, run every hour of DAY; return view and plan."""
    tz = dt_util.get_time_zone(TZ_NAME)
    assert tz is not None
    await hass.config.async_set_time_zone(TZ_NAME)
    hass.config.latitude, hass.config.longitude = 55.6, 13.0
    midnight = datetime(DAY.year, DAY.month, DAY.day, tzinfo=tz).astimezone(UTC)
    freezer.move_to(midnight - timedelta(minutes=30))

    assert await async_setup_component(
        hass, "bess_demo", {"bess_demo": {"perfect_forecasts": perfect, "initial_soc_percent": 30}}
    )
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries("bess")[0]
    manager = entry.runtime_data.manager

    # Every quarter-hour boundary (the demo's prices are quarter-hourly, so bess plans and
    # records 15-minute periods) from DAY's midnight to the next one, each one second after the
    # demo's own hh:mm:59 tick before it, as in a running Home Assistant.
    boundary = midnight
    end = datetime(DAY.year, DAY.month, DAY.day, tzinfo=tz) + timedelta(days=1)
    while boundary <= end.astimezone(UTC):
        await _fire(hass, freezer, boundary - timedelta(seconds=1))
        await _fire(hass, freezer, boundary)
        boundary += PERIOD

    # The plan made at midnight from the real SOC (not tomorrow's, which assumed the minimum).
    first = next(
        s
        for s in manager.schedules.get_all_schedules_today(DAY)
        if s.created_for_scenario == "hourly" and s.optimization_hour == 0
    )
    return manager.build_daily_view(DAY), first.result


def _perfect_consumption(settings: HomeSettings):  # type: ignore[no-untyped-def]
    """bess's consumption forecast replaced by what the demo household will really use."""

    async def forecast(self: Any, period_starts: Sequence[datetime]) -> list[float]:
        tz = dt_util.get_default_time_zone()
        share = self._period_minutes / 60.0  # the load is constant within each hour
        return [
            load_forecast_kwh(settings, _utc_hour(start), tz) * share for start in period_starts
        ]

    return forecast


async def test_perfect_forecasts_realize_the_planned_savings(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    settings = HomeSettings(perfect_forecasts=True)
    with patch.object(
        HomeAssistantEnergyData, "get_consumption_forecast", _perfect_consumption(settings)
    ):
        view, plan = await _run_day(hass, freezer, perfect=True)

    assert view.actual_hours == 24
    assert view.missing_hours == view.predicted_hours == 0
    assert hass.states.get("sensor.home_battery_solar_forecast").state == "available"
    assert plan.total_savings > 0.5  # a day worth planning (EUR)
    # Planned at midnight from the real SOC; realized from the meters, hour by hour. Until
    # tomorrow's prices come at 13:00 nothing new is known, so the morning goes as planned;
    # from then on bess plans through tomorrow and keeps energy for its morning.
    assert plan.period_minutes == 15  # the demo's quarter-hour prices set the period
    assert len(view.periods) == 96
    assert [p.source for p in view.periods] == ["actual"] * 96
    morning = [h.savings or 0.0 for h in view.hourly_data[:13]]
    planned = [p.savings for p in plan.periods[: 13 * 4]]
    # Within a tenth of a cent: the meters report whole Wh.
    assert sum(morning) == pytest.approx(sum(planned), abs=0.001)
    assert sum(abs(s) for s in morning) > 0.05  # and the morning's periods were worth planning
    # The battery really worked: it charged and discharged several kWh.
    charged = sum(h.battery_charge_kwh or 0 for h in view.hourly_data)
    discharged = sum(h.battery_discharge_kwh or 0 for h in view.hourly_data)
    assert charged > 3.0
    assert discharged > 3.0


async def test_forecast_errors_keep_the_day_consistent(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    view, plan = await _run_day(hass, freezer, perfect=False)

    assert view.actual_hours == 24
    assert [h.source for h in view.hourly_data] == ["actual"] * 24
    assert view.total_savings == pytest.approx(sum(h.savings or 0 for h in view.hourly_data))
    assert view.actual_savings == pytest.approx(view.total_savings)
    for hour in view.hourly_data:
        balance = (
            (hour.solar_kwh or 0)
            + (hour.grid_import_kwh or 0)
            + (hour.battery_discharge_kwh or 0)
            - (hour.load_kwh or 0)
            - (hour.grid_export_kwh or 0)
            - (hour.battery_charge_kwh or 0)
        )
        # The meters report whole Wh: six readings, each within half a Wh.
        assert balance == pytest.approx(0.0, abs=0.003), hour
    # The forecasts were wrong, so the day did not go exactly as first planned.
    assert view.total_savings != pytest.approx(plan.total_savings, rel=1e-4)
