"""The base entity of bess: one device per config entry."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import BessCoordinator


class BessEntity(CoordinatorEntity[BessCoordinator]):
    """An entity of the bess device of one entry."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: BessCoordinator, description: EntityDescription) -> None:
        """Attach the entity to the entry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="bess",
            model="Battery optimizer",
            entry_type=DeviceEntryType.SERVICE,
        )
