"""A simulated home for developing bess: battery and inverter, solar, household, spot price.

Development only, set up from configuration.yaml:

    bess_demo:
      capacity_kwh: 10        # any HomeSettings field may be given
      initial_soc_percent: 50
      create_bess_entry: true # add a bess entry wired to the demo on first start
"""

from __future__ import annotations

from dataclasses import fields

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, discovery
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .bess_entry import async_create_bess_entry
from .const import CONF_CREATE_BESS_ENTRY, CONF_INITIAL_SOC, DOMAIN, PLATFORMS
from .home import DemoHome
from .sim import HomeSettings

_SETTING_FIELDS = {f.name for f in fields(HomeSettings)}

CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                **{vol.Optional(name): vol.Coerce(float) for name in sorted(_SETTING_FIELDS)},
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
    """Build the demo home, start its clock and add its entities."""
    conf = config.get(DOMAIN)
    if conf is None:
        return True
    given = {key: value for key, value in conf.items() if key in _SETTING_FIELDS}
    settings = HomeSettings(
        **{
            "latitude_deg": hass.config.latitude,
            "longitude_deg": hass.config.longitude,
            **given,
        }
    )
    home = DemoHome(hass, settings, conf[CONF_INITIAL_SOC])
    await home.async_start()
    hass.data[DOMAIN] = home

    @callback
    def _stop(_: Event) -> None:
        home.async_stop()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _stop)

    for platform in PLATFORMS:
        hass.async_create_task(
            discovery.async_load_platform(hass, Platform(platform), DOMAIN, {}, config),
            eager_start=True,
        )

    if conf[CONF_CREATE_BESS_ENTRY]:

        async def _create_entry(hass: HomeAssistant) -> None:
            await async_create_bess_entry(hass, home)

        async_at_started(hass, _create_entry)
    return True
