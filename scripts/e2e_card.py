"""End-to-end check of the timeline card: headless Chromium on a real Home Assistant 2026.11.

Run with the develop venv, through scripts/in-python314 (scripts/test runs it after
e2e_check.py):

    scripts/in-python314 .venvs/develop/bin/python scripts/e2e_card.py [--keep] [--clips N]

It seeds a fresh temporary config folder as scripts/develop does (scripts/develop_seed.py),
starts `hass` on a free 127.0.0.1 port, drops N (default 60) small H.264 clips a minute apart
into the demo camera's watched folder and waits until HomeSec processed each. A dashboard
(storage mode, `lovelace/dashboards/create` + `lovelace/config/save`) gets the card
`custom:homesec-timeline-card` (limit 50, cameras: the demo camera's device), which the
integration registered by itself. Then, in headless Chromium logged in to the frontend
(scripts/e2e_browser.py), it asserts:

* the card shows 50 clips, the newest first with its time, camera and activity text and its
  snapshot loaded (naturalWidth > 0); the first paint of the 50 items is measured (from the
  card's get_clips request to two animation frames after they are in the DOM) and printed;
* Load more brings the other clips;
* the minimum-risk filter re-queries (the demo camera has no vision model, so its clips have
  no risk level: "high" empties the list and shows the empty state, "any" brings them back);
* the search box re-queries (a word in no clip empties the list; the camera's name finds all);
* clicking the snapshot plays the clip (a <video> with readyState >= 2 or currentTime > 0);
* Mark reviewed calls homesec_nvr.review: the item shows Reviewed, and get_clips says so;
* a clip recorded while the card is open appears at the top by itself;
* an incident of two grouped cameras (a second watched-folder camera, "Porch", grouped with the
  demo camera through the hub's camera_groups option, incident gap 10 s) is one row on a second
  view's card (every camera): both camera names in time order and "2 clips"; it expands to its
  2 clips, one of which plays; its Mark reviewed marks both; get_clips with its incident_id
  returns those 2 clips;
* the incident is complete whatever the card loaded: on a card of page size 2 (the page ends
  within the incident: only the porch's clip is loaded, "1 clip") and on a card of the porch
  only, expanding the row asks get_clips for the incident and shows both cameras' clips, oldest
  first, "2 clips"; a failed answer (injected in the browser's websocket) shows the row's error
  with the loaded clip kept, and Try again brings both; a demo camera clip that joins the
  incident while the porch card shows it expanded appears in it by itself ("3 clips": the card
  asks for the incident again on its live refresh);
* with HomeSec disabled, a search shows the error state (the action's message, Try again);
* the visual editor (ha-form inside the frontend's tree) has its four fields and reports a
  change with config-changed;
* Home Assistant's log has no error naming HomeSec (scripts/e2e_check.py's log check).

Screenshots (desktop 1280 px and mobile 390 px, light and dark) go to /tmp/homesec-e2e/ and
their paths are printed, pass or fail. The last line is the verdict with the first-paint figure.
`--store-clips 100000` first fills the store with that many older clips of ten other cameras
(scripts/bench_history.py's fill, about 80 s here): the scale case of the first paint.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import e2e_browser
from e2e_check import (
    DEMO_CLIP,
    SEED,
    Api,
    CheckFailed,
    HomeAssistantProcess,
    _free_port,
    _run_quiet,
    _wait_until_running,
    _wait_until_up,
    log_problems,
)

DOMAIN = "homesec_nvr"
CAMERA = "Demo camera"
DASHBOARD = "homesec-e2e"
PORCH = "Porch"  # the second camera, grouped with the demo camera
INCIDENT_GAP_S = 10  # the seeded clips, a minute apart, stay incidents of their own
CLIPS = int(os.environ.get("HOMESEC_E2E_CARD_CLIPS", "60"))
PAGE = 50  # the card's limit: the first paint is of 50 items
CLIPS_TIMEOUT = float(os.environ.get("HOMESEC_E2E_CARD_CLIPS_TIMEOUT", "150"))
UI_TIMEOUT = 30.0
ARTEFACTS = e2e_browser.ARTEFACTS

# The card's state, found through the frontend's shadow roots.
_PAGE_HELPERS = """
window.__hsAll = (root, out = []) => {
  for (const el of root.querySelectorAll('*')) {
    out.push(el);
    if (el.shadowRoot) window.__hsAll(el.shadowRoot, out);
  }
  return out;
};
window.__hsCard = () => window.__hsAll(document)
  .find((el) => el.localName === 'homesec-timeline-card');
