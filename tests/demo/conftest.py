"""Fixtures of the demo home's tests: make config/custom_components importable."""

from __future__ import annotations

from pathlib import Path
import sys

import pytest

CONFIG_DIR = Path(__file__).parents[2] / "config"
# Appended, not prepended: the repository's own custom_components/bess stays the one imported.
if str(CONFIG_DIR) not in sys.path:
    sys.path.append(str(CONFIG_DIR))

HA_TESTS = ("test_integration.py", "test_closed_loop.py")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Start Home Assistant only for the integration tests; the simulator is pure."""
    if Path(request.node.path).name in HA_TESTS:
        # The recorder must be prepared before Home Assistant starts.
        if "recorder_mock" in request.fixturenames:
            request.getfixturevalue("recorder_mock")
        request.getfixturevalue("enable_custom_integrations")
