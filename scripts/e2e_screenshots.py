"""The README's screenshots: the media browser and a camera's device page in headless Chromium
on a real Home Assistant 2026.11, made small for docs/images/.

Run with the develop venv, through scripts/in-python314 (not part of scripts/test: it is for the
documentation):

    scripts/in-python314 .venvs/develop/bin/python scripts/e2e_screenshots.py --out docs/images \
        [--from-e2e /tmp/homesec-e2e] [--keep]

It starts Home Assistant as scripts/e2e_card.py does (its helpers and scripts/e2e_check.py's are
imported, not copied): a freshly seeded temporary config folder, a free 127.0.0.1 port, a few
demo clips a minute apart into the demo camera's watched folder, each waited for. Then, logged
in to the frontend (scripts/e2e_browser.py's Chromium), it opens

* *Media -> HomeSec -> Demo camera -> today*: the clips with their snapshots as thumbnails
  (`media-browser.png`), and
* *Settings -> Devices -> Demo camera* (`device-page.png`),

waits until the thumbnails and the device's entities are shown and saves the screenshots. Every
image is cropped, downscaled to at most 1000 px wide and saved as a palette PNG (Pillow,
`optimize=True`). `--from-e2e DIR` also shrinks the screenshots scripts/e2e_card.py and
scripts/e2e_check.py left in DIR (the timeline card and the notification drawer). The raw
screenshots stay under /tmp/homesec-e2e/; the last line lists the images and their sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import e2e_browser
from e2e_card import CAMERA, _login_and_open, _make_clips, _wait_processed
from e2e_check import (
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

CLIPS = 8
WIDTH = 1000  # the widest image in docs/images
UI_TIMEOUT = 60.0
ARTEFACTS = e2e_browser.ARTEFACTS
ROOT = "media-source://homesec_nvr"

# Elements through the frontend's shadow roots; the state of the media browser and device page.
_PAGE_HELPERS = """
window.__hsAll = (root, out = []) => {
  for (const el of root.querySelectorAll('*')) {
    out.push(el);
    if (el.shadowRoot) window.__hsAll(el.shadowRoot, out);
  }
  return out;
};
window.__hsMedia = () => {
  const all = window.__hsAll(document);
  const browse = all.find((el) => el.localName === 'ha-media-player-browse');
  const inside = browse ? window.__hsAll(browse.shadowRoot || browse) : [];
  const children = inside.filter((el) => el.classList && el.classList.contains('child'));
  // ha-media-browser-thumbnail draws the resolved (signed) URL as a background image.
  const thumbs = inside.filter((el) => el.localName === 'ha-media-browser-thumbnail');
  const shown = thumbs.filter((el) => {
    const image = el.shadowRoot && el.shadowRoot.querySelector('.image');
    return Boolean(image) && (image.style.backgroundImage || '').startsWith('url(');
  });
  return {path: location.pathname, browse: Boolean(browse), children: children.length,
          thumbnails: thumbs.length, thumbnails_shown: shown.length};
};
window.__hsDevice = (name) => {
  const all = window.__hsAll(document);
  const page = all.find((el) => el.localName === 'ha-config-device-page');
  const inside = page ? window.__hsAll(page.shadowRoot || page) : [];
  const text = page ? inside.map((el) => el.shadowRoot ? '' : el.textContent || '').join(' ') : '';
  return {path: location.pathname, page: Boolean(page),
          named: text.includes(name),
          entities: inside.filter((el) => el.localName === 'state-badge').length,
          cards: inside.filter((el) => el.localName === 'ha-card').length};
};
"""


def _say(message: str) -> None:
    print(f"e2e-screenshots: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Shot:
    """A docs image: its source screenshot, the part kept (left, top, right, bottom in the
    source's pixels; None: all) and its widest size."""

    source: str
    box: tuple[int, int, int, int] | None = None
    width: int = WIDTH


# This script's screenshots (1280 px wide), without the sidebar.
OWN_SHOTS = {
    "media-browser.png": Shot("media_browser.png", (256, 0, 1280, 580)),
    "device-page.png": Shot("device_page.png", (256, 0, 1280, 760)),
}
# The screenshots scripts/e2e_card.py (1280 x 813; mobile 390 x 844 at 2x) and
# scripts/e2e_check.py leave, cut to the card, the player, the editor and the drawer.
E2E_SHOTS = {
    "timeline-card-desktop-light.png": Shot(
        "timeline_card_desktop_light.png", (505, 56, 1020, 813)
    ),
    "timeline-card-desktop-dark.png": Shot("timeline_card_desktop_dark.png", (505, 56, 1020, 813)),
    "timeline-card-mobile-dark.png": Shot("timeline_card_mobile_dark.png", width=390),
    "timeline-card-player.png": Shot("timeline_card_player.png", (150, 105, 1130, 710)),
    "timeline-card-editor.png": Shot("timeline_card_editor.png", (0, 56, 1020, 813)),
    "notification-drawer.png": Shot("notification_drawer_*.png", (0, 0, 500, 560)),
}


def shrink(source: Path, target: Path, box: tuple[int, int, int, int] | None, width: int) -> int:
    """Crop `source` to `box`, scale it to at most `width` px wide and save it at `target` as
    a 128-colour palette PNG. Returns the size in bytes."""
    from PIL import Image  # Home Assistant's venv has Pillow

    with Image.open(source) as opened:
        image = opened.convert("RGB")
    if box is not None:
        image = image.crop(box)
    if image.width > width:
        image = image.resize(
            (width, round(image.height * width / image.width)), Image.Resampling.LANCZOS
        )
    palette = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    target.parent.mkdir(parents=True, exist_ok=True)
    palette.save(target, optimize=True)
    return target.stat().st_size


async def _until(
    page: Any, what: str, expression: str, done: Callable[[dict[str, Any]], Any]
) -> dict[str, Any]:
    """Poll `expression` (with the helpers) until done(state); fail naming the last state."""
    deadline = time.monotonic() + UI_TIMEOUT
    while True:
        state = await page.evaluate(f"{_PAGE_HELPERS}; {expression}") or {}
        if done(state):
            return dict(state)
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out waiting for {what}; the page showed {state}")
        await asyncio.sleep(0.25)


async def _media_path(api: Api) -> str:
    """The media browser's URL of the demo camera's newest day (one `type,id` part a level)."""
    parts = []
    media_id = ROOT
    for level in ("camera", "day"):
        node = await api.command(
            {"type": "media_source/browse_media", "media_content_id": media_id}
        )
        parts.append(f"{node['media_content_type']},{node['media_content_id']}")
        children = node.get("children") or []
        if level == "camera":
            children = [c for c in children if c["title"].startswith(CAMERA)]
        if not children:
            raise CheckFailed(f"no {level} under {media_id}: {node}")
        media_id = children[0]["media_content_id"]
    node = await api.command({"type": "media_source/browse_media", "media_content_id": media_id})
    parts.append(f"{node['media_content_type']},{node['media_content_id']}")
    return "/media-browser/browser/" + "/".join(quote(part, safe="") for part in parts)


async def _screenshots(url: str, api: Api, device_id: str) -> dict[str, Path]:
    if (missing := e2e_browser.chromium_missing_reason()) is not None:
        raise CheckFailed(f"{missing}: run scripts/setup")
    await asyncio.to_thread(ARTEFACTS.mkdir, parents=True, exist_ok=True)
    shots: dict[str, Path] = {}
    media = await _media_path(api)
    async with e2e_browser._Chromium() as browser:
        page = await browser.open_page()
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        await _login_and_open(page, url, api.tokens)
        failed = ARTEFACTS / "screenshots_failed.png"
        try:
            await page.send("Page.navigate", {"url": f"{url}{media}"})
            await _until(
                page,
                f"the media browser with {CLIPS} clips and their thumbnails",
                "window.__hsMedia()",
                lambda s: s.get("children", 0) >= CLIPS and s.get("thumbnails_shown", 0) >= CLIPS,
            )
            await asyncio.sleep(2.0)  # the thumbnails' images decoded and painted
            shots["media-browser.png"] = ARTEFACTS / OWN_SHOTS["media-browser.png"].source
            await page.screenshot(shots["media-browser.png"])

            await page.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            )
            await page.send("Page.navigate", {"url": f"{url}/config/devices/device/{device_id}"})
            await _until(
                page,
                f"the device page of {CAMERA} with its entities",
                f"window.__hsDevice({json.dumps(CAMERA)})",
                lambda s: s.get("named") and s.get("entities", 0) >= 5,
            )
            await asyncio.sleep(2.0)
            shots["device-page.png"] = ARTEFACTS / OWN_SHOTS["device-page.png"].source
            await page.screenshot(shots["device-page.png"])
        except BaseException:
            await page.screenshot(failed)
            _say(f"screenshot of the failure: {failed}")
            raise
    return shots


