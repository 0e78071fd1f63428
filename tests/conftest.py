"""Shared fixtures for the bess tests.

Integration tests run in Europe/Stockholm (a real DST zone) with a small simulated home:
a SOC sensor, a Nord Pool–style price sensor and five cumulative energy meters that the
test moves by hand (`Home.advance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from hypothesis import settings
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.bess.const import (
    CONF_BATTERY_CHARGE_METER,
    CONF_BATTERY_DISCHARGE_METER,
    CONF_CAPACITY_KWH,
    CONF_CONTROL_MODE,
    CONF_CONTROL_SCRIPT,
    CONF_GRID_EXPORT_METER,
    CONF_GRID_IMPORT_METER,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_PRICE_ENTITY,
    CONF_SOC_ENTITY,
    CONF_SOLAR_METER,
    CONTROL_SCRIPT,
    DEFAULTS,
    DOMAIN,
)
from custom_components.bess.coordinator import REPAIR_GRACE
from custom_components.bess.engine.models import (
    BatterySettings,
    OptimizationInput,
    OptimizationResult,
)
from custom_components.bess.engine.optimizer import build_result
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.controller import ControlConfig, HomeAssistantController

ENGINE_TESTS = Path(__file__).parent / "engine"

# The same examples on every run: CI must not turn red on a draw a developer never saw.
settings.register_profile("bess", derandomize=True, database=None)
settings.load_profile("bess")
TIME_ZONE = "Europe/Stockholm"
# The moment every Home Assistant test starts at unless it names its own: a Tuesday morning
# of winter time. No test may depend on the real date.
FROZEN_NOW = "2026-11-24 10:30:00+01:00"

SOC = "sensor.battery_soc"
PRICE = "sensor.nordpool"
METERS = {
    CONF_GRID_IMPORT_METER: "sensor.grid_import",
    CONF_GRID_EXPORT_METER: "sensor.grid_export",
    CONF_SOLAR_METER: "sensor.solar_energy",
    CONF_BATTERY_CHARGE_METER: "sensor.battery_charge",
    CONF_BATTERY_DISCHARGE_METER: "sensor.battery_discharge",
}
# A real-shaped winter day: cheap night, morning and evening peaks (currency/kWh).
PRICE_SHAPE = [
    0.30, 0.28, 0.25, 0.24, 0.26, 0.35, 0.80, 1.40, 1.60, 1.10, 0.90, 0.70,
    0.60, 0.55, 0.60, 0.75, 1.20, 1.80, 2.00, 1.60, 1.00, 0.70, 0.50, 0.40,
]  # fmt: skip


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Freeze the clock of every test that runs Home Assistant in-process.

    A test that marks its own `freeze_time`, or moves the `freezer`, starts from there;
    the others start at FROZEN_NOW. (pytest-freezer then puts `freezer` first.)
    """
    for item in items:
        if "hass" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "freeze_time"
        ):
            item.add_marker(pytest.mark.freeze_time(FROZEN_NOW))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom_components/bess in every integration test.

    The pure engine tests need no Home Assistant instance, so they do not start one. The
    recorder fixtures insist on creating their database before `hass` starts.
    """
    if ENGINE_TESTS in Path(request.node.path).parents:
        return
    if "async_test_recorder" in request.fixturenames and "hass" not in request.fixturenames:
        return  # the test starts Home Assistant itself, more than once (restarts)
    if "recorder_mock" in request.fixturenames:
        request.getfixturevalue("recorder_db_url")
    request.getfixturevalue("enable_custom_integrations")


def price_entries(day: date) -> list[dict[str, Any]]:
    """Hourly Nord Pool (HACS) entries for a local day (23, 24 or 25 of them)."""
    tz = dt_util.get_default_time_zone()
    starts = day_hour_starts(day, tz)
    return [
        {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "value": PRICE_SHAPE[min(start.hour, 23)] + 0.01 * (day.toordinal() % 7),
        }
        for start in starts
    ]


@dataclass
class Home:
    """The simulated home the tests drive: SOC, prices and cumulative meters."""

    hass: HomeAssistant
    soc: float = 50.0
    meters: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METERS.values(), 0.0))

    def set_soc(self, value: float | str) -> None:
        """Publish the SOC (a number, or 'unavailable')."""
        if isinstance(value, int | float):
            self.soc = float(value)
        self.hass.states.async_set(
            SOC, str(value), {"device_class": "battery", "unit_of_measurement": "%"}
        )

    def publish_meters(self) -> None:
        """Publish the meters' readings."""
        for entity_id, value in self.meters.items():
            self.hass.states.async_set(
                entity_id,
                f"{value:.3f}",
                {
                    "device_class": "energy",
                    "state_class": "total_increasing",
                    "unit_of_measurement": "kWh",
                },
            )

    def set_prices(self, today: date, with_tomorrow: bool = True) -> None:
        """Publish today's (and tomorrow's) prices."""
        today_entries = price_entries(today)
        tomorrow_entries = price_entries(today + timedelta(days=1)) if with_tomorrow else []
        self.hass.states.async_set(
            PRICE,
            str(today_entries[0]["value"]),
            {
                "unit_of_measurement": "SEK/kWh",
                "raw_today": today_entries,
                "raw_tomorrow": tomorrow_entries,
                "tomorrow_valid": with_tomorrow,
            },
        )

    def advance(
        self,
        *,
        grid_import: float = 1.0,
        grid_export: float = 0.0,
        solar: float = 0.0,
        charge: float = 0.0,
        discharge: float = 0.0,
    ) -> None:
        """Move the meters (and the SOC, 10 kWh battery) by one hour's flows."""
        self.meters[METERS[CONF_GRID_IMPORT_METER]] += grid_import
        self.meters[METERS[CONF_GRID_EXPORT_METER]] += grid_export
        self.meters[METERS[CONF_SOLAR_METER]] += solar
        self.meters[METERS[CONF_BATTERY_CHARGE_METER]] += charge
        self.meters[METERS[CONF_BATTERY_DISCHARGE_METER]] += discharge
        self.publish_meters()
        self.set_soc(self.soc + (charge * 0.95 - discharge / 0.95) * 10)


