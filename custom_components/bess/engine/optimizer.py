"""The battery optimizer (design §3.5): an exact DP over piecewise-linear value functions.

The stored energy `e` is continuous. Per period the cost as a function of the energy step
Δe = e[t+1] − e[t] is piecewise linear with a handful of kinks (idle, where the grid flow
crosses zero, where export hits its cap, where import hits its limit, and where the battery's
discharge passes the load in a period that curtails rather than exports). The value function
V_t(e) is then continuous and piecewise linear on the reachable states (a continuous cost
minimized over step bounds that move continuously with e), and is kept as its breakpoints.

One Bellman step, V_t(e) = min over Δ of g_t(Δ) + V_{t+1}(e + Δ), is an infimal convolution.
When the stage cost g_t and V_{t+1} are convex it is a merge of their sorted slope lists.
Negative prices, sell > buy and a capped export at a negative sell price make g_t non-convex,
and then V_t too: both are split at their concave kinks into convex pieces, every pair (value
piece × stage piece) is convolved in one batch, and V_t is the exact lower envelope of those
candidates. Exact, not sampled: between consecutive breakpoints of the candidates every
candidate is a line, and the envelope of lines is found by cutting each interval where the
lowest lines at its two ends cross, until the lines that cross there are the lowest of all.
The plan is therefore the optimum of the continuous problem, not of a grid, and every step is
whole-array numpy work (the only Python loops run over periods and refinement rounds).

Import above the import limit costs the optimizer a penalty per kWh (cost.py), larger than
any plan can gain from it: the limit is obeyed wherever the battery can make it so, and where
the load alone exceeds it the battery covers what it can and the rest is reported as excess.
This keeps the stage cost piecewise linear (one more, convex, kink), so the DP stays exact.
A per-period import cap (`OptimizationInput.import_cap_kwh`, e.g. from a capacity tariff,
capacity.py) is the same kink at a level of its own per period: the lower of it and the
import limit holds, with the same penalty above it.

Curtailment at a negative export price (cost.py) is a choice within a period, not across
periods: for a given Δe the cheapest grid flows curtail all surplus solar where export costs
money, so the stage cost is that minimum and the DP stays exact. Whether to store the surplus
or curtail it is the DP's choice like any other.

A battery below its minimum SOC (or above its maximum) may only charge (or discharge) or idle
until it is back inside; that is a region of states of its own, with its own candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cost import (
    FloatArray,
    baseline_cost,
    curtailable_solar,
    grid_flows,
    grid_only_cost,
    import_excess,
    import_excess_penalty,
    period_cost,
)
from .models import Intent, OptimizationInput, OptimizationResult, PeriodPlan

type IntArray = NDArray[np.intp]
type _Function = tuple[FloatArray, FloatArray]  # breakpoints x (increasing) and values y
# A value function: breakpoints, values, and the breakpoints that split it into convex pieces
# (just its two ends when it is convex).
type _Value = tuple[FloatArray, FloatArray, IntArray]

_EPS = 1e-9
# Energies below this (kWh) are rounding noise: SOC bounds and segment lengths.
_ENERGY_TOL = 1e-9
# Slope changes below this (currency/kWh) are rounding noise, not kinks.
_SLOPE_TOL = 1e-10
# Values closer than this (currency, plus a relative part) tie when finding the lowest line.
_VALUE_TOL = 1e-10
_VALUE_RTOL = 1e-13


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
    curtailable = curtailable_solar(sell, solar, curtailment=battery.curtailment)
    grid_import, grid_export = grid_flows(net, export_cap, curtailable)
    excess = _excess(grid_import, _import_cap_kwh(inputs))
    # Surplus solar not exported is curtailed by the inverter: beyond the export cap, or
    # where exporting costs money and the inverter may curtail.
    curtailed = np.maximum(-net, 0.0) - grid_export
    cost = period_cost(
        buy, sell, grid_import, grid_export, charge, cycle_cost=battery.cycle_cost_per_kwh
    )
    base = baseline_cost(
        buy, sell, load, solar, export_cap=export_cap, curtailment=battery.curtailment
    )

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
            import_excess_kwh=float(excess[t]),
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

    knots, values, convex = _stage_costs(inputs)
    window = _Window(e_lo, e_min, e_max, e_hi)
    terminal_x = np.array([e_lo, e_hi])
    terminal = (terminal_x, -inputs.terminal_value_per_kwh * terminal_x, np.array([0, 1]))
    value: list[_Value] = [terminal] * (n + 1)
    for t in range(n - 1, -1, -1):
        value[t] = _bellman(value[t + 1], (knots[t], values[t]), bool(convex[t]), window)

    delta = np.zeros(n)
    energy = e_start
    for t in range(n):
        step = _best_step(energy, knots[t], values[t], value[t + 1], window)
        delta[t] = step
        energy += step
    charge = np.maximum(delta, 0.0) / eta_c
    discharge = np.maximum(-delta, 0.0) * eta_d
    return charge, discharge


def _diff[A: (FloatArray, IntArray)](values: A) -> A:
    """Return successive differences (np.diff costs several µs of dispatch per call)."""
    return values[1:] - values[:-1]


def _export_cap_kwh(inputs: OptimizationInput) -> float:
    """Return the most energy one period may export (inf without a limit)."""
    limit = inputs.battery.export_limit_kw
    return np.inf if limit is None else limit * inputs.period_minutes / 60.0


def _import_cap_kwh(inputs: OptimizationInput) -> float | FloatArray:
    """Return the most energy one period may import within the import limit (inf without).

    A float when every period has the same cap (the import limit alone), else an array with
    one cap per period: the lower of the limit and `inputs.import_cap_kwh`.
    """
    limit = inputs.battery.import_limit_kw
    cap = np.inf if limit is None else limit * inputs.period_minutes / 60.0
    if inputs.import_cap_kwh is None:
        return cap
    caps: FloatArray = np.minimum(np.asarray(inputs.import_cap_kwh, dtype=float), cap)
    return caps


def _excess(grid_import: FloatArray, import_cap: float | FloatArray) -> FloatArray:
    """Return the import above the cap per period (rows of `grid_import` are periods)."""
    if isinstance(import_cap, float):
        return import_excess(grid_import, import_cap)
    shape = (-1,) + (1,) * (grid_import.ndim - 1)
    excess: FloatArray = np.maximum(grid_import - import_cap.reshape(shape), 0.0)
    return excess


def _stage_costs(
    inputs: OptimizationInput,
) -> tuple[list[FloatArray], list[FloatArray], NDArray[np.bool_]]:
    """Return, per period, the cost's kinks as a function of Δe, its values there, convexity.

    The cost is what the optimizer minimizes: money, plus the import excess penalty.
    """
    battery = inputs.battery
    dt = inputs.period_minutes / 60.0
    eta_c = battery.charge_efficiency
    eta_d = battery.discharge_efficiency
    buy = np.asarray(inputs.buy, dtype=float)
    sell = np.asarray(inputs.sell, dtype=float)
    load = np.asarray(inputs.load, dtype=float)
    solar = np.asarray(inputs.solar, dtype=float)
    cap = _export_cap_kwh(inputs)
    import_cap = _import_cap_kwh(inputs)
    curtailable = curtailable_solar(sell, solar, curtailment=battery.curtailment)
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
    # Where the grid flow crosses 0, −cap and the import cap: on the charge side if net is
    # below the level, else on the discharge side. In a curtailing period export starts
    # where net + curtailable crosses 0 (the discharge passes the load); its cap, at
    # −cap − curtailable, is where the discharge limit above already ends the range.
    levels: list[float | FloatArray] = [0.0]
    if np.isfinite(cap):
        levels.append(-cap)
    import_capped = bool(np.isfinite(import_cap).any())
    if import_capped:
        levels.append(import_cap)  # an infinite cap lands on the charge limit: no kink
    if curtailable.any():
        levels.append(-curtailable)
    candidates = [lo, np.zeros_like(lo), hi]
    for level in levels:
        gap = level - n0
        candidates.append(np.where(gap >= 0.0, gap * eta_c, gap / eta_d))
    points = np.clip(np.stack(candidates, axis=1), lo[:, None], hi[:, None])
    points.sort(axis=1)

    charge = np.maximum(points, 0.0) / eta_c
    discharge = np.maximum(-points, 0.0) * eta_d
    grid_import, grid_export = grid_flows(
        n0[:, None] + charge - discharge, cap, curtailable[:, None]
    )
    cost = period_cost(
        buy[:, None],
        sell[:, None],
        grid_import,
        grid_export,
        charge,
        cycle_cost=battery.cycle_cost_per_kwh,
    )
    if import_capped:
        penalty = import_excess_penalty(
            buy,
            sell,
            cycle_cost=battery.cycle_cost_per_kwh,
            terminal_value=inputs.terminal_value_per_kwh,
            round_trip_efficiency=eta_c * eta_d,
        )
        cost = cost + penalty * _excess(grid_import, import_cap)
    width = points[:, 1:] - points[:, :-1]
    segment = width > _ENERGY_TOL
    keep = np.ones(points.shape, dtype=bool)
    keep[:, 1:] = segment
    knots = [points[t][keep[t]] for t in range(len(buy))]
    values = [cost[t][keep[t]] for t in range(len(buy))]
    # Convex where no slope falls from one segment to the next (zero-length ones skipped).
    slopes = np.divide(cost[:, 1:] - cost[:, :-1], width, out=np.zeros(width.shape), where=segment)
    column = np.arange(width.shape[1])
    previous = np.maximum.accumulate(np.where(segment, column, -1), axis=1)
    filled = np.take_along_axis(slopes, np.maximum(previous, 0), axis=1)
    falls = (filled[:, :-1] - filled[:, 1:] > _SLOPE_TOL) & segment[:, 1:] & (previous[:, :-1] >= 0)
    return knots, values, ~falls.any(axis=1)


def _bend(x: FloatArray, y: FloatArray) -> FloatArray:
    """Return how far each inner breakpoint lies above the chord of its neighbours.

    > 0 is a concave kink, < 0 a convex one. Measured in value, not slope: two breakpoints a
    hair apart make a slope out of rounding noise, but never a value.
    """
    left, right = x[1:-1] - x[:-2], x[2:] - x[1:-1]
    chord = (y[:-2] * right + y[2:] * left) / (left + right)
    return y[1:-1] - chord


def _convex_cuts(x: FloatArray, y: FloatArray) -> IntArray:
    """Return the breakpoint indices that split a function into convex pieces (ends included).

    Piece k runs from breakpoint cuts[k] to cuts[k + 1]; neighbouring pieces share a point.
    """
    last = len(x) - 1
    if last < 2:
        return np.array([0, last])
    concave = np.flatnonzero(_bend(x, y) > _value_tol(y[1:-1])) + 1
    return np.concatenate(([0], concave, [last]))


def _restrict(x: FloatArray, y: FloatArray, lo: float, hi: float) -> _Function:
    """Restrict a continuous piecewise-linear function to [lo, hi] (which must meet its domain)."""
    if lo <= x[0] and hi >= x[-1]:
        return x, y
    a = max(lo, float(x[0]))
    b = min(hi, float(x[-1]))
    if b - a <= _ENERGY_TOL:
        point = np.array([min(a, b)])
        return point, np.interp(point, x, y)
    xs = np.concatenate(([a], x[(x > a + _ENERGY_TOL) & (x < b - _ENERGY_TOL)], [b]))
    return xs, np.interp(xs, x, y)


def _simplify(x: FloatArray, y: FloatArray) -> _Function:
    """Drop zero-length segments and breakpoints that lie on the line through their neighbours.

    Each dropped breakpoint is within rounding noise of that line and its neighbours are
    kept, so the function moves by no more than the noise.
    """
    x, y, _ = _tidy(x, y)
    return x, y


def _tidy(x: FloatArray, y: FloatArray) -> _Value:
    """Return the function simplified (see `_simplify`), with its convex cuts."""
    if len(x) < 2:
        return x, y, np.array([0, len(x) - 1])
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = _diff(x) > _ENERGY_TOL
    if not keep.all():
        x, y = x[keep], y[keep]
        if len(x) < 2:
            return x, y, np.array([0, 0])
    if len(x) < 3:
        return x, y, np.array([0, len(x) - 1])
    bend = _bend(x, y)
    noise = _value_tol(y[1:-1])
    straight = np.abs(bend) <= noise
    if straight.any():
        # Of a run of breakpoints that are straight only within the noise, drop every other
        # one: no dropped breakpoint loses a neighbour, so errors cannot add up along the
        # run. Exactly straight ones (no slope change at all) all go.
        number = np.arange(len(straight))
        after_kept = np.concatenate(([True], ~straight[:-1]))
        run_start = np.maximum.accumulate(np.where(straight & after_kept, number, 0))
        slopes = _diff(y) / _diff(x)
        exact = np.abs(_diff(slopes)) <= _SLOPE_TOL
        drop = straight & (((number - run_start) % 2 == 0) | exact)
        mask = np.ones(len(x), dtype=bool)
        mask[1:-1] = ~drop
        x, y = x[mask], y[mask]
        if len(x) < 3:
            return x, y, np.array([0, len(x) - 1])
        bend = _bend(x, y)
        noise = _value_tol(y[1:-1])
    concave = np.flatnonzero(bend > noise) + 1
    return x, y, np.concatenate(((0,), concave, (len(x) - 1,)))


def _convex_step(later: _Value, stage: _Function, lo: float, hi: float) -> _Value:
    """Return V_t on [lo, hi] when V_{t+1} and g_t are both convex: a merge of sorted slopes.

    min over Δ of g(Δ) + V(e + Δ) is V convolved with g mirrored, ĝ(u) = g(−u), whose
    segments are g's in reverse order with their slopes negated.
    """
    vx, vy = later[0], later[1]
    gx, gy = stage
    dx = np.concatenate((vx[1:] - vx[:-1], (gx[1:] - gx[:-1])[::-1]))
    dy = np.concatenate((vy[1:] - vy[:-1], (gy[:-1] - gy[1:])[::-1]))
    slopes = dy / dx
    order = np.argsort(slopes, kind="stable")
    slopes = slopes[order]
    # Segments of equal slope make one: keep only the breakpoints where the slope changes.
    ends = np.flatnonzero(np.concatenate((slopes[1:] - slopes[:-1] > _SLOPE_TOL, (True,))))
    x0, y0 = vx[0] - gx[-1], vy[0] + gy[-1]
    x = np.concatenate(((x0,), dx[order].cumsum()[ends] + x0))
    y = np.concatenate(((y0,), dy[order].cumsum()[ends] + y0))
    # The merge spans [lo − max Δ, hi − min Δ] ⊇ [lo, hi]: cut it to [lo, hi].
    a, b = x.searchsorted((lo + _ENERGY_TOL, hi - _ENERGY_TOL), side="right")
    at_ends = np.interp((lo, hi), x, y)
    x = np.concatenate(((lo,), x[a:b], (hi,)))
    y = np.concatenate((at_ends[:1], y[a:b], at_ends[1:]))
    return x, y, np.array([0, len(x) - 1])


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """Return the concatenation of arange(s, s + c) for every start s and count c."""
    ends = np.cumsum(counts)
    ranges: IntArray = np.arange(int(ends[-1])) + (starts - (ends - counts)).repeat(counts)
    return ranges


type _Candidates = tuple[FloatArray, FloatArray, IntArray]  # all x, all y, offsets per candidate


def _convolve_pairs(v: _Function, v_cuts: IntArray, g: _Function, g_cuts: IntArray) -> _Candidates:
    """Convolve every convex piece of v with every convex piece of g, all in one batch.

    Candidate k·J + j is piece k of v convolved with piece j of g; its breakpoints are
    x[offsets[c]:offsets[c + 1]]: its start, then the pieces' segments sorted by slope.
    """
    k, j = len(v_cuts) - 1, len(g_cuts) - 1
    v_count, g_count = _diff(v_cuts), _diff(g_cuts)
    pk: IntArray
    pj: IntArray
    v_seg: IntArray
    g_seg: IntArray
    v_owner: IntArray
    g_owner: IntArray
    if j == 1:
        # The usual case (a convex stage cost): v's pieces split its segments between them.
        pk = np.arange(k)
        pj = np.zeros(k, dtype=np.intp)
        v_seg = np.arange(len(v[0]) - 1)
        n_g = int(g_count[0])
        g_seg = np.arange(k * n_g) % n_g + g_cuts[0]
        v_owner = pk.repeat(v_count)
        g_owner = np.arange(k * n_g) // n_g
        n_v = v_count
        segments = v_count + n_g
    else:
        pk = np.arange(k).repeat(j)
        pj = np.arange(k * j) % j
        n_v, n_gs = v_count[pk], g_count[pj]
        v_seg = _ranges(v_cuts[pk], n_v)
        g_seg = _ranges(g_cuts[pj], n_gs)
        v_owner = np.arange(k * j).repeat(n_v)
        g_owner = np.arange(k * j).repeat(n_gs)
        segments = n_v + n_gs
    vdx, vdy = _diff(v[0]), _diff(v[1])
    gdx, gdy = _diff(g[0]), _diff(g[1])
    # Each candidate's start goes first (slope −inf), then its segments by slope; one cumsum
    # less the sum before each candidate's start gives every candidate's breakpoints.
    start_x = v[0][v_cuts[pk]] + g[0][g_cuts[pj]]
    start_y = v[1][v_cuts[pk]] + g[1][g_cuts[pj]]
    dx = np.concatenate((start_x, vdx[v_seg], gdx[g_seg]))
    dy = np.concatenate((start_y, vdy[v_seg], gdy[g_seg]))
    n = len(start_x)
    slope = np.full(len(dx), -np.inf)
    np.divide(dy[n:], dx[n:], out=slope[n:])
    owner = np.concatenate((np.arange(n), v_owner, g_owner))
    order = np.lexsort((slope, owner))
    cx = dx[order].cumsum()
    cy = dy[order].cumsum()
    offsets = np.concatenate(((0,), (segments + 1).cumsum()))
    first = offsets[:-1]
    x = cx - (cx[first] - start_x).repeat(segments + 1)
    y = cy - (cy[first] - start_y).repeat(segments + 1)
    return x, y, offsets


def _bellman(later: _Value, stage: _Function, stage_convex: bool, window: _Window) -> _Value:
    """Return V_t from V_{t+1} and the stage cost g_t (both continuous piecewise linear)."""
    e_lo, e_min, e_max, e_hi = window.lowest, window.e_min, window.e_max, window.highest
    if e_lo == e_min and e_hi == e_max and stage_convex and len(later[2]) == 2:
        return _convex_step(later, stage, e_min, e_max)
    # Each region of states, in order: (states, allowed steps, allowed next states).
    regions = [((e_min, e_max), (-np.inf, np.inf), (e_min, e_max))]
    if e_lo < e_min:
        regions.insert(0, ((e_lo, e_min), (0.0, np.inf), (e_lo, e_hi)))
    if e_hi > e_max:
        regions.append(((e_max, e_hi), (-np.inf, 0.0), (e_lo, e_hi)))
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    for (s_lo, s_hi), (d_lo, d_hi), (x_lo, x_hi) in regions:
        v: _Value = later
        if x_lo > later[0][0] or x_hi < later[0][-1]:
            v = _tidy(*_restrict(later[0], later[1], x_lo, x_hi))
        g = _restrict(*stage, d_lo, d_hi)
        if stage_convex and len(v[2]) == 2:
            x, y, _ = _convex_step(v, g, s_lo, s_hi)
        else:
            # V_t(e) = min over Δ of g(Δ) + V_{t+1}(e + Δ): a convolution with g mirrored.
            mirrored = (-g[0][::-1], g[1][::-1])
            g_cuts = np.array([0, len(g[0]) - 1]) if stage_convex else _convex_cuts(*mirrored)
            candidates = _convolve_pairs((v[0], v[1]), v[2], mirrored, g_cuts)
            if len(candidates[2]) == 2:
                x, y = _restrict(candidates[0], candidates[1], s_lo, s_hi)
            else:
                x, y = _lower_envelope(candidates, s_lo, s_hi)
        xs.append(x)
        ys.append(y)
    # Neighbouring regions share their boundary state, where V_t is continuous.
    return _tidy(np.concatenate(xs), np.concatenate(ys))


def _value_tol(values: FloatArray) -> FloatArray:
    """Return how close two values must be to tie (rounding grows with the values)."""
    return _VALUE_TOL + _VALUE_RTOL * np.abs(values)


def _lower_envelope(candidates: _Candidates, lo: float, hi: float) -> _Function:
    """Return the exact lower envelope of convex candidates, restricted to [lo, hi].

    The envelope must be continuous (V_t is). It is sampled at every candidate breakpoint;
    between samples it can only bend where the lowest candidate changes, which `_refine` finds
    exactly. Its breakpoints are the samples where it bends, and those changes.
    """
    x, y, offsets = candidates
    count = len(offsets) - 1
    n_bp = _diff(offsets)
    owner = np.arange(count).repeat(n_bp)
    first, last = offsets[:-1], offsets[1:] - 1
    at = np.unique(np.minimum(np.maximum(x, lo), hi))
    keep = np.ones(len(at), dtype=bool)
    keep[1:] = _diff(at) > _ENERGY_TOL
    at = at[keep]
    m = len(at)
    # Each candidate is evaluated only at the samples in its domain: entry e is candidate
    # which[e] at sample column[e].
    start = at.searchsorted(np.maximum(x[first], lo) - _ENERGY_TOL, side="left")
    stop = at.searchsorted(np.minimum(x[last], hi) + _ENERGY_TOL, side="right")
    size = np.maximum(stop - start, 0)
    which = np.arange(count).repeat(size)
    column = _ranges(start, size)
    # A candidate's segment at a sample follows its last breakpoint at or left of the sample:
    # integer keys (candidate, sample index) sort all breakpoints and entries alike.
    position = at.searchsorted(x, side="left")
    key = owner * (m + 1) + position
    seen = key.searchsorted(which * (m + 1) + column, side="right")
    segment = np.minimum(np.maximum(seen - 1, first[which]), np.maximum(last - 1, first)[which])
    slopes = np.zeros(len(x))
    dx = _diff(x)
    inner = dx > 0.0
    inner[last[:-1]] = False  # from one candidate's last breakpoint to the next one's first
    np.divide(_diff(y), dx, out=slopes[:-1], where=inner)
    # One row per sample, one column per candidate: reductions run along rows, fast.
    rows = np.full((m, count), np.inf)
    rows[column, which] = y[segment] + slopes[segment] * (at[column] - x[segment])
    best, lowest, extra_x, extra_y = _refine(rows, at)
    # Keep only the samples where the envelope bends: a breakpoint of the lowest candidate
    # there, or a change of lowest candidate (elsewhere it runs straight through).
    corners = owner * (m + 1) + at.searchsorted(x - _ENERGY_TOL, side="left")
    asked = best * (m + 1) + np.arange(m)
    bends = corners[np.minimum(corners.searchsorted(asked), len(corners) - 1)] == asked
    changes = best[1:] != best[:-1]
    bends[1:] |= changes
    bends[:-1] |= changes
    bends[[0, -1]] = True
    xs = np.concatenate((at[bends], extra_x))
    ys = np.concatenate((lowest[bends], extra_y))
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def _refine(
    rows: FloatArray, at: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """Return the lowest candidate and the envelope per sample, and the bends between.

    The bends between samples come as their x, then their values. rows[i, c] is candidate c
    at sample i (inf outside its domain); between neighbouring samples every candidate is a
    line. The envelope of lines is concave, so where the lowest line at one end is also the
    lowest at the other it is the envelope throughout; else the two cross at some x*, and if
    nothing is lower there, x* is the one kink; if something is, x* is an envelope point and
    both halves are refined again. Each round finds at least one more line of the envelope.
    """
    best = rows.argmin(axis=1)
    envelope = rows[np.arange(len(at)), best]
    # Where one line is the lowest at both ends, it is the envelope throughout: first without
    # ties, then with them (neighbouring candidates often meet at a breakpoint).
    differ = np.flatnonzero(best[:-1] != best[1:])
    p, q = best[differ], best[differ + 1]
    at_a, at_b = envelope[differ], envelope[differ + 1]
    tie = (rows[differ + 1, p] <= at_b + _value_tol(at_b)) | (
        rows[differ, q] <= at_a + _value_tol(at_a)
    )
    differ = differ[~tie]
    left, right, a, b = rows[differ], rows[differ + 1], at[differ], at[differ + 1]
    # A candidate is a line on an interval only if it is defined at both ends.
    active = np.isfinite(left) & np.isfinite(right)
    left, right = np.where(active, left, np.inf), np.where(active, right, np.inf)
    found_x: list[FloatArray] = []
    found_y: list[FloatArray] = []
    for _ in range(rows.shape[1] + 2 if len(differ) else 0):
        p, q = left.argmin(axis=1), right.argmin(axis=1)
        intervals = np.arange(len(a))
        low_a, low_b = left[intervals, p], right[intervals, q]
        # q lies above p at a by d0 ≥ 0 and below it at b by d1 ≥ 0: they cross in between.
        d0, d1 = left[intervals, q] - low_a, right[intervals, p] - low_b
        todo = np.flatnonzero((p != q) & np.isfinite(low_a) & np.isfinite(low_b) & (d0 + d1 > 0.0))
        if len(todo) == 0:
            break
        frac = d0[todo] / (d0[todo] + d1[todo])
        left, right, a, b = left[todo], right[todo], a[todo], b[todo]
        active = active[todo]
        at_p = low_a[todo] + frac * (low_b[todo] + d1[todo] - low_a[todo])  # p at the crossing
        mid = np.subtract(right, left, out=np.full(left.shape, np.inf), where=active)
        np.multiply(mid, frac[:, None], out=mid, where=active)
        np.add(mid, left, out=mid, where=active)
        lowest = mid.min(axis=1)
        cross = a + frac * (b - a)
        found_x.append(cross)
        found_y.append(lowest)
        # Something below p and q where they cross: refine both halves around it.
        deeper = lowest < at_p - _value_tol(lowest)
        if not deeper.any():
            break
        left = np.concatenate((left[deeper], mid[deeper]))
        right = np.concatenate((mid[deeper], right[deeper]))
        active = np.concatenate((active[deeper], active[deeper]))
        a, b = (
            np.concatenate((a[deeper], cross[deeper])),
            np.concatenate((cross[deeper], b[deeper])),
        )
    if not found_x:
        return best, envelope, np.zeros(0), np.zeros(0)
    return best, envelope, np.concatenate(found_x), np.concatenate(found_y)


def _best_step(
    energy: float,
    knots: FloatArray,
    values: FloatArray,
    later: _Value,
    window: _Window,
) -> float:
    """Return the Δe minimizing stage cost + V_{t+1} from `energy` (exact: checks all kinks)."""
    lo, hi = float(knots[0]), float(knots[-1])
    e_min, e_max = window.e_min, window.e_max
    if energy < e_min - _ENERGY_TOL:
        lo = max(lo, 0.0)
        hi = min(hi, window.highest - energy)
    elif energy > e_max + _ENERGY_TOL:
        lo = max(lo, window.lowest - energy)
        hi = min(hi, 0.0)
    else:
        lo = max(lo, e_min - energy)
        hi = min(hi, e_max - energy)
    if hi < lo:
        return 0.0
    later_x, later_y = later[0], later[1]
    candidates = np.concatenate((knots, later_x - energy, (lo, hi, 0.0)))
    candidates = np.minimum(np.maximum(candidates, lo), hi)
    total = np.interp(candidates, knots, values) + np.interp(energy + candidates, later_x, later_y)
    best = float(total.min())
    # Among equal costs prefer the smallest step: no cycling for nothing.
    ties = candidates[total <= best + 1e-12 * max(1.0, abs(best))]
    return float(ties[np.abs(ties).argmin()])
