"""End-to-end check: a real Home Assistant 2026.11 takes a clip through HomeSec.

Run with the develop venv (Home Assistant and nothing of HomeSec's), through scripts/in-python314:

    scripts/in-python314 .venvs/develop/bin/python scripts/e2e_check.py [--keep]

It seeds a fresh temporary config folder exactly as scripts/develop seeds config/ (loopback-only
network, login dev / homesec-dev, the HomeSec entry with the "Demo camera" watched folder),
starts `hass` on a free 127.0.0.1 port, logs in through the login flow, subscribes over the
websocket API, drops a small H.264 clip (scripts/demo_clip, run with this venv's PyAV, which
Home Assistant installed from HomeSec's manifest) into the watched folder and asserts:

* a `homesec_nvr_clip_processed` event for that clip with status `done`;
* `sensor.demo_camera_clips_today` is 1 and `event.demo_camera_activity` names the clip;
* a persistent notification for the clip, whose snapshot and clip links open with no login
  (and a tampered link is a 401);
* headless Chromium, logged in to the real frontend, opens the notification drawer and shows
  that notification's snapshot loaded and its clip link (scripts/e2e_browser.py; a screenshot
  is saved under /tmp/homesec-e2e/ and its path printed);
* Home Assistant's log has no frame-helper report naming the integration ("custom integration
  'homesec_nvr'"), no failed-authentication warning (http.ban), and no ERROR or traceback
  from `custom_components.homesec_nvr` (nor any other ERROR that names homesec_nvr).

Home Assistant is stopped (SIGTERM, then SIGKILL) in every case. The last line is the verdict
with timings. The first run lets Home Assistant install its own and HomeSec's requirements into
the venv (minutes); later runs take seconds. Uses only what Home Assistant's venv has (aiohttp).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import e2e_browser

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = REPO_ROOT / "scripts" / "develop_seed.py"
DEMO_CLIP = REPO_ROOT / "scripts" / "demo_clip"

DOMAIN = "homesec_nvr"
USERNAME = "dev"
PASSWORD = "homesec-dev"  # the public development login of scripts/develop_seed.py
CAMERA = "Demo camera"
CLIPS_TODAY = "sensor.demo_camera_clips_today"
ACTIVITY_EVENT = "event.demo_camera_activity"
EVENT_CLIP_PROCESSED = "homesec_nvr_clip_processed"

START_TIMEOUT = float(os.environ.get("HOMESEC_E2E_START_TIMEOUT", "900"))
CLIP_TIMEOUT = float(os.environ.get("HOMESEC_E2E_CLIP_TIMEOUT", "90"))
STOP_TIMEOUT = 60.0
LOG_TAIL_LINES = 120

_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?:[+-]\d\d:\d\d)? "
    r"(?P<level>[A-Z]+) \((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] "
)
_FRAME_REPORT = f"custom integration '{DOMAIN}'"


class CheckFailed(Exception):
    """The check failed; the message says why."""


def _say(message: str) -> None:
    print(f"e2e: {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child: SIGTERM when this check dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_quiet(args: list[str], what: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise CheckFailed(f"{what} failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return result.stdout


# --- Home Assistant process ---------------------------------------------------------------


@dataclass
class HomeAssistantProcess:
    config_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    output: Path = field(init=False)

    def __post_init__(self) -> None:
        self.output = self.config_dir / "hass.out"

    @property
    def log_file(self) -> Path:
        return self.config_dir / "home-assistant.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "HOMESEC_DEV_MEDIA_DIR": str(self.config_dir / "media"),
            "HOMESEC_DEV_PORT": str(self.port),
        }
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "homeassistant",
                    "--config",
                    str(self.config_dir),
                    "--log-no-color",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: uv/pip children stop with it
                preexec_fn=_die_with_parent,  # no threads yet
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> str:
        """SIGTERM, wait, then SIGKILL the process group. Returns how it ended."""
        if self.proc is None:
            return "not started"
        if self.proc.poll() is not None:
            self._kill_group()  # leftovers (an install in flight)
            return f"had exited ({self.proc.returncode})"
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.proc.wait(10)
            return f"killed after {STOP_TIMEOUT:.0f} s"
        self._kill_group()
        return f"stopped ({self.proc.returncode})"

    def _kill_group(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def log_text(self) -> str:
        """Its console output (the log plus anything printed before logging started)."""
        for path in (self.output, self.log_file):
            if path.is_file() and path.stat().st_size:
                return path.read_text(encoding="utf-8", errors="replace")
        return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log_text().splitlines()
        return "\n".join(text[-lines:]) or "(no log)"


# --- Log check ----------------------------------------------------------------------------


def _records(text: str) -> Iterator[tuple[str, str, list[str]]]:
    """(level, logger, lines) per log record; continuation lines belong to their record."""
    level = logger = ""
    lines: list[str] = []
    for line in text.splitlines():
        match = _RECORD.match(line)
        if match:
            if lines:
                yield level, logger, lines
            level, logger, lines = match["level"], match["logger"], [line]
        elif lines:
            lines.append(line)
        else:
            yield "", "", [line]  # output before the first record (e.g. a crash)
    if lines:
        yield level, logger, lines


def log_problems(text: str) -> list[str]:
    """Log records that fail the check (first line of each)."""
    problems = []
    ours = f"custom_components.{DOMAIN}"
    for level, logger, lines in _records(text):
        body = "\n".join(lines)
        is_ours = logger == ours or logger.startswith(ours + ".")
        bad = (
            _FRAME_REPORT in body
            or (is_ours and (level in ("ERROR", "CRITICAL") or "Traceback" in body))
            or (level in ("ERROR", "CRITICAL") and DOMAIN in body)
            or ("Traceback" in body and f"custom_components/{DOMAIN}/" in body)
            # http.ban: a link that made the browser fail authentication (IP ban risk)
            or "invalid authentication" in body
        )
        if bad:
            problems.append(lines[0][:400])
    return problems


# --- API ----------------------------------------------------------------------------------


class Api:
    """Home Assistant's REST and websocket APIs, logged in as the dev user."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url
        self._token = ""
        self.tokens: dict[str, Any] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 1
        self._results: dict[int, asyncio.Future[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.notifications: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._event_sub = self._notify_sub = -1

    async def login(self) -> None:
        client_id = f"{self._url}/"
        async with self._session.post(
            f"{self._url}/auth/login_flow",
            json={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": client_id,
            },
        ) as resp:
            flow = await resp.json()
        async with self._session.post(
            f"{self._url}/auth/login_flow/{flow['flow_id']}",
            json={"username": USERNAME, "password": PASSWORD, "client_id": client_id},
        ) as resp:
            step = await resp.json()
        if step.get("type") != "create_entry":
            raise CheckFailed(f"login as {USERNAME!r} refused: {step}")
        async with self._session.post(
            f"{self._url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": step["result"],
                "client_id": client_id,
            },
        ) as resp:
            token = await resp.json()
        self._token = token["access_token"]
        # The whole answer (refresh token, expiry): the browser part logs the frontend in.
        self.tokens = token

    async def get(self, path: str) -> Any:
        async with self._session.get(
            f"{self._url}{path}", headers={"Authorization": f"Bearer {self._token}"}
        ) as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return await resp.json()

    async def get_unauthenticated(self, path: str) -> tuple[int, str]:
        """(status, content type) of a request with no credentials at all."""
        async with (
            aiohttp.ClientSession() as anonymous,
            anonymous.get(f"{self._url}{path}") as resp,
        ):
            await resp.read()
            return resp.status, resp.headers.get("Content-Type", "")

    async def connect(self) -> None:
        self._ws = await self._session.ws_connect(f"{self._url}/api/websocket", heartbeat=30)
        hello = await self._ws.receive_json()
        assert hello["type"] == "auth_required", hello
        await self._ws.send_json({"type": "auth", "access_token": self._token})
        answer = await self._ws.receive_json()
        if answer["type"] != "auth_ok":
            raise CheckFailed(f"websocket authentication failed: {answer}")
        self._reader = asyncio.create_task(self._read())
        self._event_sub = await self._subscribe(
            {"type": "subscribe_events", "event_type": EVENT_CLIP_PROCESSED}
        )
        self._notify_sub = await self._subscribe({"type": "persistent_notification/subscribe"})

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()

    async def command(self, message: dict[str, Any]) -> Any:
        assert self._ws is not None
        msg_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[msg_id] = future
        await self._ws.send_json({**message, "id": msg_id})
        return await asyncio.wait_for(future, 30)

    async def _subscribe(self, message: dict[str, Any]) -> int:
        msg_id = self._next_id
        await self.command(message)
        return msg_id

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = msg.json()
            for item in data if isinstance(data, list) else [data]:
                self._dispatch(item)
        self._changed.set()

    def _dispatch(self, item: dict[str, Any]) -> None:
        if item.get("type") == "result":
            future = self._results.pop(item["id"], None)
            if future is not None and not future.done():
                if item.get("success"):
                    future.set_result(item.get("result"))
                else:
                    future.set_exception(CheckFailed(f"websocket command: {item.get('error')}"))
            return
        if item.get("type") != "event":
            return
        if item["id"] == self._event_sub:
            self.events.append(item["event"])
        elif item["id"] == self._notify_sub:
            update = item["event"]
            if update.get("type") == "removed":
                for key in update.get("notifications", {}):
                    self.notifications.pop(key, None)
            else:
                self.notifications.update(update.get("notifications", {}))
        self._changed.set()

    async def wait_for(self, what: str, found: Callable[[], Any], seconds: float) -> Any:
        """Wait until found() is truthy (re-checked on every websocket message and each 0.5 s)."""
        deadline = time.monotonic() + seconds
        while True:
            if result := found():
                return result
            if self._reader is not None and self._reader.done():
                raise CheckFailed(f"websocket closed while waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"timed out after {seconds:.0f} s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))


