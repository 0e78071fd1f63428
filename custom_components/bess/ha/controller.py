"""The Home Assistant controller: drives the inverter through service calls only.

Under a capacity tariff (engine/capacity.py) the plan caps grid import in the periods that
count; `import_cap` (set by the coordinator when a tariff is configured) says the cap at a
moment. Entity and Growatt control hold it through the plan itself: the discharge power set
is the plan's discharge, which is what keeps the forecast import at or below the cap (the
plan's import = load − solar + charge − discharge ≤ cap). Import above the cap when the real
load exceeds the forecast is not chased by those modes. A control script gets the cap as
`import_cap_kw` (kW of import power, None where no cap applies this period; the variable is
there only when a tariff is configured), so it can hold import at the cap in real time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import logging
from typing import Any

from homeassistant.const import (
    ATTR_ENTITY_ID,
    PERCENTAGE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import voluptuous as vol

from ..const import (
    CONF_CHARGE_POWER_NUMBER,
    CONF_CONTROL_MODE,
    CONF_CONTROL_SCRIPT,
    CONF_CURTAIL_ENTITY,
    CONF_CURTAILMENT,
    CONF_DISCHARGE_POWER_NUMBER,
    CONF_GRID_CHARGE_SWITCH,
    CONF_GROWATT_DEVICE_ID,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MODE_OPTION_PREFIX,
    CONF_SAFE_MODE,
    CONF_WORK_MODE_SELECT,
    CONTROL_ENTITIES,
    CONTROL_GROWATT,
    CONTROL_MONITOR,
    CONTROL_SCRIPT,
    DOMAIN,
    SAFE_MODE_HOLD,
    SAFE_MODE_SELF_CONSUMPTION,
)
from ..engine.models import Intent, OptimizationResult, PeriodPlan
from ..engine.tou import GROWATT_MAX_INTERVALS, TouInterval, TouMode, schedule_to_tou

_LOGGER = logging.getLogger(__name__)

ISSUE_CONTROL_FAILED = "control_failed"


class ControlStatus(StrEnum):
    """What the controller is doing."""

    MONITORING = "monitoring"
    CONTROLLING = "controlling"
    # A scenario failed (missing SOC or prices): the last plan's period is followed while that
    # plan covers now, else the inverter is put in its safe mode. `last_error` says why.
    FOLLOWING_LAST_PLAN = "following_last_plan"
    SAFE_MODE = "safe_mode"
    # Somebody changed a setting bess controls; bess sets it again at the next period.
    OVERRIDDEN = "overridden"
    ERROR = "error"


# What bess commands when it has no plan for now, per safe mode: the inverter's
# self-consumption mode (the default), or holding the battery as it is.
SAFE_INTENTS = {
    SAFE_MODE_SELF_CONSUMPTION: Intent.LOAD_SUPPORT,
    SAFE_MODE_HOLD: Intent.IDLE,
}


def can_curtail(options: Mapping[str, Any]) -> bool:
    """Return whether the plan may curtail solar where exporting costs money.

    Only when the user turned it on and the control can carry it out: a script (its `curtail`
    variable), inverter entities with an export limit or curtail switch, or monitoring only
    (the user acts on the plan). Growatt control cannot curtail, and entities without a
    curtail entity would leave the plan promising a saving the inverter never makes.
    """
    if not options.get(CONF_CURTAILMENT, False):
        return False
    mode = options.get(CONF_CONTROL_MODE, CONTROL_MONITOR)
    if mode == CONTROL_GROWATT:
        return False
    return mode != CONTROL_ENTITIES or bool(options.get(CONF_CURTAIL_ENTITY))


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
    safe_mode: str = SAFE_MODE_SELF_CONSUMPTION
    # The battery's power limits: what 100 % means to a power number in percent.
    max_charge_kw: float | None = None
    max_discharge_kw: float | None = None
    # An export-limit number or a curtail switch (entity mode), and whether the plan may
    # curtail where exporting costs money.
    curtail_entity: str | None = None
    curtailment: bool = False

    @property
    def safe_intent(self) -> Intent:
        """Return the intent bess commands in its safe mode."""
        return SAFE_INTENTS.get(self.safe_mode, Intent.LOAD_SUPPORT)

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
            safe_mode=options.get(CONF_SAFE_MODE, SAFE_MODE_SELF_CONSUMPTION),
            max_charge_kw=_positive(options.get(CONF_MAX_CHARGE_KW)),
            max_discharge_kw=_positive(options.get(CONF_MAX_DISCHARGE_KW)),
            curtail_entity=options.get(CONF_CURTAIL_ENTITY),
            curtailment=can_curtail(options),
        )


@dataclass(frozen=True, slots=True)
class ServiceCommand:
    """One service call; `key` names the setting it writes, to skip unchanged writes.

    `entity_id` and `expected` (the entity's state once the command is in effect) let the
    controller compare with the entity's real state; `setting` is what counts as a change
    where no state can be read (a script's variables without the moving start, say).
    """

    key: str
    domain: str
    service: str
    data: dict[str, Any]
    entity_id: str | None = None
    expected: str | float | None = None
    tolerance: float = 0.0
    setting: Any = None

    @property
    def what(self) -> Any:
        """Return what this command sets (compared with what was last written)."""
        return self.data if self.setting is None else self.setting


class ControlError(HomeAssistantError):
    """The inverter rejected a command twice."""

    def __init__(self, service: str, error: str) -> None:
        """Name the service call and what the inverter answered."""
        super().__init__(f"{service} failed: {error}")
        self.service = service
        self.error = error


class HomeAssistantController:
    """Implements the engine's BatteryController port with Home Assistant service calls.

    It writes a setting only when the entity's real state differs from it (or, where no
    state can be read, when it differs from what was last written), retries a rejected call
    once, and then reports the failure (status `error` and a repair issue) without raising:
    the loop must go on whatever the inverter does. A setting changed by hand shows as
    `overridden` until the next period's command has set it again.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, config: ControlConfig) -> None:
        """Create the controller of one entry."""
        self._hass = hass
        self._entry_id = entry_id
        self.config = config
        self.enabled = True
        self.status = ControlStatus.MONITORING
        self.last_error: str | None = None
        self.overridden_entity: str | None = None
        self.last_commands: list[ServiceCommand] = []
        self._written: dict[str, Any] = {}
        # What each controlled entity shows while bess's last command is in effect.
        self._expected: dict[str, ServiceCommand] = {}
        self._listeners: list[Callable[[], None]] = []
        self._before_override: tuple[ControlStatus, str | None] = (ControlStatus.CONTROLLING, None)
        # Under a capacity tariff: the import power cap (kW) the plan holds at a moment (None
        # where none applies). None: no tariff, and no `import_cap_kw` in any command.
        self.import_cap: Callable[[datetime], float | None] | None = None
        # The cap of the period the last plan applied is for (None: no cap applies now).
        self.import_cap_kw: float | None = None

    @property
    def writes(self) -> bool:
        """Return whether this controller sends commands at all."""
        return self.enabled and self.config.mode != CONTROL_MONITOR

    @property
    def controlled_entities(self) -> list[str]:
        """Return the entities whose state bess sets (entity mode)."""
        if self.config.mode not in (CONTROL_ENTITIES, CONTROL_GROWATT):
            return []
        config = self.config
        candidates = (
            config.work_mode_select,
            config.charge_power_number,
            config.discharge_power_number,
            config.grid_charge_switch,
            config.curtail_entity,
        )
        return [entity_id for entity_id in candidates if entity_id]

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever the status changes outside `apply`; return its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def set_enabled(self, enabled: bool) -> None:
        """Turn automatic control on (write everything again at the next apply) or off."""
        self.enabled = enabled
        self._written.clear()
        self._expected.clear()
        if not enabled:
            self._set_status(ControlStatus.MONITORING)

    def _set_status(self, status: ControlStatus, error: str | None = None) -> None:
        """Change the status; the repair issue stands exactly while the status is error."""
        self.status = status
        self.last_error = error
        if status is not ControlStatus.OVERRIDDEN:
            self.overridden_entity = None
        if status is not ControlStatus.ERROR:
            ir.async_delete_issue(self._hass, DOMAIN, f"{ISSUE_CONTROL_FAILED}_{self._entry_id}")

    async def apply(self, result: OptimizationResult, now: datetime) -> None:
        """Command the inverter to follow `result` from `now`.

        A plan that does not cover `now` (tomorrow's, made at 23:55) commands nothing and
        leaves the status as it is: an error stays an error.
        """
        if result.index_at(now) is not None:
            self.import_cap_kw = self._cap_at(now)
        if not self.writes:
            self._set_status(ControlStatus.MONITORING)
            return
        if result.index_at(now) is None:
            return
        await self._send(self.commands_for(result, now), ControlStatus.CONTROLLING)

    async def apply_fallback(
        self, plan: OptimizationResult | None, now: datetime, reason: str
    ) -> None:
        """No plan could be made: follow `plan` (the last one) while it covers now, else safe mode.

        The inverter is never left on a command of a period that has ended.
        """
        following = plan is not None and plan.index_at(now) is not None
        self.import_cap_kw = self._cap_at(now) if following else None
        if not self.writes:
            self._set_status(ControlStatus.MONITORING)
            return
        if plan is not None and following:
            await self._send(
                self.commands_for(plan, now), ControlStatus.FOLLOWING_LAST_PLAN, reason
            )
            return
        _LOGGER.warning("No plan covers %s (%s): the inverter goes to its safe mode", now, reason)
        await self._send(self.safe_commands(), ControlStatus.SAFE_MODE, reason)

    async def _send(
        self, commands: list[ServiceCommand], status: ControlStatus, reason: str | None = None
    ) -> None:
        """Write every command not in effect yet; then take `status` (or error)."""
        self.last_commands = commands
        # Only what this command set asks for is expected now (safe mode leaves the power
        # numbers alone: a hand change there is no override).
        self._expected = {c.entity_id: c for c in commands if c.entity_id is not None}
        try:
            for command in commands:
                if not self._in_effect(command):
                    await self._call_with_retry(command)
                self._written[command.key] = command.what
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
        self._set_status(status, reason)

    def _in_effect(self, command: ServiceCommand) -> bool:
        """Return whether the inverter already does what `command` asks."""
        state = self._hass.states.get(command.entity_id) if command.entity_id else None
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            # Nothing to read: what bess wrote last is all it knows.
            return bool(self._written.get(command.key) == command.what)
        return _shows(state.state, command)

    def async_entity_changed(self, entity_id: str) -> None:
        """A controlled entity changed: show `overridden` while it is not what bess set."""
        command = self._expected.get(entity_id)
        if command is None or not self.writes or self.status is ControlStatus.ERROR:
            return
        state = self._hass.states.get(entity_id)
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return
        if not _shows(state.state, command):
            if self.status is not ControlStatus.OVERRIDDEN:
                _LOGGER.warning(
                    "%s was changed to %s outside bess; bess sets %s again at the next period",
                    entity_id,
                    state.state,
                    command.expected,
                )
                self._before_override = (self.status, self.last_error)
            self._set_status(
                ControlStatus.OVERRIDDEN,
                f"{entity_id} is {state.state}, not {command.expected} as bess set it",
            )
            self.overridden_entity = entity_id
        elif self.status is ControlStatus.OVERRIDDEN and all(
            self._shows_expected(other) for other in self._expected
        ):
            # Back as bess set it: the status of before (safe mode stays safe mode).
            self._set_status(*self._before_override)
        else:
            return
        for listener in list(self._listeners):
            listener()

    def _shows_expected(self, entity_id: str) -> bool:
        state = self._hass.states.get(entity_id)
        return state is not None and _shows(state.state, self._expected[entity_id])

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

    def _cap_at(self, moment: datetime) -> float | None:
        """Return the import power cap (kW, rounded to W) the plan holds at `moment`, or None."""
        if self.import_cap is None:
            return None
        cap = self.import_cap(moment)
        return None if cap is None else round(cap, 3)

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

    def safe_commands(self) -> list[ServiceCommand]:
        """Return the service calls of the configured safe mode.

        Self-consumption: the work-mode option of load support, discharge power at the
        battery's maximum (a hold left by the last plan would stop it covering the load),
        grid charging off. Hold: the option of idle, both powers at 0, grid charging off.
        Either way solar is not curtailed: export is allowed. Script: `mode` is that intent at
        0 kW with `safe_mode: true` and `curtail: false`. Growatt: every time segment disabled
        (load-first), with its power numbers and AC-charge switch as above.
        """
        config = self.config
        intent = config.safe_intent
        hold = intent is Intent.IDLE
        if config.mode == CONTROL_SCRIPT:
            variables: dict[str, Any] = {
                "mode": intent.value,
                "power_kw": 0.0,
                "safe_mode": True,
                "curtail": False,
                "curtail_kwh": 0.0,
            }
            if self.import_cap is not None:
                variables["import_cap_kw"] = None  # no plan: no cap it holds
            return [_script_command(config.script, variables, setting=variables)]
        if config.mode not in (CONTROL_ENTITIES, CONTROL_GROWATT):
            return []
        commands: list[ServiceCommand] = []
        if config.mode == CONTROL_GROWATT:
            commands += [self._growatt_segment(segment, None) for segment in _GROWATT_SEGMENTS]
        elif config.work_mode_select and (option := config.mode_options.get(intent)):
            commands.append(_select_command(config.work_mode_select, option))
        if hold:
            commands += self._power_commands(0.0, 0.0)
        elif config.discharge_power_number and config.max_discharge_kw:
            commands += self._power_commands(None, config.max_discharge_kw)
        if config.grid_charge_switch:
            commands.append(_switch_command(config.grid_charge_switch, on=False))
        return commands + self._curtail_commands(None)

    def _entity_commands(self, period: PeriodPlan, minutes: int) -> list[ServiceCommand]:
        """Work-mode select, power numbers, grid-charging switch and curtailing for one period."""
        config = self.config
        commands: list[ServiceCommand] = []
        if config.work_mode_select and (option := config.mode_options.get(period.intent)):
            commands.append(_select_command(config.work_mode_select, option))
        commands += self._period_settings(period)
        return commands + self._curtail_commands(self._export_limit_kw(period, minutes))

    def _export_limit_kw(self, period: PeriodPlan, minutes: int) -> float | None:
        """Return the export the inverter may make in `period` (kW), None for no limit.

        Where exporting costs money the plan, allowed to curtail, exports only what the
        battery must discharge beyond the load (nearly always nothing): export is limited to
        that, and a forecast short of the sun costs nothing either. Elsewhere export is open;
        curtailing at an export cap is the inverter's own export limit, not this.
        """
        if not self.config.curtailment or period.sell_price >= 0.0:
            return None
        return period.grid_export_kwh * 60.0 / minutes

    def _curtails(self, period: PeriodPlan) -> bool:
        """Return whether the plan curtails all surplus solar in `period` (exports nothing)."""
        return (
            self.config.curtailment
            and period.sell_price < 0.0
            and period.grid_export_kwh <= _NO_EXPORT_KW
        )

    def _curtail_commands(self, limit_kw: float | None) -> list[ServiceCommand]:
        """Set the curtail entity to let at most `limit_kw` out (None: no limit).

        An export-limit number gets that power (in its own unit, on its step), else its
        maximum; a curtail switch is on only when nothing may be exported. A number without
        a maximum cannot be opened again, so it is then left alone outside curtailing periods.
        """
        entity_id = self.config.curtail_entity
        if not entity_id or self.config.mode != CONTROL_ENTITIES:
            return []
        if _domain(entity_id) in ("switch", "input_boolean"):
            on = limit_kw is not None and limit_kw <= _NO_EXPORT_KW
            return [_switch_command(entity_id, on=on, key="curtail")]
        state = self._hass.states.get(entity_id)
        attributes = state.attributes if state is not None else {}
        high, raw_step = attributes.get("max"), attributes.get("step")
        if limit_kw is not None:
            value, step = self._number_value(entity_id, limit_kw, None)
        elif isinstance(high, int | float):
            value = float(high)
            step = float(raw_step) if isinstance(raw_step, int | float) and raw_step > 0 else None
        else:
            return []
        return [
            ServiceCommand(
                "curtail",
                _domain(entity_id),
                "set_value",
                {ATTR_ENTITY_ID: entity_id, "value": value},
                entity_id=entity_id,
                expected=value,
                tolerance=step / 2 if step else 1e-6,
            )
        ]

    def _period_settings(self, period: PeriodPlan) -> list[ServiceCommand]:
        """The power numbers and the grid-charging switch of one period (entities, Growatt)."""
        # "+ 0.0" turns a negative zero into 0.0: inverters should never see "-0.0".
        charge_kw = max(period.battery_action_kw, 0.0) + 0.0
        discharge_kw = max(-period.battery_action_kw, 0.0) + 0.0
        commands = self._power_commands(charge_kw, discharge_kw)
        if self.config.grid_charge_switch:
            commands.append(
                _switch_command(
                    self.config.grid_charge_switch, on=period.intent is Intent.GRID_CHARGING
                )
            )
        return commands

    def _power_commands(
        self, charge_kw: float | None, discharge_kw: float | None
    ) -> list[ServiceCommand]:
        """Set the configured charge and discharge power numbers (None leaves one alone)."""
        config = self.config
        commands: list[ServiceCommand] = []
        for key, entity_id, kw, max_kw in (
            ("charge_power", config.charge_power_number, charge_kw, config.max_charge_kw),
            (
                "discharge_power",
                config.discharge_power_number,
                discharge_kw,
                config.max_discharge_kw,
            ),
        ):
            if entity_id and kw is not None:
                value, step = self._number_value(entity_id, kw, max_kw)
                commands.append(
                    ServiceCommand(
                        key,
                        _domain(entity_id),
                        "set_value",
                        {ATTR_ENTITY_ID: entity_id, "value": value},
                        entity_id=entity_id,
                        expected=value,
                        tolerance=step / 2 if step else 1e-6,
                    )
                )
        return commands

    def _number_value(
        self, entity_id: str, kw: float, max_kw: float | None
    ) -> tuple[float, float | None]:
        """Return kW in the number entity's own unit, on its step and in its range; and the step.

        A number in percent (Growatt's charge and discharge power) is a share of the
        battery's maximum power `max_kw`.
        """
        state = self._hass.states.get(entity_id)
        value = kw
        step: float | None = None
        if state is not None:
            unit = state.attributes.get("unit_of_measurement")
            if unit == UnitOfPower.WATT:
                value = kw * 1000.0
            elif unit == UnitOfPower.MEGA_WATT:
                value = kw / 1000.0
            elif unit == PERCENTAGE and max_kw:
                value = min(kw / max_kw, 1.0) * 100.0
            low = state.attributes.get("min")
            high = state.attributes.get("max")
            raw_step = state.attributes.get("step")
            if isinstance(raw_step, int | float) and raw_step > 0:
                step = float(raw_step)
                base = float(low) if isinstance(low, int | float) else 0.0
                value = base + round((value - base) / step) * step
                if isinstance(high, int | float) and value > high:
                    value -= step  # the highest value on the step within the range
            if isinstance(low, int | float):
                value = max(value, float(low))
            if isinstance(high, int | float):
                value = min(value, float(high))
        return round(value, 6), step

    def _script_commands(self, result: OptimizationResult, index: int) -> list[ServiceCommand]:
        """One script run per stretch of equal action; not again while the action holds.

        A re-plan moves the stretch's `start`; only a new mode, power, curtailing, import cap
        or end runs the script again. `curtail_kwh` is the solar the plan curtails in the
        stretch (what an export cap curtails included). Under a capacity tariff
        `import_cap_kw` is the import power cap of the period now (None: none applies), and
        a stretch has one cap.
        """
        period = result.periods[index]
        periods = result.periods
        caps = [
            self._cap_at(result.period_start(i)) if self.import_cap is not None else None
            for i in range(len(periods))
        ]

        def same(other: int) -> bool:
            """Return whether period `other` commands what the period now does."""
            return (
                _same_action(periods[other], period)
                and self._curtails(periods[other]) == self._curtails(period)
                and caps[other] == caps[index]
            )

        first = index
        while first > 0 and same(first - 1):
            first -= 1
        last = index
        while last + 1 < len(periods) and same(last + 1):
            last += 1
        variables: dict[str, Any] = {
            "mode": period.intent.value,
            "power_kw": round(period.battery_action_kw, 3),
            "start": result.period_start(first).isoformat(),
            "end": result.period_start(last + 1).isoformat(),
            "safe_mode": False,
            "curtail": self._curtails(period),
            "curtail_kwh": round(sum(p.curtailed_kwh for p in periods[first : last + 1]), 3),
        }
        keys = ["mode", "power_kw", "end", "safe_mode", "curtail"]
        if self.import_cap is not None:
            variables["import_cap_kw"] = caps[index]
            keys.append("import_cap_kw")
        # `end` counts (a script may program a window that ends then); `start` moves with
        # every re-plan and does not, nor does `curtail_kwh` (a forecast, not a command).
        setting = {key: variables[key] for key in keys}
        return [_script_command(self.config.script, variables, setting=setting)]

    def _growatt_commands(self, result: OptimizationResult, index: int) -> list[ServiceCommand]:
        """The remaining plan as Growatt time segments (at most nine), the rest disabled.

        Load-first alone would drain the battery in a period the plan holds it (idle): where
        the discharge power number is configured, it is set to the period's planned discharge
        (0 % holds the battery), the charge power number to its planned charge, and the
        AC-charge switch is on only while the plan charges from the grid.
        """
        # Outside every enabled segment a Growatt inverter runs load-first, so only the
        # battery-first and grid-first intervals need a segment.
        intervals = [
            interval
            for interval in schedule_to_tou(
                result, GROWATT_MAX_INTERVALS, start_index=index, count_load_first=False
            )
            if interval.mode is not TouMode.LOAD_FIRST
        ]
        segments = [
            self._growatt_segment(
                segment, intervals[segment - 1] if segment <= len(intervals) else None
            )
            for segment in _GROWATT_SEGMENTS
        ]
        return segments + self._period_settings(result.periods[index])

    def _growatt_segment(self, segment: int, interval: TouInterval | None) -> ServiceCommand:
        """One Growatt time segment: `interval`, or disabled (load-first) for None."""
        data: dict[str, Any] = {"device_id": self.config.growatt_device_id, "segment_id": segment}
        if interval is not None:
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
        return ServiceCommand(
            f"growatt_segment_{segment}", "growatt_server", "update_time_segment", data
        )


_GROWATT_SEGMENTS = range(1, GROWATT_MAX_INTERVALS + 1)
# A planned export below this (kW, or kWh in a period) is rounding noise: nothing exported.
_NO_EXPORT_KW = 1e-6


def _domain(entity_id: str) -> str:
    """Return an entity's domain: the service domain that sets it (select or input_select…)."""
    return entity_id.split(".", 1)[0]


def _select_command(entity_id: str, option: str) -> ServiceCommand:
    """Select `option` of a select or input_select."""
    return ServiceCommand(
        "work_mode",
        _domain(entity_id),
        "select_option",
        {ATTR_ENTITY_ID: entity_id, "option": option},
        entity_id=entity_id,
        expected=option,
    )


def _switch_command(entity_id: str, *, on: bool, key: str = "grid_charging") -> ServiceCommand:
    """Turn a switch or input_boolean on or off; `key` names the setting."""
    return ServiceCommand(
        key,
        _domain(entity_id),
        "turn_on" if on else "turn_off",
        {ATTR_ENTITY_ID: entity_id},
        entity_id=entity_id,
        expected="on" if on else "off",
    )


def _script_command(
    script: str | None, variables: dict[str, Any], *, setting: dict[str, Any]
) -> ServiceCommand:
    """Run the control script with `variables`; `setting` is what counts as a change."""
    return ServiceCommand(
        "script",
        "script",
        "turn_on",
        {ATTR_ENTITY_ID: script, "variables": variables},
        setting=setting,
    )


def _positive(value: Any) -> float | None:
    """Return a positive number as a float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _shows(state: str, command: ServiceCommand) -> bool:
    """Return whether an entity state is what `command` sets."""
    if isinstance(command.expected, float):
        try:
            return abs(float(state) - command.expected) <= command.tolerance
        except ValueError:
            return False
    return state == command.expected


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
