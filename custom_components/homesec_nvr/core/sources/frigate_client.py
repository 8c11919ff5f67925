"""Frigate's HTTP API, as Frigate 0.12 - 0.17 really answer.

Uses an injected `aiohttp.ClientSession` (Home Assistant passes its shared session).

Authentication: port 5000 needs none; port 8971 needs `POST /api/login {"user", "password"}`,
which sets the cookie `frigate_token` (a JWT). The token is taken from the login answer (not
from the session's cookie jar, which ignores cookies from IP-address hosts) and sent as
`Authorization: Bearer`. A 401 logs in again once; a second 401 is `invalid_auth`. Refreshed
tokens that Frigate sets on any answer are picked up. Credentials and tokens are never logged.

Clips are streamed (fragmented MP4, chunked, no Content-Length) into a temporary file next to
the destination and renamed into place. A clip asked for too early is "not ready", in one of
several ways depending on the version:

- 0.17: 400 `{"success": false, "message": "No recordings found for the specified time range"}`
- 0.15 - 0.16: 200 with an empty body
- 0.12 - 0.14: 500
- any: 404 `Event not found` while the event row is not written yet
- any: a clip much shorter than the event (recordings are flushed in 10 s segments every ~5 s)

Those are retried with backoff (the first attempt after a short delay) within a time window;
then the download gives up with `ClipNotReady` carrying the last reason. A truncated clip is
kept as a last resort when `accept_truncated` (the default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from ..interfaces import PipelineError
from ..media import probe_duration

_LOGGER = logging.getLogger(__name__)

TOKEN_COOKIE = "frigate_token"  # noqa: S105 - a cookie name, not a secret

# Reasons (FrigateError.reason). The first three are what `validate` raises.
REASON_CANNOT_CONNECT = "cannot_connect"
REASON_INVALID_AUTH = "invalid_auth"
REASON_NOT_FRIGATE = "not_frigate"
REASON_NOT_READY = "not_ready"
REASON_EVENT_NOT_FOUND = "event_not_found"
REASON_TRUNCATED = "truncated"
REASON_NO_CLIP = "no_clip"
REASON_TOO_LARGE = "too_large"
REASON_INVALID_CLIP = "invalid_clip"
REASON_HTTP_ERROR = "http_error"

DEFAULT_WINDOW_S = 90.0
DEFAULT_FIRST_DELAY_S = 10.0
DEFAULT_RETRY_DELAY_S = 5.0
DEFAULT_MAX_RETRY_DELAY_S = 20.0
DEFAULT_SIZE_CAP_BYTES = 300 * 1024 * 1024
DEFAULT_TRUNCATION_TOLERANCE_S = 2.0
SNAPSHOT_CAP_BYTES = 20 * 1024 * 1024
LIST_CAP_BYTES = 16 * 1024 * 1024  # /api/events, /api/review answers

_CHUNK_BYTES = 64 * 1024
_FLUSH_BYTES = 1024 * 1024
_ERROR_BODY_BYTES = 4096
_VERSION_RE = re.compile(r"^\d+\.\d+")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class FrigateError(PipelineError):
    """A failed Frigate API call; `reason` is one of the REASON_* strings."""

    def __init__(
        self,
        reason: str,
        message: str | None = None,
        *,
        status: int | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.attempts = 0


class ClipNotReady(FrigateError):
    """Frigate has no (complete) clip yet; after the window, the download gives up with it."""


@dataclass(frozen=True, slots=True)
class FrigateCamera:
    """A camera from Frigate's configuration."""

    name: str
    zones: tuple[str, ...] = ()
    enabled: bool = True
    record_enabled: bool = False
    snapshots_enabled: bool = False
    detect_width: int | None = None
    detect_height: int | None = None


@dataclass(frozen=True, slots=True)
class FrigateServerConfig:
    """The parts of `GET /api/config` HomeSec uses."""

    cameras: tuple[FrigateCamera, ...]
    mqtt_topic_prefix: str = "frigate"

    @property
    def camera_names(self) -> tuple[str, ...]:
        """Names of the configured cameras."""
        return tuple(c.name for c in self.cameras)


@dataclass(frozen=True, slots=True)
class FrigateServerInfo:
    """What `validate` found."""

    version: str
    config: FrigateServerConfig


@dataclass(frozen=True, slots=True)
class ClipDownload:
    """A downloaded clip."""

    path: Path
    size_bytes: int
    duration_s: float | None
    attempts: int
    truncated: bool = False


