"""Optimizer speed and optimality: the exact DP vs a classic grid DP vs the HiGHS LP/MILP.

Run: .venv/bin/python bench/optimizer.py [--sections sizes scenarios envelopes capacity]

sizes: a 30 kWh / 15 kW battery on real-shaped days of 24 (hourly), 48 (half-hourly), 96
(quarter-hourly), 192 and 288 (two and three quarter-hourly days) periods. For each size it
prints the median solve time of each method, our speed-up, and each method's gap to the LP
optimum (share of the achievable savings it misses).

scenarios: at 96, 192 and 288 quarter-hour periods, our median and worst time and the distance
from the HiGHS MILP of the same model (money and import excess), for plain days, an import
limit, evening loads above the limit, and the hard days: 30 negative-price periods a day with a
1 kW export cap, also with an import limit.

envelopes: 20,000 random sets of convex pieces, whose lower envelope must lose no piece
(checked against a brute force over every pair of lines).

capacity: a capacity tariff (engine/capacity.py) on winter days of 96 and 192 quarter-hours
with a 10 kWh / 5 kW battery: per tariff, plan_with_capacity's median and worst time against
the plain optimizer's, the optimizer runs its search needs, and its distance from the HiGHS
optimum of the same model (tests/engine/reference_capacity.py).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
import statistics
import sys
import time
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.bess.engine.capacity import PRESETS, Peak, plan_with_capacity
from custom_components.bess.engine.models import BatterySettings, OptimizationInput
from custom_components.bess.engine.optimizer import build_result, optimize_battery_schedule
from tests.engine.reference import objective_of, solve_reference
from tests.engine.reference_capacity import solve_capacity_reference

type FloatArray = NDArray[np.float64]

BATTERY = BatterySettings(
    capacity_kwh=30.0,
    max_charge_kw=15.0,
    max_discharge_kw=15.0,
    min_soc_percent=10.0,
    max_soc_percent=100.0,
    cycle_cost_per_kwh=0.05,
)
SIZES = ((24, 60), (48, 30), (96, 15), (192, 15), (288, 15))
DAYS = 5
REPEATS = 5
CLASSIC_DAYS = 1
GRID_KWH = 0.1
ACTION_KW = 0.2


def bench_day(
    seed: int,
    n: int,
    period_minutes: int,
    *,
    negative_per_day: int = 0,
    export_kw: float | None = None,
    import_kw: float | None = None,
    evening_kw: float = 0.0,
    battery: BatterySettings = BATTERY,
) -> OptimizationInput:
    """Return real-shaped days (two peaks, midday sun) of `n` periods in all.

    `negative_per_day` periods per day, the sunniest, get negative buy and sell prices;
    `evening_kw` adds a load peak around 18:00 (beyond an import limit, if it is low).
    """
    rng = np.random.default_rng(seed)
    dt = period_minutes / 60.0
    clock = (np.arange(n) * dt) % 24.0
    spot = (
        0.9
        + 0.5 * np.sin((clock - 13.0) / 24.0 * 2.0 * np.pi)
        + 0.6 * np.exp(-(((clock - 8.0) / 1.5) ** 2))
        + 0.9 * np.exp(-(((clock - 18.5) / 1.5) ** 2))
        + rng.normal(0.0, 0.15, n)
    )
    buy = 1.25 * spot + 0.4
    sell = np.clip(spot, 0.0, None)
    solar = np.clip(6.0 * np.exp(-(((clock - 12.5) / 3.0) ** 2)) + rng.normal(0, 0.3, n), 0, None)
    load = rng.uniform(0.3, 2.0, n)
    if evening_kw:
        load += evening_kw * np.exp(-(((clock - 18.0) / 1.2) ** 2)) * rng.uniform(0.7, 1.3, n)
    if negative_per_day:
        negative = round(negative_per_day * n * dt / 24.0)
        sunniest = np.sort(np.argsort(-solar - rng.uniform(0.0, 0.5, n))[:negative])
        spot_negative = -rng.uniform(0.05, 1.0, negative)
        buy[sunniest] = spot_negative + 0.1
        sell[sunniest] = spot_negative
    return OptimizationInput(
        start=datetime(2026, 5, 4, tzinfo=UTC),
        period_minutes=period_minutes,
        buy=tuple(float(x) for x in buy),
        sell=tuple(float(x) for x in sell),
        load=tuple(float(x) for x in load * dt),
        solar=tuple(float(x) for x in solar * dt),
        battery=replace(battery, export_limit_kw=export_kw, import_limit_kw=import_kw),
        initial_soc_percent=30.0,
    )


def grid_dp(inputs: OptimizationInput) -> tuple[FloatArray, FloatArray]:
    """Classic brute-force DP: every (state, action) pair on a 0.1 kWh / 0.2 kW grid."""
    b = inputs.battery
    dt = inputs.period_minutes / 60.0
    buy, sell = np.asarray(inputs.buy), np.asarray(inputs.sell)
    n0 = np.asarray(inputs.load) - np.asarray(inputs.solar)
    states = np.arange(b.min_energy_kwh, b.max_energy_kwh + 1e-9, GRID_KWH)
    actions = np.arange(-b.max_discharge_kw, b.max_charge_kw + 1e-9, ACTION_KW) * dt
    charge = np.maximum(actions, 0.0)
    discharge = np.maximum(-actions, 0.0)
    step = b.charge_efficiency * charge - discharge / b.discharge_efficiency
    net = n0[:, None] + actions[None, :]
    stage = (
        buy[:, None] * np.maximum(net, 0.0)
        - sell[:, None] * np.maximum(-net, 0.0)
        + b.cycle_cost_per_kwh * charge[None, :]
    )
    n = len(buy)
    value = np.empty((n + 1, len(states)))
    value[n] = -inputs.terminal_value_per_kwh * states
    for t in range(n - 1, -1, -1):
        after = states[:, None] + step[None, :]
        feasible = (after >= states[0] - 1e-9) & (after <= states[-1] + 1e-9)
        total = stage[t][None, :] + np.interp(after, states, value[t + 1])
        value[t] = np.where(feasible, total, np.inf).min(axis=1)
    # Forward from the real SOC, re-choosing the action at the state actually reached.
    energy = b.capacity_kwh * inputs.initial_soc_percent / 100.0
    chosen = np.zeros(n)
    for t in range(n):
        after = energy + step
        feasible = (after >= states[0] - 1e-9) & (after <= states[-1] + 1e-9)
        total = np.where(feasible, stage[t] + np.interp(after, states, value[t + 1]), np.inf)
        best = int(np.argmin(total))
        chosen[t] = actions[best]
        energy += step[best]
    return np.maximum(chosen, 0.0), np.maximum(-chosen, 0.0)


def classic_dp(inputs: OptimizationInput) -> tuple[FloatArray, FloatArray]:
    """The classic brute-force DP as home-battery projects write it: loops over every state
    and every action on the same 0.1 kWh / 0.2 kW grid (values interpolated between states).
    """
    b = inputs.battery
    dt = inputs.period_minutes / 60.0
    n = len(inputs.buy)
    states = [float(x) for x in np.arange(b.min_energy_kwh, b.max_energy_kwh + 1e-9, GRID_KWH)]
    powers = [float(x) for x in np.arange(-b.max_discharge_kw, b.max_charge_kw + 1e-9, ACTION_KW)]
    lowest, highest = states[0], states[-1]

    def stage(t: int, power: float) -> tuple[float, float]:
        """Return (energy step, cost) of running at `power` kW in period t."""
        charge, discharge = max(power, 0.0) * dt, max(-power, 0.0) * dt
        net = inputs.load[t] - inputs.solar[t] + charge - discharge
        cost = inputs.buy[t] * max(net, 0.0) - inputs.sell[t] * max(-net, 0.0)
        cost += b.cycle_cost_per_kwh * charge
        return b.charge_efficiency * charge - discharge / b.discharge_efficiency, cost

    def interpolate(values: list[float], energy: float) -> float:
        """Return the value function at `energy` by linear interpolation on the grid."""
        position = (energy - lowest) / GRID_KWH
        i = min(int(position), len(values) - 2)
        return values[i] + (position - i) * (values[i + 1] - values[i])

    value = [[0.0] * len(states) for _ in range(n + 1)]
    value[n] = [-inputs.terminal_value_per_kwh * e for e in states]
    for t in range(n - 1, -1, -1):
        steps = [stage(t, p) for p in powers]
        for i, energy in enumerate(states):
            best = np.inf
            for step, cost in steps:
                after = energy + step
                if lowest - 1e-9 <= after <= highest + 1e-9:
                    best = min(best, cost + interpolate(value[t + 1], min(after, highest)))
            value[t][i] = best
    energy = b.capacity_kwh * inputs.initial_soc_percent / 100.0
    chosen = np.zeros(n)
    for t in range(n):
        options = []
        for p in powers:
            step, cost = stage(t, p)
            after = energy + step
            if lowest - 1e-9 <= after <= highest + 1e-9:
                options.append((cost + interpolate(value[t + 1], min(after, highest)), p, step))
        _, power, step = min(options)
        chosen[t] = power * dt
        energy += step
    return np.maximum(chosen, 0.0), np.maximum(-chosen, 0.0)


def median_seconds(run: object, inputs: OptimizationInput, repeats: int = REPEATS) -> float:
    """Return the median wall time of `run(inputs)` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run(inputs)  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def sizes() -> None:
    """Print one row per horizon length: ours vs the grid DPs vs the HiGHS LP."""
    header = (
        f"{'periods':>7} | {'ours ms':>8} {'classic ms':>10} {'numpy grid ms':>13}"
        f" {'HiGHS LP ms':>11} | {'vs classic':>10} {'vs numpy grid':>13} {'vs HiGHS':>8} |"
        f" {'ours gap':>9} {'grid gap med':>12} {'grid gap max':>12}"
    )
    print(header)
    print("-" * len(header))
    for n, period_minutes in SIZES:
        ours_t: list[float] = []
        classic_t: list[float] = []
        grid_t: list[float] = []
        lp_t: list[float] = []
        ours_gap: list[float] = []
        grid_gap: list[float] = []
        for seed in range(DAYS):
            day = bench_day(seed, n, period_minutes)
            ours_t.append(median_seconds(optimize_battery_schedule, day))
            grid_t.append(median_seconds(grid_dp, day))
            lp_t.append(median_seconds(lambda d: solve_reference(d, binaries=False), day))
            # Pure-Python loops: seconds per solve, so one day, and none past two days.
            run_classic = seed < CLASSIC_DAYS and n <= 192
            if run_classic:
                began = time.perf_counter()
                classic = build_result(day, *classic_dp(day))
                classic_t.append(time.perf_counter() - began)
            lp = solve_reference(day, binaries=False)
            baseline = build_result(day, np.zeros(n), np.zeros(n)).total_cost
            achievable = baseline - lp.objective
            ours = optimize_battery_schedule(day)
            grid = build_result(day, *grid_dp(day))
            if run_classic:
                assert abs(classic.total_cost - grid.total_cost) < 1e-6, "same grid, same plan"
            for result, gaps in ((ours, ours_gap), (grid, grid_gap)):
                objective = objective_of(day, result.total_cost, result.final_soc_percent)
                gaps.append((objective - lp.objective) / achievable)
        ours_ms = statistics.median(ours_t) * 1e3
        grid_ms = statistics.median(grid_t) * 1e3
        lp_ms = statistics.median(lp_t) * 1e3
        if classic_t:
            classic_ms = statistics.median(classic_t) * 1e3
            classic_cell = f"{classic_ms:>10.0f}"
            versus = f"{classic_ms / ours_ms:>9.0f}x"
        else:
            classic_cell, versus = f"{'-':>10}", f"{'-':>10}"
        print(
            f"{n:>7} | {ours_ms:>8.2f} {classic_cell} {grid_ms:>13.1f} {lp_ms:>11.1f} |"
            f" {versus} {grid_ms / ours_ms:>12.1f}x {lp_ms / ours_ms:>7.1f}x |"
            f" {max(ours_gap):>9.1e} {statistics.median(grid_gap):>11.3%}"
            f" {max(grid_gap):>11.3%}"
        )
    print(
        "gap = (plan objective − LP optimum) / achievable savings (ours: worst day; the classic"
        " and numpy grid DPs make the same plan). HiGHS time includes building the model."
    )


