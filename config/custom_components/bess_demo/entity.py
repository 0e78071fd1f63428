"""The base of every demo entity: pushed by the home's minute tick, never polled."""

from __future__ import annotations

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import callback
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .home import DemoHome


class DemoEntity(Entity):
    """An entity of the demo home; its state is read from the home on every tick."""

    _attr_should_poll = False

    def __init__(self, home: DemoHome, key: str, name: str) -> None:
        """Name the entity; its entity id follows from the name (e.g. sensor.demo_battery_soc)."""
        self.home = home
        self.key = key
        self._attr_unique_id = f"{DOMAIN}_{key}"
        self._attr_name = name

    @property
    def available(self) -> bool:
        """Available unless a test has made it unavailable (DemoFaults)."""
        return self.home.faults.readings.get(self.key) != STATE_UNAVAILABLE

    async def async_added_to_hass(self) -> None:
        """Follow the home's updates."""
        await super().async_added_to_hass()
        self._async_refresh()
        self.async_on_remove(self.home.async_listen(self._async_update_and_write))

    @callback
    def _async_update_and_write(self) -> None:
        """Read the home and publish the state."""
        self._async_refresh()
        self.async_write_ha_state()

    @callback
    def _async_refresh(self) -> None:
        """Copy what this entity shows from the home."""
