"""HomeSec's media source: the clip history in Home Assistant's media browser.

Media > HomeSec > camera > day > clips titled "14:03 · Delivery · low" with their snapshots,
newest first; an incident's clips (one source event) together, and a camera group's incident
with all its cameras' clips on each of its cameras' days. The tree is built by
core/browse.py from the store only, so every camera kind (folder, RTSP, Frigate) looks the
same. A clip resolves to its signed link (views.py serves it without a login), which media
players and the browser both open. The `media-source://media_source/<dir>/...` ids in event
payloads (HA's local media folders) stay as they are; this source is an addition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .core.browse import (
    BrowseLabels,
    BrowseNode,
    NodeKind,
    ParsedIdentifier,
    camera_identifier,
    camera_title,
    clip_node,
    day_children,
    day_identifier,
    day_node_title,
    grouped_event_keys,
    incident_members,
    incident_node,
    incident_states,
    parse_identifier,
)
from .core.models import ClipState, RiskLevel
from .core.store import StoreError
from .hub import HomeSecHub, loaded_hub
from .views import CONTENT_TYPES
from .vlm_frames import resolve_frame

# The most clips one day lists (the rest are counted as not shown).
MAX_DAY_CLIPS = 2000

_CHILD_CLASS = {
    NodeKind.CAMERA: MediaClass.DIRECTORY,
    NodeKind.DAY: MediaClass.VIDEO,
    NodeKind.INCIDENT: MediaClass.VIDEO,
}


async def async_get_media_source(hass: HomeAssistant) -> HomeSecMediaSource:
    """Set up HomeSec's media source (Home Assistant finds it in this module)."""
    return HomeSecMediaSource(hass)


def browse_media(
    node: BrowseNode, children: Sequence[BrowseNode] | None = None, not_shown: int = 0
) -> BrowseMediaSource:
    """Home Assistant's BrowseMedia of a node (with its listed children, when given)."""
    if node.kind is NodeKind.CLIP:
        media = BrowseMediaSource(
            domain=DOMAIN,
            identifier=node.identifier,
            media_class=MediaClass.VIDEO,
            media_content_type=MediaType.VIDEO,
            title=node.title,
            can_play=node.playable,
            can_expand=False,
            thumbnail=node.thumbnail,
        )
    else:
        media = BrowseMediaSource(
            domain=DOMAIN,
            identifier=node.identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.PLAYLIST,
            title=node.title,
            can_play=False,
            can_expand=True,
            thumbnail=node.thumbnail,
            children_media_class=_CHILD_CLASS[node.kind],
            not_shown=not_shown,
        )
    if children is not None:
        media.children = [browse_media(child) for child in children]
    return media


async def async_browse_labels(hass: HomeAssistant) -> BrowseLabels:
    """The tree's words in Home Assistant's language (English where not translated)."""
    language = hass.config.language
    common = await async_get_translations(hass, language, "common", [DOMAIN])
    entity = await async_get_translations(hass, language, "entity", [DOMAIN])
    prefix = f"component.{DOMAIN}.common."
    activity_prefix = f"component.{DOMAIN}.entity.sensor.activity_type.state."
    default = BrowseLabels()

    def word(key: str, fallback: str) -> str:
        return common.get(f"{prefix}{key}") or fallback

    return BrowseLabels(
        weekdays=tuple(word(f"weekday_{i}", name) for i, name in enumerate(default.weekdays)),
        months=tuple(word(f"month_{i + 1}", name) for i, name in enumerate(default.months)),
        day_title=word("day_title", default.day_title),
        day_title_year=word("day_title_year", default.day_title_year),
        clip_count_one=word("clip_count_one", default.clip_count_one),
        clip_count_other=word("clip_count_other", default.clip_count_other),
        incident=word("incident", default.incident),
        camera_list=word("camera_list", default.camera_list),
        no_objects=word("no_objects", default.no_objects),
        processing=word("processing", default.processing),
        activities={
            key.removeprefix(activity_prefix): text
            for key, text in entity.items()
            if key.startswith(activity_prefix)
        },
        risks={risk.value: word(f"risk_{risk.value}", risk.value) for risk in RiskLevel},
    )


