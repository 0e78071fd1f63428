"""The development owner: the browser of scripts/develop needs no onboarding wizard."""

from __future__ import annotations

import json
from pathlib import Path

from custom_components.bess_demo.dev_owner import prepare


async def test_prepare_makes_one_owner_finishes_onboarding_and_is_idempotent(
    tmp_path: Path,
) -> None:
    (tmp_path / ".storage").mkdir()
    token_file = tmp_path / "token"
    assert (await prepare(tmp_path, token_file)).startswith("created owner dev/dev")
    assert (await prepare(tmp_path, None)) == "owner dev exists"

    storage = tmp_path / ".storage"
    users = json.loads((storage / "auth").read_text())["data"]["users"]
    people = [user for user in users if not user["system_generated"]]
    assert [(u["name"], u["is_owner"], u["group_ids"]) for u in people] == [
        ("Developer", True, ["system-admin"])
    ]
    logins = json.loads((storage / "auth_provider.homeassistant").read_text())["data"]["users"]
    assert [login["username"] for login in logins] == ["dev"]
    onboarding = json.loads((storage / "onboarding").read_text())["data"]["done"]
    assert set(onboarding) == {"user", "core_config", "analytics", "integration"}
    assert token_file.read_text().count(".") == 2  # a JWT
    assert token_file.stat().st_mode & 0o777 == 0o600
