"""The demo inverter's grid-charging switch."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity
from .home import DemoHome


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the grid-charging switch."""
    async_add_entities([DemoGridChargingSwitch(entry.runtime_data)])


class DemoGridChargingSwitch(DemoEntity, SwitchEntity):
    """Whether the inverter may charge the battery from the grid ("Charge from grid" needs it)."""

    _attr_icon = "mdi:transmission-tower-import"

    def __init__(self, home: DemoHome) -> None:
        """Create the switch (switch.demo_inverter_grid_charging)."""
        super().__init__(home, "grid_charging", "Demo inverter grid charging")

    @callback
    def _async_refresh(self) -> None:
        """Show whether grid charging is allowed."""
        self._attr_is_on = self.home.command.grid_charging

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Allow charging from the grid."""
        self.home.async_command(grid_charging=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Forbid charging from the grid."""
        self.home.async_command(grid_charging=False)
