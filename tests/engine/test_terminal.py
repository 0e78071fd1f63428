"""The default terminal value: the horizon's cheapest buy price after the round trip."""

from __future__ import annotations

from datetime import UTC, datetime
import math

import pytest

from custom_components.bess.engine.models import BatterySettings, OptimizationInput
from custom_components.bess.engine.optimizer import optimize_battery_schedule
from custom_components.bess.engine.terminal import default_terminal_value

BATTERY = BatterySettings(
    capacity_kwh=10.0,
    max_charge_kw=5.0,
    max_discharge_kw=5.0,
    charge_efficiency=0.95,
    discharge_efficiency=0.9,
    cycle_cost_per_kwh=0.05,
)


def test_value_is_the_cheapest_buy_price_after_the_round_trip() -> None:
    value = default_terminal_value([1.8, 0.6, 2.4, 1.1], [0.9, 0.2, 1.5, 0.5], BATTERY)
    assert value == pytest.approx(0.6 * 0.95 * 0.9)


def test_value_follows_the_efficiencies() -> None:
    lossless = BatterySettings(
        capacity_kwh=10.0,
        max_charge_kw=5.0,
        max_discharge_kw=5.0,
        charge_efficiency=1.0,
        discharge_efficiency=1.0,
    )
    assert default_terminal_value([0.7, 1.4], [0.3, 0.9], lossless) == pytest.approx(0.7)


def test_negative_prices_make_stored_energy_worth_nothing_not_less() -> None:
    assert default_terminal_value([0.4, -0.2, 1.3], [0.1, -0.6, 0.9], BATTERY) == 0.0


def test_sell_prices_do_not_move_the_value() -> None:
    buy = [1.2, 0.8, 2.0]
    assert default_terminal_value(buy, [0.1, 0.1, 0.1], BATTERY) == default_terminal_value(
        buy, [3.0, -1.0, 2.5], BATTERY
    )


@pytest.mark.parametrize("buy", [[], [1.0, math.nan], [math.inf, 1.0]])
def test_no_or_broken_prices_are_refused(buy: list[float]) -> None:
    with pytest.raises(ValueError, match="buy price"):
        default_terminal_value(buy, [0.5] * len(buy), BATTERY)


def test_the_plan_never_buys_energy_only_to_keep_it() -> None:
    # Flat, cheap prices and no load: nothing to gain inside the horizon, so only the
    # terminal value could make the plan charge; it must not.
    n = 8
    buy = (0.5,) * n
    inputs = OptimizationInput(
        start=datetime(2026, 6, 15, tzinfo=UTC),
        period_minutes=60,
        buy=buy,
        sell=(0.3,) * n,
        load=(0.0,) * n,
        solar=(0.0,) * n,
        battery=BATTERY,
        initial_soc_percent=10.0,
        terminal_value_per_kwh=default_terminal_value(buy, (0.3,) * n, BATTERY),
    )
    result = optimize_battery_schedule(inputs)
    assert result.final_soc_percent == pytest.approx(10.0)
    assert sum(p.charge_kwh for p in result.periods) == pytest.approx(0.0, abs=1e-9)


def test_stored_solar_is_kept_rather_than_exported_for_less() -> None:
    # A full battery at the end of a sunny evening: exporting at 0.1 earns less than the
    # energy is worth tomorrow; with a terminal value of 0 the plan would dump it.
    buy = (1.5, 1.2, 1.0, 0.9)
    sell = (0.1,) * 4

    def plan(terminal_value_per_kwh: float) -> float:
        """Return the SOC the plan ends with."""
        inputs = OptimizationInput(
            start=datetime(2026, 6, 15, 20, tzinfo=UTC),
            period_minutes=60,
            buy=buy,
            sell=sell,
            load=(0.0,) * 4,
            solar=(0.0,) * 4,
            battery=BATTERY,
            initial_soc_percent=90.0,
            terminal_value_per_kwh=terminal_value_per_kwh,
        )
        return optimize_battery_schedule(inputs).final_soc_percent

    assert plan(default_terminal_value(buy, sell, BATTERY)) == pytest.approx(90.0)
    assert plan(0.0) == pytest.approx(10.0)
