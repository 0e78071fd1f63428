"""OptimizationEngine (design §3.5): the pure wrapper the manager calls to plan the battery."""

from __future__ import annotations

from dataclasses import replace
import time

from .models import OptimizationInput, OptimizationResult
from .optimizer import optimize_battery_schedule


class OptimizationEngine:
    """Plan the battery for given inputs; no state, no I/O, safe to run in an executor."""

    def optimize(self, inputs: OptimizationInput) -> OptimizationResult:
        """Return the optimal plan for `inputs`, with how long the solve took."""
        began = time.perf_counter()
        result = optimize_battery_schedule(inputs)
        return replace(result, solve_seconds=time.perf_counter() - began)
