"""Plain fakes of the engine's ports: a clock, a simulated home, a controller, storage."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
import json
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from custom_components.bess.engine.models import (
    BatterySettings,
    OptimizationInput,
    OptimizationResult,
)
from custom_components.bess.engine.optimizer import build_result
from custom_components.bess.engine.ports import DataUnavailableError, HourMeasurement, PriceSeries
from custom_components.bess.engine.timeutil import day_hour_starts

STOCKHOLM = ZoneInfo("Europe/Stockholm")

BATTERY = BatterySettings(
    capacity_kwh=10.0,
    max_charge_kw=3.0,
    max_discharge_kw=3.0,
    min_soc_percent=10.0,
    max_soc_percent=100.0,
    charge_efficiency=0.95,
    discharge_efficiency=0.95,
    cycle_cost_per_kwh=0.05,
)


def local(
    day: date, hour: int, minute: int = 0, second: int = 0, tz: tzinfo = STOCKHOLM
) -> datetime:
    """Return the moment `minute`:`second` after the start of hour index `hour` of `day`.

    Exact on DST days: never add a timedelta to a local time, which is wall-clock arithmetic
    and drops the fold of the autumn day's second 02:00 hour.
    """
    start = day_hour_starts(day, tz)[hour].astimezone(UTC)
    return (start + timedelta(minutes=minute, seconds=second)).astimezone(tz)


def buy_price(start: datetime) -> float:
    """Return a spot-like buy price: cheap at night, dear in the morning and evening."""
    hour = start.astimezone(STOCKHOLM).hour
    return {0: 0.6, 1: 0.5, 2: 0.4, 3: 0.4, 4: 0.5, 7: 2.2, 8: 2.5, 17: 2.8, 18: 3.0, 19: 2.4}.get(
        hour, 1.2
    )


def sell_price(start: datetime) -> float:
    """Return the export price: a fixed share of the buy price."""
    return round(buy_price(start) * 0.7, 6)


def forecast_load(start: datetime) -> float:
    """Return the forecast consumption (kWh) of an hour."""
    hour = start.astimezone(STOCKHOLM).hour
    return 1.8 if 17 <= hour <= 21 else 0.9


def forecast_solar(start: datetime) -> float:
    """Return the forecast solar production (kWh) of an hour."""
    hour = start.astimezone(STOCKHOLM).hour
    return max(0.0, 3.0 - abs(hour - 13) * 0.6) if 8 <= hour <= 18 else 0.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment


class ImmediateExecutor:
    """Runs the work inline and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def run[T](self, func: Callable[[], T]) -> T:
        self.calls += 1
        return func()


class MemoryPersistence:
    """Keeps the saved state as JSON text (a save asked for "soon" is written at once)."""

    def __init__(self, text: str | None = None) -> None:
        self.text = text
        self.saves = 0

    async def load(self) -> dict[str, Any] | None:
        return None if self.text is None else json.loads(self.text)

    async def save(self, state: Mapping[str, str]) -> None:
        self.save_soon(state)

    def save_soon(self, state: Mapping[str, str]) -> None:
        members = ",".join(f"{json.dumps(key)}:{text}" for key, text in state.items())
        self.text = "{" + members + "}"
        json.loads(self.text)  # whatever is saved must be JSON
        self.saves += 1


class FakeController:
    """Records every plan applied; fails while `error` is set."""

    def __init__(self) -> None:
        self.applied: list[tuple[OptimizationResult, datetime]] = []
        self.error: Exception | None = None

    async def apply(self, result: OptimizationResult, now: datetime) -> None:
        if self.error is not None:
            raise self.error
        self.applied.append((result, now))

    @property
    def plan(self) -> OptimizationResult | None:
        """Return the plan the inverter follows now."""
        return self.applied[-1][0] if self.applied else None


