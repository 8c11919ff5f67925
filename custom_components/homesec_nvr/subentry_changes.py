"""What changed in the hub's config entry: a camera added is started live, anything else
reloads the hub.

Adding a camera subentry calls the entry's update listener like any other change. Reloading
then would make every entity of every camera unavailable for a moment; a pure addition (the
entry's data, options and other subentries unchanged) only needs the new camera started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry


@dataclass(frozen=True, slots=True)
class EntrySnapshot:
    """The parts of a config entry the running hub was built from."""

    data: Mapping[str, Any]
    options: Mapping[str, Any]
    # subentry id -> (type, title, data)
    subentries: Mapping[str, tuple[str, str, Mapping[str, Any]]]

    @classmethod
    def of(cls, entry: ConfigEntry) -> EntrySnapshot:
        """The entry as it is now (copied: later changes do not leak in)."""
        return cls(
            data=MappingProxyType(dict(entry.data)),
            options=MappingProxyType(dict(entry.options)),
            subentries=MappingProxyType(
                {
                    subentry_id: (sub.subentry_type, sub.title, MappingProxyType(dict(sub.data)))
                    for subentry_id, sub in entry.subentries.items()
                }
            ),
        )


def added_subentries(before: EntrySnapshot, entry: ConfigEntry) -> list[ConfigSubentry] | None:
    """The subentries added since `before`, when that is all that changed; None when anything
    else changed (or nothing was added): the hub must reload then."""
    now = EntrySnapshot.of(entry)
    if now.data != before.data or now.options != before.options:
        return None
    if any(now.subentries.get(sub_id) != kept for sub_id, kept in before.subentries.items()):
        return None
    added = [
        entry.subentries[sub_id] for sub_id in now.subentries if sub_id not in before.subentries
    ]
    return added or None
