"""What the manager needs from the outside world, as protocols.

Home Assistant implements these in `custom_components/bess/ha/`; tests implement them with
plain fakes. Every method that may touch I/O is async.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .models import OptimizationResult


class DataUnavailableError(Exception):
    """A reading or forecast the engine needs cannot be had now."""

    def __init__(self, source: str, message: str) -> None:
        """Name the source (an entity id or a kind of data) and what is wrong with it."""
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Final buy and sell prices (currency/kWh), one per requested period."""

    buy: tuple[float, ...]
    sell: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class HourMeasurement:
    """Measured flows of one completed period (kWh) and the SOC at its ends (%)."""

    start: datetime
    battery_soc_start: float
    battery_soc_end: float
    solar_generated: float
    home_consumed: float
    grid_imported: float
    grid_exported: float
    battery_charged: float
    battery_discharged: float


class Clock(Protocol):
    """The current time."""

    def now(self) -> datetime:
        """Return the current time, aware, in the local time zone."""
        ...


class EnergyData(Protocol):
    """Readings and forecasts (design §4.1, the simplified EnergyManager).

    Every series is per period of `period_minutes`, which the manager sets to its own
    planning period (15 for quarter-hourly prices, 60 for hourly ones).
    """

    period_minutes: int

    async def get_prices(self, period_starts: Sequence[datetime]) -> PriceSeries | None:
        """Return prices for these periods, or None when they are not (all) published yet."""
        ...

    async def get_solar_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        """Return forecast solar production per period (kWh)."""
        ...

    async def get_consumption_forecast(self, period_starts: Sequence[datetime]) -> list[float]:
        """Return forecast home consumption per period (kWh)."""
        ...

    async def get_battery_soc(self) -> float:
        """Return the battery SOC now (%); raise DataUnavailableError when unknown."""
        ...

    async def measure_period(self, period_start: datetime) -> HourMeasurement | None:
        """Return the just-completed period measured live, or None when it cannot be."""
        ...

    async def reconstruct_periods(
        self, period_starts: Sequence[datetime]
    ) -> dict[datetime, HourMeasurement]:
        """Rebuild past periods from stored history; those that cannot be are left out.

        Key the result by each period's start in UTC: the autumn day's two 02:00 hours are
        equal (and hash alike) as local datetimes, so a dict keyed by them keeps only one.
        """
        ...


class BatteryController(Protocol):
    """The inverter."""

    async def apply(self, result: OptimizationResult, now: datetime) -> None:
        """Command the inverter to follow `result` from `now` (may write nothing)."""
        ...


# The saved state: each top-level key's value as JSON text. The stores keep every entry's text
# and join them, so a save never encodes a year of history again.
type EncodedState = Mapping[str, str]


class Persistence(Protocol):
    """Where the history and the schedules survive restarts."""

    async def load(self) -> dict[str, Any] | None:
        """Return what was last saved (decoded), or None."""
        ...

    async def save(self, state: EncodedState) -> None:
        """Save the stores' state now."""
        ...

    def save_soon(self, state: EncodedState) -> None:
        """Save the stores' state within a few seconds.

        A later call replaces a state not yet written, so the changes of one scenario are
        written once. A state asked to be saved is written before a normal shutdown.
        """
        ...


class Executor(Protocol):
    """Runs CPU-bound work (the optimizer) off the event loop."""

    async def run[T](self, func: Callable[[], T]) -> T:
        """Run `func` and return its result."""
        ...
