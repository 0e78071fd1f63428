"""Spot prices from the user's price entity, turned into final buy and sell prices per period.

Supported sources, detected from the chosen entity:

- Nord Pool from HACS: attributes `raw_today` / `raw_tomorrow`, entries {start, end, value}
  (15- or 60-minute), values in the sensor's unit (cents when `price_in_cents` is set).
- Home Assistant's core Nord Pool: the entity belongs to platform `nordpool` in the entity
  registry; prices come from its `nordpool.get_prices_for_date` response service (per MWh).
- ENTSO-E from HACS: attributes `prices_today` / `prices_tomorrow`, entries {time, price}.
- A generic sensor whose attribute `prices`, `forecast`, `price_forecast` or `data` holds a list
  of {start, price} (an `end` per entry is optional).

Finer prices are averaged, weighted by time, over each planning period; a period that is not
fully covered makes the whole request unpublished (None): prices are never made up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
import logging
import math
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_EXPORT_COMPENSATION,
    CONF_EXPORT_MULTIPLIER,
    CONF_PRICE_FIXED_FEE,
    CONF_PRICE_MARKUP,
    CONF_PRICE_MULTIPLIER,
    CONF_PRICE_VAT,
    DEFAULTS,
    PERIOD_MINUTES,
)
from ..engine.ports import DataUnavailableError, PriceSeries

_LOGGER = logging.getLogger(__name__)

NORDPOOL_DOMAIN = "nordpool"
NORDPOOL_SERVICE = "get_prices_for_date"
# Nord Pool's delivery days are Central European days, whatever the user's time zone.
NORDPOOL_MARKET_TZ = "Europe/Stockholm"
GENERIC_PRICE_ATTRIBUTES = ("prices", "forecast", "price_forecast", "data")


class PriceSourceKind(StrEnum):
    """The kinds of price entity bess can read."""

    NORDPOOL_HACS = "nordpool_hacs"
    NORDPOOL_CORE = "nordpool_core"
    ENTSOE = "entsoe"
    GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class PriceInterval:
    """One published spot price (currency/kWh) valid from `start` to `end`."""

    start: datetime
    end: datetime
    price_per_kwh: float


@dataclass(frozen=True, slots=True)
class PriceFormula:
    """Turns spot into final prices: buy = (spot·m + markup)·VAT + fee; sell = spot·m_e + comp."""

    multiplier: float = 1.0
    markup_per_kwh: float = 0.0
    vat_factor: float = 1.0
    fixed_fee_per_kwh: float = 0.0
    export_multiplier: float = 1.0
    export_compensation_per_kwh: float = 0.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PriceFormula:
        """Build the formula from entry options, defaults leaving spot unchanged."""

        def value(key: str) -> float:
            raw = options.get(key)
            return float(raw if raw is not None else DEFAULTS[key])  # type: ignore[arg-type]

        return cls(
            multiplier=value(CONF_PRICE_MULTIPLIER),
            markup_per_kwh=value(CONF_PRICE_MARKUP),
            vat_factor=value(CONF_PRICE_VAT),
            fixed_fee_per_kwh=value(CONF_PRICE_FIXED_FEE),
            export_multiplier=value(CONF_EXPORT_MULTIPLIER),
            export_compensation_per_kwh=value(CONF_EXPORT_COMPENSATION),
        )

    def buy(self, spot_per_kwh: float) -> float:
        """Return the final price paid for imported energy."""
        return (
            spot_per_kwh * self.multiplier + self.markup_per_kwh
        ) * self.vat_factor + self.fixed_fee_per_kwh

    def sell(self, spot_per_kwh: float) -> float:
        """Return the price received for exported energy."""
        return spot_per_kwh * self.export_multiplier + self.export_compensation_per_kwh

    def apply(self, spot: Sequence[float]) -> PriceSeries:
        """Return final buy and sell prices for a spot series."""
        return PriceSeries(
            buy=tuple(self.buy(s) for s in spot), sell=tuple(self.sell(s) for s in spot)
        )


def average_to_periods(
    intervals: Iterable[PriceInterval],
    period_starts: Sequence[datetime],
    period_minutes: int = PERIOD_MINUTES,
) -> list[float] | None:
    """Return the time-weighted mean price of each period, or None if one is not covered."""
    # Today's and tomorrow's lists (or two service days) may repeat an interval: count it once.
    unique = {(item.start, item.end): item for item in intervals}
    ordered = sorted(unique.values(), key=lambda item: item.start)
    length = timedelta(minutes=period_minutes)
    averages: list[float] = []
    period_s = length.total_seconds()
    for local_start in period_starts:
        start = local_start.astimezone(UTC)
        end = start + length
        covered = 0.0
        weighted = 0.0
        for interval in ordered:
            if interval.end <= start:
                continue
            if interval.start >= end:
                break
            # Weights as fractions of the period keep a single full-period price exact.
            share = (min(end, interval.end) - max(start, interval.start)).total_seconds() / period_s
            covered += share
            weighted += share * interval.price_per_kwh
        if covered < 1 - 1 / period_s:
            return None
        averages.append(weighted / covered)
    return averages


def parse_time(value: Any) -> datetime | None:
    """Return an aware datetime from an attribute value (datetime or ISO string)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        parsed = dt_util.parse_datetime(value)
        if parsed is None:
            return None
        moment = parsed
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    # Time arithmetic in UTC: a local zone adds wall-clock hours, wrong on DST days.
    return moment.astimezone(UTC)


