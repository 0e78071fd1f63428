"""A plan as time-of-use intervals, the form inverters such as Growatt take (at most 9).

Each period gets a mode from its intent:

- battery-first: grid charging (the inverter charges at `power_kw`);
- grid-first: export arbitrage (the inverter discharges to the grid at `power_kw`);
- load-first: everything else. Load-first is the inverter's self-consumption mode: it covers
  the load from the battery (load support) and puts surplus solar into the battery (solar
  storage) by itself, and never buys energy to store it, so it is also the safe default.

Consecutive periods with the same mode form one interval (`power_kw` is the largest power of
its periods; 0 for load-first, where the inverter follows the load). When there are more
intervals than allowed, the battery-first or grid-first interval that moves the least energy
is turned into load-first and merged with its load-first neighbours, and so on until the
intervals fit. Demoting to load-first, never stretching a charge or discharge interval over
hours the plan left alone, means a merge only loses the least valuable actions and never
makes the inverter buy or sell energy the plan did not ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .models import Intent, OptimizationResult

GROWATT_MAX_INTERVALS = 9


class TouMode(StrEnum):
    """The inverter's work mode in an interval."""

    BATTERY_FIRST = "battery_first"
    GRID_FIRST = "grid_first"
    LOAD_FIRST = "load_first"


@dataclass(frozen=True, slots=True)
class TouInterval:
    """One time-of-use interval: [start, end) in `mode`, at `power_kw` (0 for load-first)."""

    start: datetime
    end: datetime
    mode: TouMode
    power_kw: float
    energy_kwh: float  # energy the plan moves through the battery in this interval


def mode_for(intent: Intent) -> TouMode:
    """Return the inverter mode that carries out a period's intent."""
    if intent is Intent.GRID_CHARGING:
        return TouMode.BATTERY_FIRST
    if intent is Intent.EXPORT_ARBITRAGE:
        return TouMode.GRID_FIRST
    return TouMode.LOAD_FIRST


def schedule_to_tou(
    result: OptimizationResult,
    max_intervals: int = GROWATT_MAX_INTERVALS,
    *,
    start_index: int = 0,
    count_load_first: bool = True,
) -> tuple[TouInterval, ...]:
    """Return the plan from period `start_index` as contiguous intervals, at most `max_intervals`.

    Times are in the zone of `result.start`. With `count_load_first=False` only
    battery-first and grid-first intervals count against the limit, for inverters whose
    time outside every interval is load-first anyway.
    """
    if max_intervals < 1:
        raise ValueError("max_intervals must be >= 1")
    runs: list[TouInterval] = []
    for index in range(max(start_index, 0), len(result.periods)):
        period = result.periods[index]
        start, end = result.period_start(index), result.period_start(index + 1)
        mode = mode_for(period.intent)
        power = abs(period.battery_action_kw) if mode is not TouMode.LOAD_FIRST else 0.0
        moved = period.charge_kwh + period.discharge_kwh
        if runs and runs[-1].mode is mode:
            last = runs[-1]
            runs[-1] = TouInterval(
                last.start, end, mode, max(last.power_kw, power), last.energy_kwh + moved
            )
        else:
            runs.append(TouInterval(start, end, mode, power, moved))

    while _count(runs, count_load_first) > max_intervals:
        weakest = min(
            (i for i, run in enumerate(runs) if run.mode is not TouMode.LOAD_FIRST),
            key=lambda i: (runs[i].energy_kwh, i),
        )
        demoted = runs[weakest]
        runs[weakest] = TouInterval(
            demoted.start, demoted.end, TouMode.LOAD_FIRST, 0.0, demoted.energy_kwh
        )
        runs = _merge_load_first(runs)
    return tuple(runs)


def _count(runs: list[TouInterval], count_load_first: bool) -> int:
    """Return how many intervals count against the limit."""
    if count_load_first:
        return len(runs)
    return sum(1 for run in runs if run.mode is not TouMode.LOAD_FIRST)


def _merge_load_first(runs: list[TouInterval]) -> list[TouInterval]:
    """Return `runs` with neighbouring load-first intervals joined."""
    merged: list[TouInterval] = []
    for run in runs:
        if merged and merged[-1].mode is TouMode.LOAD_FIRST and run.mode is TouMode.LOAD_FIRST:
            last = merged[-1]
            merged[-1] = TouInterval(
                last.start, run.end, TouMode.LOAD_FIRST, 0.0, last.energy_kwh + run.energy_kwh
            )
        else:
            merged.append(run)
    return merged
