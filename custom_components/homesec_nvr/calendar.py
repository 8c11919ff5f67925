"""The hub's incident calendar (disabled by default): every incident of every camera as an
event, for users who like LLM Vision's calendar.

An incident is the finished clips of one source event (core/incidents.py): it runs from its
first clip's start to its last clip's end; its summary is "<camera> · <activity> · <risk>" (or
the detected objects), its description what the vision model said. The entity's own state
describes the latest incident (on while one is under way, which finished clips rarely are).
Events are read from the clip history on request; nothing is stored twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN, EVENT_CLIP_PROCESSED
from .core.browse import BrowseLabels
from .core.clip_query import MAX_LIMIT, ClipQuery
from .core.incidents import (
    Incident,
    group_incidents,
    incident_description,
    incident_summary,
    overlapping,
)
from .core.models import ClipState
from .core.store import StoreError
from .entity import HomeSecHubEntity
from .hub import HomeSecConfigEntry, HomeSecHub
from .media_source import async_browse_labels

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0
# Clips that started this long before a requested range still belong to incidents in it.
LOOKBACK = timedelta(hours=1)
# At most this many clips are read for one request (a month of a busy camera).
MAX_CLIPS = 5000
# The latest incident is looked for among the newest clips.
LATEST_CLIPS = 50
# A calendar event must end after it starts.
MIN_DURATION = timedelta(seconds=1)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One incident calendar on the hub device."""
    async_add_entities([HomeSecIncidentCalendar(entry.runtime_data)])


class HomeSecIncidentCalendar(HomeSecHubEntity, CalendarEntity):
    """Incidents of every camera, from the clip history."""

    _attr_translation_key = "incidents"
    _attr_entity_registry_enabled_default = False

    hub: HomeSecHub

    def __init__(self, hub: HomeSecHub) -> None:
        super().__init__(hub, "incidents")
        self._latest: CalendarEvent | None = None
        self._labels = BrowseLabels()
        # Clips finished while the latest incident is being read: one more read follows.
        self._refresh_wanted = False
        self._refreshing = False

    @property
    def event(self) -> CalendarEvent | None:
        """The latest incident."""
        return self._latest

    async def async_added_to_hass(self) -> None:
        """Read the latest incident, and again after each clip."""
        await super().async_added_to_hass()
        self._labels = await async_browse_labels(self.hass)
        await self._async_refresh()
        self.async_on_remove(self.hass.bus.async_listen(EVENT_CLIP_PROCESSED, self._on_clip))

    @callback
    def _on_clip(self, _event: Event[dict[str, Any]]) -> None:
        """A clip finished: read the latest incident again; a burst of clips (a Frigate
        catch-up, a busy FTP upload) is one read under way and one after it, not one each."""
        self._refresh_wanted = True
        if not self._refreshing:
            self._refreshing = True
            self.hub.entry.async_create_background_task(
                self.hass, self._async_refresh_while_wanted(), "homesec calendar refresh"
            )

    async def _async_refresh_while_wanted(self) -> None:
        try:
            while self._refresh_wanted:
                self._refresh_wanted = False
                await self._async_refresh()
        finally:
            self._refreshing = False

    async def _async_refresh(self) -> None:
        try:
            states, _total = await self.hub.store.query(ClipQuery(limit=LATEST_CLIPS))
        except StoreError as err:
            _LOGGER.debug("Latest incident not read now: %s", err)
            return
        incidents = group_incidents(states)
        self._latest = self._event(incidents[-1]) if incidents else None
        if self.hass is not None and self.entity_id:
            self.async_write_ha_state()

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """The incidents that overlap the range, oldest first."""
        try:
            states = await self._clips(start_date - LOOKBACK, end_date)
        except StoreError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="store_unavailable",
                translation_placeholders={"error": str(err)},
            ) from err
        return [self._event(i) for i in overlapping(group_incidents(states), start_date, end_date)]

    async def _clips(self, start: datetime, end: datetime) -> list[ClipState]:
        states: list[ClipState] = []
        while len(states) < MAX_CLIPS:
            page, total = await self.hub.store.query(
                ClipQuery(start=start, end=end, limit=MAX_LIMIT, offset=len(states))
            )
            states += page
            if not page or len(states) >= total:
                break
        return states

    def _event(self, incident: Incident) -> CalendarEvent:
        labels = self._labels
        return CalendarEvent(
            start=incident.start,
            end=max(incident.end, incident.start + MIN_DURATION),
            summary=incident_summary(incident, labels.activity, labels.risk, labels.no_objects),
            description=incident_description(incident) or None,
            location=incident.camera_name,
            uid=incident.uid,
        )
