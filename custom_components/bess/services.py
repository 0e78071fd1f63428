"""Services of bess: run a scenario now, and read the daily view and the schedules."""

from __future__ import annotations

from datetime import date
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import DOMAIN
from .coordinator import BessConfigEntry, BessCoordinator

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DATE = "date"
ATTR_RESOLUTION = "resolution"

SERVICE_CREATE_TOMORROWS_SCHEDULE = "create_tomorrows_schedule"
SERVICE_UPDATE_SCHEDULE = "update_schedule"
SERVICE_RECONSTRUCT = "reconstruct"
SERVICE_GET_DAILY_VIEW = "get_daily_view"
SERVICE_GET_SCHEDULES = "get_schedules"

ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
DATED_SCHEMA = ENTRY_SCHEMA.extend({vol.Optional(ATTR_DATE): cv.date})
# The daily view by hour (default) or by the periods it was planned and recorded in.
VIEW_SCHEMA = DATED_SCHEMA.extend(
    {vol.Optional(ATTR_RESOLUTION, default="hour"): vol.In(("hour", "period"))}
)


def _coordinator(hass: HomeAssistant, call: ServiceCall) -> BessCoordinator:
    """Return the coordinator of the entry a call names, or refuse the call."""
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: BessConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return entry.runtime_data


def _day(call: ServiceCall) -> date:
    """Return the date a call asks for (default: today)."""
    day: date | None = call.data.get(ATTR_DATE)
    return day if day is not None else dt_util.now().date()


async def _async_create_tomorrows_schedule(call: ServiceCall) -> None:
    """Plan tomorrow now."""
    await _coordinator(call.hass, call).async_create_tomorrows_schedule()


async def _async_update_schedule(call: ServiceCall) -> None:
    """Re-plan the rest of today from the real SOC now."""
    await _coordinator(call.hass, call).async_restart_and_reconstruct()


async def _async_reconstruct(call: ServiceCall) -> None:
    """Rebuild today's missing hours from the recorder and re-plan."""
    await _coordinator(call.hass, call).async_restart_and_reconstruct()


async def _async_get_daily_view(call: ServiceCall) -> ServiceResponse:
    """Return the DailyView of a date."""
    coordinator = _coordinator(call.hass, call)
    day = _day(call)
    view = coordinator.daily_view(day)
    if view.actual_hours + view.partial_hours + view.predicted_hours == 0:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_data_for_date",
            translation_placeholders={"date": day.isoformat()},
        )
    result: dict[str, Any] = view.to_dict(call.data[ATTR_RESOLUTION])
    # A finished day with every period measured has its hindsight report (engine/hindsight.py).
    report = coordinator.manager.hindsight_report(day)
    result["hindsight"] = report.to_dict() if report is not None else None
    return result


async def _async_get_schedules(call: ServiceCall) -> ServiceResponse:
    """Return every schedule stored for a date."""
    coordinator = _coordinator(call.hass, call)
    day = _day(call)
    schedules = coordinator.manager.schedules.get_all_schedules_today(day)
    return {
        "date": day.isoformat(),
        "schedules": [schedule.to_dict() for schedule in schedules],
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the services once, for every entry."""
    for name, handler in (
        (SERVICE_CREATE_TOMORROWS_SCHEDULE, _async_create_tomorrows_schedule),
        (SERVICE_UPDATE_SCHEDULE, _async_update_schedule),
        (SERVICE_RECONSTRUCT, _async_reconstruct),
    ):
        hass.services.async_register(DOMAIN, name, handler, schema=ENTRY_SCHEMA)
    for name, response_handler, schema in (
        (SERVICE_GET_DAILY_VIEW, _async_get_daily_view, VIEW_SCHEMA),
        (SERVICE_GET_SCHEDULES, _async_get_schedules, DATED_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN,
            name,
            response_handler,
            schema=schema,
            supports_response=SupportsResponse.ONLY,
        )
