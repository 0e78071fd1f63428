"""The running demo home: the simulation's state in Home Assistant, ticking every minute."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
import logging
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.event import async_track_time_change
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, SIGNAL_UPDATE, STORAGE_VERSION
from .sim import HomeSettings, HomeState, InverterCommand, WorkMode, advance, initial_state

_LOGGER = logging.getLogger(__name__)

# A home switched off for longer than this restarts its clock instead of replaying the gap.
MAX_CATCH_UP = timedelta(days=7)
SAVE_DELAY_S = 30


@dataclass(slots=True)
class DemoFaults:
    """What a test breaks in the home (tests/demo/test_soak.py); nothing by default.

    `readings` maps a sensor's key (`battery_soc`, `spot_price`) to what it shows instead of
    the truth: "unavailable", nan, or a number out of range. While `rejected_commands` is
    set, every inverter command fails with it as the error. The home itself runs on.
    """

    readings: dict[str, str | float] = field(default_factory=dict)
    rejected_commands: str | None = None


class DemoHome:
    """Owns the simulated home: advances it with the clock and obeys inverter commands.

    Every change of command first advances the home to the moment of the change, so each
    stretch of time runs under the command that was in force during it.
    """

    def __init__(
        self, hass: HomeAssistant, settings: HomeSettings, initial_soc_percent: float
    ) -> None:
        """Create the home; `async_start` loads its saved state and starts the clock."""
        self.hass = hass
        self.settings = settings
        self._initial_soc = initial_soc_percent
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, DOMAIN)
        self.state: HomeState = initial_state(settings, dt_util.utcnow(), initial_soc_percent)
        self.command = InverterCommand()
        self.faults = DemoFaults()
        self._unsub_tick: CALLBACK_TYPE | None = None

    @property
    def tz(self) -> tzinfo:
        """The home's local time zone."""
        return dt_util.get_default_time_zone()

    async def async_start(self) -> None:
        """Load the saved home, replay the time it was off, and tick every minute."""
        now = dt_util.utcnow()
        saved = await self._store.async_load()
        if saved:
            try:
                self.state = HomeState.from_dict(saved["state"])
                command = saved.get("command", {})
                self.command = InverterCommand(
                    work_mode=WorkMode(command.get("work_mode", WorkMode.SELF_CONSUMPTION)),
                    charge_power_kw=float(command.get("charge_power_kw", 0.0)),
                    discharge_power_kw=float(command.get("discharge_power_kw", 0.0)),
                    grid_charging=bool(command.get("grid_charging", False)),
                )
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning("Saved demo home unreadable (%s); starting afresh", err)
                self.state = initial_state(self.settings, now, self._initial_soc)
        if now - self.state.time > MAX_CATCH_UP:
            self.state = replace(self.state, time=now - MAX_CATCH_UP)
        # Replaying up to a week of minutes takes a moment: not on the event loop.
        self.state = await self.hass.async_add_executor_job(
            advance, self.settings, self.state, self.command, now, self.tz
        )
        self._save()
        unsub_minute = async_track_time_change(self.hass, self._async_tick, second=0)
        # bess reads the meters at every quarter-hour boundary (the prices' periods), maybe
        # before this minute's tick runs: a tick one second earlier keeps what it reads within
        # a second of the boundary.
        unsub_hour_end = async_track_time_change(
            self.hass, self._async_tick, minute=[14, 29, 44, 59], second=59
        )

        @callback
        def _unsub() -> None:
            unsub_minute()
            unsub_hour_end()

        self._unsub_tick = _unsub

    @callback
    def async_stop(self) -> None:
        """Stop the clock."""
        if self._unsub_tick is not None:
            self._unsub_tick()
            self._unsub_tick = None

    @callback
    def _async_tick(self, now: datetime) -> None:
        """Advance the home to this minute."""
        self.async_advance(now)

    @callback
    def async_advance(self, now: datetime | None = None) -> None:
        """Advance the home to `now` and tell the entities."""
        moment = now or dt_util.utcnow()
        if moment > self.state.time:
            self.state = advance(self.settings, self.state, self.command, moment, self.tz)
            self._save()
        async_dispatcher_send(self.hass, SIGNAL_UPDATE)

    @callback
    def async_command(self, **changes: Any) -> None:
        """Change what the inverter is told, from now on."""
        if self.faults.rejected_commands is not None:
            raise HomeAssistantError(self.faults.rejected_commands)
        now = dt_util.utcnow()
        if now > self.state.time:
            self.state = advance(self.settings, self.state, self.command, now, self.tz)
        self.command = replace(self.command, **changes)
        _LOGGER.debug("Demo inverter now runs %s", self.command)
        self._save()
        async_dispatcher_send(self.hass, SIGNAL_UPDATE)

    @callback
    def async_listen(self, update: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `update` whenever the home changes; return the unsubscriber."""
        return async_dispatcher_connect(self.hass, SIGNAL_UPDATE, update)

    @callback
    def _save(self) -> None:
        """Save the home a little later (and at shutdown)."""
        self._store.async_delay_save(self._data, SAVE_DELAY_S)

    @callback
    def _data(self) -> dict[str, Any]:
        """Return what is saved: the state and the command in force."""
        command = asdict(self.command)
        command["work_mode"] = self.command.work_mode.value
        return {"state": self.state.to_dict(), "command": command}
