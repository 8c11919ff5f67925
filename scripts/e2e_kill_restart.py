"""Kill-and-restart check: a real Home Assistant 2026.11, SIGKILLed mid-pipeline, finishes each
clip exactly once and calls each notifier once per alert.

Run with the develop venv, through scripts/in-python314 (like scripts/e2e_check.py, whose
process, log and API helpers it uses):

    scripts/in-python314 .venvs/develop/bin/python scripts/e2e_kill_restart.py [--keep]

It seeds a temporary config folder as scripts/e2e_check.py does, then points the HomeSec entry
at a local server of this script that speaks the OpenAI chat-completions contract (it answers
"high risk", so every clip alerts) and adds a real Home Assistant notifier, the `rest` notify
platform (`notify.homesec_probe`), that POSTs to the same server; HomeSec's notify services
option names it. The server records every request (so counts survive Home Assistant's death),
with the text of its user message, and can hold vision-model requests and notifier POSTs.

Kill points 1-4 use the seeded demo camera, which is in no camera group. For kill points a and b
the seed adds two more watched-folder cameras, "Driveway" (camera a) and "Front door" (camera b),
and the hub options `camera_groups` ("Front: Driveway, Front door") and `incident_gap_seconds`
(30): a clip of either waits (parked, holding no worker) for the other camera's, and the
incident is analysed by one request. Camera b's file gets an mtime 2 s after camera a's, so the
two clips are one incident and camera a's clip is its first (its lead: the request, the alert,
the notification tagged with its id); kill point a's files are dated 10 minutes back, so the
two incidents stay apart however quick the starts are. The same config folder is started five
times; each kill is a SIGKILL of Home Assistant's process group:

1. killed while the vision-model request of clip kp1_a is held, and (a) while clip inca_a of
   camera a waits for its group (the diagnostics' clips_waiting_for_incident is 1, no vision
   request named its camera);
2. inca_b of camera b arrives after the restart: the incident is one vision request whose user
   message says "Incident seen by 2 cameras"; then killed while the notifier POST of clip kp2_b
   is held (after its "alert" stage line): the at-least-once window, where the notifier was
   reached but its success never recorded. Up to two deliveries are accepted, and every
   delivery must carry the same notification tag;
3. killed after clip kp3_c finished, and (b) while the vision request of the incident of
   incb_a and incb_b (cameras a and b) is held: nothing of kp3_c may be repeated after the
   restart;
4. the incident of kill point b is analysed again (one more request) and notified; killed with
   four clips (kp4_d1..kp4_d4) queued and the first one's vision request held;
5. a last start finishes everything and is stopped normally.

Every start subscribes to `homesec_nvr_clip_processed` before the held requests are let go, so
no event is missed. At the end: every clip has exactly one such event (status done) over all
starts, one "finished" and one "alert" stage line in the logs, each alert reached the notifier
exactly once (kill point 2: at most twice, same tag), the clips-today sensors count every clip
once, and no start's log has an ERROR or traceback from HomeSec. For kill points a and b: each
incident had one "Incident seen by 2 cameras" request in each start that reached it (a: start
2; b: starts 3 and 4), no group camera's clip was analysed alone, both clips' events name the
incident (the lead's clip id) and both cameras, the lead alerted ("alert" once) and reached the
notifier exactly once, and camera b's clip did not alert ("alerted once for the incident, with
the clip of Driveway", no "alert" line). The summary table goes to stdout; the last line is the
verdict. Exit status 1 on failure (the config folder is kept).
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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import e2e_check as e2e
from aiohttp import web

VLM_MODEL = "e2e-vision-model"
VLM_API_KEY = "e2e-kill-restart-key"
NOTIFY_SERVICE = "homesec_probe"
STEP_TIMEOUT = float(os.environ.get("HOMESEC_E2E_CLIP_TIMEOUT", "90"))
# After a restart, how long the watched folder needs to hand an old file over again (poll 1 s,
# stable 2 s): the check waits for the pipeline's "already known" line, this is the cap.
RESCAN_TIMEOUT = 30.0
# Kill points a and b: two more watched-folder cameras in one camera group (the demo camera,
# which kill points 1-4 use, is in none). A camera B file's mtime is set just after camera A's,
# as if both cameras had filmed one person, so the group's incident takes both clips.
GROUP_NAME = "Front"
GROUP_CAMERAS = {"a": ("Driveway", "driveway"), "b": ("Front door", "front_door")}
INCIDENT_GAP_S = 30
INCIDENT_A_AGO_S = 600.0
INCIDENT_TEXT = "Incident seen by 2 cameras"

_STAGE = re.compile(
    r"\[custom_components\.homesec_nvr\.hub\] Clip (?P<clip>\S+) of (?P<camera>.+?): "
    r"(?P<stage>\w+) \("
)
_KNOWN = re.compile(r"Clip (?P<clip>\S+) already known; not processed again")

ANALYSIS = {
    "observations": ["A person tries the handle of the front door", "They look around"],
    "entities": [
        {
            "type": "person",
            "first_seen_s": 0.5,
            "last_seen_s": 3.0,
            "description": "adult in a dark hoodie",
            "movement": "approaches the door, stays there",
            "location": "front porch",
            "interaction": "tries the door handle",
        }
    ],
    "summary": "Someone tried the front door handle and looked around.",
    "activity_type": "suspicious_behavior",
    "risk_level": "high",
    "requires_review": True,
}


def _say(message: str) -> None:
    print(f"e2e-kill: {message}", file=sys.stderr, flush=True)


# --- The probe: vision model and notifier endpoint ------------------------------------------


@dataclass
class NotifyCall:
    run: int
    title: str
    message: str
    tag: str
    url: str
    held: bool


@dataclass
class Probe:
    """OpenAI-contract chat completions and the rest notifier's endpoint, on 127.0.0.1.

    Requests wait while their gate is closed (both are closed at each start until the check
    has subscribed to the bus). Each request is recorded when it arrives.
    """

    run: int = 0
    port: int = 0
    vlm_open: asyncio.Event = field(default_factory=asyncio.Event)
    notify_open: asyncio.Event = field(default_factory=asyncio.Event)
    vlm_requests: list[int] = field(default_factory=list)  # the run of each request
    vlm_texts: list[str] = field(default_factory=list)  # the text of each request's user message
    vlm_held_now: int = 0
    notify_calls: list[NotifyCall] = field(default_factory=list)
    notify_held_now: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/notify", self._notify)
        # handler_cancellation: a held request of a killed Home Assistant just goes away.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self.vlm_open.set()
        self.notify_open.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def close_gates(self) -> None:
        self.vlm_open.clear()
        self.notify_open.clear()

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": VLM_MODEL, "object": "model", "owned_by": "e2e"}]}
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.vlm_requests.append(self.run)
        self.vlm_texts.append(_user_text(body))
        self.vlm_held_now += 1
        try:
            await self.vlm_open.wait()
        finally:
            self.vlm_held_now -= 1
        return web.json_response(
            {
                "id": f"chatcmpl-e2e-{len(self.vlm_requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", VLM_MODEL),
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": json.dumps(ANALYSIS),
                            "refusal": None,
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
            }
        )

    async def _notify(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.notify_calls.append(
            NotifyCall(
                run=self.run,
                title=str(body.get("title", "")),
                message=str(body.get("message", "")),
                tag=str(body.get("tag", "")),
                url=str(body.get("url", "")),
                held=not self.notify_open.is_set(),
            )
        )
        self.notify_held_now += 1
        try:
            await self.notify_open.wait()
        finally:
            self.notify_held_now -= 1
        return web.json_response({"ok": True})


def _user_text(body: dict[str, Any]) -> str:
    """The text parts of a chat request's user messages (its images left out)."""
    texts: list[str] = []
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
    return "\n".join(texts)


