"""The demo inverter's work-mode select."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity
from .home import DemoHome
from .sim import WorkMode


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the work-mode select."""
    async_add_entities([DemoWorkModeSelect(entry.runtime_data)])


class DemoWorkModeSelect(DemoEntity, SelectEntity):
    """What the inverter does with the battery: the mode bess switches every hour."""

    _attr_icon = "mdi:home-battery"

    def __init__(self, home: DemoHome) -> None:
        """Create the select (select.demo_inverter_work_mode)."""
        super().__init__(home, "work_mode", "Demo inverter work mode")
        self._attr_options = [mode.value for mode in WorkMode]

    @callback
    def _async_refresh(self) -> None:
        """Show the mode in force."""
        self._attr_current_option = self.home.command.work_mode.value

    async def async_select_option(self, option: str) -> None:
        """Switch the inverter's work mode."""
        self.home.async_command(work_mode=WorkMode(option))
