"""The automatic-control switch: lets bess drive the inverter, or only plan and report."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .coordinator import BessConfigEntry, BessCoordinator
from .entity import BessEntity

PARALLEL_UPDATES = 0

AUTO_CONTROL = SwitchEntityDescription(key="auto_control", translation_key="auto_control")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BessConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the switch of one entry."""
    async_add_entities([BessAutoControlSwitch(entry.runtime_data, AUTO_CONTROL)])


class BessAutoControlSwitch(BessEntity, RestoreEntity, SwitchEntity):
    """On: bess commands the inverter (unless the entry is monitor only). Off: it only plans."""

    def __init__(self, coordinator: BessCoordinator, description: SwitchEntityDescription) -> None:
        """Create the switch."""
        super().__init__(coordinator, description)

    async def async_added_to_hass(self) -> None:
        """Restore the last choice across restarts (on by default)."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_OFF:
            await self.coordinator.async_set_auto_control(False)

    @property
    def available(self) -> bool:
        """The switch works whether or not the data is available."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether automatic control is on."""
        return self.coordinator.controller.enabled

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Let bess drive the inverter, starting with the hour in progress."""
        await self.coordinator.async_set_auto_control(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop commanding the inverter; planning and reporting go on."""
        await self.coordinator.async_set_auto_control(False)
