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
  (`/api/{camera}/start/{ts}/end/{ts}/clip.mp4`);
- `GET /api/events` and `GET /api/review` as frigate/api/event.py and review.py answer them
  (see `api_event_row` and `_list_reviews` for the version differences). Only events added
  with a `record` (an MQTT `after` object, e.g. `event_after(...)`) are in the event list, so
  tests that only script clips see an empty one.

Each clip request consumes the next entry of the event's `script` (answer kinds below); an
empty script serves the full clip.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
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
    # The event as MQTT's `after` (None: not listed by /api/events).
    record: dict[str, Any] | None = None


@dataclass
class FakeReview:
    """A review item Frigate knows about (0.14+), as MQTT's review `after` object."""

    record: dict[str, Any]
    has_been_reviewed: bool = False


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
        self.reviews: dict[str, FakeReview] = {}
        # Answer `/api/events` or `/api/review` with (status, content type, body) instead.
        self.list_answers: dict[str, tuple[int, str, str]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (`port`, or a free one)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/login", self._login)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/events/{event_id}/clip.mp4", self._event_clip)
        app.router.add_get("/api/events/{event_id}/snapshot.jpg", self._snapshot)
        app.router.add_post("/api/events/{event_id}/description", self._description)
        app.router.add_get("/api/{camera}/start/{start}/end/{end}/clip.mp4", self._review_clip)
        app.router.add_get("/api/events", self._list_events)
        app.router.add_get("/api/review", self._list_reviews)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
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
        record: dict[str, Any] | None = None,
    ) -> FakeEvent:
        """Register an event whose clip requests follow `script`, then serve `clip`; with a
        `record` (its MQTT `after` object) it is also in `/api/events`."""
        event = FakeEvent(
            id=event_id,
            camera=camera,
            clip=clip,
            truncated_clip=truncated_clip,
            snapshot=snapshot,
            script=deque(script or []),
            record=record,
        )
        self.events[event_id] = event
        return event

    def add_review(self, record: dict[str, Any], *, reviewed: bool = False) -> FakeReview:
        """Register a review item (`record` as MQTT's review `after`, e.g. `review_after()`)."""
        review = FakeReview(record=record, has_been_reviewed=reviewed)
        self.reviews[str(record["id"])] = review
        return review

    def queries(self, path: str) -> list[dict[str, str]]:
        """The query parameters of every request to exactly `path`."""
        return [r.query for r in self.requests if r.path == path]

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

    def _list_answer(self, request: web.Request) -> web.Response | None:
        if request.path not in self.list_answers:
            return None
        status, content_type, body = self.list_answers[request.path]
        return web.Response(status=status, text=body, content_type=content_type)

    def _invalid_query(self, name: str, value: str) -> web.Response:
        """FastAPI's 422 (0.15+) for a query parameter of the wrong type."""
        return web.json_response(
            {"detail": [{"type": "float_parsing", "loc": ["query", name], "input": value}]},
            status=422,
        )

    def _number(self, request: web.Request, name: str, kind: type[float] | type[int]) -> Any:
        """A typed query parameter: None when absent; 0.14 (Flask) also when invalid."""
        raw = request.query.get(name)
        if raw is None:
            return None
        try:
            return kind(raw)
        except ValueError:
            if self.major_minor < (0, 15):
                return None
            raise _BadQuery(name, raw) from None

    async def _list_events(self, request: web.Request) -> web.Response:
        """`GET /api/events` as frigate/api/event.py `events()` (0.14 - 0.17)."""
        if (answer := self._list_answer(request)) is not None:
            return answer
        try:
            after = self._number(request, "after", float)
            before = self._number(request, "before", float)
            limit = self._number(request, "limit", int)
            has_clip = self._number(request, "has_clip", int)
            in_progress = self._number(request, "in_progress", int)
            thumbnails = self._number(request, "include_thumbnails", int)
        except _BadQuery as err:
            return self._invalid_query(err.name, err.value)
        query = request.query
        cameras = query.get("cameras", "all")
        if cameras == "all":
            cameras = query.get("camera", "all")
        labels = query.get("labels", "all")
        if labels == "all":
            labels = query.get("label", "all")
        rows = []
        for event in self.events.values():
            record = event.record
            if record is None:
                continue
            if cameras != "all" and record["camera"] not in cameras.split(","):
                continue
            if labels != "all" and record["label"] not in labels.split(","):
                continue
            if after and not record["start_time"] > after:
                continue
            if before and not record["start_time"] < before:
                continue
            if has_clip is not None and bool(record.get("has_clip", True)) != bool(has_clip):
                continue
            if in_progress is not None and (record.get("end_time") is None) != bool(in_progress):
                continue
            rows.append(
                api_event_row(
                    record,
                    self.major_minor,
                    include_thumbnail=thumbnails is None or bool(thumbnails),
                )
            )
        ascending = query.get("sort") == "date_asc"
        rows.sort(key=lambda row: float(row["start_time"]), reverse=not ascending)
        return web.json_response(rows[: 100 if limit is None else limit])

    async def _list_reviews(self, request: web.Request) -> web.Response:
        """`GET /api/review` as frigate/api/review.py `review()`.

        0.14 - 0.15: `start_time > after` and (open or `end_time < before`); `reviewed`
        defaults to 0 (only items not yet reviewed), any other value takes all.
        0.16+: items overlapping the range (`start_time < before` and (open or
        `end_time > after`)); no `reviewed` takes all, 0 unreviewed, 1 reviewed ones.
        Both: `after` defaults to 24 h ago, `before` to now; newest first; no default limit.
        """
        if (answer := self._list_answer(request)) is not None:
            return answer
        version = self.major_minor
        if version < (0, 14):
            return web.json_response({"detail": "Not Found"}, status=404)
        try:
            after = self._number(request, "after", float)
            before = self._number(request, "before", float)
            limit = self._number(request, "limit", int)
            reviewed = self._number(request, "reviewed", int)
        except _BadQuery as err:
            return self._invalid_query(err.name, err.value)
        now = time.time()
        after = after or now - 24 * 3600
        before = before or now
        if version < (0, 16) and reviewed is None:
            reviewed = 0
        query = request.query
        cameras, labels = query.get("cameras", "all"), query.get("labels", "all")
        severity = query.get("severity")
        rows = []
        for review in self.reviews.values():
            record = review.record
            data = record.get("data") or {}
            start, end = record["start_time"], record.get("end_time")
            if version < (0, 16):
                in_range = start > after and (end is None or end < before)
            else:
                in_range = start < before and (end is None or end > after)
            if not in_range:
                continue
            if cameras != "all" and record["camera"] not in cameras.split(","):
                continue
            if labels != "all" and not set(labels.split(",")).intersection(
                [*data.get("objects", []), *data.get("audio", [])]
            ):
                continue
            if severity and record.get("severity") != severity:
                continue
            if version < (0, 16):
                if reviewed == 0 and review.has_been_reviewed:
                    continue
            elif reviewed is not None and review.has_been_reviewed != bool(reviewed):
                continue
            rows.append(
                {
                    "id": record["id"],
                    "camera": record["camera"],
                    "start_time": start,
                    "end_time": end,
                    "has_been_reviewed": review.has_been_reviewed,
                    "severity": record.get("severity"),
                    "thumb_path": record.get("thumb_path", ""),
                    "data": data,
                }
            )
        rows.sort(key=lambda row: float(row["start_time"]), reverse=True)
        return web.json_response(rows if limit is None else rows[:limit])

    async def _description(self, request: web.Request) -> web.Response:
        event = self.events.get(request.match_info["event_id"])
        if event is None:
            return web.json_response({"success": False, "message": "Event not found"}, status=404)
        body = json.loads(await request.text() or "{}")
        event.description = str(body.get("description", ""))
        return web.json_response({"success": True, "message": f"Event {event.id} description set"})


