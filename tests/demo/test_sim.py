"""The demo home's physics: exact energy balance, battery limits, repeatable weather and prices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
import itertools
from zoneinfo import ZoneInfo

from hypothesis import given, settings as hyp_settings, strategies as st
import pytest

from custom_components.bess_demo.sim import (
    MODE_FOR_INTENT,
    Flows,
    HomeSettings,
    HomeState,
    InverterCommand,
    WorkMode,
    advance,
    clear_sky_pv_kw,
    day_hour_starts,
    day_prices,
    dispatch,
    initial_state,
    load_power_kw,
    prices_published,
    solar_forecast_kwh,
    solar_power_kw,
    spot_price,
)

TZ = ZoneInfo("Europe/Stockholm")
HOME = HomeSettings()  # 10 kWh, 5 kW both ways, 10–100 %, 95 % each way
# A November night: the sun is down for hours either side.
NIGHT = datetime(2026, 11, 24, 1, 0, tzinfo=TZ)


def _hour_at(start: datetime, command: InverterCommand, soc: float = 50.0) -> HomeState:
    """Run the home for one hour from `start` under `command`."""
    state = initial_state(HOME, start, soc)
    return advance(HOME, state, command, start + timedelta(hours=1), TZ)


def test_grid_charging_stores_what_the_charge_efficiency_lets_in() -> None:
    state = _hour_at(
        NIGHT,
        InverterCommand(WorkMode.CHARGE_FROM_GRID, charge_power_kw=2.0, grid_charging=True),
    )
    meters = state.meters
    assert meters.solar_kwh == 0.0
    assert meters.battery_charge_kwh == pytest.approx(2.0)
    # 5.0 kWh + 0.95 × 2.0 kWh
    assert state.stored_kwh == pytest.approx(6.9)
    assert state.soc_percent(HOME) == pytest.approx(69.0)
    assert meters.grid_import_kwh == pytest.approx(meters.load_kwh + 2.0)
    assert meters.grid_export_kwh == 0.0


def test_charging_from_the_grid_needs_the_grid_charging_switch() -> None:
    state = _hour_at(
        NIGHT,
        InverterCommand(WorkMode.CHARGE_FROM_GRID, charge_power_kw=2.0, grid_charging=False),
    )
    assert state.meters.battery_charge_kwh == 0.0
    assert state.soc_percent(HOME) == pytest.approx(50.0)


def test_charge_stops_at_max_soc() -> None:
    state = _hour_at(
        NIGHT,
        InverterCommand(WorkMode.CHARGE_FROM_GRID, charge_power_kw=5.0, grid_charging=True),
        soc=95.0,
    )
    assert state.soc_percent(HOME) == pytest.approx(100.0)
    # Only the 0.5 kWh of room, divided by the charge efficiency, is drawn.
    assert state.meters.battery_charge_kwh == pytest.approx(0.5 / 0.95)


def test_export_mode_discharges_at_the_set_power_and_sells_what_the_home_does_not_use() -> None:
    state = _hour_at(NIGHT, InverterCommand(WorkMode.EXPORT, discharge_power_kw=3.0))
    meters = state.meters
    assert meters.battery_discharge_kwh == pytest.approx(3.0)
    assert state.stored_kwh == pytest.approx(5.0 - 3.0 / 0.95)
    assert meters.grid_export_kwh == pytest.approx(3.0 - meters.load_kwh)
    assert meters.grid_import_kwh == 0.0


def test_discharge_stops_at_min_soc() -> None:
    state = _hour_at(NIGHT, InverterCommand(WorkMode.EXPORT, discharge_power_kw=5.0), soc=12.0)
    assert state.soc_percent(HOME) == pytest.approx(10.0)
    # 0.2 kWh above the minimum, times the discharge efficiency, reaches the AC side.
    assert state.meters.battery_discharge_kwh == pytest.approx(0.2 * 0.95)


def test_discharge_mode_covers_the_home_up_to_the_set_power_and_never_exports() -> None:
    state = _hour_at(NIGHT, InverterCommand(WorkMode.DISCHARGE, discharge_power_kw=5.0))
    meters = state.meters
    assert meters.battery_discharge_kwh == pytest.approx(meters.load_kwh)
    assert meters.grid_import_kwh == pytest.approx(0.0)
    assert meters.grid_export_kwh == 0.0

    capped = _hour_at(NIGHT, InverterCommand(WorkMode.DISCHARGE, discharge_power_kw=0.1))
    assert capped.meters.battery_discharge_kwh == pytest.approx(0.1)
    assert capped.meters.grid_import_kwh == pytest.approx(capped.meters.load_kwh - 0.1)


def test_self_consumption_ignores_the_set_points_and_follows_the_home() -> None:
    state = _hour_at(NIGHT, InverterCommand(WorkMode.SELF_CONSUMPTION))
    assert state.meters.battery_discharge_kwh == pytest.approx(state.meters.load_kwh)
    assert state.meters.grid_import_kwh == pytest.approx(0.0)


def test_idle_leaves_the_battery_alone() -> None:
    state = _hour_at(NIGHT, InverterCommand(WorkMode.IDLE, 5.0, 5.0, True))
    assert state.stored_kwh == 5.0
    assert state.meters.grid_import_kwh == pytest.approx(state.meters.load_kwh)


def test_charge_from_solar_takes_only_the_surplus() -> None:
    flows = dispatch(
        HOME,
        InverterCommand(WorkMode.CHARGE_FROM_SOLAR, charge_power_kw=5.0),
        5.0,
        solar_kw=3.0,
        load_kw=1.0,
        hours=0.5,
    )
    assert flows.battery_charge_kwh == pytest.approx(1.0)
    assert flows.grid_import_kwh == 0.0
    assert flows.grid_export_kwh == 0.0


@hyp_settings(max_examples=300, deadline=None)
@given(
    command=st.builds(
        InverterCommand,
        st.sampled_from(list(WorkMode)),
        st.floats(0, 8),
        st.floats(0, 8),
        st.booleans(),
    ),
    stored=st.floats(1.0, 10.0),
    powers_kw=st.tuples(st.floats(0, 10), st.floats(0, 10)),
    hours=st.floats(1 / 3600, 1 / 60),
)
def test_every_step_balances_and_respects_the_battery(
    command: InverterCommand, stored: float, powers_kw: tuple[float, float], hours: float
) -> None:
    solar_kw, load_kw = powers_kw
    flows = dispatch(HOME, command, stored, solar_kw=solar_kw, load_kw=load_kw, hours=hours)
    assert flows.imbalance_kwh == pytest.approx(0.0, abs=1e-12)
    assert flows.grid_import_kwh >= 0
    assert flows.grid_export_kwh >= 0
    assert min(flows.grid_import_kwh, flows.grid_export_kwh) == pytest.approx(0.0, abs=1e-12)
    assert flows.battery_charge_kwh <= HOME.max_charge_kw * hours + 1e-12
    assert flows.battery_discharge_kwh <= HOME.max_discharge_kw * hours + 1e-12
    after = stored + 0.95 * flows.battery_charge_kwh - flows.battery_discharge_kwh / 0.95
    assert HOME.min_energy_kwh - 1e-9 <= after <= HOME.max_energy_kwh + 1e-9


def test_two_days_of_minutes_balance_exactly_and_match_the_meters() -> None:
    start = datetime(2026, 6, 20, 0, 0, tzinfo=TZ)
    state = initial_state(HOME, start, 50.0)
    modes = [
        InverterCommand(WorkMode.CHARGE_FROM_GRID, 3.0, 0.0, True),
        InverterCommand(WorkMode.SELF_CONSUMPTION),
        InverterCommand(WorkMode.CHARGE_FROM_SOLAR, 2.0, 0.0, False),
        InverterCommand(WorkMode.EXPORT, 0.0, 4.0, False),
        InverterCommand(WorkMode.DISCHARGE, 0.0, 1.0, False),
        InverterCommand(WorkMode.IDLE),
    ]
    for hour in range(48):
        state = advance(
            HOME, state, modes[hour % len(modes)], start + timedelta(hours=hour + 1), TZ
        )
    meters = state.meters
    assert meters.imbalance_kwh == pytest.approx(0.0, abs=1e-9)
    assert meters.solar_kwh > 50  # two June days on 8 kWp
    stored = 5.0 + 0.95 * meters.battery_charge_kwh - meters.battery_discharge_kwh / 0.95
    assert state.stored_kwh == pytest.approx(stored, abs=1e-9)


def test_advancing_in_pieces_equals_advancing_at_once() -> None:
    start = datetime(2026, 11, 24, 10, 0, 30, tzinfo=TZ)
    command = InverterCommand(WorkMode.SELF_CONSUMPTION)
    state = initial_state(HOME, start, 40.0)
    whole = advance(HOME, state, command, start + timedelta(hours=3), TZ)
    piece = state
    for minutes in (1, 17, 60, 180):
        piece = advance(HOME, piece, command, start + timedelta(minutes=minutes), TZ)
    assert piece.time == whole.time
    assert piece.stored_kwh == pytest.approx(whole.stored_kwh, abs=1e-9)
    assert piece.meters.grid_import_kwh == pytest.approx(whole.meters.grid_import_kwh, abs=1e-9)


def test_steps_end_on_whole_minutes_so_hours_split_exactly() -> None:
    start = datetime(2026, 11, 24, 9, 59, 30, tzinfo=UTC)
    state = initial_state(HOME, start, 50.0)
    first = advance(HOME, state, InverterCommand(), start + timedelta(seconds=30), TZ)
    assert first.last_step_hours == pytest.approx(30 / 3600)
    assert first.time == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_state_survives_a_round_trip_through_storage() -> None:
    state = _hour_at(NIGHT, InverterCommand(WorkMode.EXPORT, discharge_power_kw=2.0))
    again = HomeState.from_dict(state.to_dict())
    assert again.time == state.time
    assert again.stored_kwh == state.stored_kwh
    assert again.meters == state.meters


def test_prices_are_the_same_for_the_same_date_and_peak_in_the_evening() -> None:
    day = date(2026, 11, 24)
    prices = [value for _, _, value in day_prices(day, TZ)]
    assert prices == [value for _, _, value in day_prices(day, TZ)]
    assert len(prices) == 96  # quarter hours
    assert max(prices[17 * 4 : 20 * 4]) > 2 * min(prices[0 : 5 * 4])
    assert max(prices[7 * 4 : 9 * 4]) > prices[3 * 4]
    # Each quarter has a price of its own, not the hour's repeated.
    assert len(set(prices[18 * 4 : 19 * 4])) == 4
    assert prices != [value for _, _, value in day_prices(date(2026, 11, 25), TZ)]


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
def test_dst_days_have_a_price_and_a_forecast_for_every_local_hour(day: date, hours: int) -> None:
    entries = day_prices(day, TZ)
    assert len(entries) == 4 * hours
    assert all(
        end.astimezone(UTC) - start.astimezone(UTC) == timedelta(minutes=15)
        for start, end, _ in entries
    )
    assert all(a[1] == b[0] for a, b in itertools.pairwise(entries))
    # The doubled 02:00 of the autumn day gets the clock hour's quarter prices twice.
    if hours == 25:
        assert entries[2 * 4 + 1][2] == entries[3 * 4 + 1][2] == spot_price(day, 2, 15)
    starts = day_hour_starts(day, TZ)
    assert len({s.astimezone(UTC) for s in starts}) == hours


def test_tomorrows_prices_are_published_at_13_local() -> None:
    tomorrow = date(2026, 11, 25)
    assert not prices_published(tomorrow, datetime(2026, 11, 24, 12, 59, tzinfo=TZ), TZ)
    assert prices_published(tomorrow, datetime(2026, 11, 24, 13, 0, tzinfo=TZ), TZ)
    assert not prices_published(date(2026, 11, 26), datetime(2026, 11, 24, 23, 0, tzinfo=TZ), TZ)


def test_the_sun_shines_by_day_more_in_june_and_is_forecast_within_a_third() -> None:
    june_noon = datetime(2026, 6, 21, 13, 0, tzinfo=TZ)
    december_noon = datetime(2026, 12, 21, 12, 0, tzinfo=TZ)
    assert clear_sky_pv_kw(HOME, datetime(2026, 6, 21, 1, 0, tzinfo=TZ)) == 0.0
    assert clear_sky_pv_kw(HOME, june_noon) > 5.0
    assert 0 < clear_sky_pv_kw(HOME, december_noon) < clear_sky_pv_kw(HOME, june_noon) / 2
    for start in day_hour_starts(date(2026, 6, 21), TZ):
        forecast = solar_forecast_kwh(HOME, start, TZ)
        actual = sum(
            solar_power_kw(HOME, start + timedelta(minutes=m + 0.5), TZ) / 60 for m in range(60)
        )
        assert actual == pytest.approx(forecast, rel=0.35, abs=0.05)


def test_the_household_uses_a_plausible_day_and_most_in_the_evening() -> None:
    start = datetime(2026, 11, 24, 0, 0, tzinfo=TZ)
    per_hour = [
        sum(
            load_power_kw(HOME, start + timedelta(hours=h, minutes=m + 0.5), TZ) / 60
            for m in range(60)
        )
        for h in range(24)
    ]
    assert 10 < sum(per_hour) < 35
    assert max(per_hour[17:21]) > 2 * min(per_hour[0:5])


def test_every_bess_intent_has_a_work_mode() -> None:
    assert set(MODE_FOR_INTENT) == {
        "grid_charging",
        "solar_storage",
        "load_support",
        "export_arbitrage",
        "idle",
    }
    assert len(set(MODE_FOR_INTENT.values())) == 5


def test_flows_add_up() -> None:
    one = Flows(1.0, 2.0, 3.0, 0.0, 1.0, 0.0)
    assert (one + one).grid_import_kwh == 6.0
    # 1 solar + 3 import in, 2 load + 1 charge out: 1 kWh unaccounted for.
    assert one.imbalance_kwh == pytest.approx(1.0)
    assert replace(one, solar_kwh=0.0).imbalance_kwh == pytest.approx(0.0)
