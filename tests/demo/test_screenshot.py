"""The demo home end to end in a real browser: start it, let bess plan, take the screenshot.

Runs `hass` on a copy of config/ on a free loopback port, exactly as scripts/develop does,
and scripts/screenshot against it. Skipped where Debian's chromium is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.request

import pytest

ROOT = Path(__file__).parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
START_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium (apt-get install chromium)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str) -> dict[str, Any] | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.fixture
def demo(tmp_path: Path, socket_enabled: None) -> Iterator[tuple[str, str]]:
    """A running demo home on a free port; yields its URL and an API token."""
    config = tmp_path / "config"
    shutil.copytree(
        ROOT / "config", config, ignore=shutil.ignore_patterns(".storage", "*.db*", "*.log", "bess")
    )
    (config / "custom_components" / "bess").symlink_to(ROOT / "custom_components" / "bess")
    port = _free_port()
    yaml = (config / "configuration.yaml").read_text(encoding="utf-8")
    (config / "configuration.yaml").write_text(
        yaml.replace("server_port: 8123", f"server_port: {port}"), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(config)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "custom_components.bess_demo.dev_owner",
            str(config),
            "--token-file",
            str(tmp_path / "token"),
        ],
        check=True,
        env=env,
        cwd=config,
        capture_output=True,
    )
    token = (tmp_path / "token").read_text(encoding="utf-8").strip()
    log = (tmp_path / "hass.log").open("w")
    hass = subprocess.Popen(
        [sys.executable, "-m", "homeassistant", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Not the repository: `python -m` puts the working directory first on sys.path, and
        # the repository's custom_components would hide the demo's.
        cwd=config,
    )
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        hass.terminate()
        try:
            hass.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hass.kill()
        log.close()


def test_dashboard_shows_todays_plan_in_chromium(demo: tuple[str, str], tmp_path: Path) -> None:
    url, token = demo
    deadline = time.monotonic() + START_TIMEOUT_S
    view = None
    while time.monotonic() < deadline:
        view = _get(f"{url}/api/states/sensor.home_battery_daily_view", token)
        if view and view.get("attributes", {}).get("hours"):
            break
        time.sleep(1)
    assert view is not None, (tmp_path / "hass.log").read_text(encoding="utf-8")[-3000:]
    hours = view["attributes"]["hours"]
    assert len(hours) in (23, 24, 25)
    assert any(hour["source"] == "predicted" for hour in hours)

    shot = tmp_path / "dashboard.png"
    subprocess.run(
        [str(ROOT / "scripts" / "screenshot"), "/bess-battery/today", str(shot)],
        check=True,
        env={**os.environ, "BESS_URL": url, "SCREENSHOT_SIZE": "1200x1000"},
        cwd=ROOT,
        timeout=120,
    )
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 1000)
        # A real page, not a blank or an error screen: many distinct colours.
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 200
