"""Time-of-use intervals: modes from intents, merged runs, at most N intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import itertools

import numpy as np
import pytest

from custom_components.bess.engine.models import OptimizationInput, OptimizationResult
from custom_components.bess.engine.optimizer import build_result
from custom_components.bess.engine.tou import TouInterval, TouMode, schedule_to_tou

from .fakes import BATTERY, STOCKHOLM, local

DAY = date(2026, 6, 15)
AUTUMN = date(2026, 10, 25)
BF, GF, LF = TouMode.BATTERY_FIRST, TouMode.GRID_FIRST, TouMode.LOAD_FIRST

# (charge kWh, discharge kWh, load kWh, solar kWh) per code letter.
ACTIONS = {
    "C": (2.0, 0.0, 1.0, 0.0),  # grid charging
    "c": (0.5, 0.0, 1.0, 0.0),  # a little grid charging
    "S": (1.0, 0.0, 1.0, 3.0),  # solar storage
    "L": (0.0, 0.5, 1.0, 0.0),  # load support
    "E": (0.0, 3.0, 1.0, 0.0),  # export arbitrage
    "e": (0.0, 1.5, 1.0, 0.0),  # a little export
    ".": (0.0, 0.0, 1.0, 0.0),  # idle
}


def plan(codes: str, day: date = DAY) -> OptimizationResult:
    """Return an hourly plan from local midnight doing what `codes` says, hour by hour."""
    rows = np.array([ACTIONS[code] for code in codes])
    n = len(codes)
    inputs = OptimizationInput(
        start=local(day, 0),
        period_minutes=60,
        buy=(1.0,) * n,
        sell=(0.5,) * n,
        load=tuple(rows[:, 2]),
        solar=tuple(rows[:, 3]),
        battery=BATTERY,
        initial_soc_percent=50.0,
    )
    return build_result(inputs, rows[:, 0], rows[:, 1])


def shape(intervals: tuple[TouInterval, ...]) -> list[tuple[int, int, TouMode]]:
    """Return each interval as (first hour, end hour, mode) counted from local midnight."""
    midnight = local(DAY, 0).astimezone(UTC)

    def hours(moment: datetime) -> int:
        return int((moment.astimezone(UTC) - midnight) / timedelta(hours=1))

    return [(hours(i.start), hours(i.end), i.mode) for i in intervals]


def test_runs_of_the_same_mode_become_one_interval() -> None:
    intervals = schedule_to_tou(plan("..CC.EE.S.L"))

    assert shape(intervals) == [(0, 2, LF), (2, 4, BF), (4, 5, LF), (5, 7, GF), (7, 11, LF)]
    assert [i.power_kw for i in intervals] == [0.0, 2.0, 0.0, 3.0, 0.0]
    assert intervals[1].energy_kwh == pytest.approx(4.0)
    # Solar storage and load support are load-first: the inverter does them by itself.
    assert intervals[-1].energy_kwh == pytest.approx(1.5)


def test_an_interval_uses_the_largest_power_of_its_periods() -> None:
    intervals = schedule_to_tou(plan("cCc.eE"))

    assert shape(intervals) == [(0, 3, BF), (3, 4, LF), (4, 6, GF)]
    assert intervals[0].power_kw == 2.0
    assert intervals[2].power_kw == 3.0


def test_too_many_intervals_demote_the_least_energy_runs_to_load_first() -> None:
    # 15 runs: C(2 kWh) and e(1.5 kWh) are kept before c(0.5 kWh).
    codes = "C.c.e.C.c.E.c.C"
    intervals = schedule_to_tou(plan(codes), max_intervals=9)

    assert len(intervals) <= 9
    kept = [(start, mode) for start, _, mode in shape(intervals) if mode is not LF]
    assert kept == [(0, BF), (4, GF), (6, BF), (10, GF), (14, BF)]
    # Still one contiguous cover of the whole plan.
    assert shape(intervals)[0][0] == 0
    assert shape(intervals)[-1][1] == len(codes)
    for before, after in itertools.pairwise(intervals):
        assert before.end == after.start
        assert before.mode is not after.mode


def test_a_limit_of_one_leaves_a_single_load_first_interval() -> None:
    intervals = schedule_to_tou(plan("CCEE..C"), max_intervals=1)

    assert shape(intervals) == [(0, 7, LF)]


def test_without_counting_load_first_only_charge_and_discharge_intervals_are_limited() -> None:
    codes = "C.E.C.E.c"
    counted = schedule_to_tou(plan(codes), max_intervals=4)
    uncounted = schedule_to_tou(plan(codes), max_intervals=4, count_load_first=False)

    assert len(counted) <= 4
    assert sum(1 for i in uncounted if i.mode is not LF) == 4
    # The little charge at the end is the one given up.
    assert shape(uncounted)[-1] == (7, 9, LF)


def test_start_index_drops_the_periods_already_past() -> None:
    intervals = schedule_to_tou(plan("CC..EE"), start_index=3)

    assert shape(intervals) == [(3, 4, LF), (4, 6, GF)]


def test_the_autumn_day_is_covered_hour_for_hour() -> None:
    codes = "..CC" + "." * 13 + "EE" + "." * 6
    assert len(codes) == 25
    intervals = schedule_to_tou(plan(codes, AUTUMN))

    assert [i.mode for i in intervals] == [LF, BF, LF, GF, LF]
    total = sum((i.end.astimezone(UTC) - i.start.astimezone(UTC) for i in intervals), timedelta())
    assert total == timedelta(hours=25)
    # The charge interval starts at the first 02:00, the second 02:00 is inside it.
    assert intervals[1].start.astimezone(STOCKHOLM).hour == 2
    assert intervals[1].end.astimezone(STOCKHOLM).hour == 3
    assert intervals[1].end.astimezone(UTC) - intervals[1].start.astimezone(UTC) == timedelta(
        hours=2
    )


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_intervals"):
        schedule_to_tou(plan("C"), max_intervals=0)
