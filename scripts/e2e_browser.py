"""The end-to-end check's browser part: headless Chromium shows HomeSec's persistent
notification, snapshot loaded, in the real Home Assistant frontend.

Debian's Chromium (`/usr/bin/chromium`, installed by scripts/setup; `HOMESEC_E2E_CHROMIUM`
names another) runs headless with a fresh profile and is driven over the Chrome DevTools
protocol with aiohttp (no other dependency). The page gets the tokens of the check's login in
`localStorage.hassTokens` (what the frontend stores after its own login form), opens Home
Assistant, clicks the sidebar's Notifications button, and waits until the notification of the
clip shows its snapshot (`<img>` with `naturalWidth > 0`, searched through the frontend's
shadow roots) next to its *Open clip* link. A screenshot of the drawer is saved outside the
config folder and its path printed, pass or fail.

When Chromium is missing, the check fails (scripts/setup installs it) unless this machine
cannot install Debian packages at all (no apt-get): then it is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path(os.environ.get("HOMESEC_E2E_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium's own connections are refused here.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
START_TIMEOUT = 30.0
AGAIN_EVERY = 4.0
SHOW_TIMEOUT = float(os.environ.get("HOMESEC_E2E_BROWSER_TIMEOUT", "60"))
ARTEFACTS = Path(tempfile.gettempdir()) / "homesec-e2e"

# Every element of the page, through the frontend's shadow roots; `state(clip)` says how far
# the notification drawer got.
_PAGE_HELPERS = """
window.__homesecAll = (root, out = []) => {
  for (const el of root.querySelectorAll('*')) {
    out.push(el);
    if (el.shadowRoot) window.__homesecAll(el.shadowRoot, out);
  }
  return out;
};
window.__homesecState = (clip) => {
  const all = window.__homesecAll(document);
  const drawer = all.find((el) => el.localName === 'notification-drawer');
  const inDrawer = drawer ? window.__homesecAll(drawer.shadowRoot || drawer) : [];
  const img = inDrawer.find((el) => el.localName === 'img'
    && (el.getAttribute('src') || '').includes(`/api/homesec_nvr/clips/${clip}/snapshot`));
  const link = inDrawer.find((el) => el.localName === 'a'
    && (el.getAttribute('href') || '').includes(`/api/homesec_nvr/clips/${clip}/clip`));
  return {
    path: location.pathname,
    sidebar_button: all.some((el) => el.id === 'sidebar-notifications'),
    drawer: Boolean(drawer),
    notifications: inDrawer.filter((el) => el.localName === 'persistent-notification-item').length,
    img: img ? {src: img.getAttribute('src'), complete: img.complete,
                naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight} : null,
    link: link ? link.getAttribute('href') : null,
  };
};
window.__homesecOpenDrawer = () => {
  const button = window.__homesecAll(document).find((el) => el.id === 'sidebar-notifications');
  if (button) button.click();
  return Boolean(button);
};
"""


class BrowserCheckFailed(Exception):
    """The frontend did not show the notification's snapshot; the message says how far it got."""


@dataclass
class BrowserResult:
    """What the browser showed (None fields when skipped)."""

    skipped: str | None = None
    screenshot: Path | None = None
    image_size: tuple[int, int] | None = None
    seconds: float = 0.0


def chromium_missing_reason() -> str | None:
    """None when Chromium can run here, else what is missing."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return f"{CHROMIUM} is missing"


async def show_notification_snapshot(
    url: str, tokens: dict[str, Any], clip_id: str
) -> BrowserResult:
    """Log in to the frontend at `url` with `tokens`, open the notification drawer and wait for
    the clip's snapshot to be loaded. Raises BrowserCheckFailed (screenshot path included)."""
    started = time.monotonic()
    if (missing := chromium_missing_reason()) is not None:
        if shutil.which("apt-get") is None:
            return BrowserResult(skipped=f"{missing} and this machine has no apt-get")
        raise BrowserCheckFailed(
            f"{missing}: run scripts/setup (it installs Debian's chromium), "
            "or apt-get install --no-install-recommends chromium"
        )
    await asyncio.to_thread(ARTEFACTS.mkdir, parents=True, exist_ok=True)
    screenshot = ARTEFACTS / f"notification_drawer_{clip_id}.png"
    async with _Chromium() as browser:
        page = await browser.open_page()
        try:
            size = await _show(page, url, tokens, clip_id)
        except BrowserCheckFailed as err:
            await page.screenshot(screenshot)
            raise BrowserCheckFailed(f"{err} (screenshot: {screenshot})") from None
        await page.screenshot(screenshot)
    return BrowserResult(screenshot=screenshot, image_size=size, seconds=time.monotonic() - started)


