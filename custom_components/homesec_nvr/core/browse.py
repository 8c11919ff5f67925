"""The media browser's tree of clip history, without Home Assistant.

HomeSec -> cameras -> days (local dates, newest first) -> clips, newest first. Clips of one
source event (the same `metadata.event_key`: an RTSP motion event, a Frigate event) are an
incident: with several clips on a day it is one directory node holding them; a single clip
is listed as itself. The glue (media_source.py) turns these nodes into Home Assistant's
BrowseMedia and supplies the labels in the user's language.

Identifiers (each segment percent-encoded):
  <camera_id>                                   a camera's days
  <camera_id>/<YYYY-MM-DD>                      a day's clips and incidents
  <camera_id>/<YYYY-MM-DD>/<clip_id>            one clip (playable)
  <camera_id>/<YYYY-MM-DD>/incident/<event_key> the clips of one incident on that day
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from enum import StrEnum
from urllib.parse import quote, unquote

from .models import EVENT_KEY, ClipState, RiskLevel
from .payload import MediaLinks

INCIDENT_SEGMENT = "incident"
# The days an identifier may name: a day's bounds (its local midnight and the next, in UTC)
# must fit a datetime, which the first and last days of the calendar do not.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
SEPARATOR = " · "


class NodeKind(StrEnum):
    """What a node of the tree is."""

    CAMERA = "camera"
    DAY = "day"
    INCIDENT = "incident"
    CLIP = "clip"


@dataclass(frozen=True, slots=True)
class BrowseLabels:
    """The words of the tree's titles (English here; the glue reads the translation)."""

    weekdays: tuple[str, ...] = (
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    )
    months: tuple[str, ...] = (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    )
    day_title: str = "{weekday} {day} {month}"
    day_title_year: str = "{weekday} {day} {month} {year}"
    clip_count_one: str = "1 clip"
    clip_count_other: str = "{count} clips"
    incident: str = "Incident"
    no_objects: str = "no objects"
    processing: str = "processing"
    activities: Mapping[str, str] = field(default_factory=dict)
    risks: Mapping[str, str] = field(default_factory=dict)

    def clip_count(self, count: int) -> str:
        """ "1 clip", "3 clips"."""
        return self.clip_count_one if count == 1 else self.clip_count_other.format(count=count)

    def activity(self, value: str) -> str:
        """An activity type as a person reads it ("person_at_door" -> "Person at door")."""
        return self.activities.get(value) or value.replace("_", " ").capitalize()

    def risk(self, value: str) -> str:
        """A risk level as a person reads it."""
        return self.risks.get(value) or value


@dataclass(frozen=True, slots=True)
class BrowseNode:
    """One entry of the tree: a directory (camera, day, incident) or a playable clip."""

    kind: NodeKind
    identifier: str
    title: str
    thumbnail: str | None = None
    playable: bool = False
    children: tuple[BrowseNode, ...] = ()


# -- identifiers ---------------------------------------------------------------------------


def _segment(value: str) -> str:
    return quote(value, safe="")


def camera_identifier(camera_id: str) -> str:
    """The identifier of a camera's node."""
    return _segment(camera_id)


def day_identifier(camera_id: str, day: date) -> str:
    """The identifier of a camera-day's node."""
    return f"{_segment(camera_id)}/{day.isoformat()}"


def clip_identifier(camera_id: str, day: date, clip_id: str) -> str:
    """The identifier of a clip (what is resolved to play it)."""
    return f"{day_identifier(camera_id, day)}/{_segment(clip_id)}"


def incident_identifier(camera_id: str, day: date, event_key: str) -> str:
    """The identifier of an incident's node on one day."""
    return f"{day_identifier(camera_id, day)}/{INCIDENT_SEGMENT}/{_segment(event_key)}"


@dataclass(frozen=True, slots=True)
class ParsedIdentifier:
    """An identifier taken apart; `day`, `clip_id` and `event_key` as deep as it goes."""

    kind: NodeKind
    camera_id: str
    day: date | None = None
    clip_id: str | None = None
    event_key: str | None = None


def parse_identifier(identifier: str) -> ParsedIdentifier:
    """Take an identifier apart; ValueError (saying what is wrong) for a malformed one."""
    parts = identifier.split("/")
    if not identifier or any(not part for part in parts) or len(parts) > 4:
        raise ValueError("expected <camera>[/<YYYY-MM-DD>[/<clip> | /incident/<event>]]")
    camera_id = unquote(parts[0])
    if len(parts) == 1:
        return ParsedIdentifier(NodeKind.CAMERA, camera_id)
    try:
        day = date.fromisoformat(parts[1])
    except ValueError:
        raise ValueError(f"{parts[1]!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{parts[1]} is not a day HomeSec can have clips of")
    if len(parts) == 2:
        return ParsedIdentifier(NodeKind.DAY, camera_id, day)
    if len(parts) == 3:
        if parts[2] == INCIDENT_SEGMENT:
            raise ValueError("an incident needs its event key")
        return ParsedIdentifier(NodeKind.CLIP, camera_id, day, clip_id=unquote(parts[2]))
    if parts[2] != INCIDENT_SEGMENT:
        raise ValueError(f"expected {INCIDENT_SEGMENT!r}, not {unquote(parts[2])!r}")
    return ParsedIdentifier(NodeKind.INCIDENT, camera_id, day, event_key=unquote(parts[3]))


# -- titles --------------------------------------------------------------------------------


