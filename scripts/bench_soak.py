"""Soak benchmark: a real Home Assistant with 8 HomeSec cameras for N minutes, faults injected.

Run inside the Python 3.14 root with the develop venv (bare Home Assistant 2026.11.0; Home
Assistant installs HomeSec's manifest requirements itself on the first start):

    scripts/in-python314 .venvs/develop/bin/python scripts/bench_soak.py \
        --minutes 3 --out /tmp/soak3.md
    nohup scripts/in-python314 .venvs/develop/bin/python scripts/bench_soak.py \
        --minutes 30 --out /tmp/soak30.md > /tmp/soak30.log 2>&1 &

What runs (everything on 127.0.0.1, in a temporary folder /tmp/homesec-soak-*, kept with --keep
or when the run fails):

* Home Assistant (`python -m homeassistant`), its config folder seeded by scripts/develop_seed.py
  (login dev / homesec-dev, loopback-only network) and then given this script's HomeSec entry
  (8 camera subentries, vision model, notify service) and an `mqtt` entry for the broker below;
  configuration.yaml has a `rest` notify service `notify.homesec_probe` posting to a counting
  HTTP server here, and `homesec_soak_probe:` (scripts/soak_probe/, linked into the config
  folder's custom_components; benchmark only) which measures the event loop's lag inside
  Home Assistant: a task sleeps 10 ms in a loop and logs how late each wake-up is, once a second,
  to soak_probe.jsonl.
* 3 RTSP cameras: tests/core/rtsp_server.py (GStreamer, system python) plays one generated
  160x96 10 fps H.264 file per camera, in real time. The scene is still except for a 3 s object
  crossing once a minute (each camera at its own second of the minute), so HomeSec's own motion
  detection (detect 5 fps, 160 px, threshold 25, 0.5 % area) records about one clip a minute:
  pre-roll 2 s + 3 s motion + 2 s motion-off delay + post-roll 5 s ~ 12 s (max clip 30 s). The
  file is longer than warm-up + run + drain, so the stream never ends (a reconnect would replay
  it from its start; such clips do not match the minute grid and are reported as unmatched).
* 3 watched-folder cameras: a fresh 3 s 160x96 clip (tests/core/video.py) is renamed into each
  camera's folder once a minute.
* 2 Frigate cameras (front_door, garage): tests/core/frigate_server.py (fake Frigate HTTP API)
  serves the clip; once a minute per camera the script publishes `frigate/events` `new` and,
  6 s later, `end` to a real Mosquitto broker (/usr/sbin/mosquitto) that Home Assistant's MQTT
  integration is connected to. The event is listed by the fake `/api/events` (for catch-up).
* Vision model: tests/core/openai_server.py answering risk `high`, so every clip alerts
  (min risk medium); when the model is down, the policy alerts anyway (no analysis, passthrough
  filter or Frigate's trigger class), so every produced clip must give exactly one delivery.

Faults (seeded random order, cycling through the classes; the first 30-60 s after warm-up, then
one every 2-4 min, each 20-90 s; none during the drain):

* `vlm_down`: the vision model answers 503 (half of them) or refuses connections (closed);
* `storage_away`: the storage folder is renamed away and back (HomeSec must keep the clips and
  store them when it is back; it never recreates a missing root);
* `mqtt_restart`: mosquitto is stopped and started again on the same port (Frigate events that
  end meanwhile cannot be published; HomeSec must catch them up from Frigate's API).

After N minutes production stops, the drain (default 180 s, shorter once everything arrived,
plus 20 s for late repeats) lets retries finish; then Home Assistant is stopped and counted.
Home Assistant, mosquitto and the RTSP server are stopped in every case (also Ctrl-C/SIGTERM).

Figures (in the Markdown report printed at the end and written to --out; raw data next to it
as <out>.json):

* clips produced: folder files dropped + Frigate events ended (published or not) + RTSP motion
  bursts played during the run (N per RTSP camera); finished = clips with a
  `homesec_nvr_clip_processed` event (websocket subscription; any status); lost = produced
  clips never finished; processed twice = clips with more than one such event; not in
  storage = finished clips without a clip file (named by the clip id) in the storage folder at
  the end (a clip met by `storage_away` must be stored once the folder is back);
* alerts expected = produced clips (each must alert once); deliveries = POSTs of the rest notify
  service, matched to clips by camera name and start time (HH:MM:SS, UTC) in the message;
  lost = produced clips without a delivery; repeated = deliveries beyond the first;
* tracebacks / ERROR lines: records of custom_components.homesec_nvr in home-assistant.log
  (tracebacks also when a traceback passes through custom_components/homesec_nvr/); WARNING
  lines are counted too (expected faults should show up as those);
* loop lag: longest wake-up lateness of the probe (= longest block) and p50/p99 over the run;
  per fault window the longest lateness from its start to 60 s after its end;
* RSS of the Home Assistant process (/proc/PID/status VmRSS) after warm-up, every minute, and at
  the end; trend = least-squares slope in MB per 10 min over the run;
* per fault class: injections, clips produced during a fault / in the 60 s after it, lost
  clips, lost / repeated alerts, tracebacks, ERROR lines and the longest loop block of those
  clips' windows. A clip is counted in the window its production time falls in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import import_core  # noqa: E402 - after the path setup

# The fake servers import `custom_components.homesec_nvr.core.*`: register the packages as
# plain namespaces first (no Home Assistant glue in this process).
import_core("media")

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from e2e_check import (  # noqa: E402 - shared with the end-to-end check
    Api,
    CheckFailed,
    HomeAssistantProcess,
    _records,
    _run_quiet,
    _wait_until_running,
    _wait_until_up,
    log_problems,
)
from paho.mqtt import client as paho  # noqa: E402 - Home Assistant's MQTT requirement
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from tests.core import frigate_server, openai_server  # noqa: E402
from tests.core.rtsp_fixture import RtspServer  # noqa: E402
from tests.core.video import ClipSpec, write_h264_clip  # noqa: E402

SEED = ROOT / "scripts" / "develop_seed.py"
PROBE_DIR = ROOT / "scripts" / "soak_probe" / "homesec_soak_probe"
DOMAIN = "homesec_nvr"
OURS = f"custom_components.{DOMAIN}"
MOSQUITTO = "/usr/sbin/mosquitto"
FAULT_CLASSES = ("vlm_down", "storage_away", "mqtt_restart")
AFTER_S = 60.0  # a fault's "after" window
RTSP_OFFSETS = (12, 32, 52)  # second of the minute of each RTSP camera's motion burst
FOLDER_OFFSETS = (5, 25, 45)
FRIGATE_OFFSETS = (15, 45)
FRIGATE_CAMERAS = ("front_door", "garage")
FRIGATE_EVENT_S = 6.0
RTSP_PRE_ROLL_S = 2.0
RTSP_FPS = 10
RTSP_SIZE = (160, 96)
BURST_S = 3.0


def say(message: str) -> None:
    print(f"soak {time.strftime('%H:%M:%S')}: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def hms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


# ------------------------------------------------------------------------------- processes


class Broker:
    """mosquitto on 127.0.0.1 (config as tests/mosquitto.py writes it), restartable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.log_path = directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
            (self.directory / "mosquitto.conf").write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                f"log_dest file {self.log_path}\nlog_type all\nlog_timestamp true\n"
                f"user {os.environ.get('USER') or 'root'}\n"
            )
        with (self.directory / "mosquitto.out").open("ab") as out:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def subscribed(self, topic: str) -> bool:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return False
        return any(line.endswith(f" {topic}") for line in text.splitlines())

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> bool:
        """Publish with QoS 1 on a fresh connection; False when the broker is unreachable."""
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"soak-{uuid.uuid4().hex[:8]}")
        try:
            client.connect("127.0.0.1", self.port, keepalive=10)
        except OSError:
            return False
        client.loop_start()
        try:
            info = client.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(timeout=5)
            return bool(info.is_published())
        except (RuntimeError, ValueError, OSError):
            return False
        finally:
            with contextlib.suppress(Exception):
                client.disconnect()
            client.loop_stop()


