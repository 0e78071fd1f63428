"""Fill Home Assistant's Energy dashboard with the demo's meters, when it is still empty."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

PRICE_ENTITY = "sensor.demo_spot_price"


def demo_energy_sources() -> list[dict[str, Any]]:
    """Return the Energy dashboard's sources for the demo home's meters."""
    return [
        {
            "type": "grid",
            "flow_from": [
                {
                    "stat_energy_from": "sensor.demo_grid_import",
                    "stat_cost": None,
                    "entity_energy_price": PRICE_ENTITY,
                    "number_energy_price": None,
                }
            ],
            "flow_to": [
                {
                    "stat_energy_to": "sensor.demo_grid_export",
                    "stat_compensation": None,
                    "entity_energy_price": PRICE_ENTITY,
                    "number_energy_price": None,
                }
            ],
            "cost_adjustment_day": 0.0,
        },
        {
            "type": "solar",
            "stat_energy_from": "sensor.demo_solar_energy",
            "config_entry_solar_forecast": None,
        },
        {
            "type": "battery",
            "stat_energy_from": "sensor.demo_battery_discharge",
            "stat_energy_to": "sensor.demo_battery_charge",
        },
    ]


async def async_offer_energy_dashboard(hass: HomeAssistant) -> bool:
    """Configure the Energy dashboard for the demo unless it is configured; return if it was."""
    if "energy" not in hass.config.components:
        return False
    from homeassistant.components.energy.data import async_get_manager

    manager = await async_get_manager(hass)
    if manager.data is not None and manager.data.get("energy_sources"):
        return False
    await manager.async_update({"energy_sources": demo_energy_sources()})  # type: ignore[typeddict-item]
    return True
