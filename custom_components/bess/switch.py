"""The automatic-control switch: lets bess drive the inverter, or only plan and report."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .coordinator import BessConfigEntry
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


class BessAutoControlSwitch(BessEntity, SwitchEntity):
    """On: bess commands the inverter (unless the entry is monitor only). Off: it only plans.

    The choice is saved in the entry's store and restored before the first plan is applied,
    so switched off stays off across restarts and reloads.
    """

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
