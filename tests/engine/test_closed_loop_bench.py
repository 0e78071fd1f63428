"""The closed-loop bench: a fast smoke run of the manager, the file validator, the shipped data."""

from __future__ import annotations

from datetime import date
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import closed_loop
from bench.closed_loop import (
    POLICIES,
    Outcome,
    SequenceError,
    capture,
    generate_days,
    hindsight,
    load_days,
    parse_days,
    run_policy,
)

TWO_DAYS = generate_days(seed=3, first_day=date(2026, 4, 20), days=2)


def test_hourly_policy_captures_part_of_the_hindsight_optimum() -> None:
    days = parse_days(TWO_DAYS)
    best = hindsight(days)
    outcome = run_policy(days, POLICIES[0])
    assert isinstance(outcome, Outcome), outcome
    assert best.value > 0
    assert 0.0 < capture(outcome, best) <= 1.005
    # The manager plans exactly what the bench's few-line reference planner plans.
    reference = run_policy(days, POLICIES[0], reference=True)
    assert isinstance(reference, Outcome)
    assert outcome.savings == pytest.approx(reference.savings, abs=1e-6)
    assert outcome.solves > 24  # re-planned every hour, not once


def test_perfect_forecasts_through_tomorrow_reach_the_optimum() -> None:
    days = parse_days(TWO_DAYS)
    outcome = run_policy(days, POLICIES[2], reference=True)
    assert isinstance(outcome, Outcome)
    assert capture(outcome, hindsight(days)) >= 0.99


def bad(change: Any) -> dict[str, Any]:
    """Return the two-day file with `change` applied to a copy of it."""
    data: dict[str, Any] = json.loads(json.dumps(TWO_DAYS))
    change(data)
    return data


def _delete(data: dict[str, Any], key: str) -> None:
    del data["periods"][5][key]


def _swap(data: dict[str, Any]) -> None:
    periods = data["periods"]
    periods[7]["start"], periods[8]["start"] = periods[8]["start"], periods[7]["start"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _delete(d, "load"), "period 5 has no load"),
        (lambda d: _delete(d, "start"), "period 5 has no start"),
        (lambda d: d["periods"][3].update(buy=math.nan), "not a finite number"),
        (lambda d: d["periods"][3].update(solar=math.inf), "not a finite number"),
        (lambda d: d["periods"][3].update(sell="1.2"), "not a number"),
        (lambda d: d["periods"][3].update(load=-0.1), "must be >= 0"),
        (_swap, "starts must increase"),
        (lambda d: d["periods"].pop(40), "gap: 1 period(s) missing"),
        (lambda d: d["periods"].pop(41) and d["periods"].pop(40), "gap: 2 period(s) missing"),
        (lambda d: d["periods"][20].update(start="2026-04-20T05:05:00+02:00"), "mixed period"),
        (lambda d: d["periods"][0].update(start="2026-04-20T00:00:00"), "has no UTC offset"),
        (lambda d: d["periods"][0].update(start="yesterday"), "not an ISO 8601 time"),
        (lambda d: d["battery"].pop("capacity_kwh"), "battery"),
        (lambda d: d["battery"].update(min_soc=20), "unknown setting(s) min_soc"),
        (lambda d: d["battery"].update(min_soc_percent=120), "battery"),
        (lambda d: d.update(timezone="Mars/Olympus"), "not a known IANA zone"),
        (lambda d: d.update(timezone="Asia/Tokyo"), "has not the UTC offset"),
        (lambda d: d.update(price="spot"), "unknown key(s) price"),
        (lambda d: d.update(periods=d["periods"][:96]), "at least two whole local days"),
    ],
)
def test_validator_refuses_a_bad_file(change: Any, message: str) -> None:
    with pytest.raises(SequenceError, match="") as caught:
        parse_days(bad(change))
    assert message in str(caught.value)


def test_a_file_without_a_zone_needs_one_offset(tmp_path: Path) -> None:
    data = bad(lambda d: d.pop("timezone"))  # 20–22 April: +02:00 throughout
    assert parse_days(data).n == len(TWO_DAYS["periods"])
    path = tmp_path / "winter_and_summer.json"
    spring = generate_days(seed=3, first_day=date(2026, 3, 28), days=2)
    del spring["timezone"]
    path.write_text(json.dumps(spring))
    with pytest.raises(SequenceError, match="give the IANA"):
        load_days(path)


def test_partial_days_are_left_out() -> None:
    data = bad(lambda d: d.update(periods=d["periods"][3:]))
    with pytest.raises(SequenceError, match="at least two whole local days"):
        parse_days(data)
    four = generate_days(seed=3, first_day=date(2026, 4, 20), days=4)
    four["periods"] = four["periods"][3:-5]
    days = parse_days(four)
    assert [d.isoformat() for d in days.dates] == ["2026-04-21", "2026-04-22"]
    assert days.n == 2 * 96
    assert days.trimmed == 96 + 96 - 8


def test_the_shipped_sequence_is_what_the_bench_says() -> None:
    path = closed_loop.SHIPPED
    assert path.stat().st_size < 1_000_000
    days = load_days(path)
    per_day: dict[date, int] = {}
    for start in days.starts:
        per_day[start.date()] = per_day.get(start.date(), 0) + 1
    assert len(per_day) == 14
    assert days.period_minutes == 15
    assert sorted(set(per_day.values())) == [92, 96]  # the spring DST day
    negative_days = {s.date() for s, sell in zip(days.starts, days.sell, strict=True) if sell < 0}
    assert 2 <= len(negative_days) <= 3
    # Regenerating it from its recorded seed gives the same file.
    generator = json.loads(path.read_text())["generator"]
    again = generate_days(
        generator["seed"], date.fromisoformat(generator["first_day"]), generator["days"]
    )
    assert parse_days(again).buy.tolist() == days.buy.tolist()
