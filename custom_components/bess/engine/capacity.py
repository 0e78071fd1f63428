"""Capacity tariffs (Swedish "effekttariff", Norwegian "kapasitetsledd") and planning with one.

The rule. A capacity tariff charges F (currency per kW per month) on the mean of the month's
N highest counted peaks. A peak is the mean import power over a measurement interval (a clock
hour, or a quarter-hour), times the interval's weight: 0 outside the tariff's months, weekdays
and hours (it does not count), `night_weight` in the night hours 22–06 local time, 1 otherwise.
With `distinct_days` only each local day's highest peak counts, so the N peaks come from N
different days. The fee is F × (sum of the N highest counted peaks) / N; while fewer than N
peaks are recorded the missing ones count 0, so the fee so far is what the month has shown,
never a guess (a month whose counted days end before N peaks would be billed the same way).

The planning model (`plan_with_capacity`). The month is the local month of the plan's first
period. Its counted periods H are those with weight w_t > 0 in that month; periods of a later
month are left uncapped (a plan made once that month has begun caps them, and only a plan's
first period is ever carried out). One cap C (kW, weighted) bounds every counted period:

    w_t · import_t / h ≤ C,   i.e. the period's import cap C·h/w_t (kWh),

with h the period's length in hours (and the lower of this and the battery's import limit
holds). A period's mean power stands for every measurement interval it overlaps: periods
shorter than the interval are each capped at C, which is sufficient for the interval's mean
and is what a per-period DP can enforce (it gives up shifting import within an interval);
a period longer than the interval is taken as flat within itself.

The fee increase Δ(C). The horizon is taken to add peaks at C: with `distinct_days` one per
local day d of H, counted as max(C, b_d) where b_d is the day's recorded peak (0 for a day not
begun); otherwise k = min(N, number of measurement intervals H touches) peaks at C. With R the
recorded peaks of the other days (all recorded peaks without `distinct_days`), padded with
zeros to N, and S_N the sum of the N largest:

    Δ(C) = F/N · [S_N(R ∪ {max(C, b_d)}) − S_N(R ∪ {b_d})].

Where no horizon day has a record this is F/N · Σ_j max(0, C − T_j) over the k smallest of
the current top N (T, zero-padded): convex, piecewise linear and non-decreasing in C, with
kinks at the recorded peaks. A horizon day's own record is its floor rather than one more
entry, so today's peak so far is not counted twice.

The energy cost E(C) is the optimizer's minimum of money − terminal value × energy gained
under those caps: a linear program parametric in C's right-hand side, so convex and
non-increasing on [C*, ∞), where C* is the lowest cap the battery can hold. Below C* the load
alone, after all the battery can give, forces counted import above C and the DP reports import
excess; the peak is then the real one, above C. E(C) = E_∞ from R_∞ on, the counted peak of the
plan without a cap. The plan minimizes

    total(C) = E(C) + Δ(C)  over [C*, R_∞]  (convex),

and its fee increase is evaluated at the plan's realized peak P ≤ C (Δ(P) ≤ Δ(C), equal at
the optimum: the same plan is feasible with the cap P).

The search is exact, not a grid; each step is one optimizer run (a DP) under a cap:

1. The plan without a cap gives E_∞, R_∞ and its import excess X_∞ (above the import limit,
   where the load forces any). If Δ is flat on [C_lo, R_∞] that plan is optimal: one run.
   C_lo ≤ C* is the highest counted power the battery cannot cover even at full discharge;
   the next run is at C_lo, which is C* when it leaves no excess beyond X_∞.
2. Runs that leave no excess beyond X_∞ sample E. Between samples a convex E lies above the
   secants through the neighbouring samples (extended) and above its value at the interval's
   right end; Δ is exact, so that lower bound of total(C) is minimized exactly over its kinks,
   and the next run is where it is lowest. Just right of C*, E's slope is measured by a run
   1e-4 kW further (kinks of E closer than that to C* are not resolved).
3. Left of the lowest cap held, f, only the secant through f and the next sample bounds E,
   down to the highest cap that left excess. While the optimum may lie there, the next run
   approaches C* instead: the excess X(C) is convex and falls to X_∞ at C*, so the secant
   through the two highest runs below C* meets X_∞ at or left of C*, and at C* once both lie
   on X's last linear piece (a guess from the periods with excess may step further first).
   A convex function's minimum over [f, R_∞] is its minimum over [C*, R_∞] unless it lies at
   f: C* is sought only when the optimum may be there (the load sets the peak).
4. The search stops when the best run is within 1e-9 (relative) of the lower bound. For a
   piecewise-linear E this takes finitely many runs (3 to 21 on the bench's winter days),
   and the plan is the optimum of the model, not an approximation of it.

Where a stage cost is not convex (negative prices, sell > buy, a capped export at a negative
price, a start outside the SOC window) E(C) need not be convex: the search then returns the
best plan it evaluated, never worse than the uncapped plan with its fee, but not proven best
(on the tests' such days it still matches HiGHS). The same holds where the load forces import
above the battery's import limit in a counted period (X_∞ > 0): the optimizer caps each period
at the lower of the limit and C·h/w_t with one penalty above it, so it cannot hold import in
such a period at C while it is above the limit anyway; the fee is then taken at the realized
peak.

Left out: one cap holds for the whole horizon (a day whose load forces a high peak lifts the
cap of the other days too; per-day caps would need a search in as many dimensions as days);
public holidays are not known (`weekdays_only` counts Monday to Friday); Norwegian capacity
steps are approximated by a fee per kW; without `distinct_days` the recorded part of the
current measurement interval is an entry of its own besides the horizon's (conservative).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
import math
from typing import Protocol

import numpy as np

from .cost import FloatArray
from .models import OptimizationInput, OptimizationResult
from .optimizer import optimize_battery_schedule
from .timeutil import period_start

ALL_MONTHS = frozenset(range(1, 13))
WINTER = frozenset({11, 12, 1, 2, 3})  # November to March: the Swedish high-load season
SUMMER = ALL_MONTHS - WINTER
# Local hours [22, 24) and [0, 6) are night, where `night_weight` applies.
NIGHT_START = 22
NIGHT_END = 6
MEASUREMENT_MINUTES = (15, 60)

# Excess (kWh) below this is rounding: the cap is held.
_EXCESS_TOL = 1e-8
# The search stops when the best plan is this close (relative) to the lower bound.
_GAP_RTOL = 1e-9
# Caps (kW) closer than this are the same cap.
_CAP_TOL = 1e-9
# The step right of C* that measures E's slope there (kW, relative above 1 kW).
_PROBE_KW = 1e-4
_MAX_RUNS = 60


@dataclass(frozen=True, slots=True)
class CapacityTariff:
    """A monthly capacity fee on the mean of the N highest counted peaks (module docstring).

    `hours` is the local window counted, end exclusive: (0, 24) is all day, (7, 19) is 07:00
    to 19:00, and a start after the end runs over midnight. `months` holds 1 … 12.
    `night_weight` (in (0, 1]) weighs peaks in the night hours 22–06; 1.0 is no night rebate.
    `measurement_minutes` is 60 (a peak is a clock hour's mean power) or 15 (a quarter's).
    """

    fee_per_kw_month: float
    peaks: int = 3
    distinct_days: bool = True
    weekdays_only: bool = False
    hours: tuple[int, int] = (0, 24)
    months: frozenset[int] = ALL_MONTHS
    night_weight: float = 1.0
    measurement_minutes: int = 60

    def __post_init__(self) -> None:
        """Refuse a tariff no network company could publish."""
        fee = self.fee_per_kw_month
        if not _is_number(fee) or not math.isfinite(fee) or fee < 0:
            raise ValueError(f"fee_per_kw_month is {fee!r}, not a finite number >= 0")
        if not _is_int(self.peaks) or self.peaks < 1:
            raise ValueError(f"peaks is {self.peaks!r}, not a whole number >= 1")
        for name in ("distinct_days", "weekdays_only"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} is {getattr(self, name)!r}, not true or false")
        hours = self.hours
        if (
            not isinstance(hours, tuple)
            or len(hours) != 2
            or not all(_is_int(h) for h in hours)
            or not 0 <= hours[0] <= 23
            or not 1 <= hours[1] <= 24
            or hours[0] == hours[1]
        ):
            raise ValueError(
                f"hours is {hours!r}, not (start, end) local hours with 0 <= start <= 23,"
                " 1 <= end <= 24 and start != end"
            )
        months = self.months
        if not isinstance(months, frozenset):
            if not isinstance(months, set | tuple | list | range):
                raise ValueError(f"months is {months!r}, not a set of months 1 to 12")
            months = frozenset(months)
            object.__setattr__(self, "months", months)
        if not months or not all(_is_int(m) and 1 <= m <= 12 for m in months):
            raise ValueError(f"months is {set(months)!r}, not a non-empty set of months 1 to 12")
        weight = self.night_weight
        if not _is_number(weight) or not 0 < weight <= 1:
            raise ValueError(f"night_weight is {weight!r}, not in (0, 1]")
        if self.measurement_minutes not in MEASUREMENT_MINUTES or isinstance(
            self.measurement_minutes, bool
        ):
            raise ValueError(
                f"measurement_minutes is {self.measurement_minutes!r}, not 60 or 15"
                " (a peak is a clock hour's or a quarter's mean power)"
            )

    def weight(self, moment: datetime, tz: tzinfo) -> float:
        """Return the weight of import at `moment` (0: it does not count)."""
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: capacity windows are local times")
        local = moment.astimezone(tz)
        if local.month not in self.months:
            return 0.0
        if self.weekdays_only and local.weekday() >= 5:
            return 0.0
        start, end = self.hours
        hour = local.hour
        inside = start <= hour < end if start < end else (hour >= start or hour < end)
        if not inside:
            return 0.0
        if hour >= NIGHT_START or hour < NIGHT_END:
            return float(self.night_weight)
        return 1.0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Common rules as their network companies publish them. The fees are examples only, of the
# order seen in published price lists (currency per kW and month, VAT included where the
# note says so): set your own from your network company's price list.
PRESETS: Mapping[str, CapacityTariff] = {
    # Ellevio (Sweden): the mean of the month's 3 highest hourly peaks, on 3 different days;
    # peaks between 22 and 06 count at half their power; all hours, every month.
    "ellevio": CapacityTariff(fee_per_kw_month=80.0, peaks=3, night_weight=0.5),
    # Göteborg Energi Nät (Sweden, villa and row house): "medeltalet av dina tre högsta timmar
    # varje månad, fördelat på tre olika dygn": all hours, every month, no night rebate.
    "goteborg_energi": CapacityTariff(fee_per_kw_month=35.0, peaks=3),
    # Sala-Heby Energi Elnät (Sweden): the mean of the 3 highest hourly values of the month on
    # weekdays 07–19 (public holidays excepted, which this model does not know), not
    # necessarily on different days. Its price list (VAT included) had 111.50 SEK/kW in
    # November–March and 55.75 SEK/kW in April–October: one preset per season.
    "sala_heby_winter": CapacityTariff(
        fee_per_kw_month=111.5,
        peaks=3,
        distinct_days=False,
        weekdays_only=True,
        hours=(7, 19),
        months=WINTER,
    ),
    "sala_heby_summer": CapacityTariff(
        fee_per_kw_month=55.75,
        peaks=3,
        distinct_days=False,
        weekdays_only=True,
        hours=(7, 19),
        months=SUMMER,
    ),
    # The Swedish high-load window ("höglasttid") several network companies charge a capacity
    # fee in only: weekdays 07–20, November–March (e.g. Telge Nät; Mälarenergi counts the 3
    # highest hours of that window). A template: the number of peaks, the hours (06–20, 07–19
    # and 06–22 are in use too) and the fee vary by company.
    "weekday_07_20_winter": CapacityTariff(
        fee_per_kw_month=100.0,
        peaks=3,
        distinct_days=False,
        weekdays_only=True,
        hours=(7, 20),
        months=WINTER,
    ),
    # Norway, the capacity part of the grid tariff ("kapasitetsledd", NVE's model since July
    # 2022, e.g. Lede, Telemark Nett): the mean of the 3 highest daily maximum hourly peaks of
    # the month, on 3 different days, all hours. It is billed in steps (0–2, 2–5, 5–10, 10–15,
    # 15–20 kW …, a monthly amount per step); here it is approximated by a fee per kW: the
    # price difference between the steps around your usual peak divided by their distance in
    # kW (e.g. one 2022 price list: 450 NOK at 5–10 kW, 725 NOK at 15–20 kW, ≈ 27.5 NOK/kW).
    "norway_kapasitetsledd": CapacityTariff(fee_per_kw_month=25.0, peaks=3),
}


@dataclass(frozen=True, slots=True)
class Peak:
    """One counted peak: weighted mean import power over a measurement interval (kW)."""

    kw: float
    day: date  # the local date of the interval
    start: datetime  # the interval's start, local time


class MeteredPeriod(Protocol):
    """What `month_peaks` reads of a period: a recorded `HourlyEvent`, or a planned period."""

    @property
    def start(self) -> datetime:
        """Return the period's start (aware)."""
        ...

    @property
    def period_minutes(self) -> int:
        """Return the period's length in minutes."""
        ...

    @property
    def grid_imported(self) -> float:
        """Return the energy imported from the grid in the period (kWh)."""
        ...


