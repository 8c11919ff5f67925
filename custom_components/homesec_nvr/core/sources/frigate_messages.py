"""Defensive parsing of Frigate's MQTT messages (Frigate 0.12 - 0.18).

- `<prefix>/events`: `{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`, one
  tracked object. There is no `zones` key: zone filters use `entered_zones` (and
  `current_zones`). `sub_label` is null, a string (0.12) or `[name, score]` (score may be null).
- `<prefix>/reviews` (0.14+): types new/update/end (and `genai` in 0.17); `after` holds `id`,
  `camera`, `start_time`, `end_time`, `severity` and `data` (`detections`, `objects`,
  `sub_labels`, `zones`).
- `<prefix>/available`: `online` (retained), `offline` (last will), `stopped` (0.18).

Payloads come as bytes or str. Anything unusable raises `FrigateMessageError` (one typed error,
with a short excerpt of the payload for the log line) instead of a traceback per message.
Parsing is linear in the payload's size, and a payload over MAX_PAYLOAD_BYTES is refused
before it is decoded (Frigate's own messages are a few kilobytes). Whatever the payload holds
(numbers of hundreds of digits, nesting thousands deep), only FrigateMessageError comes out.
Times must lie between 2000 and a day after now: a finite but absurd `start_time` would only
fail later, after the clip was downloaded.
Optional fields that are missing or of the wrong type take neutral defaults; only what a clip
cannot do without (`id`, `camera`, `start_time`) is required. Ids and camera names are checked
against Frigate's own character sets because they end up in URLs and file names.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Frigate event ids look like "1718123456.123456-abc123"; review ids the same. Matched with
# fullmatch: `$` would let a trailing newline through into URLs and file names.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Frigate camera names: letters, digits, "_" and "-" (validated by Frigate's config).
_CAMERA_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
# Event and review times (epoch seconds): not before 2000, not more than a day ahead of now.
MIN_TIMESTAMP = 946_684_800.0
MAX_FUTURE_S = 86_400.0
# Box and region coordinates (pixels, or fractions in API rows); anything larger is garbage.
_MAX_COORDINATE = 1e6
_EXCERPT_CHARS = 120
# Frigate's event and review messages are a few kilobytes (an event's path data included).
MAX_PAYLOAD_BYTES = 1024 * 1024

EVENT_TYPES: frozenset[str] = frozenset({"new", "update", "end"})
REVIEW_TYPES: frozenset[str] = frozenset({"new", "update", "end", "genai"})


class FrigateMessageError(ValueError):
    """A Frigate MQTT payload that cannot be used.

    `kind` is the topic kind ("events", "reviews", "available"), `reason` a short description
    and `excerpt` the start of the payload (for one log line with context).
    """

    def __init__(self, kind: str, reason: str, payload: bytes | str | None = None) -> None:
        self.kind = kind
        self.reason = reason
        self.excerpt = _excerpt(payload)
        super().__init__(f"invalid frigate/{kind} message: {reason}")


class Availability(StrEnum):
    """What `<prefix>/available` last said."""

    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FrigateEvent:
    """One tracked object, as in the `before` / `after` of a `frigate/events` message."""

    id: str
    camera: str
    label: str | None
    start_time: float
    end_time: float | None = None
    sub_label: str | None = None
    sub_label_score: float | None = None
    top_score: float | None = None
    score: float | None = None
    false_positive: bool = False
    box: tuple[float, float, float, float] | None = None
    region: tuple[float, float, float, float] | None = None
    current_zones: tuple[str, ...] = ()
    entered_zones: tuple[str, ...] = ()
    has_clip: bool = True
    has_snapshot: bool = False
    attributes: dict[str, float] = field(default_factory=dict)
    max_severity: str | None = None
    frame_time: float | None = None

    @property
    def duration_s(self) -> float | None:
        """Event length in seconds, once it has ended."""
        if self.end_time is None:
            return None
        return max(0.0, self.end_time - self.start_time)

    @property
    def best_score(self) -> float | None:
        """The top score, or the current score when Frigate has no top score yet."""
        return self.top_score if self.top_score is not None else self.score

    @property
    def zones(self) -> tuple[str, ...]:
        """Zones the object entered; the zones it is in when Frigate lists none entered."""
        return self.entered_zones or self.current_zones


@dataclass(frozen=True, slots=True)
class FrigateEventMessage:
    """A `frigate/events` message."""

    type: str
    after: FrigateEvent
    before: FrigateEvent | None = None


@dataclass(frozen=True, slots=True)
class FrigateReview:
    """One review item (Frigate 0.14+), as in a `frigate/reviews` message."""

    id: str
    camera: str
    start_time: float
    end_time: float | None = None
    severity: str | None = None
    detections: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    sub_labels: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float | None:
        """Review item length in seconds, once it has ended."""
        if self.end_time is None:
            return None
        return max(0.0, self.end_time - self.start_time)

    @property
    def labels(self) -> tuple[str, ...]:
        """Object labels without Frigate's `-verified` suffix, in order, without repeats."""
        seen: dict[str, None] = {}
        for name in self.objects:
            seen.setdefault(name.removesuffix("-verified"), None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class FrigateReviewMessage:
    """A `frigate/reviews` message."""

    type: str
    after: FrigateReview
    before: FrigateReview | None = None


# -- public parsers ----------------------------------------------------------------------


def _before_after[T](
    kind: str,
    data: dict[str, Any],
    payload: bytes | str,
    build: Callable[[str, dict[str, Any], bytes | str, float], T],
    now: float,
) -> tuple[T, T | None]:
    """The `after` object (falling back to `before` when it is missing) and `before`."""
    before_raw, after_raw = data.get("before"), data.get("after")
    if not isinstance(after_raw, dict):
        # Defensive: use `before` when `after` is missing (never seen from Frigate itself).
        if not isinstance(before_raw, dict):
            raise FrigateMessageError(kind, "no 'after' object", payload)
        after_raw, before_raw = before_raw, None
    after = build("after", after_raw, payload, now)
    before: T | None = None
    if isinstance(before_raw, dict):
        try:
            before = build("before", before_raw, payload, now)
        except FrigateMessageError:
            before = None
    return after, before


def parse_event_message(payload: bytes | str, *, now: float | None = None) -> FrigateEventMessage:
    """Parse a `frigate/events` payload; raise FrigateMessageError when it is unusable.

    `now` (epoch seconds, default the current time) bounds the times a message may carry.
    """
    data = _load_object("events", payload)
    kind = _message_type("events", data, EVENT_TYPES, payload)
    after, before = _before_after("events", data, payload, _event, _now(now))
    return FrigateEventMessage(type=kind, after=after, before=before)


def parse_review_message(payload: bytes | str, *, now: float | None = None) -> FrigateReviewMessage:
    """Parse a `frigate/reviews` payload; raise FrigateMessageError when it is unusable.

    `now` (epoch seconds, default the current time) bounds the times a message may carry.
    """
    data = _load_object("reviews", payload)
    kind = _message_type("reviews", data, REVIEW_TYPES, payload)
    after, before = _before_after("reviews", data, payload, _review, _now(now))
    return FrigateReviewMessage(type=kind, after=after, before=before)


def parse_availability(payload: bytes | str) -> Availability:
    """Parse a `<prefix>/available` payload (online / offline / stopped)."""
    text = _decode("available", payload).strip().lower()
    try:
        value = Availability(text)
    except ValueError:
        raise FrigateMessageError("available", f"unknown state {text[:20]!r}", payload) from None
    if value is Availability.UNKNOWN:
        raise FrigateMessageError("available", "unknown state 'unknown'", payload)
    return value


def parse_sub_label(value: Any) -> tuple[str | None, float | None]:
    """`sub_label` in any form Frigate sends: null, "name", [name, score] (score may be null)."""
    if isinstance(value, str):
        return (value or None), None
    if isinstance(value, list | tuple) and value:
        name = value[0] if isinstance(value[0], str) and value[0] else None
        score = _number(value[1]) if len(value) > 1 else None
        return name, (score if name is not None else None)
    return None, None


# -- helpers -----------------------------------------------------------------------------


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _excerpt(payload: bytes | str | None) -> str:
    if payload is None:
        return ""
    if isinstance(payload, bytes | bytearray):
        text = bytes(payload[: _EXCERPT_CHARS * 4]).decode("utf-8", errors="replace")
    else:
        text = payload[: _EXCERPT_CHARS * 4]
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."


def _decode(kind: str, payload: bytes | str) -> str:
    sized = isinstance(payload, str | bytes | bytearray | memoryview)
    if sized and len(payload) > MAX_PAYLOAD_BYTES:
        head = payload[:512] if isinstance(payload, str) else bytes(payload[:512])
        raise FrigateMessageError(
            kind, f"payload of {len(payload)} bytes, over {MAX_PAYLOAD_BYTES}", head
        )
    if isinstance(payload, str):
        return payload
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise FrigateMessageError(kind, "payload is not UTF-8", bytes(payload)) from None
    raise FrigateMessageError(kind, f"payload of type {type(payload).__name__}")


def _load_object(kind: str, payload: bytes | str) -> dict[str, Any]:
    text = _decode(kind, payload)
    if not text.strip():
        raise FrigateMessageError(kind, "empty payload", payload)
    try:
        data = json.loads(text)
    except ValueError as err:
        # Also an integer of more than 4300 digits (Python's int conversion limit).
        raise FrigateMessageError(kind, f"malformed JSON ({err})", payload) from None
    except RecursionError:
        raise FrigateMessageError(kind, "JSON nested too deeply", payload) from None
    if not isinstance(data, dict):
        raise FrigateMessageError(kind, f"JSON {type(data).__name__}, not an object", payload)
    return data


def _message_type(
    kind: str, data: dict[str, Any], allowed: frozenset[str], payload: bytes | str
) -> str:
    value = data.get("type")
    if not isinstance(value, str) or value not in allowed:
        raise FrigateMessageError(kind, f"unknown message type {value!r}", payload)
    return value


def _require_id(kind: str, where: str, raw: dict[str, Any], payload: bytes | str) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise FrigateMessageError(kind, f"'{where}.id' missing or invalid: {value!r}", payload)
    return value


def _require_camera(kind: str, where: str, raw: dict[str, Any], payload: bytes | str) -> str:
    value = raw.get("camera")
    if not isinstance(value, str) or not _CAMERA_RE.fullmatch(value):
        raise FrigateMessageError(kind, f"'{where}.camera' missing or invalid: {value!r}", payload)
    return value


def _require_time(
    kind: str, where: str, name: str, raw: dict[str, Any], payload: bytes | str, now: float
) -> float:
    value = _number(raw.get(name))
    if value is None or value <= 0:
        raise FrigateMessageError(kind, f"'{where}.{name}' missing or invalid", payload)
    if not _sane_time(value, now):
        raise FrigateMessageError(kind, f"'{where}.{name}' out of range: {value!r}", payload)
    return value


def _optional_time(
    kind: str, where: str, name: str, raw: dict[str, Any], payload: bytes | str, now: float
) -> float | None:
    """An optional time: None when missing, not a number or not positive (Frigate sends null
    or 0 while an event lasts); a number out of the sane range makes the message unusable."""
    value = _number(raw.get(name))
    if value is None or value <= 0:
        return None
    if not _sane_time(value, now):
        raise FrigateMessageError(kind, f"'{where}.{name}' out of range: {value!r}", payload)
    return value


def _sane_time(value: float, now: float) -> bool:
    return MIN_TIMESTAMP <= value <= now + MAX_FUTURE_S


def _number(value: Any) -> float | None:
    """A finite float, or None (bools are not numbers here; nor is an integer too large for
    a float, which float() refuses with OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _flag(value: Any, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _names(value: Any) -> tuple[str, ...]:
    """A list of non-empty strings, in order, without repeats (anything else is dropped).

    A dict counts by its keys (defensive: some payloads carry {name: score}).
    """
    if isinstance(value, dict):
        value = list(value)
    if not isinstance(value, list | tuple):
        return ()
    seen: dict[str, None] = {}
    for item in value:
        if isinstance(item, str) and item:
            seen.setdefault(item, None)
    return tuple(seen)


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    numbers = [_number(v) for v in value]
    if any(n is None or abs(n) > _MAX_COORDINATE for n in numbers):
        return None
    x1, y1, x2, y2 = (float(n) for n in numbers if n is not None)
    return x1, y1, x2, y2


def _attributes(value: Any) -> dict[str, float]:
    """`attributes` is {label: score} (older versions: a list of {label, score} dicts)."""
    result: dict[str, float] = {}
    if isinstance(value, dict):
        for name, score in value.items():
            number = _number(score)
            if isinstance(name, str) and number is not None:
                result[name] = number
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name, number = item.get("label"), _number(item.get("score"))
                if isinstance(name, str) and number is not None:
                    result[name] = max(number, result.get(name, 0.0))
    return result


def _event(where: str, raw: dict[str, Any], payload: bytes | str, now: float) -> FrigateEvent:
    start_time = _require_time("events", where, "start_time", raw, payload, now)
    end_time = _optional_time("events", where, "end_time", raw, payload, now)
    sub_label, sub_label_score = parse_sub_label(raw.get("sub_label"))
    snapshot = raw.get("snapshot")
    frame_time = _number(snapshot.get("frame_time")) if isinstance(snapshot, dict) else None
    if frame_time is None:
        frame_time = _number(raw.get("snapshot_time")) or _number(raw.get("frame_time"))
    if frame_time is not None and not _sane_time(frame_time, now):
        frame_time = None  # only places the snapshot in the clip: dropped, not fatal
    max_severity = raw.get("max_severity")
    return FrigateEvent(
        id=_require_id("events", where, raw, payload),
        camera=_require_camera("events", where, raw, payload),
        label=_text(raw.get("label")),
        start_time=start_time,
        end_time=end_time,
        sub_label=sub_label,
        sub_label_score=sub_label_score,
        top_score=_number(raw.get("top_score")),
        score=_number(raw.get("score")),
        false_positive=_flag(raw.get("false_positive"), False),
        box=_box(raw.get("box")),
        region=_box(raw.get("region")),
        current_zones=_names(raw.get("current_zones")),
        entered_zones=_names(raw.get("entered_zones")),
        has_clip=_flag(raw.get("has_clip"), True),
        has_snapshot=_flag(raw.get("has_snapshot"), False),
        attributes=_attributes(raw.get("attributes")),
        max_severity=max_severity if isinstance(max_severity, str) and max_severity else None,
        frame_time=frame_time,
    )


def _review(where: str, raw: dict[str, Any], payload: bytes | str, now: float) -> FrigateReview:
    start_time = _require_time("reviews", where, "start_time", raw, payload, now)
    end_time = _optional_time("reviews", where, "end_time", raw, payload, now)
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    severity = raw.get("severity")
    return FrigateReview(
        id=_require_id("reviews", where, raw, payload),
        camera=_require_camera("reviews", where, raw, payload),
        start_time=start_time,
        end_time=end_time,
        severity=severity if isinstance(severity, str) and severity else None,
        detections=tuple(d for d in _names(data.get("detections")) if _ID_RE.fullmatch(d)),
        objects=_names(data.get("objects")),
        sub_labels=_names(data.get("sub_labels")),
        zones=_names(data.get("zones")),
    )