async def _show(page: _Page, url: str, tokens: dict[str, Any], clip_id: str) -> tuple[int, int]:
    """The steps in the page; returns the snapshot's natural size."""
    origin = url.rstrip("/")
    stored = {
        "hassUrl": origin,
        "clientId": f"{origin}/",
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "token_type": "Bearer",
        "expires_in": tokens["expires_in"],
        "expires": int(time.time() * 1000) + int(tokens["expires_in"]) * 1000,
    }
    # Before the frontend's scripts, on every document of Home Assistant's origin.
    await page.send(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": f"if (location.origin === {json.dumps(origin)}) "
            f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(stored))});"
        },
    )
    await page.send("Page.navigate", {"url": f"{origin}/"})
    state = await page.wait_for(
        "the frontend's sidebar",
        clip_id,
        lambda s: s.get("sidebar_button"),
        SHOW_TIMEOUT,
    )
    if not await page.evaluate("window.__homesecOpenDrawer()"):
        raise BrowserCheckFailed(f"no Notifications button in the sidebar: {state}")

    async def click_again(state: dict[str, Any]) -> None:
        # A click while the frontend still starts can be lost: until the notification shows.
        if state.get("img") is None:
            await page.evaluate("window.__homesecOpenDrawer()")

    state = await page.wait_for(
        f"the notification of {clip_id} with its snapshot loaded",
        clip_id,
        lambda s: (img := s.get("img")) and img["complete"] and img["naturalWidth"] > 0,
        SHOW_TIMEOUT,
        again=click_again,
    )
    if not state.get("link"):
        raise BrowserCheckFailed(f"the notification has no Open clip link: {state}")
    return int(state["img"]["naturalWidth"]), int(state["img"]["naturalHeight"])


class _Page:
    """One tab, through the browser's DevTools websocket (a flattened target session)."""

    def __init__(self, browser: _Chromium, session_id: str) -> None:
        self._browser = browser
        self._session_id = session_id

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._browser.send(method, params, session_id=self._session_id)

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        if "exceptionDetails" in answer:
            raise BrowserCheckFailed(f"page script failed: {answer['exceptionDetails']}")
        return answer.get("result", {}).get("value")

    async def wait_for(
        self,
        what: str,
        clip_id: str,
        done: Callable[[dict[str, Any]], Any],
        seconds: float,
        again: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Poll the page's state until done(state); fail naming the last state. `again(state)`
        runs every AGAIN_EVERY seconds meanwhile (a click the page may not have taken yet)."""
        deadline = time.monotonic() + seconds
        next_again = time.monotonic() + AGAIN_EVERY
        state: dict[str, Any] = {}
        while True:
            # The helpers are (re)defined here: navigations replace the page's window.
            state = (
                await self.evaluate(
                    f"{_PAGE_HELPERS}; window.__homesecState({json.dumps(clip_id)})"
                )
                or {}
            )
            if done(state):
                return state
            now = time.monotonic()
            if now > deadline:
                raise BrowserCheckFailed(
                    f"timed out after {seconds:.0f} s waiting for {what}; the page showed {state}"
                )
            if again is not None and now > next_again:
                next_again = now + AGAIN_EVERY
                await again(state)
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> None:
        with contextlib.suppress(BrowserCheckFailed, TimeoutError, aiohttp.ClientError):
            shot = await self.send("Page.captureScreenshot", {"format": "png"})
            await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


class _Chromium:
    """A headless Chromium with a throw-away profile; stopped (its process group) on exit."""

    def __init__(self) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="homesec-chromium-"))
        self._proc: asyncio.subprocess.Process | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> _Chromium:
        output = await asyncio.to_thread((self._profile / "chromium.out").open, "wb")
        with output:
            self._proc = await asyncio.create_subprocess_exec(
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self._profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: its helpers stop with it
            )
        try:
            endpoint = await self._endpoint()
            self._session = aiohttp.ClientSession()
            self._ws = await self._session.ws_connect(endpoint, max_msg_size=0)
            self._reader = asyncio.create_task(self._read())
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                await self._proc.wait()
        await asyncio.to_thread(shutil.rmtree, self._profile, True)

    async def _endpoint(self) -> str:
        """The browser's DevTools websocket, from the port file Chromium writes."""
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self._proc is not None
            if self._proc.returncode is not None:
                raise BrowserCheckFailed(
                    f"Chromium exited ({self._proc.returncode}): {self._output_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                text = await asyncio.to_thread(port_file.read_text, encoding="ascii")
                port, path = text.split()[:2]
                return f"ws://127.0.0.1:{int(port)}{path}"
            if time.monotonic() > deadline:
                raise BrowserCheckFailed(
                    f"Chromium did not open its DevTools port in {START_TIMEOUT:.0f} s: "
                    f"{self._output_tail()}"
                )
            await asyncio.sleep(0.1)

    def _output_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = (self._profile / "chromium.out").read_text(errors="replace").splitlines()
            return " | ".join(lines[-5:]) or "(no output)"
        return "(no output)"

    async def open_page(self) -> _Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = _Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        assert self._ws is not None
        msg_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        await self._ws.send_json(message)
        try:
            return await asyncio.wait_for(future, 30)
        except TimeoutError:
            raise BrowserCheckFailed(f"Chromium did not answer {method} in 30 s") from None

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = msg.json()
            future = self._pending.pop(data.get("id", -1), None)
            if future is None or future.done():
                continue  # an event, or an answer nobody waits for any more
            if "error" in data:
                future.set_exception(
                    BrowserCheckFailed(f"DevTools error: {data['error'].get('message')}")
                )
            else:
                future.set_result(data.get("result", {}))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserCheckFailed("Chromium closed its DevTools socket"))
