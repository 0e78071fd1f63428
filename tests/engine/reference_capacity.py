"""The capacity-tariff planning model as an LP/MILP solved with HiGHS: the yardstick for tests.

Test and bench code only; custom_components never imports this.

The battery model is reference.py's (the same columns, rows and binaries, written out again
here because that builder is one function with no way to add rows to it). On top of it:

- a column P ≥ 0, the horizon's cap (kW, weighted), with w_t · (import_t + excess_t) / h ≤ P
  for every counted period t of the plan's month (weight w_t > 0, period length h in hours);
- the fee increase as the sum of the N largest entries, written as the linear program
  S_N(x) = min over u of N·u + Σ_i max(0, x_i − u): the recorded peaks the horizon cannot
  change are fixed entries, and the horizon adds, with distinct days, one entry z_d ≥ P,
  z_d ≥ b_d per local day d with counted periods (b_d: the day's recorded peak), else
  k = min(N, measurement intervals touched) entries equal to P. Entries are padded with
  zeros to N.

Objective: money − terminal value × energy gained + F/N · (S_N(entries) − S_N(recorded)),
the import excess penalty (reference.py) on top for planning only. It is convex in P, so
the LP (with reference.py's binaries where a stage cost is not convex) is its optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
import time

import highspy
import numpy as np

from custom_components.bess.engine.capacity import CapacityTariff, Peak, counted_weights
from custom_components.bess.engine.cost import curtailable_solar, import_excess_penalty
from custom_components.bess.engine.models import OptimizationInput
from custom_components.bess.engine.timeutil import period_start

from .reference import FloatArray, needs_binaries

_E_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class CapacityReference:
    """HiGHS's optimum of the capacity model: objective = money + fee increase."""

    objective: float
    money: float  # Σ cost − terminal value · (e_T − e_0)
    fee_increase: float
    peak_kw: float  # P
    charge: FloatArray
    discharge: FloatArray
    import_excess_kwh: float
    solve_seconds: float
    used_binaries: bool


