"""A simulated home for developing bess: battery and inverter, solar, household, spot price.

Development only, set up from configuration.yaml (imported into a config entry, so its sensors
belong to one entry as a real integration's do):

    bess_demo:
      capacity_kwh: 10        # any HomeSettings field may be given
      initial_soc_percent: 50
      create_bess_entry: true # add a bess entry wired to the demo on first start
"""

from __future__ import annotations

from dataclasses import fields

from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .bess_entry import async_create_bess_entry
from .const import CONF_CREATE_BESS_ENTRY, CONF_INITIAL_SOC, DOMAIN
from .energy_prefs import async_offer_energy_dashboard
from .home import DemoHome
from .sim import HomeSettings

type DemoConfigEntry = ConfigEntry[DemoHome]

PLATFORMS = [Platform.NUMBER, Platform.SELECT, Platform.SENSOR, Platform.SWITCH]
_SETTING_FIELDS = {f.name for f in fields(HomeSettings)}

CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                **{
                    vol.Optional(f.name): cv.boolean if f.type == "bool" else vol.Coerce(float)
                    for f in fields(HomeSettings)
                },
                vol.Optional(CONF_INITIAL_SOC, default=50.0): vol.All(
                    vol.Coerce(float), vol.Range(min=0, max=100)
                ),
                vol.Optional(CONF_CREATE_BESS_ENTRY, default=True): cv.boolean,
            }
        )
    },
    extra=vol.ALLOW_EXTRA,
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Import the demo home from configuration.yaml into its config entry."""
    if DOMAIN in config:
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data=dict(config[DOMAIN])
            )
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: DemoConfigEntry) -> bool:
    """Build the demo home, start its clock and add its entities."""
    conf = entry.data
    given = {key: value for key, value in conf.items() if key in _SETTING_FIELDS}
    settings = HomeSettings(
        **{
            "latitude_deg": hass.config.latitude,
            "longitude_deg": hass.config.longitude,
            **given,
        }
    )
    home = DemoHome(hass, settings, conf.get(CONF_INITIAL_SOC, 50.0))
    await home.async_start()
    entry.runtime_data = home
    entry.async_on_unload(home.async_stop)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    # Once everything is loaded: the Energy dashboard and bess may be set up after the demo.
    async def _when_started(hass: HomeAssistant) -> None:
        await async_offer_energy_dashboard(hass)
        if conf.get(CONF_CREATE_BESS_ENTRY, True):
            await async_create_bess_entry(hass, home)

    entry.async_on_unload(async_at_started(hass, _when_started))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: DemoConfigEntry) -> bool:
    """Stop the demo home and remove its entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
