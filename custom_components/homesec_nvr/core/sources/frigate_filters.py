"""Which Frigate events and review items become HomeSec clips.

Every match function answers `(matched, reason)`; the reason is a short sentence for debug logs
and diagnostics. Empty collections mean "any". Zones match on the zones the object entered
(`entered_zones`), with the zones it is currently in as a fallback when Frigate lists none
entered; Frigate messages have no `zones` key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .frigate_messages import FrigateEvent, FrigateReview

# Settings keys (config entry options / subentry data use the same names).
CONF_CAMERAS = "cameras"
CONF_LABELS = "labels"
CONF_SUB_LABELS = "sub_labels"
CONF_MIN_SCORE = "min_score"
CONF_ZONES = "zones"
CONF_MIN_DURATION_S = "min_duration_s"
CONF_SEVERITIES = "severities"
CONF_SKIP_FALSE_POSITIVES = "skip_false_positives"

DEFAULT_LABELS: tuple[str, ...] = ("person",)
DEFAULT_MIN_SCORE = 0.7
DEFAULT_MIN_DURATION_S = 1.0
DEFAULT_SEVERITIES: tuple[str, ...] = ("alert",)
SEVERITIES: tuple[str, ...] = ("alert", "detection")

MATCHED = "matched"


def _names(values: Iterable[Any] | None) -> frozenset[str]:
    if values is None or isinstance(values, str):
        return frozenset({values} if values else ())
    return frozenset(str(v).strip() for v in values if str(v).strip())


@dataclass(frozen=True, slots=True)
class FrigateMatchSettings:
    """What to take from Frigate. Empty sets mean "any"."""

    cameras: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset(DEFAULT_LABELS)
    sub_labels: frozenset[str] = frozenset()
    min_top_score: float = DEFAULT_MIN_SCORE
    zones: frozenset[str] = frozenset()
    min_duration_s: float = DEFAULT_MIN_DURATION_S
    severities: frozenset[str] = frozenset(DEFAULT_SEVERITIES)
    skip_false_positives: bool = True

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FrigateMatchSettings:
        """Build from config-entry style options (keys `CONF_*`); missing keys take defaults."""
        return cls(
            cameras=_names(data.get(CONF_CAMERAS)),
            labels=_names(data.get(CONF_LABELS, DEFAULT_LABELS)),
            sub_labels=_names(data.get(CONF_SUB_LABELS)),
            min_top_score=float(data.get(CONF_MIN_SCORE, DEFAULT_MIN_SCORE)),
            zones=_names(data.get(CONF_ZONES)),
            min_duration_s=float(data.get(CONF_MIN_DURATION_S, DEFAULT_MIN_DURATION_S)),
            severities=_names(data.get(CONF_SEVERITIES, DEFAULT_SEVERITIES)),
            skip_false_positives=bool(data.get(CONF_SKIP_FALSE_POSITIVES, True)),
        )


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def match_camera(camera: str, settings: FrigateMatchSettings) -> tuple[bool, str]:
    """Is this Frigate camera selected?"""
    if settings.cameras and camera not in settings.cameras:
        return False, f"camera {camera!r} not selected ({_listed(settings.cameras)})"
    return True, MATCHED


def match_zones(zones: Iterable[str], settings: FrigateMatchSettings) -> tuple[bool, str]:
    """Did the object (or review item) touch one of the selected zones?"""
    seen = tuple(zones)
    if settings.zones and not settings.zones.intersection(seen):
        where = _listed(seen) if seen else "no zone"
        return False, f"zones ({where}) not in {_listed(settings.zones)}"
    return True, MATCHED


def match_duration(duration_s: float | None, settings: FrigateMatchSettings) -> tuple[bool, str]:
    """Is the event long enough? An unknown duration is not held against it."""
    if duration_s is not None and duration_s < settings.min_duration_s:
        return False, f"duration {duration_s:.1f}s below {settings.min_duration_s:.1f}s"
    return True, MATCHED


def match_event(event: FrigateEvent, settings: FrigateMatchSettings) -> tuple[bool, str]:
    """Does this tracked object deserve a clip?"""
    if settings.skip_false_positives and event.false_positive:
        return False, "false positive"
    ok, reason = match_camera(event.camera, settings)
    if not ok:
        return ok, reason
    if settings.labels and event.label not in settings.labels:
        return False, f"label {event.label!r} not in {_listed(settings.labels)}"
    if settings.sub_labels and event.sub_label not in settings.sub_labels:
        return False, f"sub-label {event.sub_label!r} not in {_listed(settings.sub_labels)}"
    score = event.best_score
    if settings.min_top_score > 0 and (score is None or score < settings.min_top_score):
        shown = "unknown" if score is None else f"{score:.2f}"
        return False, f"top score {shown} below {settings.min_top_score:.2f}"
    ok, reason = match_zones(event.zones, settings)
    if not ok:
        return ok, reason
    return match_duration(event.duration_s, settings)


def match_review(review: FrigateReview, settings: FrigateMatchSettings) -> tuple[bool, str]:
    """Does this review item deserve a clip? (Review items carry no scores.)"""
    ok, reason = match_camera(review.camera, settings)
    if not ok:
        return ok, reason
    if settings.severities and review.severity not in settings.severities:
        return False, f"severity {review.severity!r} not in {_listed(settings.severities)}"
    if settings.labels and not settings.labels.intersection(review.labels):
        seen = _listed(review.labels) if review.labels else "no object"
        return False, f"objects ({seen}) not in {_listed(settings.labels)}"
    if settings.sub_labels and not settings.sub_labels.intersection(review.sub_labels):
        seen = _listed(review.sub_labels) if review.sub_labels else "no sub-label"
        return False, f"sub-labels ({seen}) not in {_listed(settings.sub_labels)}"
    ok, reason = match_zones(review.zones, settings)
    if not ok:
        return ok, reason
    return match_duration(review.duration_s, settings)
