"""Incidents for the calendar: the finished clips of one source event, as one entry.

Clips sharing `metadata.event_key` (an RTSP motion event, a Frigate event, clips grouped by the
hub's window) are one incident; a clip without one is an incident of its own. The clips of a
camera group's incident (they carry its cameras) are one incident across their cameras. An
incident runs from its first clip's start to its last clip's end, and is described by its
riskiest clip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from .grouping import INCIDENT_CAMERA_IDS
from .models import EVENT_KEY, ClipState, RiskLevel

SEPARATOR = " · "


@dataclass(frozen=True, slots=True)
class Incident:
    """One source event of one camera (or one incident of a camera group) and its finished
    clips (oldest first)."""

    uid: str
    clips: tuple[ClipState, ...]

    @property
    def start(self) -> datetime:
        """When its first clip started."""
        return self.clips[0].start_ts

    @property
    def end(self) -> datetime:
        """When its last clip ended (never before its start)."""
        return max(max(c.end_ts for c in self.clips), self.start)

    @property
    def camera_name(self) -> str:
        """The camera it happened at ("Driveway, Front door": a camera group's cameras)."""
        return ", ".join(dict.fromkeys(c.camera_name for c in self.clips))

    @property
    def alerted(self) -> bool:
        """Whether one of its clips alerted."""
        return any(c.alert_decision is not None and c.alert_decision.notify for c in self.clips)

    @property
    def main(self) -> ClipState:
        """The clip that describes it: the riskiest analysed one, else the latest."""
        analysed = [c for c in self.clips if c.analysis is not None]
        if not analysed:
            return self.clips[-1]
        return max(analysed, key=lambda c: c.analysis.risk_level.rank if c.analysis else -1)


def _key(state: ClipState) -> str:
    key = state.metadata.get(EVENT_KEY)
    if not isinstance(key, str) or not key:
        return state.clip_id
    if INCIDENT_CAMERA_IDS in state.metadata:
        return f"incident/{key}"
    return f"{state.camera_id}/{key}"


def group_incidents(states: Iterable[ClipState]) -> list[Incident]:
    """The finished clips grouped into incidents, oldest first."""
    groups: dict[str, list[ClipState]] = {}
    for state in states:
        if state.status.finished:
            groups.setdefault(_key(state), []).append(state)
    incidents = [
        Incident(uid=key, clips=tuple(sorted(clips, key=lambda c: c.start_ts)))
        for key, clips in groups.items()
    ]
    return sorted(incidents, key=lambda i: i.start)


def overlapping(incidents: Iterable[Incident], start: datetime, end: datetime) -> list[Incident]:
    """The incidents that overlap [start, end) (a zero-length one counts at its start)."""
    return [i for i in incidents if i.start < end and (i.end > start or i.start >= start)]


def incident_summary(
    incident: Incident,
    activity: Callable[[str], str],
    risk: Callable[[RiskLevel], str],
    no_objects: str,
) -> str:
    """ "Front door · Delivery · low", "Front door · person, car" or "Front door · no objects"."""
    main = incident.main
    parts = [incident.camera_name]
    if main.analysis is not None:
        parts += [activity(main.analysis.activity_type.value), risk(main.analysis.risk_level)]
    elif objects := _objects(incident):
        parts.append(", ".join(objects))
    else:
        parts.append(no_objects)
    return SEPARATOR.join(parts)


def incident_description(incident: Incident) -> str:
    """What its clips' analyses said (one line each, oldest first), else what was detected."""
    lines = [c.analysis.summary for c in incident.clips if c.analysis and c.analysis.summary]
    if not lines and (objects := _objects(incident)):
        lines.append(", ".join(objects))
    return "\n".join(dict.fromkeys(lines))


def _objects(incident: Incident) -> list[str]:
    found: dict[str, None] = {}
    for clip in incident.clips:
        if clip.filter_result is not None:
            found.update(dict.fromkeys(clip.filter_result.detected_classes))
    return list(found)