def camera_title(name: str, count: int, labels: BrowseLabels) -> str:
    """ "Front door · 12 clips"."""
    return f"{name}{SEPARATOR}{labels.clip_count(count)}"


def day_title(day: date, labels: BrowseLabels, *, today: date | None = None) -> str:
    """ "Tuesday 1 December" (with the year when it is not this year's)."""
    template = (
        labels.day_title if today is not None and day.year == today.year else labels.day_title_year
    )
    return template.format(
        weekday=labels.weekdays[day.weekday()],
        day=day.day,
        month=labels.months[day.month - 1],
        year=day.year,
    )


def day_node_title(day: date, count: int, labels: BrowseLabels, *, today: date | None) -> str:
    """ "Tuesday 1 December · 12 clips"."""
    return f"{day_title(day, labels, today=today)}{SEPARATOR}{labels.clip_count(count)}"


def _time(state: ClipState, tz: tzinfo) -> str:
    return state.start_ts.astimezone(tz).strftime("%H:%M")


def clip_title(state: ClipState, tz: tzinfo, labels: BrowseLabels) -> str:
    """ "14:03 · Delivery · low", "14:03 · person, car" (no analysis) or "14:03 · no objects"."""
    parts = [_time(state, tz)]
    analysis = state.analysis
    detected = state.filter_result.detected_classes if state.filter_result else ()
    if analysis is not None:
        parts += [labels.activity(analysis.activity_type.value), labels.risk(analysis.risk_level)]
    elif detected:
        parts.append(", ".join(detected))
    elif not state.status.finished:
        parts.append(labels.processing)
    else:
        parts.append(labels.no_objects)
    return SEPARATOR.join(parts)


def _risk(state: ClipState) -> RiskLevel | None:
    return state.analysis.risk_level if state.analysis else None


def _max_risk(states: Iterable[ClipState]) -> RiskLevel | None:
    risks = [risk for state in states if (risk := _risk(state)) is not None]
    return max(risks, key=lambda r: r.rank) if risks else None


def incident_title(states: Sequence[ClipState], tz: tzinfo, labels: BrowseLabels) -> str:
    """ "14:03 · Incident · 3 clips · high" (its first clip's time, its highest risk)."""
    first = min(states, key=lambda s: s.start_ts)
    parts = [_time(first, tz), labels.incident, labels.clip_count(len(states))]
    if (risk := _max_risk(states)) is not None:
        parts.append(labels.risk(risk))
    return SEPARATOR.join(parts)


# -- nodes ---------------------------------------------------------------------------------

Links = Callable[[ClipState], MediaLinks]


def clip_node(
    state: ClipState, day: date, tz: tzinfo, labels: BrowseLabels, links: Links
) -> BrowseNode:
    """A clip: playable when its video is stored, its snapshot as the thumbnail."""
    link = links(state)
    return BrowseNode(
        kind=NodeKind.CLIP,
        identifier=clip_identifier(state.camera_id, day, state.clip_id),
        title=clip_title(state, tz, labels),
        thumbnail=link.snapshot_url,
        playable=link.media_url is not None,
    )


def _thumbnail_state(states: Sequence[ClipState]) -> ClipState | None:
    """The clip whose snapshot shows an incident: its riskiest one with a snapshot."""
    with_snapshot = [s for s in states if s.snapshot_path]
    if not with_snapshot:
        return None
    return max(
        with_snapshot, key=lambda s: (r.rank if (r := _risk(s)) else -1, -s.start_ts.timestamp())
    )


def incident_node(
    event_key: str,
    states: Sequence[ClipState],
    day: date,
    tz: tzinfo,
    labels: BrowseLabels,
    links: Links,
) -> BrowseNode:
    """An incident of several clips on one day; its children are the clips, newest first."""
    ordered = sorted(states, key=lambda s: s.start_ts, reverse=True)
    shown = _thumbnail_state(ordered)
    return BrowseNode(
        kind=NodeKind.INCIDENT,
        identifier=incident_identifier(ordered[0].camera_id, day, event_key),
        title=incident_title(ordered, tz, labels),
        thumbnail=links(shown).snapshot_url if shown is not None else None,
        children=tuple(clip_node(s, day, tz, labels, links) for s in ordered),
    )


def event_key_of(state: ClipState) -> str | None:
    """The source event a clip belongs to (None without one)."""
    key = state.metadata.get(EVENT_KEY)
    return key if isinstance(key, str) and key else None


def day_children(
    states: Sequence[ClipState], day: date, tz: tzinfo, labels: BrowseLabels, links: Links
) -> list[BrowseNode]:
    """A camera-day's entries, newest first: clips, and incidents of several clips (placed
    at their first clip's time)."""
    groups: dict[str, list[ClipState]] = {}
    for state in states:
        if (key := event_key_of(state)) is not None:
            groups.setdefault(key, []).append(state)
    entries: list[tuple[float, BrowseNode]] = []
    done: set[str] = set()
    for state in states:
        key = event_key_of(state)
        group = groups.get(key) if key is not None else None
        if key is None or group is None or len(group) == 1:
            entries.append((state.start_ts.timestamp(), clip_node(state, day, tz, labels, links)))
        elif key not in done:
            done.add(key)
            first = min(s.start_ts for s in group)
            entries.append((first.timestamp(), incident_node(key, group, day, tz, labels, links)))
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return [node for _, node in entries]


def incident_states(states: Iterable[ClipState], event_key: str) -> list[ClipState]:
    """The clips of one incident among a day's clips."""
    return [s for s in states if event_key_of(s) == event_key]
