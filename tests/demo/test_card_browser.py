"""The bess card in a real browser, against a real Home Assistant running the demo home.

`hass` runs on a copy of config/ on a free loopback port (as in test_screenshot.py), on the
clock of a fixed spring day (libfaketime). bess measures a period only once it has run through
all of it, so the demo first runs 120 times faster from mid-morning until bess has measured a
few periods; then Home Assistant restarts on the same day at normal speed, and Chromium (driven
over its DevTools protocol, with the page's clock set to the demo's) looks. The test checks
that custom:bess-card renders in the Battery dashboard with its chart (measured and planned
periods) and the savings of the entities, that the card picker offers it with a configuration
that works, prints how long the card takes to draw its chart, and saves the README's pictures:
docs/screenshot.png (light), docs/screenshot-dark.png and docs/screenshot-phone.png.

Skipped where no chromium (or no libfaketime) is installed, except under CI=true, where that
fails (scripts/ensure-chromium installs both) unless BESS_BROWSER_ELSEWHERE is set: the newest
stack's chroot has no browser, and the minimum stack runs the test. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import glob
import io
import itertools
import json
import os
from pathlib import Path
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import aiohttp
import pytest

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
CHROMIUM = next((path for name in BROWSERS if (path := shutil.which(name))), None)
LIBFAKETIME = next(
    iter(
        sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
        + glob.glob("/usr/lib/faketime/libfaketimeMT.so.1")
    ),
    None,
)
IN_CI = os.environ.get("CI", "").lower() in {"true", "1"}

# The demo's clock: a clear spring day (the demo draws weather and prices from the date), from
# mid-morning. Fast, a 15-minute period passes in 7.5 s; a browser cannot keep up with that
# (Home Assistant wants its websocket's login within 10 s of its own time), so it looks later.
TIME_ZONE = ZoneInfo("Europe/Stockholm")  # config/configuration.yaml
CLOCK_START = datetime(2026, 4, 23, 9, 40, tzinfo=TIME_ZONE)
SPEED = 120
MEASURED_PERIODS = 6  # measured periods to run fast for (real time: about a minute)
START_TIMEOUT_S = 240
# Page loads on which the card's bundle ran before Home Assistant's (see REGISTRY_RACE) that
# the test reloads rather than fail: none, since the card defines itself in Home Assistant's
# registry whenever its bundle runs.
RACE_RETRIES = 0

DASHBOARD = "/bess-battery/today"
DAILY_VIEW = "sensor.home_battery_daily_view"
TOTAL = "sensor.home_battery_total_savings_today"
MEASURED = "sensor.home_battery_actual_savings_today"
PLANNED = "sensor.home_battery_predicted_savings_remaining"
TOMORROW = "sensor.home_battery_tomorrow_planned_savings"
MONTH = "sensor.home_battery_savings_this_month"
SAVINGS = (TOTAL, MEASURED, PLANNED, TOMORROW, MONTH)

DESKTOP = {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}

REGISTRY_RACE = (
    "Home Assistant imports the card's bundle (an extra module) beside its own app.js, which "
    "replaces window.customElements with a scoped-registry polyfill: a bundle that runs first "
    "defines bess-card in the browser's registry, which Lovelace no longer sees "
    '("Custom element doesn\'t exist: bess-card"). The card must define itself once '
    "Home Assistant has (customElements.whenDefined('home-assistant'))."
)

# Run in every page before its own scripts: the demo's day, a finder through shadow roots, and
# the moments (ms from navigation) the card's bundle defines it, Lovelace first configures a
# card, and a card first draws on its chart's canvas (uPlot draws with fill and stroke).
# `early`: the bundle defined the card in the browser's own registry, before Home Assistant put
# its own in place (REGISTRY_RACE): this page will never show the card.
PAGE_SCRIPT = """
(() => {
  const clock = __CLOCK__;
  const RealDate = Date;
  const now = () => clock.demo + (RealDate.now() - clock.real);
  class DemoDate extends RealDate {
    constructor(...args) {
      if (args.length) super(...args);
      else super(now());
    }
    static now() {
      return now();
    }
  }
  window.Date = new Proxy(DemoDate, { apply: () => new DemoDate().toString() });

  const probe = { firstDraw: null, defined: null, configured: null, early: null };
  window.__bessTest = probe;
  probe.find = (name) => {
    const walk = (root) => {
      for (const element of root.querySelectorAll("*")) {
        if (element.localName === name) return element;
        const found = element.shadowRoot && walk(element.shadowRoot);
        if (found) return found;
      }
      return null;
    };
    return walk(document);
  };
  const context = CanvasRenderingContext2D.prototype;
  for (const name of ["fill", "stroke"]) {
    const original = context[name];
    context[name] = function (...args) {
      if (probe.firstDraw === null) {
        const host = this.canvas.getRootNode && this.canvas.getRootNode().host;
        if (host && host.localName === "bess-card") {
          probe.firstDraw = performance.now();
          performance.mark("bess-card:first-draw");
        }
      }
      return original.apply(this, args);
    };
  }
  const browserRegistry = window.customElements;
  browserRegistry.whenDefined("bess-card").then(() => {
    probe.defined = performance.now();
    probe.early = window.customElements === browserRegistry;
    performance.mark("bess-card:defined");
    // Not the promise's value: Home Assistant's registry polyfill gives a stand-in there.
    const Card = window.customElements.get("bess-card");
    if (!Card) return;
    const setConfig = Card.prototype.setConfig;
    Card.prototype.setConfig = function (config) {
      if (probe.configured === null) probe.configured = performance.now();
      return setConfig.call(this, config);
    };
  });
})();
"""

# What the card shows. The card has no public hook on its chart, so its series are read from
# its uPlot instance (`_plot`): index 0 is time, then one array per series, null where none.
CARD_STATE = """
(() => {
  const card = window.__bessTest.find("bess-card");
  const root = card && card.shadowRoot;
  if (!root || !root.querySelector("ha-card")) return null;
  const plot = card._plot;
  const text = (node) => (node ? node.textContent.trim() : null);
  const values = (label) => {
    const index = plot ? plot.series.findIndex((s) => (s.label || "").startsWith(label)) : -1;
    return index > 0 ? plot.data[index].filter((v) => v !== null && v !== undefined) : [];
  };
  const haCard = root.querySelector("ha-card");
  const box = card.getBoundingClientRect();
  return {
    header: haCard.header || null,
    warning: text(root.querySelector(".warning")),
    uplot: Boolean(root.querySelector("#chart .uplot .u-over")),
    canvases: [...root.querySelectorAll("#chart canvas")].map((c) => [c.width, c.height]),
    series: plot ? plot.series.map((s) => s.label || null) : [],
    points: plot ? plot.data[0].length : 0,
    firstX: plot ? plot.data[0][0] : null,
    measured: values("Battery, measured").length,
    planned: values("Battery, planned").length,
    price: values("Buy price").length,
    soc: values("SOC").length,
    plotWidth: plot ? plot.width : null,
    cardWidth: box.width,
    cardBottom: box.bottom,
    background: getComputedStyle(haCard).backgroundColor,
    tiles: [...root.querySelectorAll(".tile")].map((tile) => ({
      label: text(tile.querySelector(".label")),
      value: text(tile.querySelector(".value")),
      details: [...tile.querySelectorAll(".detail")].map(text),
    })),
  };
})()
"""

# "Add card" in a dashboard: the picker lists window.customCards and configures a new card with
# its getStubConfig(hass); that configuration must render the battery, and the editor exist.
PICKER = """
(async () => {
  const hass = document.querySelector("home-assistant").hass;
  const Card = customElements.get("bess-card");
  const stub = Card.getStubConfig(hass);
  const card = document.createElement("bess-card");
  card.setConfig(stub);
  card.hass = hass;
  card.style.width = "600px";
  document.body.appendChild(card);
  await card.updateComplete;
  const root = card.shadowRoot;
  const result = {
    listed: (window.customCards || []).filter((c) => c.type === "bess-card"),
    stub,
    editor: Card.getConfigElement().localName,
    editorDefined: Boolean(customElements.get("bess-card-editor")),
    renders: Boolean(root.querySelector("ha-card")) && !root.querySelector(".warning"),
    tiles: root.querySelectorAll(".tile").length,
  };
  card.remove();
  return result;
})()
"""

# What a page that failed to show the card shows instead.
DEBUG = """
(() => {
  const probe = window.__bessTest;
  const card = probe && probe.find("bess-card");
  const ha = document.querySelector("home-assistant");
  return {
    href: location.href,
    connected: Boolean(ha && ha.hass && ha.hass.connected),
    card: Boolean(card),
    plot: Boolean(card && card._plot),
    timings: probe && [probe.defined, probe.configured, probe.firstDraw],
    early: probe && probe.early,
  };
})()
"""


@dataclass
class Demo:
    """A demo home in a real Home Assistant: its URL, an API token, its log."""

    url: str
    token: str
    log: Path

    def log_tail(self) -> str:
        """The end of Home Assistant's log, for a failure's message."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


