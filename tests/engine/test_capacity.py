"""Capacity tariffs: the rule, the month's record, and plans checked against HiGHS to 1e-6."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.bess.engine.capacity import (
    PRESETS,
    WINTER,
    CapacityPlan,
    CapacityTariff,
    FeeCurve,
    Peak,
    counted_weights,
    fee,
    month_peaks,
    plan_with_capacity,
)
from custom_components.bess.engine.models import BatterySettings, HourlyEvent, OptimizationInput
from custom_components.bess.engine.optimizer import optimize_battery_schedule
from custom_components.bess.engine.timeutil import day_hour_starts, day_period_starts

from .reference import objective_of
from .reference_capacity import CapacityReference, solve_capacity_reference

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ELLEVIO = PRESETS["ellevio"]
WEEKDAYS = PRESETS["sala_heby_winter"]  # weekdays 07–19, November–March, not distinct days


# The tariff and its presets.


def test_presets_are_valid_tariffs_with_their_published_rules() -> None:
    assert {"ellevio", "goteborg_energi", "norway_kapasitetsledd"} <= set(PRESETS)
    for tariff in PRESETS.values():
        assert replace(tariff) == tariff  # validation accepts every preset
        assert tariff.fee_per_kw_month > 0.0
    assert (ELLEVIO.peaks, ELLEVIO.distinct_days, ELLEVIO.night_weight) == (3, True, 0.5)
    assert ELLEVIO.hours == (0, 24)
    assert len(ELLEVIO.months) == 12
    assert WEEKDAYS.weekdays_only
    assert (WEEKDAYS.hours, WEEKDAYS.months) == ((7, 19), WINTER)
    assert PRESETS["sala_heby_summer"].months == frozenset(range(4, 11))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fee_per_kw_month": -1.0}, "fee_per_kw_month"),
        ({"fee_per_kw_month": math.inf}, "fee_per_kw_month"),
        ({"peaks": 0}, "peaks"),
        ({"peaks": 2.5}, "peaks"),
        ({"distinct_days": 1}, "distinct_days"),
        ({"hours": (7, 7)}, "hours"),
        ({"hours": (7, 25)}, "hours"),
        ({"hours": (24, 6)}, "hours"),
        ({"months": frozenset()}, "months"),
        ({"months": frozenset({0, 1})}, "months"),
        ({"night_weight": 0.0}, "night_weight"),
        ({"night_weight": 1.5}, "night_weight"),
        ({"measurement_minutes": 30}, "measurement_minutes"),
    ],
)
def test_tariff_refuses_what_no_network_company_publishes(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CapacityTariff(**{"fee_per_kw_month": 50.0, **changes})  # type: ignore[arg-type]


def test_months_may_be_given_as_a_set() -> None:
    assert CapacityTariff(fee_per_kw_month=1.0, months={1, 2}).months == frozenset({1, 2})  # type: ignore[arg-type]


# Which periods count, and how much.


@pytest.mark.parametrize(("day", "hours", "nights"), [(29, 23, 7), (25, 25, 9)])
@pytest.mark.parametrize("minutes", [60, 15])
def test_weights_on_dst_days_follow_the_local_clock(
    day: int, hours: int, nights: int, minutes: int
) -> None:
    month = 3 if day == 29 else 10
    starts = day_period_starts(date(2026, month, day), STOCKHOLM, minutes)
    weights = counted_weights(starts, minutes, ELLEVIO, STOCKHOLM)

    per_hour = 60 // minutes
    assert len(weights) == hours * per_hour
    # 00, 01, (02, and the doubled 02 in autumn), 03, 04, 05, 22 and 23 are night: half.
    assert weights.count(0.5) == nights * per_hour
    assert weights.count(1.0) == 16 * per_hour


def test_weights_follow_weekdays_hours_and_months() -> None:
    monday = day_period_starts(date(2026, 1, 12), STOCKHOLM, 15)
    weights = counted_weights(monday, 15, WEEKDAYS, STOCKHOLM)
    counted = [s.strftime("%H:%M") for s, w in zip(monday, weights, strict=True) if w > 0]
    assert (counted[0], counted[-1], len(counted)) == ("07:00", "18:45", 48)
    assert set(weights) == {0.0, 1.0}
    saturday = day_hour_starts(date(2026, 1, 17), STOCKHOLM)
    assert set(counted_weights(saturday, 60, WEEKDAYS, STOCKHOLM)) == {0.0}
    june = day_hour_starts(date(2026, 6, 15), STOCKHOLM)
    assert set(counted_weights(june, 60, WEEKDAYS, STOCKHOLM)) == {0.0}


def test_a_window_may_run_over_midnight_and_night_weight_applies_inside_it() -> None:
    tariff = CapacityTariff(fee_per_kw_month=10.0, hours=(20, 2), night_weight=0.25)
    starts = day_hour_starts(date(2026, 1, 12), STOCKHOLM)
    weights = counted_weights(starts, 60, tariff, STOCKHOLM)
    assert weights == (0.25, 0.25) + (0.0,) * 18 + (1.0, 1.0, 0.25, 0.25)


def test_weights_refuse_naive_times_and_periods_that_do_not_divide_an_hour() -> None:
    with pytest.raises(ValueError, match="naive"):
        counted_weights([datetime(2026, 1, 12, 8)], 60, ELLEVIO, STOCKHOLM)
    with pytest.raises(ValueError, match="divide"):
        counted_weights([datetime(2026, 1, 12, 8, tzinfo=UTC)], 45, ELLEVIO, STOCKHOLM)


# The month's peaks from what was recorded.


def event(start: datetime, kwh: float, minutes: int = 15) -> HourlyEvent:
    """Return a recorded period that imported `kwh`."""
    return HourlyEvent(
        hour=start.hour,
        timestamp=start,
        battery_soc_start=50.0,
        battery_soc_end=50.0,
        solar_generated=0.0,
        home_consumed=kwh,
        grid_imported=kwh,
        grid_exported=0.0,
        battery_charged=0.0,
        battery_discharged=0.0,
        start=start,
        buy_price=1.0,
        sell_price=0.5,
        period_minutes=minutes,
    )


def quarters(day: date, kwh_per_hour: dict[int, float]) -> list[HourlyEvent]:
    """Return a day of quarter-hour events, each hour's import spread over its quarters."""
    return [
        event(start, kwh_per_hour.get(start.hour, 0.2) / 4.0)
        for start in day_period_starts(day, STOCKHOLM, 15)
    ]


