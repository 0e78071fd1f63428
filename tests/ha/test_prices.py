"""Price sources: detection, averaging to the planning period, the price formula and units."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.bess.const import (
    CONF_EXPORT_COMPENSATION,
    CONF_EXPORT_MULTIPLIER,
    CONF_PRICE_ENTITY,
    CONF_PRICE_FIXED_FEE,
    CONF_PRICE_MARKUP,
    CONF_PRICE_MULTIPLIER,
    CONF_PRICE_VAT,
    CONF_SOC_ENTITY,
)
from custom_components.bess.engine.ports import DataUnavailableError
from custom_components.bess.engine.timeutil import day_hour_starts
from custom_components.bess.ha.energy import EnergySourceConfig, HomeAssistantEnergyData
from custom_components.bess.ha.prices import (
    PriceFormula,
    PriceSource,
    PriceSourceKind,
    async_detect_price_source,
)

from .conftest import load_fixture


def publish(hass: HomeAssistant, payload: dict[str, Any]) -> str:
    """Set the entity state a fixture describes; return its entity id."""
    hass.states.async_set(payload["entity_id"], payload["state"], payload["attributes"])
    return str(payload["entity_id"])


def hacs_raw(payload: dict[str, Any], key: str) -> list[float]:
    """Return the values of a Nord Pool HACS raw list."""
    return [entry["value"] for entry in payload["attributes"][key]]


async def energy_data(
    hass: HomeAssistant, entity_id: str, **formula: float
) -> HomeAssistantEnergyData:
    """An adapter reading prices from `entity_id` with the given formula options."""
    options = {CONF_SOC_ENTITY: "sensor.soc", CONF_PRICE_ENTITY: entity_id, **formula}
    return HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(options))


@pytest.fixture
async def stockholm(hass: HomeAssistant) -> None:
    """Run in the Nord Pool SE3 zone."""
    await hass.config.async_set_time_zone("Europe/Stockholm")


@pytest.mark.usefixtures("stockholm")
async def test_nordpool_hacs_hourly_gives_tomorrow_with_the_formula(hass: HomeAssistant) -> None:
    payload = load_fixture("nordpool_hacs_60min.json")
    entity_id = publish(hass, payload)
    assert await async_detect_price_source(hass, entity_id) is PriceSourceKind.NORDPOOL_HACS
    data = await energy_data(
        hass,
        entity_id,
        **{
            CONF_PRICE_MULTIPLIER: 1.0,
            CONF_PRICE_MARKUP: 0.05,
            CONF_PRICE_VAT: 1.25,
            CONF_PRICE_FIXED_FEE: 0.45,
            CONF_EXPORT_MULTIPLIER: 1.0,
            CONF_EXPORT_COMPENSATION: 0.6,
        },
    )
    tomorrow = day_hour_starts(date(2025, 3, 11), dt_util.get_default_time_zone())

    prices = await data.get_prices(tomorrow)

    spot = hacs_raw(payload, "raw_tomorrow")
    assert prices is not None
    assert len(prices.buy) == 24
    assert prices.buy == pytest.approx([(s + 0.05) * 1.25 + 0.45 for s in spot])
    assert prices.sell == pytest.approx([s + 0.6 for s in spot])
    # 18:00 is the evening peak of the fixture: 1.602 spot → (1.602 + 0.05)·1.25 + 0.45.
    assert spot[18] == 1.602
    assert prices.buy[18] == pytest.approx(2.515)


@pytest.mark.usefixtures("stockholm")
async def test_default_formula_leaves_spot_unchanged(hass: HomeAssistant) -> None:
    payload = load_fixture("nordpool_hacs_60min.json")
    data = await energy_data(hass, publish(hass, payload))
    today = day_hour_starts(date(2025, 3, 10), dt_util.get_default_time_zone())

    prices = await data.get_prices(today)

    assert prices is not None
    assert list(prices.buy) == hacs_raw(payload, "raw_today")
    assert prices.sell == prices.buy


@pytest.mark.usefixtures("stockholm")
async def test_nordpool_hacs_quarter_hours_are_averaged_to_the_hour(hass: HomeAssistant) -> None:
    payload = load_fixture("nordpool_hacs_15min.json")
    data = await energy_data(hass, publish(hass, payload))
    today = day_hour_starts(date(2025, 10, 14), dt_util.get_default_time_zone())

    prices = await data.get_prices(today)

    quarters = hacs_raw(payload, "raw_today")
    assert len(quarters) == 96
    assert prices is not None
    assert len(prices.buy) == 24
    assert prices.buy[7] == pytest.approx(sum(quarters[28:32]) / 4)
    assert prices.buy[0] == pytest.approx(sum(quarters[0:4]) / 4)


@pytest.mark.usefixtures("stockholm")
async def test_autumn_dst_day_has_25_prices_with_distinct_doubled_hour(
    hass: HomeAssistant,
) -> None:
    payload = load_fixture("nordpool_hacs_dst_autumn.json")
    data = await energy_data(hass, publish(hass, payload))
    day = day_hour_starts(date(2025, 10, 26), dt_util.get_default_time_zone())

    prices = await data.get_prices(day)

    assert len(day) == 25
    assert prices is not None
    assert len(prices.buy) == 25
    # 02:00 summer time and 02:00 winter time are two hours with their own prices.
    assert (day[2].hour, day[3].hour) == (2, 2)
    assert (prices.buy[2], prices.buy[3]) == (0.212, 0.198)


@pytest.mark.usefixtures("stockholm")
async def test_missing_tomorrow_gives_none_not_made_up_prices(hass: HomeAssistant) -> None:
    payload = load_fixture("nordpool_hacs_dst_autumn.json")  # published before 13:00: no tomorrow
    data = await energy_data(hass, publish(hass, payload))
    tz = dt_util.get_default_time_zone()
    today = day_hour_starts(date(2025, 10, 26), tz)
    tomorrow = day_hour_starts(date(2025, 10, 27), tz)

    assert await data.get_prices(tomorrow) is None
    # The rest of today plus tomorrow is also incomplete.
    assert await data.get_prices(today[20:] + tomorrow) is None
    assert await data.get_prices(today[20:]) is not None


@pytest.mark.usefixtures("stockholm")
async def test_price_in_cents_and_per_mwh_units_become_per_kwh(hass: HomeAssistant) -> None:
    payload = load_fixture("nordpool_hacs_60min.json")
    cents = {
        **payload["attributes"],
        "price_in_cents": True,
        "unit_of_measurement": "öre/kWh",
        "raw_today": [{**e, "value": e["value"] * 100} for e in payload["attributes"]["raw_today"]],
    }
    hass.states.async_set("sensor.nordpool_ore", "55", cents)
    generic_mwh = [
        {"start": e["start"], "price": e["value"] * 1000}
        for e in payload["attributes"]["raw_today"]
    ]
    hass.states.async_set(
        "sensor.spot_mwh", "900", {"unit_of_measurement": "SEK/MWh", "prices": generic_mwh}
    )
    today = day_hour_starts(date(2025, 3, 10), dt_util.get_default_time_zone())

    from_cents = await PriceSource(hass, "sensor.nordpool_ore", PriceFormula()).async_get_prices(
        today
    )
    from_mwh = await PriceSource(hass, "sensor.spot_mwh", PriceFormula()).async_get_prices(today)

    expected = hacs_raw(payload, "raw_today")
    assert from_cents is not None
    assert from_mwh is not None
    assert from_cents.buy == pytest.approx(expected)
    assert from_mwh.buy == pytest.approx(expected)


async def test_entsoe_prices_today_and_tomorrow(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    payload = load_fixture("entsoe.json")
    entity_id = publish(hass, payload)
    assert await async_detect_price_source(hass, entity_id) is PriceSourceKind.ENTSOE
    data = await energy_data(hass, entity_id, **{CONF_PRICE_VAT: 1.21})
    tz = dt_util.get_default_time_zone()
    periods = day_hour_starts(date(2025, 3, 10), tz)[12:] + day_hour_starts(date(2025, 3, 11), tz)

    prices = await data.get_prices(periods)

    spot = [e["price"] for e in payload["attributes"]["prices_today"][12:]]
    spot += [e["price"] for e in payload["attributes"]["prices_tomorrow"]]
    assert prices is not None
    assert len(prices.buy) == 36
    assert prices.buy == pytest.approx([s * 1.21 for s in spot])
    assert prices.sell == pytest.approx(spot)


async def test_generic_sensor_with_start_price_list(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    tz = dt_util.get_default_time_zone()
    day = day_hour_starts(date(2025, 3, 10), tz)
    half_hours = [
        {"start": (day[0] + timedelta(minutes=30 * i)).isoformat(), "price": 0.5 + 0.01 * i}
        for i in range(48)
    ]
    hass.states.async_set(
        "sensor.tibber_like", "0.5", {"unit_of_measurement": "SEK/kWh", "forecast": half_hours}
    )

    assert await async_detect_price_source(hass, "sensor.tibber_like") is PriceSourceKind.GENERIC
    prices = await PriceSource(hass, "sensor.tibber_like", PriceFormula()).async_get_prices(day)

    assert prices is not None
    assert prices.buy[10] == pytest.approx((0.70 + 0.71) / 2)


NORDPOOL_CORE_ENTITY = "sensor.nord_pool_se3_current_price"


async def setup_nordpool_core(hass: HomeAssistant) -> tuple[MockConfigEntry, list[str]]:
    """Register a core Nord Pool entry, its sensor and a service answering from the fixture."""
    responses = load_fixture("nordpool_core_service.json")
    asked: list[str] = []
    entry = MockConfigEntry(domain="nordpool", data={"areas": ["SE3"], "currency": "SEK"})
    entry.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        "nordpool",
        "SE3-current_price",
        config_entry=entry,
        suggested_object_id="nord_pool_se3_current_price",
    )
    hass.states.async_set(NORDPOOL_CORE_ENTITY, "1.23", {"unit_of_measurement": "SEK/kWh"})

    async def get_prices_for_date(call: ServiceCall) -> ServiceResponse:
        assert call.data["config_entry"] == entry.entry_id
        asked.append(call.data["date"])
        if call.data["date"] not in responses:
            raise ServiceValidationError("empty_response")
        response: ServiceResponse = responses[call.data["date"]]
        return response

    hass.services.async_register(
        "nordpool",
        "get_prices_for_date",
        get_prices_for_date,
        supports_response=SupportsResponse.ONLY,
    )
    return entry, asked


@pytest.mark.usefixtures("stockholm")
async def test_nordpool_core_service_per_mwh_becomes_per_kwh(hass: HomeAssistant) -> None:
    _, asked = await setup_nordpool_core(hass)
    assert (
        await async_detect_price_source(hass, NORDPOOL_CORE_ENTITY) is PriceSourceKind.NORDPOOL_CORE
    )
    data = await energy_data(hass, NORDPOOL_CORE_ENTITY, **{CONF_PRICE_FIXED_FEE: 0.1})
    tomorrow = day_hour_starts(date(2025, 3, 11), dt_util.get_default_time_zone())

    prices = await data.get_prices(tomorrow)

    per_mwh = [e["price"] for e in load_fixture("nordpool_core_service.json")["2025-03-11"]["SE3"]]
    assert prices is not None
    assert prices.sell == pytest.approx([p / 1000 for p in per_mwh])
    assert prices.buy == pytest.approx([p / 1000 + 0.1 for p in per_mwh])
    assert "2025-03-11" in asked
    # A published day is asked for once, not at every re-plan.
    calls = len(asked)
    assert await data.get_prices(tomorrow) == prices
    assert len(asked) == calls


@pytest.mark.usefixtures("stockholm")
async def test_nordpool_core_without_tomorrow_gives_none(hass: HomeAssistant) -> None:
    await setup_nordpool_core(hass)
    data = await energy_data(hass, NORDPOOL_CORE_ENTITY)
    day_after = day_hour_starts(date(2025, 3, 12), dt_util.get_default_time_zone())

    assert await data.get_prices(day_after) is None


async def test_unsupported_and_missing_entities(hass: HomeAssistant) -> None:
    hass.states.async_set("sensor.outdoor_temperature", "4.5", {"unit_of_measurement": "°C"})

    assert await async_detect_price_source(hass, "sensor.outdoor_temperature") is None
    assert await async_detect_price_source(hass, "sensor.does_not_exist") is None

    data = await energy_data(hass, "sensor.does_not_exist")
    start = dt_util.start_of_local_day()
    with pytest.raises(DataUnavailableError, match="price entity not found"):
        await data.get_prices([start])
    hass.states.async_set("sensor.does_not_exist", "unavailable")
    with pytest.raises(DataUnavailableError, match="price entity is unavailable"):
        await data.get_prices([start])


async def test_live_attribute_datetimes_are_read_like_strings(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    payload = load_fixture("nordpool_hacs_60min.json")
    attributes = dict(payload["attributes"])
    # The HACS integration publishes datetime objects, the recorder/JSON strings.
    attributes["raw_today"] = [
        {**e, "start": dt_util.parse_datetime(e["start"]), "end": dt_util.parse_datetime(e["end"])}
        for e in attributes["raw_today"]
    ]
    hass.states.async_set(payload["entity_id"], payload["state"], attributes)
    today = day_hour_starts(date(2025, 3, 10), dt_util.get_default_time_zone())

    prices = await PriceSource(hass, payload["entity_id"], PriceFormula()).async_get_prices(today)

    assert prices is not None
    assert list(prices.buy) == hacs_raw(payload, "raw_today")
    assert isinstance(attributes["raw_today"][0]["start"], datetime)
