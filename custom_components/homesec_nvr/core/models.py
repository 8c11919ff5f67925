"""Domain model of the clip pipeline.

Plain, typed dataclasses and enums, shared by every stage. This module never imports
Home Assistant: the pipeline runs (and is tested) without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self


class RiskLevel(StrEnum):
    """How worrying a clip is, ordered low < medium < high < critical."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the ordering (low = 0)."""
        return _RISK_ORDER.index(self)

    def __ge__(self, other: object) -> bool:
        if isinstance(other, RiskLevel):
            return self.rank >= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, RiskLevel):
            return self.rank > other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, RiskLevel):
            return self.rank <= other.rank
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, RiskLevel):
            return self.rank < other.rank
        return NotImplemented


_RISK_ORDER: tuple[RiskLevel, ...] = (
    RiskLevel.LOW,
    RiskLevel.MEDIUM,
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
)

RISK_LEVEL_DESCRIPTIONS: dict[RiskLevel, str] = {
    RiskLevel.LOW: (
        "routine, expected activity (passers-by, daytime deliveries, animals, "
        "residents' usual comings and goings)"
    ),
    RiskLevel.MEDIUM: (
        "unusual but not clearly threatening (unknown person lingering, activity in a "
        "private area at night)"
    ),
    RiskLevel.HIGH: (
        "likely threat (trying door handles or windows, looking into cars, taking a "
        "package that is not theirs, concealing identity)"
    ),
    RiskLevel.CRITICAL: "active danger (forced entry, a weapon, violence, fire)",
}


class ActivityType(StrEnum):
    """The closed set of activity types (VLM schema, alert policy, sensors)."""

    DELIVERY = "delivery"
    PERSON_AT_DOOR = "person_at_door"
    PASSERBY = "passerby"
    VEHICLE_ACTIVITY = "vehicle_activity"
    ANIMAL_ACTIVITY = "animal_activity"
    LOITERING = "loitering"
    SUSPICIOUS_BEHAVIOR = "suspicious_behavior"
    DANGEROUS_ACTIVITY = "dangerous_activity"
    NO_ACTIVITY = "no_activity"
    UNKNOWN = "unknown"


class EntityType(StrEnum):
    """Kind of thing in an analysis' entity timeline."""

    PERSON = "person"
    VEHICLE = "vehicle"
    ANIMAL = "animal"
    PACKAGE = "package"
    OBJECT = "object"
    UNKNOWN = "unknown"


class ClipStatus(StrEnum):
    """Where a clip is in its life."""

    QUEUED = "queued"
    UPLOADED = "uploaded"
    FILTERED = "filtered"
    ANALYZED = "analyzed"
    DONE = "done"
    ERROR = "error"
    DELETED = "deleted"

    @property
    def finished(self) -> bool:
        """True once the pipeline has nothing left to do for the clip."""
        return self in (ClipStatus.DONE, ClipStatus.ERROR, ClipStatus.DELETED)


class ClipEventType(StrEnum):
    """Append-only history events of a clip."""

    CLIP_RECORDED = "clip_recorded"
    UPLOAD_STARTED = "upload_started"
    UPLOAD_COMPLETED = "upload_completed"
    UPLOAD_FAILED = "upload_failed"
    FILTER_STARTED = "filter_started"
    FILTER_COMPLETED = "filter_completed"
    FILTER_FAILED = "filter_failed"
    VLM_STARTED = "vlm_started"
    VLM_COMPLETED = "vlm_completed"
    VLM_FAILED = "vlm_failed"
    VLM_SKIPPED = "vlm_skipped"
    ALERT_DECISION_MADE = "alert_decision_made"
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_FAILED = "notification_failed"
    CLIP_RECHECKED = "clip_rechecked"
    CLIP_DELETED = "clip_deleted"
    CLIP_RESUMED = "clip_resumed"
    # The vision model ran again on a stored clip (the analyze service action).
    CLIP_REANALYZED = "clip_reanalyzed"


class ReviewState(StrEnum):
    """What a person decided about a clip (none: not reviewed yet)."""

    REVIEWED = "reviewed"
    FALSE_ALARM = "false_alarm"


