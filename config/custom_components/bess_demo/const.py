"""Constants of the demo home."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "bess_demo"
SIGNAL_UPDATE: Final = f"{DOMAIN}_update"
STORAGE_VERSION: Final = 1


CONF_INITIAL_SOC: Final = "initial_soc_percent"
CONF_CREATE_BESS_ENTRY: Final = "create_bess_entry"
CURRENCY_FALLBACK: Final = "EUR"
