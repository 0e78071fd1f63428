"""Shared fixtures for the bess tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ENGINE_TESTS = Path(__file__).parent / "engine"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom_components/bess in every integration test.

    The pure engine tests need no Home Assistant instance, so they do not start one.
    """
    if ENGINE_TESTS not in Path(request.node.path).parents:
        request.getfixturevalue("enable_custom_integrations")
