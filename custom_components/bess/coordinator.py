"""The coordinator: wires Home Assistant's clock triggers to the manager's three scenarios.

It owns no battery logic. It builds the manager with Home Assistant adapters, runs
create-tomorrow at 23:55, the hourly update at every hour, restart-and-reconstruct at set-up,
and publishes the manager's DailyView (and a little state) to the entities as `BessData`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
import logging
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    CALLBACK_TYPE,
    CoreState,
    Event,
    EventStateChangedData,
    HomeAssistant,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_state_change_event,
    async_track_time_change,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CAPACITY_NONE,
    CONF_CAPACITY_DISTINCT_DAYS,
    CONF_CAPACITY_FEE,
    CONF_CAPACITY_HOURS_END,
    CONF_CAPACITY_HOURS_START,
    CONF_CAPACITY_KWH,
    CONF_CAPACITY_MEASUREMENT_MINUTES,
    CONF_CAPACITY_MONTHS,
    CONF_CAPACITY_NIGHT_WEIGHT,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_PRESET,
    CONF_CAPACITY_WEEKDAYS_ONLY,
    CONF_CHARGE_EFFICIENCY,
    CONF_CYCLE_COST,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_EXPORT_LIMIT_KW,
    CONF_GRID_CHARGING,
    CONF_IMPORT_LIMIT_KW,
    CONF_KEEP_HISTORY_DAYS,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MAX_SOC,
    CONF_MIN_SOC,
    CONF_PERIOD_MINUTES,
    CONF_PRICE_ENTITY,
    CONF_SOC_ENTITY,
    CONF_TERMINAL_VALUE,
    DEFAULTS,
    DOMAIN,
    PERIOD_AUTO,
    PERIOD_MINUTES,
)
from .engine.capacity import PRESETS, CapacityTariff, Peak, fee
from .engine.hindsight import HindsightReport
from .engine.manager import CapacityOutlook, CorruptStoreError, SimpleBatterySystemManager
from .engine.models import BatterySettings, DailyView, HourlyData, OptimizationResult
from .engine.ports import DataUnavailableError, EncodedState
from .engine.timeutil import hour_index, period_start
from .ha.controller import (
    ISSUE_CONTROL_FAILED,
    ControlConfig,
    ControlStatus,
    HomeAssistantController,
    can_curtail,
)
from .ha.energy import (
    STALL_LATENESS,
    EnergySourceConfig,
    HomeAssistantEnergyData,
    soc_percent,
)
from .ha.savings_statistics import SavingsStatistics
from .ha.storage import StorePersistence, UnreadableStoreError

_LOGGER = logging.getLogger(__name__)

ISSUE_DATA_UNAVAILABLE = "data_unavailable"
ISSUE_STORE_INVALID = "store_invalid"
# Every repair issue bess raises for an entry: f"{issue}_{entry_id}".
ENTRY_ISSUES = (ISSUE_DATA_UNAVAILABLE, ISSUE_STORE_INVALID, ISSUE_CONTROL_FAILED)
# While tomorrow's prices are missing, look again this often (and whenever the price sensor
# changes), so the plan is made as soon as they are published.
PRICE_RETRY = timedelta(minutes=10)
# Data missing this long raises a repair issue; shorter gaps are blips (a sensor restarting).
REPAIR_GRACE = timedelta(minutes=15)

type BessConfigEntry = ConfigEntry[BessCoordinator]


class TomorrowStatus(StrEnum):
    """Where tomorrow's plan stands."""

    PLANNED = "planned"
    WAITING_FOR_PRICES = "waiting_for_prices"
    NOT_YET = "not_yet"


@dataclass(frozen=True, slots=True)
class CapacityData:
    """The capacity tariff's month so far and what today's plan holds (the capacity sensors).

    `peaks` are the month's counted peaks, the N highest recorded (fewer early in a month),
    highest first; `outlook` is what the plan in force holds, None before a plan is made
    under the tariff.
    """

    tariff: CapacityTariff
    month: date
    peaks: tuple[Peak, ...]
    outlook: CapacityOutlook | None

    @property
    def mean_kw(self) -> float:
        """Return the mean of the N counted peaks (missing ones count 0): the fee's basis."""
        return sum(peak.kw for peak in self.peaks) / self.tariff.peaks

    @property
    def fee_so_far(self) -> float:
        """Return the month's capacity fee as recorded so far (currency)."""
        return fee(self.peaks, self.tariff)


