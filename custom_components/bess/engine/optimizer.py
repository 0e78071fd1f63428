"""The battery optimizer (design §3.5): an exact DP over piecewise-linear value functions.

The stored energy `e` is continuous. Per period the cost as a function of the energy step
Δe = e[t+1] − e[t] is piecewise linear with a handful of kinks (idle, where the grid flow
crosses zero, where export hits its cap). When that stage cost is convex, the value function
V_t(e) is convex piecewise linear and one Bellman step is an infimal convolution: merge the two
sorted slope lists. Negative prices, sell > buy and a capped export at a negative sell price make
the stage cost non-convex; it is then the minimum of at most a few convex pieces, and so is every
value function: V_t is kept as the lower envelope of convex pieces, each step convolves every
pair (value piece × stage piece) and drops the pieces that are nowhere the minimum. The plan is
therefore the optimum of the continuous problem, not of a grid, and every step is whole-array
numpy work (the only Python loops run over periods and over the few convex pieces).

A battery below its minimum SOC (or above its maximum) may only charge (or discharge) or idle
until it is back inside; that is a region of states of its own, with its own pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
import itertools

import numpy as np

from .cost import FloatArray, baseline_cost, grid_flows, grid_only_cost, period_cost
from .models import Intent, OptimizationInput, OptimizationResult, PeriodPlan

_EPS = 1e-9
# Energies below this (kWh) are rounding noise: SOC bounds and segment lengths.
_ENERGY_TOL = 1e-9
# Slope changes below this (currency/kWh) are rounding noise, not kinks.
_SLOPE_TOL = 1e-10

type _Piece = tuple[FloatArray, FloatArray]  # breakpoints x (increasing) and values y


@dataclass(frozen=True, slots=True)
class _Window:
    """Stored energies (kWh): the SOC window and the states reachable from a start outside it."""

    lowest: float
    e_min: float
    e_max: float
    highest: float


def build_result(
    inputs: OptimizationInput,
    charge: FloatArray,
    discharge: FloatArray,
) -> OptimizationResult:
    """Return the plan that charges `charge` and discharges `discharge` kWh per period."""
    battery = inputs.battery
    buy = np.asarray(inputs.buy, dtype=float)
    sell = np.asarray(inputs.sell, dtype=float)
    load = np.asarray(inputs.load, dtype=float)
    solar = np.asarray(inputs.solar, dtype=float)
    dt = inputs.period_minutes / 60.0
    export_cap = _export_cap_kwh(inputs)

    net = load - solar + charge - discharge
    grid_import, grid_export = grid_flows(net, export_cap)
    # Solar that can neither be used, stored nor exported is curtailed by the inverter.
    curtailed = np.maximum(-net, 0.0) - grid_export
    cost = period_cost(
        buy, sell, grid_import, grid_export, charge, cycle_cost=battery.cycle_cost_per_kwh
    )
    base = baseline_cost(buy, sell, load, solar, export_cap=export_cap)

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
            curtailed_kwh=float(curtailed[t]),
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
    """Return the cost-optimal plan for `inputs` (exact for the continuous model)."""
    charge, discharge = solve_schedule(inputs)
    return build_result(inputs, charge, discharge)


def solve_schedule(inputs: OptimizationInput) -> tuple[FloatArray, FloatArray]:
    """Return the optimal charge and discharge kWh per period (AC side)."""
    battery = inputs.battery
    n = len(inputs.buy)
    eta_c = battery.charge_efficiency
    eta_d = battery.discharge_efficiency
    e_min = battery.min_energy_kwh
    e_max = battery.max_energy_kwh
    e_start = battery.capacity_kwh * inputs.initial_soc_percent / 100.0
    # Outside [e_min, e_max] only at the start, and only by more than rounding noise.
    e_lo = min(e_start, e_min) if e_start < e_min - _ENERGY_TOL else e_min
    e_hi = max(e_start, e_max) if e_start > e_max + _ENERGY_TOL else e_max
    e_start = min(max(e_start, e_lo), e_hi)

    knots, values = _stage_costs(inputs)
    stage = [_convex_pieces(knots[t], values[t]) for t in range(n)]

    window = _Window(e_lo, e_min, e_max, e_hi)
    terminal_x = np.array([e_lo, e_hi])
    value: list[list[_Piece]] = [[] for _ in range(n + 1)]
    value[n] = [(terminal_x, -inputs.terminal_value_per_kwh * terminal_x)]
    for t in range(n - 1, -1, -1):
        value[t] = _bellman(value[t + 1], stage[t], window)

    delta = np.zeros(n)
    energy = e_start
    for t in range(n):
        step = _best_step(energy, knots[t], values[t], value[t + 1], window)
        delta[t] = step
        energy += step
    charge = np.maximum(delta, 0.0) / eta_c
    discharge = np.maximum(-delta, 0.0) * eta_d
    return charge, discharge


def _diff(values: FloatArray) -> FloatArray:
    """Return successive differences (np.diff costs several µs of dispatch per call)."""
    return values[1:] - values[:-1]


def _export_cap_kwh(inputs: OptimizationInput) -> float:
    """Return the most energy one period may export (inf without a limit)."""
    limit = inputs.battery.export_limit_kw
    return np.inf if limit is None else limit * inputs.period_minutes / 60.0


def _stage_costs(inputs: OptimizationInput) -> tuple[list[FloatArray], list[FloatArray]]:
    """Return, per period, the kinks of the cost as a function of Δe and the cost there."""
    battery = inputs.battery
    dt = inputs.period_minutes / 60.0
    eta_c = battery.charge_efficiency
    eta_d = battery.discharge_efficiency
    buy = np.asarray(inputs.buy, dtype=float)
    sell = np.asarray(inputs.sell, dtype=float)
    load = np.asarray(inputs.load, dtype=float)
    solar = np.asarray(inputs.solar, dtype=float)
    cap = _export_cap_kwh(inputs)
    n0 = load - solar

    max_charge = np.full(len(buy), battery.max_charge_kw * dt)
    if not battery.grid_charging:
        max_charge = np.minimum(max_charge, np.maximum(solar - load, 0.0))
    hi = eta_c * max_charge
    max_discharge = np.full(len(buy), battery.max_discharge_kw * dt)
    if np.isfinite(cap):
        # Discharged energy must go to the load or the grid: only solar can be curtailed.
        max_discharge = np.minimum(max_discharge, load + cap)
    lo = -max_discharge / eta_d
    finite_cap = cap if np.isfinite(cap) else 0.0
    # Where the grid flow crosses 0 and −cap: on the charge side if net < level, else discharge.
    candidates = [lo, np.zeros_like(lo), hi]
    for level in (0.0, -finite_cap) if np.isfinite(cap) else (0.0,):
        gap = level - n0
        candidates.append(np.where(gap >= 0.0, gap * eta_c, gap / eta_d))
    points = np.clip(np.stack(candidates, axis=1), lo[:, None], hi[:, None])
    points.sort(axis=1)

    charge = np.maximum(points, 0.0) / eta_c
    discharge = np.maximum(-points, 0.0) * eta_d
    grid_import, grid_export = grid_flows(n0[:, None] + charge - discharge, cap)
    cost = period_cost(
        buy[:, None],
        sell[:, None],
        grid_import,
        grid_export,
        charge,
        cycle_cost=battery.cycle_cost_per_kwh,
    )
    knots: list[FloatArray] = []
    values: list[FloatArray] = []
    for t in range(len(buy)):
        keep = np.concatenate(([True], _diff(points[t]) > _ENERGY_TOL))
        knots.append(points[t][keep])
        values.append(cost[t][keep])
    return knots, values


def _convex_pieces(x: FloatArray, y: FloatArray) -> list[_Piece]:
    """Split a continuous piecewise-linear function at its concave kinks."""
    if len(x) < 3:
        return [(x, y)]
    slopes = _diff(y) / _diff(x)
    concave = np.flatnonzero(slopes[1:] < slopes[:-1] - _SLOPE_TOL) + 1
    if len(concave) == 0:
        return [(x, y)]
    bounds: list[int] = [0, *(int(i) for i in concave), len(x) - 1]
    return [(x[a : b + 1], y[a : b + 1]) for a, b in itertools.pairwise(bounds)]


def _clip(piece: _Piece, lo: float, hi: float) -> _Piece | None:
    """Restrict a piece to [lo, hi]; None when nothing is left."""
    x, y = piece
    if x[0] > hi + _ENERGY_TOL or x[-1] < lo - _ENERGY_TOL:
        return None
    a = max(lo, float(x[0]))
    b = min(hi, float(x[-1]))
    if b - a <= _ENERGY_TOL:
        point = np.array([min(a, b)])
        return point, np.interp(point, x, y)
    if a == x[0] and b == x[-1]:
        return piece
    inner = x[(x > a) & (x < b)]
    xs = np.concatenate(([a], inner, [b]))
    return xs, np.interp(xs, x, y)


def _infimal_convolution(p: _Piece, q: _Piece) -> _Piece:
    """Return min over u + v = x of p(u) + q(v) for convex pieces p and q (slope merge)."""
    dx = np.concatenate((_diff(p[0]), _diff(q[0])))
    dy = np.concatenate((_diff(p[1]), _diff(q[1])))
    order = np.argsort(dy / dx, kind="stable") if len(dx) else np.zeros(0, dtype=np.intp)
    x = np.concatenate(([p[0][0] + q[0][0]], dx[order])).cumsum()
    y = np.concatenate(([p[1][0] + q[1][0]], dy[order])).cumsum()
    return _simplify(x, y)


def _simplify(x: FloatArray, y: FloatArray) -> _Piece:
    """Drop zero-length segments and breakpoints where the slope does not change."""
    if len(x) < 2:
        return x, y
    keep = np.concatenate(([True], _diff(x) > _ENERGY_TOL))
    if not keep.all():
        x, y = x[keep], y[keep]
        if len(x) < 2:
            return x, y
    if len(x) > 2:
        slopes = _diff(y) / _diff(x)
        bend = np.abs(_diff(slopes)) > _SLOPE_TOL
        mask = np.concatenate(([True], bend, [True]))
        if not mask.all():
            x, y = x[mask], y[mask]
    return x, y


def _bellman(later: list[_Piece], stage: list[_Piece], window: _Window) -> list[_Piece]:
    """Return V_t as convex pieces from V_{t+1}'s pieces and the stage cost's pieces."""
    e_lo, e_min, e_max, e_hi = window.lowest, window.e_min, window.e_max, window.highest
    # Each region of states: (states, allowed steps, allowed next states).
    regions = [((e_min, e_max), (-np.inf, np.inf), (e_min, e_max))]
    if e_lo < e_min:
        regions.append(((e_lo, e_min), (0.0, np.inf), (e_lo, e_hi)))
    if e_hi > e_max:
        regions.append(((e_max, e_hi), (-np.inf, 0.0), (e_lo, e_hi)))
    pieces: list[_Piece] = []
    for (s_lo, s_hi), (d_lo, d_hi), (x_lo, x_hi) in regions:
        # V_t(e) = min over Δ of g(Δ) + V_{t+1}(e + Δ): a convolution with g mirrored.
        steps = [(-c[0][::-1], c[1][::-1]) for g in stage if (c := _clip(g, d_lo, d_hi))]
        nexts = [c for v in later if (c := _clip(v, x_lo, x_hi)) is not None]
        for g in steps:
            for v in nexts:
                clipped = _clip(_infimal_convolution(v, g), s_lo, s_hi)
                if clipped is not None:
                    pieces.append(clipped)
    return _prune(pieces)


def _evaluate(pieces: list[_Piece], at: FloatArray) -> FloatArray:
    """Return each piece's value at `at` (one row per piece; inf outside its domain)."""
    rows = np.full((len(pieces), len(at)), np.inf)
    for i, (x, y) in enumerate(pieces):
        # Tolerant at the ends: a state reached as e + (x − e) may miss x by rounding.
        inside = (at >= x[0] - _ENERGY_TOL) & (at <= x[-1] + _ENERGY_TOL)
        rows[i, inside] = np.interp(at[inside], x, y)
    return rows