@dataclass
class SimulatedHome:
    """A house whose battery follows the applied plan; serves prices, forecasts and meters.

    The real load is `load_factor` times the forecast, so actual hours differ from predicted.
    """

    battery: BatterySettings = BATTERY
    soc_percent: float = 10.0
    load_factor: float = 1.1
    tz: tzinfo = STOCKHOLM
    published_days: set[date] = field(default_factory=set)
    soc_available: bool = True
    unmeasurable: set[datetime] = field(default_factory=set)
    lost_from_recorder: set[datetime] = field(default_factory=set)
    recorder: dict[datetime, HourMeasurement] = field(default_factory=dict)
    measure_hook: Callable[[datetime], None] | None = None
    price_requests: list[tuple[datetime, ...]] = field(default_factory=list)
    # Reading a price from this moment on fails (a source that errors instead of saying
    # "not published").
    fail_prices_after: datetime | None = None

    def publish(self, *days: date) -> None:
        """Make the prices of these local days available."""
        self.published_days.update(days)

    async def get_prices(self, period_starts: Sequence[datetime]) -> PriceSeries | None:
        self.price_requests.append(tuple(period_starts))
        if self.fail_prices_after is not None and any(
            s >= self.fail_prices_after for s in period_starts
        ):
            raise DataUnavailableError("sensor.nordpool", "the source failed")
        if any(s.astimezone(self.tz).date() not in self.published_days for s in period_starts):
            return None
        return PriceSeries(
            buy=tuple(buy_price(s) for s in period_starts),
            sell=tuple(sell_price(s) for s in period_starts),
        )

    async def get_solar_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        return [forecast_solar(s) * self.period_minutes / 60 for s in period_starts]

    async def get_consumption_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        return [forecast_load(s) * self.period_minutes / 60 for s in period_starts]

    async def get_battery_soc(self) -> float:
        if not self.soc_available:
            raise DataUnavailableError("sensor.battery_soc", "unavailable")
        return self.soc_percent

    period_minutes: int = 60

    async def measure_period(self, hour_start: datetime) -> HourMeasurement | None:
        if self.measure_hook is not None:
            self.measure_hook(hour_start)
        key = hour_start.astimezone(UTC)
        if key in self.unmeasurable:
            return None
        return self.recorder.get(key)

    async def reconstruct_periods(
        self, hour_starts: Sequence[datetime]
    ) -> dict[datetime, HourMeasurement]:
        # Keyed by UTC start: the autumn day's two 02:00 hours are equal as local times.
        found = {}
        for start in hour_starts:
            key = start.astimezone(UTC)
            if key in self.recorder and key not in self.lost_from_recorder:
                found[key] = self.recorder[key]
        return found

    def run_hour(self, start: datetime, plan: OptimizationResult | None) -> HourMeasurement:
        """Live through the period at `start` following `plan` (idle where it has no period).

        The period is `period_minutes` long (an hour by default).
        """
        share = self.period_minutes / 60
        charge = discharge = 0.0
        index = plan.index_at(start) if plan is not None else None
        if plan is not None and index is not None:
            charge = plan.periods[index].charge_kwh
            discharge = plan.periods[index].discharge_kwh
        b = self.battery
        energy = b.capacity_kwh * self.soc_percent / 100.0
        # The inverter cannot go beyond the battery's limits, whatever the plan says.
        charge = min(charge, (b.max_energy_kwh - energy) / b.charge_efficiency)
        discharge = min(discharge, (energy - b.min_energy_kwh) * b.discharge_efficiency)
        charge, discharge = max(charge, 0.0), max(discharge, 0.0)
        after = energy + b.charge_efficiency * charge - discharge / b.discharge_efficiency
        load = forecast_load(start) * self.load_factor * share
        solar = forecast_solar(start) * share
        net = load - solar + charge - discharge
        measured = HourMeasurement(
            start=start,
            battery_soc_start=self.soc_percent,
            battery_soc_end=after / b.capacity_kwh * 100.0,
            solar_generated=solar,
            home_consumed=load,
            grid_imported=max(net, 0.0),
            grid_exported=max(-net, 0.0),
            battery_charged=charge,
            battery_discharged=discharge,
        )
        self.soc_percent = measured.battery_soc_end
        self.recorder[start.astimezone(UTC)] = measured
        return measured


def price_following_optimizer(inputs: OptimizationInput) -> OptimizationResult:
    """Return a feasible, non-idle plan: charge below the mean buy price, discharge above it.

    A stand-in for the DP in tests that need the battery to move; any feasible plan will do.
    """
    b = inputs.battery
    buy = np.asarray(inputs.buy)
    energy = b.capacity_kwh * inputs.initial_soc_percent / 100.0
    charge = np.zeros(len(buy))
    discharge = np.zeros(len(buy))
    dt = inputs.period_minutes / 60.0
    for t, price in enumerate(buy):
        if price < buy.mean():
            room = (b.max_energy_kwh - energy) / b.charge_efficiency
            charge[t] = max(0.0, min(b.max_charge_kw * dt, room))
        elif price > buy.mean():
            stored = (energy - b.min_energy_kwh) * b.discharge_efficiency
            discharge[t] = max(0.0, min(b.max_discharge_kw * dt, stored))
        energy += b.charge_efficiency * charge[t] - discharge[t] / b.discharge_efficiency
    return build_result(inputs, charge, discharge)