class VisionModel(openai_server.OpenAIServer):
    """The test OpenAI server, answering a high risk; can answer 503 or refuse connections."""

    def __init__(self) -> None:
        super().__init__()
        self.default_content = openai_server.analysis_json(
            risk_level="high", summary="Someone is at the camera."
        )
        self.unavailable = False

    async def start(self, port: int = 0) -> None:  # type: ignore[override]
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port or self.port).start()
        self.port = int(self._runner.addresses[0][1])
        self._closing = asyncio.Event()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if self.unavailable:
            self.requests.append(
                openai_server.RecordedRequest("POST", request.path, {}, None, time.monotonic())
            )
            return openai_server._error(
                503, "The server is overloaded or not ready yet.", error_type="server_error"
            )
        return await super()._chat(request)


class NotifySink:
    """What HA's rest notify service posts: {message, title, tag, url}, with arrival time."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/notify", self._post)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {"raw": await request.text()}
        self.deliveries.append({"at": time.time(), **body})
        return web.json_response({"ok": True})


# ----------------------------------------------------------------------------------- media


def make_rtsp_scene(path: Path, seconds: float, offset: float) -> Path:
    """A still scene with a 3 s object crossing at `offset` s into every minute."""
    from fractions import Fraction

    import av
    import numpy as np

    width, height = RTSP_SIZE
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (24 + ((xx + yy) % 64) // 8).astype(np.int16)
    noise = [
        rng.integers(0, 4, (height // 8 + 1, width // 8 + 1))
        .repeat(8, 0)
        .repeat(8, 1)[:height, :width]
        .astype(np.int16)
        for _ in range(4)
    ]
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)
    part = path.with_name(f".{path.name}.part")
    with av.open(str(part), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=RTSP_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, RTSP_FPS)
        stream.codec_context.gop_size = RTSP_FPS
        stream.codec_context.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={RTSP_FPS}:min-keyint={RTSP_FPS}:scenecut=0:bframes=0",
        }
        for index in range(int(seconds * RTSP_FPS)):
            t = index / RTSP_FPS
            luma = background + noise[index % len(noise)]
            into = (t - offset) % 60.0
            if into < BURST_S:
                x = int(-32 + (width + 32) * into / BURST_S)
                luma[30:70, max(0, x) : max(0, x + 32)] = 235
            yuv = np.concatenate((np.clip(luma, 16, 235).astype(np.uint8), chroma))
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, RTSP_FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(part, path)
    return path


def make_folder_clip(path: Path, seq: int) -> Path:
    x = 8 + (seq * 7) % 80
    spec = ClipSpec(
        width=160,
        height=96,
        fps=10,
        seconds=3.0,
        object_box=(x, 32, x + 32, 80),
        object_speed=20.0,
        noise=4,
    )
    return write_h264_clip(path, spec, atomic=True)


# ------------------------------------------------------------------------------ the config


def configuration_yaml(notify_port: int) -> str:
    return f"""# Written by scripts/bench_soak.py.
homeassistant:
  name: HomeSec Soak
  unit_system: metric
  time_zone: UTC
  country: US
  media_dirs:
    local: !env_var HOMESEC_DEV_MEDIA_DIR

http:
  server_host: 127.0.0.1
  server_port: !env_var HOMESEC_DEV_PORT 8123

media_source:

notify:
  - platform: rest
    name: homesec_probe
    resource: http://127.0.0.1:{notify_port}/notify
    method: POST_JSON
    title_param_name: title
    data_template:
      tag: "{{{{ data.tag if data is defined else '' }}}}"
      url: "{{{{ data.url if data is defined and data.url is defined else '' }}}}"

homesec_soak_probe:

logger:
  default: warning
  logs:
    custom_components.homesec_nvr: info
