"""Persistence of the history and the schedules through Home Assistant's Store helper.

A store that bess cannot read is never overwritten or deleted: its file is copied aside,
byte for byte, before anything is saved again (see `StorePersistence.load`).

Saving keeps the event loop free with a year of history. A scenario's changes go through
`Store.async_delay_save`, so they are written once, a few seconds later (and by Home
Assistant's final write if it stops first). The engine hands its state as JSON text, each
entry encoded once when it was made, and that text goes in as JSON fragments: whether Home
Assistant encodes in the event loop (2025.12 and newer, by default) or in a worker thread
(older releases), encoding is a copy. The data function returns data built beforehand, so it
is also safe where Home Assistant calls it from a worker thread. (`Store`'s
`serialize_in_event_loop` is not in every supported release, so it is not used.)
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import logging
from pathlib import Path
import shutil
from typing import Any, override

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.json import json_fragment
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.json import json_loads

from ..const import DOMAIN

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
STORAGE_MINOR_VERSION = 1
# Long enough for one scenario's changes (record, reconstruct, plan) to make one write.
SAVE_DELAY_SECONDS = 10.0


class UnreadableStoreError(Exception):
    """The stored file cannot be read by this bess; nothing of it was loaded."""


class BessStore(Store[dict[str, Any]]):
    """The versioned store of one entry; migrations of older layouts live here."""

    @override
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        """Bring data written by an older version to the current layout."""
        if old_major_version > STORAGE_VERSION:
            # Written by a newer bess after a downgrade: refuse rather than misread it.
            # (Home Assistant 2025.10 and newer refuse it themselves before this is called.)
            raise UnreadableStoreError(_newer_message(old_major_version))
        # Version 1.1 is the first layout: nothing to migrate yet. Later layouts add steps
        # here, keyed on (old_major_version, old_minor_version). The history inside versions
        # itself (the engine reads its layouts 1 and 2), so adding daily totals needed no
        # step here, nor a re-save of the whole store in the event loop.
        return old_data


def store_data(state: Mapping[str, str], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Return the data the Store writes: `state`'s JSON texts as fragments, `extra` as it is."""
    return {**{key: json_fragment(text) for key, text in state.items()}, **extra}


def _newer_message(version: object) -> str:
    return f"it was written by a newer bess (storage version {version}, this bess reads 1)"


def check_envelope(raw: bytes) -> None:
    """Raise UnreadableStoreError unless `raw` is a store file this bess can read."""
    try:
        # Home Assistant's own parser: what it rejects (NaN, say) is rejected here first.
        envelope = json_loads(raw)
    except ValueError as err:  # orjson's JSONDecodeError and UnicodeDecodeError are too
        raise UnreadableStoreError(f"the file is not valid JSON ({err})") from err
    if not isinstance(envelope, dict):
        raise UnreadableStoreError("the file does not hold a JSON object")
    version = envelope.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnreadableStoreError(f"the file has no storage version (version: {version!r})")
    if version > STORAGE_VERSION:
        raise UnreadableStoreError(_newer_message(version))
    if not isinstance(envelope.get("data"), dict):
        raise UnreadableStoreError("the file's data is not a JSON object")


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
        """Return the saved data, or None when there is none.

        Raise UnreadableStoreError when the file is not valid JSON, not of the store's shape,
        or written by a newer bess. The file is checked here before Home Assistant's Store
        reads it, so that bess (not Store, which differs between Home Assistant versions)
        decides what happens to it: `async_keep_aside`, then a repair issue.
        """
        # Read and checked off the event loop: a year of history is megabytes of JSON.
        await self._hass.async_add_executor_job(self._check_file)
        try:
            data = await self._store.async_load()
        except UnreadableStoreError:
            raise
        except (HomeAssistantError, ValueError, KeyError, TypeError) as err:
            # E.g. Home Assistant's UnsupportedStorageVersionError (2025.10 and newer).
            raise UnreadableStoreError(f"Home Assistant could not load it ({err})") from err
        if data is not None and not isinstance(data, dict):
            raise UnreadableStoreError("the stored data is not a JSON object")
        return data

    def _check_file(self) -> None:
        try:
            raw = Path(self.path).read_bytes()
        except FileNotFoundError:
            return
        check_envelope(raw)

    async def save(self, state: Mapping[str, str], extra: Mapping[str, Any] | None = None) -> None:
        """Write `state` (JSON text per key) and `extra` now, atomically.

        A write pending from `save_soon` is replaced by this one, not written after it.
        """
        await self._store.async_save(store_data(state, extra or {}))

    def save_soon(self, state: Mapping[str, str], extra: Mapping[str, Any] | None = None) -> None:
        """Write `state` and `extra` within SAVE_DELAY_SECONDS; a later call replaces them.

        If Home Assistant stops first, its final write writes them. (Never load through a
        Store with a save pending: Home Assistant deep-copies pending data, and a JSON
        fragment cannot be copied. bess loads once, before it saves anything.)
        """
        data = store_data(state, extra or {})
        self._store.async_delay_save(lambda: data, SAVE_DELAY_SECONDS)

    async def async_keep_aside(self, data: Any) -> str:
        """Keep what could not be read next to the store, never pruned; return its path.

        The file is copied as it is, byte for byte. Where there is no file (the data came
        from somewhere else, as in tests), `data` is written as JSON.
        """
        target = f"{self.path}.invalid.{dt_util.utcnow().strftime('%Y%m%dT%H%M%S%f')}"

        def _copy() -> None:
            source = Path(self.path)
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            if source.exists():
                shutil.copy2(source, target)
                if Path(target).read_bytes() != source.read_bytes():
                    raise OSError(f"the copy {target} differs from {source}")
            else:
                Path(target).write_text(json.dumps(data, indent=2, default=str), "utf-8")

        await self._hass.async_add_executor_job(_copy)
        _LOGGER.error("Stored bess data could not be read; it was kept as %s", target)
        return target

    async def async_remove(self) -> None:
        """Delete the store (the entry was removed)."""
        await self._store.async_remove()