def _prune(pieces: list[_Piece]) -> list[_Piece]:
    """Keep only the pieces that are the lower envelope somewhere."""
    if len(pieces) <= 1:
        return pieces
    at = np.unique(np.concatenate([x for x, _ in pieces]))
    if len(at) > 1:
        at = np.concatenate((at, 0.5 * (at[1:] + at[:-1])))
    rows = _evaluate(pieces, at)
    at, rows = _add_crossings(at, rows)
    winners = np.unique(np.argmin(rows, axis=0))
    return [pieces[i] for i in winners.tolist()]


def _add_crossings(at: FloatArray, rows: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Add, between neighbouring samples, where the left and right minimizers cross."""
    order = np.argsort(at)
    at, rows = at[order], rows[:, order]
    best = np.argmin(rows, axis=0)
    left, right = best[:-1], best[1:]
    cols = np.arange(len(at) - 1)
    d0 = rows[left, cols] - rows[right, cols]
    d1 = rows[left, cols + 1] - rows[right, cols + 1]
    cross = (left != right) & np.isfinite(d0) & np.isfinite(d1) & (d1 - d0 > 0)
    if not cross.any():
        return at, rows
    frac = -d0[cross] / (d1[cross] - d0[cross])
    extra = at[:-1][cross] + frac * (at[1:][cross] - at[:-1][cross])
    left_rows, right_rows = rows[:, :-1][:, cross], rows[:, 1:][:, cross]
    # A piece undefined at either end is undefined inside: domain ends are samples.
    defined = np.isfinite(left_rows) & np.isfinite(right_rows)
    left_rows = np.where(defined, left_rows, 0.0)
    right_rows = np.where(defined, right_rows, 0.0)
    extra_rows = np.where(defined, left_rows + frac * (right_rows - left_rows), np.inf)
    return np.concatenate((at, extra)), np.concatenate((rows, extra_rows), axis=1)


def _best_step(
    energy: float,
    knots: FloatArray,
    values: FloatArray,
    later: list[_Piece],
    window: _Window,
) -> float:
    """Return the Δe minimizing stage cost + V_{t+1} from `energy` (exact: checks all kinks)."""
    lo, hi = float(knots[0]), float(knots[-1])
    e_min, e_max = window.e_min, window.e_max
    if energy < e_min - _ENERGY_TOL:
        lo = max(lo, 0.0)
    elif energy > e_max + _ENERGY_TOL:
        hi = min(hi, 0.0)
    else:
        lo = max(lo, e_min - energy)
        hi = min(hi, e_max - energy)
    if hi < lo:
        return 0.0
    candidates = np.concatenate([knots, [lo, hi, 0.0], *[x - energy for x, _ in later]])
    candidates = np.unique(np.clip(candidates, lo, hi))
    total = np.interp(candidates, knots, values) + _evaluate(later, energy + candidates).min(axis=0)
    best = float(total.min())
    if not np.isfinite(best):
        return 0.0
    # Among equal costs prefer the smallest step: no cycling for nothing.
    ties = candidates[total <= best + 1e-12 * max(1.0, abs(best))]
    return float(ties[np.argmin(np.abs(ties))])
