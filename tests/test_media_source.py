"""HomeSec's media source: cameras -> days -> clips and incidents in HA's media browser,
built from clips the hub really processed (a real vision model server titles them), and
clips that play through their signed links without a login."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import media_source
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.homesec_nvr import media_source as media_source_module
from custom_components.homesec_nvr.const import DOMAIN
from custom_components.homesec_nvr.core.models import EVENT_KEY, Clip
from custom_components.homesec_nvr.hub import HomeSecHub

from .conftest import SetupHub
from .core.openai_server import OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter
from .test_vision_model_setup import server, vlm_options  # noqa: F401  (fixture)
from .video import write_clip

ROOT = f"media-source://{DOMAIN}"


def _day_title(day: date, count: int) -> str:
    year = "" if day.year == dt_util.now().year else f" {day.year}"
    clips = "1 clip" if count == 1 else f"{count} clips"
    return f"{day:%A} {day.day} {day:%B}{year} · {clips}"


async def _submit(
    hass: HomeAssistant,
    hub: HomeSecHub,
    folder: Path,
    vlm_server: OpenAIServer,
    clip_id: str,
    start: datetime,
    *,
    activity: str,
    risk: str,
    event_key: str | None = None,
) -> None:
    """Hand a real clip to the hub's pipeline (as a source does) and wait until it is done;
    the vision model server answers with `activity` and `risk`."""
    camera = next(iter(hub.cameras.values()))
    path = await hass.async_add_executor_job(write_clip, folder / f"{clip_id}.mp4")
    vlm_server.script(Reply(content=analysis_json(activity_type=activity, risk_level=risk)))
    processed = EventWaiter(hass)
    assert await hub.pipeline.submit(
        Clip(
            clip_id=clip_id,
            camera_id=camera.camera_id,
            camera_name=camera.name,
            source_type=camera.source_type,
            path=path,
            start_ts=start,
            end_ts=start + timedelta(seconds=2),
            metadata={EVENT_KEY: event_key} if event_key else {},
        )
    )
    await processed.wait(1)
    processed.close()
    await hass.async_block_till_done()


def _at(day: date, hour: int, minute: int) -> datetime:
    return dt_util.start_of_local_day(day) + timedelta(hours=hour, minutes=minute)


@pytest.fixture
async def history(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> dict[str, Any]:
    """A hub whose camera "Front door" has six analysed clips on two local days: on the
    later day an incident of three clips (ev-1), a single-clip event (ev-2) and a clip
    without an event; on the earlier day one clip."""
    entry = await setup_hub(**vlm_options(server))
    hub: HomeSecHub = entry.runtime_data
    folder = tmp_path / "made"
    folder.mkdir()
    today = dt_util.now().date()
    earlier, later = today - timedelta(days=2), today - timedelta(days=1)
    clips: list[tuple[str, datetime, str, str, str | None]] = [
        ("a1", _at(earlier, 9, 15), "delivery", "low", None),
        ("b1", _at(later, 14, 3), "loitering", "medium", "ev-1"),
        ("b2", _at(later, 14, 5), "suspicious_behavior", "high", "ev-1"),
        ("b3", _at(later, 14, 9), "passerby", "low", "ev-1"),
        ("b4", _at(later, 16, 30), "delivery", "low", "ev-2"),
        ("b5", _at(later, 18, 45), "person_at_door", "low", None),
    ]
    for clip_id, start, activity, risk, event_key in clips:
        await _submit(
            hass,
            hub,
            folder,
            server,
            clip_id,
            start,
            activity=activity,
            risk=risk,
            event_key=event_key,
        )
    camera_id = next(iter(hub.cameras))
    return {"hub": hub, "camera_id": camera_id, "earlier": earlier, "later": later}


def _snapshot_link(clip_id: str) -> str:
    return f"/api/homesec_nvr/clips/{clip_id}/snapshot?exp="


async def test_the_tree_lists_cameras_days_clips_and_incidents_newest_first(
    hass: HomeAssistant,
    history: dict[str, Any],
    hass_ws_client: WebSocketGenerator,
) -> None:
    # Given a camera with six analysed clips on two days
    camera_id, later, earlier = history["camera_id"], history["later"], history["earlier"]

    # When the media browser opens HomeSec, the camera, the later day and its incident
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "media_source/browse_media", "media_content_id": ROOT})
    root = await client.receive_json()
    camera = await media_source.async_browse_media(hass, f"{ROOT}/{camera_id}")
    day = await media_source.async_browse_media(hass, f"{ROOT}/{camera_id}/{later.isoformat()}")
    incident_id = next(c.media_content_id for c in day.children if "incident" in c.media_content_id)
    incident = await media_source.async_browse_media(hass, incident_id)

    # Then the root (through the frontend's websocket call) lists the camera with its count
    assert root["success"], root
    assert root["result"]["title"] == "HomeSec"
    assert [c["title"] for c in root["result"]["children"]] == ["Front door · 6 clips"]
    assert root["result"]["children"][0]["media_content_id"] == f"{ROOT}/{camera_id}"
    assert root["result"]["children"][0]["can_expand"] is True
    assert root["result"]["children"][0]["thumbnail"].startswith(_snapshot_link("b5"))

    # And the camera lists its local days, newest first, with their counts
    assert [c.title for c in camera.children] == [_day_title(later, 5), _day_title(earlier, 1)]
    assert camera.children_media_class == "directory"

    # And the day lists its entries newest first: the incident is one folder at its first
    # clip's time with its highest risk, the single-clip event is just its clip
    assert day.title == _day_title(later, 5)
    assert [c.title for c in day.children] == [
        "18:45 · Person at door · low",
        "16:30 · Delivery · low",
        "14:03 · Incident · 3 clips · high",
    ]
    assert day.children_media_class == "video"
    clip, single, folder = day.children
    assert (clip.can_play, clip.can_expand, clip.media_class) == (True, False, "video")
    assert clip.media_content_id == f"{ROOT}/{camera_id}/{later.isoformat()}/b5"
    assert single.media_content_id.endswith("/b4")
    assert (folder.can_play, folder.can_expand, folder.media_class) == (False, True, "directory")
    assert folder.media_content_id == f"{ROOT}/{camera_id}/{later.isoformat()}/incident/ev-1"

    # And thumbnails are the clips' signed snapshot links (the incident shows its riskiest)
    assert clip.thumbnail.startswith(_snapshot_link("b5"))
    assert folder.thumbnail.startswith(_snapshot_link("b2"))

    # And the incident holds its three clips, newest first
    assert incident.title == "14:03 · Incident · 3 clips · high"
    assert [c.title for c in incident.children] == [
        "14:09 · Passer-by · low",
        "14:05 · Suspicious behavior · high",
        "14:03 · Loitering · medium",
    ]
    assert all(c.can_play for c in incident.children)


async def test_a_clip_resolves_to_a_link_that_plays_without_a_login(
    hass: HomeAssistant,
    history: dict[str, Any],
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given a clip listed on its day
    camera_id, later = history["camera_id"], history["later"]
    day = await media_source.async_browse_media(hass, f"{ROOT}/{camera_id}/{later.isoformat()}")
    clip = day.children[0]

    # When it is resolved for a media player, and the link and thumbnail are opened by a
    # client without a Home Assistant session
    played = await media_source.async_resolve_media(hass, clip.media_content_id, None)
    client = await hass_client_no_auth()
    video = await client.get(played.url)
    thumbnail = await client.get(clip.thumbnail)

    # Then it is the clip's signed link, served as MP4, and the snapshot opens too
    assert played.mime_type == "video/mp4"
    assert played.url.startswith("/api/homesec_nvr/clips/b5/clip?exp=")
    assert video.status == 200
    assert video.headers["Content-Type"] == "video/mp4"
    stored = await history["hub"].store.get_state("b5")
    path = history["hub"].storage.local_path(stored.clip_uri)
    assert await video.read() == await hass.async_add_executor_job(path.read_bytes)
    assert thumbnail.status == 200
    assert thumbnail.headers["Content-Type"] == "image/jpeg"


async def test_bad_identifiers_are_refused_with_a_clear_message(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    # Given the history of one camera
    camera_id, later = history["camera_id"], history["later"]
    day = f"{ROOT}/{camera_id}/{later.isoformat()}"

    # When malformed or unknown items are browsed or resolved
    # Then each is refused with a message that says what is wrong
    cases = [
        (f"{ROOT}/nope", "HomeSec has no camera nope"),
        (f"{ROOT}/{camera_id}/yesterday", "'yesterday' is not a date"),
        (f"{day}/missing", "has no clip"),
        (f"{day}/incident/ev-9", f"HomeSec has no incident ev-9 on {later.isoformat()}"),
        # (days no clip can have: the day after 9999-12-31 is past what datetime holds)
        (f"{ROOT}/{camera_id}/9999-12-31", "not a day HomeSec can have clips of"),
        (f"{ROOT}/{camera_id}/0001-01-01/c1", "not a day HomeSec can have clips of"),
    ]
    for media_id, message in cases:
        with pytest.raises(BrowseError, match=message):
            await media_source.async_browse_media(hass, media_id)
    with pytest.raises(media_source.Unresolvable, match="not a clip to play"):
        await media_source.async_resolve_media(hass, day, None)
    with pytest.raises(media_source.Unresolvable, match="has no clip"):
        await media_source.async_resolve_media(hass, f"{day}/missing", None)
    # (a clip of another camera is not found under this one)
    with pytest.raises(media_source.Unresolvable, match="has no clip"):
        await media_source.async_resolve_media(hass, f"{ROOT}/other/{later.isoformat()}/b5", None)


async def test_a_clip_without_stored_video_is_listed_but_not_playable(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    # Given a clip whose video the retention deleted (its row stays in the history)
    hub: HomeSecHub = history["hub"]
    state = await hub.store.get_state("a1")
    assert state is not None
    state.clip_uri = None
    await hub.store.upsert_state(state)
    media_id = f"{ROOT}/{history['camera_id']}/{history['earlier'].isoformat()}"

    # When its day is browsed and the clip resolved
    day = await media_source.async_browse_media(hass, media_id)

    # Then it is listed, not playable, and resolving it says why
    assert [(c.title, c.can_play) for c in day.children] == [("09:15 · Delivery · low", False)]
    with pytest.raises(media_source.Unresolvable, match="Clip a1 has no stored video"):
        await media_source.async_resolve_media(hass, day.children[0].media_content_id, None)


async def test_a_day_over_the_listing_limit_lists_the_newest_and_counts_the_rest(
    hass: HomeAssistant, history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a day of five clips and a listing limit of two
    monkeypatch.setattr(media_source_module, "MAX_DAY_CLIPS", 2)
    media_id = f"{ROOT}/{history['camera_id']}/{history['later'].isoformat()}"

    # When the day is browsed
    day = await media_source.async_browse_media(hass, media_id)

    # Then the two newest clips are listed, the title counts all five, the rest not shown
    assert [c.title for c in day.children] == [
        "18:45 · Person at door · low",
        "16:30 · Delivery · low",
    ]
    assert day.title == _day_title(history["later"], 5)
    assert day.not_shown == 3


async def test_browsing_while_homesec_is_not_loaded_says_so(
    hass: HomeAssistant, history: dict[str, Any]
) -> None:
    # Given HomeSec unloaded (the media source stays registered)
    hub: HomeSecHub = history["hub"]
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    await hass.async_block_till_done()

    # When HomeSec is browsed or a clip resolved
    # Then a clear error says HomeSec is not loaded
    with pytest.raises(BrowseError, match="HomeSec is not loaded"):
        await media_source.async_browse_media(hass, ROOT)
    with pytest.raises(media_source.Unresolvable, match="HomeSec is not loaded"):
        await media_source.async_resolve_media(
            hass, f"{ROOT}/{history['camera_id']}/{history['later'].isoformat()}/b5", None
        )