@pytest.fixture
async def home(hass: HomeAssistant) -> Home:
    """A home in Stockholm with prices for today and tomorrow, SOC 50 % and zeroed meters.

    "Today" is the frozen clock's day: every test that uses the home runs frozen.
    """
    await hass.config.async_set_time_zone(TIME_ZONE)
    hass.config.currency = "SEK"
    home = Home(hass)
    home.set_soc(50.0)
    home.publish_meters()
    home.set_prices(dt_util.now().date())  # the frozen day
    return home


def entry_options(**overrides: Any) -> dict[str, Any]:
    """The options a user gets from the config flow for a 10 kWh, 5 kW battery."""
    return {
        **DEFAULTS,
        CONF_CAPACITY_KWH: 10.0,
        CONF_MAX_CHARGE_KW: 5.0,
        CONF_MAX_DISCHARGE_KW: 5.0,
        **overrides,
    }


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """The config entry of the test home's battery."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home battery",
        unique_id=SOC,
        data={CONF_SOC_ENTITY: SOC, CONF_PRICE_ENTITY: PRICE, **METERS},
        options=entry_options(),
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add `entry` and set it up, as Home Assistant does at start."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up bess for the test home."""
    await set_up(hass, mock_config_entry)
    return mock_config_entry


async def past_repair_grace(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the data stay missing past the grace after which bess raises a repair issue."""
    freezer.tick(REPAIR_GRACE + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def plan_of(start: datetime, charge: list[float], discharge: list[float]) -> OptimizationResult:
    """An hourly plan with the given decisions (kWh per hour; load 1 kWh, no solar)."""
    n = len(charge)
    inputs = OptimizationInput(
        start=start,
        period_minutes=60,
        buy=(1.0,) * n,
        sell=(0.5,) * n,
        load=(1.0,) * n,
        solar=(0.0,) * n,
        battery=BatterySettings(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5),
        initial_soc_percent=50,
    )
    return build_result(inputs, np.array(charge, float), np.array(discharge, float))


def script_controller(hass: HomeAssistant) -> HomeAssistantController:
    """A controller that runs script.battery."""
    options = {CONF_CONTROL_MODE: CONTROL_SCRIPT, CONF_CONTROL_SCRIPT: "script.battery"}
    return HomeAssistantController(hass, "entry", ControlConfig.from_options(options))


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An aware local time in the test zone."""
    return datetime(year, month, day, hour, minute, tzinfo=dt_util.get_time_zone(TIME_ZONE))


__all__ = [
    "FrozenDateTimeFactory",
    "Home",
    "entry_options",
    "local",
    "past_repair_grace",
    "plan_of",
    "script_controller",
    "set_up",
]