window.__hsState = () => {
  const card = window.__hsCard();
  if (!card || !card.shadowRoot) return {card: false, path: location.pathname,
    defined: Boolean(customElements.get('homesec-timeline-card'))};
  const root = card.shadowRoot;
  const items = [...root.querySelectorAll('li.clip')];
  const text = (el, sel) => {
    const f = el && el.querySelector(sel);
    return f ? f.textContent : null;
  };
  const first = items[0];
  const img = first && first.querySelector('img');
  const status = root.querySelector('.status');
  const video = root.querySelector('.player video');
  const mark = (name) => { const e = performance.getEntriesByName(name);
    return e.length ? e[e.length - 1].startTime : null; };
  return {
    card: true,
    items: items.length,
    first: first ? {
      clip_id: first.dataset.clipId, time: text(first, '.time'), camera: text(first, '.camera'),
      activity: text(first, '.activity'), risk: text(first, '.risk'),
      review: text(first, '.review'),
      img: img ? {complete: img.complete, naturalWidth: img.naturalWidth,
                  naturalHeight: img.naturalHeight} : null,
    } : null,
    status: status && !status.hidden ? {cls: status.className, text: status.textContent} : null,
    video: video ? {readyState: video.readyState, currentTime: video.currentTime,
                    error: video.error ? video.error.code : null} : null,
    request: mark('homesec-timeline-request'),
    painted: mark('homesec-timeline-painted'),
  };
};
window.__hsSelect = (cls, value) => {
  const el = window.__hsCard().shadowRoot.querySelector(`select.${cls}`);
  el.value = value;
  el.dispatchEvent(new Event('change'));
};
window.__hsSearch = (value) => {
  const el = window.__hsCard().shadowRoot.querySelector('input.search');
  el.value = value;
  el.dispatchEvent(new Event('input'));
  el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
};
window.__hsEditor = async () => {
  const card = customElements.get('homesec-timeline-card');
  const listed = (window.customCards || []).some((c) => c.type === 'homesec-timeline-card');
  const editor = await card.getConfigElement();
  const changes = [];
  editor.addEventListener('config-changed', (ev) => changes.push(ev.detail.config));
  editor.hass = document.querySelector('home-assistant').hass;
  editor.setConfig({...card.getStubConfig(), type: 'custom:homesec-timeline-card'});
  // Inside the frontend's tree: its pickers take the registries from context providers there.
  window.__hsCard().parentNode.append(editor);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const form = editor.querySelector('ha-form');
  let fields;
  if (form) {
    fields = (form.schema || []).map((field) => field.name);
    form.dispatchEvent(new CustomEvent('value-changed',
      {detail: {value: {...form.data, limit: 30, min_risk: 'high'}}}));
  } else {
    fields = [...editor.querySelectorAll('[name]')].map((el) => el.getAttribute('name'));
    const limit = editor.querySelector('[name=limit]');
    limit.value = '30';
    limit.dispatchEvent(new Event('change'));
  }
  // Shown over the page for the screenshot; __hsEditorClose removes it.
  window.__hsEditorEl = editor;
  editor.style.cssText = 'position:fixed;top:64px;left:16px;width:min(480px,90vw);z-index:99;'
    + 'padding:16px;background:var(--card-background-color);box-shadow:0 2px 12px #0008';
  await new Promise((resolve) => setTimeout(resolve, 500));
  const rendered = form && form.shadowRoot
    ? form.shadowRoot.querySelectorAll('ha-selector').length : fields.length;
  return {listed, form: Boolean(form), fields, rendered,
          last: changes[changes.length - 1] || null};
};
window.__hsEditorClose = () => window.__hsEditorEl.remove();
window.__hsRiskColours = () => {
  // The demo clips have no analysis: an item of each risk, rendered by the card, measured.
  const card = window.__hsCard();
  const list = card.shadowRoot.querySelector('ol.timeline');
  const colours = {};
  for (const risk of ['low', 'medium', 'high', 'critical', null]) {
    const li = card._itemElement({clip_id: `risk-${risk}`, camera: 'x', risk_level: risk,
      start_time: new Date().toISOString(), detected_classes: [], summary: '<b>not bold</b>'});
    list.append(li);
    colours[risk || 'none'] = {
      dot: getComputedStyle(li.querySelector('.dot')).backgroundColor,
      label: li.querySelector('.risk') ? getComputedStyle(li.querySelector('.risk')).color : null,
      escaped: !li.querySelector('.summary b')
        && li.querySelector('.summary').textContent === '<b>not bold</b>',
    };
    li.remove();
  }
  return colours;
};
window.__hsRows = () => {
  // The card's top-level rows: a clip, or an incident with its cameras, count and clips.
  const card = window.__hsCard();
  if (!card || !card.shadowRoot) return null;
  const text = (el, sel) => { const f = el.querySelector(sel); return f ? f.textContent : null; };
  return [...card.shadowRoot.querySelectorAll('ol.timeline > li')].map((li) => ({
    clip_id: li.dataset.clipId || null,
    incident_id: li.dataset.incidentId || null,
    camera: text(li, '.meta .camera'),
    count: text(li, '.meta .count-badge'),
    review: text(li, ':scope > .body > .actions .review'),
    error: text(li, ':scope > .body > .incident-status .review-error'),
    expand: text(li, ':scope > .body .expand'),
    expanded: (li.querySelector(':scope > .body .expand') || {ariaExpanded: null}).ariaExpanded,
    clips: [...li.querySelectorAll('ol.incident-clips > li.clip')].map((c) => ({
      clip_id: c.dataset.clipId, camera: text(c, '.camera')})),
  }));
};
window.__hsFailIncidents = (fail) => {
  // The card's incident requests fail (as a lost connection's would); the others go through.
  const conn = window.__hsCard().hass.connection;
  if (!conn.__hsSend) conn.__hsSend = conn.sendMessagePromise;
  const send = conn.__hsSend;
  conn.sendMessagePromise = fail
    ? function (msg) {
        if (msg && msg.service_data && msg.service_data.incident_id) {
          return Promise.reject({code: 'unknown_error', message: 'injected failure'});
        }
        return send.call(this, msg);
      }
    : send;
  return true;
};
window.__hsClick = (selector) => {
  const el = window.__hsCard().shadowRoot.querySelector(selector);
  if (el) el.click();
  return Boolean(el);
};
"""


def _say(message: str) -> None:
    print(f"e2e-card: {message}", file=sys.stderr, flush=True)


def _fill_store(config_dir: Path, clips: int) -> float:
    """`clips` older clips of ten other cameras over the last week, as scripts/bench_history.py
    fills its store (the demo camera's clips stay the newest). Returns the seconds it took."""
    import bench_history  # only for the scale case

    bench_history.FIRST_DAY = datetime.now(UTC) - timedelta(days=8)
    path = config_dir / "homesec" / "homesec.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds, _ = bench_history.fill(path, clips, 10, 7, 1)
    _say(f"store filled with {clips} clips in {seconds:.0f} s ({path.stat().st_size >> 20} MiB)")
    return seconds


def _make_clips(config_dir: Path, count: int) -> list[str]:
    """`count` copies of the demo clip, a minute apart (the watcher dates clips by mtime)."""
    staging = config_dir / "staging"
    staging.mkdir(exist_ok=True)
    source = staging / "demo.mp4"
    _run_quiet([sys.executable, str(DEMO_CLIP), str(source)], "scripts/demo_clip")
    now = time.time()
    names = []
    for index in range(count):
        name = f"card_{index:03d}.mp4"
        copy = staging / name
        shutil.copyfile(source, copy)
        stamp = now - (count - index) * 60
        os.utime(copy, (stamp, stamp))
        names.append(name)
    incoming = config_dir / "homesec_demo" / "incoming"
    for name in names:
        (staging / name).replace(incoming / name)
    return names


def _add_porch_camera(config_dir: Path) -> None:
    """A second watched-folder camera grouped with the demo camera (the seeded config entry,
    edited before Home Assistant starts)."""
    path = config_dir / ".storage" / "core.config_entries"
    stored = json.loads(path.read_text(encoding="utf-8"))
    entry = next(e for e in stored["data"]["entries"] if e["domain"] == DOMAIN)
    folder = config_dir / "homesec_demo" / "porch"
    folder.mkdir(parents=True, exist_ok=True)
    demo = entry["subentries"][0]
    entry["subentries"].append(
        {
            **demo,
            "data": {**demo["data"], "name": PORCH, "folder": str(folder)},
            "subentry_id": uuid.uuid4().hex.upper()[:26],
            "title": PORCH,
            "unique_id": str(folder),
        }
    )
    entry["options"]["camera_groups"] = f"Front: {CAMERA}, {PORCH}"
    entry["options"]["incident_gap_seconds"] = INCIDENT_GAP_S
    path.write_text(json.dumps(stored, indent=2), encoding="utf-8")


def _drop_dated_clip(config_dir: Path, folder: str, name: str, end: datetime) -> None:
    """The demo clip into a camera's folder, ending at `end` (the watcher dates by mtime)."""
    staging = config_dir / "staging"
    shutil.copyfile(staging / "demo.mp4", staging / name)
    os.utime(staging / name, (end.timestamp(), end.timestamp()))
    (staging / name).replace(config_dir / "homesec_demo" / folder / name)


def _drop_live_clip(config_dir: Path, name: str) -> None:
    staging = config_dir / "staging"
    shutil.copyfile(staging / "demo.mp4", staging / name)
    (staging / name).replace(config_dir / "homesec_demo" / "incoming" / name)


async def _wait_processed(api: Api, names: list[str]) -> None:
    wanted = set(names)

    def done() -> bool:
        seen = {e.get("data", {}).get("metadata", {}).get("file_name") for e in api.events}
        return wanted <= seen

    await api.wait_for(f"{len(names)} clips processed", done, CLIPS_TIMEOUT)


async def _add_dashboard(api: Api) -> None:
    """A dashboard with the card, limited to the demo camera's device (the device_id path)."""
    devices = await api.command({"type": "config/device_registry/list"})
    camera = next((d["id"] for d in devices if d.get("name") == CAMERA), None)
    porch = next((d["id"] for d in devices if d.get("name") == PORCH), None)
    if camera is None or porch is None:
        raise CheckFailed(f"no device named {CAMERA!r} or {PORCH!r}")
    await api.command(
        {
            "type": "lovelace/dashboards/create",
            "url_path": DASHBOARD,
            "title": "HomeSec e2e",
            "mode": "storage",
            "require_admin": False,
            "show_in_sidebar": True,
        }
    )
    card = {
        "type": "custom:homesec-timeline-card",
        "title": "HomeSec",
        "limit": PAGE,
        "cameras": [camera],
    }
    # Every camera's clips: where an incident of the two grouped cameras is one row.
    every = {"type": "custom:homesec-timeline-card", "title": "HomeSec incidents", "limit": 10}
    # Where an incident is only partly loaded: a page of 2 clips, and the porch alone.
    split = {"type": "custom:homesec-timeline-card", "title": "HomeSec split", "limit": 2}
    porch_card = {
        "type": "custom:homesec-timeline-card",
        "title": "HomeSec porch",
        "limit": 10,
        "cameras": [porch],
    }
    await api.command(
        {
            "type": "lovelace/config/save",
            "url_path": DASHBOARD,
            "config": {
                "views": [
                    {"title": "Timeline", "path": "timeline", "cards": [card]},
                    {"title": "Incidents", "path": "incidents", "cards": [every]},
                    {"title": "Split", "path": "split", "cards": [split]},
                    {"title": "Porch", "path": "porch", "cards": [porch_card]},
                ]
            },
        }
    )


async def _get_clips(api: Api, **data: Any) -> dict[str, Any]:
    result = await api.command(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": "get_clips",
            "service_data": data,
            "return_response": True,
        }
    )
    response: dict[str, Any] = result["response"]
    return response


