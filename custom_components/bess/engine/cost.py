"""The one cost model, shared by the optimizer, the history and the daily view.

Per period, with final prices (fees and VAT included) in currency/kWh and energies in kWh:

    cost     = buy·import − sell·export + cycle_cost·charge
    baseline = buy·max(load − solar, 0) − sell·min(max(solar − load − curtailable, 0), export cap)
    savings  = baseline − cost

Curtailment at a negative export price. With an inverter that can curtail solar on command
(`BatterySettings.curtailment`), a period where exporting costs money (sell < 0) need not
export its surplus: a kWh curtailed costs nothing, a kWh exported costs −sell. The export is
then only what the battery's discharge beyond the home's load forces out, and the rest of the
surplus is curtailed (`curtailable` is the period's solar there, 0 elsewhere). Solar the home
or the battery uses is never curtailed: curtailing never makes the home import. The baseline
is the same home with the same inverter but no battery, so it curtails too; savings are then
what the battery alone brings, not what curtailing brings.

Grid limits. Export is capped by the export limit: solar beyond it is curtailed. Import is
capped by the import limit (the main fuse, or a subscribed power): the optimizer may not plan
import above it, except where the load alone needs more than the limit and the battery cannot
cover it. That excess is still bought at the buy price (the house draws it, so the money is
real) and is reported as the period's import excess. To keep the optimizer exact, the excess
is priced for planning only at `import_excess_penalty` per kWh on top of the buy price: more
than any plan can gain from a kWh, so every plan that avoids a kWh of excess is cheaper than
one that does not; it never enters a cost, a baseline or a saving.

The functions work on floats and on numpy arrays alike.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

type FloatArray = NDArray[np.float64]


def period_cost[T: (float, FloatArray)](
    buy: T, sell: T, grid_import: T, grid_export: T, charge: T, *, cycle_cost: float
) -> T:
    """Return what a period costs with the battery: energy bought, minus sold, plus wear."""
    return buy * grid_import - sell * grid_export + cycle_cost * charge


def grid_flows(
    net: FloatArray, export_cap: float = math.inf, curtailable: FloatArray | float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """Return (import, export) for the net demand `load − solar + charge − discharge`.

    Export is capped by the export limit; solar beyond it is curtailed by the inverter. Up to
    `curtailable` kWh of solar (see `curtailable_solar`) is curtailed rather than exported:
    what is left to export is the surplus that is not solar, the battery's discharge beyond
    the load. Solar the load or the charge uses is never curtailed, so import is unchanged.
    """
    return np.maximum(net, 0.0), np.minimum(np.maximum(-(net + curtailable), 0.0), export_cap)


def curtailable_solar(sell: FloatArray, solar: FloatArray, *, curtailment: bool) -> FloatArray:
    """Return per period the solar the inverter curtails instead of exporting it (kWh).

    All of it where the inverter may curtail and exporting costs money (sell < 0): there no
    export pays, so the least export is the best; none elsewhere (at sell = 0 exporting and
    curtailing cost the same, and nothing is curtailed for nothing).
    """
    if not curtailment:
        return np.zeros(np.shape(solar))
    curtailable: FloatArray = np.where(np.asarray(sell) < 0.0, solar, 0.0)
    return curtailable


def import_excess[T: (float, FloatArray)](grid_import: T, import_cap: float = math.inf) -> T:
    """Return the import above the import cap (kWh per period; 0 without a limit)."""
    if isinstance(grid_import, np.ndarray):
        excess: FloatArray = np.maximum(grid_import - import_cap, 0.0)
        return excess
    return max(grid_import - import_cap, 0.0)


def import_excess_penalty(
    buy: FloatArray,
    sell: FloatArray,
    *,
    cycle_cost: float,
    terminal_value: float,
    round_trip_efficiency: float,
) -> float:
    """Return what a kWh of import excess costs the optimizer (planning only, never money).

    A kWh of excess avoided needs at most one kWh from the battery, which at worst was bought
    at the highest price, worn, and could have been sold at the highest price or kept for the
    terminal value instead; 100 times all of that, after the round trip's losses, is more than
    any plan gains from a kWh of excess, while staying small enough for exact arithmetic.
    """
    prices = float(np.max(np.abs(buy), initial=0.0)) + float(np.max(np.abs(sell), initial=0.0))
    worst = 1.0 + prices + cycle_cost + abs(terminal_value)
    return 100.0 * worst / round_trip_efficiency


def baseline_cost[T: (float, FloatArray)](
    buy: T, sell: T, load: T, solar: T, *, export_cap: float = math.inf, curtailment: bool = False
) -> T:
    """Return what a period would cost with the same load and solar but no battery.

    The baseline obeys the same export cap: it cannot sell solar it could not export. With
    `curtailment` it has the same inverter, which curtails its surplus where exporting costs
    money (sell < 0), so a saving is never credited to the battery for what curtailing saves.
    """
    net = load - solar
    if isinstance(net, np.ndarray):
        curtailable = curtailable_solar(sell, solar, curtailment=curtailment)
        grid_import, grid_export = grid_flows(net, export_cap, curtailable)
        result: FloatArray = buy * grid_import - sell * grid_export
        return result
    curtailed = solar if curtailment and sell < 0.0 else 0.0
    return buy * max(net, 0.0) - sell * min(max(-(net + curtailed), 0.0), export_cap)


def grid_only_cost[T: (float, FloatArray)](buy: T, load: T) -> T:
    """Return what the load would cost bought entirely from the grid (reported, never mixed)."""
    return buy * load
