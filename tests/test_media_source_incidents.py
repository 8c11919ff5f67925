"""The media source shows a camera group's incident with all its cameras' clips: on each of
its cameras' days one folder holds every clip (newest first, each named by its camera), its
identifier browses back to the same folder, and its clips play through their signed links.
Clips are really processed by the hub (grouped by its camera groups, analysed by a real vision
model server)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import media_source
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr.const import DOMAIN
from custom_components.homesec_nvr.core.models import EVENT_KEY, Clip
from custom_components.homesec_nvr.hub import HomeSecHub

from .conftest import SetupHub, camera_subentry
from .core.openai_server import OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter
from .test_vision_model_setup import server, vlm_options  # noqa: F401  (fixture)
from .video import write_clip

ROOT = f"media-source://{DOMAIN}"


def _at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    return dt_util.start_of_local_day(day) + timedelta(hours=hour, minutes=minute, seconds=second)


async def _record(
    hass: HomeAssistant,
    hub: HomeSecHub,
    vlm_server: OpenAIServer,
    folder: Path,
    camera: str,
    clip_id: str,
    start: datetime,
    *,
    activity: str = "passerby",
    risk: str = "low",
    event_key: str | None = None,
) -> dict[str, Any]:
    """A camera's source hands a real clip of 40 s to the hub (grouping, then the pipeline);
    wait until it is processed and return the processed event's payload."""
    found = next(c for c in hub.cameras.values() if c.name == camera)
    path = await hass.async_add_executor_job(write_clip, folder / f"{clip_id}.mp4")
    vlm_server.script(Reply(content=analysis_json(activity_type=activity, risk_level=risk)))
    processed = EventWaiter(hass)
    assert await hub._async_submit(
        Clip(
            clip_id=clip_id,
            camera_id=found.camera_id,
            camera_name=found.name,
            source_type=found.source_type,
            path=path,
            start_ts=start,
            end_ts=start + timedelta(seconds=40),
            metadata={EVENT_KEY: event_key} if event_key else {},
        )
    )
    payload = (await processed.wait(1))[0].data
    processed.close()
    await hass.async_block_till_done()
    return dict(payload)


@pytest.fixture
async def area(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,  # noqa: F811
    incoming: Path,
    tmp_path: Path,
) -> dict[str, Any]:
    """The driveway and the front door in the group "Front", a garage in none. Yesterday:
    14:03 the driveway (medium), 14:03:30 and 14:04 the front door (high, low), overlapping:
    one incident; 16:00 the driveway alone; 18:00 and 18:01 the garage's own event of two
    clips; 23:59:30 the driveway and 00:00:10 (today) the front door: one incident over
    midnight. (Clips join by overlapping, gap 0: no clip waits for another camera's.)"""
    folders = {name: tmp_path / name for name in ("door", "garage", "made")}
    for folder in folders.values():
        folder.mkdir()
    entry = await setup_hub(
        [
            camera_subentry("Driveway", incoming),
            camera_subentry("Front door", folders["door"]),
            camera_subentry("Garage", folders["garage"]),
        ],
        camera_groups="Front: Driveway, Front door",
        incident_gap_seconds=0,
        **vlm_options(server),
    )
    hub: HomeSecHub = entry.runtime_data
    today = dt_util.now().date()
    day = today - timedelta(days=1)
    made = folders["made"]
    recorded = {}
    for camera, clip_id, start, activity, risk, event_key in [
        ("Driveway", "d1", _at(day, 14, 3), "loitering", "medium", None),
        ("Front door", "f1", _at(day, 14, 3, 30), "suspicious_behavior", "high", None),
        ("Front door", "f2", _at(day, 14, 4), "passerby", "low", None),
        ("Driveway", "d2", _at(day, 16, 0), "delivery", "low", None),
        ("Garage", "g1", _at(day, 18, 0), "passerby", "low", "garage-ev"),
        ("Garage", "g2", _at(day, 18, 1), "loitering", "medium", "garage-ev"),
        ("Driveway", "d3", _at(day, 23, 59, 30), "passerby", "low", None),
        ("Front door", "f3", _at(today, 0, 0, 10), "person_at_door", "low", None),
    ]:
        recorded[clip_id] = await _record(
            hass,
            hub,
            server,
            made,
            camera,
            clip_id,
            start,
            activity=activity,
            risk=risk,
            event_key=event_key,
        )
    ids = {c.name: c.camera_id for c in hub.cameras.values()}
    return {"hub": hub, "ids": ids, "day": day, "today": today, "recorded": recorded}


