"""The media browser's tree of clip history, without Home Assistant.

HomeSec -> cameras -> days (local dates, newest first) -> clips, newest first. Clips of one
source event (the same `metadata.event_key`: an RTSP motion event, a Frigate event) are an
incident: with several clips on a day it is one directory node holding them; a single clip
is listed as itself. A camera group's incident (its clips carry the incident's cameras,
core/grouping.py) that has clips of other cameras is one directory node on each of its cameras'
days, holding all its clips (every camera's, whatever their day), titled with its cameras; its
clips keep their own camera's and day's identifiers. The glue (media_source.py) turns these
nodes into Home Assistant's BrowseMedia and supplies the labels in the user's language.

Identifiers (each segment percent-encoded):
  <camera_id>                                   a camera's days
  <camera_id>/<YYYY-MM-DD>                      a day's clips and incidents
  <camera_id>/<YYYY-MM-DD>/<clip_id>            one clip (playable)
  <camera_id>/<YYYY-MM-DD>/incident/<event_key> the clips of one incident on that day (all
                                                its clips when it spans several cameras)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from enum import StrEnum
from urllib.parse import quote, unquote

from .grouping import INCIDENT_CAMERA_IDS
from .models import EVENT_KEY, ClipState, RiskLevel
from .payload import MediaLinks, list_cameras

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
    # A list of camera names, one more at a time ("Driveway" + "Front door").
    camera_list: str = "{cameras}, {camera}"
    no_objects: str = "no objects"
    processing: str = "processing"
    activities: Mapping[str, str] = field(default_factory=dict)
    risks: Mapping[str, str] = field(default_factory=dict)

    def clip_count(self, count: int) -> str:
        """ "1 clip", "3 clips"."""
        return self.clip_count_one if count == 1 else self.clip_count_other.format(count=count)

    def cameras(self, names: Iterable[str]) -> str:
        """ "Driveway, Front door, Patio"."""
        return list_cameras(
            names, lambda listed, name: self.camera_list.format(cameras=listed, camera=name)
        )

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


def clip_title(state: ClipState, tz: tzinfo, labels: BrowseLabels, *, camera: bool = False) -> str:
    """ "14:03 · Delivery · low", "14:03 · person, car" (no analysis) or "14:03 · no objects";
    with `camera`, its camera's name after the time ("14:03 · Driveway · Delivery · low")."""
    parts = [_time(state, tz)]
    if camera:
        parts.append(state.camera_name)
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


def _across_cameras(states: Iterable[ClipState]) -> bool:
    return len({s.camera_id for s in states}) > 1


def incident_title(states: Sequence[ClipState], tz: tzinfo, labels: BrowseLabels) -> str:
    """ "14:03 · Incident · 3 clips · high" (its first clip's time, its highest risk); with
    clips of several cameras, their names in the order they joined ("14:03 · Incident ·
    Driveway, Front door · 2 clips")."""
    ordered = sorted(states, key=lambda s: s.start_ts)
    parts = [_time(ordered[0], tz), labels.incident]
    if _across_cameras(ordered):
        names = dict.fromkeys(s.camera_name for s in ordered)
        parts.append(labels.cameras(names))
    parts.append(labels.clip_count(len(states)))
    if (risk := _max_risk(states)) is not None:
        parts.append(labels.risk(risk))
    return SEPARATOR.join(parts)


# -- nodes ---------------------------------------------------------------------------------

Links = Callable[[ClipState], MediaLinks]


