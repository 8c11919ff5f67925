"""The incident calendar: clips the hub really processed (a real vision model server describes
them), grouped by their source event, through Home Assistant's calendar action and entity."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import async_get_platforms
from homeassistant.util import dt as dt_util

from custom_components.homesec_nvr.const import DOMAIN, EVENT_CLIP_PROCESSED
from custom_components.homesec_nvr.core.models import EVENT_KEY, Clip
from custom_components.homesec_nvr.hub import HomeSecHub

from .conftest import SetupHub
from .core.openai_server import OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter, enable_entities
from .test_vision_model_setup import server, vlm_options  # noqa: F401  (fixture)
from .video import write_clip

CALENDAR = "calendar.homesec_incidents"


async def _submit(
    hass: HomeAssistant,
    hub: HomeSecHub,
    vlm: OpenAIServer,
    clip_id: str,
    start: datetime,
    summary: str,
    *,
    risk: str = "low",
    event_key: str | None = None,
) -> None:
    """A real clip handed to the pipeline as a source does; the vision model describes it."""
    camera = next(iter(hub.cameras.values()))
    folder = Path(hass.config.config_dir) / "made"
    folder.mkdir(exist_ok=True)
    path = await hass.async_add_executor_job(write_clip, folder / f"{clip_id}.mp4")
    vlm.script(
        Reply(content=analysis_json(activity_type="delivery", risk_level=risk, summary=summary))
    )
    processed = EventWaiter(hass)
    assert await hub.pipeline.submit(
        Clip(
            clip_id=clip_id,
            camera_id=camera.camera_id,
            camera_name=camera.name,
            source_type=camera.source_type,
            path=path,
            start_ts=start,
            end_ts=start + timedelta(seconds=20),
            metadata={EVENT_KEY: event_key} if event_key else {},
        )
    )
    await processed.wait(1)
    processed.close()
    await hass.async_block_till_done()


async def _events(hass: HomeAssistant, start: datetime, end: datetime) -> list[dict[str, Any]]:
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": CALENDAR, "start_date_time": start, "end_date_time": end},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    events: list[dict[str, Any]] = response[CALENDAR]["events"]  # type: ignore[index]
    return events


@pytest.fixture
async def calendar_hub(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,  # noqa: F811
) -> HomeSecHub:
    """A hub with a vision model whose incident calendar the user has enabled."""
    entry = await setup_hub(**vlm_options(server))
    await enable_entities(hass, entry, CALENDAR)
    hub: HomeSecHub = entry.runtime_data
    return hub


async def test_the_calendar_is_off_until_the_user_enables_it(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a new hub
    await setup_hub()

    # When its entities are registered
    registered = er.async_get(hass).async_get(CALENDAR)

    # Then the calendar exists on the hub device but is disabled (an option to turn on)
    assert registered is not None
    assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(CALENDAR) is None


async def test_incidents_are_events_grouped_by_their_source_event(
    hass: HomeAssistant,
    calendar_hub: HomeSecHub,
    server: OpenAIServer,  # noqa: F811
) -> None:
    # Given three clips of one motion event, one clip of another event, one without an event
    base = dt_util.utcnow().replace(microsecond=0) - timedelta(hours=3)
    await _submit(hass, calendar_hub, server, "a1", base, "A van stops.", event_key="ev-1")
    await _submit(
        hass,
        calendar_hub,
        server,
        "a2",
        base + timedelta(minutes=1),
        "A courier carries a parcel.",
        risk="medium",
        event_key="ev-1",
    )
    await _submit(
        hass,
        calendar_hub,
        server,
        "a3",
        base + timedelta(minutes=2),
        "The van leaves.",
        event_key="ev-1",
    )
    await _submit(
        hass, calendar_hub, server, "b1", base + timedelta(hours=1), "A cat.", event_key="ev-2"
    )
    await _submit(hass, calendar_hub, server, "c1", base + timedelta(hours=2), "A neighbour.")

    # When the calendar is asked for the last four hours
    events = await _events(hass, base - timedelta(hours=1), base + timedelta(hours=3))

    # Then there are three incidents, oldest first
    assert len(events) == 3
    first, second, third = events
    # And the first spans its three clips, described by its riskiest clip and all summaries
    assert dt_util.parse_datetime(first["start"]) == base
    assert dt_util.parse_datetime(first["end"]) == base + timedelta(minutes=2, seconds=20)
    assert first["summary"] == "Front door · Delivery · medium"
    assert first["description"] == "A van stops.\nA courier carries a parcel.\nThe van leaves."
    assert first["location"] == "Front door"
    assert second["summary"] == "Front door · Delivery · low"
    assert third["description"] == "A neighbour."

    # When only the second incident's hour is asked for
    narrow = await _events(hass, base + timedelta(minutes=50), base + timedelta(minutes=70))

    # Then only that incident is listed
    assert [e["description"] for e in narrow] == ["A cat."]

    # And the entity describes the latest incident (off: it is over)
    state = hass.states.get(CALENDAR)
    assert state.state == "off"
    assert state.attributes["message"] == "Front door · Delivery · low"
    assert state.attributes["description"] == "A neighbour."


async def test_an_empty_history_has_no_events(
    hass: HomeAssistant, calendar_hub: HomeSecHub
) -> None:
    # Given an enabled calendar and no clip yet
    registered = er.async_get(hass).async_get(CALENDAR)
    assert registered is not None and registered.disabled_by is None

    # When it is asked for today
    now = dt_util.utcnow()
    events = await _events(hass, now - timedelta(days=1), now)

    # Then there is nothing, and the entity is off without an incident
    assert events == []
    state = hass.states.get(CALENDAR)
    assert state.state == "off"
    assert "message" not in state.attributes


async def _refreshed(hass: HomeAssistant) -> None:
    """Until the calendar's background reads of the latest incident are done."""
    await hass.async_block_till_done()
    (calendar,) = [
        p.entities[CALENDAR] for p in async_get_platforms(hass, DOMAIN) if CALENDAR in p.entities
    ]
    async with asyncio.timeout(10):
        while calendar._refreshing:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)


async def test_a_burst_of_finished_clips_reads_the_latest_incident_twice_at_most(
    hass: HomeAssistant,
    calendar_hub: HomeSecHub,
    server: OpenAIServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an enabled calendar with one incident, whose reads of the history are counted
    base = dt_util.utcnow().replace(microsecond=0) - timedelta(hours=1)
    await _submit(hass, calendar_hub, server, "a1", base, "A van stops.", event_key="ev-1")
    await _refreshed(hass)
    store = calendar_hub.store
    query, reads = store.query, []
    # ... whose first read is held, as a slow disk would (the burst arrives meanwhile)
    held = asyncio.Event()

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        if len(reads) == 1:
            await held.wait()
        return await query(*args, **kwargs)

    monkeypatch.setattr(store, "query", counted)

    # When thirty clips finish while that read is under way (a catch-up after an outage),
    # some of them after the loop ran other work
    for index in range(30):
        hass.bus.async_fire(EVENT_CLIP_PROCESSED, {})
        if index % 10 == 9:
            await asyncio.sleep(0.01)
    held.set()
    await _refreshed(hass)

    # Then the latest incident was read once for the burst and once after it, not thirty
    # times, and the entity still shows it
    assert len(reads) == 2
    state = hass.states.get(CALENDAR)
    assert state.attributes["description"] == "A van stops."

    # When one more clip finishes later
    before = len(reads)
    hass.bus.async_fire(EVENT_CLIP_PROCESSED, {})
    await _refreshed(hass)

    # Then it is read again, once
    assert len(reads) == before + 1
