"""The optimizer's model written as an LP/MILP and solved with HiGHS: the yardstick for tests.

Test and bench code only; custom_components never imports this.

Per period the columns are charge, discharge, import, export, curtailed solar and the stored
energy at the period's end; with an import limit, import is split into import within the limit
and the excess above it, which costs the optimizer's penalty on top of the buy price
(`cost.import_excess_penalty`), so both solve the same model. The LP is the continuous
relaxation of the cost model. Where the
stage cost is not convex (negative prices, sell > buy, a capped export at a negative sell
price, a battery starting outside its SOC window) a binary per period and per condition keeps
the model physical, exactly as the optimizer's rules do:

- charging and discharging never happen in the same period;
- import and export never happen in the same period;
- solar is curtailed only while export is at its cap, except where the inverter may curtail
  and exporting costs money (`BatterySettings.curtailment`, sell < 0): there it is curtailed
  at will, but never while importing (solar the home or the battery uses is not curtailed);
- while below the minimum SOC the battery only charges or idles; once at or above the minimum
  it stays there (and the mirror rule above the maximum SOC).
"""

from __future__ import annotations

from dataclasses import dataclass
import time

import highspy
import numpy as np
from numpy.typing import NDArray

from custom_components.bess.engine.cost import curtailable_solar, import_excess_penalty
from custom_components.bess.engine.models import OptimizationInput, OptimizationResult

type FloatArray = NDArray[np.float64]

_E_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class ReferenceSolution:
    """HiGHS's optimum: objective = Σ cost − terminal value · (e_T − e_0), in money.

    The penalty on import excess is not money: it is left out of `objective`, and the excess
    is reported as `import_excess_kwh` (total over the horizon).
    """

    objective: float
    charge: FloatArray
    discharge: FloatArray
    solve_seconds: float
    used_binaries: bool
    import_excess_kwh: float = 0.0


def needs_binaries(inputs: OptimizationInput) -> bool:
    """Tell whether the LP relaxation could pick a non-physical plan for these inputs."""
    b = inputs.battery
    buy = np.asarray(inputs.buy)
    sell = np.asarray(inputs.sell)
    e0 = b.capacity_kwh * inputs.initial_soc_percent / 100.0
    return bool(
        (buy < 0).any()
        or (sell < 0).any()
        or (sell > buy).any()
        or e0 < b.min_energy_kwh - _E_TOL
        or e0 > b.max_energy_kwh + _E_TOL
    )


def objective_of(inputs: OptimizationInput, total_cost: float, final_soc_percent: float) -> float:
    """Return a plan's objective: its cost minus the value of the energy it leaves behind."""
    b = inputs.battery
    gained_kwh = b.capacity_kwh * (final_soc_percent - inputs.initial_soc_percent) / 100.0
    return total_cost - inputs.terminal_value_per_kwh * gained_kwh