# --- Config folder ----------------------------------------------------------------------------


def _notify_yaml(port: int) -> str:
    return f"""
# Added by scripts/e2e_kill_restart.py: a real notifier that calls out of the process.
notify:
  - platform: rest
    name: {NOTIFY_SERVICE}
    resource: http://127.0.0.1:{port}/notify
    method: POST_JSON
    title_param_name: title
    data_template:
      tag: "{{{{ data.tag if data else '' }}}}"
      url: "{{{{ data.url if data and 'url' in data else '' }}}}"
"""


def _seed(config_dir: Path, probe_port: int) -> str:
    configuration = (e2e.REPO_ROOT / "config" / "configuration.yaml").read_text(encoding="utf-8")
    (config_dir / "configuration.yaml").write_text(
        configuration + _notify_yaml(probe_port), encoding="utf-8"
    )
    e2e._run_quiet([sys.executable, str(e2e.SEED), str(config_dir)], "seeding the config folder")
    path = config_dir / ".storage" / "core.config_entries"
    store = json.loads(path.read_text(encoding="utf-8"))
    (entry,) = [e for e in store["data"]["entries"] if e["domain"] == e2e.DOMAIN]
    entry["data"]["vlm_api_key"] = VLM_API_KEY
    # Kill points a and b: two more watched folders, the cameras of one group.
    (demo,) = entry["subentries"]
    for name, folder_name in GROUP_CAMERAS.values():
        folder = config_dir / "homesec_demo" / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        camera = json.loads(json.dumps(demo))
        camera["data"].update({"name": name, "folder": str(folder)})
        camera.update(
            {"subentry_id": uuid.uuid4().hex.upper(), "title": name, "unique_id": str(folder)}
        )
        entry["subentries"].append(camera)
    entry["options"].update(
        {
            "vlm_enabled": True,
            "vlm_base_url": f"http://127.0.0.1:{probe_port}/v1",
            "vlm_model": VLM_MODEL,
            "vlm_run_mode": "always",
            "min_risk_level": "medium",
            "notify_services": [f"notify.{NOTIFY_SERVICE}"],
            "persistent_notification": True,
            "max_clips_in_flight": 2,
            "camera_groups": f"{GROUP_NAME}: " + ", ".join(n for n, _ in GROUP_CAMERAS.values()),
            "incident_gap_seconds": INCIDENT_GAP_S,
        }
    )
    path.write_text(json.dumps(store, indent=2), encoding="utf-8")
    return str(entry["entry_id"])


