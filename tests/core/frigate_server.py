"""A fake Frigate HTTP API on 127.0.0.1 that answers like Frigate really does (for tests).

Follows REFERENCE.md section 4 and switches between the behaviours of three versions:

- clip not ready yet: 0.17 answers 400 `{"success": false, "message": "No recordings found for
  the specified time range"}`, 0.15 - 0.16 answer 200 with an empty body, 0.12 - 0.14 answer 500;
- `404 {"success": false, "message": "Event not found"}` while the event row is missing, and
  `404 "Clip not available"` for an event without recordings;
- clips are real H.264 fragmented MP4 files (made with `tests/core/video.py`), streamed in
  chunks without Content-Length; a first answer can be truncated;
- auth (the 8971 port): `POST /api/login {"user", "password"}` sets the cookie `frigate_token`,
  accepted as `Authorization: Bearer` or cookie; `expire_tokens()` makes the next request 401;
- `/api/version` (plain text), `/api/config`, snapshots, descriptions, review clips
  (`/api/{camera}/start/{ts}/end/{ts}/clip.mp4`).

Each clip request consumes the next entry of the event's `script` (answer kinds below); an
empty script serves the full clip.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import av
from aiohttp import web

from custom_components.homesec_nvr.core.media import add_stream_like

from .video import ClipSpec, write_h264_clip

# Answer kinds for a clip request.
NOT_READY = "not_ready"  # the version's "no recordings yet" answer
MISSING = "missing"  # 404 Event not found
TRUNCATED = "truncated"  # 200 with a clip much shorter than the event
FULL = "full"
NO_CLIP = "no_clip"  # 404 Clip not available

NO_RECORDINGS = {"success": False, "message": "No recordings found for the specified time range"}
# A tiny valid JPEG header is enough: the source stores the bytes as they come.
SNAPSHOT_JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"


def fragment(src: Path, dst: Path, *, max_s: float | None = None) -> Path:
    """Remux an MP4 into fragmented MP4 as Frigate streams it (optionally cut at `max_s`)."""
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    with av.open(str(src)) as source, av.open(str(dst), "w", format="mp4", options=options) as out:
        stream = source.streams.video[0]
        target = add_stream_like(out, stream)
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            if (
                max_s is not None
                and packet.pts is not None
                and stream.time_base is not None
                and float(packet.pts * stream.time_base) >= max_s
            ):
                break
            packet.stream = target
            out.mux(packet)
    return dst


def make_clips(folder: Path, seconds: float, truncated_s: float = 1.0) -> tuple[Path, Path]:
    """A full fragmented clip of `seconds` and a truncated copy of its first `truncated_s`."""
    folder.mkdir(parents=True, exist_ok=True)
    plain = write_h264_clip(
        folder / f"plain-{seconds}.mp4", ClipSpec(seconds=seconds, object_speed=20.0)
    )
    full = fragment(plain, folder / f"full-{seconds}.mp4")
    truncated = fragment(plain, folder / f"truncated-{seconds}.mp4", max_s=truncated_s)
    return full, truncated


@dataclass
class FakeEvent:
    """A tracked object Frigate knows about."""

    id: str
    camera: str
    clip: Path
    truncated_clip: Path | None = None
    snapshot: bytes | None = SNAPSHOT_JPEG
    script: deque[str] = field(default_factory=deque)
    description: str | None = None


@dataclass(frozen=True)
class Request:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeFrigate:
    """Scriptable Frigate API on 127.0.0.1."""

    def __init__(
        self,
        version: str = "0.17.0-a1b2c3d",
        *,
        username: str | None = None,
        password: str | None = None,
        cameras: dict[str, list[str]] | None = None,
        topic_prefix: str = "frigate",
        chunk_bytes: int = 4096,
    ) -> None:
        self.version = version
        self.username = username
        self.password = password
        self.cameras = cameras if cameras is not None else {"front_door": ["porch", "street"]}
        self.topic_prefix = topic_prefix
        self.chunk_bytes = chunk_bytes
        self.events: dict[str, FakeEvent] = {}
        # Review clips: the file served for a camera, and the answers scripted before it.
        self.recordings: dict[str, Path] = {}
        self.recording_script: dict[str, deque[str]] = {}
        self.requests: list[Request] = []
        self.tokens: set[str] = set()
        self.logins = 0
        # False: tokens from /api/login are never accepted (credentials revoked meanwhile).
        self.accept_tokens = True
        # True: the next authenticated answer sets a refreshed `frigate_token` cookie and the
        # old token stops working (Frigate refreshes JWTs close to their expiry).
        self.refresh_token = False
        # Answer /api/login with this status instead (e.g. 429 rate limit, 404 before 0.14).
        self.login_status: int | None = None
        self.version_body: str | None = None  # overrides /api/version (e.g. an HTML page)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/login", self._login)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/events/{event_id}/clip.mp4", self._event_clip)
        app.router.add_get("/api/events/{event_id}/snapshot.jpg", self._snapshot)
        app.router.add_post("/api/events/{event_id}/description", self._description)
        app.router.add_get("/api/{camera}/start/{start}/end/{end}/clip.mp4", self._review_clip)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- test API ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the API (without /api)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def major_minor(self) -> tuple[int, int]:
        """The emulated version as (major, minor)."""
        major, minor = self.version.split("-")[0].split(".")[:2]
        return int(major), int(minor)

    def add_event(
        self,
        event_id: str,
        clip: Path,
        *,
        camera: str = "front_door",
        truncated_clip: Path | None = None,
        script: list[str] | None = None,
        snapshot: bytes | None = SNAPSHOT_JPEG,
    ) -> FakeEvent:
        """Register an event whose clip requests follow `script`, then serve `clip`."""
        event = FakeEvent(
            id=event_id,
            camera=camera,
            clip=clip,
            truncated_clip=truncated_clip,
            snapshot=snapshot,
            script=deque(script or []),
        )
        self.events[event_id] = event
        return event

    def expire_tokens(self) -> None:
        """Invalidate every issued token (the next authenticated request gets 401)."""
        self.tokens.clear()

    def paths(self, suffix: str = "") -> list[str]:
        """Paths requested, optionally only those ending with `suffix`."""
        return [r.path for r in self.requests if r.path.endswith(suffix)]

    # -- handlers ----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            Request(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        if self.username is not None and request.path != "/api/login":
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            cookie = request.cookies.get("frigate_token", "")
            valid = bearer in self.tokens or cookie in self.tokens
            if not valid or not self.accept_tokens:
                return web.Response(status=401, text="Unauthorized")
            if self.refresh_token:
                self.refresh_token = False
                self.tokens.discard(bearer)
                self.tokens.discard(cookie)
                response: web.StreamResponse = await handler(request)
                response.set_cookie("frigate_token", self._new_token(), httponly=True)
                return response
        answer: web.StreamResponse = await handler(request)
        return answer

    def _new_token(self) -> str:
        token = "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(16) + ".sig"
        self.tokens.add(token)
        return token

    async def _login(self, request: web.Request) -> web.Response:
        self.logins += 1
        if self.login_status is not None:
            return web.json_response({"message": "login unavailable"}, status=self.login_status)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if (
            self.username is None
            or body.get("user") != self.username
            or body.get("password") != self.password
        ):
            return web.json_response({"message": "Login failed"}, status=401)
        response = web.json_response({})
        response.set_cookie("frigate_token", self._new_token(), httponly=True, samesite="Strict")
        return response

    async def _version(self, _request: web.Request) -> web.Response:
        if self.version_body is not None:
            return web.Response(text=self.version_body, content_type="text/html")
        return web.Response(text=self.version, content_type="text/plain")

    async def _config(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "mqtt": {"enabled": True, "host": "mqtt", "topic_prefix": self.topic_prefix},
                "cameras": {
                    name: {
                        "enabled": True,
                        "detect": {"width": 1280, "height": 720, "fps": 5},
                        "record": {"enabled": True},
                        "snapshots": {"enabled": True},
                        "zones": {zone: {"coordinates": "0,0,1,0,1,1"} for zone in zones},
                    }
                    for name, zones in self.cameras.items()
                },
            }
        )

    def _not_ready(self) -> web.Response:
        major, minor = self.major_minor
        if (major, minor) >= (0, 17):
            return web.json_response(NO_RECORDINGS, status=400)
        if (major, minor) >= (0, 15):
            return web.Response(status=200, body=b"", content_type="video/mp4")
        return web.json_response({"success": False, "message": "Internal Server Error"}, status=500)

    async def _answer(
        self, request: web.Request, kind: str, full: Path, truncated: Path | None
    ) -> web.StreamResponse:
        if kind == NOT_READY:
            return self._not_ready()
        if kind == MISSING:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        if kind == NO_CLIP:
            return web.json_response(
                {"success": False, "message": "Clip not available"}, status=404
            )
        path = truncated if kind == TRUNCATED and truncated is not None else full
        return await self._stream(request, path)

    async def _stream(self, request: web.Request, path: Path) -> web.StreamResponse:
        """Stream a file in chunks, without Content-Length (chunked transfer encoding)."""
        data = await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        response = web.StreamResponse(status=200, headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for offset in range(0, len(data), self.chunk_bytes):
            await response.write(data[offset : offset + self.chunk_bytes])
        await response.write_eof()
        return response

    async def _event_clip(self, request: web.Request) -> web.StreamResponse:
        event = self.events.get(request.match_info["event_id"])
        if event is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        kind = event.script.popleft() if event.script else FULL
        return await self._answer(request, kind, event.clip, event.truncated_clip)

    async def _review_clip(self, request: web.Request) -> web.StreamResponse:
        camera = request.match_info["camera"]
        try:
            float(request.match_info["start"])
            float(request.match_info["end"])
        except ValueError:
            return web.json_response({"detail": "invalid timestamp"}, status=422)
        if camera not in self.cameras or camera not in self.recordings:
            return self._not_ready()
        script = self.recording_script.setdefault(camera, deque())
        kind = script.popleft() if script else FULL
        return await self._answer(request, kind, self.recordings[camera], None)

    async def _snapshot(self, request: web.Request) -> web.Response:
        event = self.events.get(request.match_info["event_id"])
        if event is None or event.snapshot is None:
            return web.json_response(
                {"success": False, "message": "Snapshot not available"}, status=404
            )
        return web.Response(body=event.snapshot, content_type="image/jpeg")

    async def _description(self, request: web.Request) -> web.Response:
        event = self.events.get(request.match_info["event_id"])
        if event is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        body = json.loads(await request.text() or "{}")
        event.description = str(body.get("description", ""))
        return web.json_response({"success": True, "message": f"Event {event.id} description set"})


# -- MQTT payloads as Frigate publishes them ----------------------------------------------


def event_after(event_id: str = "1718123456.123456-abc123", **fields: Any) -> dict[str, Any]:
    """The `after` object of a `frigate/events` message (Frigate 0.14 shape)."""
    data: dict[str, Any] = {
        "id": event_id,
        "camera": "front_door",
        "frame_time": 1718123460.5,
        "snapshot": {"frame_time": 1718123458.0, "box": [100, 120, 180, 300], "score": 0.88},
        "label": "person",
        "sub_label": None,
        "top_score": 0.89453125,
        "false_positive": False,
        "start_time": 1718123456.0,
        "end_time": 1718123460.0,
        "score": 0.87890625,
        "box": [100, 120, 180, 300],
        "area": 14400,
        "ratio": 0.44,
        "region": [0, 0, 320, 320],
        "active": False,
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 5,
        "current_zones": [],
        "entered_zones": ["porch"],
        "has_clip": True,
        "has_snapshot": True,
        "attributes": {"face": 0.71},
        "current_attributes": [],
        "max_severity": "alert",
    }
    data.update(fields)
    return data


def event_message(kind: str = "end", **fields: Any) -> bytes:
    """A `frigate/events` payload (bytes, as MQTT delivers it)."""
    after = event_after(**fields)
    before = {**after, "end_time": None}
    return json.dumps({"type": kind, "before": before, "after": after}).encode()


def review_after(review_id: str = "1718123456.2-rev001", **fields: Any) -> dict[str, Any]:
    """The `after` object of a `frigate/reviews` message (0.14+)."""
    data: dict[str, Any] = {
        "id": review_id,
        "camera": "front_door",
        "start_time": 1718123456.2,
        "end_time": 1718123459.7,
        "severity": "alert",
        "thumb_path": "/media/frigate/clips/review/thumb-front_door-rev001.webp",
        "data": {
            "detections": ["1718123456.123456-abc123"],
            "objects": ["person"],
            "sub_labels": [],
            "zones": ["porch"],
            "audio": [],
        },
    }
    data.update(fields)
    return data


def review_message(kind: str = "end", **fields: Any) -> bytes:
    """A `frigate/reviews` payload."""
    after = review_after(**fields)
    return json.dumps(
        {"type": kind, "before": {**after, "end_time": None}, "after": after}
    ).encode()


class FakeClock:
    """Injected monotonic clock and sleep: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