class _CardPage:
    """The dashboard page in Chromium, and the card's state in it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.last: dict[str, Any] = {}

    async def state(self) -> dict[str, Any]:
        self.last = await self.page.evaluate(f"{_PAGE_HELPERS}; window.__hsState()") or {}
        return self.last

    async def run(self, expression: str) -> Any:
        return await self.page.evaluate(f"{_PAGE_HELPERS}; {expression}")

    async def until(self, what: str, done: Any, seconds: float = UI_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            state = await self.state()
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise CheckFailed(f"timed out waiting for {what}; the card showed {state}")
            await asyncio.sleep(0.1)

    async def screenshot(self, name: str) -> Path:
        path = ARTEFACTS / f"timeline_card_{name}.png"
        await self.page.screenshot(path)
        return path


async def _login_and_open(page: Any, url: str, tokens: dict[str, Any]) -> None:
    stored = {
        "hassUrl": url,
        "clientId": f"{url}/",
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "token_type": "Bearer",
        "expires_in": tokens["expires_in"],
        "expires": int(time.time() * 1000) + int(tokens["expires_in"]) * 1000,
    }
    await page.send(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": f"if (location.origin === {json.dumps(url)}) "
            f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(stored))});"
        },
    )
    await page.send("Page.navigate", {"url": f"{url}/{DASHBOARD}/timeline"})


async def _in_browser(url: str, api: Api, count: int, report: dict[str, Any]) -> None:
    if (missing := e2e_browser.chromium_missing_reason()) is not None:
        if shutil.which("apt-get") is None:
            report["notes"].append(f"browser check skipped: {missing}, no apt-get")
            return
        raise CheckFailed(f"{missing}: run scripts/setup")
    await asyncio.to_thread(ARTEFACTS.mkdir, parents=True, exist_ok=True)
    async with e2e_browser._Chromium() as browser:
        card = _CardPage(await browser.open_page())
        try:
            await _steps(card, url, api, count, report)
        except BaseException:
            report["shots"]["failed"] = await card.screenshot("failed")
            raise


async def _steps(card: _CardPage, url: str, api: Api, count: int, report: dict[str, Any]) -> None:
    await _login_and_open(card.page, url, api.tokens)
    shown = min(count, PAGE)
    state = await card.until(
        f"the card with {shown} clips and the newest snapshot loaded",
        lambda s: (
            s.get("items") == shown
            and s.get("painted") is not None
            and (img := (s.get("first") or {}).get("img"))
            and img["complete"]
            and img["naturalWidth"] > 0
        ),
        60,
    )
    report["first_paint_ms"] = state["painted"] - state["request"]
    report["painted_since_navigation_ms"] = state["painted"]
    newest = (await _get_clips(api, limit=1))["clips"][0]
    first = state["first"]
    if first["clip_id"] != newest["clip_id"] or first["camera"] != CAMERA or not first["time"]:
        raise CheckFailed(f"the first item is not the newest clip {newest['clip_id']}: {first}")
    report["shots"]["desktop_light"] = await card.screenshot("desktop_light")

    # Load more: the next page joins the list.
    if count > PAGE:
        if not await card.run("window.__hsClick('button.load-more')"):
            raise CheckFailed(f"no Load more button with {count} clips and {PAGE} shown")
        await card.until(f"all {count} clips after Load more", lambda s: s.get("items") == count)

    # Minimum risk: the demo clips have none, so "high" empties the list.
    await card.run("window.__hsSelect('min-risk', 'high')")
    await card.until(
        "the empty state for minimum risk high",
        lambda s: s.get("items") == 0 and "empty" in ((s.get("status") or {}).get("cls") or ""),
    )
    await card.run("window.__hsSelect('min-risk', '')")
    await card.until("the clips back at any risk", lambda s: s.get("items") == shown)

    # Search: a word in no clip, then the camera's name.
    await card.run("window.__hsSearch('zebracrossing')")
    await card.until("no clip for a search nobody matches", lambda s: s.get("items") == 0)
    await card.run("window.__hsSearch('demo')")
    await card.until("the clips found by the camera's name", lambda s: s.get("items") == shown)

    # Play: the snapshot opens the player, which plays the clip.
    if not await card.run("window.__hsClick('li.clip .thumb')"):
        raise CheckFailed("no snapshot button to click")
    state = await card.until(
        "the clip playing",
        lambda s: (
            (v := s.get("video")) is not None
            and (v["readyState"] >= 2 or v["currentTime"] > 0 or v["error"] is not None)
        ),
    )
    if state["video"]["error"] is not None:
        raise CheckFailed(f"the video failed to play: {state['video']}")
    report["shots"]["player"] = await card.screenshot("player")
    await card.run("window.__hsClick('.player .close')")
    await card.until("the player closed", lambda s: s.get("video") is None)

    # Mark reviewed: the item says so, and so does the history.
    if not await card.run("window.__hsClick('li.clip .mark-reviewed')"):
        raise CheckFailed("no Mark reviewed button on the newest clip")
    await card.until(
        "the newest clip shown reviewed",
        lambda s: "Reviewed" in ((s.get("first") or {}).get("review") or ""),
    )
    stored = (await _get_clips(api, limit=1))["clips"][0]
    if stored["clip_id"] != newest["clip_id"] or stored["review"] != "reviewed":
        raise CheckFailed(f"get_clips does not say the clip is reviewed: {stored['review']!r}")

    # Risk colours: one per level (the theme's), none without a risk; text is never markup.
    colours = await card.run("window.__hsRiskColours()")
    risks = ("low", "medium", "high", "critical")
    levels = [colours[r]["dot"] for r in risks]
    if (
        len(set(levels)) != 4
        or colours["none"]["label"] is not None
        or any(
            colours[r]["label"] != colours[r]["dot"] for r in ("low", "medium", "high", "critical")
        )
        or not all(c["escaped"] for c in colours.values())
    ):
        raise CheckFailed(f"risk colours or escaping wrong: {colours}")
    report["notes"].append(
        "risk colours " + " / ".join(f"{r} {colours[r]['dot']}" for r in ("low", "critical"))
    )

    # A new clip shows by itself at the top (the card listens for processed clips).
    live = "card_live.mp4"
    await asyncio.to_thread(_drop_live_clip, report["config_dir"], live)
    await _wait_processed(api, [live])
    live_id = next(
        e["data"]["clip_id"]
        for e in api.events
        if e.get("data", {}).get("metadata", {}).get("file_name") == live
    )
    await card.until(
        "the new clip at the top without a reload",
        lambda s: (s.get("first") or {}).get("clip_id") == live_id,
    )

    # The visual editor (ha-form when the frontend has loaded it, else plain inputs).
    answer = await card.page.send(
        "Runtime.evaluate",
        {
            "expression": f"{_PAGE_HELPERS}; window.__hsEditor()",
            "awaitPromise": True,
            "returnByValue": True,
        },
    )
    editor = answer.get("result", {}).get("value") or {}
    last = editor.get("last") or {}
    if (
        not editor.get("listed")
        or editor.get("fields", [])[:4] != ["title", "cameras", "min_risk", "limit"]
        or last.get("limit") != 30
        or last.get("type") != "custom:homesec-timeline-card"
        or editor.get("rendered") != 4
    ):
        raise CheckFailed(f"the card's editor or picker entry is wrong: {answer}")
    report["notes"].append(f"editor with {'ha-form' if editor['form'] else 'plain inputs'}")
    report["shots"]["editor"] = await card.screenshot("editor")
    await card.run("window.__hsEditorClose()")

    # Mobile width and dark mode, for a person to look at.
    await card.page.send(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    await asyncio.sleep(1.0)
    report["shots"]["desktop_dark"] = await card.screenshot("desktop_dark")
    await card.page.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    await asyncio.sleep(1.0)
    overflow = await card.run(
        "(() => { const r = window.__hsCard().shadowRoot.querySelector('ha-card')"
        ".getBoundingClientRect(); return r.right > window.innerWidth + 1; })()"
    )
    if overflow:
        raise CheckFailed("at 390 px the card is wider than the screen")
    report["shots"]["mobile_dark"] = await card.screenshot("mobile_dark")
    await card.page.send(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "light"}]},
    )
    await asyncio.sleep(1.0)
    report["shots"]["mobile_light"] = await card.screenshot("mobile_light")

    await _incident_steps(card, url, api, report)

    # The error state: with HomeSec disabled, a new search says why and offers to try again.
    entries = await api.command({"type": "config_entries/get", "domain": DOMAIN})
    await api.command(
        {
            "type": "config_entries/disable",
            "entry_id": entries[0]["entry_id"],
            "disabled_by": "user",
        }
    )
    await card.run("window.__hsSearch('courier')")
    state = await card.until(
        "the error state with HomeSec disabled",
        lambda s: "error" in ((s.get("status") or {}).get("cls") or ""),
    )
    if not await card.run("window.__hsClick('.status .retry')"):
        raise CheckFailed(f"the error state has no Try again button: {state['status']}")
    reason = state["status"]["text"].removeprefix("Could not load the clips")
    report["notes"].append(f"error state {reason.removesuffix('Try again')!r} with Try again")
    report["shots"]["error"] = await card.screenshot("error")


async def _incident_steps(card: _CardPage, url: str, api: Api, report: dict[str, Any]) -> None:
    """An incident of the demo camera and the porch: one row with both names, 2 clips."""
    config_dir: Path = report["config_dir"]
    newest = (await _get_clips(api, limit=1))["clips"][0]
    # Well before the newest clip (beyond the incident gap), the porch 2 s after the demo
    # camera: their 4 s clips overlap, one incident. One after the other, so the demo camera's
    # clip starts the incident and the porch's names both cameras (the checks of a partly
    # loaded incident rely on that).
    end = datetime.fromisoformat(newest["end_time"]) - timedelta(seconds=40)
    names = {"incident_demo.mp4": "incoming", "incident_porch.mp4": "porch"}
    for offset, (name, folder) in enumerate(names.items()):
        await asyncio.to_thread(
            _drop_dated_clip, config_dir, folder, name, end + timedelta(seconds=2 * offset)
        )
        await _wait_processed(api, [name])
    payloads = {
        e["data"]["metadata"]["file_name"]: e["data"]
        for e in api.events
        if e.get("data", {}).get("metadata", {}).get("file_name") in names
    }
    incidents = {p["incident_id"] for p in payloads.values()}
    if len(incidents) != 1:
        raise CheckFailed(f"the two grouped clips are not one incident: {payloads}")
    incident = incidents.pop()
    found = await _get_clips(api, incident_id=incident)
    cameras = sorted(c["camera"] for c in found["clips"])
    if found["total"] != 2 or cameras != sorted([CAMERA, PORCH]):
        raise CheckFailed(f"get_clips(incident_id) is not the incident's 2 clips: {found}")

    await card.page.send("Page.navigate", {"url": f"{url}/{DASHBOARD}/incidents"})
    wanted = f"{CAMERA} → {PORCH}"

    def incident_row(rows: Any) -> dict[str, Any] | None:
        return next((r for r in rows or [] if r["incident_id"] == incident), None)

    rows: Any = None
    deadline = time.monotonic() + 60
    while (row := incident_row(rows)) is None:
        if time.monotonic() > deadline:
            raise CheckFailed(f"no incident row {incident} on the every-camera card: {rows}")
        await asyncio.sleep(0.2)
        rows = await card.run("window.__hsRows()")
    others = [r for r in rows if r["clip_id"] in {c["clip_id"] for c in found["clips"]}]
    if row["camera"] != wanted or row["count"] != "2 clips" or others or row["clips"]:
        raise CheckFailed(f"the incident row is wrong (want {wanted!r}, 2 clips): {rows}")
    if not await card.run(
        f"window.__hsClick('li.incident[data-incident-id=\"{incident}\"] .expand')"
    ):
        raise CheckFailed("the incident row has no expand button")
    rows = await card.run("window.__hsRows()")
    row = incident_row(rows) or {}
    shown = sorted(c["clip_id"] for c in row.get("clips", []))
    if shown != sorted(c["clip_id"] for c in found["clips"]) or row.get("expanded") != "true":
        raise CheckFailed(f"the incident does not expand to its 2 clips: {row}")
    if [c["camera"] for c in row["clips"]] != [CAMERA, PORCH]:
        raise CheckFailed(f"the incident's clips are not in time order: {row['clips']}")
    overflow = await card.run(
        "(() => { const r = window.__hsCard().shadowRoot.querySelector('ha-card')"
        ".getBoundingClientRect(); return r.right > window.innerWidth + 1; })()"
    )
    if overflow:
        raise CheckFailed("at 390 px the incident card is wider than the screen")
    report["shots"]["incident_mobile_light"] = await card.screenshot("incident_mobile_light")

    # One of the incident's clips plays as any clip does.
    if not await card.run("window.__hsClick('li.incident ol.incident-clips li.clip .thumb')"):
        raise CheckFailed("the incident's clips have no snapshot button")
    state = await card.until(
        "the incident's clip playing",
        lambda s: (
            (v := s.get("video")) is not None
            and (v["readyState"] >= 2 or v["currentTime"] > 0 or v["error"] is not None)
        ),
    )
    if state["video"]["error"] is not None:
        raise CheckFailed(f"the incident's clip failed to play: {state['video']}")
    await card.run("window.__hsClick('.player .close')")
    await card.until("the player closed", lambda s: s.get("video") is None)

    # Mark reviewed on the incident's row marks both clips.
    if not await card.run("window.__hsClick('li.incident > .body > .actions .mark-reviewed')"):
        raise CheckFailed("the incident row has no Mark reviewed button")
    deadline = time.monotonic() + UI_TIMEOUT
    while "Reviewed" not in ((row := incident_row(rows) or {}).get("review") or ""):
        if time.monotonic() > deadline:
            raise CheckFailed(f"the incident row does not show Reviewed: {row}")
        await asyncio.sleep(0.1)
        rows = await card.run("window.__hsRows()")
    if len(row["clips"]) != 2:
        raise CheckFailed(f"the incident is no longer expanded after its review: {row}")
    stored = await _get_clips(api, incident_id=incident)
    if [c["review"] for c in stored["clips"]] != ["reviewed", "reviewed"]:
        raise CheckFailed(f"get_clips does not say the incident's clips are reviewed: {stored}")

    await card.page.send(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    await card.page.send("Emulation.clearDeviceMetricsOverride", {})
    await asyncio.sleep(1.0)
    report["shots"]["incident_desktop_dark"] = await card.screenshot("incident_desktop_dark")
    report["notes"].append(f"incident row {wanted!r} of 2 clips")
    await _partial_incident_steps(card, url, api, report, incident, found["clips"])


async def _incident_row(
    card: _CardPage, incident: str, what: str, done: Any, seconds: float = UI_TIMEOUT
) -> dict[str, Any]:
    """The incident's row once `done(row)` holds."""
    deadline = time.monotonic() + seconds
    while True:
        rows = await card.run("window.__hsRows()")
        row = next((r for r in rows or [] if r["incident_id"] == incident), None)
        if row is not None and done(row):
            return row
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out waiting for {what}; the card's rows: {rows}")
        await asyncio.sleep(0.1)


