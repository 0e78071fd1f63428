"""bess serves its Lovelace card itself: no resource for the user to add.

The bundle is the committed custom_components/bess/frontend/bess-card.js (scripts/build-card
builds it); bess serves it at a URL that carries its hash and adds that URL to the modules
the frontend loads in every dashboard.
"""

from __future__ import annotations

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL, UrlManager
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.bess import CARD_FILE, CARD_URL_PATH, card_version

from .conftest import Home, set_up

pytestmark = pytest.mark.freeze_time("2026-11-24 10:30:00+01:00")


async def card_url(hass: HomeAssistant) -> str:
    """The URL bess serves the committed bundle at."""
    version = await hass.async_add_executor_job(card_version, CARD_FILE)
    assert version is not None, f"{CARD_FILE} is missing: run scripts/build-card"
    return f"{CARD_URL_PATH}?v={version}"


async def test_bundle_is_served_as_javascript(
    hass: HomeAssistant,
    home: Home,
    mock_config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    assert await async_setup_component(hass, "http", {})
    await set_up(hass, mock_config_entry)

    client = await hass_client()
    response = await client.get(await card_url(hass))
    assert response.status == 200
    assert response.content_type in {"text/javascript", "application/javascript"}
    # The URL changes with the bundle, so browsers may keep it as long as they like.
    assert "max-age" in response.headers["Cache-Control"]
    committed = await hass.async_add_executor_job(CARD_FILE.read_bytes)
    assert await response.read() == committed


async def test_frontend_loads_the_card_in_every_dashboard(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    pytest.importorskip("hass_frontend", reason="the frontend's files are not installed")
    assert await async_setup_component(hass, "frontend", {})
    await set_up(hass, mock_config_entry)

    assert await card_url(hass) in hass.data[DATA_EXTRA_MODULE_URL].urls


async def test_card_is_added_through_the_frontend_api(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    # The frontend's own files (home-assistant-frontend) are not part of every test stack:
    # stand in for its set-up, keeping the module list and the API bess calls real.
    assert await async_setup_component(hass, "http", {})
    changes: list[tuple[str, str]] = []
    hass.data[DATA_EXTRA_MODULE_URL] = UrlManager(
        lambda change, url: changes.append((change, url)), []
    )
    hass.config.components.add("frontend")
    await set_up(hass, mock_config_entry)

    url = await card_url(hass)
    assert url in hass.data[DATA_EXTRA_MODULE_URL].urls
    # Dashboards already open are told, and load it without a reload.
    assert changes == [("added", url)]


async def test_without_http_bess_still_sets_up(
    hass: HomeAssistant, home: Home, mock_config_entry: MockConfigEntry
) -> None:
    await set_up(hass, mock_config_entry)

    assert "http" not in hass.config.components
    assert hass.states.get("sensor.home_battery_daily_view") is not None