async def _browse(hass: HomeAssistant, camera_id: str, *parts: str) -> Any:
    return await media_source.async_browse_media(hass, "/".join((ROOT, camera_id, *parts)))


async def test_a_cameras_day_shows_an_incident_of_several_cameras_with_all_its_clips(
    hass: HomeAssistant, area: dict[str, Any], hass_client_no_auth: ClientSessionGenerator
) -> None:
    # Given yesterday's incident of the driveway and the front door (grouping gave both
    # cameras' clips the driveway's first clip as incident)
    ids, day = area["ids"], area["day"].isoformat()
    assert area["recorded"]["f2"]["incident_id"] == "d1"
    assert area["recorded"]["f2"]["cameras"] == ["Driveway", "Front door"]

    # When the driveway's day and the incident folder on it are browsed
    listing = await _browse(hass, ids["Driveway"], day)
    folder = listing.children[-1]
    incident = await media_source.async_browse_media(hass, folder.media_content_id)

    # Then the day's count is the driveway's own clips; the incident is one folder at its
    # first clip's time, titled with its cameras, clips and highest risk
    assert listing.title.endswith("· 3 clips")
    assert [c.title for c in listing.children] == [
        "23:59 · Incident · Driveway, Front door · 2 clips · low",
        "16:00 · Delivery · low",
        "14:03 · Incident · Driveway, Front door · 3 clips · high",
    ]
    assert (folder.can_expand, folder.can_play) == (True, False)
    # And its identifier is the driveway's day's incident (the existing form) and browses
    # back to the same folder, holding every camera's clips, newest first, named by camera
    assert folder.media_content_id == f"{ROOT}/{ids['Driveway']}/{day}/incident/d1"
    assert incident.title == folder.title
    assert incident.media_content_id == folder.media_content_id
    assert [c.title for c in incident.children] == [
        "14:04 · Front door · Passer-by · low",
        "14:03 · Front door · Suspicious behavior · high",
        "14:03 · Driveway · Loitering · medium",
    ]
    assert [c.media_content_id for c in incident.children] == [
        f"{ROOT}/{ids['Front door']}/{day}/f2",
        f"{ROOT}/{ids['Front door']}/{day}/f1",
        f"{ROOT}/{ids['Driveway']}/{day}/d1",
    ]
    # And it is shown by its riskiest clip's snapshot, like a camera's own incident
    assert folder.thumbnail.startswith("/api/homesec_nvr/clips/f1/snapshot?exp=")
    assert incident.thumbnail.startswith("/api/homesec_nvr/clips/f1/snapshot?exp=")

    # When the other camera's clip in it is resolved and played without a login
    played = await media_source.async_resolve_media(
        hass, incident.children[1].media_content_id, None
    )
    client = await hass_client_no_auth()
    video = await client.get(played.url)

    # Then it is that clip's signed link, and it plays
    assert played.url.startswith("/api/homesec_nvr/clips/f1/clip?exp=")
    assert played.mime_type == "video/mp4"
    assert video.status == 200
    assert len(await video.read()) > 0