SMALL = BatterySettings(
    capacity_kwh=6.0, max_charge_kw=3.0, max_discharge_kw=3.0, cycle_cost_per_kwh=0.05
)
SCENARIOS: tuple[tuple[str, dict[str, object]], ...] = (
    ("plain", {}),
    ("import limit 4 kW", {"import_kw": 4.0}),
    ("load above 2.5 kW limit", {"import_kw": 2.5, "evening_kw": 5.0, "battery": SMALL}),
    ("hard: 30 neg/day, 1 kW export", {"negative_per_day": 30, "export_kw": 1.0}),
    ("hard + 3 kW import limit", {"negative_per_day": 30, "export_kw": 1.0, "import_kw": 3.0}),
)
SCENARIO_SIZES = (96, 192, 288)


def scenarios() -> None:
    """Print, per scenario and horizon, our time (median, worst) and the gap to HiGHS."""
    header = (
        f"{'scenario':<30} {'periods':>7} | {'ours ms med':>11} {'ours ms max':>11}"
        f" {'HiGHS ms':>9} | {'|Δ money|':>9} {'|Δ excess|':>10} {'excess kWh':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, options in SCENARIOS:
        for n in SCENARIO_SIZES:
            times: list[float] = []
            highs_t: list[float] = []
            money: list[float] = []
            excess_gap: list[float] = []
            excess: list[float] = []
            for seed in range(DAYS):
                day = bench_day(seed, n, 15, **options)  # type: ignore[arg-type]
                for _ in range(REPEATS):
                    began = time.perf_counter()
                    result = optimize_battery_schedule(day)
                    times.append(time.perf_counter() - began)
                reference = solve_reference(day)
                highs_t.append(reference.solve_seconds)
                ours = objective_of(day, result.total_cost, result.final_soc_percent)
                ours_excess = sum(p.import_excess_kwh for p in result.periods)
                money.append(abs(ours - reference.objective))
                excess_gap.append(abs(ours_excess - reference.import_excess_kwh))
                excess.append(ours_excess)
            print(
                f"{name:<30} {n:>7} | {statistics.median(times) * 1e3:>11.2f}"
                f" {max(times) * 1e3:>11.2f} {statistics.median(highs_t) * 1e3:>9.0f} |"
                f" {max(money):>9.1e} {max(excess_gap):>10.1e} {statistics.mean(excess):>10.2f}"
            )
    print(
        f"{DAYS} days × {REPEATS} solves per row; ms = wall time of optimize_battery_schedule;"
        " |Δ| = worst day's distance from the HiGHS MILP optimum of the same model (money and"
        " import excess); HiGHS ms = its solve time. Targets: 192 periods ≤ 20 ms median and"
        " ≤ 60 ms worst, 288 periods ≤ 40 ms median."
    )


ENVELOPES = 20_000


def envelopes() -> None:
    """Count random envelopes whose lower envelope loses a piece (brute force to compare)."""
    from custom_components.bess.engine.optimizer import _lower_envelope
    from tests.engine.test_envelope import brute_force_points, candidates, lowest, random_pieces

    rng = np.random.default_rng(0)
    lost = 0
    worst = 0.0
    for _ in range(ENVELOPES):
        pieces = random_pieces(rng)
        x, y = _lower_envelope(candidates(pieces), 0.0, 10.0)
        at = brute_force_points(pieces)
        error = float(np.max(np.abs(np.interp(at, x, y) - lowest(pieces, at))))
        worst = max(worst, error)
        lost += error > 1e-9
    print(f"random envelopes: {lost} of {ENVELOPES:,} lose a piece (largest error {worst:.1e})")


STOCKHOLM = ZoneInfo("Europe/Stockholm")
HOUSE = BatterySettings(
    capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0, cycle_cost_per_kwh=0.05
)
WINTER_MONDAY = datetime(2026, 1, 12, tzinfo=STOCKHOLM)
# The month so far: three days' peaks, today's (the plan's first day) among them.
RECORDED = (
    Peak(kw=3.0, day=date(2026, 1, 5), start=datetime(2026, 1, 5, 18, tzinfo=STOCKHOLM)),
    Peak(kw=2.4, day=date(2026, 1, 8), start=datetime(2026, 1, 8, 8, tzinfo=STOCKHOLM)),
    Peak(kw=1.5, day=date(2026, 1, 12), start=datetime(2026, 1, 12, 0, tzinfo=STOCKHOLM)),
)
TARIFFS: tuple[tuple[str, str, tuple[Peak, ...]], ...] = (
    ("Ellevio, new month", "ellevio", ()),
    ("Ellevio, peaks recorded", "ellevio", RECORDED),
    ("Göteborg Energi", "goteborg_energi", ()),
    ("weekdays 07-19, winter", "sala_heby_winter", ()),
    ("Norway, kapasitetsledd", "norway_kapasitetsledd", RECORDED),
)
CAPACITY_SIZES = (96, 192)
CAPACITY_REPEATS = 3


def capacity() -> None:
    """Print, per tariff and horizon, plan_with_capacity's time and runs, and its HiGHS gap."""
    header = (
        f"{'tariff':<26} {'periods':>7} | {'plain ms':>8} {'cap ms med':>10} {'cap ms max':>10} |"
        f" {'DP runs med':>11} {'max':>4} | {'max |gap|':>9} {'load-bound':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, preset, recorded in TARIFFS:
        tariff = PRESETS[preset]
        for n in CAPACITY_SIZES:
            plain_t: list[float] = []
            times: list[float] = []
            runs: list[int] = []
            gaps: list[float] = []
            bound = 0
            for seed in range(DAYS):
                day = replace(
                    bench_day(seed, n, 15, evening_kw=3.0, battery=HOUSE),
                    start=WINTER_MONDAY,
                    terminal_value_per_kwh=0.3,
                )
                plain_t.append(median_seconds(optimize_battery_schedule, day))
                for _ in range(CAPACITY_REPEATS):
                    began = time.perf_counter()
                    plan = plan_with_capacity(day, tariff, recorded, STOCKHOLM)
                    times.append(time.perf_counter() - began)
                runs.append(plan.dp_runs)
                bound += plan.load_exceeds_cap
                reference = solve_capacity_reference(day, tariff, recorded, STOCKHOLM)
                gaps.append(
                    abs(plan.objective - reference.objective) / max(1.0, abs(reference.objective))
                )
            print(
                f"{name:<26} {n:>7} | {statistics.median(plain_t) * 1e3:>8.2f}"
                f" {statistics.median(times) * 1e3:>10.1f} {max(times) * 1e3:>10.1f} |"
                f" {statistics.median(runs):>11.0f} {max(runs):>4} | {max(gaps):>9.1e}"
                f" {bound:>7}/{DAYS}"
            )
    print(
        f"{DAYS} winter days from a Monday per row, {CAPACITY_REPEATS} plans each; cap ms = wall"
        " time of plan_with_capacity, plain ms = optimize_battery_schedule's; |gap| = distance"
        " of the plan's objective (money + fee increase) from the HiGHS optimum of the same"
        " model, relative; load-bound = days where the load sets the peak (C = C*)."
    )


def main() -> None:
    """Run the sections asked for (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sections = {
        "sizes": sizes,
        "scenarios": scenarios,
        "envelopes": envelopes,
        "capacity": capacity,
    }
    parser.add_argument("--sections", nargs="+", choices=tuple(sections), default=list(sections))
    chosen = parser.parse_args().sections
    for section, run in sections.items():
        if section in chosen:
            run()
            print()


if __name__ == "__main__":
    main()
