"""The one cost model, shared by the optimizer, the history and the daily view.

Per period, with final prices (fees and VAT included) in currency/kWh and energies in kWh:

    cost     = buy·import − sell·export + cycle_cost·charge
    baseline = buy·max(load − solar, 0) − sell·min(max(solar − load, 0), export cap)
    savings  = baseline − cost

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


def grid_flows(net: FloatArray, export_cap: float = math.inf) -> tuple[FloatArray, FloatArray]:
    """Return (import, export) for the net demand `load − solar + charge − discharge`.

    Export is capped by the export limit; solar beyond it is curtailed by the inverter.
    """
    return np.maximum(net, 0.0), np.minimum(np.maximum(-net, 0.0), export_cap)


def baseline_cost[T: (float, FloatArray)](
    buy: T, sell: T, load: T, solar: T, *, export_cap: float = math.inf
) -> T:
    """Return what a period would cost with the same load and solar but no battery.

    The baseline obeys the same export cap: it cannot sell solar it could not export.
    """
    net = load - solar
    if isinstance(net, np.ndarray):
        grid_import, grid_export = grid_flows(net, export_cap)
        result: FloatArray = buy * grid_import - sell * grid_export
        return result
    return buy * max(net, 0.0) - sell * min(max(-net, 0.0), export_cap)


def grid_only_cost[T: (float, FloatArray)](buy: T, load: T) -> T:
    """Return what the load would cost bought entirely from the grid (reported, never mixed)."""
    return buy * load