class VLMRunMode(StrEnum):
    """When the vision model is asked about a clip."""

    TRIGGER_ONLY = "trigger_only"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class Clip:
    """A finished video file handed over by a source."""

    clip_id: str
    camera_id: str
    camera_name: str
    source_type: str
    path: Path
    start_ts: datetime
    end_ts: datetime
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Length of the clip in seconds."""
        return max(0.0, (self.end_ts - self.start_ts).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """Serialise (a source's hand-over record, kept until the pipeline has the clip)."""
        return {
            "clip_id": self.clip_id,
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "source_type": self.source_type,
            "path": str(self.path),
            "start_ts": self.start_ts.isoformat(),
            "end_ts": self.end_ts.isoformat(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict (raises KeyError or ValueError for a damaged record)."""
        return cls(
            clip_id=str(data["clip_id"]),
            camera_id=str(data["camera_id"]),
            camera_name=str(data["camera_name"]),
            source_type=str(data["source_type"]),
            path=Path(data["path"]),
            start_ts=datetime.fromisoformat(data["start_ts"]),
            end_ts=datetime.fromisoformat(data["end_ts"]),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object on one sampled frame."""

    label: str
    confidence: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    timestamp_s: float

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the store and event payloads."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v, 1) for v in self.box],
            "timestamp_s": round(self.timestamp_s, 3),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict."""
        x1, y1, x2, y2 = (float(v) for v in data["box"])
        return cls(
            label=str(data["label"]),
            confidence=float(data["confidence"]),
            box=(x1, y1, x2, y2),
            timestamp_s=float(data["timestamp_s"]),
        )


@dataclass(frozen=True, slots=True)
class FilterResult:
    """What the object filter found in a clip."""

    detected_classes: tuple[str, ...]
    best_confidence: dict[str, float]
    detections: tuple[Detection, ...]
    frames_sampled: int
    model: str
    duration_ms: int
    # True for the `none` filter: nothing was checked, so every clip passes.
    passthrough: bool = False
    # Names a recogniser attached to the objects (Frigate sub-labels: faces, plates, couriers).
    sub_labels: tuple[str, ...] = ()
    best_frame_jpeg: bytes | None = field(default=None, repr=False, compare=False)

    def has_trigger(self, trigger_classes: frozenset[str]) -> bool:
        """True when the clip passes the filter for these trigger classes."""
        return self.passthrough or bool(set(self.detected_classes) & trigger_classes)

    def to_dict(self) -> dict[str, Any]:
        """Serialise (without the JPEG, which is stored as a file)."""
        return {
            "detected_classes": list(self.detected_classes),
            "best_confidence": {k: round(v, 4) for k, v in self.best_confidence.items()},
            "detections": [d.to_dict() for d in self.detections],
            "frames_sampled": self.frames_sampled,
            "model": self.model,
            "duration_ms": self.duration_ms,
            "passthrough": self.passthrough,
            "sub_labels": list(self.sub_labels),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict."""
        return cls(
            detected_classes=tuple(str(c) for c in data.get("detected_classes", [])),
            best_confidence={str(k): float(v) for k, v in data.get("best_confidence", {}).items()},
            detections=tuple(Detection.from_dict(d) for d in data.get("detections", [])),
            frames_sampled=int(data.get("frames_sampled", 0)),
            model=str(data.get("model", "")),
            duration_ms=int(data.get("duration_ms", 0)),
            passthrough=bool(data.get("passthrough", False)),
            sub_labels=tuple(str(s) for s in data.get("sub_labels", [])),
        )


@dataclass(frozen=True, slots=True)
class TimelineEntity:
    """Something the vision model saw, with when and what it did."""

    type: EntityType
    first_seen_s: float
    last_seen_s: float
    description: str
    movement: str = ""
    location: str = ""
    interaction: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the store and event payloads."""
        return {
            "type": self.type.value,
            "first_seen_s": self.first_seen_s,
            "last_seen_s": self.last_seen_s,
            "description": self.description,
            "movement": self.movement,
            "location": self.location,
            "interaction": self.interaction,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict."""
        return cls(
            type=EntityType(data.get("type", "unknown")),
            first_seen_s=float(data.get("first_seen_s", 0.0)),
            last_seen_s=float(data.get("last_seen_s", 0.0)),
            description=str(data.get("description", "")),
            movement=str(data.get("movement", "")),
            location=str(data.get("location", "")),
            interaction=str(data.get("interaction", "")),
        )


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """The vision model's structured assessment of a clip."""

    risk_level: RiskLevel
    activity_type: ActivityType
    summary: str
    observations: tuple[str, ...] = ()
    entities: tuple[TimelineEntity, ...] = ()
    requires_review: bool = False
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the store and event payloads."""
        return {
            "risk_level": self.risk_level.value,
            "activity_type": self.activity_type.value,
            "summary": self.summary,
            "observations": list(self.observations),
            "entities": [e.to_dict() for e in self.entities],
            "requires_review": self.requires_review,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict."""
        return cls(
            risk_level=RiskLevel(data["risk_level"]),
            activity_type=ActivityType(data["activity_type"]),
            summary=str(data.get("summary", "")),
            observations=tuple(str(o) for o in data.get("observations", [])),
            entities=tuple(TimelineEntity.from_dict(e) for e in data.get("entities", [])),
            requires_review=bool(data.get("requires_review", False)),
            model=str(data.get("model", "")),
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
        )


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """Whether to notify, and why."""

    notify: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the store and event payloads."""
        return {"notify": self.notify, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict."""
        return cls(notify=bool(data["notify"]), reason=str(data["reason"]))


# The clip metadata key naming the source's event a clip belongs to (an RTSP motion event, a
# Frigate event): clips of one event share one notification, and a live detection of the event
# (before any clip exists) is the first version of it.
EVENT_KEY: str = "event_key"


class AlertStage(StrEnum):
    """How far an alert's event is: seen live (no clip yet) or a processed clip."""

    DETECTED = "detected"
    ANALYZED = "analyzed"


@dataclass(frozen=True, slots=True)
class LiveDetection:
    """A trigger object seen while its event still goes on, before the event's clip exists.

    `event_key` is the source's event (its clips carry it in their metadata under EVENT_KEY);
    `snapshot_jpeg` is the frame it was seen on when the source has it at hand.
    """

    event_key: str
    camera_id: str
    camera_name: str
    source_type: str
    label: str
    confidence: float
    detected_at: datetime
    snapshot_jpeg: bytes | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Serialise for event payloads (without the JPEG)."""
        return {
            "event_key": self.event_key,
            "camera": self.camera_name,
            "camera_id": self.camera_id,
            "source": self.source_type,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "detected_at": self.detected_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """Everything a notifier needs to tell the user about a clip (or a live detection).

    `event_key` groups the alerts of one event (one notification, updated in place);
    `follow_up` is set when an earlier alert of the same event was delivered, so a notifier
    that can replace its message does so quietly instead of ringing again.
    """

    clip_id: str
    camera_id: str
    camera_name: str
    start_ts: datetime
    reason: str
    detected_classes: tuple[str, ...]
    analysis: AnalysisResult | None
    clip_path: Path | None
    snapshot_path: Path | None
    clip_uri: str | None
    snapshot_uri: str | None
    event_key: str | None = None
    stage: AlertStage = AlertStage.ANALYZED
    follow_up: bool = False
    # The cameras of the clip's incident in the order they joined (a camera group's incident
    # of several cameras; empty: the clip's camera alone).
    cameras: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        """The id of this alert's notification: one per event (or per clip without one)."""
        return f"homesec_{self.event_key or self.clip_id}"

    @property
    def risk_level(self) -> RiskLevel | None:
        """The analysed risk level, if the VLM ran."""
        return self.analysis.risk_level if self.analysis else None

    @property
    def activity_type(self) -> ActivityType | None:
        """The analysed activity type, if the VLM ran."""
        return self.analysis.activity_type if self.analysis else None


@dataclass(frozen=True, slots=True)
class SourceFingerprint:
    """What a clip's source file looked like when it was stored (to see it change later)."""

    size: int
    mtime_ns: int
    # A fast hash of the file's first and last 64 KiB.
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """Serialise."""
        return {"size": self.size, "mtime_ns": self.mtime_ns, "digest": self.digest}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict."""
        return cls(int(data["size"]), int(data["mtime_ns"]), str(data["digest"]))


@dataclass(slots=True)
class ClipState:
    """The persisted, mutable state of one clip (a row of `clip_states`)."""

    clip_id: str
    camera_id: str
    camera_name: str
    source_type: str
    source_path: str
    status: ClipStatus
    start_ts: datetime
    end_ts: datetime
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    clip_uri: str | None = None
    snapshot_uri: str | None = None
    snapshot_path: str | None = None
    filter_result: FilterResult | None = None
    analysis: AnalysisResult | None = None
    analysis_skipped_reason: str | None = None
    alert_decision: AlertDecision | None = None
    notified: bool = False
    error: str | None = None
    upload_done: bool = False
    vlm_done: bool = False
    # The alert was reported to the listener (Home Assistant's alert event): never twice.
    alert_reported: bool = False
    # The source file as it was stored; a source that differs since is not complete in storage.
    stored_source: SourceFingerprint | None = None
    # Marked reviewed or a false alarm by a person (ClipStore.set_review writes it; saving the
    # state keeps whatever is stored, so the pipeline never undoes a review).
    review: ReviewState | None = None
    reviewed_at: datetime | None = None

    def to_clip(self) -> Clip:
        """Rebuild the source clip (used to resume processing after a restart)."""
        return Clip(
            clip_id=self.clip_id,
            camera_id=self.camera_id,
            camera_name=self.camera_name,
            source_type=self.source_type,
            path=Path(self.source_path),
            start_ts=self.start_ts,
            end_ts=self.end_ts,
            metadata=dict(self.metadata),
        )


@dataclass(frozen=True, slots=True)
class ClipEvent:
    """One row of the append-only `clip_events` table."""

    clip_id: str
    event_type: ClipEventType
    timestamp: datetime
    attempt: int | None = None
    will_retry: bool | None = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
