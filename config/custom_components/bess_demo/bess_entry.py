"""On a first start, add a bess entry wired to the demo home, through bess's own config flow.

Going through the flow (not writing an entry by hand) means the demo is configured exactly as a
user would configure it, and bess validates the demo's sensors as it would any others.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, UnknownHandler
from homeassistant.exceptions import HomeAssistantError
from homeassistant.loader import IntegrationNotFound, async_get_integration
import voluptuous as vol

from .home import DemoHome
from .sim import MODE_FOR_INTENT

_LOGGER = logging.getLogger(__name__)

BESS_DOMAIN = "bess"
BESS_TITLE = "Home battery"

# A Swedish-style contract: buy = (spot + markup)·VAT + grid fee; sell = spot + compensation.
PRICING = {
    "price_multiplier": 1.0,
    "price_markup": 0.01,
    "price_vat_factor": 1.25,
    "price_fixed_fee": 0.04,
    "export_multiplier": 1.0,
    "export_compensation": 0.005,
}


def flow_answers(home: DemoHome) -> dict[str, dict[str, Any]]:
    """Return what a user would enter in each step of bess's config flow for the demo."""
    settings = home.settings
    return {
        "user": {
            "name": BESS_TITLE,
            "capacity_kwh": settings.capacity_kwh,
            "min_soc_percent": settings.min_soc_percent,
            "max_soc_percent": settings.max_soc_percent,
            "max_charge_kw": settings.max_charge_kw,
            "max_discharge_kw": settings.max_discharge_kw,
            "charge_efficiency": settings.charge_efficiency,
            "discharge_efficiency": settings.discharge_efficiency,
            "cycle_cost_per_kwh": 0.01,
        },
        "sensors": {
            "soc_entity": "sensor.demo_battery_soc",
            "price_entity": "sensor.demo_spot_price",
            "solar_forecast_entity": "sensor.demo_solar_forecast_today",
            "consumption_entity": "sensor.demo_home_consumption",
            "grid_import_meter": "sensor.demo_grid_import",
            "grid_export_meter": "sensor.demo_grid_export",
            "solar_meter": "sensor.demo_solar_energy",
            "battery_charge_meter": "sensor.demo_battery_charge",
            "battery_discharge_meter": "sensor.demo_battery_discharge",
        },
        "control": {"control_mode": "entities"},
        "control_entities": {
            "work_mode_select": "select.demo_inverter_work_mode",
            "charge_power_number": "number.demo_inverter_charge_power",
            "discharge_power_number": "number.demo_inverter_discharge_power",
            "grid_charge_switch": "switch.demo_inverter_grid_charging",
        },
        "control_modes": {
            f"mode_option_{intent}": mode.value for intent, mode in MODE_FOR_INTENT.items()
        },
    }


async def async_create_bess_entry(hass: HomeAssistant, home: DemoHome) -> str | None:
    """Add the bess entry for the demo unless bess already has one; return its entry id."""
    if hass.config_entries.async_entries(BESS_DOMAIN):
        return None
    try:
        await async_get_integration(hass, BESS_DOMAIN)
    except IntegrationNotFound:
        _LOGGER.info("bess is not installed (config/custom_components/bess); nothing to add")
        return None
    answers = flow_answers(home)
    try:
        result = await hass.config_entries.flow.async_init(
            BESS_DOMAIN, context={"source": SOURCE_USER}
        )
        while result["type"] is FlowResultType.FORM:
            step = result["step_id"]
            if step not in answers or result.get("errors"):
                _LOGGER.warning(
                    "bess config flow stopped at step %s (errors %s); add bess by hand",
                    step,
                    result.get("errors"),
                )
                hass.config_entries.flow.async_abort(result["flow_id"])
                return None
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], answers[step]
            )
    except (UnknownHandler, HomeAssistantError, vol.Invalid) as err:
        _LOGGER.warning("Could not add bess for the demo home: %s", err)
        return None
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        _LOGGER.warning("bess config flow ended with %s", result["type"])
        return None
    entry_id: str = result["result"].entry_id
    _LOGGER.info("Added bess entry %s for the demo home", entry_id)
    await _async_set_pricing(hass, entry_id)
    return entry_id


async def _async_set_pricing(hass: HomeAssistant, entry_id: str) -> None:
    """Set the demo's contract in bess's options flow (pricing step)."""
    try:
        result = await hass.config_entries.options.async_init(entry_id)
        if result["type"] is FlowResultType.MENU:
            result = await hass.config_entries.options.async_configure(
                result["flow_id"], {"next_step_id": "pricing"}
            )
        if result["type"] is FlowResultType.FORM and result["step_id"] == "pricing":
            await hass.config_entries.options.async_configure(result["flow_id"], PRICING)
            return
        _LOGGER.warning("bess options flow has no pricing step; spot prices used as they are")
        if result["type"] is FlowResultType.FORM:
            hass.config_entries.options.async_abort(result["flow_id"])
    except (UnknownHandler, HomeAssistantError, vol.Invalid) as err:
        _LOGGER.warning("Could not set the demo contract's prices: %s", err)
