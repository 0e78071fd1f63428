"""The bess services with good and bad input."""

from __future__ import annotations

from datetime import date
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.bess.const import DOMAIN

pytestmark = pytest.mark.freeze_time("2026-11-24 10:30:00+01:00")


async def _call(hass: HomeAssistant, service: str, response: bool = False, **data: object) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def test_get_daily_view_of_today(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    view = await _call(
        hass, "get_daily_view", response=True, config_entry_id=init_integration.entry_id
    )
    assert view["date"] == "2026-11-24"
    assert len(view["hours"]) == 24
    assert view["predicted_hours"] == 14
    assert view["missing_hours"] == 10
    assert view["hours"][10]["source"] == "predicted"
    assert view["hours"][10]["start"] == "2026-11-24T09:00:00+00:00"
    assert view["total_savings"] == pytest.approx(sum(h["savings"] or 0 for h in view["hours"]))
    state = hass.states.get("sensor.home_battery_total_savings_today")
    assert float(state.state) == pytest.approx(view["total_savings"], abs=1e-6)


async def test_get_daily_view_of_a_day_without_data_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "get_daily_view",
            response=True,
            config_entry_id=init_integration.entry_id,
            date="2026-01-01",
        )
    assert err.value.translation_key == "no_data_for_date"
    assert err.value.translation_placeholders == {"date": "2026-01-01"}


async def test_get_schedules(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    result = await _call(
        hass, "get_schedules", response=True, config_entry_id=init_integration.entry_id
    )
    assert result["date"] == "2026-11-24"
    assert [s["created_for_scenario"] for s in result["schedules"]] == ["restart"]
    assert result["schedules"][0]["optimization_hour"] == 10
    assert len(result["schedules"][0]["algorithm_result"]["periods"]) == 14 + 24


async def test_scenarios_run_on_demand(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry_id = init_integration.entry_id
    await _call(hass, "update_schedule", config_entry_id=entry_id)
    await _call(hass, "reconstruct", config_entry_id=entry_id)
    await _call(hass, "create_tomorrows_schedule", config_entry_id=entry_id)
    manager = init_integration.runtime_data.manager
    assert [s.created_for_scenario for s in manager.schedules.get_all_schedules_today()] == [
        "restart",
        "restart",
        "restart",
    ]
    tomorrow = manager.schedules.get_all_schedules_today(date(2026, 11, 25))
    assert [s.created_for_scenario for s in tomorrow] == ["tomorrow"]


async def test_unknown_entry_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "update_schedule", config_entry_id="nope")
    assert err.value.translation_key == "entry_not_found"


async def test_entry_of_another_domain_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    other = MockConfigEntry(domain="sun")
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "reconstruct", config_entry_id=other.entry_id)
    assert err.value.translation_key == "entry_not_found"


async def test_unloaded_entry_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "get_schedules", response=True, config_entry_id=init_integration.entry_id)
    assert err.value.translation_key == "entry_not_loaded"


async def test_bad_date_is_refused_by_the_schema(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(vol.Invalid):
        await _call(
            hass,
            "get_daily_view",
            response=True,
            config_entry_id=init_integration.entry_id,
            date="yesterday",
        )


async def test_missing_entry_id_is_refused_by_the_schema(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(vol.Invalid):
        await _call(hass, "update_schedule")
