"""The Home Assistant controller: drives the inverter through service calls only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import logging
from typing import Any

from homeassistant.const import ATTR_ENTITY_ID, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import voluptuous as vol

from ..const import (
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONTROL_MODE,
    CONF_CONTROL_SCRIPT,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_GRID_CHARGE_SWITCH,
    CONF_GROWATT_DEVICE_ID,
    CONF_MODE_OPTION_PREFIX,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
    CONTROL_MONITOR,
    CONTROL_SCRIPT,
    DOMAIN,
)
from ..engine.models import Intent, OptimizationResult, PeriodPlan
from ..engine.tou import GROWATT_MAX_INTERVALS, TouMode, schedule_to_tou

_LOGGER = logging.getLogger(__name__)

ISSUE_CONTROL_FAILED = "control_failed"


class ControlStatus(StrEnum):
    """What the controller is doing."""

    MONITORING = "monitoring"
    CONTROLLING = "controlling"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """How the inverter is reached, from the entry's options."""

    mode: str = CONTROL_MONITOR
    work_mode_select: str | None = None
    mode_options: Mapping[Intent, str] = field(default_factory=dict)
    charge_power_number: str | None = None
    discharge_power_number: str | None = None
    grid_charge_switch: str | None = None
    script: str | None = None
    growatt_device_id: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ControlConfig:
        """Read the control settings of an entry."""
        return cls(
            mode=options.get(CONF_CONTROL_MODE, CONTROL_MONITOR),
            work_mode_select=options.get(CONF_WORK_MODE_SELECT),
            mode_options={
                intent: options[f"{CONF_MODE_OPTION_PREFIX}{intent.value}"]
                for intent in Intent
                if options.get(f"{CONF_MODE_OPTION_PREFIX}{intent.value}")
            },
            charge_power_number=options.get(CONF_CHARGE_POWER_NUMBER),
            discharge_power_number=options.get(CONF_DISCHARGE_POWER_NUMBER),
            grid_charge_switch=options.get(CONF_GRID_CHARGE_SWITCH),
            script=options.get(CONF_CONTROL_SCRIPT),
            growatt_device_id=options.get(CONF_GROWATT_DEVICE_ID),
        )


@dataclass(frozen=True, slots=True)
class ServiceCommand:
    """One service call; `key` names the setting it writes, to skip unchanged writes."""

    key: str
    domain: str
    service: str
    data: dict[str, Any]


class ControlError(HomeAssistantError):
    """The inverter rejected a command twice."""

    def __init__(self, service: str, error: str) -> None:
        """Name the service call and what the inverter answered."""
        super().__init__(f"{service} failed: {error}")
        self.service = service
        self.error = error


