"""Persistence of the history and the schedules through Home Assistant's Store helper."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, override

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..const import DOMAIN

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
STORAGE_MINOR_VERSION = 1


class BessStore(Store[dict[str, Any]]):
    """The versioned store of one entry; migrations of older layouts live here."""

    @override
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        """Bring data written by an older version to the current layout."""
        if old_major_version > STORAGE_VERSION:
            # Written by a newer bess after a downgrade: refuse rather than misread it.
            raise NotImplementedError(f"storage version {old_major_version} is newer than ours")
        # Version 1.1 is the first layout: nothing to migrate yet. Later layouts add steps
        # here, keyed on (old_major_version, old_minor_version).
        return old_data


class StorePersistence:
    """Implements the engine's Persistence port with one Store per config entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Create the store `.storage/bess.<entry_id>`."""
        self._hass = hass
        self._store = BessStore(
            hass,
            STORAGE_VERSION,
            f"{DOMAIN}.{entry_id}",
            minor_version=STORAGE_MINOR_VERSION,
            atomic_writes=True,
        )

    @property
    def path(self) -> str:
        """Return the file the store writes."""
        return str(self._store.path)

    async def load(self) -> dict[str, Any] | None:
        """Return the saved data (None when there is none, or the file was corrupt JSON).

        Home Assistant itself moves a file that is not valid JSON aside as
        `<file>.corrupt.<time>` and raises a repair issue, so that case arrives here as None.
        """
        return await self._store.async_load()

    async def save(self, data: dict[str, Any]) -> None:
        """Write the data now (atomically)."""
        await self._store.async_save(data)

    async def async_keep_aside(self, data: Any) -> str:
        """Save data that could not be understood next to the store and return its path."""
        target = f"{self.path}.invalid.{dt_util.utcnow().strftime('%Y%m%dT%H%M%S')}"

        def _write() -> None:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")

        await self._hass.async_add_executor_job(_write)
        _LOGGER.error("Stored bess data could not be read; it was kept as %s", target)
        return target

    async def async_remove(self) -> None:
        """Delete the store (the entry was removed)."""
        await self._store.async_remove()