@dataclass(frozen=True, slots=True)
class BessData:
    """What the entities show: today's view, the hour in progress, tomorrow, status."""

    today: DailyView
    current: HourlyData | None
    tomorrow: OptimizationResult | None
    tomorrow_status: TomorrowStatus
    last_optimization: datetime | None
    solve_seconds: float | None
    control_status: ControlStatus
    control_error: str | None
    solar_forecast_available: bool
    solar_forecast_message: str | None
    # The period in progress (the hour itself where bess plans by the hour).
    current_period: HourlyData | None = None
    period_minutes: int = 60
    # Realized savings of this local month and year so far (the savings statistic's hours).
    savings_month: float = 0.0
    savings_year: float = 0.0
    # Yesterday's hindsight report, once every period of it is measured.
    hindsight: HindsightReport | None = None
    # With a capacity tariff configured only.
    capacity: CapacityData | None = None


class HassClock:
    """The engine's Clock port: Home Assistant's local time."""

    def now(self) -> datetime:
        """Return the current local time."""
        return dt_util.now()


class HassExecutor:
    """The engine's Executor port: Home Assistant's executor."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Bind to the running Home Assistant."""
        self._hass = hass

    async def run[T](self, func: Callable[[], T]) -> T:
        """Run CPU-bound work off the event loop."""
        return await self._hass.async_add_executor_job(func)


def battery_settings(options: Mapping[str, Any]) -> BatterySettings:
    """Build the optimizer's battery settings from an entry's options."""
    merged = {**DEFAULTS, **options}
    export_limit = merged.get(CONF_EXPORT_LIMIT_KW)
    return BatterySettings(
        capacity_kwh=float(merged[CONF_CAPACITY_KWH]),
        max_charge_kw=float(merged[CONF_MAX_CHARGE_KW]),
        max_discharge_kw=float(merged[CONF_MAX_DISCHARGE_KW]),
        min_soc_percent=float(merged[CONF_MIN_SOC]),
        max_soc_percent=float(merged[CONF_MAX_SOC]),
        charge_efficiency=float(merged[CONF_CHARGE_EFFICIENCY]),
        discharge_efficiency=float(merged[CONF_DISCHARGE_EFFICIENCY]),
        cycle_cost_per_kwh=float(merged[CONF_CYCLE_COST]),
        grid_charging=bool(merged[CONF_GRID_CHARGING]),
        export_limit_kw=None if export_limit in (None, "") else float(export_limit),
        import_limit_kw=_optional_float(merged.get(CONF_IMPORT_LIMIT_KW)),
        curtailment=can_curtail(merged),
    )


def capacity_tariff(options: Mapping[str, Any]) -> CapacityTariff | None:
    """Build the capacity tariff from an entry's options; None when there is none.

    A field the options lack is the preset's (or the tariff's default). Options no tariff
    can have (written by hand) mean no tariff, with a warning: the flow refuses them.
    """
    preset = options.get(CONF_CAPACITY_PRESET, CAPACITY_NONE)
    if preset == CAPACITY_NONE:
        return None
    base = PRESETS.get(preset, CapacityTariff(fee_per_kw_month=0.0))

    def get(key: str, default: Any) -> Any:
        value = options.get(key)
        return default if value is None else value

    try:
        return CapacityTariff(
            fee_per_kw_month=float(get(CONF_CAPACITY_FEE, base.fee_per_kw_month)),
            peaks=int(get(CONF_CAPACITY_PEAKS, base.peaks)),
            distinct_days=bool(get(CONF_CAPACITY_DISTINCT_DAYS, base.distinct_days)),
            weekdays_only=bool(get(CONF_CAPACITY_WEEKDAYS_ONLY, base.weekdays_only)),
            hours=(
                int(get(CONF_CAPACITY_HOURS_START, base.hours[0])),
                int(get(CONF_CAPACITY_HOURS_END, base.hours[1])),
            ),
            months=frozenset(int(m) for m in get(CONF_CAPACITY_MONTHS, base.months)),
            night_weight=float(get(CONF_CAPACITY_NIGHT_WEIGHT, base.night_weight)),
            measurement_minutes=int(
                get(CONF_CAPACITY_MEASUREMENT_MINUTES, base.measurement_minutes)
            ),
        )
    except (TypeError, ValueError) as err:
        _LOGGER.warning("The capacity tariff in the options is not valid (%s): none is used", err)
        return None