async def test_the_other_camera_shows_the_same_incident_under_its_own_day(
    hass: HomeAssistant, area: dict[str, Any]
) -> None:
    # Given the two incidents of the driveway and the front door, one over midnight
    ids, day, today = area["ids"], area["day"].isoformat(), area["today"].isoformat()

    # When the front door's yesterday and today are browsed, and the incidents on them
    yesterday = await _browse(hass, ids["Front door"], day)
    this_day = await _browse(hass, ids["Front door"], today)
    afternoon = await media_source.async_browse_media(hass, yesterday.children[0].media_content_id)
    night = await media_source.async_browse_media(hass, this_day.children[0].media_content_id)

    # Then yesterday lists the afternoon's incident with all three clips, under the front
    # door's identifier
    assert [c.title for c in yesterday.children] == [
        "14:03 · Incident · Driveway, Front door · 3 clips · high"
    ]
    assert yesterday.children[0].media_content_id == (
        f"{ROOT}/{ids['Front door']}/{day}/incident/d1"
    )
    assert [c.media_content_id.rsplit("/", 1)[1] for c in afternoon.children] == [
        "f2",
        "f1",
        "d1",
    ]
    # And today lists the night's incident that began yesterday on the driveway: it holds
    # the driveway's clip too, under the driveway's yesterday (where it resolves)
    assert [c.title for c in this_day.children] == [
        "23:59 · Incident · Driveway, Front door · 2 clips · low"
    ]
    assert [c.media_content_id for c in night.children] == [
        f"{ROOT}/{ids['Front door']}/{today}/f3",
        f"{ROOT}/{ids['Driveway']}/{day}/d3",
    ]
    resolved = await media_source.async_resolve_media(
        hass, night.children[1].media_content_id, None
    )
    assert resolved.url.startswith("/api/homesec_nvr/clips/d3/clip?exp=")


async def test_incidents_of_one_camera_and_single_clips_are_listed_as_before(
    hass: HomeAssistant, area: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the garage (in no group) with its own event of two clips, and the store's
    # look-up of incidents' other clips watched
    hub: HomeSecHub = area["hub"]
    ids, day = area["ids"], area["day"].isoformat()
    looked_up: list[list[str]] = []
    event_clips = hub.store.event_clips

    async def watched(keys: list[str], limit: int, **kwargs: Any) -> Any:
        looked_up.append(list(keys))
        return await event_clips(keys, limit, **kwargs)

    monkeypatch.setattr(hub.store, "event_clips", watched)

    # When the garage's day and its incident are browsed, and the driveway's day
    garage = await _browse(hass, ids["Garage"], day)
    incident = await media_source.async_browse_media(hass, garage.children[0].media_content_id)
    garage_lookups = list(looked_up)
    driveway = await _browse(hass, ids["Driveway"], day)

    # Then the garage's incident is its own clips only, titled and identified as before
    assert [c.title for c in garage.children] == ["18:00 · Incident · 2 clips · medium"]
    assert incident.media_content_id == f"{ROOT}/{ids['Garage']}/{day}/incident/garage-ev"
    assert [c.title for c in incident.children] == [
        "18:01 · Loitering · medium",
        "18:00 · Passer-by · low",
    ]
    # And a day without a camera group's incident asks the store nothing more
    assert garage_lookups == []
    # And the driveway's incident of its camera alone (16:00) is just its clip, while one
    # look-up fetched the other cameras' clips of all its grouped incidents
    assert driveway.children[1].media_content_id == f"{ROOT}/{ids['Driveway']}/{day}/d2"
    assert driveway.children[1].can_play
    assert looked_up[len(garage_lookups) :] == [["d3", "d2", "d1"]]


async def test_an_incident_identifier_needs_a_clip_of_that_camera_on_that_day(
    hass: HomeAssistant, area: dict[str, Any]
) -> None:
    # Given the driveway's incident d1 (yesterday, the driveway and the front door)
    ids, day, today = area["ids"], area["day"].isoformat(), area["today"].isoformat()

    # When it is browsed under a camera it has no clip of, or a day it has none on
    # Then each says HomeSec has no such incident there
    for camera_id, on in ((ids["Garage"], day), (ids["Driveway"], today)):
        with pytest.raises(BrowseError, match=f"HomeSec has no incident d1 on {on}"):
            await _browse(hass, camera_id, on, "incident", "d1")