async def _partial_incident_steps(
    card: _CardPage,
    url: str,
    api: Api,
    report: dict[str, Any],
    incident: str,
    clips: list[dict[str, Any]],
) -> None:
    """The incident expands to all its clips where the card loaded only a part of it: a page
    that ends within it, a card of one camera; a failed answer; a clip joining it meanwhile."""
    ordered = sorted(clips, key=lambda c: c["start_time"])
    both = [c["clip_id"] for c in ordered]
    porch_clip = next(c["clip_id"] for c in ordered if c["camera"] == PORCH)
    wanted = f"{CAMERA} → {PORCH}"
    expand = f"window.__hsClick('li.incident[data-incident-id=\"{incident}\"] .expand')"

    def complete(row: dict[str, Any]) -> bool:
        return (
            row["count"] == "2 clips"
            and row["expanded"] == "true"
            and row["error"] is None
            and [c["clip_id"] for c in row["clips"]] == both
            and [c["camera"] for c in row["clips"]] == [CAMERA, PORCH]
        )

    # A page of 2 clips (the newest, then the porch's clip of the incident): the row has the
    # one clip it loaded and both cameras (the porch's clip names them).
    await card.page.send("Page.navigate", {"url": f"{url}/{DASHBOARD}/split"})
    row = await _incident_row(
        card,
        incident,
        "the incident row of a page of 2 clips",
        lambda r: r["count"] == "1 clip" and r["expanded"] == "false",
        60,
    )
    rows = await card.run("window.__hsRows()")
    if row["camera"] != wanted or any(r["clip_id"] in both for r in rows):
        raise CheckFailed(f"the split incident's row is wrong (want {wanted!r}): {rows}")
    # Its answer fails: the row says so, with the clip it loaded.
    await card.run("window.__hsFailIncidents(true)")
    if not await card.run(expand):
        raise CheckFailed("the split incident row has no expand button")
    row = await _incident_row(
        card,
        incident,
        "the incident row's error",
        lambda r: r["error"] is not None and r["expanded"] == "true",
    )
    if "injected failure" not in row["error"] or [c["clip_id"] for c in row["clips"]] != [
        porch_clip
    ]:
        raise CheckFailed(f"the failed incident row lost its loaded clip or reason: {row}")
    report["shots"]["incident_error"] = await card.screenshot("incident_error")
    await card.run("window.__hsFailIncidents(false)")
    if not await card.run(
        f"window.__hsClick('li.incident[data-incident-id=\"{incident}\"] .incident-status .retry')"
    ):
        raise CheckFailed(f"the failed incident row has no Try again button: {row}")
    await _incident_row(card, incident, "the split incident's 2 clips after Try again", complete)

    async def one_camera_row(view: str, whose: str) -> None:
        """On a card of one camera, its clip alone is the incident row, with its cameras in
        the order they joined."""
        await card.page.send("Page.navigate", {"url": f"{url}/{DASHBOARD}/{view}"})
        row = await _incident_row(
            card,
            incident,
            f"the incident row on {whose} card",
            lambda r: r["count"] == "1 clip" and r["expanded"] == "false",
            60,
        )
        if row["camera"] != wanted:
            raise CheckFailed(f"{whose} card's incident row is wrong (want {wanted!r}): {row}")

    # A card of the demo camera only (the incident's first camera).
    await one_camera_row("timeline", "the demo camera's")
    # A card of the porch only: the incident's other camera's clip comes with the expansion.
    await one_camera_row("porch", "the porch's")
    if not await card.run(expand):
        raise CheckFailed("the porch card's incident row has no expand button")
    await _incident_row(card, incident, "the porch card's incident with both clips", complete)
    await asyncio.sleep(1.0)  # the page's loading screen gone, for a person to look at
    report["shots"]["incident_porch"] = await card.screenshot("incident_porch")

    # A demo camera clip joins the incident while it is expanded on the porch's card (which
    # never loads the demo camera's clips): the live refresh asks for the incident again.
    porch_end = datetime.fromisoformat(next(c for c in ordered if c["camera"] == PORCH)["end_time"])
    name = "incident_demo_late.mp4"
    await asyncio.to_thread(
        _drop_dated_clip, report["config_dir"], "incoming", name, porch_end + timedelta(seconds=2)
    )
    await _wait_processed(api, [name])
    late = next(
        e["data"]
        for e in api.events
        if e.get("data", {}).get("metadata", {}).get("file_name") == name
    )
    if late["incident_id"] != incident:
        raise CheckFailed(f"the late clip did not join the incident {incident}: {late}")
    row = await _incident_row(
        card,
        incident,
        "the late clip in the expanded incident",
        lambda r: r["count"] == "3 clips" and len(r["clips"]) == 3,
    )
    if [c["camera"] for c in row["clips"]] != [CAMERA, PORCH, CAMERA] or row["clips"][-1][
        "clip_id"
    ] != late["clip_id"]:
        raise CheckFailed(f"the late clip is not the incident's last: {row}")
    report["notes"].append("partial incidents expand to all their clips (page of 2, one camera)")