def counted_weights(
    starts: Sequence[datetime], period_minutes: int, tariff: CapacityTariff, tz: tzinfo
) -> tuple[float, ...]:
    """Return, per planning period, the weight with which its import counts (0: not at all).

    A period divides an hour and starts on its grid, so it lies within one local clock hour:
    its weight is that hour's (tariff windows are whole local hours). On daylight-saving days
    the local hours are what count: the doubled 02:00 hour of the autumn day is night twice.
    """
    if period_minutes <= 0 or 60 % period_minutes != 0:
        raise ValueError(f"a period of {period_minutes} minutes does not divide an hour")
    return tuple(tariff.weight(start, tz) for start in starts)


def month_peaks(
    events: Iterable[MeteredPeriod], tariff: CapacityTariff, tz: tzinfo, month: date
) -> list[Peak]:
    """Return the month's counted peaks from recorded events, highest first.

    An event is anything with a `start`, `period_minutes` and `grid_imported` (an
    `HourlyEvent`; the daily view passes planned periods and the no-battery baseline too).

    `month` is any date of the month (its year and month are used). Each event's import
    (`grid_imported`, kWh over its `period_minutes`) is spread evenly over its period and
    summed per measurement interval (local clock hour or quarter, counted in absolute time
    from local midnight, so DST days have 23 or 25 hours of their own). A peak is the
    interval's import divided by the time recorded in it, times its weight: an interval with
    missing periods is measured from what is recorded, as its mean power while recorded (not
    as if the missing periods imported nothing, which would understate it). Intervals that do
    not count, and those outside the month (the end of last month, say), are left out. With
    `distinct_days` only each local day's highest interval is a peak. Events must be distinct
    periods (a period recorded twice would count twice).
    """
    if month.month not in tariff.months:
        return []
    step = timedelta(minutes=tariff.measurement_minutes)
    energy: dict[datetime, float] = {}
    seconds: dict[datetime, float] = {}
    for event in events:
        begin = event.start.astimezone(UTC)
        end = begin + timedelta(minutes=event.period_minutes)
        first = begin.astimezone(tz)
        last = (end - timedelta(microseconds=1)).astimezone(tz)
        if (first.year, first.month) != (month.year, month.month) and (
            last.year,
            last.month,
        ) != (month.year, month.month):
            continue
        length = (end - begin).total_seconds()
        cursor = begin
        while cursor < end:
            interval = period_start(cursor, tz, tariff.measurement_minutes).astimezone(UTC)
            stop = min(end, interval + step)
            share = (stop - cursor).total_seconds()
            energy[interval] = energy.get(interval, 0.0) + event.grid_imported * share / length
            seconds[interval] = seconds.get(interval, 0.0) + share
            cursor = stop
    peaks: list[Peak] = []
    for interval, kwh in energy.items():
        local = interval.astimezone(tz)
        if (local.year, local.month) != (month.year, month.month):
            continue
        weight = tariff.weight(local, tz)
        if weight == 0.0:
            continue
        peaks.append(
            Peak(kw=weight * kwh * 3600.0 / seconds[interval], day=local.date(), start=local)
        )
    if tariff.distinct_days:
        highest: dict[date, Peak] = {}
        for peak in peaks:
            kept = highest.get(peak.day)
            if kept is None or peak.kw > kept.kw:
                highest[peak.day] = peak
        peaks = list(highest.values())
    peaks.sort(key=lambda p: (-p.kw, p.start))
    return peaks


