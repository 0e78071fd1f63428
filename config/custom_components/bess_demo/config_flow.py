"""The demo home's config entry comes from configuration.yaml only."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult

from .const import DOMAIN


class DemoConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create (or update) the single demo home from the `bess_demo:` YAML block."""

    VERSION = 1

    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry, or bring the existing one in line with the YAML."""
        for entry in self._async_current_entries():
            if dict(entry.data) == import_data:
                return self.async_abort(reason="already_configured")
            return self.async_update_reload_and_abort(entry, data=import_data)
        return self.async_create_entry(title="Demo home", data=import_data)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Refuse the UI: the demo home is set up from configuration.yaml."""
        return self.async_abort(reason="yaml_only")