def test_month_peaks_from_quarter_hours_take_each_days_highest_counted_hour() -> None:
    events = [
        # Last month's last hour is the highest of all, and does not count in January.
        event(datetime(2025, 12, 31, 23, tzinfo=STOCKHOLM), 20.0, minutes=60),
        *quarters(date(2026, 1, 14), {17: 5.0, 23: 6.0}),  # 23:00 is night: 3 kW counted
        *quarters(date(2026, 1, 15), {8: 2.5, 9: 4.0}),
        *quarters(date(2026, 1, 16), {2: 7.0}),  # night: 3.5 kW
    ]

    peaks = month_peaks(events, ELLEVIO, STOCKHOLM, date(2026, 1, 1))

    assert [(p.day.day, p.start.hour) for p in peaks] == [(14, 17), (15, 9), (16, 2)]
    assert [p.kw for p in peaks] == pytest.approx([5.0, 4.0, 3.5])
    assert fee(peaks, ELLEVIO) == pytest.approx(80.0 * (5.0 + 4.0 + 3.5) / 3)


def test_month_peaks_without_distinct_days_keep_every_counted_interval() -> None:
    tariff = CapacityTariff(fee_per_kw_month=10.0, distinct_days=False, hours=(7, 19))
    events = quarters(date(2026, 1, 14), {8: 3.0, 9: 4.0, 20: 9.0})

    peaks = month_peaks(events, tariff, STOCKHOLM, date(2026, 1, 31))

    assert [p.kw for p in peaks[:2]] == pytest.approx([4.0, 3.0])
    assert len(peaks) == 12  # 07–19: twelve hours, the evening's 9 kW is outside the window