async def _check(ha: HomeAssistantProcess, count: int, report: dict[str, Any]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await _wait_until_up(session, ha)
        api = Api(session, ha.url)
        await api.login()
        await api.connect()
        try:
            await _wait_until_running(api, ha)
            # Confirm the HTTP settings (as scripts/develop_promote.py does), or Home Assistant
            # 2026.11 asks in a dialog over the dashboard.
            with contextlib.suppress(CheckFailed):
                await api.command({"type": "http/config/promote"})
            report["timings"]["startup"] = time.monotonic() - report["started"]
            dropped = time.monotonic()
            names = await asyncio.to_thread(_make_clips, ha.config_dir, count)
            await _wait_processed(api, names)
            report["timings"]["clips"] = time.monotonic() - dropped
            report["config_dir"] = ha.config_dir
            await _add_dashboard(api)
            browser_started = time.monotonic()
            await _in_browser(ha.url, api, count, report)
            report["timings"]["browser"] = time.monotonic() - browser_started
        finally:
            await api.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary config folder")
    parser.add_argument("--clips", type=int, default=CLIPS, help="clips to seed (default 60)")
    parser.add_argument(
        "--store-clips",
        type=int,
        default=0,
        help="clips of ten other cameras put in the store first (the scale case: 100000)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    began = time.monotonic()
    config_dir = Path(tempfile.mkdtemp(prefix="homesec-e2e-card-"))
    ha = HomeAssistantProcess(config_dir, _free_port())
    report: dict[str, Any] = {"timings": {}, "notes": [], "shots": {}, "started": 0.0}
    failure: str | None = None
    try:
        _run_quiet([sys.executable, str(SEED), str(config_dir)], "seeding the config folder")
        _add_porch_camera(config_dir)
        if args.store_clips:
            report["timings"]["fill"] = _fill_store(config_dir, args.store_clips)
        report["started"] = time.monotonic()
        ha.start()
        asyncio.run(_check(ha, args.clips, report))
    except (CheckFailed, e2e_browser.BrowserCheckFailed) as err:
        failure = str(err)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        ended = ha.stop()
    log = ha.log_text()
    if problems := log_problems(log):
        problem = "Home Assistant's log names HomeSec:\n  " + "\n  ".join(problems)
        failure = problem if failure is None else f"{failure}\n{problem}"
    for name, path in report["shots"].items():
        _say(f"screenshot {name}: {path}")
    version = re.search(r"Starting Home Assistant (\S+)", log)
    timings = report["timings"]
    paint = report.get("first_paint_ms")
    summary = (
        f"Home Assistant {version[1] if version else '?'}, "
        f"start-up {timings.get('startup', float('nan')):.1f} s, "
        + (f"{args.store_clips} clips in the store first, " if args.store_clips else "")
        + f"{args.clips} clips processed in {timings.get('clips', float('nan')):.1f} s, "
        f"browser {timings.get('browser', float('nan')):.1f} s, "
        + (
            f"first paint of {min(args.clips, PAGE)} items {paint:.0f} ms after the card's "
            f"request ({report['painted_since_navigation_ms']:.0f} ms after navigation), "
            if paint is not None
            else ""
        )
        + "".join(f"{note}, " for note in report["notes"])
        + f"total {time.monotonic() - began:.1f} s; Home Assistant {ended}"
    )
    if failure is not None:
        print("--- Home Assistant log (last 80 lines) ---", file=sys.stderr)
        print(ha.log_tail(80), file=sys.stderr)
        _say(f"config folder kept: {config_dir}")
        print(f"e2e-card: FAILED: {failure}\ne2e-card: {summary}", flush=True)
        return 1
    if args.keep:
        _say(f"config folder kept: {config_dir}")
    else:
        shutil.rmtree(config_dir, ignore_errors=True)
    print(f"e2e-card: ok: {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
