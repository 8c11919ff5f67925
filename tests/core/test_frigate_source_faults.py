"""The Frigate source against messages and failures that are not Frigate's: absurd times never
start a download, and whatever fails after a download, its files are not left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

import aiohttp
import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.frigate import (
    HANDOVER_SUFFIX,
    FrigateSource,
    FrigateSourceSettings,
    event_clip_id,
)
from custom_components.homesec_nvr.core.sources.frigate_client import FrigateClient

from .frigate_server import FakeClock, FakeFrigate, event_message, make_clips

EVENT_ID = "1718123456.123456-abc123"
OTHER_ID = "1718123999.5-def456"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_clips(tmp_path_factory.mktemp("frigate-fault-clips"), seconds=4.0)


@pytest.fixture
async def frigate(socket_enabled: None, clips: tuple[Path, Path]) -> AsyncGenerator[FakeFrigate]:
    async with FakeFrigate("0.16.0-a1b2c3d") as server:
        server.add_event(EVENT_ID, clips[0])
        server.add_event(OTHER_ID, clips[0])
        yield server


@pytest.fixture
async def source(frigate: FakeFrigate, tmp_path: Path) -> AsyncGenerator[FrigateSource]:
    clock = FakeClock()
    async with aiohttp.ClientSession() as session:
        client = FrigateClient(session, frigate.url, sleep=clock.sleep, clock=clock)
        frigate_source = FrigateSource(
            client=client,
            settings=FrigateSourceSettings(clip_dir=tmp_path / "frigate"),
            camera_for=lambda name: (f"frigate-{name}", name),
            is_known=_never_known,
        )
        yield frigate_source
        await frigate_source.stop()


async def _never_known(_clip_id: str) -> bool:
    return False


async def _idle(source: FrigateSource) -> None:
    async with asyncio.timeout(10):
        while source.downloads_in_flight:
            await asyncio.sleep(0.01)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize(
    "fields",
    [
        {"start_time": 1e12},
        {"start_time": 1e300},
        {"start_time": 12.0},
        {"end_time": 4e10},
        {"start_time": 10**400},
        {"id": EVENT_ID + "\n"},
        {"camera": "front_door\n"},
    ],
    ids=["year-33658", "1e300", "1970", "end-year-3237", "400-digits", "id-newline", "camera-nl"],
)
async def test_an_absurd_end_message_never_starts_a_download(
    source: FrigateSource, frigate: FakeFrigate, tmp_path: Path, fields: dict[str, object]
) -> None:
    # Given a running source, and an end message with an absurd time, id or camera name
    clips: list[Clip] = []

    async def on_clip(clip: Clip) -> None:
        clips.append(clip)

    await source.start(on_clip)
    payload = event_message("end", **fields)

    # When it arrives
    outcome = await source.handle_event_message(payload)
    await _idle(source)

    # Then it is an invalid message: nothing was downloaded, nothing written, nothing failed
    assert outcome.startswith("invalid: ")
    assert source.messages_invalid == 1
    assert frigate.paths("clip.mp4") == []
    assert _files(tmp_path / "frigate") == []
    assert (clips, source.clips_download_failed) == ([], 0)


async def test_a_failure_after_the_download_removes_the_clip_and_its_snapshot(
    source: FrigateSource, frigate: FakeFrigate, tmp_path: Path
) -> None:
    # Given a running source whose hand-over record cannot be written for one clip (a
    # directory stands where its temporary file goes)
    clips: list[Clip] = []

    async def on_clip(clip: Clip) -> None:
        clips.append(clip)

    await source.start(on_clip)
    folder = tmp_path / "frigate" / "front_door"
    record = folder / f"{event_clip_id(EVENT_ID)}{HANDOVER_SUFFIX}"
    (folder / f".{record.name}.part").mkdir(parents=True)

    # When its end message arrives, then another event's
    await source.handle_event_message(event_message("end"))
    await _idle(source)
    after_failure = _files(folder)
    await source.handle_event_message(event_message("end", event_id=OTHER_ID))
    await _idle(source)

    # Then the first clip was downloaded with its snapshot, and both were removed when the
    # record failed (counted, reported); the second clip arrived as usual
    assert frigate.paths(f"{EVENT_ID}/clip.mp4") == [f"/api/events/{EVENT_ID}/clip.mp4"]
    assert frigate.paths(f"{EVENT_ID}/snapshot.jpg") != []
    assert after_failure == []
    assert source.clips_download_failed == 1
    assert source.last_error is not None and "internal_error" in source.last_error
    assert [clip.clip_id for clip in clips] == [event_clip_id(OTHER_ID)]
    assert _files(folder) == [f"{event_clip_id(OTHER_ID)}.jpg", f"{event_clip_id(OTHER_ID)}.mp4"]
