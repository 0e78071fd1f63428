"""The bess integration: plans, controls and reports a home battery."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .const import CONF_TERMINAL_VALUE, DOMAIN
from .coordinator import ENTRY_ISSUES, BessConfigEntry, BessCoordinator
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.SENSOR, Platform.SWITCH]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

_LOGGER = logging.getLogger(__name__)

# The bess card: one bundle built from frontend/src by scripts/build-card, served by bess itself.
CARD_FILE = Path(__file__).parent / "frontend" / "bess-card.js"
CARD_URL_PATH = "/bess/bess-card.js"


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the services, and serve the bess card, once for all entries."""
    async_setup_services(hass)
    await async_register_card(hass)
    return True


def card_version(path: Path = CARD_FILE) -> str | None:
    """Return a short hash of the card's bundle, or None when it is missing (reads the file)."""
    try:
        content = path.read_bytes()
    except OSError:
        return None
    return hashlib.sha256(content).hexdigest()[:12]


async def async_register_card(hass: HomeAssistant) -> str | None:
    """Serve the card's bundle and load it in every dashboard; return its URL, if served.

    No resource to add by hand: the frontend loads the bundle as an extra module. The URL
    carries the bundle's hash, so browsers cache it for good and fetch a new one once after
    an update. Without http (most tests) nothing is served; without the frontend nothing loads it.
    """
    if "http" not in hass.config.components:
        return None
    version = await hass.async_add_executor_job(card_version, CARD_FILE)
    if version is None:
        _LOGGER.warning("The bess card's bundle %s is missing: no card to serve", CARD_FILE)
        return None
    from homeassistant.components.http import StaticPathConfig

    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL_PATH, str(CARD_FILE), cache_headers=True)]
    )
    url = f"{CARD_URL_PATH}?v={version}"
    if "frontend" in hass.config.components:
        from homeassistant.components.frontend import add_extra_js_url

        add_extra_js_url(hass, url)
    return url


async def async_migrate_entry(hass: HomeAssistant, entry: BessConfigEntry) -> bool:
    """Bring an entry written by an older bess to the current layout."""
    if entry.version > 1:
        return False  # written by a newer bess: refuse rather than misread it
    if entry.minor_version < 2:
        # 1.1 stored the end-of-horizon value 0 by default; now no value means one derived
        # from the prices, so that default goes (a value the user set is kept).
        options = dict(entry.options)
        if options.get(CONF_TERMINAL_VALUE) in (0, 0.0):
            del options[CONF_TERMINAL_VALUE]
        hass.config_entries.async_update_entry(entry, options=options, minor_version=2)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BessConfigEntry) -> bool:
    """Set up one battery: load its stores, reconstruct today, plan, start the triggers."""
    coordinator = BessCoordinator(hass, entry)
    entry.runtime_data = coordinator
    await coordinator.async_start()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BessConfigEntry) -> bool:
    """Unload one battery; the coordinator's shutdown (run on unload) saves its stores."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BessConfigEntry) -> None:
    """Delete the stored history and schedules of a removed battery, and its repair issues."""
    from .ha.storage import StorePersistence

    await StorePersistence(hass, entry.entry_id).async_remove()
    for issue in ENTRY_ISSUES:
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry.entry_id}")


async def _async_options_updated(hass: HomeAssistant, entry: BessConfigEntry) -> None:
    """Apply changed options by reloading the entry (stores are saved and reloaded)."""
    await hass.config_entries.async_reload(entry.entry_id)
