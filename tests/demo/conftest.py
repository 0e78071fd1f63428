"""Fixtures of the demo home's tests: make config/custom_components importable."""

from __future__ import annotations

from pathlib import Path
import sys

from _pytest.terminal import TerminalReporter
import pytest

CONFIG_DIR = Path(__file__).parents[2] / "config"
# Appended, not prepended: the repository's own custom_components/bess stays the one imported.
if str(CONFIG_DIR) not in sys.path:
    sys.path.append(str(CONFIG_DIR))

HA_TESTS = ("test_integration.py", "test_closed_loop.py")
# What the soak test (test_soak.py) reports it survived, shown in pytest's summary.
SOAK_SUMMARY = "soak_summary"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Start Home Assistant only for the integration tests; the simulator is pure."""
    if Path(request.node.path).name in HA_TESTS:
        # The recorder must be prepared before Home Assistant starts.
        if "recorder_mock" in request.fixturenames:
            request.getfixturevalue("recorder_mock")
        request.getfixturevalue("enable_custom_integrations")


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    """Show the faults the soak test survived, with or without -s."""
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == SOAK_SUMMARY
    ]
    if lines:
        terminalreporter.section("soak")
        for line in lines:
            terminalreporter.write_line(line)