def fee(peaks: Iterable[Peak | float], tariff: CapacityTariff) -> float:
    """Return the month's fee: F × the mean of the N highest peaks (kW).

    With fewer than N peaks the missing ones count 0: the fee so far, never a guess.
    """
    values = [p.kw if isinstance(p, Peak) else float(p) for p in peaks]
    return tariff.fee_per_kw_month * _top_sum(values, tariff.peaks) / tariff.peaks


def _top_sum(values: Iterable[float], n: int) -> float:
    """Return the sum of the n largest values (fewer values: the missing ones are 0)."""
    return float(sum(sorted(values, reverse=True)[:n]))


@dataclass(frozen=True, slots=True)
class FeeCurve:
    """Δ(C): the increase of the month's fee if the horizon's peaks rise to C (kW).

    `fixed` are the recorded peaks the horizon cannot change, `floors` one per peak the
    horizon adds: that entry counts max(C, floor) (module docstring).
    """

    tariff: CapacityTariff
    fixed: tuple[float, ...]
    floors: tuple[float, ...]

    @property
    def base(self) -> float:
        """Return the sum of the N highest recorded peaks (the fee's basis so far)."""
        return _top_sum((*self.fixed, *self.floors), self.tariff.peaks)

    def __call__(self, cap: float) -> float:
        """Return the fee increase with the horizon's peaks at `cap` (never below 0)."""
        entries = (*self.fixed, *(max(cap, floor) for floor in self.floors))
        total = _top_sum(entries, self.tariff.peaks)
        rate = self.tariff.fee_per_kw_month / self.tariff.peaks
        return max(rate * (total - self.base), 0.0)

    def kinks(self) -> tuple[float, ...]:
        """Return the caps where Δ may bend: the recorded peaks (and 0)."""
        return tuple(sorted({0.0, *self.fixed, *self.floors}))


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """The plan under a capacity tariff, with the cap it was made with and its fee increase.

    `cap_kw` is None when no period of the horizon counts this month (the plan is the plain
    one). `peak_kw` is the plan's highest counted (weighted) import power in the horizon,
    `fee_increase` the month's fee increase at that peak (model: module docstring), and
    `objective` the plan's money − terminal value × energy gained, plus that increase.
    `load_exceeds_cap` is true when the load sets the peak: the cap is C*, the lowest the
    battery can hold (to within 1e-4 kW), where the fee would have it lower still; any lower
    cap leaves import above it, which the DP reports as import excess. `dp_runs` counts the
    optimizer runs the search needed.
    """

    result: OptimizationResult
    cap_kw: float | None
    peak_kw: float
    fee_increase: float
    objective: float
    load_exceeds_cap: bool
    dp_runs: int


