"""The battery optimizer (design §3.5): a pure function of its inputs.

PLACEHOLDER: `optimize_battery_schedule` returns the idle plan until the exact DP lands.
`build_result` is the real thing: it turns per-period charge/discharge decisions into the
flows, SOC, money and intents of an `OptimizationResult` with the one cost model.
"""

from __future__ import annotations

import numpy as np

from .cost import FloatArray, baseline_cost, grid_only_cost, period_cost
from .models import Intent, OptimizationInput, OptimizationResult, PeriodPlan

_EPS = 1e-9


def build_result(
    inputs: OptimizationInput,
    charge: FloatArray,
    discharge: FloatArray,
    solve_seconds: float = 0.0,
) -> OptimizationResult:
    """Return the plan that charges `charge` and discharges `discharge` kWh per period."""
    battery = inputs.battery
    buy = np.asarray(inputs.buy, dtype=float)
    sell = np.asarray(inputs.sell, dtype=float)
    load = np.asarray(inputs.load, dtype=float)
    solar = np.asarray(inputs.solar, dtype=float)
    dt = inputs.period_minutes / 60.0

    net = load - solar + charge - discharge
    grid_import = np.maximum(net, 0.0)
    grid_export = np.maximum(-net, 0.0)
    cost = period_cost(
        buy, sell, grid_import, grid_export, charge, cycle_cost=battery.cycle_cost_per_kwh
    )
    base = baseline_cost(buy, sell, load, solar)

    stored = battery.capacity_kwh * inputs.initial_soc_percent / 100.0
    delta = battery.charge_efficiency * charge - discharge / battery.discharge_efficiency
    energy = stored + np.concatenate(([0.0], np.cumsum(delta)))
    soc = energy / battery.capacity_kwh * 100.0

    periods = tuple(
        PeriodPlan(
            charge_kwh=float(charge[t]),
            discharge_kwh=float(discharge[t]),
            battery_action_kw=float((charge[t] - discharge[t]) / dt),
            soc_start_percent=float(soc[t]),
            soc_end_percent=float(soc[t + 1]),
            grid_import_kwh=float(grid_import[t]),
            grid_export_kwh=float(grid_export[t]),
            load_kwh=float(load[t]),
            solar_kwh=float(solar[t]),
            buy_price=float(buy[t]),
            sell_price=float(sell[t]),
            cost=float(cost[t]),
            baseline_cost=float(base[t]),
            savings=float(base[t] - cost[t]),
            intent=classify_intent(
                float(charge[t]), float(discharge[t]), float(load[t]), float(solar[t])
            ),
        )
        for t in range(len(buy))
    )
    return OptimizationResult(
        start=inputs.start,
        period_minutes=inputs.period_minutes,
        periods=periods,
        total_cost=float(cost.sum()),
        total_baseline_cost=float(base.sum()),
        total_savings=float((base - cost).sum()),
        total_grid_only_cost=float(grid_only_cost(buy, load).sum()),
        final_soc_percent=float(soc[-1]),
        solve_seconds=solve_seconds,
    )


def classify_intent(charge: float, discharge: float, load: float, solar: float) -> Intent:
    """Name why the battery acts: where charged energy comes from, where discharge goes."""
    surplus = max(solar - load, 0.0)
    if charge > _EPS and charge >= discharge:
        return Intent.SOLAR_STORAGE if charge <= surplus + 1e-6 else Intent.GRID_CHARGING
    if discharge > _EPS:
        deficit = max(load - solar, 0.0)
        return Intent.LOAD_SUPPORT if discharge <= deficit + 1e-6 else Intent.EXPORT_ARBITRAGE
    return Intent.IDLE


def optimize_battery_schedule(inputs: OptimizationInput) -> OptimizationResult:
    """Return the plan for `inputs` (placeholder: the battery stays idle)."""
    zeros = np.zeros(len(inputs.buy))
    return build_result(inputs, zeros, zeros.copy())
