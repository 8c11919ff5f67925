"""Camera groups (one per area) from the hub option's text: a line per group.

    Front: Driveway, Front door
    Garden: Patio, Shed

A camera is named by its name or its id (case and surrounding spaces do not matter). Clips of
one group's cameras that overlap or follow within the incident gap form one incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CameraGroups:
    """Which group each grouped camera is in (camera id to group name), and the names in the
    text that are no camera."""

    group_of: Mapping[str, str]
    unknown: tuple[str, ...]


def parse_camera_groups(text: str, cameras: Mapping[str, str]) -> CameraGroups:
    """Read the option's text; `cameras` maps camera ids to their names. A line without a
    colon is a group named by its line number; a camera named in two groups stays in the
    first."""
    by_name: dict[str, str] = {}
    for camera_id, name in cameras.items():
        by_name.setdefault(name.strip().casefold(), camera_id)
        by_name[camera_id.strip().casefold()] = camera_id
    group_of: dict[str, str] = {}
    unknown: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, members = line.partition(":")
        if not sep:
            group, members = f"group {number}", line
        group = group.strip() or f"group {number}"
        for member in members.split(","):
            member = member.strip()
            if not member:
                continue
            found = by_name.get(member.casefold())
            if found is None:
                unknown.append(member)
            else:
                group_of.setdefault(found, group)
    return CameraGroups(group_of=group_of, unknown=tuple(unknown))