def test_hourly_events_measured_by_the_quarter_spread_over_their_quarters() -> None:
    tariff = CapacityTariff(fee_per_kw_month=10.0, distinct_days=False, measurement_minutes=15)
    events = [event(datetime(2026, 1, 14, 8, tzinfo=STOCKHOLM), 4.0, minutes=60)]

    peaks = month_peaks(events, tariff, STOCKHOLM, date(2026, 1, 14))

    assert [p.kw for p in peaks] == pytest.approx([4.0] * 4)
    assert [p.start.minute for p in peaks] == [0, 15, 30, 45]


def test_the_doubled_autumn_hour_is_two_intervals() -> None:
    tariff = CapacityTariff(fee_per_kw_month=10.0, distinct_days=False)
    day = date(2026, 10, 25)
    imports = {2: 3.0, 3: 5.0}  # index in the 25-hour day: the first and the second 02:00
    events = [
        event(start, imports.get(i, 0.1), minutes=60)
        for i, start in enumerate(day_hour_starts(day, STOCKHOLM))
    ]

    peaks = month_peaks(events, tariff, STOCKHOLM, day)

    assert [p.kw for p in peaks[:2]] == pytest.approx([5.0, 3.0])
    assert [p.start.hour for p in peaks[:2]] == [2, 2]
    assert peaks[0].start.utcoffset() != peaks[1].start.utcoffset()
    assert len(peaks) == 25


def test_an_interval_with_missing_periods_is_its_mean_power_while_recorded() -> None:
    start = datetime(2026, 1, 14, 17, tzinfo=STOCKHOLM)
    # Two of the hour's four quarters recorded, 1 kWh each: 4 kW while recorded.
    events = [event(start, 1.0), event(start + timedelta(minutes=30), 1.0)]

    peaks = month_peaks(events, ELLEVIO, STOCKHOLM, date(2026, 1, 14))

    assert [p.kw for p in peaks] == pytest.approx([4.0])


def test_a_month_outside_the_tariff_has_no_peaks() -> None:
    events = quarters(date(2026, 6, 15), {18: 9.0})
    assert month_peaks(events, WEEKDAYS, STOCKHOLM, date(2026, 6, 1)) == []


def test_fee_is_the_mean_of_the_n_highest_and_missing_peaks_count_zero() -> None:
    tariff = CapacityTariff(fee_per_kw_month=60.0, peaks=3)
    assert fee([], tariff) == 0.0
    assert fee([5.0, 4.0], tariff) == pytest.approx(60.0 * 9.0 / 3.0)
    assert fee([1.0, 5.0, 3.0, 4.0], tariff) == pytest.approx(60.0 * 12.0 / 3.0)
    day = date(2026, 1, 3)
    assert fee([Peak(kw=6.0, day=day, start=datetime(2026, 1, 3, tzinfo=UTC))], tariff) == 120.0


def test_fee_increase_is_the_hinge_sum_over_the_smallest_of_the_top_n() -> None:
    tariff = CapacityTariff(fee_per_kw_month=90.0, peaks=3)
    recorded = (5.0, 3.0, 1.0, 0.5)
    curve = FeeCurve(tariff=tariff, fixed=recorded, floors=(0.0, 0.0))  # two days to come
    for cap in np.linspace(0.0, 8.0, 33):
        hinge = sum(max(0.0, cap - t) for t in (3.0, 1.0))  # the 2 smallest of the top 3
        assert curve(float(cap)) == pytest.approx(30.0 * hinge)
    # Today's 4 kW so far is a floor for today's peak, not one more entry.
    today = FeeCurve(tariff=tariff, fixed=(5.0, 3.0), floors=(4.0, 0.0))
    assert today(2.0) == 0.0
    assert today(3.5) == pytest.approx(30.0 * 0.5)
    assert today(4.5) == pytest.approx(30.0 * (0.5 + 1.5))
    assert today.kinks() == (0.0, 3.0, 4.0, 5.0)