@dataclass(frozen=True, slots=True)
class _Sample:
    """One optimizer run under the cap `cap`."""

    cap: float
    result: OptimizationResult
    money: float  # total cost − terminal value × energy gained
    excess: float  # import excess over the horizon, kWh
    peak: float  # highest counted weighted import power, kW
    excess_periods: FloatArray  # import excess per period, kWh


class _Runner:
    """Runs the optimizer under a cap and measures the plan; counts the runs."""

    def __init__(self, inputs: OptimizationInput, weights: FloatArray) -> None:
        self.inputs = inputs
        self.weights = weights
        self.counted = weights > 0.0
        self.hours = inputs.period_minutes / 60.0
        # kWh a period may import per kW of cap.
        self.per_kw = np.where(self.counted, self.hours / np.where(self.counted, weights, 1.0), 0.0)
        n = len(inputs.buy)
        given = inputs.import_cap_kwh
        self.given: FloatArray = (
            np.full(n, np.inf) if given is None else np.asarray(given, dtype=float)
        )
        self.runs = 0

    def run(self, cap: float) -> _Sample:
        """Optimize with every counted period capped at `cap` kW (inf: no cap)."""
        self.runs += 1
        inputs = self.inputs
        if math.isfinite(cap):
            caps = np.where(self.counted, np.minimum(self.given, cap * self.per_kw), self.given)
            inputs = replace(inputs, import_cap_kwh=tuple(map(float, caps)))
        result = optimize_battery_schedule(inputs)
        grid_import = np.array([p.grid_import_kwh for p in result.periods])
        excess = np.array([p.import_excess_kwh for p in result.periods])
        power = self.weights * grid_import / self.hours
        battery = inputs.battery
        gained = battery.capacity_kwh * (result.final_soc_percent - inputs.initial_soc_percent)
        money = result.total_cost - inputs.terminal_value_per_kwh * gained / 100.0
        return _Sample(
            cap=cap,
            result=result,
            money=money,
            excess=float(excess.sum()),
            peak=float(power.max(initial=0.0)),
            excess_periods=excess,
        )