"""


@dataclass
class Cams:
    rtsp: list[dict[str, Any]] = field(default_factory=list)  # name, mount, offset
    folders: list[dict[str, Any]] = field(default_factory=list)  # name, folder, offset
    frigate: list[dict[str, Any]] = field(default_factory=list)  # name, offset


def seed_entries(
    config_dir: Path, cams: Cams, rtsp_url: str, vlm_url: str, frigate_url: str, mqtt_port: int
) -> None:
    """Replace the seeded HomeSec entry with the soak's, add the MQTT entry."""
    from homeassistant.config_entries import SOURCE_USER, ConfigEntry
    from homeassistant.helpers.json import JSONEncoder

    subentries: list[dict[str, Any]] = []
    for cam in cams.rtsp:
        url = rtsp_url + cam["mount"]
        subentries.append(
            {
                "data": {
                    "name": cam["name"],
                    "stream_url": url,
                    "detect_fps": 5,
                    "detect_width": RTSP_SIZE[0],
                    "motion_threshold": 25,
                    "min_area_percent": 0.5,
                    "pre_roll_s": RTSP_PRE_ROLL_S,
                    "post_roll_s": 5,
                    "max_clip_s": 30,
                    "min_clip_s": 1,
                },
                "subentry_type": "rtsp",
                "title": cam["name"],
                "unique_id": url,
            }
        )
    for cam in cams.folders:
        subentries.append(
            {
                "data": {
                    "name": cam["name"],
                    "folder": str(cam["folder"]),
                    "poll_interval_seconds": 1.0,
                    "stable_time_seconds": 2.0,
                    "delete_after_store": False,
                },
                "subentry_type": "local_folder",
                "title": cam["name"],
                "unique_id": str(cam["folder"]),
            }
        )
    if cams.frigate:
        subentries.append(
            {
                "data": {
                    "url": frigate_url,
                    "verify_ssl": True,
                    "mode": "events",
                    "cameras": [],
                    "labels": ["person"],
                    "sub_labels": [],
                    "zones": [],
                    "min_score": 0.7,
                    "min_duration_s": 1.0,
                    "severities": ["alert"],
                    "padding_s": 0,
                    "download_window_s": 60,
                    "topic_prefix": "frigate",
                    "write_description": False,
                },
                "subentry_type": "frigate",
                "title": "Frigate (127.0.0.1)",
                "unique_id": f"frigate:{frigate_url}",
            }
        )
    homesec = ConfigEntry(
        data={
            "storage_path": str(config_dir / "media" / "homesec"),
            "vlm_api_key": "sk-soak",
        },
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=1,
        options={
            "retention_days": 30,
            "max_storage_gb": 10.0,
            "max_clips_in_flight": 2,
            "max_attempts": 3,
            "alerts_enabled": True,
            "min_risk_level": "medium",
            "notify_on_activity_types": [],
            "notify_on_motion": False,
            # One delivery per clip is what the soak counts (a live alert would add one).
            "live_alerts": False,
            "trigger_classes": ["person"],
            "alert_hold_seconds": 60,
            "notify_services": ["notify.homesec_probe"],
            "persistent_notification": False,
            "vlm_enabled": True,
            "vlm_base_url": vlm_url,
            "vlm_model": openai_server.DEFAULT_MODEL,
            "vlm_run_mode": "trigger_only",
            "vlm_max_frames": 4,
            "vlm_max_image_side": 320,
            "vlm_request_timeout_s": 20,
        },
        source=SOURCE_USER,
        subentries_data=subentries,
        title="HomeSec",
        unique_id=DOMAIN,
        version=1,
    )
    mqtt = ConfigEntry(
        data={"broker": "127.0.0.1", "port": mqtt_port},
        discovery_keys=MappingProxyType({}),
        domain="mqtt",
        minor_version=2,
        options={},
        source=SOURCE_USER,
        subentries_data=None,
        title=f"127.0.0.1:{mqtt_port}",
        unique_id=None,
        version=1,
    )
    path = config_dir / ".storage" / "core.config_entries"
    stored = json.loads(path.read_text())
    entries = [e for e in stored["data"]["entries"] if e.get("domain") not in (DOMAIN, "mqtt")]
    entries += [homesec.as_dict(), mqtt.as_dict()]
    stored["data"]["entries"] = entries
    path.write_text(json.dumps(stored, cls=JSONEncoder, indent=2))


# ---------------------------------------------------------------------------------- the run


@dataclass
class Produced:
    """A clip the script made happen (or, for RTSP, a motion burst on the stream)."""

    key: str  # folder: file name; frigate: clip id; rtsp: "<camera>#<minute>"
    kind: str
    camera: str
    at: float  # production time (epoch)
    note: str = ""


@dataclass
class Fault:
    cls: str
    start: float
    end: float = 0.0
    detail: str = ""


@dataclass
class Run:
    args: argparse.Namespace
    work: Path
    cams: Cams = field(default_factory=Cams)
    produced: list[Produced] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    t0: float = 0.0
    t_end: float = 0.0
    t_drained: float = 0.0
    ha_pid: int = 0
    ha_version: str = "?"
    notes: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    rtsp_origin: dict[str, float] = field(default_factory=dict)


