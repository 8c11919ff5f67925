"""An RTSP camera's settings, and keeping its credentials out of logs.

Secrets. Username and password are kept apart from the URLs and injected (percent-encoded) only
when opening; URLs in logs, errors and diagnostics go through `redact_url` and error texts
through `redact_text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import av.error

from ..motion import MaskRect, MotionConfig

SOURCE_TYPE = "rtsp"
DEFAULT_MAX_BUFFER_BYTES = 32 * 1024 * 1024

_SECRET_QUERY_KEYS = ("pass", "pwd", "user", "token", "auth", "key", "secret", "sig")


# --------------------------------------------------------------------------------------------
# URLs and secrets


def inject_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL with `username:password@` (percent-encoded) in place of any credentials in it.

    Without a username the URL is returned as it is (credentials typed into it are kept).
    """
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def redact_url(url: str) -> str:
    """The URL without credentials (user info removed, secret-looking query values hidden)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [
                (key, "REDACTED" if any(s in key.lower() for s in _SECRET_QUERY_KEYS) else value)
                for key, value in pairs
            ],
            safe="/:",
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str, urls: tuple[str, ...], secrets: tuple[str | None, ...]) -> str:
    """`text` with every URL replaced by its redacted form and every secret by `***`."""
    for url in sorted(urls, key=len, reverse=True):
        if url:
            text = text.replace(url, redact_url(url))
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


def error_text(err: BaseException) -> str:
    """A short description of an error, without the URL PyAV puts into its messages."""
    if isinstance(err, av.error.ExitError):
        return "timed out"
    if isinstance(err, av.error.FFmpegError):
        return err.strerror or type(err).__name__
    return str(err) or type(err).__name__


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True, slots=True, repr=False)
class RtspSettings:
    """Everything an RTSP camera needs (times in seconds)."""

    record_url: str
    output_dir: Path
    detect_url: str | None = None
    username: str | None = None
    password: str | None = None
    detect_fps: float = 5.0
    detect_width: int = 320
    # Grey-level change (1..255) that makes a pixel count as changed: lower is more sensitive.
    motion_threshold: int = 25
    min_area_percent: float = 0.5
    masks: tuple[MaskRect, ...] = ()
    motion_frames: int = 2
    motion_off_delay_s: float = 2.0
    pre_roll_s: float = 3.0
    post_roll_s: float = 8.0
    max_clip_s: float = 60.0
    min_clip_s: float = 2.0
    open_timeout_s: float = 5.0
    stall_timeout_s: float = 10.0
    reconnect_base_s: float = 1.0
    reconnect_max_s: float = 60.0
    handover_timeout_s: float = 30.0
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES

    def __post_init__(self) -> None:
        for url in (self.record_url, self.detect_url):
            if url is not None and urlsplit(url).scheme.lower() not in ("rtsp", "rtsps"):
                raise ValueError(f"not an rtsp:// URL: {redact_url(url)}")
        checks = (
            (0 < self.detect_fps <= 30, "detect_fps must be in (0, 30]"),
            (self.detect_width >= 16, "detect_width must be at least 16"),
            (self.motion_frames >= 1, "motion_frames must be at least 1"),
            (self.motion_off_delay_s >= 0, "motion_off_delay_s must not be negative"),
            (self.pre_roll_s >= 0 and self.post_roll_s >= 0, "pre/post roll must not be negative"),
            (0 <= self.min_clip_s < self.max_clip_s, "need 0 <= min_clip_s < max_clip_s"),
            (self.open_timeout_s > 0 and self.stall_timeout_s > 0, "timeouts must be positive"),
            (
                0 < self.reconnect_base_s <= self.reconnect_max_s,
                "need 0 < reconnect_base_s <= reconnect_max_s",
            ),
            (self.handover_timeout_s > 0, "handover_timeout_s must be positive"),
            (self.max_buffer_bytes > 0, "max_buffer_bytes must be positive"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        # Validates threshold and area.
        self.motion_config()

    def __repr__(self) -> str:
        detect = redact_url(self.detect_url) if self.detect_url else None
        return (
            f"RtspSettings(record_url={redact_url(self.record_url)!r}, detect_url={detect!r}, "
            f"output_dir={str(self.output_dir)!r}, detect_fps={self.detect_fps}, "
            f"pre_roll_s={self.pre_roll_s}, post_roll_s={self.post_roll_s})"
        )

    @property
    def separate_detect(self) -> bool:
        """True when motion is detected on another stream than the recorded one."""
        return bool(self.detect_url) and self.detect_url != self.record_url

    def record_source(self) -> str:
        """The record URL with credentials (for opening only: never log it)."""
        return inject_credentials(self.record_url, self.username, self.password)

    def detect_source(self) -> str:
        """The detect URL with credentials (for opening only: never log it)."""
        return inject_credentials(self.detect_url or self.record_url, self.username, self.password)

    def redacted_url(self, *, detect: bool = False) -> str:
        """The record (or detect) URL, safe to show."""
        return redact_url((self.detect_url or self.record_url) if detect else self.record_url)

    def redact(self, text: str) -> str:
        """`text` with this camera's URLs and credentials hidden."""
        urls = (self.record_url, self.detect_url or "", self.record_source(), self.detect_source())
        return redact_text(text, urls, (self.password,))

    def motion_config(self) -> MotionConfig:
        """The motion detector's settings."""
        return MotionConfig(
            threshold=self.motion_threshold,
            min_area_percent=self.min_area_percent,
            masks=tuple(self.masks),
        )
