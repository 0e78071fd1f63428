"""The hindsight report of a finished day: what was predicted, realized, and possible.

Four figures, all savings (`baseline − cost` with the one cost model, cost.py) over the day's
periods, each plus the worth of the energy it left in the battery compared with the day's start
(`value × (energy at the end − energy at the start)`, with the end-of-horizon value the plans
used: the user's fixed value, else the rule of terminal.py on the day's buy prices). Without
that, a day that ends fuller would look worse than one that emptied the battery to sell.

- **predicted**: the plan the day started from (the first re-plan of the day, else tomorrow's
  plan made the evening before), over the day, as it expected the day to go.
- **realized**: the measured periods, priced as the daily view prices them.
- **optimum**: the optimizer run on the day's measured prices, load and solar, from the measured
  SOC at the day's start: what a planner that knew the day could have made.
- **commanded**: what the plans in force would have made on the measured day with an inverter
  that does exactly what it is told: each period the intent and power of the plan in force
  then, carried out on the measured load and solar from the simulated SOC, as the inverter
  modes do (grid charging charges at the planned power; solar storage charges the planned
  power from surplus solar only; load support discharges up to the planned power but no more
  than the home needs; export arbitrage discharges at the planned power; idle holds). A period
  with no plan in force holds.

The gap between optimum and realized splits in two, and the two parts add up to it exactly:

- **forecast** = optimum − commanded: the plans were made on forecasts (load, solar, and the
  prices not yet known), so even perfectly carried out they fall short of the optimum;
- **execution** = commanded − realized: the inverter did not do what it was told (a rejected
  call, a hand change, a slow mode change, power limits the battery did not reach).

Where the inverter ignored a command, the plans after it start from the state it left (the
real SOC), which is worse than the state the optimum had: that lasting part of the damage shows
as forecast. With perfect forecasts and an inverter that ignores every second command, the
execution part carries 63 % of the gap in the closed-loop test, the forecast part 37 %; with
a perfect inverter the execution part is 0 (to rounding), whatever the forecasts.

Capture is realized ÷ optimum, in %, where the optimum is worth anything (above 0.01).
A day is reported only when every period of it is measured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from .cost import baseline_cost, curtailable_solar, grid_flows, period_cost
from .daily_view import event_terms
from .models import (
    BatterySettings,
    HourlyEvent,
    Intent,
    OptimizationInput,
    OptimizationResult,
)
from .optimizer import optimize_battery_schedule

# An optimum below this (currency) is no yardstick for a capture ratio.
MIN_OPTIMUM = 0.01


@dataclass(frozen=True, slots=True)
class HindsightReport:
    """One finished day's predicted, realized, commanded and optimal savings (see above)."""

    day: date
    periods: int
    terminal_value_per_kwh: float
    predicted: float | None
    realized: float
    commanded: float
    optimum: float
    forecast_gap: float
    execution_gap: float
    capture_percent: float | None

    def to_dict(self) -> dict[str, object]:
        """Serialize to JSON-able data."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return data


def _stored(battery: BatterySettings, soc_percent: float) -> float:
    """Return the stored energy (kWh) at `soc_percent`."""
    return battery.capacity_kwh * soc_percent / 100.0


def _commanded(
    events: Sequence[HourlyEvent],
    plans: Sequence[OptimizationResult | None],
    battery: BatterySettings,
) -> tuple[float, float]:
    """Return (savings, energy at the end) of the plans in force carried out on the day."""
    energy = _stored(battery, events[0].battery_soc_start)
    low, high = battery.min_energy_kwh, battery.max_energy_kwh
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    savings = 0.0
    for event, plan in zip(events, plans, strict=True):
        index = None if plan is None else plan.index_at(event.start)
        charge = discharge = 0.0
        if plan is not None and index is not None:
            period = plan.periods[index]
            surplus = max(event.solar_generated - event.home_consumed, 0.0)
            deficit = max(event.home_consumed - event.solar_generated, 0.0)
            if period.intent is Intent.GRID_CHARGING:
                charge = period.charge_kwh
            elif period.intent is Intent.SOLAR_STORAGE:
                charge = min(period.charge_kwh, surplus)
            elif period.intent is Intent.LOAD_SUPPORT:
                discharge = min(period.discharge_kwh, deficit)
            elif period.intent is Intent.EXPORT_ARBITRAGE:
                discharge = period.discharge_kwh
        # What the battery can take or give from where it is now.
        charge = max(min(charge, (high - energy) / eta_c), 0.0)
        discharge = max(min(discharge, (energy - low) * eta_d), 0.0)
        energy += charge * eta_c - discharge / eta_d
        cycle, cap, curtailment = event_terms(event, battery)
        sell = np.array([event.sell_price])
        solar = np.array([event.solar_generated])
        net = np.array([event.home_consumed - event.solar_generated + charge - discharge])
        curtailable = curtailable_solar(sell, solar, curtailment=curtailment)
        grid_import, grid_export = grid_flows(net, cap, curtailable)
        cost = period_cost(
            event.buy_price,
            event.sell_price,
            float(grid_import[0]),
            float(grid_export[0]),
            charge,
            cycle_cost=cycle,
        )
        base = baseline_cost(
            event.buy_price,
            event.sell_price,
            event.home_consumed,
            event.solar_generated,
            export_cap=cap,
            curtailment=curtailment,
        )
        savings += base - cost
    return savings, energy


def hindsight_report(
    day: date,
    events: Sequence[HourlyEvent],
    *,
    expected_periods: int,
    battery: BatterySettings,
    event_savings: Callable[[HourlyEvent], float],
    plan_in_force: Callable[[datetime], OptimizationResult | None],
    first_plan: OptimizationResult | None,
    terminal_value: Callable[[Sequence[float], Sequence[float]], float],
) -> HindsightReport | None:
    """Return the report of `day`, or None while any of its periods is not measured.

    `events` are the day's measured periods in time order (`expected_periods` of them, all of
    one length); `event_savings` prices one as the daily view does; `plan_in_force` returns
    the plan in force at a moment; `first_plan` is the plan the day started from;
    `terminal_value(buy, sell)` is the worth of a stored kWh the plans used.
    """
    if not events or len(events) != expected_periods:
        return None
    minutes = events[0].period_minutes
    if any(event.period_minutes != minutes for event in events):
        return None
    buy = [event.buy_price for event in events]
    sell = [event.sell_price for event in events]
    value = terminal_value(buy, sell)
    start_energy = _stored(battery, events[0].battery_soc_start)

    realized = sum(event_savings(event) for event in events)
    realized += value * (_stored(battery, events[-1].battery_soc_end) - start_energy)

    inputs = OptimizationInput(
        start=events[0].start,
        period_minutes=minutes,
        buy=tuple(buy),
        sell=tuple(sell),
        load=tuple(event.home_consumed for event in events),
        solar=tuple(event.solar_generated for event in events),
        battery=battery,
        initial_soc_percent=min(max(events[0].battery_soc_start, 0.0), 100.0),
        terminal_value_per_kwh=value,
    )
    best = optimize_battery_schedule(inputs)
    optimum = best.total_savings + value * (_stored(battery, best.final_soc_percent) - start_energy)

    commanded, end_energy = _commanded(
        events, [plan_in_force(event.start) for event in events], battery
    )
    commanded += value * (end_energy - start_energy)

    predicted: float | None = None
    if first_plan is not None:
        whole = first_plan.window(events[0].start, _end(events))
        if whole is not None and whole.start.astimezone(UTC) == events[0].start.astimezone(UTC):
            first = whole.periods[0]
            predicted = whole.total_savings + value * (
                _stored(battery, whole.final_soc_percent)
                - _stored(battery, first.soc_start_percent)
            )

    capture = 100.0 * realized / optimum if optimum > MIN_OPTIMUM else None
    return HindsightReport(
        day=day,
        periods=len(events),
        terminal_value_per_kwh=value,
        predicted=predicted,
        realized=realized,
        commanded=commanded,
        optimum=optimum,
        forecast_gap=optimum - commanded,
        execution_gap=commanded - realized,
        capture_percent=capture,
    )


def _end(events: Sequence[HourlyEvent]) -> datetime:
    """Return the end of the last event."""
    last = events[-1]
    return last.start.astimezone(UTC) + timedelta(minutes=last.period_minutes)
