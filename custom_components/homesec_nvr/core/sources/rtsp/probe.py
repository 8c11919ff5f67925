"""Opening a camera stream and describing what it holds; the config flow's stream probe.

Connection. RTSP over TCP (`rtsp_transport=tcp`), a socket timeout (the camera's
`stall_timeout_s`, the probe's timeout), and one second of stream analysis. Only H.264 and HEVC
video can be recorded (remuxed into MP4), and only AAC audio goes into the clips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import av
import av.error
from av.container import InputContainer

from ...media import open_input
from .settings import error_text, inject_credentials, redact_text

# Video codecs a clip can be recorded in (remuxed into MP4), and audio codecs that MP4 takes.
RECORDABLE_VIDEO_CODECS: frozenset[str] = frozenset({"h264", "hevc"})
MP4_AUDIO_CODECS: frozenset[str] = frozenset({"aac"})
PROBE_REASONS: frozenset[str] = frozenset(
    {"cannot_connect", "auth_failed", "no_video_stream", "unsupported_codec"}
)

_ANALYZE_US = "1000000"  # stream analysis when opening (FFmpeg's default is 5 s)


def open_options(stall_timeout_s: float, *, video_only: bool) -> dict[str, str]:
    """FFmpeg options for opening an RTSP stream (`av.open(..., options=...)`)."""
    options = {
        "rtsp_transport": "tcp",
        # Socket I/O timeout in microseconds (FFmpeg >= 5; `stimeout` before).
        "timeout": str(int(stall_timeout_s * 1_000_000)),
        "analyzeduration": _ANALYZE_US,
    }
    if video_only:
        options["allowed_media_types"] = "video"
    return options


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a camera stream holds."""

    video_codec: str
    width: int
    height: int
    fps: float | None
    audio_codec: str | None

    @property
    def audio_recorded(self) -> bool:
        """True when the audio can go into the MP4 clips (it is dropped otherwise)."""
        return self.audio_codec in MP4_AUDIO_CODECS

    def to_dict(self) -> dict[str, Any]:
        """Serialise (diagnostics, config flow placeholders)."""
        return {
            "video_codec": self.video_codec,
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 2) if self.fps else None,
            "audio_codec": self.audio_codec,
            "audio_recorded": self.audio_recorded,
        }


class RtspProbeError(Exception):
    """A stream cannot be used. `reason` is one of PROBE_REASONS (config-flow error keys).

    `cannot_connect` covers refused or timed-out connections, unknown hosts, and a path the
    server does not know (RTSP 404, which GStreamer's server and most cameras answer for a
    wrong path); `auth_failed` covers 401 and 403. `detail` is a redacted explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _probe_reason(err: BaseException) -> tuple[str, str]:
    if isinstance(err, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "auth_failed", error_text(err)
    if isinstance(err, av.error.HTTPNotFoundError):
        return "cannot_connect", "stream path not found (404)"
    return "cannot_connect", error_text(err)


def stream_info(container: InputContainer) -> StreamInfo:
    """Describe an opened stream; RtspProbeError (`no_video_stream`) when it has no video."""
    if not container.streams.video:
        raise RtspProbeError("no_video_stream", "the stream has no video")
    video = container.streams.video[0]
    codec = video.codec_context.name
    audio = next(iter(container.streams.audio), None)
    rate = video.average_rate or video.guessed_rate
    return StreamInfo(
        video_codec=codec,
        width=video.codec_context.width,
        height=video.codec_context.height,
        fps=float(rate) if rate else None,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def _probe_blocking(source: str, timeout_s: float, redact: Callable[[str], str]) -> StreamInfo:
    try:
        container = open_input(
            source,
            options=open_options(timeout_s, video_only=False),
            timeout=(timeout_s, timeout_s),
        )
    except (av.error.FFmpegError, OSError) as err:
        reason, detail = _probe_reason(err)
        raise RtspProbeError(reason, redact(detail)) from None
    try:
        info = stream_info(container)
    finally:
        container.close()
    if info.video_codec not in RECORDABLE_VIDEO_CODECS:
        raise RtspProbeError(
            "unsupported_codec",
            f"video codec {info.video_codec} cannot be recorded (need H.264 or H.265)",
        )
    return info


async def probe_stream(
    url: str, username: str | None, password: str | None, timeout_s: float = 10.0
) -> StreamInfo:
    """Open a stream once and describe it (for the config flow's test-before-configure).

    Runs PyAV in the loop's executor. Raises RtspProbeError with a reason in PROBE_REASONS.
    """
    if urlsplit(url).scheme.lower() not in ("rtsp", "rtsps"):
        raise RtspProbeError("cannot_connect", "not an rtsp:// URL")
    source = inject_credentials(url, username, password)

    def redact(text: str) -> str:
        return redact_text(text, (url, source), (password,))

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _probe_blocking, source, timeout_s, redact)