def parse_server_config(data: Any) -> FrigateServerConfig:
    """Read cameras, zones and the MQTT topic prefix from `/api/config`."""
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), dict):
        raise FrigateError(REASON_NOT_FRIGATE, "no cameras in /api/config", retryable=False)
    cameras: list[FrigateCamera] = []
    for name, raw in data["cameras"].items():
        if not isinstance(name, str):
            continue
        camera = raw if isinstance(raw, dict) else {}
        zones = camera.get("zones")
        record = camera.get("record")
        snapshots = camera.get("snapshots")
        detect = camera.get("detect")
        detect = detect if isinstance(detect, dict) else {}
        width, height = detect.get("width"), detect.get("height")
        cameras.append(
            FrigateCamera(
                name=name,
                zones=tuple(str(z) for z in zones) if isinstance(zones, dict) else (),
                enabled=camera.get("enabled", True) is not False,
                record_enabled=isinstance(record, dict) and record.get("enabled") is True,
                snapshots_enabled=isinstance(snapshots, dict) and snapshots.get("enabled") is True,
                detect_width=width if isinstance(width, int) and width > 0 else None,
                detect_height=height if isinstance(height, int) and height > 0 else None,
            )
        )
    mqtt = data.get("mqtt")
    prefix = mqtt.get("topic_prefix") if isinstance(mqtt, dict) else None
    return FrigateServerConfig(
        cameras=tuple(cameras),
        mqtt_topic_prefix=prefix if isinstance(prefix, str) and prefix else "frigate",
    )


class _TempFile:
    """A temporary file next to the destination; blocking work runs in the executor."""

    def __init__(self, dest: Path) -> None:
        self.path = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        self._handle: IO[bytes] | None = None
        self._buffer = bytearray()
        self.size = 0

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    async def open(self) -> None:
        def _open() -> IO[bytes]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path.open("wb")

        self._handle = await self._run(_open)

    async def write(self, chunk: bytes) -> None:
        self._buffer.extend(chunk)
        self.size += len(chunk)
        if len(self._buffer) >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer and self._handle is not None:
            data, self._buffer = bytes(self._buffer), bytearray()
            await self._run(self._handle.write, data)

    async def close(self) -> None:
        await self._flush()
        if self._handle is not None:
            handle, self._handle = self._handle, None
            await self._run(handle.close)

    async def discard(self) -> None:
        """Close and delete (never raises)."""
        with contextlib.suppress(OSError):
            await self.close()
        with contextlib.suppress(OSError):
            await self._run(_unlink, self.path)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _message_of(body: bytes) -> str:
    """Frigate's `{"success": false, "message": ...}`, or the start of the text."""
    text = body.decode("utf-8", errors="replace").strip()
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return str(data["message"])
    return text[:200]