class _BadQuery(Exception):
    def __init__(self, name: str, value: str) -> None:
        super().__init__(name)
        self.name = name
        self.value = value


def _relative(box: Any, width: int, height: int) -> list[float] | None:
    """frigate.util.builtin.to_relative_box: pixels [x1, y1, x2, y2] -> relative [x, y, w, h]."""
    if not isinstance(box, list) or len(box) != 4:
        return None
    return [box[0] / width, box[1] / height, (box[2] - box[0]) / width, (box[3] - box[1]) / height]


def api_event_row(
    record: dict[str, Any],
    version: tuple[int, int] = (0, 17),
    *,
    width: int = 1280,
    height: int = 720,
    include_thumbnail: bool = False,
) -> dict[str, Any]:
    """The `/api/events` row Frigate's event maintainer writes for an MQTT `after` object.

    Zones become `zones` (the entered ones); `sub_label` the name (its score under `data`);
    score, box and region of the snapshot and the top score go under `data`, boxes relative
    to the detect resolution as [x, y, w, h]; attributes become a list of {box, label,
    score}; `max_severity` from 0.15, speed and path data from 0.16. The legacy columns
    `top_score`, `false_positive` and `box` are null (not written since 0.14).
    """
    snapshot = record.get("snapshot") or {}
    data: dict[str, Any] = {
        "box": _relative(snapshot.get("box", record.get("box")), width, height),
        "region": _relative(record.get("region"), width, height),
        "score": snapshot.get("score", record.get("score")),
        "top_score": record.get("top_score"),
        "attributes": [
            {"box": None, "label": name, "score": score}
            for name, score in (record.get("attributes") or {}).items()
        ],
        "type": "object",
    }
    if version >= (0, 15):
        data["max_severity"] = record.get("max_severity")
    if version >= (0, 16):
        data.update(average_estimated_speed=0, velocity_angle=0, path_data=[])
    sub_label = record.get("sub_label")
    name = None
    if isinstance(sub_label, list) and sub_label:
        name = sub_label[0]
        data["sub_label_score"] = sub_label[1] if len(sub_label) > 1 else None
    row: dict[str, Any] = {
        "id": record["id"],
        "camera": record["camera"],
        "label": record["label"],
        "zones": list(record.get("entered_zones") or []),
        "start_time": record["start_time"],
        "end_time": record.get("end_time"),
        "has_clip": record.get("has_clip", True),
        "has_snapshot": record.get("has_snapshot", True),
        "plus_id": None,
        "retain_indefinitely": False,
        "sub_label": name,
        "top_score": None,
        "false_positive": None,
        "box": None,
        "data": data,
    }
    if include_thumbnail:
        row["thumbnail"] = base64.b64encode(SNAPSHOT_JPEG).decode()
    return row


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