# --- The check ----------------------------------------------------------------------------


async def _wait_until_up(session: aiohttp.ClientSession, ha: HomeAssistantProcess) -> None:
    """Until the HTTP server answers (it starts before the integrations finish).

    Polls the login providers, which need no authentication (an unauthenticated /api/ would
    log an invalid-authentication warning).
    """
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if not ha.running():
            raise CheckFailed("Home Assistant exited during start-up")
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            async with session.get(
                f"{ha.url}/auth/providers", timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise CheckFailed(f"Home Assistant did not answer within {START_TIMEOUT:.0f} s")
        await asyncio.sleep(0.5)


async def _wait_until_running(api: Api, ha: HomeAssistantProcess) -> None:
    """Until Home Assistant says RUNNING and the HomeSec entry is loaded."""
    deadline = time.monotonic() + START_TIMEOUT
    running_since: float | None = None
    while True:
        if not ha.running():
            raise CheckFailed("Home Assistant exited during start-up")
        config = await api.get("/api/config")
        state = config.get("state")
        entries = await api.command({"type": "config_entries/get", "domain": DOMAIN})
        entry_state = entries[0]["state"] if entries else "missing"
        if state == "RUNNING" and entry_state == "loaded":
            return
        now = time.monotonic()
        if state == "RUNNING":
            running_since = running_since or now
        # Once Home Assistant runs, the entry has had its chance (a retry gets 30 s).
        if (
            now > deadline
            or (state == "RUNNING" and entry_state not in ("setup_retry", "setup_in_progress"))
            or (running_since is not None and now - running_since > 30)
        ):
            raise CheckFailed(f"Home Assistant {state}, the HomeSec config entry {entry_state}")
        await asyncio.sleep(0.5)


def _make_clip(staging: Path) -> Path:
    clip = staging / f"e2e_{time.strftime('%Y%m%d_%H%M%S')}.mp4"
    _run_quiet([sys.executable, str(DEMO_CLIP), str(clip)], "scripts/demo_clip")
    return clip


async def _check(
    ha: HomeAssistantProcess, timings: dict[str, float], started: float, notes: list[str]
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await _wait_until_up(session, ha)
        api = Api(session, ha.url)
        await api.login()
        await api.connect()
        try:
            await _wait_until_running(api, ha)
            timings["startup"] = time.monotonic() - started

            # The develop venv has PyAV now: Home Assistant installed HomeSec's requirements.
            clip = _make_clip(ha.config_dir / "staging")
            target = ha.config_dir / "homesec_demo" / "incoming" / clip.name
            dropped = time.monotonic()
            clip.replace(target)

            def processed() -> dict[str, Any] | None:
                for event in api.events:
                    data = event.get("data", {})
                    if data.get("metadata", {}).get("file_name") == clip.name:
                        return dict(data)
                return None

            data = await api.wait_for(
                f"{EVENT_CLIP_PROCESSED} for {clip.name}", processed, CLIP_TIMEOUT
            )
            timings["clip_to_event"] = time.monotonic() - dropped
            if data.get("status") != "done" or data.get("camera") != CAMERA:
                raise CheckFailed(f"clip processed with status {data.get('status')!r}: {data}")
            clip_id = data["clip_id"]
            await _check_entities_and_notification(api, clip_id)
            notes.append(await _check_in_browser(ha.url, api.tokens, clip_id))
        finally:
            await api.close()


async def _check_entities_and_notification(api: Api, clip_id: str) -> None:
    states: dict[str, Any] = {}

    async def refresh() -> None:
        for entity_id in (CLIPS_TODAY, ACTIVITY_EVENT):
            states[entity_id] = await api.get(f"/api/states/{entity_id}") or {}

    deadline = time.monotonic() + 10
    while True:
        await refresh()
        clips_today = states[CLIPS_TODAY].get("state")
        activity = states[ACTIVITY_EVENT]
        activity_ok = (
            activity.get("state") not in (None, "unknown", "unavailable")
            and activity.get("attributes", {}).get("clip_id") == clip_id
        )
        if clips_today == "1" and activity_ok:
            break
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"entities not updated: {CLIPS_TODAY}={clips_today!r}, "
                f"{ACTIVITY_EVENT}={activity.get('state')!r} "
                f"(clip_id {activity.get('attributes', {}).get('clip_id')!r})"
            )
        await asyncio.sleep(0.5)

    notification_id = f"homesec_{clip_id}"
    await api.wait_for(
        f"persistent notification {notification_id}",
        lambda: notification_id in api.notifications,
        10,
    )
    listed = await api.command({"type": "persistent_notification/get"})
    if not any(n.get("notification_id") == notification_id for n in listed):
        raise CheckFailed(f"persistent_notification/get does not list {notification_id}")
    await _check_links_open_without_login(api, api.notifications[notification_id])


async def _check_links_open_without_login(api: Api, notification: dict[str, Any]) -> None:
    """The notification's snapshot and clip links open with no session (as in a new browser
    tab or a phone), and a tampered one is an empty 401."""
    message = str(notification.get("message", ""))
    links = re.findall(r"\((/api/homesec_nvr/clips/[^)\s]+)\)", message)
    if len(links) != 2:
        raise CheckFailed(f"expected a snapshot and a clip link in the notification: {message!r}")
    for link, content_type in zip(links, ("image/jpeg", "video/mp4"), strict=True):
        status, got = await api.get_unauthenticated(link)
        if status != 200 or got != content_type:
            raise CheckFailed(f"{link.split('?')[0]} answered {status} {got} without a login")
    status, _ = await api.get_unauthenticated(links[1][:-4] + "0000")
    if status != 401:
        raise CheckFailed(f"a tampered link answered {status}, not 401")


async def _check_in_browser(url: str, tokens: dict[str, Any], clip_id: str) -> str:
    """Headless Chromium shows the notification's snapshot in the real frontend (e2e_browser)."""
    try:
        result = await e2e_browser.show_notification_snapshot(url, tokens, clip_id)
    except e2e_browser.BrowserCheckFailed as err:
        raise CheckFailed(f"browser: {err}") from None
    if result.skipped is not None:
        _say(f"browser check SKIPPED: {result.skipped}")
        return "browser check skipped"
    assert result.image_size is not None
    _say(f"screenshot of the notification drawer: {result.screenshot}")
    width, height = result.image_size
    return f"Chromium showed the snapshot ({width}x{height}) in {result.seconds:.1f} s"


def _installs(text: str) -> int:
    return len(re.findall(r"\[homeassistant\.util\.package\] Attempting install of ", text))


def _others_failed(text: str) -> list[str]:
    """Home Assistant's own integrations that failed to set up (not HomeSec's doing)."""
    failed = re.findall(r"\[homeassistant\.setup\] Setup failed for '([^']+)'", text)
    return sorted(set(failed) - {DOMAIN})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary config folder")
    args = parser.parse_args()

    # SIGTERM (e.g. CI cancelling) ends the check like Ctrl-C: Home Assistant is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    began = time.monotonic()
    config_dir = Path(tempfile.mkdtemp(prefix="homesec-e2e-"))
    ha = HomeAssistantProcess(config_dir, _free_port())
    timings: dict[str, float] = {}
    notes: list[str] = []
    failure: str | None = None
    ended = "not started"
    try:
        _run_quiet([sys.executable, str(SEED), str(config_dir)], "seeding the config folder")
        started = time.monotonic()
        ha.start()
        asyncio.run(_check(ha, timings, started, notes))
    except CheckFailed as err:
        failure = str(err)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        ended = ha.stop()
    log = ha.log_text()
    if problems := log_problems(log):
        report = "Home Assistant's log names HomeSec:\n  " + "\n  ".join(problems)
        failure = report if failure is None else f"{failure}\n{report}"
    version = re.search(r"Starting Home Assistant (\S+)", log)
    installs = _installs(log)
    if others := _others_failed(log):
        _say(
            "note: Home Assistant's own integrations failed to set up (see its log): "
            + ", ".join(others)
        )
    summary = (
        f"Home Assistant {version[1] if version else '?'}, "
        f"start-up {timings.get('startup', float('nan')):.1f} s, "
        f"clip to event {timings.get('clip_to_event', float('nan')):.1f} s, "
        + "".join(f"{note}, " for note in notes)
        + f"total {time.monotonic() - began:.1f} s"
        + (f", {installs} install attempts by Home Assistant" if installs else "")
        + f"; Home Assistant {ended}"
    )
    if failure is not None:
        print(f"--- Home Assistant log (last {LOG_TAIL_LINES} lines) ---", file=sys.stderr)
        print(ha.log_tail(), file=sys.stderr)
        print("--- end of log ---", file=sys.stderr)
        _say(f"config folder kept: {config_dir}")
        print(f"e2e: FAILED: {failure}\ne2e: {summary}", flush=True)
        return 1
    if args.keep:
        _say(f"config folder kept: {config_dir}")
    else:
        shutil.rmtree(config_dir, ignore_errors=True)
    print(f"e2e: ok: {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
