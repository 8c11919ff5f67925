"""Marking clips reviewed or a false alarm: the `homesec_nvr.review` service action and the
notifications' "Mark reviewed" button both come here.

The store keeps the review; each reviewed clip fires `homesec_nvr_clip_reviewed`, and a camera
whose last clip it is shows it on its entities.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from homeassistant.core import HomeAssistant

from .const import EVENT_CLIP_REVIEWED
from .core.models import ClipState, ReviewState
from .core.payload import MediaLinks, clip_payload
from .core.store import ClipStore, StoreError
from .runtime import CameraRuntime

_LOGGER = logging.getLogger(__name__)


class ReviewHub(Protocol):
    """What reviewing uses of the running hub (HomeSecHub)."""

    hass: HomeAssistant
    store: ClipStore
    cameras: dict[str, CameraRuntime]

    def links_for(self, state: ClipState) -> MediaLinks:
        """Links to a stored clip and its snapshot."""


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """The clips that were marked (as stored now) and the ids the store does not know."""

    updated: list[ClipState]
    unknown: list[str]


async def async_review_clips(
    hub: ReviewHub, clip_ids: Sequence[str], review: ReviewState | None
) -> ReviewOutcome:
    """Mark clips reviewed or a false alarm (None clears it); raises StoreError."""
    asked = list(dict.fromkeys(clip_ids))
    updated = await hub.store.set_review(asked, review)
    known = {state.clip_id for state in updated}
    for state in updated:
        _show_review(hub, state)
        hub.hass.bus.async_fire(
            EVENT_CLIP_REVIEWED,
            {
                "clip_id": state.clip_id,
                "camera": state.camera_name,
                "camera_id": state.camera_id,
                "review": state.review.value if state.review else None,
            },
        )
    return ReviewOutcome(updated, [clip_id for clip_id in asked if clip_id not in known])


def _show_review(hub: ReviewHub, state: ClipState) -> None:
    """The camera's entities follow when the reviewed clip is the one they show."""
    camera = hub.cameras.get(state.camera_id)
    if camera is None:
        return
    shown = False
    for held in (camera.last_clip, camera.last_finished):
        if held is not None and held.clip_id == state.clip_id:
            held.review, held.reviewed_at = state.review, state.reviewed_at
            shown = True
    if camera.last_finished is not None and camera.last_finished.clip_id == state.clip_id:
        camera.last_payload = clip_payload(camera.last_finished, hub.links_for(state))
    if shown and camera.last_clip is not None:
        camera.notify("reviewed", camera.last_clip)


async def async_review_from_notification(hub: ReviewHub, clip_id: str) -> None:
    """The notification's "Mark reviewed" button: no one waits for an answer, so a failure is
    a log line (the button can be pressed again)."""
    try:
        outcome = await async_review_clips(hub, [clip_id], ReviewState.REVIEWED)
    except StoreError as err:
        _LOGGER.warning("Clip %s not marked reviewed (clip database: %s)", clip_id, err)
        return
    if outcome.unknown:
        _LOGGER.warning(
            "Clip %s not marked reviewed: it is not in the clip history (its recording has not "
            "ended yet, or the retention deleted it)",
            clip_id,
        )
    else:
        _LOGGER.info("Clip %s marked reviewed from a notification", clip_id)
