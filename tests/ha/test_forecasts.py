"""Solar forecasts from Solcast and energy forecast platforms; the missing-forecast flag."""

from __future__ import annotations

from datetime import date
from typing import Any
from unittest.mock import Mock

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, mock_platform

from custom_components.bess.const import CONF_SOC_ENTITY, CONF_SOLAR_FORECAST_ENTITY
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.energy import EnergySourceConfig, HomeAssistantEnergyData
from custom_components.bess.ha.forecasts import (
    SolarForecastKind,
    async_detect_solar_forecast,
    async_validate_solar_forecast,
)

from .conftest import load_fixture

SOLCAST_TODAY = "sensor.solcast_pv_forecast_forecast_today"
SOLCAST_TOMORROW = "sensor.solcast_pv_forecast_forecast_tomorrow"


@pytest.fixture(autouse=True)
async def stockholm(hass: HomeAssistant) -> None:
    """Run in Europe/Stockholm, where the fixtures were taken."""
    await hass.config.async_set_time_zone("Europe/Stockholm")


def adapter(hass: HomeAssistant, entity_id: str | None) -> HomeAssistantEnergyData:
    """An adapter with only a solar forecast configured."""
    options = {CONF_SOC_ENTITY: "sensor.soc", CONF_SOLAR_FORECAST_ENTITY: entity_id}
    return HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))


def hours(day: date) -> list[Any]:
    """The local hour starts of a day."""
    return day_hour_starts(day, dt_util.get_default_time_zone())


def add_solcast(hass: HomeAssistant, *, registered: bool = True) -> dict[str, Any]:
    """Publish Solcast's today and tomorrow sensors, in one config entry when registered."""
    payload: dict[str, Any] = load_fixture("solcast.json")
    entry = MockConfigEntry(domain="solcast_solar")
    entry.add_to_hass(hass)
    for key, unique in (("today", "forecast_today"), ("tomorrow", "forecast_tomorrow")):
        sensor = payload[key]
        if registered:
            er.async_get(hass).async_get_or_create(
                "sensor",
                "solcast_solar",
                unique,
                config_entry=entry,
                suggested_object_id=sensor["entity_id"].split(".", 1)[1],
            )
        hass.states.async_set(sensor["entity_id"], sensor["state"], sensor["attributes"])
    return payload


def half_hour_sums(entries: list[dict[str, Any]]) -> list[float]:
    """kWh per hour from Solcast's 30-minute kW estimates."""
    return [
        (entries[i]["pv_estimate"] + entries[i + 1]["pv_estimate"]) * 0.5
        for i in range(0, len(entries), 2)
    ]


async def test_solcast_today_entity_also_brings_tomorrow(hass: HomeAssistant) -> None:
    payload = add_solcast(hass)
    assert await async_detect_solar_forecast(hass, SOLCAST_TODAY) is SolarForecastKind.SOLCAST
    data = adapter(hass, SOLCAST_TODAY)

    tomorrow = await data.get_solar_forecast(hours(date(2025, 6, 11)))

    expected = half_hour_sums(payload["tomorrow"]["attributes"]["detailedForecast"])
    assert tomorrow == pytest.approx(expected)
    assert sum(tomorrow) == pytest.approx(float(payload["tomorrow"]["state"]))
    assert tomorrow[2] == 0.0  # night
    assert max(tomorrow) > 2.5  # a 3.1 kW peak day
    assert data.solar_forecast_available


async def test_solcast_hourly_list_is_used_when_there_is_no_detailed_one(
    hass: HomeAssistant,
) -> None:
    payload = load_fixture("solcast.json")["today"]
    attributes = {k: v for k, v in payload["attributes"].items() if k != "detailedForecast"}
    hass.states.async_set(SOLCAST_TODAY, payload["state"], attributes)

    today = await adapter(hass, SOLCAST_TODAY).get_solar_forecast(hours(date(2025, 6, 10)))

    assert today == pytest.approx([e["pv_estimate"] for e in attributes["detailedHourly"]])


async def test_solcast_without_tomorrow_gives_zero_and_the_flag(hass: HomeAssistant) -> None:
    payload = load_fixture("solcast.json")["today"]
    hass.states.async_set(SOLCAST_TODAY, payload["state"], payload["attributes"])
    data = adapter(hass, SOLCAST_TODAY)

    tomorrow = await data.get_solar_forecast(hours(date(2025, 6, 11)))

    assert tomorrow == [0.0] * 24
    assert not data.solar_forecast_available
    assert data.solar_forecast_message is not None
    assert "2025-06-11" in data.solar_forecast_message


