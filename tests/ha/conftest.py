"""Fixtures for the Home Assistant adapter tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load_fixture(name: str) -> Any:
    """Return a JSON payload from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