def _optional_float(value: Any) -> float | None:
    """Return an option's number, or None when it is not set."""
    return None if value in (None, "") else float(value)


class _EntryPersistence:
    """The manager's Persistence port; the meters' last hour-boundary snapshot rides along.

    The snapshot lets the first hour after a restart be measured from the meters rather than
    rebuilt from the recorder.
    """

    def __init__(
        self,
        store: StorePersistence,
        energy: HomeAssistantEnergyData,
        controller: HomeAssistantController,
    ) -> None:
        """Save through `store`, adding the meter snapshot and the automatic-control choice."""
        self._store = store
        self._energy = energy
        self._controller = controller

    async def load(self) -> dict[str, Any] | None:
        """Return what was last saved."""
        return await self._store.load()

    async def save(self, state: EncodedState) -> None:
        """Save the manager's stores with the meter snapshot now."""
        await self._store.save(state, self._extra())

    def save_soon(self, state: EncodedState) -> None:
        """Save the manager's stores with the meter snapshot within seconds."""
        self._store.save_soon(state, self._extra())

    def _extra(self) -> dict[str, Any]:
        """Return what rides along, as it is now (a copy: it may be written from a thread)."""
        return {
            "meter_snapshot": self._energy.snapshot_state(),
            "auto_control": self._controller.enabled,
        }