def register_platform_forecast(
    hass: HomeAssistant, domain: str, entity_id: str, wh_hours: dict[str, float] | None
) -> Mock:
    """Give `domain` an energy platform answering `wh_hours` and a sensor in its entry."""
    entry = MockConfigEntry(domain=domain)
    entry.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        domain,
        f"{entry.entry_id}_energy_production_today",
        config_entry=entry,
        suggested_object_id=entity_id.split(".", 1)[1],
    )
    hass.states.async_set(entity_id, "31.2", {"unit_of_measurement": "kWh"})

    async def async_get_solar_forecast(
        hass: HomeAssistant, config_entry_id: str
    ) -> dict[str, Any] | None:
        assert config_entry_id == entry.entry_id
        return None if wh_hours is None else {"wh_hours": wh_hours}

    platform = Mock(async_get_solar_forecast=async_get_solar_forecast)
    mock_platform(hass, f"{domain}.energy", platform)
    return platform


async def test_forecast_solar_values_belong_to_the_hour_they_end(hass: HomeAssistant) -> None:
    wh_hours = load_fixture("forecast_solar_energy.json")["wh_hours"]
    entity_id = "sensor.energy_production_today"
    register_platform_forecast(hass, "forecast_solar", entity_id, wh_hours)
    assert await async_validate_solar_forecast(hass, entity_id)
    data = adapter(hass, entity_id)

    today = await data.get_solar_forecast(hours(date(2025, 6, 10)))

    # "05:00": 646 Wh is what was produced from 04:00 to 05:00.
    assert today[4] == pytest.approx(0.646)
    assert today[3] == pytest.approx(0.061)  # sunrise 03:35 to 04:00
    assert today[12] == pytest.approx(wh_hours["2025-06-10T13:00:00+02:00"] / 1000)
    # The sunset stamp (22:05:40) closes the 22:00 hour.
    assert today[22] == pytest.approx(wh_hours["2025-06-10T22:05:40+02:00"] / 1000)
    assert sum(today) == pytest.approx(
        sum(v for k, v in wh_hours.items() if k.startswith("2025-06-10")) / 1000
    )
    assert data.solar_forecast_available


async def test_open_meteo_values_belong_to_the_hour_they_start(hass: HomeAssistant) -> None:
    wh_hours = {
        "2025-06-10T04:00:00+02:00": 120.0,
        "2025-06-10T05:00:00+02:00": 480.0,
        "2025-06-10T12:00:00+02:00": 3900.5,
        "2025-06-10T13:00:00+02:00": 3800.0,
    }
    entity_id = "sensor.solar_production_estimate_today"
    register_platform_forecast(hass, "open_meteo_solar_forecast", entity_id, wh_hours)
    kind = await async_detect_solar_forecast(hass, entity_id)
    assert kind is SolarForecastKind.ENERGY_PLATFORM

    today = await adapter(hass, entity_id).get_solar_forecast(hours(date(2025, 6, 10)))

    assert today[4] == pytest.approx(0.12)
    assert today[5] == pytest.approx(0.48)
    assert today[12] == pytest.approx(3.9005)
    assert today[6] == 0.0


async def test_platform_without_data_gives_zero_and_a_clear_message(hass: HomeAssistant) -> None:
    entity_id = "sensor.energy_production_today"
    register_platform_forecast(hass, "forecast_solar", entity_id, None)
    data = adapter(hass, entity_id)

    today = await data.get_solar_forecast(hours(date(2025, 6, 10)))

    assert today == [0.0] * 24
    assert not data.solar_forecast_available
    assert data.solar_forecast_message == (
        "sensor.energy_production_today: forecast_solar has no forecast right now"
    )


async def test_unsupported_or_missing_solar_entities(hass: HomeAssistant) -> None:
    hass.states.async_set("sensor.outdoor_temperature", "4.5", {"unit_of_measurement": "°C"})

    assert not await async_validate_solar_forecast(hass, "sensor.outdoor_temperature")
    assert not await async_validate_solar_forecast(hass, "sensor.nothing_here")

    missing = adapter(hass, "sensor.nothing_here")
    assert await missing.get_solar_forecast(hours(date(2025, 6, 10))) == [0.0] * 24
    assert missing.solar_forecast_message == (
        "sensor.nothing_here: solar forecast entity not found"
    )
    unsupported = adapter(hass, "sensor.outdoor_temperature")
    await unsupported.get_solar_forecast(hours(date(2025, 6, 10)))
    assert unsupported.solar_forecast_message is not None
    assert "not a supported solar forecast" in unsupported.solar_forecast_message


async def test_no_forecast_configured_plans_with_zero_solar(hass: HomeAssistant) -> None:
    data = adapter(hass, None)

    assert await data.get_solar_forecast(hours(date(2025, 6, 10))) == [0.0] * 24
    assert not data.solar_forecast_available
    assert data.solar_forecast_message == "no solar forecast configured"
