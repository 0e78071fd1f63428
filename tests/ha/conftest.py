"""Fixtures for the Home Assistant adapter tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Enable custom integrations, preparing the recorder's database before hass starts.

    The recorder fixtures insist on creating their database before the `hass` fixture; the
    project-wide autouse fixture would otherwise start hass first.
    """
    if "recorder_mock" in request.fixturenames:
        request.getfixturevalue("recorder_db_url")
    request.getfixturevalue("enable_custom_integrations")


def load_fixture(name: str) -> Any:
    """Return a JSON payload from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