def solve_reference(
    inputs: OptimizationInput, *, binaries: bool | None = None
) -> ReferenceSolution:
    """Solve the model with HiGHS (an LP, or a MILP when `binaries` or the inputs need one)."""
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
    import_cap = np.inf if b.import_limit_kw is None else b.import_limit_kw * dt
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
    previous_inside = -1
    charge_cols, discharge_cols, energy_cols, excess_cols = [], [], [], []
    for t in range(n):
        ch = column(b.cycle_cost_per_kwh, 0.0, float(c_max[t]))
        dis = column(0.0, 0.0, d_max)
        imp = column(float(buy[t]), 0.0, float(import_cap))
        excess = column(float(buy[t]) + penalty, 0.0, np.inf if np.isfinite(import_cap) else 0.0)
        excess_cols.append(excess)
        exp = column(-float(sell[t]), 0.0, float(cap))
        curt = column(0.0, 0.0, float(solar[t]) if np.isfinite(cap) or may_curtail[t] else 0.0)
        last = t == n - 1
        e_next = column(-inputs.terminal_value_per_kwh if last else 0.0, e_lo, e_hi)
        charge_cols.append(ch)
        discharge_cols.append(dis)
        energy_cols.append(e_next)
        # e[t+1] − e[t] − η_c·charge + discharge/η_d = 0
        balance = {e_next: 1.0, ch: -eta_c, dis: 1.0 / eta_d}
        rhs = 0.0
        if t == 0:
            rhs = e0
        else:
            balance[energy_cols[t - 1]] = -1.0
        rows.append((balance, rhs, rhs))
        # import + excess − export − charge + discharge − curtailed = load − solar
        flow = float(load[t] - solar[t])
        rows.append(
            ({imp: 1.0, excess: 1.0, exp: -1.0, ch: -1.0, dis: 1.0, curt: -1.0}, flow, flow)
        )
        if not use_binaries:
            continue
        side = column(0.0, 0.0, 1.0, binary=True)  # 1: may charge, 0: may discharge
        rows.append(({ch: 1.0, side: -float(c_max[t])}, -np.inf, 0.0))
        rows.append(({dis: 1.0, side: d_max}, -np.inf, d_max))
        # Importing and exporting at once pays where sell > buy, or where it would unlock
        # curtailment (export at its cap while importing); elsewhere the LP never does it.
        # Curtailing by choice can pay anywhere (the battery dumps energy before negative
        # prices), so with a cap that binary is always there.
        if sell[t] > buy[t] or np.isfinite(cap):
            direction = column(0.0, 0.0, 1.0, binary=True)  # 1: may import, 0: may export
            most_import = float(load[t] + c_max[t]) + 1.0
            most_export = float(min(solar[t] + d_max, cap)) + 1.0
            rows.append(({imp: 1.0, excess: 1.0, direction: -most_import}, -np.inf, 0.0))
            rows.append(({exp: 1.0, direction: most_export}, -np.inf, most_export))
        if may_curtail[t]:
            # Curtailing at will, but only solar nothing in the home uses: never while importing.
            curtailing = column(0.0, 0.0, 1.0, binary=True)  # 1: may curtail, imports nothing
            rows.append(({curt: 1.0, curtailing: -float(solar[t])}, -np.inf, 0.0))
            most_import = float(load[t] + c_max[t]) + 1.0
            rows.append(({imp: 1.0, excess: 1.0, curtailing: most_import}, -np.inf, most_import))
        elif np.isfinite(cap):
            at_cap = column(0.0, 0.0, 1.0, binary=True)  # 1: export at its cap, may curtail
            rows.append(({curt: 1.0, at_cap: -float(solar[t])}, -np.inf, 0.0))
            rows.append(({exp: 1.0, at_cap: -float(cap)}, 0.0, np.inf))
            # ... and then imports nothing (a zero cap is "at its cap" while importing).
            most_import = float(load[t] + c_max[t]) + 1.0
            rows.append(({imp: 1.0, excess: 1.0, at_cap: most_import}, -np.inf, most_import))
        if below or above:
            # inside: 1 when e[t] and e[t+1] are both in the SOC window; else only one direction.
            inside = column(0.0, 0.0, 0.0 if t == 0 else 1.0, binary=True)
            if t > 0:
                # Once back in the window the battery stays there: a valid, tightening cut.
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
    # Far below the 0.1 % the optimizer is held to, yet quick to prove.
    # With an import excess the objective holds the large penalty: only an absolute gap keeps
    # the money exact.
    h.setOptionValue("mip_rel_gap", 0.0 if np.isfinite(import_cap) else 1e-8)
    h.setOptionValue("mip_abs_gap", 1e-7)
    h.passModel(lp)
    began = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - began
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS did not solve the reference model: {status}")
    x = np.array(h.getSolution().col_value)
    excess_kwh = float(x[excess_cols].sum())
    objective = (
        float(h.getInfo().objective_function_value)
        + inputs.terminal_value_per_kwh * e0
        - penalty * excess_kwh
    )
    return ReferenceSolution(
        objective=objective,
        charge=x[charge_cols],
        discharge=x[discharge_cols],
        solve_seconds=elapsed,
        used_binaries=use_binaries,
        import_excess_kwh=excess_kwh,
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """How a plan's objective compares with HiGHS's optimum on the same inputs."""

    ours: float
    optimum: float
    baseline: float
    # Import above the import limit over the horizon: the plan's and the optimum's.
    ours_excess_kwh: float = 0.0
    optimum_excess_kwh: float = 0.0

    @property
    def achievable(self) -> float:
        """Savings the optimum achieves over the idle battery."""
        return self.baseline - self.optimum

    @property
    def capture(self) -> float:
        """Share of the achievable savings the plan captures (1.0 when nothing is achievable)."""
        if self.achievable <= 1e-9:
            return 1.0
        return (self.baseline - self.ours) / self.achievable

    @property
    def exact_enough(self) -> bool:
        """The issue's bar: ≥ 99.9 % of the achievable savings, or within 0.01 of the optimum,
        with no more import excess than the optimum.
        """
        if self.ours_excess_kwh > self.optimum_excess_kwh + 1e-6:
            return False
        return self.capture >= 0.999 or self.ours - self.optimum <= 0.01


def compare(inputs: OptimizationInput, result: OptimizationResult) -> Comparison:
    """Solve the reference for `inputs` and compare `result` with it."""
    reference = solve_reference(inputs)
    return Comparison(
        ours=objective_of(inputs, result.total_cost, result.final_soc_percent),
        optimum=reference.objective,
        baseline=result.total_baseline_cost,
        ours_excess_kwh=sum(p.import_excess_kwh for p in result.periods),
        optimum_excess_kwh=reference.import_excess_kwh,
    )
