"""JSON text of stored entries, encoded once.

Hourly events, daily totals and stored schedules never change once made, so the stores keep
each one's JSON text and a save joins those texts instead of encoding a year of history again
in Home Assistant's event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
import json
import math
from typing import Any


def json_text(data: Any) -> str:
    """Return `data` as compact JSON text.

    A number that is not finite becomes null, as Home Assistant writes it: JSON has no NaN,
    and a file holding one could not be read back at all.
    """
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite_or_null(data), separators=(",", ":"), allow_nan=False)


def json_array_text(items: Iterable[str]) -> str:
    """Return the JSON array of the already-encoded `items`."""
    return "[" + ",".join(items) + "]"


def _finite_or_null(data: Any) -> Any:
    """Return `data` with every float that is not finite replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite_or_null(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite_or_null(value) for value in data]
    return data