async def _run(ha: HomeAssistantProcess) -> dict[str, Path]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await _wait_until_up(session, ha)
        api = Api(session, ha.url)
        await api.login()
        await api.connect()
        try:
            await _wait_until_running(api, ha)
            with contextlib.suppress(CheckFailed):  # no HTTP settings dialog over the pages
                await api.command({"type": "http/config/promote"})
            names = await asyncio.to_thread(_make_clips, ha.config_dir, CLIPS)
            await _wait_processed(api, names)
            devices = await api.command({"type": "config/device_registry/list"})
            device = next((d["id"] for d in devices if d.get("name") == CAMERA), None)
            if device is None:
                raise CheckFailed(f"no device named {CAMERA!r}")
            return await _screenshots(ha.url, api, device)
        finally:
            await api.close()


def _e2e_sources(folder: Path) -> dict[str, tuple[Path, Shot]]:
    found = {}
    for name, shot in E2E_SHOTS.items():
        matches = sorted(folder.glob(shot.source), key=lambda p: p.stat().st_mtime)
        if not matches:
            raise CheckFailed(f"no {shot.source} in {folder}: run scripts/e2e_card.py first")
        found[name] = (matches[-1], shot)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the images")
    parser.add_argument(
        "--from-e2e",
        type=Path,
        help="also shrink the screenshots scripts/e2e_card.py and e2e_check.py left here",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary config folder")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sources: dict[str, tuple[Path, Shot]] = {}
    config_dir = Path(tempfile.mkdtemp(prefix="homesec-e2e-shots-"))
    ha = HomeAssistantProcess(config_dir, _free_port())
    failure: str | None = None
    try:
        if args.from_e2e is not None:
            sources = _e2e_sources(args.from_e2e)
        _run_quiet([sys.executable, str(SEED), str(config_dir)], "seeding the config folder")
        ha.start()
        for name, path in asyncio.run(_run(ha)).items():
            sources[name] = (path, OWN_SHOTS[name])
    except (CheckFailed, e2e_browser.BrowserCheckFailed) as err:
        failure = str(err)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        ended = ha.stop()
    if problems := log_problems(ha.log_text()):
        _say("Home Assistant's log names HomeSec:\n  " + "\n  ".join(problems))
    if failure is not None:
        print(ha.log_tail(60), file=sys.stderr)
        _say(f"config folder kept: {config_dir}")
        print(f"e2e-screenshots: FAILED: {failure}; Home Assistant {ended}", flush=True)
        return 1
    sizes = {
        name: shrink(source, args.out / name, shot.box, shot.width)
        for name, (source, shot) in sorted(sources.items())
    }
    if args.keep:
        _say(f"config folder kept: {config_dir}")
    else:
        shutil.rmtree(config_dir, ignore_errors=True)
    listed = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items())
    print(
        f"e2e-screenshots: ok: {len(sizes)} images in {args.out} "
        f"({sum(sizes.values()) / 1024:.0f} KiB): {listed}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