def plan_with_capacity(
    inputs: OptimizationInput,
    tariff: CapacityTariff,
    recorded_peaks: Sequence[Peak],
    tz: tzinfo,
) -> CapacityPlan:
    """Return the plan minimizing energy cost plus the month's fee increase (module docstring).

    `recorded_peaks` are this month's counted peaks so far (`month_peaks`); a peak of another
    month is refused.
    """
    weights, curve = _horizon(inputs, tariff, recorded_peaks, tz)
    runner = _Runner(inputs, weights)
    plain = runner.run(math.inf)
    if not runner.counted.any():
        return CapacityPlan(
            result=plain.result,
            cap_kw=None,
            peak_kw=0.0,
            fee_increase=0.0,
            objective=plain.money,
            load_exceeds_cap=False,
            dp_runs=runner.runs,
        )
    high = plain.peak
    plain = replace(plain, cap=high)
    low = min(_forced_peak(inputs, weights), high)
    if curve(high) - curve(low) <= _GAP_RTOL * max(1.0, curve(high)):
        return _finish(runner, curve, [plain], low=low, target=math.inf)
    floor = plain.excess
    target = floor + _EXCESS_TOL * (1.0 + floor)
    samples = _search(runner, plain, runner.run(low), curve, floor=floor, target=target)
    return _finish(runner, curve, samples, low=low, target=target)