class DevToolsError(RuntimeError):
    """A DevTools command failed (or the page it ran in went away)."""


class CardMissingError(AssertionError):
    """The page never showed the card."""


class DevTools:
    """One Chromium page, driven over the DevTools protocol: JSON messages on a websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, debug_dir: Path) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.exceptions: list[str] = []
        self.debug_dir = debug_dir
        # Events by method: called with the event's parameters as they arrive.
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; hand the events meanwhile to `handlers`."""
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            event = data.get("method")
            if event == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                exception = details.get("exception") or {}
                self.exceptions.append(str(exception.get("description") or details.get("text")))
            elif event in self.handlers:
                outcome = self.handlers[event](data["params"])
                if asyncio.iscoroutine(outcome):
                    task = asyncio.ensure_future(outcome)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            elif data.get("id") == message_id:
                if "error" in data:
                    raise DevToolsError(f"{method}: {data['error']}")
                result: dict[str, Any] = data["result"]
                return result
        raise DevToolsError("Chromium closed the connection")

    async def send(self, method: str, **params: Any) -> None:
        """Send a command without waiting for its answer (from an event's handler)."""
        await self._ws.send_json({"id": next(self._ids), "method": method, "params": params})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise DevToolsError(str((details.get("exception") or {}).get("description", details)))
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, within_s: float = 30.0) -> Any:
        """Poll an expression until it is truthy, through the page's reloads and redirects."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                value = await self.evaluate(expression)
            except DevToolsError:
                value = None  # the login redirects replace the page under us
            if value:
                return value
            if time.monotonic() > deadline:
                raise CardMissingError(f"{what}: not within {within_s:.0f} s; {await self.debug()}")
            await asyncio.sleep(0.05)

    async def debug(self) -> str:
        """What the page shows, for a failure's message (and a picture of it, saved)."""
        try:
            picture = self.debug_dir / f"page-{next(self._ids)}.png"
            picture.write_bytes(await self.screenshot())
            state = await self.evaluate(DEBUG)
        except DevToolsError as err:
            return f"the page does not answer: {err}"
        return f"page: {state}, picture: {picture}, exceptions: {self.exceptions[-5:]}"

    async def screenshot(self, height: float | None = None) -> bytes:
        """The page as it is now, as PNG; only its top `height` pixels if given."""
        params: dict[str, Any] = {"format": "png"}
        if height is not None:
            width = await self.evaluate("window.innerWidth")
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = await self.call("Page.captureScreenshot", **params)
        return base64.b64decode(shot["data"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tools(*, faketime: bool = True) -> tuple[str, str | None]:
    """Chromium (and libfaketime); without them skip, or under CI fail."""
    wanted = [("chromium", CHROMIUM)] + ([("libfaketime", LIBFAKETIME)] if faketime else [])
    missing = [what for what, path in wanted if path is None]
    if missing:
        message = f"needs {' and '.join(missing)} (see scripts/ensure-chromium)"
        if IN_CI and not os.environ.get("BESS_BROWSER_ELSEWHERE"):
            pytest.fail(f"{message}; CI must run the browser test")
        pytest.skip(message)
    assert CHROMIUM is not None
    return CHROMIUM, LIBFAKETIME


def _get(demo: Demo, path: str, body: Any = None) -> Any:
    """GET (or POST `body` to) Home Assistant's REST API; None while it does not answer."""
    request = urllib.request.Request(
        f"{demo.url}/api/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {demo.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _demo_now(demo: Demo) -> datetime:
    """Home Assistant's time now (its fake clock's)."""
    now = _get(demo, "template", {"template": "{{ now().timestamp() }}"})
    assert now is not None, demo.log_tail()
    return datetime.fromtimestamp(float(now), UTC)


def _measured(demo: Demo) -> int | None:
    """How many of today's periods bess has measured; None until it plans the rest of the day."""
    view = _get(demo, f"states/{DAILY_VIEW}") or {}
    periods = view.get("attributes", {}).get("periods") or []
    if not any(period["source"] == "predicted" for period in periods):
        return None
    return sum(1 for period in periods if period["source"] == "actual")


def _wait_for_periods(demo: Demo, hass: subprocess.Popen[bytes], measured: int) -> None:
    """Wait until bess plans the rest of the day and has measured `measured` periods."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while (found := _measured(demo)) is None or found < measured:
        assert hass.poll() is None, f"Home Assistant exited\n{demo.log_tail()}"
        assert time.monotonic() < deadline, f"bess measured too little\n{demo.log_tail()}"
        time.sleep(0.5)


def _stop(hass: subprocess.Popen[bytes]) -> None:
    hass.terminate()
    try:
        hass.wait(timeout=30)
    except subprocess.TimeoutExpired:
        hass.kill()
        hass.wait()


@contextlib.contextmanager
def _demo_home(tmp_path: Path, libfaketime: str | None) -> Iterator[Demo]:
    """The demo home in a real Home Assistant on a free port; stopped when done.

    With libfaketime, on the demo's day: fast until bess has measured MEASURED_PERIODS periods,
    then at normal speed. Without, today, as scripts/develop runs it.
    """
    config = tmp_path / "config"
    shutil.copytree(
        ROOT / "config", config, ignore=shutil.ignore_patterns(".storage", "*.db*", "*.log", "bess")
    )
    (config / "custom_components" / "bess").symlink_to(ROOT / "custom_components" / "bess")
    # Older than the demo's clock: a YAML dashboard changed after Home Assistant's now would
    # count as changed at every load ("Your dashboard was updated").
    for dashboard in (config / "dashboards").iterdir():
        os.utime(dashboard, (CLOCK_START.timestamp() - 86400,) * 2)
    port = _free_port()
    yaml = (config / "configuration.yaml").read_text(encoding="utf-8")
    (config / "configuration.yaml").write_text(
        yaml.replace("server_port: 8123", f"server_port: {port}"), encoding="utf-8"
    )
    env = dict(os.environ)
    if libfaketime:
        # FAKETIME's start is read in the process's zone (UTC); Home Assistant keeps its own.
        env |= {"TZ": "UTC", "LD_PRELOAD": libfaketime}

    def clock(start: datetime, speed: int = 1) -> dict[str, str]:
        if not libfaketime:
            return {}
        return {"FAKETIME": f"@{start.astimezone(UTC):%Y-%m-%d %H:%M:%S} x{speed}"}

    # The owner and its token are made on the demo's clock too: a token issued later than
    # Home Assistant's now would not be valid yet.
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
        env=env | clock(CLOCK_START, SPEED) | {"PYTHONPATH": str(config)},
        cwd=config,
        capture_output=True,
    )
    token = (tmp_path / "token").read_text(encoding="utf-8").strip()
    demo = Demo(f"http://127.0.0.1:{port}", token, tmp_path / "hass.log")
    with demo.log.open("w") as log:

        def start(faketime: dict[str, str]) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "homeassistant", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env | faketime,
                # Not the repository: `python -m` puts the working directory first on
                # sys.path, and the repository's custom_components would hide the demo's.
                cwd=config,
            )

        measured, faketime = 0, {}
        if libfaketime:
            hass = start(clock(CLOCK_START, SPEED))
            try:
                _wait_for_periods(demo, hass, MEASURED_PERIODS)
                now, real = _demo_now(demo), time.monotonic()
            finally:
                _stop(hass)
            # Restart where the fast clock stopped (never earlier: the stores and the
            # recorder hold that time), at normal speed; bess keeps what it measured.
            stopped = now + timedelta(seconds=(time.monotonic() - real) * SPEED + 60)
            log.write(f"--- restarted at {stopped.isoformat()}, at normal speed ---\n")
            log.flush()
            measured, faketime = MEASURED_PERIODS, clock(stopped)
        hass = start(faketime)
        try:
            _wait_for_periods(demo, hass, measured)
            yield demo
        finally:
            _stop(hass)


@pytest.fixture
def demo(tmp_path: Path, socket_enabled: None) -> Iterator[Demo]:
    """The demo home on its day, with measured periods behind it; at normal speed."""
    _, libfaketime = _tools()
    with _demo_home(tmp_path, libfaketime) as home:
        yield home


@pytest.fixture
def plain_demo(tmp_path: Path, socket_enabled: None) -> Iterator[Demo]:
    """The demo home just started, today, on the real clock."""
    _tools(faketime=False)
    with _demo_home(tmp_path, None) as home:
        yield home


@contextlib.asynccontextmanager
async def _chromium(
    binary: str, session: aiohttp.ClientSession
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A headless Chromium that reaches nothing but 127.0.0.1; yields its page's websocket."""
    profile = Path(tempfile.mkdtemp(prefix="bess-chromium-"))
    browser = await asyncio.create_subprocess_exec(
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-extensions",
        "--disable-sync",
        "--disable-quic",
        "--mute-audio",
        "--hide-scrollbars",
        "--lang=en-US",
        # Names resolve to nothing: only the loopback address is reachable.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # The demo's time zone, so that the card's times are those of the demo's dashboards.
        env={**os.environ, "TZ": str(TIME_ZONE), "LANG": "en_US.UTF-8"},
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert browser.returncode is None, "Chromium exited at start"
            await asyncio.sleep(0.05)
        port = port_file.read_text().split()[0]
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in await response.json() if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            yield ws
    finally:
        if browser.returncode is None:
            browser.terminate()
        try:
            await asyncio.wait_for(browser.wait(), 10)
        except TimeoutError:
            browser.kill()
            await browser.wait()
        # Chromium's helper processes may still be writing to the profile for a moment.
        for _ in range(20):
            shutil.rmtree(profile, ignore_errors=True)
            if not profile.exists():
                break
            await asyncio.sleep(0.1)


async def _api(session: aiohttp.ClientSession, demo: Demo, path: str, body: Any = None) -> Any:
    """GET (or POST `body` to) Home Assistant's REST API; None while it does not answer."""
    headers = {"Authorization": f"Bearer {demo.token}"}
    method = "GET" if body is None else "POST"
    try:
        async with session.request(
            method,
            f"{demo.url}/api/{path}",
            json=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response:
            if response.status != 200:
                return None
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError):
        return None


@contextlib.asynccontextmanager
async def _page(
    session: aiohttp.ClientSession, demo: Demo, browser: str
) -> AsyncIterator[DevTools]:
    """A desktop-sized page in light mode, its clock on the demo's, before its first visit."""
    before = time.time()
    now = await _api(session, demo, "template", {"template": "{{ now().timestamp() }}"})
    after = time.time()
    assert now is not None, demo.log_tail()
    clock = {"real": (before + after) / 2 * 1000, "demo": float(now) * 1000}
    async with _chromium(browser, session) as ws:
        page = DevTools(ws, demo.log.parent)
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        await page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source=PAGE_SCRIPT.replace("__CLOCK__", json.dumps(clock)),
        )
        await page.call("Emulation.setDeviceMetricsOverride", **DESKTOP)
        await page.call("Emulation.setEmulatedMedia", features=_scheme("light"))
        yield page


def _scheme(name: str) -> list[dict[str, str]]:
    """The media feature of a light or dark system theme (which Home Assistant follows)."""
    return [{"name": "prefers-color-scheme", "value": name}]


async def _states(session: aiohttp.ClientSession, demo: Demo) -> dict[str, dict[str, Any]]:
    """The states of the daily view and the savings sensors, by entity id."""
    found = {}
    for entity_id in (DAILY_VIEW, *SAVINGS):
        state = await _api(session, demo, f"states/{entity_id}")
        assert state is not None, f"{entity_id} is missing\n{demo.log_tail()}"
        found[entity_id] = state
    return found


def _periods(view: dict[str, Any], sources: set[str]) -> int:
    """The periods of the daily view from these sources that have a battery power."""
    return sum(
        1
        for period in view["attributes"]["periods"]
        if period["source"] in sources and period.get("battery_action_kw") is not None
    )


def _money(text: str | None, unit: str) -> float:
    """The amount of a money figure as the card shows it ("1,234.56 EUR")."""
    assert text is not None
    match = re.fullmatch(rf"([-−]?[\d,]+\.\d\d) {re.escape(unit)}", text)
    assert match, f"not an amount in {unit}: {text!r}"
    return float(match[1].replace(",", "").replace("−", "-"))


def _check_savings(card: dict[str, Any], states: dict[str, dict[str, Any]]) -> None:
    """The card's savings figures are the savings sensors' states, rounded to cents."""
    unit = states[TOTAL]["attributes"]["unit_of_measurement"]
    tiles = {tile["label"]: tile for tile in card["tiles"]}
    assert set(tiles) >= {"Saved today", "Tomorrow, planned", "This month", "Control"}, tiles

    def shown(label: str, text: str | None, entity_id: str) -> None:
        expected = float(states[entity_id]["state"])
        assert _money(text, unit) == pytest.approx(expected, abs=0.0051), (label, entity_id)

    today = tiles["Saved today"]
    shown("Saved today", today["value"], TOTAL)
    details = {detail.rsplit(" ", 1)[1]: detail.rsplit(" ", 1)[0] for detail in today["details"]}
    shown("measured", details["measured"], MEASURED)
    shown("planned", details["planned"], PLANNED)
    shown("This month", tiles["This month"]["value"], MONTH)
    tomorrow = states[TOMORROW]["state"]
    try:
        float(tomorrow)
    except ValueError:
        # Not planned yet: the card shows the plan's status instead of an amount.
        assert not tiles["Tomorrow, planned"]["value"].endswith(unit), tiles
    else:
        shown("Tomorrow", tiles["Tomorrow, planned"]["value"], TOMORROW)
    assert tiles["Control"]["value"] not in {"", "—"}, tiles


async def _open(page: DevTools, url: str | None, what: str) -> dict[str, Any]:
    """Open `url` (or reload) until the card draws its chart; the probe's timings (ms).

    A load on which the card's bundle ran first (REGISTRY_RACE) is reloaded, with a warning,
    up to RACE_RETRIES times.
    """
    for attempt in range(RACE_RETRIES + 1):
        # Until the new document replaces it, the old one (and its timings) answers.
        old = await page.evaluate("performance.timeOrigin")
        if url is None or attempt:
            await page.call("Page.reload")
        else:
            await page.call("Page.navigate", url=url)
        result: dict[str, Any] = await page.wait_for(
            f"performance.timeOrigin !== {old} && window.__bessTest &&"
            " (__bessTest.firstDraw !== null || __bessTest.early) &&"
            " ({firstDraw: __bessTest.firstDraw, defined: __bessTest.defined,"
            " configured: __bessTest.configured, early: __bessTest.early,"
            " origin: performance.timeOrigin, href: location.href})",
            f"{what}: the bess card's first chart draw",
        )
        if not result["early"]:
            return result
        print(f"\nWARNING {what}: the card's bundle ran before Home Assistant's registry")
    raise CardMissingError(f"{what}: {REGISTRY_RACE}")


async def _settled(page: DevTools) -> None:
    """Let the other cards fetch their history and the page finish drawing."""
    await page.wait_for(
        "(() => { const c = __bessTest.find('bess-card'); return c && c._plot && "
        "c.shadowRoot.querySelectorAll('.tile').length; })()",
        "the card's summary and chart",
    )
    await asyncio.sleep(3)


async def _drive(demo: Demo, browser: str) -> dict[str, bytes]:
    """Everything the browser checks; returns the screenshots by file name."""
    shots: dict[str, bytes] = {}
    async with aiohttp.ClientSession() as session, _page(session, demo, browser) as page:
        # The first visit logs in (the trusted network's redirects), then a warm reload:
        # from navigation to the card's first chart draw, in Chromium's own timeline.
        navigated = time.time() * 1000
        cold = await _open(page, demo.url + DASHBOARD, "first visit")
        assert cold["href"].startswith(demo.url + DASHBOARD), cold
        warm = await _open(page, None, "reload")
        cold_ms = cold["origin"] + cold["firstDraw"] - navigated
        print(
            f"\nbess-card first render in Chromium: {warm['firstDraw']:.0f} ms from "
            f"navigation to the first chart draw (bundle loaded at {warm['defined']:.0f} ms, "
            f"card configured at {warm['configured']:.0f} ms); first visit, login "
            f"redirects included: {cold_ms:.0f} ms"
        )

        # The card, its chart and its savings, against the REST API. Should a period end
        # meanwhile, read the states before and after the page until they agree (with
        # time for a change just before to reach the page over its websocket).
        for _ in range(10):
            before = await _states(session, demo)
            await asyncio.sleep(0.3)
            card = await page.evaluate(CARD_STATE)
            after = await _states(session, demo)
            if before == after:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the demo's states never held still")
        assert card is not None, "no bess-card with an ha-card in the dashboard"
        assert card["warning"] is None, card["warning"]
        assert card["header"] == "Home battery", card
        assert card["uplot"], "no uPlot chart in the card"
        assert card["canvases"], "the chart has no canvas"
        assert all(w > 0 and h > 0 for w, h in card["canvases"]), card["canvases"]
        assert card["series"][1:] == [
            "Battery, measured (kW)",
            "Battery, planned (kW)",
            "Buy price",
            "SOC (%)",
        ], card["series"]
        view = before[DAILY_VIEW]
        periods = view["attributes"]["periods"]
        measured = _periods(view, {"actual", "partial"})
        assert measured >= MEASURED_PERIODS
        assert card["measured"] == measured, (card["measured"], measured)
        assert card["planned"] == _periods(view, {"predicted"}) > 0, card["planned"]
        assert card["points"] >= len(periods) + 1, card["points"]
        first = datetime.fromisoformat(periods[0]["start"]).timestamp()
        assert card["firstX"] == first, (card["firstX"], periods[0]["start"])
        assert card["price"] > 0
        assert card["soc"] > 0
        _check_savings(card, before)

        # A new user: Add card → "BESS battery", with no YAML.
        picker = await page.evaluate(PICKER)
        assert [c["name"] for c in picker["listed"]] == ["BESS battery"], picker
        assert picker["listed"][0]["preview"] is True, picker
        assert picker["stub"]["entity"] == DAILY_VIEW, picker
        assert picker["editor"] == "bess-card-editor", picker
        assert picker["editorDefined"], picker
        assert picker["renders"], picker
        assert picker["tiles"] >= 3, picker

        # The desktop pictures: the top of the dashboard, down to just below the card.
        await _settled(page)
        top = (await page.evaluate(CARD_STATE))["cardBottom"] + 24
        shots["screenshot.png"] = await page.screenshot(top)
        assert _luminance(card["background"]) > 0.8, card["background"]

        await page.call("Emulation.setEmulatedMedia", features=_scheme("dark"))
        await _open(page, None, "dark theme")
        await _settled(page)
        dark = await page.evaluate(CARD_STATE)
        assert _luminance(dark["background"]) < 0.3, dark["background"]
        assert dark["measured"] > 0, dark
        assert dark["planned"] > 0, dark
        shots["screenshot-dark.png"] = await page.screenshot(top)

        await page.call("Emulation.setEmulatedMedia", features=_scheme("light"))
        await page.call("Emulation.setDeviceMetricsOverride", **PHONE)
        await _open(page, None, "phone")
        await _settled(page)
        phone = await page.evaluate(CARD_STATE)
        assert phone["cardWidth"] <= PHONE["width"], phone["cardWidth"]
        assert phone["plotWidth"] <= phone["cardWidth"], phone
        assert phone["measured"] > 0, phone
        assert phone["planned"] > 0, phone
        shots["screenshot-phone.png"] = await page.screenshot()

        errors = [error for error in page.exceptions if "bess" in error.lower()]
        assert not errors, errors
    return shots


def _luminance(css: str) -> float:
    """The lightness (0–1) of a CSS rgb()/rgba() color."""
    match = re.match(r"rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)", css)
    assert match, css
    red, green, blue = (float(value) / 255 for value in match.groups())
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_bess_card_in_chromium(demo: Demo) -> None:
    browser, _ = _tools()
    shots = asyncio.run(_drive(demo, browser))

    from PIL import Image

    widths = {
        "screenshot.png": DESKTOP["width"],
        "screenshot-dark.png": DESKTOP["width"],
        "screenshot-phone.png": PHONE["width"],
    }
    for name, data in shots.items():
        with Image.open(io.BytesIO(data)) as image:
            assert image.width == widths[name], (name, image.size)
            assert image.height >= 400, (name, image.size)
            # A real page, not a blank or an error screen: many distinct colours.
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
            assert len(colours) > 200, name
    # The README's pictures, written only once everything above holds.
    for name, data in shots.items():
        (DOCS / name).write_bytes(data)


async def _bundle_first(demo: Demo, browser: str) -> None:
    """Load the dashboard with Home Assistant's app.js held back until the card's bundle ran."""
    async with aiohttp.ClientSession() as session, _page(session, demo, browser) as page:
        await _open(page, demo.url + DASHBOARD, "first visit")
        released: list[str] = []

        async def hold(params: dict[str, Any]) -> None:
            url = params["request"]["url"]
            if "/frontend_latest/app." in url:
                await asyncio.sleep(1.5)
            released.append(url)
            await page.send("Fetch.continueRequest", requestId=params["requestId"])

        page.handlers["Fetch.requestPaused"] = hold
        await page.call("Network.enable")
        # Served from no cache, so that every load goes through the hold above.
        await page.call("Network.setCacheDisabled", cacheDisabled=True)
        await page.call("Network.setBypassServiceWorker", bypass=True)
        patterns = [{"urlPattern": "*/frontend_latest/app.*"}, {"urlPattern": "*/bess/*"}]
        await page.call("Fetch.enable", patterns=patterns)
        await page.call("Page.reload")
        await asyncio.sleep(0.5)
        await page.wait_for(
            "(() => { const c = __bessTest.find('bess-card'); return c && c._plot; })()",
            "the card, its bundle loaded before Home Assistant's app.js",
            within_s=15,
        )
        assert [url.split("/")[-2] for url in released[:2]] == ["bess", "frontend_latest"]


def test_the_card_shows_when_its_bundle_runs_before_home_assistants(plain_demo: Demo) -> None:
    browser, _ = _tools(faketime=False)
    asyncio.run(_bundle_first(plain_demo, browser))