def _entries_to_intervals(
    entries: Iterable[Any], start_key: str, price_key: str, scale: float
) -> list[PriceInterval]:
    """Turn {start[, end], price} entries into intervals; a missing end runs to the next start."""
    points: list[tuple[datetime, datetime | None, float]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        start = parse_time(entry.get(start_key))
        raw = entry.get(price_key)
        if start is None or raw is None:
            continue
        try:
            price = float(raw) * scale
        except (TypeError, ValueError):
            continue
        points.append((start, parse_time(entry.get("end")), price))
    points.sort(key=lambda item: item[0])
    steps = [later[0] - earlier[0] for earlier, later in pairwise(points) if later[0] > earlier[0]]
    # A list without ends has one resolution; the smallest step is it (gaps are larger).
    resolution = min(steps, default=timedelta(minutes=60))
    return [
        PriceInterval(start=start, end=end or start + resolution, price_per_kwh=price)
        for start, end, price in points
    ]


def _unit_scale(state: State) -> float:
    """Return the factor that turns the entity's price unit into currency per kWh."""
    unit = str(state.attributes.get("unit_of_measurement") or "").replace(" ", "").lower()
    scale = 1.0
    if unit.endswith("/mwh"):
        scale = 1 / 1000
    elif unit.endswith("/wh"):
        scale = 1000.0
    if state.attributes.get("price_in_cents") is True:
        scale /= 100
    return scale


def _generic_attribute(state: State) -> str | None:
    """Return the name of the attribute holding a {start, price} list, if any."""
    for name in GENERIC_PRICE_ATTRIBUTES:
        value = state.attributes.get(name)
        if (
            isinstance(value, list)
            and value
            and isinstance(value[0], Mapping)
            and "start" in value[0]
            and "price" in value[0]
        ):
            return name
    return None


def _nordpool_core_entry(hass: HomeAssistant, entity_id: str) -> er.RegistryEntry | None:
    """Return the registry entry of a core Nord Pool sensor, or None."""
    entry = er.async_get(hass).async_get(entity_id)
    if entry is None or entry.platform != NORDPOOL_DOMAIN or entry.config_entry_id is None:
        return None
    config_entry = hass.config_entries.async_get_entry(entry.config_entry_id)
    if config_entry is None or config_entry.domain != NORDPOOL_DOMAIN:
        return None
    return entry


def detect_price_source(hass: HomeAssistant, entity_id: str) -> PriceSourceKind | None:
    """Return which kind of price source the entity is, or None when it is none we read."""
    state = hass.states.get(entity_id)
    if state is not None and "raw_today" in state.attributes:
        # The HACS integration also registers under platform `nordpool`: its attributes decide.
        return PriceSourceKind.NORDPOOL_HACS
    if state is not None and "prices_today" in state.attributes:
        return PriceSourceKind.ENTSOE
    if _nordpool_core_entry(hass, entity_id) is not None:
        return PriceSourceKind.NORDPOOL_CORE
    if state is not None and _generic_attribute(state) is not None:
        return PriceSourceKind.GENERIC
    return None


async def async_detect_price_source(hass: HomeAssistant, entity_id: str) -> PriceSourceKind | None:
    """Return the kind of price source behind `entity_id` (None: not a supported source)."""
    return detect_price_source(hass, entity_id)


class PriceSource:
    """Reads spot prices from one entity and applies the price formula."""

    def __init__(
        self,
        hass: HomeAssistant,
        entity_id: str,
        formula: PriceFormula,
        period_minutes: int = PERIOD_MINUTES,
    ) -> None:
        """Remember where prices come from and how they become final prices."""
        self._hass = hass
        self._entity_id = entity_id
        self._formula = formula
        self.period_minutes = period_minutes
        # Published delivery days never change: ask Nord Pool's API for each only once.
        self._nordpool_days: dict[date, list[PriceInterval]] = {}

    @property
    def entity_id(self) -> str:
        """The configured price entity."""
        return self._entity_id

    async def async_get_prices(self, period_starts: Sequence[datetime]) -> PriceSeries | None:
        """Return final prices for the periods, None when not all are published yet."""
        if not period_starts:
            return PriceSeries(buy=(), sell=())
        intervals = await self.async_get_spot_intervals(period_starts)
        spot = average_to_periods(intervals, period_starts, self.period_minutes)
        if spot is None:
            return None
        for start, value in zip(period_starts, spot, strict=True):
            if not math.isfinite(value):
                # A published price that is not a number (nan, inf): never planned with.
                raise DataUnavailableError(
                    self._entity_id, f"the price for {start.isoformat()} is {value}, not a number"
                )
        return self._formula.apply(spot)

    async def async_get_spot_intervals(
        self, period_starts: Sequence[datetime]
    ) -> list[PriceInterval]:
        """Return every published spot interval the source has around these periods."""
        kind = detect_price_source(self._hass, self._entity_id)
        if kind is None:
            raise DataUnavailableError(self._entity_id, self._why_unsupported())
        if kind is PriceSourceKind.NORDPOOL_CORE:
            return await self._async_nordpool_core(period_starts)
        state = self._hass.states.get(self._entity_id)
        if state is None:
            raise DataUnavailableError(self._entity_id, "price entity not found")
        scale = _unit_scale(state)
        if kind is PriceSourceKind.NORDPOOL_HACS:
            entries = [
                *(state.attributes.get("raw_today") or []),
                *(state.attributes.get("raw_tomorrow") or []),
            ]
            return _entries_to_intervals(entries, "start", "value", scale)
        if kind is PriceSourceKind.ENTSOE:
            entries = [
                *(state.attributes.get("prices_today") or []),
                *(state.attributes.get("prices_tomorrow") or []),
            ]
            return _entries_to_intervals(entries, "time", "price", scale)
        attribute = _generic_attribute(state)
        if attribute is None:
            raise DataUnavailableError(self._entity_id, self._why_unsupported())
        return _entries_to_intervals(state.attributes[attribute], "start", "price", scale)

    async def async_resolution_minutes(self, day: date) -> int | None:
        """Return the length of the source's price intervals on `day` (15, 30 or 60), or None.

        The planning period follows the market: quarter-hourly day-ahead prices are planned
        in 15-minute periods, hourly ones in hours. A resolution finer than 15 minutes is
        planned at 15, and one that does not divide an hour at 60.
        """
        tz = dt_util.get_default_time_zone()
        start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        starts = [(start.astimezone(UTC) + timedelta(hours=h)).astimezone(tz) for h in range(24)]
        try:
            intervals = await self.async_get_spot_intervals(starts)
        except DataUnavailableError:
            return None
        lengths = {
            round((item.end - item.start).total_seconds() / 60)
            for item in intervals
            if item.end > item.start and item.start.astimezone(tz).date() == day
        }
        if not lengths:
            return None
        shortest = min(lengths)
        if shortest <= 15:
            return 15
        return shortest if shortest in (30, 60) else 60

    def _why_unsupported(self) -> str:
        """Say why the entity gives no prices."""
        state = self._hass.states.get(self._entity_id)
        if state is None:
            return "price entity not found"
        if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return f"price entity is {state.state}"
        return (
            "not a supported price source (Nord Pool, ENTSO-E, or an attribute "
            f"{'/'.join(GENERIC_PRICE_ATTRIBUTES)} holding a list of {{start, price}})"
        )

    async def _async_nordpool_core(self, period_starts: Sequence[datetime]) -> list[PriceInterval]:
        """Ask the core Nord Pool service for every delivery day these periods touch."""
        entry = _nordpool_core_entry(self._hass, self._entity_id)
        if entry is None or entry.config_entry_id is None:
            raise DataUnavailableError(self._entity_id, "Nord Pool config entry not found")
        area = (entry.unique_id or "").split("-", 1)[0].upper()
        market_tz = await dt_util.async_get_time_zone(NORDPOOL_MARKET_TZ)
        length = timedelta(minutes=self.period_minutes)
        days: set[date] = set()
        for start in period_starts:
            utc_start = start.astimezone(UTC)
            for edge in (utc_start, utc_start + length - timedelta(seconds=1)):
                days.add(dt_util.as_local(edge).date())
                if market_tz is not None:
                    days.add(edge.astimezone(market_tz).date())
        oldest = min(days) - timedelta(days=1)
        for cached in [day for day in self._nordpool_days if day < oldest]:
            del self._nordpool_days[cached]
        intervals: list[PriceInterval] = []
        for day in sorted(days):
            if day in self._nordpool_days:
                intervals.extend(self._nordpool_days[day])
                continue
            try:
                response = await self._hass.services.async_call(
                    NORDPOOL_DOMAIN,
                    NORDPOOL_SERVICE,
                    {"config_entry": entry.config_entry_id, "date": day.isoformat()},
                    blocking=True,
                    return_response=True,
                )
            except HomeAssistantError as err:
                # Tomorrow before publication answers "empty response": not an error for us.
                _LOGGER.debug("Nord Pool has no prices for %s: %s", day, err)
                continue
            if not isinstance(response, Mapping):
                continue
            entries = response.get(area)
            if entries is None and len(response) == 1:
                entries = next(iter(response.values()))
            if isinstance(entries, list) and entries:
                # The service reports currency per MWh; the sensors show per kWh.
                day_intervals = _entries_to_intervals(entries, "start", "price", 1 / 1000)
                self._nordpool_days[day] = day_intervals
                intervals.extend(day_intervals)
        return intervals
