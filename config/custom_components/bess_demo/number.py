"""The demo inverter's charge and discharge power set-points (kW, AC side)."""

from __future__ import annotations

from homeassistant.components.number import NumberDeviceClass, NumberEntity, NumberMode
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import DemoConfigEntry
from .entity import DemoEntity
from .home import DemoHome


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the two power set-points."""
    home = entry.runtime_data
    async_add_entities(
        [
            DemoPowerNumber(home, "charge_power", "Demo inverter charge power", discharge=False),
            DemoPowerNumber(
                home, "discharge_power", "Demo inverter discharge power", discharge=True
            ),
        ]
    )


class DemoPowerNumber(DemoEntity, NumberEntity):
    """A power set-point, bounded by the inverter's own limit."""

    _attr_device_class = NumberDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT
    _attr_native_min_value = 0.0
    _attr_native_step = 0.01
    _attr_mode = NumberMode.BOX

    def __init__(self, home: DemoHome, key: str, name: str, *, discharge: bool) -> None:
        """Create the charge or the discharge set-point."""
        super().__init__(home, key, name)
        self._field = "discharge_power_kw" if discharge else "charge_power_kw"
        self._attr_native_max_value = (
            home.settings.max_discharge_kw if discharge else home.settings.max_charge_kw
        )
        self._attr_icon = "mdi:battery-arrow-down" if discharge else "mdi:battery-arrow-up"

    @callback
    def _async_refresh(self) -> None:
        """Show the set-point in force."""
        self._attr_native_value = getattr(self.home.command, self._field)

    async def async_set_native_value(self, value: float) -> None:
        """Change the set-point."""
        # + 0.0 turns a -0.0 set-point (a negated zero) into a plain zero.
        self.home.async_command(**{self._field: float(value) + 0.0})
