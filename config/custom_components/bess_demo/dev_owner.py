"""Prepare a development config directory so the browser needs no onboarding wizard.

Run it from the repository while Home Assistant is stopped (scripts/develop can, before `hass`):

    PYTHONPATH=config .venv/bin/python -m custom_components.bess_demo.dev_owner config \
        [--token-file F]

It creates the owner `Developer` with login dev / dev (Home Assistant's own auth provider),
marks every onboarding step done, and optionally writes a long-lived access token for the API
(curl -H "Authorization: Bearer $(cat F)"). It does nothing when the user `dev` exists.
Development only: the password is public.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
import logging
from pathlib import Path

from homeassistant.auth import auth_manager_from_config
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN, User
from homeassistant.components.onboarding import (
    STORAGE_KEY as ONBOARDING_KEY,
    STORAGE_VERSION as ONBOARDING_VERSION,
)
from homeassistant.components.onboarding.const import STEPS
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.storage import Store

USERNAME = "dev"
PASSWORD = "dev"  # public on purpose: a development instance on 127.0.0.1 only
DISPLAY_NAME = "Developer"


async def prepare(config_dir: Path, token_file: Path | None) -> str:
    """Create the owner and finish onboarding; return what was done."""
    hass = HomeAssistant(str(config_dir))
    # Home Assistant 2025.10 and newer create the device registry in a set-up step of its
    # own (bootstrap calls it); older releases create it on first use.
    if hasattr(dr, "async_setup"):
        dr.async_setup(hass)
    await asyncio.gather(dr.async_load(hass), er.async_load(hass))
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    provider = hass.auth.auth_providers[0]
    await provider.async_initialize()
    credentials = await provider.async_get_or_create_credentials({"username": USERNAME})
    user: User | None
    if credentials.is_new:
        # The first user Home Assistant creates is its owner.
        user = await hass.auth.async_create_user(DISPLAY_NAME, group_ids=[GROUP_ID_ADMIN])
        if not any(entry["username"] == USERNAME for entry in provider.data.users):  # type: ignore[attr-defined]
            await provider.async_add_auth(USERNAME, PASSWORD)  # type: ignore[attr-defined]
        await hass.auth.async_link_user(user, credentials)
        done = f"created owner {USERNAME}/{PASSWORD}"
    else:
        user = await hass.auth.async_get_user_by_credentials(credentials)
        done = f"owner {USERNAME} exists"
    store: Store[dict[str, list[str]]] = Store(
        hass, ONBOARDING_VERSION, ONBOARDING_KEY, private=True
    )
    await store.async_save({"done": list(STEPS)})
    if token_file is not None and user is not None:
        refresh = await hass.auth.async_create_refresh_token(
            user,
            client_name=f"bess development {len(user.refresh_tokens)}",
            token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
            access_token_expiration=timedelta(days=3650),
        )
        token = hass.auth.async_create_access_token(refresh)
        await hass.async_add_executor_job(_write_secret, token_file, token)
        done += f", token in {token_file}"
    logging.getLogger("homeassistant.core").setLevel(logging.WARNING)
    # The users are written by a delayed save that only a stop of a running instance flushes.
    hass.set_state(CoreState.running)
    await hass.async_stop()
    return done


def _write_secret(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read."""
    path.write_text(text + "\n")
    path.chmod(0o600)


def main() -> None:
    """Parse the arguments and prepare the config directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="Home Assistant config directory")
    parser.add_argument("--token-file", type=Path, help="write a long-lived access token here")
    args = parser.parse_args()
    (args.config / ".storage").mkdir(parents=True, exist_ok=True)
    print(asyncio.run(prepare(args.config.resolve(), args.token_file)))


if __name__ == "__main__":
    main()