class HomeAssistantController:
    """Implements the engine's BatteryController port with Home Assistant service calls.

    It writes only when a commanded setting changes, retries a rejected call once, and then
    reports the failure (status `error` and a repair issue) without raising: the hourly loop
    must go on whatever the inverter does.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, config: ControlConfig) -> None:
        """Create the controller of one entry."""
        self._hass = hass
        self._entry_id = entry_id
        self.config = config
        self.enabled = True
        self.status = ControlStatus.MONITORING
        self.last_error: str | None = None
        self.last_commands: list[ServiceCommand] = []
        self._written: dict[str, dict[str, Any]] = {}

    @property
    def writes(self) -> bool:
        """Return whether this controller sends commands at all."""
        return self.enabled and self.config.mode != CONTROL_MONITOR

    def set_enabled(self, enabled: bool) -> None:
        """Turn automatic control on (write everything again at the next apply) or off."""
        self.enabled = enabled
        self._written.clear()
        if not enabled:
            self._set_status(ControlStatus.MONITORING)

    def _set_status(self, status: ControlStatus, error: str | None = None) -> None:
        """Change the status; the repair issue stands exactly while the status is error."""
        self.status = status
        self.last_error = error
        if status is not ControlStatus.ERROR:
            ir.async_delete_issue(self._hass, DOMAIN, f"{ISSUE_CONTROL_FAILED}_{self._entry_id}")

    async def apply(self, result: OptimizationResult, now: datetime) -> None:
        """Command the inverter to follow `result` from `now`."""
        if not self.writes:
            self._set_status(ControlStatus.MONITORING)
            return
        commands = self.commands_for(result, now)
        self.last_commands = commands
        try:
            for command in commands:
                if self._written.get(command.key) == command.data:
                    continue
                await self._call_with_retry(command)
                self._written[command.key] = command.data
        except ControlError as err:
            self._set_status(ControlStatus.ERROR, str(err))
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                f"{ISSUE_CONTROL_FAILED}_{self._entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_CONTROL_FAILED,
                translation_placeholders={"service": err.service, "error": err.error},
            )
            return
        self._set_status(ControlStatus.CONTROLLING)

    async def _call_with_retry(self, command: ServiceCommand) -> None:
        """Call the service; once more if it fails; raise ControlError after the second."""
        name = f"{command.domain}.{command.service}"
        error: Exception | None = None
        for attempt in (1, 2):
            try:
                await self._hass.services.async_call(
                    command.domain, command.service, dict(command.data), blocking=True
                )
            except (HomeAssistantError, vol.Invalid, ValueError) as err:
                error = err
                _LOGGER.warning("%s failed (attempt %s of 2): %s", name, attempt, err)
            else:
                return
        raise ControlError(name, str(error))

    def commands_for(self, result: OptimizationResult, now: datetime) -> list[ServiceCommand]:
        """Return the service calls that make the inverter follow `result` from `now`."""
        index = result.index_at(now)
        if index is None:
            return []
        if self.config.mode == CONTROL_ENTITIES:
            return self._entity_commands(result.periods[index], result.period_minutes)
        if self.config.mode == CONTROL_SCRIPT:
            return self._script_commands(result, index)
        if self.config.mode == CONTROL_GROWATT:
            return self._growatt_commands(result, index)
        return []

    def _entity_commands(self, period: PeriodPlan, period_minutes: int) -> list[ServiceCommand]:
        """Work-mode select, power numbers and grid-charging switch for one period."""
        config = self.config
        commands: list[ServiceCommand] = []
        if config.work_mode_select and (option := config.mode_options.get(period.intent)):
            commands.append(
                ServiceCommand(
                    "work_mode",
                    "select",
                    "select_option",
                    {ATTR_ENTITY_ID: config.work_mode_select, "option": option},
                )
            )
        # "+ 0.0" turns a negative zero into 0.0: inverters should never see "-0.0".
        charge_kw = max(period.battery_action_kw, 0.0) + 0.0
        discharge_kw = max(-period.battery_action_kw, 0.0) + 0.0
        for key, entity_id, kw in (
            ("charge_power", config.charge_power_number, charge_kw),
            ("discharge_power", config.discharge_power_number, discharge_kw),
        ):
            if entity_id:
                commands.append(
                    ServiceCommand(
                        key,
                        "number",
                        "set_value",
                        {ATTR_ENTITY_ID: entity_id, "value": self._number_value(entity_id, kw)},
                    )
                )
        if config.grid_charge_switch:
            on = period.intent is Intent.GRID_CHARGING
            commands.append(
                ServiceCommand(
                    "grid_charging",
                    "switch",
                    "turn_on" if on else "turn_off",
                    {ATTR_ENTITY_ID: config.grid_charge_switch},
                )
            )
        return commands

    def _number_value(self, entity_id: str, kw: float) -> float:
        """Convert kW to the number entity's own unit and clamp it to the entity's range."""
        state = self._hass.states.get(entity_id)
        value = kw
        if state is not None:
            unit = state.attributes.get("unit_of_measurement")
            if unit == UnitOfPower.WATT:
                value = kw * 1000.0
            elif unit == UnitOfPower.MEGA_WATT:
                value = kw / 1000.0
            low = state.attributes.get("min")
            high = state.attributes.get("max")
            if isinstance(low, int | float):
                value = max(value, float(low))
            if isinstance(high, int | float):
                value = min(value, float(high))
        return round(value, 3)

    def _script_commands(self, result: OptimizationResult, index: int) -> list[ServiceCommand]:
        """One script run per stretch of equal action; unchanged while the stretch lasts."""
        period = result.periods[index]
        first = index
        while first > 0 and _same_action(result.periods[first - 1], period):
            first -= 1
        last = index
        while last + 1 < len(result.periods) and _same_action(result.periods[last + 1], period):
            last += 1
        variables = {
            "mode": period.intent.value,
            "power_kw": round(period.battery_action_kw, 3),
            "start": result.period_start(first).isoformat(),
            "end": result.period_start(last + 1).isoformat(),
        }
        return [
            ServiceCommand(
                "script",
                "script",
                "turn_on",
                {ATTR_ENTITY_ID: self.config.script, "variables": variables},
            )
        ]

    def _growatt_commands(self, result: OptimizationResult, index: int) -> list[ServiceCommand]:
        """The remaining plan as Growatt time segments (at most nine); the rest disabled."""
        # Outside every enabled segment a Growatt inverter runs load-first, so only the
        # battery-first and grid-first intervals need a segment.
        intervals = [
            interval
            for interval in schedule_to_tou(
                result, GROWATT_MAX_INTERVALS, start_index=index, count_load_first=False
            )
            if interval.mode is not TouMode.LOAD_FIRST
        ]
        commands: list[ServiceCommand] = []
        for segment in range(1, GROWATT_MAX_INTERVALS + 1):
            data: dict[str, Any] = {
                "device_id": self.config.growatt_device_id,
                "segment_id": segment,
            }
            if segment <= len(intervals):
                interval = intervals[segment - 1]
                data |= {
                    "batt_mode": interval.mode.value,
                    "start_time": interval.start.strftime("%H:%M"),
                    # Growatt segments end on an inclusive minute.
                    "end_time": _inclusive_end(interval.end, interval.start),
                    "enabled": True,
                }
            else:
                data |= {
                    "batt_mode": "load_first",
                    "start_time": "00:00",
                    "end_time": "00:00",
                    "enabled": False,
                }
            commands.append(
                ServiceCommand(
                    f"growatt_segment_{segment}", "growatt_server", "update_time_segment", data
                )
            )
        return commands


def _same_action(a: PeriodPlan, b: PeriodPlan) -> bool:
    """Return whether two periods command the same thing."""
    return a.intent is b.intent and abs(a.battery_action_kw - b.battery_action_kw) < 1e-3


def _inclusive_end(end: datetime, start: datetime) -> str:
    """Return the last minute of an interval as HH:MM (23:59 for an interval ending at midnight)."""
    local_end = end.astimezone(start.tzinfo)
    if local_end.date() != start.date() or (local_end.hour, local_end.minute) == (0, 0):
        return "23:59"
    minutes = local_end.hour * 60 + local_end.minute - 1
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
