"""Diagnostics of bess: configuration, today's history and schedules, last errors."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import CONF_GROWATT_DEVICE_ID
from .coordinator import BessConfigEntry

# Entity ids say nothing private; the Growatt device id names the user's cloud device.
TO_REDACT = {CONF_GROWATT_DEVICE_ID}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BessConfigEntry
) -> dict[str, Any]:
    """Return what a maintainer needs to understand an entry's behaviour."""
    coordinator = entry.runtime_data
    manager = coordinator.manager
    today = dt_util.now().date()
    controller = coordinator.controller
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "sources": coordinator.energy.describe_sources(),
        "history_today": [event.to_dict() for event in manager.history.get_day_events(today)],
        "schedules_today": [s.to_dict() for s in manager.schedules.get_all_schedules_today(today)],
        "daily_view": coordinator.daily_view(today).to_dict(),
        "last_update_success": coordinator.last_update_success,
        "last_error": str(coordinator.last_exception) if coordinator.last_exception else None,
        "manager_last_error": manager.last_error,
        "control": {
            "mode": controller.config.mode,
            "enabled": controller.enabled,
            "status": controller.status.value,
            "last_error": controller.last_error,
            "last_commands": [
                {"service": f"{c.domain}.{c.service}", "data": c.data}
                for c in controller.last_commands
            ],
        },
    }
