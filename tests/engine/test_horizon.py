"""The horizon: every re-plan runs through tomorrow once tomorrow's prices are published.

Nord Pool publishes the next day's prices around 13:00. Before that a re-plan stops at local
midnight; from then on it runs to the end of tomorrow, so the battery is not emptied by
midnight before a dear morning. Tomorrow's sensor shows tomorrow's part of the latest plan,
and the 23:55 scenario still plans tomorrow as the design says.
"""

from __future__ import annotations

from datetime import date

import pytest

from custom_components.bess.engine.timeutil import day_hour_starts

from .fakes import BATTERY, STOCKHOLM, buy_price, local
from .test_manager import AUTUMN, DAY, ONE_DAY, SPRING, World


def through_tomorrow_world(day: date) -> World:
    """A world whose manager plans through tomorrow; only yesterday's and today's prices known."""
    world = World(day, through_tomorrow=True)
    world.home.published_days = {day - ONE_DAY, day}
    return world


async def test_before_tomorrows_prices_a_replan_stops_at_midnight() -> None:
    world = through_tomorrow_world(DAY)
    world.clock.set(local(DAY, 10, 0, 5))
    result = await world.manager.update_hourly_schedule(9)
    assert result.start == local(DAY, 10)
    assert len(result.periods) == 14  # 10:00 … 23:00
    assert world.manager.tomorrow_result is None


@pytest.mark.parametrize(("tomorrow", "hours"), [(DAY, 24), (SPRING, 23), (AUTUMN, 25)])
async def test_once_tomorrows_prices_are_out_every_replan_runs_to_the_end_of_tomorrow(
    tomorrow: date, hours: int
) -> None:
    today = tomorrow - ONE_DAY
    world = through_tomorrow_world(today)
    world.home.publish(tomorrow)  # 13:00: the next day's prices are out
    world.clock.set(local(today, 14, 0, 5))

    result = await world.manager.update_hourly_schedule(13)

    assert result.start == local(today, 14)
    assert len(result.periods) == 10 + hours  # 14:00 … 23:00 today, then all of tomorrow
    assert result.end == day_hour_starts(tomorrow + ONE_DAY, STOCKHOLM)[0]
    assert world.inputs[-1].buy[10:] == tuple(
        buy_price(s) for s in day_hour_starts(tomorrow, STOCKHOLM)
    )
    # Tomorrow's sensor shows tomorrow's part of this plan, with its own totals.
    part = world.manager.tomorrow_result
    assert part is not None
    assert part.start == day_hour_starts(tomorrow, STOCKHOLM)[0]
    assert len(part.periods) == hours
    assert part.periods == result.periods[10:]
    assert part.total_savings == pytest.approx(sum(p.savings for p in result.periods[10:]))
    assert part.total_savings != pytest.approx(result.total_savings)
    # The daily view of tomorrow is predicted from it already.
    view = world.manager.build_daily_view(tomorrow)
    assert view.predicted_hours == hours
    assert view.total_savings == pytest.approx(part.total_savings)


async def test_the_2355_plan_replaces_tomorrows_part_and_midnight_plans_from_the_real_soc() -> None:
    world = through_tomorrow_world(DAY)
    world.home.publish(DAY + ONE_DAY)
    world.clock.set(local(DAY, 22, 0, 5))
    await world.manager.update_hourly_schedule(21)
    afternoon = world.manager.tomorrow_result
    assert afternoon is not None

    world.clock.set(local(DAY, 23, 55))
    at_2355 = await world.manager.create_tomorrows_schedule()
    assert at_2355 is not None
    assert at_2355.periods[0].soc_start_percent == pytest.approx(BATTERY.min_soc_percent)
    assert world.manager.tomorrow_result == at_2355

    world.home.soc_percent = 73.0
    world.clock.set(local(DAY + ONE_DAY, 0, 0, 5))
    midnight = await world.manager.update_hourly_schedule()
    assert midnight.periods[0].soc_start_percent == pytest.approx(73.0)
    assert world.controller.plan == midnight  # the plan applied after midnight
    assert world.manager.plan_in_force(local(DAY + ONE_DAY, 0, 30)) == midnight


async def test_a_failing_price_read_for_tomorrow_plans_today_alone() -> None:
    world = through_tomorrow_world(DAY)
    world.home.publish(DAY + ONE_DAY)
    world.home.fail_prices_after = local(DAY + ONE_DAY, 0)
    world.clock.set(local(DAY, 15, 0, 5))
    result = await world.manager.update_hourly_schedule(14)
    assert len(result.periods) == 9  # 15:00 … 23:00