# --- One start of Home Assistant --------------------------------------------------------------


@dataclass
class Run:
    number: int
    kill_point: str
    ha: e2e.HomeAssistantProcess
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: str = ""
    startup_s: float = float("nan")

    def log(self) -> str:
        """Its console output: the whole log of this start (the log file is rotated)."""
        if not self.ha.output.is_file():
            return ""
        return self.ha.output.read_text(encoding="utf-8", errors="replace")


class Scenario:
    def __init__(self, config_dir: Path, probe: Probe) -> None:
        self.config_dir = config_dir
        self.probe = probe
        self.session: aiohttp.ClientSession | None = None
        # One port for every start: Home Assistant 2026.11 moves the YAML http settings into its
        # own store at the first start and takes the port from there afterwards.
        self.port = e2e._free_port()
        self.clips_today: str | None = None
        self.notes: list[str] = []
        self.runs: list[Run] = []
        self.clip_ids: dict[str, str] = {}  # file stem -> clip id
        self.template: Path | None = None
        self.api: e2e.Api | None = None
        self.entry_id = ""
        self.group_clips_today: dict[str, str | None] = {}

    @property
    def run(self) -> Run:
        return self.runs[-1]

    # -- process control ---------------------------------------------------------------------

    async def start(self, kill_point: str) -> None:
        number = len(self.runs) + 1
        ha = e2e.HomeAssistantProcess(self.config_dir, self.port)
        ha.output = self.config_dir / f"hass.run{number}.out"
        run = Run(number, kill_point, ha)
        self.runs.append(run)
        self.probe.run = number
        self.probe.close_gates()
        began = time.monotonic()
        ha.start()
        assert self.session is not None
        await e2e._wait_until_up(self.session, ha)
        api = e2e.Api(self.session, ha.url)
        await api.login()
        await api.connect()
        self.api = api
        run.events = api.events  # the same list: filled by the websocket reader
        await e2e._wait_until_running(api, ha)
        run.startup_s = time.monotonic() - began
        _say(f"start {number}: running after {run.startup_s:.1f} s")

    def open_gates(self) -> None:
        self.probe.vlm_open.set()
        self.probe.notify_open.set()

    async def kill(self) -> None:
        ha = self.run.ha
        assert ha.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ha.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(ha.proc.wait, 10)
        self.run.ended = f"SIGKILL ({self.run.kill_point})"
        _say(f"start {self.run.number}: killed ({self.run.kill_point})")
        await self._close_api()

    async def stop(self) -> None:
        self.run.ended = await asyncio.to_thread(self.run.ha.stop)
        await self._close_api()

    async def _close_api(self) -> None:
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.close()
            self.api = None

    # -- waiting ---------------------------------------------------------------------------

    async def until(
        self, what: str, found: Callable[[], Any], seconds: float = STEP_TIMEOUT
    ) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            if result := found():
                return result
            if not self.run.ha.running():
                raise e2e.CheckFailed(f"Home Assistant exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise e2e.CheckFailed(f"timed out after {seconds:.0f} s waiting for {what}")
            await asyncio.sleep(0.1)

    def stages(self, stem: str, stage: str) -> int:
        """How often this start's log reports `stage` for the clip of file `stem`."""
        clip = self.clip_ids.get(stem)
        return sum(
            1
            for m in _STAGE.finditer(self.run.log())
            if m["stage"] == stage and clip is not None and m["clip"] == clip
        )

    async def wait_stage(self, stem: str, stage: str) -> None:
        await self.until(f"stage {stage} of {stem}", lambda: self.stages(stem, stage) > 0)

    async def wait_known_again(self, stems: list[str]) -> None:
        """Until the folder watcher handed each old file over and the pipeline refused it."""

        def done() -> bool:
            known = {m["clip"] for m in _KNOWN.finditer(self.run.log())}
            return all(self.clip_ids[s] in known for s in stems)

        await self.until(f"the old clips {', '.join(stems)} seen again", done, RESCAN_TIMEOUT)

    def finished_events(self, stem: str) -> list[dict[str, Any]]:
        clip = self.clip_ids.get(stem)
        return [e["data"] for e in self.run.events if e["data"].get("clip_id") == clip]

    def notify_calls(self, stem: str) -> list[NotifyCall]:
        clip = self.clip_ids.get(stem)
        # Notifications are tagged per clip (homesec_<clip id>).
        return [
            c for c in self.probe.notify_calls if clip is not None and c.tag == f"homesec_{clip}"
        ]

    # -- clips -----------------------------------------------------------------------------

    def drop(self, *stems: str, camera: str = "", after: str = "", ago_s: float = 0.0) -> None:
        """Put copies of the demo clip into the watched folder (renamed in, never partial):
        the demo camera's, or that of group camera `camera` ("a" or "b"). With `after` (a
        stem of camera a), the file's mtime is 2 s after that file's: the same incident. With
        `ago_s`, its mtime is that long ago (filmed then, uploaded now)."""
        if self.template is None:
            staging = self.config_dir / "staging"
            self.template = staging / "template.mp4"
            e2e._run_quiet(
                [sys.executable, str(e2e.DEMO_CLIP), str(self.template)], "scripts/demo_clip"
            )
        incoming = self.config_dir / "homesec_demo" / "incoming"
        if camera:
            incoming = self.config_dir / "homesec_demo" / GROUP_CAMERAS[camera][1]
        for stem in stems:
            partial = incoming / f".{stem}.mp4.part"
            shutil.copyfile(self.template, partial)
            mtime_ns = 0
            if after:
                first = self.config_dir / "homesec_demo" / GROUP_CAMERAS["a"][1] / f"{after}.mp4"
                mtime_ns = first.stat().st_mtime_ns + 2_000_000_000
            elif ago_s:
                mtime_ns = time.time_ns() - int(ago_s * 1e9)
            if mtime_ns:
                os.utime(partial, ns=(mtime_ns, mtime_ns))
            partial.replace(incoming / f"{stem}.mp4")

    async def diagnostics(self) -> dict[str, Any]:
        assert self.api is not None
        found = await self.api.get(f"/api/diagnostics/config_entry/{self.entry_id}")
        return dict((found or {}).get("data") or {})

    async def wait_parked(self, stem: str) -> None:
        """Until the clip of `stem` waits in its incident's batch (holding no worker) and no
        vision request named its camera."""
        await self.wait_stage(stem, "objects_detected")
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            pipeline = (await self.diagnostics()).get("pipeline") or {}
            if pipeline.get("clips_waiting_for_incident") == 1:
                break
            if time.monotonic() > deadline:
                raise e2e.CheckFailed(f"timed out waiting for {stem} to wait for its group")
            await asyncio.sleep(0.2)
        name = GROUP_CAMERAS["a"][0]
        if any(name in text for text in self.probe.vlm_texts):
            raise e2e.CheckFailed(f"a vision request named {name} while {stem} was waiting")

    def incident_requests(self, run: int) -> int:
        """Vision requests of this start for an incident of the group's two cameras."""
        return sum(
            1
            for n, text in zip(self.probe.vlm_requests, self.probe.vlm_texts, strict=True)
            if n == run and INCIDENT_TEXT in text
        )

    def incident_calls(self, lead: str) -> list[NotifyCall]:
        """The notifier calls of the incident whose first clip is `lead` (its tag is the
        incident's, homesec_<incident id>: the first clip's id for a watched folder)."""
        return self.notify_calls(lead)

    async def wait_recorded(self, *stems: str) -> None:
        def found() -> bool:
            for m in _STAGE.finditer(self.run.log()):
                if m["stage"] == "clip_recorded":
                    for stem in stems:
                        if m["clip"].startswith(f"{stem}-"):
                            self.clip_ids[stem] = m["clip"]
            return all(s in self.clip_ids for s in stems)

        await self.until(f"clip_recorded of {', '.join(stems)}", found)

    # -- the scenario ----------------------------------------------------------------------

    async def play(self) -> None:
        probe = self.probe
        # 1. Killed while the vision model request is held, and (a) while inca_a of camera a
        # waits for its group (parked: no vision request made for it).
        await self.start("1: vision request held; a: incident clip parked")
        probe.notify_open.set()
        self.drop("kp1_a")
        # Filmed INCIDENT_A_AGO_S ago: far from incident b (the group's next, kill point b),
        # which would otherwise join it within the gap when the starts are quick.
        self.drop("inca_a", camera="a", ago_s=INCIDENT_A_AGO_S)
        await self.wait_recorded("kp1_a", "inca_a")
        await self.wait_stage("kp1_a", "objects_detected")
        await self.until("the vision request of kp1_a", lambda: probe.vlm_held_now > 0)
        await self.wait_parked("inca_a")
        await self.kill()

        # 2. kp1_a finishes; inca_a waits again and camera b's inca_b completes the incident,
        # analysed once; killed while the notifier POST of kp2_b is held.
        await self.start("2: notifier POST held")
        self.open_gates()
        self.drop("inca_b", camera="b", after="inca_a")
        await self.wait_recorded("inca_b")
        await self.until("kp1_a processed", lambda: self.finished_events("kp1_a"))
        await self.until("kp1_a notified", lambda: self.notify_calls("kp1_a"))
        for stem in ("inca_a", "inca_b"):
            await self.until(f"{stem} processed", lambda s=stem: self.finished_events(s))
        await self.until("incident a notified", lambda: self.incident_calls("inca_a"))
        probe.notify_open.clear()
        self.drop("kp2_b")
        await self.wait_recorded("kp2_b")
        await self.wait_stage("kp2_b", "alert")
        await self.until(
            "the notifier POST of kp2_b",
            lambda: probe.notify_held_now > 0 and self.notify_calls("kp2_b"),
        )
        await self.kill()

        # 3. kp2_b is notified again (the window); kp3_c finishes, then the kill.
        await self.start("3: after a clip finished")
        self.open_gates()
        await self.until("kp2_b processed", lambda: self.finished_events("kp2_b"))
        self.drop("kp3_c")
        await self.wait_recorded("kp3_c")
        await self.until("kp3_c processed", lambda: self.finished_events("kp3_c"))
        await self.wait_stage("kp3_c", "finished")
        await self.until("kp3_c notified", lambda: self.notify_calls("kp3_c"))
        # (b) An incident of cameras a and b, killed while its one vision request is held.
        probe.vlm_open.clear()
        self.drop("incb_a", camera="a")
        await self.wait_recorded("incb_a")
        self.drop("incb_b", camera="b", after="incb_a")
        await self.wait_recorded("incb_b")
        await self.until("the incident's vision request", lambda: self.incident_requests(3))
        await self.kill()

        # 4. Nothing old is repeated; incident b is analysed again and notified; four clips
        # queued, the first one's analysis held.
        await self.start("4: four clips queued; b: incident analysed again")
        self.open_gates()
        for stem in ("incb_a", "incb_b"):
            await self.until(f"{stem} processed", lambda s=stem: self.finished_events(s))
        await self.until("incident b notified", lambda: self.incident_calls("incb_a"))
        await self.wait_known_again(["kp1_a", "kp2_b", "kp3_c", "inca_a", "inca_b"])
        probe.vlm_open.clear()
        queued = ["kp4_d1", "kp4_d2", "kp4_d3", "kp4_d4"]
        self.drop(*queued)
        await self.wait_recorded(*queued)
        await self.until("a held vision request", lambda: probe.vlm_held_now > 0)
        await self.kill()

        # 5. Everything finishes; stopped normally.
        await self.start("final start")
        self.open_gates()
        for stem in queued:
            await self.until(f"{stem} processed", lambda s=stem: self.finished_events(s))
        group = [s for _, stems in INCIDENT_POINTS for s in stems]
        await self.wait_known_again(["kp1_a", "kp2_b", "kp3_c", *queued, *group])
        await asyncio.sleep(2.0)  # anything repeated would show up now
        assert self.api is not None
        clips_today = await self.api.get(f"/api/states/{e2e.CLIPS_TODAY}") or {}
        self.clips_today = clips_today.get("state")
        for name, folder_name in GROUP_CAMERAS.values():
            state = await self.api.get(f"/api/states/sensor.{folder_name}_clips_today") or {}
            self.group_clips_today[name] = state.get("state")
        await self.stop()


# --- Verdict ----------------------------------------------------------------------------------

KILL_POINTS = [
    ("1 vision request held", ["kp1_a"]),
    ("2 notifier POST held", ["kp2_b"]),
    ("3 after clip finished", ["kp3_c"]),
    ("4 four clips queued", ["kp4_d1", "kp4_d2", "kp4_d3", "kp4_d4"]),
]
WINDOW_STEMS = {"kp2_b"}  # the documented at-least-once window
# The incidents of the group's cameras: (kill point, [camera a's clip, camera b's clip]), with
# the starts whose vision requests are the incident's (a: once after the restart; b: the held
# one, then once more after the restart).
INCIDENT_POINTS = [
    ("a incident clip parked", ["inca_a", "inca_b"]),
    ("b incident request held", ["incb_a", "incb_b"]),
]
INCIDENT_STARTS = {"inca_a": [2], "incb_a": [3, 4]}


def log_findings(text: str) -> tuple[list[str], list[str]]:
    """(problems, notes) of one start's log: first lines of the records.

    Problems fail the check: an ERROR or traceback from HomeSec's loggers, any ERROR naming
    homesec_nvr, a traceback through its files, and Home Assistant's frame-helper reports
    naming the integration (e.g. a blocking call in the event loop). Notes (frame-helper
    warnings about other integrations) are reported without failing it.
    """
    problems: list[str] = []
    notes: list[str] = []
    ours = f"custom_components.{e2e.DOMAIN}"
    for level, logger, lines in e2e._records(text):
        body = "\n".join(lines)
        is_ours = logger == ours or logger.startswith(ours + ".")
        error = level in ("ERROR", "CRITICAL")
        if e2e._FRAME_REPORT in body and not is_ours and not error:
            problems.append(lines[0][:400])  # a warning with the offending stack
        elif "Detected blocking call" in body and not is_ours:
            notes.append(lines[0][:400])
        elif (
            (is_ours and (error or "Traceback" in body))
            or (error and e2e.DOMAIN in body)
            or ("Traceback" in body and f"custom_components/{e2e.DOMAIN}/" in body)
        ):
            problems.append(lines[0][:400])
    return problems, notes


def _verdict(scenario: Scenario) -> tuple[list[str], list[str]]:
    """(failures, table lines)."""
    failures: list[str] = []
    logs = [run.log() for run in scenario.runs]
    stage_counts: Counter[tuple[str, str]] = Counter()
    for text in logs:
        for m in _STAGE.finditer(text):
            stage_counts[(m["clip"], m["stage"])] += 1
    events = [(run.number, e["data"]) for run in scenario.runs for e in run.events]
    line = "{:23}  {:7}  {:18}  {:18}  {:18}  {}"
    rows = [
        line.format("kill point", "clip", "clip id", "processed events", "notifier calls", "tag"),
        line.format("-" * 23, "-" * 7, "-" * 18, "-" * 18, "-" * 18, "-" * 20),
    ]
    all_stems = [s for _, stems in KILL_POINTS for s in stems]
    group_stems = [s for _, stems in INCIDENT_POINTS for s in stems]
    for point, stems in KILL_POINTS:
        for stem in stems:
            clip = scenario.clip_ids.get(stem)
            if clip is None:
                failures.append(f"{stem}: never recorded")
                rows.append(line.format(point, stem, "(not recorded)", "-", "-", "-"))
                continue
            mine = [(n, d) for n, d in events if d.get("clip_id") == clip]
            done = [(n, d) for n, d in mine if d.get("status") == "done"]
            calls = scenario.notify_calls(stem)
            tags = sorted({c.tag for c in calls})
            runs = ",".join(str(n) for n, _ in mine) or "-"
            call_runs = ",".join(str(c.run) for c in calls) or "-"
            rows.append(
                line.format(
                    point,
                    stem,
                    clip,
                    f"{len(mine)} (start {runs})",
                    f"{len(calls)} (start {call_runs})",
                    " / ".join(tags) or "-",
                )
            )
            if len(mine) != 1 or len(done) != 1:
                failures.append(
                    f"{stem} ({clip}): {len(mine)} {e2e.EVENT_CLIP_PROCESSED} event(s) in runs "
                    f"{runs}, {len(done)} with status done (expected exactly one, done)"
                )
            finished = stage_counts[(clip, "finished")]
            alerted = stage_counts[(clip, "alert")]
            if finished != 1 or alerted != 1:
                failures.append(
                    f"{stem} ({clip}): the logs report 'finished' {finished}x and 'alert' "
                    f"{alerted}x over all runs (expected once each)"
                )
            limit = 2 if stem in WINDOW_STEMS else 1
            if not 1 <= len(calls) <= limit:
                failures.append(
                    f"{stem} ({clip}): the notifier was called {len(calls)}x in runs "
                    f"{call_runs} (expected {'1 or 2' if limit == 2 else 'exactly 1'})"
                )
            if len(tags) > 1 or (calls and not tags[0]):
                failures.append(f"{stem} ({clip}): deliveries carry different tags: {tags}")
            point = ""
    for stem in sorted(WINDOW_STEMS):
        calls = scenario.notify_calls(stem)
        # The links are signed when each delivery is made: compare them without the signature.
        urls = {c.url.split("?")[0] for c in calls}
        rows.append(
            f"kill point 2 window: {stem} reached the notifier {len(calls)}x (starts "
            f"{','.join(str(c.run) for c in calls) or '-'}), tag(s) "
            f"{sorted({c.tag for c in calls})}, same clip URL: {'yes' if len(urls) <= 1 else 'no'}"
        )
        if len(urls) > 1:
            failures.append(f"{stem}: its deliveries name different clips: {sorted(urls)}")
    tags = {c.tag for c in scenario.probe.notify_calls}
    clips = {c.url.split("?")[0] for c in scenario.probe.notify_calls}
    if len(tags) == 1 and len(clips) > 1:
        scenario.notes.append(
            f"every alert carries the notification tag {next(iter(tags))!r} (the camera's, not "
            "the clip's): a phone replaces a repeated delivery, and also the previous clip's alert"
        )
    _incident_verdict(scenario, events, stage_counts, line, rows, failures)
    known = {scenario.clip_ids[s] for s in [*all_stems, *group_stems] if s in scenario.clip_ids}
    known_tags = {f"homesec_{k}" for k in known}
    strays = [c for c in scenario.probe.notify_calls if c.tag not in known_tags]
    if strays:
        failures.append(f"{len(strays)} notifier call(s) for no known clip: {strays}")
    if scenario.clips_today != str(len(all_stems)):
        failures.append(
            f"{e2e.CLIPS_TODAY} is {scenario.clips_today!r} at the end (expected {len(all_stems)})"
        )
    expected_group = str(len(INCIDENT_POINTS))
    for name, count in scenario.group_clips_today.items():
        if count != expected_group:
            failures.append(f"{name}'s clips today is {count!r} (expected {expected_group})")
    for run, text in zip(scenario.runs, logs, strict=True):
        problems, notes = log_findings(text)
        if problems:
            failures.append(f"start {run.number}'s log names HomeSec:\n  " + "\n  ".join(problems))
        scenario.notes.extend(f"start {run.number}: {note}" for note in notes)
    return failures, rows


def _incident_verdict(
    scenario: Scenario,
    events: list[tuple[int, dict[str, Any]]],
    stage_counts: Counter[tuple[str, str]],
    line: str,
    rows: list[str],
    failures: list[str],
) -> None:
    """Kill points a and b: each incident of the group's two cameras was analysed by one
    request per start that reached it ("Incident seen by 2 cameras"), both clips finished
    once, and the incident reached the notifier once, with its first clip's tag."""
    lead_name = GROUP_CAMERAS["a"][0]
    for point, (lead_stem, other_stem) in INCIDENT_POINTS:
        letter = point[0]
        lead = scenario.clip_ids.get(lead_stem)
        for stem in (lead_stem, other_stem):
            clip = scenario.clip_ids.get(stem)
            if clip is None:
                failures.append(f"{stem}: never recorded")
                rows.append(line.format(point, stem, "(not recorded)", "-", "-", "-"))
                point = ""
                continue
            mine = [(n, d) for n, d in events if d.get("clip_id") == clip]
            done = [d for _, d in mine if d.get("status") == "done"]
            calls = scenario.incident_calls(lead_stem) if stem == lead_stem else []
            runs = ",".join(str(n) for n, _ in mine) or "-"
            call_runs = ",".join(str(c.run) for c in calls) or "-"
            tags = " / ".join(sorted({c.tag for c in calls}))
            rows.append(
                line.format(
                    point,
                    stem,
                    clip,
                    f"{len(mine)} (start {runs})",
                    f"{len(calls)} (start {call_runs})" if stem == lead_stem else "- (incident's)",
                    tags or "-",
                )
            )
            point = ""
            if len(mine) != 1 or len(done) != 1:
                failures.append(
                    f"{stem} ({clip}): {len(mine)} {e2e.EVENT_CLIP_PROCESSED} event(s) in runs "
                    f"{runs}, {len(done)} with status done (expected exactly one, done)"
                )
            finished = stage_counts[(clip, "finished")]
            alerted = stage_counts[(clip, "alert")]
            want_alert = 1 if stem == lead_stem else 0
            if finished != 1 or alerted != want_alert:
                failures.append(
                    f"{stem} ({clip}): the logs report 'finished' {finished}x and 'alert' "
                    f"{alerted}x over all runs (expected once and {want_alert}x)"
                )
            for data in done:
                if data.get("incident_id") != lead or data.get("cameras") != [
                    name for name, _ in GROUP_CAMERAS.values()
                ]:
                    failures.append(
                        f"{stem} ({clip}): incident {data.get('incident_id')!r} of cameras "
                        f"{data.get('cameras')} (expected {lead!r} of both cameras)"
                    )
                if stem == lead_stem and data.get("alert") is not True:
                    failures.append(f"{stem} ({clip}): did not alert ({data.get('reason')!r})")
                reason = f"alerted once for the incident, with the clip of {lead_name}"
                led_by = (data.get("metadata") or {}).get("incident_lead")
                if stem != lead_stem and (
                    data.get("alert") is not False or data.get("reason") != reason or led_by != lead
                ):
                    failures.append(
                        f"{stem} ({clip}): alert {data.get('alert')!r}, reason "
                        f"{data.get('reason')!r}, lead {led_by!r} "
                        f"(expected no alert, {reason!r}, lead {lead!r})"
                    )
            if stem == lead_stem and len(calls) != 1:
                failures.append(
                    f"incident of {lead_stem} ({lead}): the notifier was called {len(calls)}x in "
                    f"runs {call_runs} (expected exactly 1)"
                )
        starts = INCIDENT_STARTS[lead_stem]
        per_start = [scenario.incident_requests(n) for n in starts]
        counts = ", ".join(f"start {n}: {c}" for n, c in zip(starts, per_start, strict=True))
        rows.append(
            f"kill point {letter} incident: vision requests with {INCIDENT_TEXT!r} ({counts}), "
            f"notifier calls {len(scenario.incident_calls(lead_stem))}"
        )
        if per_start != [1] * len(starts):
            failures.append(
                f"incident of {lead_stem}: {INCIDENT_TEXT!r} requests per start {counts} "
                "(expected one in each)"
            )
    expected = sum(len(starts) for starts in INCIDENT_STARTS.values())
    total = sum(INCIDENT_TEXT in text for text in scenario.probe.vlm_texts)
    if total != expected:
        failures.append(f"{total} incident vision request(s) over all starts (expected {expected})")
    singles = [
        text.splitlines()[0]
        for text in scenario.probe.vlm_texts
        if INCIDENT_TEXT not in text and any(n in text for n, _ in GROUP_CAMERAS.values())
    ]
    if singles:
        failures.append(f"{len(singles)} vision request(s) for one group camera's clip alone")


async def _main(scenario: Scenario) -> None:
    probe = scenario.probe
    await probe.start()
    scenario.entry_id = await asyncio.to_thread(_seed, scenario.config_dir, probe.port)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        scenario.session = session
        try:
            await scenario.play()
        finally:
            if scenario.runs and scenario.run.ha.running():
                await scenario.stop()
            await probe.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary config folder")
    args = parser.parse_args()
    # SIGTERM (e.g. CI cancelling) ends the check like Ctrl-C: Home Assistant is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    began = time.monotonic()
    config_dir = Path(tempfile.mkdtemp(prefix="homesec-e2e-kill-"))
    scenario = Scenario(config_dir, Probe())
    failure: str | None = None
    try:
        asyncio.run(_main(scenario))
    except e2e.CheckFailed as err:
        failure = str(err)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        for run in scenario.runs:
            if run.ha.running():
                run.ended = run.ha.stop()
    failures, rows = _verdict(scenario)
    if failure is not None:
        failures.insert(0, f"scenario stopped at start {len(scenario.runs)}: {failure}")
    print("\n".join(rows))
    starts = ", ".join(
        f"{run.number}: up {run.startup_s:.1f} s, {run.ended or '?'}" for run in scenario.runs
    )
    vlm = Counter(scenario.probe.vlm_requests)
    summary = (
        f"{len(scenario.runs)} starts ({starts}); vision requests per start "
        + ", ".join(f"{n}: {vlm.get(n, 0)}" for n in range(1, len(scenario.runs) + 1))
        + f"; total {time.monotonic() - began:.1f} s"
    )
    if scenario.notes:
        _say("notes (not failures of this check):\n  " + "\n  ".join(scenario.notes))
        summary += f"; {len(scenario.notes)} note(s) above"
    if failures:
        if scenario.runs:
            last = scenario.runs[-1]
            print(
                f"--- Home Assistant log of start {last.number} "
                f"(last {e2e.LOG_TAIL_LINES} lines) ---",
                file=sys.stderr,
            )
            print(last.ha.log_tail(), file=sys.stderr)
            print("--- end of log ---", file=sys.stderr)
        _say(f"config folder kept: {config_dir}")
        print("e2e-kill: FAILED:\n  " + "\n  ".join(failures), flush=True)
        print(f"e2e-kill: FAILED: {summary}", flush=True)
        return 1
    if args.keep:
        _say(f"config folder kept: {config_dir}")
    else:
        shutil.rmtree(config_dir, ignore_errors=True)
    print(f"e2e-kill: ok: every clip finished once over the kills; {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