class FrigateClient:
    """Talks to one Frigate server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        verify_ssl: bool = True,
        request_timeout_s: float = 10.0,
        download_read_timeout_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        self._username = username or None
        self._password = password or ""
        self._ssl: bool = verify_ssl
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._download_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=request_timeout_s, sock_read=download_read_timeout_s
        )
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._token_generation = 0
        self._login_lock = asyncio.Lock()
        self.last_success_at: datetime | None = None
        self.version_string: str | None = None

    # -- properties --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's URL without any user info (safe to show and log)."""
        return str(self._base.with_user(None).with_password(None))

    @property
    def uses_auth(self) -> bool:
        """True when the client logs in (port 8971 style)."""
        return self._username is not None

    # -- plain API ---------------------------------------------------------------------

    async def version(self) -> str:
        """`GET /api/version` (plain text such as `0.14.1-f4f3cfa`)."""
        response = await self._send("GET", "/api/version")
        try:
            if response.status == 404:
                raise FrigateError(
                    REASON_NOT_FRIGATE, "no /api/version", status=404, retryable=False
                )
            self._raise_for_status(response)
            text = (await response.content.read(200)).decode("utf-8", "replace").strip()
        finally:
            response.release()
        if not _VERSION_RE.match(text):
            raise FrigateError(REASON_NOT_FRIGATE, "/api/version is not a version", retryable=False)
        self.version_string = text
        return text

    async def config(self) -> FrigateServerConfig:
        """`GET /api/config`: cameras, their zones, the MQTT topic prefix."""
        response = await self._send("GET", "/api/config")
        try:
            if response.status == 404:
                raise FrigateError(
                    REASON_NOT_FRIGATE, "no /api/config", status=404, retryable=False
                )
            self._raise_for_status(response)
            try:
                data = await response.json(content_type=None)
            except ValueError:
                raise FrigateError(
                    REASON_NOT_FRIGATE, "/api/config is not JSON", retryable=False
                ) from None
        finally:
            response.release()
        return parse_server_config(data)

    async def validate(self) -> FrigateServerInfo:
        """Log in (when configured), read version and config.

        Raises FrigateError with reason cannot_connect, invalid_auth or not_frigate.
        """
        try:
            version = await self.version()
            config = await self.config()
        except FrigateError as err:
            if err.reason in (REASON_INVALID_AUTH, REASON_NOT_FRIGATE):
                raise
            raise FrigateError(REASON_CANNOT_CONNECT, str(err), status=err.status) from None
        return FrigateServerInfo(version=version, config=config)

    async def snapshot(self, event_id: str, *, bbox: bool = False) -> bytes | None:
        """The event's snapshot JPEG (its current best frame while it is in progress; with
        `bbox`, the object's box drawn on it); None when Frigate has none (404)."""
        response = await self._send(
            "GET",
            f"/api/events/{_seg(event_id)}/snapshot.jpg",
            params={"bbox": "1"} if bbox else None,
        )
        try:
            if response.status == 404:
                return None
            self._raise_for_status(response)
            data = await response.content.read(SNAPSHOT_CAP_BYTES + 1)
        finally:
            response.release()
        if len(data) > SNAPSHOT_CAP_BYTES:
            raise FrigateError(REASON_TOO_LARGE, "snapshot too large", retryable=False)
        return data or None

    async def set_description(self, event_id: str, text: str) -> None:
        """`POST /api/events/{id}/description` (shown in Frigate's UI)."""
        response = await self._send(
            "POST",
            f"/api/events/{_seg(event_id)}/description",
            json_body={"description": text},
        )
        try:
            if response.status == 404:
                raise FrigateError(
                    REASON_EVENT_NOT_FOUND, "event not found", status=404, retryable=False
                )
            self._raise_for_status(response)
        finally:
            response.release()

    # -- catch-up: what happened since a time ------------------------------------------

    async def events_since(
        self,
        after: float,
        *,
        before: float | None = None,
        cameras: Iterable[str] = (),
        labels: Iterable[str] = (),
        limit: int = 100,
        has_clip: bool | None = True,
        in_progress: bool | None = None,
    ) -> list[dict[str, Any]]:
        """`GET /api/events`: tracked objects that started after `after` (epoch seconds).

        Frigate 0.14 - 0.17 filter on `start_time` (`after` < start < `before`), answer the
        newest first and at most `limit` (their default: 100). The rows are Frigate's database
        rows, not MQTT `after` objects: `zones` are the entered zones, `sub_label` a string,
        and score, top score, box and region (relative to the frame) sit under `data`;
        `end_time` is null while the object is still tracked. `include_thumbnails=0` keeps
        the base64 thumbnails (the default up to 0.17) out of the answer.
        """
        params = {
            "after": self._epoch(after),
            "limit": str(max(1, int(limit))),
            "include_thumbnails": "0",
        }
        if before is not None:
            params["before"] = self._epoch(before)
        if names := self._csv(cameras):
            params["cameras"] = names
        if names := self._csv(labels):
            params["labels"] = names
        if has_clip is not None:
            params["has_clip"] = "1" if has_clip else "0"
        if in_progress is not None:
            params["in_progress"] = "1" if in_progress else "0"
        return await self._get_list("/api/events", params)

    async def reviews_since(
        self,
        after: float,
        *,
        before: float | None = None,
        cameras: Iterable[str] = (),
        labels: Iterable[str] = (),
        severity: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """`GET /api/review` (Frigate 0.14+): review items since `after` (epoch seconds).

        The rows have the shape of the MQTT review `after` object (`end_time` null while the
        item is open), newest first. 0.14 - 0.15 take items that started after `after` and
        leave out items already marked reviewed unless `reviewed=1`; 0.16+ take items that
        overlap the range and take every item when `reviewed` is not given (`reviewed=1`
        there means "only reviewed ones"): so the version decides (read once if unknown).
        """
        params = {"after": self._epoch(after), "limit": str(max(1, int(limit)))}
        if before is not None:
            params["before"] = self._epoch(before)
        if names := self._csv(cameras):
            params["cameras"] = names
        if names := self._csv(labels):
            params["labels"] = names
        if severity:
            params["severity"] = severity
        version = self.version_string or await self.version()
        match = re.match(r"^(\d+)\.(\d+)", version)
        if match is not None and (int(match[1]), int(match[2])) < (0, 16):
            params["reviewed"] = "1"
        return await self._get_list("/api/review", params)

    async def _get_list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """A JSON list of objects (anything else in the list is dropped), size-capped."""
        response = await self._send("GET", path, params=params)
        body = bytearray()
        try:
            if response.status == 404:
                raise FrigateError(
                    REASON_NOT_FRIGATE, f"no {path} (Frigate too old?)", status=404, retryable=False
                )
            self._raise_for_status(response)
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                body.extend(chunk)
                if len(body) > LIST_CAP_BYTES:
                    raise FrigateError(
                        REASON_TOO_LARGE, f"{path}: answer larger than {LIST_CAP_BYTES} bytes"
                    )
        except (aiohttp.ClientError, TimeoutError) as err:
            raise FrigateError(
                REASON_CANNOT_CONNECT, f"{path}: answer interrupted: {_describe(err)}"
            ) from None
        finally:
            response.release()
        try:
            data = json.loads(bytes(body))
        except ValueError:
            raise FrigateError(REASON_NOT_FRIGATE, f"{path} is not JSON", retryable=False) from None
        if not isinstance(data, list):
            raise FrigateError(REASON_NOT_FRIGATE, f"{path} is not a JSON list", retryable=False)
        return [item for item in data if isinstance(item, dict)]

    @staticmethod
    def _epoch(value: float) -> str:
        return f"{float(value):.6f}"

    @staticmethod
    def _csv(names: Iterable[str]) -> str:
        return ",".join(sorted({n for n in names if n}))

    # -- clips -------------------------------------------------------------------------

    async def download_event_clip(
        self,
        event_id: str,
        dest: Path,
        *,
        padding_s: int | None = None,
        expected_duration_s: float | None = None,
        window_s: float = DEFAULT_WINDOW_S,
        size_cap_bytes: int = DEFAULT_SIZE_CAP_BYTES,
        first_delay_s: float = DEFAULT_FIRST_DELAY_S,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        max_retry_delay_s: float = DEFAULT_MAX_RETRY_DELAY_S,
        truncation_tolerance_s: float = DEFAULT_TRUNCATION_TOLERANCE_S,
        accept_truncated: bool = True,
        slot: asyncio.Semaphore | None = None,
    ) -> ClipDownload:
        """Download `/api/events/{id}/clip.mp4` (`?padding=N` on 0.16.1+) to `dest`."""
        params = {"padding": str(int(padding_s))} if padding_s else None
        return await self._download(
            f"/api/events/{_seg(event_id)}/clip.mp4",
            params,
            dest,
            what=f"event {event_id}",
            expected_duration_s=expected_duration_s,
            window_s=window_s,
            size_cap_bytes=size_cap_bytes,
            first_delay_s=first_delay_s,
            retry_delay_s=retry_delay_s,
            max_retry_delay_s=max_retry_delay_s,
            truncation_tolerance_s=truncation_tolerance_s,
            accept_truncated=accept_truncated,
            slot=slot,
        )

    async def download_review_clip(
        self,
        camera: str,
        start: float,
        end: float,
        dest: Path,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        size_cap_bytes: int = DEFAULT_SIZE_CAP_BYTES,
        first_delay_s: float = DEFAULT_FIRST_DELAY_S,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        max_retry_delay_s: float = DEFAULT_MAX_RETRY_DELAY_S,
        truncation_tolerance_s: float = DEFAULT_TRUNCATION_TOLERANCE_S,
        accept_truncated: bool = True,
        slot: asyncio.Semaphore | None = None,
    ) -> ClipDownload:
        """Download the recordings between two epoch times to `dest`.

        Uses `/api/{camera}/start/{ts}/end/{ts}/clip.mp4` with whole seconds, widened outwards.
        """
        start_ts, end_ts = math.floor(start), math.ceil(end)
        return await self._download(
            f"/api/{_seg(camera)}/start/{start_ts}/end/{end_ts}/clip.mp4",
            None,
            dest,
            what=f"{camera} {start_ts}-{end_ts}",
            expected_duration_s=float(end_ts - start_ts),
            window_s=window_s,
            size_cap_bytes=size_cap_bytes,
            first_delay_s=first_delay_s,
            retry_delay_s=retry_delay_s,
            max_retry_delay_s=max_retry_delay_s,
            truncation_tolerance_s=truncation_tolerance_s,
            accept_truncated=accept_truncated,
            slot=slot,
        )

    async def _download(
        self,
        path: str,
        params: dict[str, str] | None,
        dest: Path,
        *,
        what: str,
        expected_duration_s: float | None,
        window_s: float,
        size_cap_bytes: int,
        first_delay_s: float,
        retry_delay_s: float,
        max_retry_delay_s: float,
        truncation_tolerance_s: float,
        accept_truncated: bool,
        slot: asyncio.Semaphore | None,
    ) -> ClipDownload:
        """Ask until the clip is complete or the window ends; `slot` bounds the transfers
        running at once (waiting for Frigate's recordings between attempts holds none)."""
        deadline = self._clock() + window_s
        await self._sleep(max(0.0, min(first_delay_s, window_s)))
        delay = retry_delay_s
        attempts = 0
        best: tuple[_TempFile, float] | None = None
        last_error: FrigateError
        try:
            while True:
                attempts += 1
                try:
                    async with slot if slot is not None else contextlib.nullcontext():
                        temp, duration = await self._fetch_clip(path, params, dest, size_cap_bytes)
                except FrigateError as err:
                    if not err.retryable:
                        err.attempts = attempts
                        raise
                    last_error = err
                else:
                    if (
                        expected_duration_s is None
                        or duration + truncation_tolerance_s >= expected_duration_s
                    ):
                        await self._keep(temp, dest)
                        return ClipDownload(dest, temp.size, duration, attempts)
                    last_error = ClipNotReady(
                        REASON_TRUNCATED,
                        f"clip of {duration:.1f}s for an event of {expected_duration_s:.1f}s",
                    )
                    if best is None or duration > best[1]:
                        if best is not None:
                            await best[0].discard()
                        best = (temp, duration)
                    else:
                        await temp.discard()
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                wait = min(delay, remaining)
                _LOGGER.debug(
                    "Frigate clip for %s not ready (%s), attempt %s; retrying in %.0fs",
                    what,
                    last_error,
                    attempts,
                    wait,
                )
                await self._sleep(wait)
                delay = min(delay * 2, max_retry_delay_s)
            if best is not None and accept_truncated:
                temp, duration = best
                best = None
                await self._keep(temp, dest)
                _LOGGER.debug("Keeping a truncated clip for %s (%.1fs)", what, duration)
                return ClipDownload(dest, temp.size, duration, attempts, truncated=True)
            last_error.attempts = attempts
            raise last_error
        finally:
            if best is not None:
                await best[0].discard()

    async def _keep(self, temp: _TempFile, dest: Path) -> None:
        """Rename the temporary file into place; delete it when that fails."""
        try:
            await self._run(os.replace, temp.path, dest)
        except BaseException:
            await temp.discard()
            raise

    async def _fetch_clip(
        self, path: str, params: dict[str, str] | None, dest: Path, size_cap_bytes: int
    ) -> tuple[_TempFile, float]:
        """One attempt: the temp file and its duration, or a FrigateError."""
        response = await self._send(
            "GET", path, params=params, client_timeout=self._download_timeout
        )
        try:
            status = response.status
            if status != 200:
                body = await response.content.read(_ERROR_BODY_BYTES)
                raise _clip_error(status, _message_of(body))
            temp = _TempFile(dest)
            try:
                await temp.open()
                async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                    if temp.size + len(chunk) > size_cap_bytes:
                        raise FrigateError(
                            REASON_TOO_LARGE,
                            f"clip larger than {size_cap_bytes} bytes",
                            retryable=False,
                        )
                    await temp.write(chunk)
                await temp.close()
            except (aiohttp.ClientError, TimeoutError) as err:
                await temp.discard()
                raise FrigateError(
                    REASON_CANNOT_CONNECT, f"download interrupted: {_describe(err)}"
                ) from None
            except BaseException:
                await temp.discard()
                raise
        finally:
            response.release()
        try:
            return temp, await self._validate(temp, path)
        except BaseException:
            # Whatever the check raised (a FrigateError, a bug, a cancellation): no `.part`
            # file is ever left behind.
            await temp.discard()
            raise

    async def _validate(self, temp: _TempFile, path: str) -> float:
        """The downloaded clip's duration, or the FrigateError saying why it is unusable."""
        if temp.size == 0:
            raise ClipNotReady(REASON_NOT_READY, "empty answer (no recordings yet)", status=200)
        try:
            duration = await self._run(probe_duration, temp.path)
        except Exception as err:  # an unreadable answer, whatever the reason
            raise FrigateError(
                REASON_INVALID_CLIP, f"{path}: answer is not a readable video ({_describe(err)})"
            ) from err
        if duration is None or not math.isfinite(duration):
            raise FrigateError(REASON_INVALID_CLIP, f"{path}: answer is not a readable video")
        if duration <= 0:
            raise ClipNotReady(REASON_NOT_READY, "clip without frames (no recordings yet)")
        return float(duration)

    # -- transport ---------------------------------------------------------------------

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    def _url(self, path: str) -> URL:
        return self._base.with_path(self._base.path.rstrip("/") + path, encoded=True)

    async def _raw(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
        auth: bool = True,
    ) -> aiohttp.ClientResponse:
        headers: dict[str, str] = {}
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = await self._session.request(
                method,
                self._url(path),
                params=params,
                json=json_body,
                headers=headers,
                timeout=client_timeout or self._timeout,
                ssl=self._ssl,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            raise FrigateError(
                REASON_CANNOT_CONNECT, f"cannot reach Frigate: {_describe(err)}"
            ) from None
        token = response.cookies.get(TOKEN_COOKIE)
        if token is not None and token.value and auth and self._username is not None:
            self._token = token.value
        if 200 <= response.status < 300:
            self.last_success_at = datetime.now(UTC)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """A request with login and one re-login on 401; 401/403 after that: invalid_auth."""
        if self.uses_auth and self._token is None:
            await self._login(self._token_generation)
        generation = self._token_generation
        response = await self._raw(
            method, path, params=params, json_body=json_body, client_timeout=client_timeout
        )
        if response.status == 401 and self.uses_auth:
            response.release()
            await self._login(generation)
            response = await self._raw(
                method, path, params=params, json_body=json_body, client_timeout=client_timeout
            )
        if response.status in (401, 403):
            status = response.status
            response.release()
            raise FrigateError(
                REASON_INVALID_AUTH,
                "Frigate refused the credentials"
                if self.uses_auth
                else "Frigate asks for a login (port 8971): set a username and password",
                status=status,
                retryable=False,
            )
        return response

    async def _login(self, generation: int) -> None:
        """Log in, unless another request already did since `generation`."""
        async with self._login_lock:
            if generation != self._token_generation and self._token is not None:
                return
            response = await self._raw(
                "POST",
                "/api/login",
                json_body={"user": self._username, "password": self._password},
                auth=False,
            )
            try:
                status = response.status
                token = response.cookies.get(TOKEN_COOKIE)
            finally:
                response.release()
            if status in (400, 401, 403):
                raise FrigateError(
                    REASON_INVALID_AUTH, "login refused", status=status, retryable=False
                )
            if status == 429:
                raise FrigateError(REASON_CANNOT_CONNECT, "too many login attempts", status=status)
            if status == 404:
                # No login endpoint (before 0.14): nothing to log in to.
                self._token = ""
            elif status != 200:
                raise FrigateError(REASON_CANNOT_CONNECT, f"login answered {status}", status=status)
            else:
                self._token = token.value if token is not None else ""
            self._token_generation += 1

    @staticmethod
    def _raise_for_status(response: aiohttp.ClientResponse) -> None:
        if response.status >= 400:
            raise FrigateError(
                REASON_HTTP_ERROR if response.status < 500 else REASON_CANNOT_CONNECT,
                f"Frigate answered {response.status}",
                status=response.status,
            )


def _clip_error(status: int, message: str) -> FrigateError:
    """Classify a non-200 answer to a clip request."""
    lowered = message.lower()
    if status == 400 and "no recordings" in lowered:
        return ClipNotReady(REASON_NOT_READY, message, status=status)
    if status == 404 and "event not found" in lowered:
        return ClipNotReady(REASON_EVENT_NOT_FOUND, message, status=status)
    if status == 404:
        return FrigateError(
            REASON_NO_CLIP, message or "clip not available", status=404, retryable=False
        )
    if status >= 500:
        # Frigate 0.12 - 0.14 answer 500 while recordings are missing.
        return ClipNotReady(REASON_NOT_READY, f"server error {status}", status=status)
    if status in (408, 429):
        return FrigateError(REASON_HTTP_ERROR, f"Frigate answered {status}", status=status)
    return FrigateError(
        REASON_HTTP_ERROR, f"Frigate answered {status}: {message}", status=status, retryable=False
    )


def _seg(value: str) -> str:
    """One URL path segment."""
    return quote(value, safe="")


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