class BessCoordinator(DataUpdateCoordinator[BessData]):
    """Runs the manager's scenarios on time triggers and publishes the result."""

    config_entry: BessConfigEntry

    def __init__(self, hass: HomeAssistant, entry: BessConfigEntry) -> None:
        """Build the manager and its Home Assistant adapters for one entry."""
        super().__init__(hass, _LOGGER, config_entry=entry, name=f"{DOMAIN} {entry.title}")
        settings = {**entry.data, **entry.options}
        self.energy = HomeAssistantEnergyData(hass, EnergySourceConfig.from_entry_options(settings))
        self.controller = HomeAssistantController(
            hass, entry.entry_id, ControlConfig.from_options(entry.options)
        )
        self.persistence = StorePersistence(hass, entry.entry_id)
        self.capacity_tariff = capacity_tariff(entry.options)
        self.manager = SimpleBatterySystemManager(
            battery=battery_settings(entry.options),
            energy=self.energy,
            controller=self.controller,
            clock=HassClock(),
            persistence=_EntryPersistence(self.persistence, self.energy, self.controller),
            executor=HassExecutor(hass),
            tz=dt_util.get_default_time_zone(),
            # None: derived from the prices (the default); a value the user set overrides it.
            terminal_value_per_kwh=_optional_float(entry.options.get(CONF_TERMINAL_VALUE)),
            keep_history_days=int({**DEFAULTS, **entry.options}[CONF_KEEP_HISTORY_DAYS]),
            period_minutes=PERIOD_MINUTES,
            # Options changes reload the entry, so the tariff is set here once.
            capacity_tariff=self.capacity_tariff,
        )
        if self.capacity_tariff is not None:
            self.controller.import_cap = self.manager.import_cap_kw
        self.savings = SavingsStatistics(hass, entry.entry_id, entry.title, self.manager)
        self._hindsight: HindsightReport | None = None
        self._unavailable: DataUnavailableError | None = None
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._price_retry: CALLBACK_TYPE | None = None
        self._repair_timer: CALLBACK_TYPE | None = None
        # The hour boundary (UTC) of the last hour trigger, or of the start.
        self._last_boundary = period_start(
            dt_util.now(), dt_util.get_default_time_zone(), self.manager.period_minutes
        )

    # --- life cycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        """Load the stores, reconstruct today and plan; then start the triggers."""
        await self._async_load_stores()
        self._unsubscribers += [
            async_track_time_change(
                self.hass, self._async_on_tomorrow_trigger, hour=23, minute=55, second=0
            ),
            # Every 5 minutes: whatever the period (15, 30 or 60 minutes, and it may change
            # with the price source), each boundary is among these ticks.
            async_track_time_change(
                self.hass, self._async_on_period_trigger, minute="/5", second=0
            ),
            async_track_state_change_event(
                self.hass,
                [self.config_entry.data[CONF_SOC_ENTITY]],
                self._async_on_soc_change,
            ),
            async_track_state_change_event(
                self.hass,
                [self.config_entry.data[CONF_PRICE_ENTITY]],
                self._async_on_price_change,
            ),
            self.controller.add_listener(self.async_update_listeners),
        ]
        if controlled := self.controller.controlled_entities:
            self._unsubscribers.append(
                async_track_state_change_event(
                    self.hass, controlled, self._async_on_controlled_change
                )
            )
        if self.hass.state is CoreState.running:
            await self.async_restart_and_reconstruct()
        else:
            # Set up while Home Assistant starts: the sensors bess reads may not exist yet,
            # so reconstruct and plan once it has started.
            self._unsubscribers.append(async_at_started(self.hass, self._async_on_started))

    async def _async_on_started(self, hass: HomeAssistant) -> None:
        """Home Assistant has started: reconstruct today and plan."""
        await self.async_restart_and_reconstruct()

    async def _async_load_stores(self) -> None:
        """Load history and schedules; a store that cannot be read is kept aside, not lost.

        Everything is parsed before anything is used. Whatever cannot be read (not JSON,
        the wrong shape, a newer bess's layout) is copied aside before the first save, a
        repair issue says where, and bess starts with empty stores.
        """
        raw: dict[str, Any] | None = None
        try:
            raw = await self.persistence.load()
            if raw is None:
                return
            auto_control = raw.get("auto_control", True)
            if not isinstance(auto_control, bool):
                raise UnreadableStoreError(f"auto_control is {auto_control!r}, not true/false")
            snapshot = raw.get("meter_snapshot")
            if snapshot is not None and not isinstance(snapshot, dict):
                raise UnreadableStoreError("the meter snapshot is not a JSON object")
            dropped = await self.manager.async_load_state(raw)
            if dropped:
                # The rest loads; the file as it was is kept, so nothing is lost.
                path = await self.persistence.async_keep_aside(raw)
                _LOGGER.warning(
                    "%s unreadable stored entr%s dropped (%s); the store as it was is kept as %s",
                    len(dropped),
                    "y was" if len(dropped) == 1 else "ies were",
                    "; ".join(dropped[:3]),
                    path,
                )
        except (UnreadableStoreError, CorruptStoreError) as err:
            # Whether the user had switched automatic control off is kept where it can be
            # read; where it cannot, control starts off: never drive an inverter unasked.
            known = raw.get("auto_control") if isinstance(raw, dict) else None
            self.controller.set_enabled(known if isinstance(known, bool) else False)
            path = await self.persistence.async_keep_aside(raw)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{ISSUE_STORE_INVALID}_{self.config_entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_STORE_INVALID,
                translation_placeholders={"path": path, "error": str(err)},
            )
            return
        # Known before the first scenario applies anything: switched off stays off.
        self.controller.set_enabled(auto_control)
        self.energy.restore_snapshot(snapshot)

    @override
    async def async_shutdown(self) -> None:
        """Stop the triggers and save the stores."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers.clear()
        self._cancel_price_retry()
        self._cancel_repair_timer()
        # Written now, not soon: a reload's new store reads the file before a pending
        # delayed write of this one would land.
        await self.manager.async_save()
        await super().async_shutdown()

    # --- scenarios ----------------------------------------------------------------------

    async def async_restart_and_reconstruct(self) -> None:
        """Scenario 3: rebuild today's missing hours, re-plan from the real SOC."""
        await self._async_resolve_period()
        self._snapshot_if_at_boundary()
        await self._async_run(self.manager.restart_and_reconstruct)

    def _snapshot_if_at_boundary(self) -> None:
        """Started right at a period boundary: the meters now are that boundary's readings.

        The period then starting is measured live at its end, as if a trigger had run at
        its start (the same lateness a trigger is allowed before it counts as a stall).
        """
        now = dt_util.now()
        boundary = period_start(now, dt_util.get_default_time_zone(), self.manager.period_minutes)
        if now - boundary <= STALL_LATENESS:
            self.energy.snapshot_boundary(boundary)

    async def _async_resolve_period(self) -> None:
        """Plan in the chosen period, or in the price source's own resolution ("auto").

        Until the source can tell (its sensor still starting), the period stays as it is.
        """
        choice = str({**DEFAULTS, **self.config_entry.options}[CONF_PERIOD_MINUTES])
        if choice == PERIOD_AUTO:
            found = await self.energy.async_price_resolution(dt_util.now().date())
            if found is None:
                return
            minutes = found
        else:
            minutes = int(choice)
        if minutes == self.manager.period_minutes:
            return
        _LOGGER.info("Planning in periods of %s minutes", minutes)
        async with self.manager.exclusive():
            self.manager.period_minutes = minutes
        self._last_boundary = period_start(dt_util.now(), dt_util.get_default_time_zone(), minutes)

    async def async_update_schedule(self) -> None:
        """Scenario 2: record the hour just completed and re-plan the rest of the day."""
        # The manager finds the hour that just ended in UTC: one hour back on the local
        # wall clock is the wrong hour around a DST change.
        await self._async_run(self.manager.update_hourly_schedule)

    async def async_create_tomorrows_schedule(self) -> None:
        """Scenario 1: plan tomorrow (or wait for its prices)."""
        await self._async_run(self.manager.create_tomorrows_schedule, today=False)
        if self.manager.waiting_for_prices:
            self._schedule_price_retry()
        else:
            self._cancel_price_retry()

    async def _async_run(
        self, scenario: Callable[[], Awaitable[Any]], *, today: bool = True
    ) -> None:
        """Run a scenario; turn missing data into unavailable entities and a repair issue.

        Whatever fails, the inverter is not left on a command of a period that has ended:
        it follows the plan in force while there is one, else its safe mode. Tomorrow's
        scenario (`today=False`) succeeding says nothing about today's data: what is missing
        for today stays missing until a scenario of today succeeds.
        """
        try:
            await scenario()
        except DataUnavailableError as err:
            if not today:
                # Tomorrow's data missing says nothing about today's plan or inverter.
                _LOGGER.info("Tomorrow's plan waits: %s", err)
                self.async_update_listeners()
                return
            self._set_unavailable(err)
            await self._async_fail_safe(str(err))
            return
        except Exception as err:
            _LOGGER.exception("A bess scenario failed")
            await self._async_fail_safe(f"{type(err).__name__}: {err}")
            self.async_set_update_error(UpdateFailed(str(err)))
            return
        await self._async_update_savings()
        if not today and self._unavailable is not None:
            self.async_update_listeners()
            return
        self._clear_unavailable()
        self.async_set_updated_data(self._build_data())

    async def _async_update_savings(self) -> None:
        """Bring the savings statistic up to date with the history (never stops the loop)."""
        try:
            await self.savings.async_update()
        except Exception:
            _LOGGER.exception("Could not write the savings statistics; the next period retries")

    async def _async_fail_safe(self, reason: str) -> None:
        """No plan could be made now: keep to the plan in force, or to the safe mode."""
        try:
            async with self.manager.exclusive():
                now = dt_util.now()
                await self.controller.apply_fallback(self.manager.plan_in_force(now), now, reason)
        except Exception:
            # The fail-safe itself must never stop the loop (the next period tries again).
            _LOGGER.exception("Could not put the inverter on its fallback command")
        # The status entities stay available and must show it (an update error only
        # notifies them when it is the first).
        self.async_update_listeners()

    @override
    async def _async_update_data(self) -> BessData:
        """Rebuild what the entities show from the stores (no optimization)."""
        if self._unavailable is not None:
            raise UpdateFailed(str(self._unavailable))
        return self._build_data()

    def _build_data(self) -> BessData:
        """Collect today's view, the hour in progress and the status."""
        now = dt_util.now()
        view = self.manager.build_daily_view()
        _, index = hour_index(now, now.tzinfo or dt_util.get_default_time_zone())
        current = view.hourly_data[index] if index < len(view.hourly_data) else None
        if current is not None and current.source == "missing":
            current = None
        moment = now.astimezone(UTC)
        current_period = next(
            (
                period
                for period in view.periods
                if period.source != "missing"
                and period.start.astimezone(UTC)
                <= moment
                < period.start.astimezone(UTC) + timedelta(minutes=period.minutes)
            ),
            None,
        )
        tomorrow = self.manager.tomorrow_result
        savings_month, savings_year = self.savings.month_and_year()
        return BessData(
            today=view,
            hindsight=self._yesterdays_hindsight(now.date()),
            savings_month=savings_month,
            savings_year=savings_year,
            current=current,
            current_period=current_period,
            period_minutes=self.manager.period_minutes,
            tomorrow=tomorrow,
            tomorrow_status=self.tomorrow_status,
            last_optimization=self.manager.last_optimization_time,
            solve_seconds=self.manager.last_solve_seconds,
            control_status=self.controller.status,
            control_error=self.controller.last_error,
            solar_forecast_available=self.energy.solar_forecast_available,
            solar_forecast_message=self.energy.solar_forecast_message,
            capacity=self._capacity_data(now),
        )

    def _capacity_data(self, now: datetime) -> CapacityData | None:
        """Return the month's counted peaks and what the plan now holds (with a tariff)."""
        tariff = self.capacity_tariff
        if tariff is None:
            return None
        today = now.date()
        return CapacityData(
            tariff=tariff,
            month=today.replace(day=1),
            peaks=tuple(self.manager.month_peaks(today)[: tariff.peaks]),
            outlook=self.manager.capacity_outlook(now),
        )

    def _yesterdays_hindsight(self, today: date) -> HindsightReport | None:
        """Return yesterday's hindsight report, made once when its last period is measured."""
        yesterday = today - timedelta(days=1)
        if self._hindsight is None or self._hindsight.day != yesterday:
            self._hindsight = self.manager.hindsight_report(yesterday)
        return self._hindsight

    @property
    def tomorrow_status(self) -> TomorrowStatus:
        """Return where tomorrow's plan stands (known even while today's data is missing)."""
        if self.manager.tomorrow_result is not None:
            return TomorrowStatus.PLANNED
        if self.manager.waiting_for_prices:
            return TomorrowStatus.WAITING_FOR_PRICES
        return TomorrowStatus.NOT_YET

    # --- triggers -----------------------------------------------------------------------

    async def _async_on_period_trigger(self, now: datetime) -> None:
        """Every 5 minutes: at a period boundary, record the period and re-plan (scenario 2)."""
        minutes = self.manager.period_minutes
        boundary = period_start(now, dt_util.get_default_time_zone(), minutes).astimezone(UTC)
        if boundary == self._last_boundary.astimezone(UTC):
            return  # a tick inside the period
        self._note_stalls(now, boundary, timedelta(minutes=minutes))
        await self.async_update_schedule()

    def _note_stalls(self, now: datetime, boundary: datetime, step: timedelta) -> None:
        """Tell the energy data the boundaries Home Assistant stalled (or slept) over.

        The trigger then fires late, once, however many boundaries passed: the late one and
        every one skipped since the last trigger had nothing read the meters on time.
        """
        last, self._last_boundary = self._last_boundary.astimezone(UTC), boundary
        stalled = [boundary] if now - boundary > STALL_LATENESS else []
        skipped = last + step
        while skipped < boundary:
            stalled.append(skipped)
            skipped += step
        for moment in stalled:
            self.energy.note_stall(moment)

    async def _async_on_tomorrow_trigger(self, now: datetime) -> None:
        """Every day at 23:55."""
        await self.async_create_tomorrows_schedule()

    async def _async_on_soc_change(self, event: Event[EventStateChangedData]) -> None:
        """Go unavailable when the SOC does; re-plan from the real SOC when it is back."""
        new = event.data["new_state"]
        if soc_percent(new) is None:
            # Unavailable, or a reading that is not a SOC (nan, 150 %): never planned with.
            if self._unavailable is None:
                entity_id = event.data["entity_id"]
                why = "SOC is unavailable" if new is None else f"SOC is {new.state!r}"
                self._set_unavailable(DataUnavailableError(entity_id, why))
            return
        if self._unavailable is not None:
            await self.async_restart_and_reconstruct()

    async def _async_on_controlled_change(self, event: Event[EventStateChangedData]) -> None:
        """A setting bess controls changed (by bess, or by hand)."""
        self.controller.async_entity_changed(event.data["entity_id"])

    async def _async_on_price_change(self, event: Event[EventStateChangedData]) -> None:
        """Prices are back, or tomorrow's may just have been published."""
        new = event.data["new_state"]
        if new is None or new.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            # The next scenario that needs prices reports it; the plan made stands till then.
            return
        if self._unavailable is not None:
            await self.async_restart_and_reconstruct()
        else:
            await self._async_resolve_period()
        if self.manager.waiting_for_prices:
            await self.async_create_tomorrows_schedule()

    def _schedule_price_retry(self) -> None:
        """Look for tomorrow's prices again a little later."""
        self._cancel_price_retry()

        async def _retry(_now: datetime) -> None:
            self._price_retry = None
            if self.manager.waiting_for_prices:
                await self.async_create_tomorrows_schedule()

        self._price_retry = async_call_later(self.hass, PRICE_RETRY, _retry)

    def _cancel_price_retry(self) -> None:
        """Stop looking for tomorrow's prices."""
        if self._price_retry is not None:
            self._price_retry()
            self._price_retry = None

    # --- availability and repairs -----------------------------------------------------------

    def _set_unavailable(self, err: DataUnavailableError) -> None:
        """Make today's entities unavailable; raise the repair issue if it stays so.

        A blip (a SOC sensor restarting, a sensor still starting up with Home Assistant)
        is logged at debug level and raises nothing; data missing for REPAIR_GRACE raises a
        repair issue naming the source that failed, and a warning.
        """
        first = self._unavailable is None
        self._unavailable = err
        self.last_update_success = False
        self.last_exception = UpdateFailed(str(err))
        if first:
            _LOGGER.debug("Waiting for %s: %s", err.source, err.message)
            self._cancel_repair_timer()
            self._repair_timer = async_call_later(
                self.hass, REPAIR_GRACE, self._async_raise_unavailable_repair
            )
        elif ir.async_get(self.hass).async_get_issue(DOMAIN, self._unavailable_issue_id):
            self._create_unavailable_issue(err)  # the latest cause, named
        self.async_update_listeners()

    async def _async_raise_unavailable_repair(self, _now: datetime) -> None:
        """The data is still missing after the grace period: tell the user."""
        self._repair_timer = None
        if (err := self._unavailable) is None:
            return
        _LOGGER.warning("bess cannot plan: %s is unavailable (%s)", err.source, err.message)
        self._create_unavailable_issue(err)

    @property
    def _unavailable_issue_id(self) -> str:
        return f"{ISSUE_DATA_UNAVAILABLE}_{self.config_entry.entry_id}"

    def _create_unavailable_issue(self, err: DataUnavailableError) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._unavailable_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_DATA_UNAVAILABLE,
            translation_placeholders={"source": err.source, "error": err.message},
        )

    def _cancel_repair_timer(self) -> None:
        if self._repair_timer is not None:
            self._repair_timer()
            self._repair_timer = None

    def _clear_unavailable(self) -> None:
        """The data is back: drop the repair issue."""
        self._cancel_repair_timer()
        if self._unavailable is not None:
            self._unavailable = None
            ir.async_delete_issue(self.hass, DOMAIN, self._unavailable_issue_id)

    # --- control --------------------------------------------------------------------------

    async def async_set_auto_control(self, enabled: bool) -> None:
        """Turn automatic control on or off; on applies the hour in progress at once."""
        self.controller.set_enabled(enabled)
        await self.manager.async_save()
        async with self.manager.exclusive():
            latest = self.manager.latest_result
            if enabled and latest is not None:
                await self.controller.apply(latest, dt_util.now())
        if self.data is not None:
            self.async_set_updated_data(self._build_data())

    def daily_view(self, day: date | None = None) -> DailyView:
        """Return the DailyView of a local date (default today)."""
        return self.manager.build_daily_view(day)