def _entries(
    inputs: OptimizationInput,
    tariff: CapacityTariff,
    recorded: Sequence[Peak],
    tz: tzinfo,
) -> tuple[FloatArray, list[float], list[float], list[date | None]]:
    """Return weights (0 outside the month), fixed entries, horizon floors and their days."""
    n = len(inputs.buy)
    begin = inputs.start.astimezone(UTC)
    step = timedelta(minutes=inputs.period_minutes)
    starts = [(begin + i * step).astimezone(tz) for i in range(n)]
    month = (starts[0].year, starts[0].month)
    weights = np.array(counted_weights(starts, inputs.period_minutes, tariff, tz))
    weights[[(s.year, s.month) != month for s in starts]] = 0.0
    counted = [starts[t] for t in range(n) if weights[t] > 0.0]
    if tariff.distinct_days:
        days = sorted({s.date() for s in counted})
        per_day: dict[date, float] = {}
        for peak in recorded:
            per_day[peak.day] = max(per_day.get(peak.day, 0.0), peak.kw)
        floors = [per_day.pop(d, 0.0) for d in days]
        fixed = list(per_day.values())
        return weights, fixed, floors, list(days)
    minutes = tariff.measurement_minutes
    intervals: set[datetime] = set()
    for s in counted:
        for j in range(max(1, inputs.period_minutes // minutes)):
            moment = s.astimezone(UTC) + timedelta(minutes=j * minutes)
            intervals.add(period_start(moment, tz, minutes))
    k = min(tariff.peaks, len(intervals))
    return weights, [p.kw for p in recorded], [0.0] * k, [None] * k


def solve_capacity_reference(
    inputs: OptimizationInput,
    tariff: CapacityTariff,
    recorded: Sequence[Peak],
    tz: tzinfo,
    *,
    binaries: bool | None = None,
) -> CapacityReference:
    """Solve the capacity model with HiGHS (a MILP when `binaries` or the inputs need one)."""
    use_binaries = needs_binaries(inputs) if binaries is None else binaries
    b = inputs.battery
    n = len(inputs.buy)
    dt = inputs.period_minutes / 60.0
    buy = np.asarray(inputs.buy, dtype=float)
    sell = np.asarray(inputs.sell, dtype=float)
    load = np.asarray(inputs.load, dtype=float)
    solar = np.asarray(inputs.solar, dtype=float)
    eta_c, eta_d = b.charge_efficiency, b.discharge_efficiency
    e_min, e_max = b.min_energy_kwh, b.max_energy_kwh
    e0 = b.capacity_kwh * inputs.initial_soc_percent / 100.0
    below = e0 < e_min - _E_TOL
    above = e0 > e_max + _E_TOL
    e_lo = e0 if below else e_min
    e_hi = e0 if above else e_max
    cap = np.inf if b.export_limit_kw is None else b.export_limit_kw * dt
    import_cap = np.full(n, np.inf if b.import_limit_kw is None else b.import_limit_kw * dt)
    if inputs.import_cap_kwh is not None:
        import_cap = np.minimum(import_cap, np.asarray(inputs.import_cap_kwh, dtype=float))
    limited = bool(np.isfinite(import_cap).any())
    may_curtail = curtailable_solar(sell, solar, curtailment=b.curtailment) > 0.0
    penalty = import_excess_penalty(
        buy,
        sell,
        cycle_cost=b.cycle_cost_per_kwh,
        terminal_value=inputs.terminal_value_per_kwh,
        round_trip_efficiency=eta_c * eta_d,
    )
    c_max = np.full(n, b.max_charge_kw * dt)
    if not b.grid_charging:
        c_max = np.minimum(c_max, np.maximum(solar - load, 0.0))
    d_max = b.max_discharge_kw * dt
    big_e = e_hi - e_lo + 1.0
    weights, fixed, floors, _ = _entries(inputs, tariff, recorded, tz)
    counted = weights > 0.0

    cost: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    integral: list[bool] = []

    def column(c: float, lo: float, hi: float, *, binary: bool = False) -> int:
        cost.append(c)
        lower.append(lo)
        upper.append(hi)
        integral.append(binary)
        return len(cost) - 1

    rows: list[tuple[dict[int, float], float, float]] = []
    peak = column(0.0, 0.0, np.inf) if counted.any() else -1
    previous_inside = -1
    charge_cols, discharge_cols, energy_cols, excess_cols = [], [], [], []
    for t in range(n):
        ch = column(b.cycle_cost_per_kwh, 0.0, float(c_max[t]))
        dis = column(0.0, 0.0, d_max)
        imp = column(float(buy[t]), 0.0, float(import_cap[t]))
        excess = column(float(buy[t]) + penalty, 0.0, np.inf if limited else 0.0)
        excess_cols.append(excess)
        exp = column(-float(sell[t]), 0.0, float(cap))
        curt = column(0.0, 0.0, float(solar[t]) if np.isfinite(cap) or may_curtail[t] else 0.0)
        last = t == n - 1
        e_next = column(-inputs.terminal_value_per_kwh if last else 0.0, e_lo, e_hi)
        charge_cols.append(ch)
        discharge_cols.append(dis)
        energy_cols.append(e_next)
        balance = {e_next: 1.0, ch: -eta_c, dis: 1.0 / eta_d}
        rhs = 0.0
        if t == 0:
            rhs = e0
        else:
            balance[energy_cols[t - 1]] = -1.0
        rows.append((balance, rhs, rhs))
        flow = float(load[t] - solar[t])
        rows.append(
            ({imp: 1.0, excess: 1.0, exp: -1.0, ch: -1.0, dis: 1.0, curt: -1.0}, flow, flow)
        )
        if counted[t]:
            # The counted power, all import included, is at most the cap P.
            scale = float(weights[t]) / dt
            rows.append(({imp: scale, excess: scale, peak: -1.0}, -np.inf, 0.0))
        if not use_binaries:
            continue
        side = column(0.0, 0.0, 1.0, binary=True)
        rows.append(({ch: 1.0, side: -float(c_max[t])}, -np.inf, 0.0))
        rows.append(({dis: 1.0, side: d_max}, -np.inf, d_max))
        if sell[t] > buy[t] or np.isfinite(cap):
            direction = column(0.0, 0.0, 1.0, binary=True)
            most_import = float(load[t] + c_max[t]) + 1.0
            most_export = float(min(solar[t] + d_max, cap)) + 1.0
            rows.append(({imp: 1.0, excess: 1.0, direction: -most_import}, -np.inf, 0.0))
            rows.append(({exp: 1.0, direction: most_export}, -np.inf, most_export))
        if may_curtail[t]:
            curtailing = column(0.0, 0.0, 1.0, binary=True)
            rows.append(({curt: 1.0, curtailing: -float(solar[t])}, -np.inf, 0.0))
            most_import = float(load[t] + c_max[t]) + 1.0
            rows.append(({imp: 1.0, excess: 1.0, curtailing: most_import}, -np.inf, most_import))
        elif np.isfinite(cap):
            at_cap = column(0.0, 0.0, 1.0, binary=True)
            rows.append(({curt: 1.0, at_cap: -float(solar[t])}, -np.inf, 0.0))
            rows.append(({exp: 1.0, at_cap: -float(cap)}, 0.0, np.inf))
            most_import = float(load[t] + c_max[t]) + 1.0
            rows.append(({imp: 1.0, excess: 1.0, at_cap: most_import}, -np.inf, most_import))
        if below or above:
            inside = column(0.0, 0.0, 0.0 if t == 0 else 1.0, binary=True)
            if t > 0:
                rows.append(({inside: 1.0, previous_inside: -1.0}, 0.0, np.inf))
            previous_inside = inside
            if below:
                rows.append(({dis: 1.0, inside: -d_max}, -np.inf, 0.0))
                rows.append(({e_next: 1.0, inside: -big_e}, e_min - big_e, np.inf))
                if t > 0:
                    rows.append(({energy_cols[t - 1]: 1.0, inside: -big_e}, e_min - big_e, np.inf))
            else:
                rows.append(({ch: 1.0, inside: -float(c_max[t])}, -np.inf, 0.0))
                rows.append(({e_next: 1.0, inside: big_e}, -np.inf, e_max + big_e))
                if t > 0:
                    rows.append(({energy_cols[t - 1]: 1.0, inside: big_e}, -np.inf, e_max + big_e))

    # The fee: F/N · (N·u + Σ s_i), s_i ≥ entry_i − u, s_i ≥ 0; the entries are the fixed
    # peaks, then the horizon's: z_d (≥ P and ≥ its floor) with distinct days, else P.
    rate = tariff.fee_per_kw_month / tariff.peaks
    recorded_sum = sum(sorted([*fixed, *floors], reverse=True)[: tariff.peaks])
    fee_cols: list[int] = []
    if peak >= 0:
        padded = fixed + [0.0] * max(0, tariff.peaks - len(fixed) - len(floors))
        u = column(rate * tariff.peaks, -np.inf, np.inf)
        fee_cols.append(u)
        for entry in padded:
            s = column(rate, 0.0, np.inf)
            fee_cols.append(s)
            rows.append(({s: 1.0, u: 1.0}, entry, np.inf))
        for floor in floors:
            if tariff.distinct_days:
                z = column(0.0, floor, np.inf)
                rows.append(({z: 1.0, peak: -1.0}, 0.0, np.inf))
            else:
                z = peak
            s = column(rate, 0.0, np.inf)
            fee_cols.append(s)
            rows.append(({s: 1.0, u: 1.0, z: -1.0}, 0.0, np.inf))

    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.array(cost)
    lp.col_lower_ = np.array(lower)
    lp.col_upper_ = np.array(upper)
    lp.row_lower_ = np.array([r[1] for r in rows])
    lp.row_upper_ = np.array([r[2] for r in rows])
    starts: list[int] = [0]
    index: list[int] = []
    value: list[float] = []
    for coeffs, _, _ in rows:
        index.extend(coeffs.keys())
        value.extend(coeffs.values())
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    lp.a_matrix_.num_col_ = len(cost)
    lp.a_matrix_.num_row_ = len(rows)
    if any(integral):
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in integral
        ]

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0 if limited else 1e-9)
    h.setOptionValue("mip_abs_gap", 1e-8)
    h.passModel(lp)
    began = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - began
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS did not solve the capacity model: {status}")
    x = np.array(h.getSolution().col_value)
    excess_kwh = float(x[excess_cols].sum())
    fee_value = float(np.dot(np.array(cost)[fee_cols], x[fee_cols])) if fee_cols else 0.0
    fee_increase = fee_value - rate * recorded_sum if fee_cols else 0.0
    objective = (
        float(h.getInfo().objective_function_value)
        + inputs.terminal_value_per_kwh * e0
        - penalty * excess_kwh
        - rate * recorded_sum * (1.0 if fee_cols else 0.0)
    )
    return CapacityReference(
        objective=objective,
        money=objective - fee_increase,
        fee_increase=fee_increase,
        peak_kw=float(x[peak]) if peak >= 0 else 0.0,
        charge=x[charge_cols],
        discharge=x[discharge_cols],
        import_excess_kwh=excess_kwh,
        solve_seconds=elapsed,
        used_binaries=use_binaries,
    )