def clip_node(
    state: ClipState,
    day: date,
    tz: tzinfo,
    labels: BrowseLabels,
    links: Links,
    *,
    camera: bool = False,
) -> BrowseNode:
    """A clip: playable when its video is stored, its snapshot as the thumbnail (`camera`:
    its camera named in the title)."""
    link = links(state)
    return BrowseNode(
        kind=NodeKind.CLIP,
        identifier=clip_identifier(state.camera_id, day, state.clip_id),
        title=clip_title(state, tz, labels, camera=camera),
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
    *,
    camera_id: str | None = None,
    nested: bool = True,
) -> BrowseNode:
    """An incident of several clips on one camera's day (`camera_id`, else its clips'); its
    children are the clips, newest first (none without `nested`: a listing that shows only
    the incident). With clips of several cameras each clip is named by its camera and keeps
    its own camera's and local day's identifier."""
    ordered = sorted(states, key=lambda s: s.start_ts, reverse=True)
    shown = _thumbnail_state(ordered)
    across = _across_cameras(ordered)
    return BrowseNode(
        kind=NodeKind.INCIDENT,
        identifier=incident_identifier(camera_id or ordered[0].camera_id, day, event_key),
        title=incident_title(ordered, tz, labels),
        thumbnail=links(shown).snapshot_url if shown is not None else None,
        children=tuple(
            clip_node(s, local_day(s, tz) if across else day, tz, labels, links, camera=across)
            for s in ordered
        )
        if nested
        else (),
    )


def local_day(state: ClipState, tz: tzinfo) -> date:
    """The local day a clip started on (the day of its identifier)."""
    return state.start_ts.astimezone(tz).date()


def event_key_of(state: ClipState) -> str | None:
    """The source event a clip belongs to (None without one)."""
    key = state.metadata.get(EVENT_KEY)
    return key if isinstance(key, str) and key else None


def is_grouped(state: ClipState) -> bool:
    """Whether a clip is part of a camera group's incident (it carries the incident's
    cameras), which may have clips of other cameras."""
    return INCIDENT_CAMERA_IDS in state.metadata and event_key_of(state) is not None


def grouped_event_keys(states: Iterable[ClipState]) -> list[str]:
    """The event keys of the camera groups' incidents among these clips (the keys whose
    other clips a listing looks up: `related` of day_children)."""
    return list(dict.fromkeys(key for s in states if is_grouped(s) and (key := event_key_of(s))))


def incident_members(
    states: Sequence[ClipState], related: Iterable[ClipState], event_key: str
) -> list[ClipState]:
    """The clips an incident's node holds: the day's clips of the event (`states`, one
    camera's day) and, for a camera group's incident with clips of other cameras, every one
    of its clips (`related`: its clips besides the day's, of any camera and day)."""
    own = incident_states(states, event_key)
    if not any(is_grouped(s) for s in own):
        return own
    listed = {s.clip_id for s in own}
    others = [
        s
        for s in related
        if s.clip_id not in listed and is_grouped(s) and event_key_of(s) == event_key
    ]
    every = own + others
    return every if _across_cameras(every) else own


def day_children(
    states: Sequence[ClipState],
    day: date,
    tz: tzinfo,
    labels: BrowseLabels,
    links: Links,
    related: Iterable[ClipState] = (),
    *,
    nested: bool = True,
) -> list[BrowseNode]:
    """A camera-day's entries, newest first: clips, and incidents (placed at their first
    clip's time) of several clips or of clips of several cameras (`related`: the other clips
    of the day's camera group incidents, see grouped_event_keys). Without `nested` the
    incidents come without their clips (the day's listing shows only its own entries)."""
    groups: dict[str, list[ClipState]] = {}
    for state in states:
        if (key := event_key_of(state)) is not None:
            groups.setdefault(key, []).append(state)
    others: dict[str, list[ClipState]] = {}
    for state in related:
        if (key := event_key_of(state)) in groups:
            others.setdefault(key, []).append(state)
    entries: list[tuple[float, BrowseNode]] = []
    done: set[str] = set()
    for state in states:
        key = event_key_of(state)
        if key is None:
            entries.append((state.start_ts.timestamp(), clip_node(state, day, tz, labels, links)))
            continue
        if key in done:
            continue
        done.add(key)
        group = groups[key]
        if key in others:
            group = incident_members(group, others[key], key)
        if len(group) == 1:
            entries.append((state.start_ts.timestamp(), clip_node(state, day, tz, labels, links)))
            continue
        first = min(s.start_ts for s in group)
        node = incident_node(
            key, group, day, tz, labels, links, camera_id=state.camera_id, nested=nested
        )
        entries.append((first.timestamp(), node))
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return [node for _, node in entries]


def incident_states(states: Iterable[ClipState], event_key: str) -> list[ClipState]:
    """The clips of one incident among a day's clips."""
    return [s for s in states if event_key_of(s) == event_key]