def _horizon(
    inputs: OptimizationInput,
    tariff: CapacityTariff,
    recorded: Sequence[Peak],
    tz: tzinfo,
) -> tuple[FloatArray, FeeCurve]:
    """Return the counted weight per period (0 outside this month) and the fee curve Δ(C)."""
    n = len(inputs.buy)
    begin = inputs.start.astimezone(UTC)
    step = timedelta(minutes=inputs.period_minutes)
    starts = [(begin + i * step).astimezone(tz) for i in range(n)]
    first = starts[0] if starts else inputs.start.astimezone(tz)
    month = (first.year, first.month)
    for peak in recorded:
        if (peak.day.year, peak.day.month) != month:
            raise ValueError(f"recorded peak {peak!r} is not of the plan's month {month}")
    weights = np.array(counted_weights(starts, inputs.period_minutes, tariff, tz), dtype=float)
    in_month = np.array([(s.year, s.month) == month for s in starts], dtype=bool)
    weights = np.where(in_month, weights, 0.0)
    counted = [starts[t] for t in np.flatnonzero(weights > 0.0)]
    if tariff.distinct_days:
        days = sorted({start.date() for start in counted})
        best: dict[date, float] = {}
        for peak in recorded:
            best[peak.day] = max(best.get(peak.day, 0.0), peak.kw)
        floors = tuple(best.pop(day, 0.0) for day in days)
        fixed = tuple(best.values())
    else:
        intervals: set[datetime] = set()
        minutes = tariff.measurement_minutes
        parts = max(1, inputs.period_minutes // minutes)
        for start in counted:
            for j in range(parts):
                moment = start.astimezone(UTC) + timedelta(minutes=j * minutes)
                intervals.add(period_start(moment, tz, minutes))
            if len(intervals) >= tariff.peaks:
                break
        floors = (0.0,) * min(tariff.peaks, len(intervals))
        fixed = tuple(peak.kw for peak in recorded)
    return weights, FeeCurve(tariff=tariff, fixed=fixed, floors=floors)


def _forced_peak(inputs: OptimizationInput, weights: FloatArray) -> float:
    """Return the highest counted power the battery cannot cover even at full discharge."""
    hours = inputs.period_minutes / 60.0
    net = np.asarray(inputs.load, dtype=float) - np.asarray(inputs.solar, dtype=float)
    forced = np.maximum(net - inputs.battery.max_discharge_kw * hours, 0.0)
    return float((weights * forced / hours).max(initial=0.0))


def _search(
    runner: _Runner,
    plain: _Sample,
    first: _Sample,
    curve: FeeCurve,
    *,
    floor: float,
    target: float,
) -> list[_Sample]:
    """Minimize E(C) + Δ(C) over [C*, R_∞] (module docstring, steps 2 to 4); every run made.

    `plain` is the plan without a cap (at R_∞), `first` the run at C_lo. Runs without excess
    above `floor` (up to `target`) sample E; the lowest of them, f, bounds C* from above and
    the highest run with excess bounds it from below. C* is sought only while the bound says
    the optimum may lie left of f: a convex function's minimum over [f, R_∞] is its minimum
    over [C*, R_∞] unless it lies at f.
    """
    samples = [plain, first]
    high = plain.cap
    # C* is known once a run at it holds the cap: C_lo, or a secant step (never past C*).
    known = first.excess <= target
    while runner.runs < _MAX_RUNS:
        held = sorted((s for s in samples if s.excess <= target), key=lambda s: s.cap)
        caps = [s.cap for s in held]
        money = [s.money for s in held]
        best = min(m + curve(c) for c, m in zip(caps, money, strict=True))
        bound, at, at_start = _lower_bound(caps, money, high, curve, resolved=known)
        over = [s for s in samples if s.excess > target and s.cap < caps[0]]
        leftwards = False
        if not known and over:
            edge = max(s.cap for s in over)
            beyond = _bound_below(edge, caps, money, high, curve)
            if beyond < bound:
                bound, leftwards = beyond, True
        if best - bound <= _GAP_RTOL * max(1.0, abs(best)):
            break
        certain = False
        if leftwards:
            step = _toward_lowest(runner, sorted(over, key=lambda s: s.cap), held[0], floor)
            if step is None:
                known = True  # the lowest cap held is C*
                continue
            at, certain = step
        elif at_start:
            # The bound is lowest just right of the lowest cap held, where E's slope is not
            # known: a probe close by measures it.
            at = caps[0] + min(_PROBE_KW * max(1.0, caps[0]), 0.5 * (caps[1] - caps[0]))
        if min(abs(at - s.cap) for s in samples) <= _CAP_TOL * max(1.0, at):
            break
        sample = runner.run(at)
        samples.append(sample)
        if sample.excess <= target:
            known = known or certain
        elif not leftwards:
            break  # excess above a cap held below it: E is not convex here (module docstring)
    return samples


def _toward_lowest(
    runner: _Runner, over: list[_Sample], held: _Sample, floor: float
) -> tuple[float, bool] | None:
    """Return the next cap to try for C*, and whether it is C* if it holds (None: `held` is).

    `over` are runs below C* (increasing caps), `held` the lowest run above. The excess X(C)
    is convex and falls to `floor` at C*: the secant through the two highest runs below C*
    meets the floor at or left of C* (at C* once both lie on X's last linear piece). A guess
    from the excess periods (raising the cap by 1 kW lowers each by its kWh per kW) is tried
    first where it lies further right; without either, the midpoint.
    """
    last = over[-1]
    low, high = last.cap, held.cap
    margin = 1e-3 * (high - low)
    secant = math.nan
    if len(over) >= 2:
        before = over[-2]
        drop = before.excess - last.excess
        if drop > 0.0:
            secant = last.cap + (last.excess - floor) * (last.cap - before.cap) / drop
    above = last.excess_periods > held.excess_periods + _EXCESS_TOL
    rate = float(runner.per_kw[above & runner.counted].sum())
    guess = last.cap + (last.excess - floor) / rate if rate > 0.0 else math.nan
    if secant >= high - _CAP_TOL * max(1.0, high):
        return None  # C* is at least the secant's root, and at most `held`
    secant_ok = low < secant < high
    if low + margin < guess < high - margin and not (secant_ok and guess <= secant):
        return guess, False
    if secant_ok:
        return secant, True
    return 0.5 * (low + high), False


def _lower_bound(
    caps: list[float], money: list[float], high: float, curve: FeeCurve, *, resolved: bool
) -> tuple[float, float, bool]:
    """Return the lowest value of E's lower bound + Δ, where, and whether in the first interval.

    Between samples a < b, a convex non-increasing E lies above E(b), above the secant through
    the samples left of a (extended right), and above the secant through b and the sample
    after it (extended left); E is E(high) from `high` on (the plain plan).
    """
    xs = [*caps, high + 1.0]
    ys = [*money, money[-1]]
    kinks = curve.kinks()
    lowest, where, first = math.inf, caps[0], False
    for i in range(len(caps) - 1):
        a, b = xs[i], xs[i + 1]
        if resolved and i == 0 and b - a <= 2.0 * _PROBE_KW * max(1.0, a):
            # The probe right of C*: resolved, E's slope there is its secant.
            for x, y in ((a, ys[0]), (b, ys[1])):
                if y + curve(x) < lowest:
                    lowest, where, first = y + curve(x), x, False
            continue
        lines = [(0.0, b, ys[i + 1])]  # (slope, x, y): the line through (x, y)
        if i >= 1:
            lines.append(((ys[i] - ys[i - 1]) / (xs[i] - xs[i - 1]), a, ys[i]))
        lines.append(((ys[i + 2] - ys[i + 1]) / (xs[i + 2] - xs[i + 1]), b, ys[i + 1]))
        points = [a, b, *(k for k in kinks if a < k < b)]
        for j, (s1, x1, y1) in enumerate(lines):
            for s2, x2, y2 in lines[j + 1 :]:
                if s1 != s2:
                    cross = (y2 - y1 + s1 * x1 - s2 * x2) / (s1 - s2)
                    if a < cross < b:
                        points.append(cross)
        for x in points:
            value = max(y + s * (x - x0) for s, x0, y in lines) + curve(x)
            if value < lowest:
                lowest, where, first = value, x, i == 0
    return lowest, where, first


def _bound_below(
    edge: float, caps: list[float], money: list[float], high: float, curve: FeeCurve
) -> float:
    """Return the lowest E + Δ may be on (edge, caps[0]): between C*'s bounds.

    Left of the lowest cap held a convex E lies above the secant through it and the next
    sample, extended left (where E is finite at all).
    """
    xs = [*caps, high + 1.0]
    ys = [*money, money[-1]]
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    points = [edge, *(k for k in curve.kinks() if edge < k < caps[0])]
    return min(ys[0] + slope * (x - caps[0]) + curve(x) for x in points)


def _finish(
    runner: _Runner, curve: FeeCurve, samples: list[_Sample], *, low: float, target: float
) -> CapacityPlan:
    """Return the best plan without excess, its fee increase taken at its realized peak.

    The load sets the peak when the cap is C* (to within the probe's width): it is C_lo (full
    discharge cannot cover the load), or a run at most that far below it leaves excess, or a
    run there does (made only when the nearest run below has excess).
    """
    held = [s for s in samples if s.excess <= target]
    best = min(held, key=lambda s: (s.money + curve(s.peak), -s.cap))
    fee_increase = curve(best.peak)
    forced = False
    if math.isfinite(target) and best.cap > 0.0:
        width = _PROBE_KW * max(1.0, best.cap)
        below = [s for s in samples if s.cap < best.cap]
        at_low = best.cap <= low + _CAP_TOL * max(1.0, low)
        if at_low or any(s.excess > target and s.cap >= best.cap - width for s in below):
            forced = True
        elif below and max(below, key=lambda s: s.cap).excess > target:
            forced = runner.run(best.cap - width).excess > target
    return CapacityPlan(
        result=best.result,
        cap_kw=best.cap,
        peak_kw=best.peak,
        fee_increase=fee_increase,
        objective=best.money + fee_increase,
        load_exceeds_cap=forced,
        dp_runs=runner.runs,
    )