# Plans, checked against HiGHS.

BATTERY = BatterySettings(
    capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0, cycle_cost_per_kwh=0.05
)
JANUARY = datetime(2026, 1, 14, tzinfo=STOCKHOLM)  # a Wednesday
RECORDED = (
    Peak(kw=3.0, day=date(2026, 1, 5), start=datetime(2026, 1, 5, 18, tzinfo=STOCKHOLM)),
    Peak(kw=2.4, day=date(2026, 1, 8), start=datetime(2026, 1, 8, 8, tzinfo=STOCKHOLM)),
    Peak(kw=1.5, day=date(2026, 1, 14), start=datetime(2026, 1, 14, 0, tzinfo=STOCKHOLM)),
)


def winter_days(
    seed: int,
    period_minutes: int,
    hours: int = 24,
    *,
    evening_kw: float = 3.0,
    start: datetime = JANUARY,
    battery: BatterySettings = BATTERY,
    negative: int = 0,
) -> OptimizationInput:
    """Return real-shaped winter days from `start`: two price peaks, an evening load peak.

    Prices stay positive and sell ≤ buy (a convex stage cost) unless `negative` periods get
    negative prices and a sell price above the buy price.
    """
    rng = np.random.default_rng(seed)
    dt = period_minutes / 60.0
    n = hours * 60 // period_minutes
    clock = (np.arange(n) * dt + start.hour) % 24.0
    spot = (
        0.9
        + 0.5 * np.sin((clock - 13.0) / 24.0 * 2.0 * np.pi)
        + 0.6 * np.exp(-(((clock - 8.0) / 1.5) ** 2))
        + 0.9 * np.exp(-(((clock - 18.5) / 1.5) ** 2))
        + rng.normal(0.0, 0.15, n)
    )
    buy = np.maximum(1.25 * spot + 0.4, 0.05)
    sell = np.clip(spot, 0.0, buy)
    load = rng.uniform(0.3, 2.0, n) + evening_kw * np.exp(-(((clock - 18.0) / 1.2) ** 2))
    solar = np.clip(2.0 * np.exp(-(((clock - 12.5) / 2.0) ** 2)) + rng.normal(0, 0.2, n), 0, None)
    if negative:
        chosen = rng.choice(n, negative, replace=False)
        buy[chosen] = -rng.uniform(0.05, 0.5, negative)
        sell[chosen[: negative // 2]] = buy[chosen[: negative // 2]] - 0.05
        sell[chosen[negative // 2 :]] = buy[chosen[negative // 2 :]] + 0.1
    return OptimizationInput(
        start=start,
        period_minutes=period_minutes,
        buy=tuple(float(x) for x in buy),
        sell=tuple(float(x) for x in sell),
        load=tuple(float(x) for x in load * dt),
        solar=tuple(float(x) for x in solar * dt),
        battery=battery,
        initial_soc_percent=float(rng.uniform(20.0, 80.0)),
        terminal_value_per_kwh=0.3,
    )


def check_against_highs(
    inputs: OptimizationInput,
    tariff: CapacityTariff,
    recorded: tuple[Peak, ...] = (),
) -> tuple[CapacityPlan, CapacityReference]:
    """Plan, and assert the plan is HiGHS's optimum of the same model and obeys its cap."""
    plan = plan_with_capacity(inputs, tariff, recorded, STOCKHOLM)
    reference = solve_capacity_reference(inputs, tariff, recorded, STOCKHOLM)

    assert plan.objective == pytest.approx(reference.objective, rel=1e-6, abs=1e-6)
    money = objective_of(inputs, plan.result.total_cost, plan.result.final_soc_percent)
    assert plan.objective == pytest.approx(money + plan.fee_increase)
    assert plan.dp_runs <= 60
    if plan.cap_kw is not None:
        weights = counted_weights(
            [plan.result.period_start(i) for i in range(len(plan.result.periods))],
            inputs.period_minutes,
            tariff,
            STOCKHOLM,
        )
        in_month = [plan.result.period_start(i).month == 1 for i in range(len(weights))]
        dt = inputs.period_minutes / 60.0
        powers = [
            w * p.grid_import_kwh / dt
            for w, p, inside in zip(weights, plan.result.periods, in_month, strict=True)
            if inside
        ]
        assert max(powers) == pytest.approx(plan.peak_kw)
        assert plan.peak_kw <= plan.cap_kw + 1e-9
    return plan, reference


@pytest.mark.parametrize(
    ("seed", "minutes", "hours", "name", "recorded"),
    [
        (0, 60, 24, "ellevio", False),
        (1, 60, 24, "ellevio", True),
        (2, 15, 24, "goteborg_energi", False),
        (3, 15, 24, "goteborg_energi", True),
        (4, 15, 36, "ellevio", True),  # two days: today (with its record) and tomorrow
        (5, 60, 48, "sala_heby_winter", False),
        (6, 15, 24, "sala_heby_winter", True),
        (7, 15, 24, "norway_kapasitetsledd", False),
    ],
)
def test_random_days_match_highs(
    seed: int, minutes: int, hours: int, name: str, recorded: bool
) -> None:
    inputs = winter_days(seed, minutes, hours)

    plan, _ = check_against_highs(inputs, PRESETS[name], RECORDED if recorded else ())

    # The fee is worth shaving: the plan holds a lower peak than the plan without a cap.
    plain = optimize_battery_schedule(inputs)
    assert plan.peak_kw < max(p.grid_import_kwh for p in plain.periods) * 60 / minutes


def test_load_alone_above_the_optimal_cap_sets_the_peak() -> None:
    inputs = winter_days(8, 15, evening_kw=9.0)  # the sauna: 9 kW more, the battery gives 5

    plan, reference = check_against_highs(inputs, PRESETS["sala_heby_winter"], RECORDED)

    assert plan.load_exceeds_cap
    dt = 0.25
    forced = max(
        (load - solar) / dt - BATTERY.max_discharge_kw
        for load, solar, start in zip(
            inputs.load,
            inputs.solar,
            (plan.result.period_start(i) for i in range(96)),
            strict=True,
        )
        if 7 <= start.hour < 19
    )
    assert plan.cap_kw == pytest.approx(forced)
    assert plan.peak_kw == pytest.approx(reference.peak_kw)
    assert sum(p.import_excess_kwh for p in plan.result.periods) < 1e-6


def test_an_empty_battery_that_cannot_hold_a_lower_cap_is_flagged_too() -> None:
    small = replace(BATTERY, capacity_kwh=3.0, max_charge_kw=1.0)
    inputs = replace(winter_days(9, 60, evening_kw=5.0, battery=small), initial_soc_percent=10.0)

    plan, _ = check_against_highs(inputs, PRESETS["ellevio"])

    assert plan.load_exceeds_cap


def test_nothing_counted_gives_the_plain_plan_in_one_run() -> None:
    saturday = datetime(2026, 1, 17, tzinfo=STOCKHOLM)
    inputs = winter_days(10, 60, start=saturday)

    plan = plan_with_capacity(inputs, WEEKDAYS, (), STOCKHOLM)

    assert (plan.cap_kw, plan.fee_increase, plan.dp_runs) == (None, 0.0, 1)
    assert plan.result == optimize_battery_schedule(inputs)


def test_a_horizon_below_the_months_peaks_leaves_the_plain_plan_in_one_run() -> None:
    inputs = winter_days(11, 60)
    high = tuple(
        Peak(kw=30.0, day=date(2026, 1, d), start=datetime(2026, 1, d, 18, tzinfo=STOCKHOLM))
        for d in (2, 3, 4)
    )

    plan, reference = check_against_highs(inputs, ELLEVIO, high)

    assert (plan.fee_increase, plan.dp_runs, plan.load_exceeds_cap) == (0.0, 1, False)
    assert reference.fee_increase == pytest.approx(0.0, abs=1e-9)


def test_periods_of_the_next_month_are_not_capped() -> None:
    evening = datetime(2026, 1, 31, 12, tzinfo=STOCKHOLM)
    inputs = winter_days(12, 15, start=evening)

    plan, _ = check_against_highs(inputs, ELLEVIO, RECORDED)

    february = [
        p for i, p in enumerate(plan.result.periods) if plan.result.period_start(i).month == 2
    ]
    assert len(february) == 48
    # The cheap February night charges the battery far above January's cap.
    assert max(p.grid_import_kwh for p in february) * 4 > (plan.cap_kw or 0.0) + 1.0


def test_peaks_of_another_month_are_refused() -> None:
    december = Peak(kw=1.0, day=date(2025, 12, 30), start=datetime(2025, 12, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match="month"):
        plan_with_capacity(winter_days(13, 60), ELLEVIO, (december,), STOCKHOLM)


@pytest.mark.parametrize("seed", [14, 15])
def test_days_with_negative_prices_are_never_worse_than_the_plain_plan(seed: int) -> None:
    inputs = winter_days(seed, 15, negative=16)

    plan = plan_with_capacity(inputs, ELLEVIO, RECORDED, STOCKHOLM)
    reference = solve_capacity_reference(inputs, ELLEVIO, RECORDED, STOCKHOLM)

    assert reference.used_binaries
    # Not proven optimal where the stage cost is not convex (module docstring), yet never
    # below HiGHS's optimum, never above the plain plan with its fee, and here equal.
    assert plan.objective >= reference.objective - 1e-6
    plain = optimize_battery_schedule(inputs)
    plain_peak = max(
        p.grid_import_kwh * 4.0 * w
        for p, w in zip(
            plain.periods,
            (counted_weights([plain.period_start(i) for i in range(96)], 15, ELLEVIO, STOCKHOLM)),
            strict=True,
        )
    )
    fee_curve = FeeCurve(tariff=ELLEVIO, fixed=(3.0, 2.4), floors=(1.5,))
    plain_objective = objective_of(inputs, plain.total_cost, plain.final_soc_percent)
    assert plan.objective <= plain_objective + fee_curve(plain_peak) + 1e-9
    assert plan.objective == pytest.approx(reference.objective, rel=1e-6)


# The optimizer's per-period import cap.


def test_import_cap_kwh_caps_each_period_with_the_import_limit() -> None:
    battery = replace(BATTERY, import_limit_kw=4.0)
    inputs = winter_days(16, 60, battery=battery)
    caps = tuple(math.inf if i % 3 else 1.5 for i in range(24))
    capped = replace(inputs, import_cap_kwh=caps)

    result = optimize_battery_schedule(capped)

    for cap, p in zip(caps, result.periods, strict=True):
        assert p.grid_import_kwh - p.import_excess_kwh <= min(cap, 4.0) + 1e-9
    # The same as HiGHS with those caps (no period counts in June for the winter tariff).
    june = replace(capped, start=datetime(2026, 6, 15, tzinfo=STOCKHOLM))
    reference = solve_capacity_reference(june, WEEKDAYS, (), STOCKHOLM)
    ours = optimize_battery_schedule(june)
    money = objective_of(june, ours.total_cost, ours.final_soc_percent)
    assert money == pytest.approx(reference.objective, abs=1e-6)
    excess = sum(p.import_excess_kwh for p in ours.periods)
    assert excess == pytest.approx(reference.import_excess_kwh, abs=1e-6)
    # Without caps: exactly the plan as before.
    assert replace(capped, import_cap_kwh=None) == inputs


@pytest.mark.parametrize("caps", [(1.0,) * 23, (1.0,) * 23 + (-0.1,), (math.nan,) * 24])
def test_import_cap_kwh_must_be_one_number_per_period_not_below_zero(
    caps: tuple[float, ...],
) -> None:
    with pytest.raises(ValueError, match="import_cap_kwh"):
        replace(winter_days(17, 60), import_cap_kwh=caps)
