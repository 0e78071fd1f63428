"""Frozen data that crosses the engine's boundaries.

Energies are kWh per period, powers kW, prices currency/kWh, SOC in percent of the capacity.
Times are timezone-aware datetimes; they are serialized as ISO 8601 in UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
import math
from typing import Any, Literal


class Intent(StrEnum):
    """Why the battery does what it does in a period."""

    GRID_CHARGING = "grid_charging"
    SOLAR_STORAGE = "solar_storage"
    LOAD_SUPPORT = "load_support"
    EXPORT_ARBITRAGE = "export_arbitrage"
    IDLE = "idle"


Scenario = Literal["tomorrow", "hourly", "restart", "manual"]
# A past hour is `actual` when every period of it was measured, `partial` when only some were
# (its figures are those periods' alone, never filled in) and `missing` when none was.
HourSource = Literal["actual", "partial", "predicted", "missing"]
# Period lengths bess plans and records in: each divides an hour.
PERIOD_LENGTHS = (5, 10, 15, 20, 30, 60)


def to_iso(moment: datetime) -> str:
    """Serialize an aware datetime as ISO 8601 in UTC."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: all engine times are timezone-aware")
    return moment.astimezone(UTC).isoformat()


def from_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp written by `to_iso`."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no offset")
    return moment


def is_soc(value: object) -> bool:
    """Return whether `value` is a state of charge: a finite number from 0 to 100 %."""
    return isinstance(value, int | float) and 0.0 <= value <= 100.0  # false for nan too