class HomeSecMediaSource(MediaSource):
    """The clip history of HomeSec's cameras."""

    name = "HomeSec"

    def __init__(self, hass: HomeAssistant) -> None:
        """Initialise the source."""
        super().__init__(DOMAIN)
        self.hass = hass

    # -- resolve -----------------------------------------------------------------------

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """The signed link of a clip's video (or a frame an AI Task analysis is sending)."""
        try:
            if (frame := resolve_frame(self.hass, item.identifier)) is not None:
                return frame
        except KeyError:
            raise _error(Unresolvable, "media_not_playable", identifier=item.identifier) from None
        hub = _hub(self.hass, Unresolvable)
        parsed = _parse(item.identifier, Unresolvable)
        if parsed.kind is not NodeKind.CLIP or parsed.clip_id is None:
            raise _error(Unresolvable, "media_not_playable", identifier=item.identifier)
        state = await _clip(hub, parsed, item.identifier, Unresolvable)
        url = hub.links_for(state).media_url
        path = hub.storage.local_path(state.clip_uri) if state.clip_uri else None
        if url is None or path is None:
            raise _error(Unresolvable, "media_no_video", clip_id=state.clip_id)
        return PlayMedia(url, CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    # -- browse ------------------------------------------------------------------------

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """The root (cameras), a camera (days), a day or an incident (clips), or a clip."""
        hub = _hub(self.hass, BrowseError)
        labels = await async_browse_labels(self.hass)
        try:
            if not item.identifier:
                return await self._root(hub, labels)
            parsed = _parse(item.identifier, BrowseError)
            if parsed.camera_id not in hub.cameras:
                raise _error(BrowseError, "media_unknown_camera", camera_id=parsed.camera_id)
            if parsed.kind is NodeKind.CAMERA:
                return await self._camera(hub, parsed.camera_id, labels)
            assert parsed.day is not None
            if parsed.kind is NodeKind.CLIP:
                state = await _clip(hub, parsed, item.identifier, BrowseError)
                tz = dt_util.get_default_time_zone()
                return browse_media(clip_node(state, parsed.day, tz, labels, hub.links_for))
            return await self._day(hub, parsed, labels)
        except StoreError as err:
            raise _error(BrowseError, "store_unavailable", error=str(err)) from err

    async def _root(self, hub: HomeSecHub, labels: BrowseLabels) -> BrowseMediaSource:
        counts = await hub.store.camera_clip_counts()
        children = []
        for camera in sorted(hub.cameras.values(), key=lambda c: c.name.casefold()):
            latest = camera.last_finished or camera.last_clip
            children.append(
                BrowseNode(
                    kind=NodeKind.CAMERA,
                    identifier=camera_identifier(camera.camera_id),
                    title=camera_title(camera.name, counts.get(camera.camera_id, 0), labels),
                    thumbnail=hub.links_for(latest).snapshot_url if latest else None,
                )
            )
        root = BrowseMediaSource(
            domain=DOMAIN,
            identifier=None,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.PLAYLIST,
            title=self.name or DOMAIN,
            can_play=False,
            can_expand=True,
            children_media_class=MediaClass.DIRECTORY,
        )
        root.children = [browse_media(child) for child in children]
        return root

    async def _camera(
        self, hub: HomeSecHub, camera_id: str, labels: BrowseLabels
    ) -> BrowseMediaSource:
        camera = hub.cameras[camera_id]
        days = await hub.store.camera_days(camera_id, dt_util.get_default_time_zone())
        today = dt_util.now().date()
        node = BrowseNode(
            kind=NodeKind.CAMERA,
            identifier=camera_identifier(camera_id),
            title=camera_title(camera.name, sum(count for _, count in days), labels),
        )
        children = [
            BrowseNode(
                kind=NodeKind.DAY,
                identifier=day_identifier(camera_id, day),
                title=day_node_title(day, count, labels, today=today),
            )
            for day, count in days
        ]
        return browse_media(node, children)

    async def _day(
        self, hub: HomeSecHub, parsed: ParsedIdentifier, labels: BrowseLabels
    ) -> BrowseMediaSource:
        assert parsed.day is not None
        day, camera_id = parsed.day, parsed.camera_id
        start = dt_util.start_of_local_day(day)
        end = dt_util.start_of_local_day(day + timedelta(days=1))
        tz = dt_util.get_default_time_zone()
        states = await hub.store.clips_between(camera_id, start, end, MAX_DAY_CLIPS)
        total = len(states)
        if total >= MAX_DAY_CLIPS:
            total = await hub.store.count_between(camera_id, start, end)
        if parsed.kind is NodeKind.INCIDENT:
            assert parsed.event_key is not None
            key = parsed.event_key
            own = incident_states(states, key)
            if not own:
                raise _error(
                    BrowseError, "media_unknown_incident", event_key=key, day=day.isoformat()
                )
            # A camera group's incident: its clips of other cameras and days too.
            related = await self._related(hub, own, camera_id, start, end)
            clips = incident_members(own, related, key)
            node = incident_node(key, clips, day, tz, labels, hub.links_for, camera_id=camera_id)
            return browse_media(node, node.children)
        title = day_node_title(day, total, labels, today=dt_util.now().date())
        node = BrowseNode(kind=NodeKind.DAY, identifier=day_identifier(camera_id, day), title=title)
        related = await self._related(hub, states, camera_id, start, end)
        # (The listing shows its entries only: an incident's clips are browsed by its id.)
        children = day_children(states, day, tz, labels, hub.links_for, related, nested=False)
        return browse_media(node, children, not_shown=total - len(states))

    @staticmethod
    async def _related(
        hub: HomeSecHub,
        states: Sequence[ClipState],
        camera_id: str,
        start: datetime,
        end: datetime,
    ) -> list[ClipState]:
        """The other clips (other cameras', other days') of the camera group incidents among
        a camera-day's clips: one look-up on the event key's index, none without such an
        incident."""
        keys = grouped_event_keys(states)
        if not keys:
            return []
        return await hub.store.event_clips(keys, MAX_DAY_CLIPS, besides=(camera_id, start, end))


def _error(kind: type[HomeAssistantError], key: str, **placeholders: str) -> HomeAssistantError:
    """A translated media error (BrowseError while browsing, Unresolvable while resolving)."""
    return kind(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


def _hub(hass: HomeAssistant, kind: type[HomeAssistantError]) -> HomeSecHub:
    """The loaded hub; a clear error while HomeSec is not loaded."""
    hub = loaded_hub(hass)
    if hub is None:
        raise _error(kind, "not_loaded")
    return hub


def _parse(identifier: str, kind: type[HomeAssistantError]) -> ParsedIdentifier:
    try:
        return parse_identifier(identifier)
    except ValueError as err:
        raise _error(kind, "media_bad_identifier", identifier=identifier, error=str(err)) from err


async def _clip(
    hub: HomeSecHub, parsed: ParsedIdentifier, identifier: str, kind: type[HomeAssistantError]
) -> ClipState:
    """The clip an identifier names (it must be of the camera the identifier says)."""
    assert parsed.clip_id is not None
    try:
        state = await hub.store.get_state(parsed.clip_id)
    except StoreError as err:
        raise _error(kind, "store_unavailable", error=str(err)) from err
    if state is None or state.camera_id != parsed.camera_id:
        raise _error(kind, "media_unknown_clip", identifier=identifier)
    return state
