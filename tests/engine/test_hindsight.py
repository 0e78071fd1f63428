"""The hindsight report, proved in closed loop: the gap goes where its cause is.

bench/closed_loop.py runs the real manager on fake ports through generated days; the manager's
report of each finished day is compared with what the bench knows happened.
"""

from __future__ import annotations

from datetime import date

import pytest

from bench.closed_loop import POLICIES, Noise, Outcome, generate_days, parse_days, run_policy

THREE_DAYS = parse_days(generate_days(seed=5, first_day=date(2026, 4, 20), days=3))
BESS_NOW = POLICIES[2]


def _run(noise: Noise | None = None, *, faulty_inverter: bool = False) -> Outcome:
    outcome = run_policy(THREE_DAYS, BESS_NOW, noise, faulty_inverter=faulty_inverter)
    assert isinstance(outcome, Outcome), outcome
    assert outcome.reports, "no finished day was reported"
    return outcome


def test_perfect_forecasts_and_inverter_capture_the_optimum_and_leave_no_gap() -> None:
    for report in _run().reports:
        assert report.periods == 96
        assert report.optimum > 0.5
        assert report.capture_percent is not None
        assert report.capture_percent >= 99.0
        assert report.execution_gap == pytest.approx(0.0, abs=1e-6)
        assert report.forecast_gap == pytest.approx(report.optimum - report.realized, abs=1e-6)
        # The plan the day started from foresaw it: perfect forecasts, through tomorrow.
        assert report.predicted == pytest.approx(report.realized, rel=0.01)


def test_with_forecast_noise_the_forecast_part_carries_the_gap() -> None:
    reports = _run(Noise(seed=1, load=0.10, solar=0.20)).reports
    gap = sum(r.optimum - r.realized for r in reports)
    forecast = sum(r.forecast_gap for r in reports)
    execution = sum(r.execution_gap for r in reports)
    assert gap > 0.05
    assert forecast == pytest.approx(gap - execution)
    assert forecast > 0.8 * gap
    assert abs(execution) < 0.2 * gap


def test_an_inverter_that_ignores_every_second_command_shows_as_execution() -> None:
    reports = _run(faulty_inverter=True).reports
    gap = sum(r.optimum - r.realized for r in reports)
    execution = sum(r.execution_gap for r in reports)
    forecast = sum(r.forecast_gap for r in reports)
    assert gap > 0.05
    # Most of it; the rest shows as forecast because the later plans start from the worse
    # state the ignored commands left (the method's documented limit).
    assert execution > 0.55 * gap
    assert execution > 1.5 * forecast
