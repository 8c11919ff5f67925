"""Frigate download slots bound transfers, not waiting: a clip whose recordings Frigate has not
written yet (retries with backoff) never holds back another event's clip (found by
scripts/bench_frigate_latency.py: 30 events queued behind each other's first delay)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

import aiohttp
import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.frigate import (
    FrigateSource,
    FrigateSourceSettings,
    event_clip_id,
)
from custom_components.homesec_nvr.core.sources.frigate_client import FrigateClient

from .frigate_server import NOT_READY, FakeFrigate, event_message, make_clips

SLOW = "1718123456.123456-slow01"
READY = "1718123457.5-ready1"


@pytest.fixture
async def server(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[FakeFrigate]:
    clip, _truncated = make_clips(tmp_path / "media", seconds=4.0)
    async with FakeFrigate() as srv:
        srv.add_event(SLOW, clip, script=[NOT_READY] * 3)
        srv.add_event(READY, clip)
        yield srv


async def test_a_clip_waiting_for_frigate_does_not_hold_back_another(
    server: FakeFrigate, tmp_path: Path
) -> None:
    # Given a source with one download slot, and an event whose recordings are late
    clips: list[Clip] = []

    async def on_clip(clip: Clip) -> None:
        clips.append(clip)

    async def is_known(_clip_id: str) -> bool:
        return False

    async with aiohttp.ClientSession() as session:
        source = FrigateSource(
            client=FrigateClient(session, server.url),
            settings=FrigateSourceSettings(
                clip_dir=tmp_path / "frigate",
                padding_s=0,
                first_delay_s=0,
                retry_delay_s=0.2,
                download_window_s=10,
                max_concurrent_downloads=1,
                save_snapshots=False,
            ),
            camera_for=lambda name: (name, name),
            is_known=is_known,
        )
        await source.start(on_clip)

        # When the late event ends, then a ready one
        await source.handle_event_message(event_message("end", event_id=SLOW))
        await source.handle_event_message(event_message("end", event_id=READY))
        async with asyncio.timeout(10):
            while len(clips) < 2:
                await asyncio.sleep(0.02)
        await source.stop()

    # Then the ready clip came first, while the late one waited between its attempts, and
    # the late one still came once Frigate had it
    assert [clip.clip_id for clip in clips] == [event_clip_id(READY), event_clip_id(SLOW)]
    assert server.paths("clip.mp4").count(f"/api/events/{SLOW}/clip.mp4") == 4