class Soak:
    def __init__(self, run: Run, ha: HomeAssistantProcess, broker: Broker, rtsp: RtspServer):
        self.run = run
        self.ha = ha
        self.broker = broker
        self.rtsp = rtsp
        self.vlm = VisionModel()
        self.sink = NotifySink()
        self.frigate = frigate_server.FakeFrigate(
            cameras={"front_door": ["porch"], "garage": ["driveway"]}
        )
        self.frigate_clip: Path | None = None
        self.storage = ha.config_dir / "media" / "homesec"
        self.storage_away = ha.config_dir / "media" / "homesec.soak-away"
        self.api: Api | None = None
        self.rng = random.Random(run.args.seed)
        self.active: Fault | None = None
        self.watch: asyncio.Task[None]

    # -- helpers ---------------------------------------------------------------------------

    async def sleep_until(self, epoch: float) -> None:
        delay = epoch - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- producers -------------------------------------------------------------------------

    async def folder_camera(self, index: int) -> None:
        cam = self.run.cams.folders[index]
        staging = self.run.work / "staging"
        staging.mkdir(exist_ok=True)
        for minute in range(self.run.args.minutes):
            await self.sleep_until(self.run.t0 + 60 * minute + cam["offset"])
            name = f"soak_f{index + 1}_{minute:03d}.mp4"
            clip = await asyncio.to_thread(make_folder_clip, staging / name, index * 1000 + minute)
            os.replace(clip, Path(cam["folder"]) / name)
            self.run.produced.append(Produced(name, "local_folder", cam["name"], time.time()))

    async def frigate_camera(self, index: int) -> None:
        cam = self.run.cams.frigate[index]
        assert self.frigate_clip is not None
        for minute in range(self.run.args.minutes):
            await self.sleep_until(self.run.t0 + 60 * minute + cam["offset"])
            start = time.time()
            event_id = f"{start:.6f}-soak{index}{minute:03d}"
            common = {
                "camera": cam["name"],
                "start_time": start,
                "entered_zones": [self.frigate.cameras[cam["name"]][0]],
                "current_zones": [],
                "attributes": {},
            }
            new_after = frigate_server.event_after(
                event_id,
                **common,
                end_time=None,
                active=True,
                frame_time=start,
                snapshot={"frame_time": start, "box": [100, 120, 180, 300], "score": 0.88},
            )
            new_ok = await asyncio.to_thread(
                self.broker.publish,
                "frigate/events",
                json.dumps({"type": "new", "before": new_after, "after": new_after}),
            )
            await asyncio.sleep(FRIGATE_EVENT_S)
            end = time.time()
            after = frigate_server.event_after(
                event_id,
                **common,
                end_time=end,
                active=False,
                frame_time=end - 1,
                snapshot={"frame_time": end - 2, "box": [100, 120, 180, 300], "score": 0.88},
            )
            self.frigate.add_event(event_id, self.frigate_clip, camera=cam["name"], record=after)
            end_ok = await asyncio.to_thread(
                self.broker.publish,
                "frigate/events",
                json.dumps({"type": "end", "before": {**after, "end_time": None}, "after": after}),
            )
            note = "" if end_ok else "end not published (broker down)"
            if not new_ok and end_ok:
                note = "new not published (broker down)"
            self.run.produced.append(
                Produced(f"frigate-{event_id}", "frigate", cam["name"], end, note)
            )

    def rtsp_bursts(self) -> None:
        """N bursts per RTSP camera (one per minute of the run; their times are matched
        once the stream's phase is known from its clips)."""
        for cam in self.run.cams.rtsp:
            for minute in range(self.run.args.minutes):
                self.run.produced.append(
                    Produced(
                        f"{cam['name']}#{minute}",
                        "rtsp",
                        cam["name"],
                        self.run.t0 + 60 * minute + cam["offset"],  # refined by the phase
                    )
                )

    # -- faults ----------------------------------------------------------------------------

    async def inject(self, cls: str, seconds: float) -> None:
        fault = Fault(cls, time.time())
        self.active = fault
        self.run.faults.append(fault)
        try:
            if cls == "vlm_down":
                if self.rng.random() < 0.5:
                    fault.detail = "503 answers"
                    self.vlm.unavailable = True
                else:
                    fault.detail = "connections refused"
                    await self.vlm.close()
            elif cls == "storage_away":
                fault.detail = f"{self.storage.name} renamed away"
                await asyncio.to_thread(os.rename, self.storage, self.storage_away)
            elif cls == "mqtt_restart":
                fault.detail = "mosquitto stopped"
                await asyncio.to_thread(self.broker.stop)
            say(f"fault {cls} ({fault.detail}) for {seconds:.0f} s")
            await asyncio.sleep(seconds)
        finally:
            await self.heal(fault)

    async def heal(self, fault: Fault) -> None:
        if fault.end:
            return
        if fault.cls == "vlm_down":
            self.vlm.unavailable = False
            if self.vlm._runner is None:
                await self.vlm.start(self.vlm.port)
        elif fault.cls == "storage_away":
            if self.storage.exists():
                fault.detail += "; the storage root was RECREATED while away (merged back)"
                self.run.notes.append(
                    f"storage root recreated during the fault at {hms(fault.start)}"
                )
                await asyncio.to_thread(
                    shutil.copytree, self.storage_away, self.storage, dirs_exist_ok=True
                )
                await asyncio.to_thread(shutil.rmtree, self.storage_away)
            else:
                await asyncio.to_thread(os.rename, self.storage_away, self.storage)
        elif fault.cls == "mqtt_restart":
            await asyncio.to_thread(self.broker.start)
            await asyncio.to_thread(self.broker.publish, "frigate/available", "online", True)
        fault.end = time.time()
        self.active = None
        say(f"fault {fault.cls} over after {fault.end - fault.start:.0f} s")

    async def faults(self) -> None:
        args = self.run.args
        order = list(args.faults)
        self.rng.shuffle(order)
        start = self.run.t0 + self.rng.uniform(30, 60)
        index = 0
        while order:
            seconds = self.rng.uniform(*args.fault_length)
            if start + seconds > self.run.t_end:
                return
            await self.sleep_until(start)
            await self.inject(order[index % len(order)], seconds)
            index += 1
            start = max(time.time() + 20, start + self.rng.uniform(*args.fault_every))

    # -- samplers --------------------------------------------------------------------------

    async def sample_rss(self) -> None:
        while True:
            if (value := rss_mb(self.run.ha_pid)) is not None:
                self.run.rss.append((time.time(), value))
            await asyncio.sleep(60)

    # -- the run ---------------------------------------------------------------------------

    def finished_keys(self) -> Counter[str]:
        """Produced-clip keys of the finished clips (RTSP matched to the minute grid)."""
        assert self.api is not None
        keys: Counter[str] = Counter()
        for event in self.api.events:
            key = clip_key(event["data"], self.run)
            if key:
                keys[key] += 1
        return keys

    def everything_in(self) -> bool:
        keys = self.finished_keys()
        return all(p.key in keys for p in self.run.produced)

    async def main(self, started: float) -> None:
        args = self.run.args
        await self.vlm.start()
        await self.sink.start()
        await self.frigate.start()
        clips_dir = self.run.work / "frigate_media"
        self.frigate_clip, _ = await asyncio.to_thread(
            frigate_server.make_clips, clips_dir, FRIGATE_EVENT_S
        )
        config = self.ha.config_dir
        # Written first: the seed copies the repository's configuration.yaml only when none.
        (config / "configuration.yaml").write_text(configuration_yaml(self.sink.port))
        _run_quiet([sys.executable, str(SEED), str(config)], "seeding the config")
        (config / "custom_components" / "homesec_soak_probe").symlink_to(PROBE_DIR)
        seed_entries(
            config,
            self.run.cams,
            self.rtsp.url(""),
            self.vlm.url,
            self.frigate.url,
            self.broker.port,
        )
        self.ha.start()
        self.run.ha_pid = self.ha.proc.pid if self.ha.proc else 0
        say(f"Home Assistant starting (pid {self.run.ha_pid}, {self.ha.url}, {config})")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            await _wait_until_up(session, self.ha)
            api = self.api = Api(session, self.ha.url)
            await api.login()
            await api.connect()
            self.run.events = api.events  # the same list: counted live during the drain
            try:
                await _wait_until_running(api, self.ha)
                # Home Assistant 2026.11 moves the YAML http config into a "pending" trial and,
                # unless an administrator promotes it within 5 minutes, reverts it and
                # restarts (which ends a bare `python -m homeassistant`): promote it.
                try:
                    await api.command({"type": "http/config/promote"})
                    say("pending HTTP config promoted (no revert-and-restart after 5 min)")
                except CheckFailed as err:
                    say(f"HTTP config not promoted: {err}")
                mqtt = await api.command({"type": "config_entries/get", "domain": "mqtt"})
                if not mqtt or mqtt[0]["state"] != "loaded":
                    raise CheckFailed(f"the MQTT entry is not loaded: {mqtt}")
                self.run.ha_version = str((await api.get("/api/config") or {}).get("version"))
                probes = self.ha.config_dir / "soak_probe.jsonl"
                deadline = time.monotonic() + 30
                while not probes.exists():
                    if time.monotonic() > deadline:
                        raise CheckFailed("the loop probe (homesec_soak_probe) writes nothing")
                    await asyncio.sleep(0.5)
                deadline = time.monotonic() + 60
                while not self.broker.subscribed("frigate/events"):
                    if time.monotonic() > deadline:
                        raise CheckFailed("nobody subscribed to frigate/events")
                    await asyncio.sleep(0.5)
                await asyncio.to_thread(self.broker.publish, "frigate/available", "online", True)
                say(
                    f"Home Assistant running after {time.monotonic() - started:.0f} s; "
                    f"warm-up {args.warmup:.0f} s"
                )
                await asyncio.sleep(args.warmup)
                await self.measure(api)
            finally:
                self.run.events = list(api.events)
                self.run.deliveries = list(self.sink.deliveries)
                await api.close()

    async def measure(self, api: Api) -> None:
        args = self.run.args
        self.run.t0 = time.time()
        self.run.t_end = self.run.t0 + 60 * args.minutes
        say(f"run starts: {args.minutes} min, until {hms(self.run.t_end)}")
        self.rtsp_bursts()
        self.watch = asyncio.create_task(self.watch_ha())
        tasks = [asyncio.create_task(self.sample_rss()), self.watch]
        producers = [
            asyncio.create_task(self.folder_camera(i)) for i in range(len(self.run.cams.folders))
        ]
        producers += [
            asyncio.create_task(self.frigate_camera(i)) for i in range(len(self.run.cams.frigate))
        ]
        fault_task = asyncio.create_task(self.faults())
        try:
            progress = asyncio.create_task(self.progress())
            tasks.append(progress)
            await self.guarded(asyncio.gather(*producers))
            await self.guarded(self.sleep_until(self.run.t_end))
            fault_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fault_task
            if self.active is not None:
                await self.heal(self.active)
            say(f"production over; drain up to {args.drain:.0f} s")
            with contextlib.suppress(CheckFailed):  # the drain's end: counted as it is
                await self.guarded(
                    api.wait_for("every produced clip", self.everything_in, args.drain)
                )
            await self.guarded(asyncio.sleep(20))  # late repeats
            self.run.t_drained = time.time()
            if (value := rss_mb(self.run.ha_pid)) is not None:
                self.run.rss.append((time.time(), value))
        finally:
            for task in [*tasks, *producers, fault_task]:
                task.cancel()
            if self.active is not None:
                await self.heal(self.active)
            self.run.t_drained = self.run.t_drained or time.time()

    async def watch_ha(self) -> None:
        """Raises CheckFailed once the Home Assistant process is gone."""
        proc = self.ha.proc
        assert proc is not None
        # Polled, not waited for in a thread: asyncio.run would wait for that thread at exit.
        while proc.poll() is None:  # noqa: ASYNC110
            await asyncio.sleep(1)
        raise CheckFailed(f"Home Assistant exited during the run ({time.strftime('%H:%M:%S')})")

    async def guarded(self, awaitable: Any) -> Any:
        """Await `awaitable`, failing the run at once if Home Assistant exits meanwhile."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task, self.watch}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, CheckFailed):
                await task
            self.watch.result()  # raises CheckFailed
        return task.result()

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(60)
            assert self.api is not None
            keys = self.finished_keys()
            due = [p for p in self.run.produced if p.at <= time.time() - 60]
            say(
                f"produced {len([p for p in self.run.produced if p.at <= time.time()])}, "
                f"events {len(self.api.events)}, deliveries {len(self.sink.deliveries)}, "
                f"missing (older than 60 s) {len([p for p in due if p.key not in keys])}, "
                f"RSS {self.run.rss[-1][1] if self.run.rss else 0:.0f} MB"
            )

    async def close(self) -> None:
        for closer in (self.vlm.close, self.sink.close, self.frigate.close):
            with contextlib.suppress(Exception):
                await closer()


# ------------------------------------------------------------------------------ the figures


def _start_epoch(data: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(data["start_time"])).timestamp()
    except (KeyError, ValueError):
        return None


def rtsp_phase(run: Run, camera: str, offset: float) -> float | None:
    """Where the camera's stream puts its bursts: epoch of burst 0 modulo 60, from its first
    clip (a clip starts a pre-roll before the motion)."""
    starts = sorted(
        s
        for e in run.events
        if e["data"].get("source") == "rtsp"
        and e["data"].get("camera") == camera
        and (s := _start_epoch(e["data"])) is not None
    )
    if not starts:
        return None
    return (starts[0] + RTSP_PRE_ROLL_S - offset) % 60.0


def clip_key(data: dict[str, Any], run: Run) -> str | None:
    """The produced-clip key a finished clip belongs to (None: not one of the run's)."""
    source = data.get("source")
    if source == "local_folder":
        return str(data.get("metadata", {}).get("file_name") or "") or None
    if source == "frigate":
        return str(data.get("clip_id"))
    if source == "rtsp":
        camera = data.get("camera")
        cam = next((c for c in run.cams.rtsp if c["name"] == camera), None)
        start = _start_epoch(data)
        if cam is None or start is None or not run.t0:
            return None
        phase = run.rtsp_origin.get(camera)
        if phase is None:
            phase = rtsp_phase(run, camera, cam["offset"])
            if phase is None:
                return None
            run.rtsp_origin[camera] = phase
        motion = start + RTSP_PRE_ROLL_S
        # The burst grid: t0-aligned minutes at the stream's phase.
        first = run.t0 + ((phase + cam["offset"] - run.t0) % 60.0)
        minute = round((motion - first) / 60.0)
        burst = first + 60.0 * minute
        if abs(motion - burst) > 15:
            return f"{camera}#unmatched@{hms(start)}"
        if not 0 <= minute < run.args.minutes:
            return f"{camera}#outside"
        return f"{camera}#{minute}"
    return None


def _records_with_time(text: str) -> list[tuple[float | None, str, str, list[str]]]:
    out = []
    for level, logger, lines in _records(text):
        stamp = None
        with contextlib.suppress(ValueError):
            stamp = (
                datetime.strptime(lines[0][:23], "%Y-%m-%d %H:%M:%S.%f")
                .replace(tzinfo=UTC)
                .timestamp()
            )
        out.append((stamp, level, logger, lines))
    return out


def stored_clip_ids(storage: Path) -> set[str]:
    """Clip ids with a clip file in the storage folder (file names are lower-cased ids)."""
    return {p.stem.lower() for p in storage.rglob("*.mp4")} if storage.is_dir() else set()


def analyse(
    run: Run, log_text: str, probe_lines: list[dict[str, Any]], stored: set[str]
) -> dict[str, Any]:
    produced = run.produced
    # RTSP: the bursts' real times on the stream's phase.
    for p in produced:
        if p.kind == "rtsp":
            cam = next(c for c in run.cams.rtsp if c["name"] == p.camera)
            phase = run.rtsp_origin.get(p.camera)
            if phase is None:
                phase = rtsp_phase(run, p.camera, cam["offset"])
            if phase is not None:
                first = run.t0 + ((phase + cam["offset"] - run.t0) % 60.0)
                p.at = first + 60.0 * int(p.key.rsplit("#", 1)[1])
    finished: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unmatched: list[str] = []
    for event in run.events:
        data = event["data"]
        key = clip_key(data, run)
        if key is None or "#outside" in key:
            continue
        if "#unmatched" in key:
            unmatched.append(f"{key} ({data.get('clip_id')})")
            continue
        finished[key].append(data)
    produced_keys = {p.key for p in produced}
    warmup_or_other = [k for k in finished if k not in produced_keys]

    # Deliveries -> (camera, HH:MM:SS of the clip's start).
    by_label: Counter[tuple[str, str]] = Counter()
    pattern = re.compile(r"^(?:[A-Z]+ RISK\. )?(?P<camera>.+?) at (?P<t>\d\d:\d\d:\d\d):")
    for d in run.deliveries:
        if match := pattern.match(str(d.get("message", ""))):
            by_label[(match["camera"], match["t"])] += 1
    label_of: dict[str, tuple[str, str]] = {}
    for key, datas in finished.items():
        start = _start_epoch(datas[0])
        if start is not None:
            label_of[key] = (str(datas[0].get("camera")), hms(start))

    def window_of(at: float) -> tuple[str, Fault | None]:
        for f in run.faults:
            if f.start <= at < (f.end or math.inf):
                return "during", f
        for f in run.faults:
            if f.end and f.end <= at < f.end + AFTER_S:
                return "after", f
        return "none", None

    clips: list[dict[str, Any]] = []
    for p in produced:
        datas = finished.get(p.key, [])
        label = label_of.get(p.key)
        deliveries = by_label.get(label, 0) if label else 0
        where, fault = window_of(p.at)
        clips.append(
            {
                "key": p.key,
                "kind": p.kind,
                "camera": p.camera,
                "at": p.at,
                "note": p.note,
                "finished": len(datas),
                "statuses": [d.get("status") for d in datas],
                "alert": [d.get("alert") for d in datas],
                "deliveries": deliveries,
                "window": where,
                "fault": fault.cls if fault else "none",
                "fault_start": fault.start if fault else None,
                "analysis_skipped": [d.get("analysis_skipped_reason") for d in datas],
                "errors": [d.get("error") for d in datas if d.get("error")],
                "stored": any(str(d.get("clip_id", "")).lower() in stored for d in datas),
            }
        )
    matched_labels = {label_of[c["key"]] for c in clips if c["key"] in label_of}
    stray_deliveries = sum(n for label, n in by_label.items() if label not in matched_labels)

    # Log records.
    records = []
    for stamp, level, logger, lines in _records_with_time(log_text):
        body = "\n".join(lines)
        ours = logger == OURS or logger.startswith(OURS + ".")
        traceback = "Traceback" in body and (ours or f"custom_components/{DOMAIN}/" in body)
        if ours or traceback:
            records.append(
                {
                    "at": stamp,
                    "level": level,
                    "logger": logger,
                    "first": lines[0][:300],
                    "traceback": traceback,
                    "lines": len(lines),
                }
            )
    problems = log_problems(log_text)

    # Loop probe.
    probe = [p for p in probe_lines if run.t0 <= p["t"] <= (run.t_drained or math.inf)]

    def lag_max(start: float, end: float) -> float:
        values = [
            p["max_ms"] for p in probe if start <= p["t"] - 1 <= end or start <= p["t"] <= end
        ]
        return max(values, default=float("nan"))

    hist: Counter[float] = Counter()
    for p in probe:
        for bucket, count in p["hist"].items():
            hist[float(bucket)] += count
    total = sum(hist.values())

    def percentile(q: float) -> float:
        if not total:
            return float("nan")
        target = q * total
        seen = 0
        for bucket in sorted(hist):
            seen += hist[bucket]
            if seen >= target:
                return bucket
        return max(hist)

    worst = max(probe, key=lambda p: p["max_ms"], default=None)

    # RSS trend over the run.
    samples = [(t, v) for t, v in run.rss if t >= run.t0]
    slope = float("nan")
    if len(samples) >= 3:
        xs = [t for t, _ in samples]
        ys = [v for _, v in samples]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        den = sum((x - mx) ** 2 for x in xs)
        if den:
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 600

    # Per fault class.
    rows = []
    for cls in (*FAULT_CLASSES, "none", "all"):
        faults = [f for f in run.faults if cls in (f.cls, "all")]
        mine = [c for c in clips if cls in (c["fault"], "all")]
        if cls == "none":
            windows: list[tuple[float, float]] = []
            recs = [r for r in records if r["at"] is None or window_of(r["at"])[0] == "none"]
            block = max(
                (p["max_ms"] for p in probe if window_of(p["t"])[0] == "none"), default=float("nan")
            )
        else:
            windows = [(f.start, f.end + AFTER_S) for f in faults]
            recs = (
                records
                if cls == "all"
                else [r for r in records if r["at"] and any(a <= r["at"] < b for a, b in windows)]
            )
            block = (
                max((p["max_ms"] for p in probe), default=float("nan"))
                if cls == "all"
                else max((lag_max(a, b) for a, b in windows), default=float("nan"))
            )
        rows.append(
            {
                "class": cls,
                "injections": len(faults) if cls != "none" else "-",
                "during": sum(c["window"] == "during" for c in mine)
                if cls not in ("none",)
                else "-",
                "after": sum(c["window"] == "after" for c in mine) if cls not in ("none",) else "-",
                "produced": len(mine),
                "lost": sum(c["finished"] == 0 for c in mine),
                "twice": sum(c["finished"] > 1 for c in mine),
                "not_stored": sum(c["finished"] > 0 and not c["stored"] for c in mine),
                "alerts_lost": sum(c["deliveries"] == 0 for c in mine),
                "alerts_repeated": sum(max(0, c["deliveries"] - 1) for c in mine),
                "tracebacks": sum(r["traceback"] for r in recs),
                "errors": sum(r["level"] in ("ERROR", "CRITICAL") for r in recs),
                "warnings": sum(r["level"] == "WARNING" for r in recs),
                "block_ms": block,
            }
        )
    return {
        "clips": clips,
        "rows": rows,
        "records": records,
        "problems": problems,
        "unmatched": unmatched,
        "other_finished": warmup_or_other,
        "stray_deliveries": stray_deliveries,
        "deliveries": len(run.deliveries),
        "events": len(run.events),
        "loop": {
            "max_ms": worst["max_ms"] if worst else float("nan"),
            "max_at": worst["t"] if worst else None,
            "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99),
            "p999_ms": percentile(0.999),
            "wakeups": total,
            "seconds": len(probe),
        },
        "fault_lag": [lag_max(f.start, f.end + AFTER_S) for f in run.faults],
        "rss": samples,
        "rss_slope_mb_per_10min": slope,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.1f}"
    return str(value)


def _pattern(text: str) -> str:
    """A log message with its clip ids, paths and numbers generalised (to group them)."""
    text = re.sub(r"/tmp/homesec-soak-[^/\s]+", "<work>", text)
    text = re.sub(
        r"\b(?:soak_f\d_\d+-[0-9a-f]+|[0-9a-z]{26}-\d{8}T\d{6,9}Z|frigate-[\d.]+-soak\d+)",
        "<clip>",
        text,
    )
    return re.sub(r"\b\d+(?:\.\d+)?\b", "<n>", text)


def report(run: Run, result: dict[str, Any], ha_version: str, failure: str | None) -> str:
    clips = result["clips"]
    lines = [
        f"# HomeSec soak: {run.args.minutes} min, 8 cameras, seed {run.args.seed}",
        "",
        f"Home Assistant {ha_version}; run {hms(run.t0) if run.t0 else '-'} - "
        f"{hms(run.t_end) if run.t_end else '-'} UTC, drained until "
        f"{hms(run.t_drained) if run.t_drained else '-'}; cameras: "
        f"{len(run.cams.rtsp)} RTSP, {len(run.cams.folders)} watched folders, "
        f"{len(run.cams.frigate)} Frigate.",
        "",
    ]
    if failure:
        lines += [f"**Run failed: {failure}**", ""]
    lines += [
        "| fault class | injections | clips produced during | clips produced after (60 s) | "
        "clips produced (total) | clips lost | processed twice | finished, not in storage | "
        "alerts lost | alerts repeated | tracebacks | ERROR lines | WARNING lines | "
        "longest loop block (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            "| "
            + " | ".join(
                _fmt(row[k])
                for k in (
                    "class",
                    "injections",
                    "during",
                    "after",
                    "produced",
                    "lost",
                    "twice",
                    "not_stored",
                    "alerts_lost",
                    "alerts_repeated",
                    "tracebacks",
                    "errors",
                    "warnings",
                    "block_ms",
                )
            )
            + " |"
        )
    lines += [
        "",
        "Rows `none`: clips produced outside every fault and its 60 s after-window; "
        "log lines and loop lag outside them. Row `all`: the whole run.",
        "",
    ]

    lines += [
        "## Clips by source",
        "",
        "| source | produced | finished | lost | processed twice | not in storage | statuses | "
        "deliveries | alerts lost | alerts repeated |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for kind in ("rtsp", "local_folder", "frigate"):
        mine = [c for c in clips if c["kind"] == kind]
        statuses = Counter(s for c in mine for s in c["statuses"])
        lines.append(
            f"| {kind} | {len(mine)} | {sum(c['finished'] > 0 for c in mine)} | "
            f"{sum(c['finished'] == 0 for c in mine)} | {sum(c['finished'] > 1 for c in mine)} | "
            f"{sum(c['finished'] > 0 and not c['stored'] for c in mine)} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or '-'} | "
            f"{sum(c['deliveries'] for c in mine)} | {sum(c['deliveries'] == 0 for c in mine)} | "
            f"{sum(max(0, c['deliveries'] - 1) for c in mine)} |"
        )
    produced = len(clips)
    lines += [
        "",
        f"Totals: clips produced {produced}, finished {sum(c['finished'] > 0 for c in clips)}, "
        f"lost {sum(c['finished'] == 0 for c in clips)}, processed twice "
        f"{sum(c['finished'] > 1 for c in clips)}; alerts expected {produced}, notifier "
        f"deliveries {result['deliveries']} (matched to produced clips "
        f"{sum(c['deliveries'] for c in clips)}, others {result['stray_deliveries']}: warm-up or "
        f"unmatched), lost {sum(c['deliveries'] == 0 for c in clips)}, repeated "
        f"{sum(max(0, c['deliveries'] - 1) for c in clips)}; clip_processed events "
        f"{result['events']} (warm-up/outside-run clips not counted).",
        "",
    ]
    loop = result["loop"]
    lines += [
        "## Event loop (probe inside Home Assistant, 10 ms sleeps)",
        "",
        f"Longest block {_fmt(loop['max_ms'])} ms"
        + (f" at {hms(loop['max_at'])}" if loop["max_at"] else "")
        + f"; p50 {_fmt(loop['p50_ms'])} ms, p99 {_fmt(loop['p99_ms'])} ms, p99.9 "
        f"{_fmt(loop['p999_ms'])} ms over {loop['wakeups']} wake-ups ({loop['seconds']} s).",
        "",
    ]
    rss = result["rss"]
    if rss:
        picks = rss if len(rss) <= 8 else [rss[round(i * (len(rss) - 1) / 7)] for i in range(8)]
        lines += [
            "## Memory (RSS of the Home Assistant process)",
            "",
            f"Start (after warm-up) {rss[0][1]:.0f} MB, end {rss[-1][1]:.0f} MB; trend "
            f"{_fmt(result['rss_slope_mb_per_10min'])} MB per 10 min; samples: "
            + ", ".join(f"{hms(t)} {v:.0f} MB" for t, v in picks),
            "",
        ]
    lines += [
        "## Faults injected",
        "",
        "| # | class | detail | start | end | seconds | "
        "longest loop lateness start..end+60 s (ms) |",
        "|---:|---|---|---|---|---:|---:|",
    ]
    for i, (f, lag) in enumerate(zip(run.faults, result["fault_lag"], strict=True), 1):
        lines.append(
            f"| {i} | {f.cls} | {f.detail} | {hms(f.start)} | {hms(f.end) if f.end else '-'} | "
            f"{(f.end - f.start) if f.end else 0:.0f} | {_fmt(lag)} |"
        )
    lost = [c for c in clips if c["finished"] == 0]
    twice = [c for c in clips if c["finished"] > 1]
    no_alert = [c for c in clips if c["deliveries"] == 0 and c["finished"]]
    repeated = [c for c in clips if c["deliveries"] > 1]
    lines += ["", "## Details", ""]
    for title, items in (
        ("Lost clips", lost),
        ("Processed more than once", twice),
        (
            "Finished, but no clip file in the storage folder",
            [c for c in clips if c["finished"] and not c["stored"]],
        ),
        ("Finished without a delivery", no_alert),
        ("Alert delivered more than once", repeated),
    ):
        lines.append(f"{title}: {len(items)}")
        for c in items[:30]:
            lines.append(
                f"- {c['key']} ({c['camera']}, produced {hms(c['at'])}, {c['window']} "
                f"{c['fault']}; events {c['finished']} {c['statuses']}, alert {c['alert']}, "
                f"deliveries {c['deliveries']}{'; ' + c['note'] if c['note'] else ''}"
                f"{'; errors ' + str(c['errors']) if c['errors'] else ''})"
            )
    if result["unmatched"]:
        lines.append(
            f"RTSP clips off the minute grid (stream replayed?): {len(result['unmatched'])}"
        )
        lines += [f"- {u}" for u in result["unmatched"][:20]]
    bad = [r for r in result["records"] if r["traceback"] or r["level"] in ("ERROR", "CRITICAL")]
    blocking = [r for r in result["records"] if "Detected blocking call" in r["first"]]
    lines.append(
        f"Blocking-call reports naming homesec_nvr (counted as tracebacks): {len(blocking)}"
    )
    lines.append(f"ERROR records / tracebacks of HomeSec: {len(bad)}")
    lines += [f"- `{r['first']}`" + (" (traceback)" if r["traceback"] else "") for r in bad[:30]]
    warnings = Counter(
        _pattern(re.sub(r"^\S+ \S+ WARNING \([^)]*\) ", "", r["first"]))[:160]
        for r in result["records"]
        if r["level"] == "WARNING"
    )
    lines.append(f"HomeSec WARNING records: {sum(warnings.values())} (most frequent first)")
    lines += [f"- {n} x `{text}`" for text, n in warnings.most_common(15)]
    others = [p for p in result["problems"] if not any(p[:200] in r["first"] for r in bad)]
    if others:
        lines.append("Other log problems naming HomeSec (frame-helper reports etc.):")
        lines += [f"- `{p[:300]}`" for p in others[:15]]
    if run.notes:
        lines.append("Notes:")
        lines += [f"- {n}" for n in run.notes]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--out", type=Path, help="write the Markdown report here too")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds after start-up")
    parser.add_argument("--drain", type=float, default=180.0, help="at most, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--faults",
        type=lambda v: [c for c in v.split(",") if c],
        default=list(FAULT_CLASSES),
        help=f"fault classes to cycle through (comma-separated; default {','.join(FAULT_CLASSES)})",
    )
    parser.add_argument(
        "--fault-every",
        type=float,
        nargs=2,
        default=(120.0, 240.0),
        metavar=("MIN", "MAX"),
        help="seconds from one fault's start to the next's (random in the range)",
    )
    parser.add_argument(
        "--fault-length",
        type=float,
        nargs=2,
        default=(20.0, 90.0),
        metavar=("MIN", "MAX"),
        help="seconds a fault lasts (random in the range)",
    )
    args = parser.parse_args()
    if unknown := set(args.faults) - set(FAULT_CLASSES):
        parser.error(f"unknown fault class(es): {', '.join(sorted(unknown))}")

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    os.environ["TZ"] = "UTC"  # alert messages print the clip's local start time
    with contextlib.suppress(AttributeError):
        time.tzset()
    work = Path(tempfile.mkdtemp(prefix="homesec-soak-"))
    config_dir = work / "config"
    config_dir.mkdir()
    run = Run(args, work)
    for i in range(3):
        folder = work / "cams" / f"folder{i + 1}"
        folder.mkdir(parents=True)
        run.cams.folders.append(
            {"name": f"Folder {i + 1}", "folder": folder, "offset": FOLDER_OFFSETS[i]}
        )
        run.cams.rtsp.append(
            {"name": f"RTSP {i + 1}", "mount": f"/cam{i + 1}", "offset": RTSP_OFFSETS[i]}
        )
    for i, name in enumerate(FRIGATE_CAMERAS):
        run.cams.frigate.append({"name": name, "offset": FRIGATE_OFFSETS[i]})

    # Home Assistant imports `custom_components` from its working directory first: started
    # in the repository it would load the repository's package and never see the probe.
    os.chdir(work)
    ha = HomeAssistantProcess(config_dir, free_port())
    broker = Broker(work / "mosquitto")
    rtsp = RtspServer(files={})
    failure: str | None = None
    ended = "not started"
    began = time.monotonic()
    probe_path = config_dir / "soak_probe.jsonl"
    try:
        seconds = args.warmup + 60 * args.minutes + args.drain + 600
        say(f"generating 3 RTSP scenes of {seconds / 60:.0f} min")
        scenes = work / "scenes"
        scenes.mkdir()
        for cam in run.cams.rtsp:
            path = make_rtsp_scene(scenes / f"{cam['mount'][1:]}.mp4", seconds, cam["offset"])
            rtsp.files[cam["mount"]] = path
        rtsp.start()
        broker.start()
        soak = Soak(run, ha, broker, rtsp)

        async def go() -> None:
            try:
                await soak.main(began)
            finally:
                await soak.close()

        asyncio.run(go())
    except CheckFailed as err:
        failure = str(err)
    except KeyboardInterrupt:
        failure = "interrupted"
    except Exception as err:  # noqa: BLE001 - reported, then everything is stopped
        import traceback

        traceback.print_exc()
        failure = f"{type(err).__name__}: {err}"
    finally:
        ended = ha.stop()
        broker.stop()
        rtsp.stop()
    say(f"Home Assistant {ended}")
    log = ha.log_text()
    probe_lines = []
    if probe_path.exists():
        for line in probe_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                probe_lines.append(json.loads(line))
    result = analyse(run, log, probe_lines, stored_clip_ids(config_dir / "media" / "homesec"))
    text = report(run, result, run.ha_version, failure)
    print(text, flush=True)
    if args.out:
        args.out.write_text(text)
        raw = {
            "faults": [f.__dict__ for f in run.faults],
            "clips": result["clips"],
            "rss": run.rss,
            "deliveries": run.deliveries,
            "events": [e["data"] for e in run.events],
            "records": result["records"],
            "probe": probe_lines,
            "rtsp_phase": run.rtsp_origin,
        }
        args.out.with_name(args.out.name + ".json").write_text(json.dumps(raw, default=str))
    if failure or args.keep:
        say(f"folder kept: {work}")
        if failure:
            print(f"--- Home Assistant log (last 80 lines) ---\n{ha.log_tail(80)}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    say(f"total {time.monotonic() - began:.0f} s")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