@dataclass(frozen=True, slots=True)
class BatterySettings:
    """The battery as the optimizer sees it."""

    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    min_soc_percent: float = 10.0
    max_soc_percent: float = 100.0
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    cycle_cost_per_kwh: float = 0.0
    grid_charging: bool = True
    export_limit_kw: float | None = None
    # The main fuse or subscribed power: import above it is planned only where the load
    # alone needs it, and then reported as `PeriodPlan.import_excess_kwh`.
    import_limit_kw: float | None = None
    # The inverter can curtail solar on command: where exporting costs money (sell < 0) the
    # plan may curtail the surplus instead of exporting it (cost.py).
    curtailment: bool = False

    def __post_init__(self) -> None:
        """Refuse settings no battery can have."""
        if self.capacity_kwh <= 0:
            raise ValueError("capacity_kwh must be > 0")
        if not 0 <= self.min_soc_percent < self.max_soc_percent <= 100:
            raise ValueError("need 0 <= min_soc_percent < max_soc_percent <= 100")
        if self.max_charge_kw <= 0 or self.max_discharge_kw <= 0:
            raise ValueError("max charge and discharge power must be > 0")
        for name in ("charge_efficiency", "discharge_efficiency"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.cycle_cost_per_kwh < 0:
            raise ValueError("cycle_cost_per_kwh must be >= 0")
        for name in ("export_limit_kw", "import_limit_kw"):
            limit = getattr(self, name)
            if limit is not None and not (isinstance(limit, int | float) and 0 <= limit < math.inf):
                raise ValueError(f"{name} must be a finite number >= 0 or None")
        if not isinstance(self.curtailment, bool):
            raise ValueError("curtailment must be true or false")

    @property
    def min_energy_kwh(self) -> float:
        """Stored energy at the minimum SOC."""
        return self.capacity_kwh * self.min_soc_percent / 100.0

    @property
    def max_energy_kwh(self) -> float:
        """Stored energy at the maximum SOC."""
        return self.capacity_kwh * self.max_soc_percent / 100.0

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatterySettings:
        """Deserialize what `to_dict` wrote."""
        return cls(**data)


@dataclass(frozen=True, slots=True)
class PeriodPlan:
    """The optimizer's decision for one period, with its flows and money."""

    charge_kwh: float
    discharge_kwh: float
    battery_action_kw: float  # > 0 charging, < 0 discharging (AC side)
    soc_start_percent: float
    soc_end_percent: float
    grid_import_kwh: float
    grid_export_kwh: float
    load_kwh: float
    solar_kwh: float
    buy_price: float
    sell_price: float
    cost: float
    baseline_cost: float
    savings: float
    intent: Intent
    # Solar the inverter throws away: because export is capped and the battery is full, or
    # (with `BatterySettings.curtailment`) because exporting it would cost money.
    curtailed_kwh: float = 0.0
    # Import above the import limit that the load needs and the battery cannot cover.
    import_excess_kwh: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        data = asdict(self)
        data["intent"] = self.intent.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PeriodPlan:
        """Deserialize what `to_dict` wrote."""
        return cls(**{**data, "intent": Intent(data["intent"])})


@dataclass(frozen=True, slots=True)
class OptimizationInput:
    """Everything one optimization needs; `start` is the first period's start."""

    start: datetime
    period_minutes: int
    buy: tuple[float, ...]
    sell: tuple[float, ...]
    load: tuple[float, ...]
    solar: tuple[float, ...]
    battery: BatterySettings
    initial_soc_percent: float
    terminal_value_per_kwh: float = 0.0
    # Per period, the most energy it may import (kWh; inf: no cap), on top of the battery's
    # import limit (the lower of the two holds). Import above it is planned only where the
    # load alone needs it, and reported as import excess, exactly as for the import limit.
    import_cap_kwh: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """Refuse inputs whose series disagree in length."""
        n = len(self.buy)
        if not (len(self.sell) == len(self.load) == len(self.solar) == n):
            raise ValueError("buy, sell, load and solar must have the same length")
        if self.period_minutes <= 0:
            raise ValueError("period_minutes must be > 0")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        for name in ("buy", "sell", "load", "solar"):
            if not all(math.isfinite(v) for v in getattr(self, name)):
                raise ValueError(f"{name} holds a value that is not a finite number")
        if not is_soc(self.initial_soc_percent):
            raise ValueError(f"initial SOC {self.initial_soc_percent!r} is not from 0 to 100 %")
        if self.import_cap_kwh is not None:
            if len(self.import_cap_kwh) != n:
                raise ValueError("import_cap_kwh must have one value per period")
            for cap in self.import_cap_kwh:
                # inf is no cap; nan and negatives are refused (nan fails the comparison).
                if isinstance(cap, bool) or not isinstance(cap, int | float) or not cap >= 0:
                    raise ValueError(f"import_cap_kwh holds {cap!r}, not a number >= 0 or inf")


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """A plan: one `PeriodPlan` per period from `start`, plus totals."""

    start: datetime
    period_minutes: int
    periods: tuple[PeriodPlan, ...]
    total_cost: float
    total_baseline_cost: float
    total_savings: float
    total_grid_only_cost: float
    final_soc_percent: float
    solve_seconds: float = 0.0

    def period_start(self, index: int) -> datetime:
        """Start of period `index` (exact across DST: periods are counted in absolute time)."""
        return (
            self.start.astimezone(UTC) + timedelta(minutes=self.period_minutes * index)
        ).astimezone(self.start.tzinfo)

    @property
    def end(self) -> datetime:
        """End of the last period."""
        return self.period_start(len(self.periods))

    def index_at(self, moment: datetime) -> int | None:
        """Index of the period containing `moment`, or None outside the plan."""
        # In UTC: Python subtracts two datetimes of the same zone on the wall clock, which
        # is an hour off across a DST change.
        offset = (moment.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds() / 60.0
        index = int(offset // self.period_minutes)
        return index if 0 <= index < len(self.periods) else None

    def window(self, start: datetime, end: datetime) -> OptimizationResult | None:
        """Return the part of the plan whose periods start in [start, end), or None if none do.

        Its totals are the sums over those periods; the grid-only cost is buy·load.
        """
        lo, hi = start.astimezone(UTC), end.astimezone(UTC)
        chosen = [
            i for i in range(len(self.periods)) if lo <= self.period_start(i).astimezone(UTC) < hi
        ]
        if not chosen:
            return None
        if len(chosen) == len(self.periods):
            return self  # the totals as the optimizer summed them
        periods = self.periods[chosen[0] : chosen[-1] + 1]
        return OptimizationResult(
            start=self.period_start(chosen[0]),
            period_minutes=self.period_minutes,
            periods=periods,
            total_cost=sum(p.cost for p in periods),
            total_baseline_cost=sum(p.baseline_cost for p in periods),
            total_savings=sum(p.savings for p in periods),
            total_grid_only_cost=sum(p.buy_price * p.load_kwh for p in periods),
            final_soc_percent=periods[-1].soc_end_percent,
            solve_seconds=self.solve_seconds,
        )

    def is_finite(self) -> bool:
        """Return whether every number of the plan is finite (a stored null is not)."""
        totals = (
            self.total_cost,
            self.total_baseline_cost,
            self.total_savings,
            self.total_grid_only_cost,
            self.final_soc_percent,
        )
        numbers = [
            value
            for period in self.periods
            for value in asdict(period).values()
            if not isinstance(value, str)
        ]
        return all(isinstance(v, int | float) and math.isfinite(v) for v in (*totals, *numbers))

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data (the design's `algorithm_result`)."""
        return {
            "start": to_iso(self.start),
            "period_minutes": self.period_minutes,
            "periods": [p.to_dict() for p in self.periods],
            "total_cost": self.total_cost,
            "total_baseline_cost": self.total_baseline_cost,
            "total_savings": self.total_savings,
            "total_grid_only_cost": self.total_grid_only_cost,
            "final_soc_percent": self.final_soc_percent,
            "solve_seconds": self.solve_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizationResult:
        """Deserialize what `to_dict` wrote."""
        return cls(
            start=from_iso(data["start"]),
            period_minutes=int(data["period_minutes"]),
            periods=tuple(PeriodPlan.from_dict(p) for p in data["periods"]),
            total_cost=float(data["total_cost"]),
            total_baseline_cost=float(data["total_baseline_cost"]),
            total_savings=float(data["total_savings"]),
            total_grid_only_cost=float(data["total_grid_only_cost"]),
            final_soc_percent=float(data["final_soc_percent"]),
            solve_seconds=float(data.get("solve_seconds", 0.0)),
        )


_EVENT_NUMBERS = (
    "battery_soc_start",
    "battery_soc_end",
    "solar_generated",
    "home_consumed",
    "grid_imported",
    "grid_exported",
    "battery_charged",
    "battery_discharged",
    "buy_price",
    "sell_price",
)


@dataclass(frozen=True, slots=True)
class HourlyEvent:
    """What really happened in one period (design §3.2), plus its start and prices.

    The design's hourly event, for a period of `period_minutes` (60: an hour, as every event
    recorded before bess planned at the market's resolution). `hour` is the index of the
    local hour that contains it within its local day (0 … n-1; n is 23, 24 or 25),
    `start` the hour's start, `timestamp` when it was recorded.
    """

    hour: int
    timestamp: datetime
    battery_soc_start: float
    battery_soc_end: float
    solar_generated: float
    home_consumed: float
    grid_imported: float
    grid_exported: float
    battery_charged: float
    battery_discharged: float
    start: datetime
    buy_price: float
    sell_price: float
    # The terms that held when the hour happened, so that it is priced with them later too
    # (None in events recorded before they were kept: today's settings are used for those).
    cycle_cost_per_kwh: float | None = None
    export_limit_kw: float | None = None
    period_minutes: int = 60
    # Whether the inverter could curtail solar where exporting cost money (the baseline then
    # curtails too). Written only when true: every older event, and most new ones, lack it.
    curtailment: bool = False

    def __post_init__(self) -> None:
        """Refuse a fact that is not one: a value that is not a finite number, a SOC off 0–100."""
        if self.period_minutes not in PERIOD_LENGTHS or isinstance(self.period_minutes, bool):
            raise ValueError(
                f"period_minutes is {self.period_minutes!r}, not one of {PERIOD_LENGTHS}"
            )
        for name in _EVENT_NUMBERS:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} is {value!r}, not a finite number")
        for name in ("cycle_cost_per_kwh", "export_limit_kw"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise ValueError(f"{name} is {value!r}, not a finite number")
        if not isinstance(self.curtailment, bool):
            raise ValueError(f"curtailment is {self.curtailment!r}, not true or false")
        for name in ("battery_soc_start", "battery_soc_end"):
            if not is_soc(getattr(self, name)):
                raise ValueError(f"{name} is {getattr(self, name)!r}, not a SOC from 0 to 100 %")

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        # Field by field, not `asdict`: its deep copy of every value dominated loading a
        # year of events.
        data = {name: getattr(self, name) for name in _EVENT_FIELDS}
        if not self.curtailment:
            del data["curtailment"]  # a year of 15-minute events would carry it 35,000 times
        data["timestamp"] = to_iso(self.timestamp)
        data["start"] = to_iso(self.start)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HourlyEvent:
        """Deserialize what `to_dict` wrote."""
        return cls(
            **{
                **data,
                "timestamp": from_iso(data["timestamp"]),
                "start": from_iso(data["start"]),
            }
        )


_EVENT_FIELDS = tuple(f.name for f in fields(HourlyEvent))
_TOTAL_NUMBERS = (
    "solar_kwh",
    "load_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "battery_charge_kwh",
    "battery_discharge_kwh",
    "cost",
    "baseline_cost",
    "savings",
    "grid_only_cost",
)


@dataclass(frozen=True, slots=True)
class DailyTotal:
    """A day older than the detailed history kept: its recorded hours folded into totals.

    `day` is the local date, `hours` how many recorded hours the totals sum. Energies are
    kWh, money in the currency of the prices; each hour was priced with the one cost model
    and the terms it was recorded with, exactly as the day's view showed it before.
    """

    day: date
    hours: int
    solar_kwh: float
    load_kwh: float
    grid_import_kwh: float
    grid_export_kwh: float
    battery_charge_kwh: float
    battery_discharge_kwh: float
    cost: float
    baseline_cost: float
    savings: float
    grid_only_cost: float

    def __post_init__(self) -> None:
        """Refuse totals that are not facts: no hours, or a value that is not a finite number."""
        if isinstance(self.hours, bool) or not isinstance(self.hours, int) or self.hours < 1:
            raise ValueError(f"hours is {self.hours!r}, not a count of recorded hours")
        for name in _TOTAL_NUMBERS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} is {value!r}, not a number")
            if not math.isfinite(value):
                raise ValueError(f"{name} is {value!r}, not a finite number")

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DailyTotal:
        """Deserialize what `to_dict` wrote."""
        return cls(**{**data, "day": date.fromisoformat(data["day"])})


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """One optimization result as it was stored (design §3.3)."""

    timestamp: datetime
    optimization_hour: int  # index of the local hour the optimization started from
    algorithm_result: dict[str, Any]  # OptimizationResult.to_dict()
    created_for_scenario: Scenario

    @property
    def result(self) -> OptimizationResult:
        """The stored result as an object."""
        return OptimizationResult.from_dict(self.algorithm_result)

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        return {
            "timestamp": to_iso(self.timestamp),
            "optimization_hour": self.optimization_hour,
            "algorithm_result": self.algorithm_result,
            "created_for_scenario": self.created_for_scenario,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredSchedule:
        """Deserialize what `to_dict` wrote."""
        return cls(
            timestamp=from_iso(data["timestamp"]),
            optimization_hour=int(data["optimization_hour"]),
            algorithm_result=data["algorithm_result"],
            created_for_scenario=data["created_for_scenario"],
        )


@dataclass(frozen=True, slots=True)
class HourlyData:
    """One hour (or one period) of the daily view: measured, planned or missing."""

    hour: int
    start: datetime
    source: HourSource
    solar_kwh: float | None = None
    load_kwh: float | None = None
    grid_import_kwh: float | None = None
    grid_export_kwh: float | None = None
    battery_charge_kwh: float | None = None
    battery_discharge_kwh: float | None = None
    battery_action_kw: float | None = None
    soc_start_percent: float | None = None
    soc_end_percent: float | None = None
    buy_price: float | None = None
    sell_price: float | None = None
    cost: float | None = None
    baseline_cost: float | None = None
    savings: float | None = None
    intent: Intent | None = None
    minutes: int = 60  # the length it covers: an hour, or a period of the plan or record

    def to_dict(self) -> dict[str, Any]:
        """Serialize to JSON-able data."""
        data = asdict(self)
        data["start"] = to_iso(self.start)
        data["intent"] = self.intent.value if self.intent else None
        return data


@dataclass(frozen=True, slots=True)
class DailyView:
    """Every hour of one local day, actual then predicted, with recalculated totals."""

    date: str  # local date, ISO
    hourly_data: tuple[HourlyData, ...]
    total_savings: float
    actual_savings: float
    predicted_savings: float
    total_cost: float
    total_baseline_cost: float
    total_grid_only_cost: float
    actual_hours: int
    predicted_hours: int
    missing_hours: int
    data_sources: tuple[HourSource, ...] = field(default=())
    # The day is older than the detailed history kept: its hours carry no figures (each is
    # `missing`), and the totals and `actual_hours` come from its DailyTotal.
    compacted: bool = False
    # The day at the resolution it was planned and recorded in (periods of 15 minutes, say).
    periods: tuple[HourlyData, ...] = ()
    partial_hours: int = 0
    # With a capacity tariff only (None without one): how much the day raises the month's
    # capacity fee, for the home as it ran (`capacity_fee`) and for the same home without a
    # battery (`capacity_fee_baseline`, from its load − solar import). `actual` for a
    # finished day (recorded peaks), `planned` for today and later (the plan for the rest).
    # The energy totals above (`total_savings` …) never include it: see `capacity_savings`.
    capacity_fee: float | None = None
    capacity_fee_baseline: float | None = None
    capacity_fee_source: Literal["actual", "planned"] | None = None

    @property
    def capacity_savings(self) -> float | None:
        """Return the capacity fee the battery saves this day (baseline − fee), or None."""
        if self.capacity_fee is None or self.capacity_fee_baseline is None:
            return None
        return self.capacity_fee_baseline - self.capacity_fee

    def to_dict(self, resolution: Literal["hour", "period"] = "hour") -> dict[str, Any]:
        """Serialize to JSON-able data (service responses, diagnostics).

        The capacity fee's fields are there only where a capacity tariff is configured.
        """
        rows = self.periods if resolution == "period" else self.hourly_data
        capacity: dict[str, Any] = {}
        if self.capacity_fee is not None:
            capacity = {
                "capacity_fee": self.capacity_fee,
                "capacity_fee_baseline": self.capacity_fee_baseline,
                "capacity_savings": self.capacity_savings,
                "capacity_fee_source": self.capacity_fee_source,
            }
        return {
            "date": self.date,
            "resolution": resolution,
            "hours" if resolution == "hour" else "periods": [h.to_dict() for h in rows],
            "total_savings": self.total_savings,
            "actual_savings": self.actual_savings,
            "predicted_savings": self.predicted_savings,
            "total_cost": self.total_cost,
            "total_baseline_cost": self.total_baseline_cost,
            "total_grid_only_cost": self.total_grid_only_cost,
            "actual_hours": self.actual_hours,
            "predicted_hours": self.predicted_hours,
            "missing_hours": self.missing_hours,
            "partial_hours": self.partial_hours,
            "data_sources": list(self.data_sources),
            "compacted": self.compacted,
            **capacity,
        }
