"""Frigate's live detections: the first `new`/`update` of an event that passes the source's
filters is reported once, keyed by the event id that its clip carries too; the frame is
Frigate's snapshot, fetched only when asked for; catch-up never reports (against the fake
Frigate)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.homesec_nvr.core.links import _CLIP_ID
from custom_components.homesec_nvr.core.models import EVENT_KEY, Clip, LiveDetection
from custom_components.homesec_nvr.core.sources.frigate import (
    FrigateMode,
    FrigateSource,
    FrigateSourceSettings,
)
from custom_components.homesec_nvr.core.sources.frigate_client import FrigateClient
from custom_components.homesec_nvr.core.sources.frigate_filters import FrigateMatchSettings
from custom_components.homesec_nvr.core.sources.frigate_live import REPORTED, SnapshotFetch
from custom_components.homesec_nvr.core.sources.frigate_messages import _ID_RE

from .frigate_server import (
    SNAPSHOT_JPEG,
    FakeFrigate,
    event_message,
    make_clips,
    review_message,
)
from .test_frigate_catch_up import ended, ongoing

EVENT_ID = "1718123456.123456-abc123"
REVIEW_ID = "1718123456.2-rev001"
SNAPSHOT_PATH = f"/api/events/{EVENT_ID}/snapshot.jpg"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_clips(tmp_path_factory.mktemp("frigate-live-clips"), seconds=4.0)


@pytest.fixture
async def server(socket_enabled: None, clips: tuple[Path, Path]) -> AsyncGenerator[FakeFrigate]:
    async with FakeFrigate() as srv:
        srv.add_event(EVENT_ID, clips[0])
        srv.recordings["front_door"] = clips[0]
        yield srv


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


class Live:
    """A running source whose live detections and clips are collected."""

    def __init__(self, session: aiohttp.ClientSession, url: str, clip_dir: Path, **kw: Any):
        self.reports: list[tuple[LiveDetection, SnapshotFetch | None]] = []
        self.clips: list[Clip] = []
        self.fail_listener = False
        self.source = FrigateSource(
            client=FrigateClient(session, url),
            settings=FrigateSourceSettings(
                clip_dir=clip_dir, first_delay_s=0, retry_delay_s=0.05, padding_s=0, **kw
            ),
            camera_for=lambda name: None if name == "attic" else (f"cam-{name}", "Front door"),
            is_known=self.is_known,
            on_live_detection=self.report,
        )

    def report(self, detection: LiveDetection, fetch: SnapshotFetch | None) -> None:
        if self.fail_listener:
            raise RuntimeError("listener broke")
        self.reports.append((detection, fetch))

    async def is_known(self, clip_id: str) -> bool:
        await asyncio.sleep(0)
        return any(clip.clip_id == clip_id for clip in self.clips)

    async def on_clip(self, clip: Clip) -> None:
        self.clips.append(clip)

    async def idle(self) -> None:
        async with asyncio.timeout(10):
            while self.source.downloads_in_flight:
                await asyncio.sleep(0.01)

    @property
    def keys(self) -> list[str]:
        return [detection.event_key for detection, _fetch in self.reports]


@pytest.fixture
async def make_live(
    server: FakeFrigate, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncGenerator[Callable[..., Any]]:
    made: list[Live] = []

    async def _make(**settings: Any) -> Live:
        live = Live(session, server.url, tmp_path / "frigate", **settings)
        await live.source.start(live.on_clip)
        made.append(live)
        return live

    yield _make
    for live in made:
        await live.source.stop()


async def test_an_events_first_new_is_reported_once_and_its_clip_carries_the_same_key(
    make_live: Callable[..., Any], server: FakeFrigate
) -> None:
    # Given a running source in events mode with a live listener
    live: Live = await make_live()

    # When Frigate publishes new, two updates and end for one person
    outcomes = [
        await live.source.handle_event_message(event_message("new", end_time=None)),
        await live.source.handle_event_message(event_message("update", end_time=None)),
        await live.source.handle_event_message(event_message("update", end_time=None)),
    ]
    reported_before_end = list(live.reports)
    await live.source.handle_event_message(event_message("end"))
    await live.idle()

    # Then the `new` was reported once, at once, without asking Frigate for anything
    assert outcomes == [REPORTED, "ignored: update", "ignored: update"]
    assert len(reported_before_end) == 1
    detection, fetch = reported_before_end[0]
    assert detection.event_key == EVENT_ID
    assert (detection.camera_id, detection.camera_name) == ("cam-front_door", "Front door")
    assert (detection.source_type, detection.label) == ("frigate", "person")
    assert detection.confidence == pytest.approx(0.89453125)
    assert detection.detected_at == datetime.fromtimestamp(1718123458.0, tz=UTC)  # its snapshot
    assert detection.snapshot_jpeg is None
    assert fetch is not None
    # and the event's clip names the same event
    assert len(live.clips) == 1
    assert live.clips[0].metadata[EVENT_KEY] == EVENT_ID
    assert live.source.diagnostics()["live"]["detections_reported"] == 1
    # and the frame is fetched only when asked for: Frigate's snapshot with the box drawn
    assert server.queries(SNAPSHOT_PATH) == [{}]  # the clip's own snapshot (no box)
    assert await fetch() == SNAPSHOT_JPEG
    assert server.queries(SNAPSHOT_PATH)[-1] == {"bbox": "1"}


def test_frigate_ids_are_valid_link_keys_as_they_are() -> None:
    # Given the ids Frigate's messages may carry (checked by the parser) at their extremes
    longest = "A" + "z._-9" * 19 + "abcd"

    # When they are checked against the signed links' id pattern
    accepted = [bool(_ID_RE.fullmatch(v)) for v in (EVENT_ID, REVIEW_ID, longest)]

    # Then every id the parser takes is a valid link key (no derived key is needed)
    assert accepted == [True, True, True]
    assert all(_CLIP_ID.fullmatch(v) for v in (EVENT_ID, REVIEW_ID, longest))
    assert _ID_RE.pattern.endswith("{0,99}") and _CLIP_ID.pattern.endswith("{1,128}")


@pytest.mark.parametrize(
    ("first", "then"),
    [
        pytest.param({"false_positive": True}, {}, id="false positive until an update"),
        pytest.param({"top_score": 0.5, "score": 0.5}, {}, id="score below until an update"),
        pytest.param(
            {"entered_zones": [], "current_zones": []}, {}, id="zone not entered until an update"
        ),
    ],
)
async def test_an_event_is_reported_once_it_passes_the_filters(
    make_live: Callable[..., Any], first: dict[str, Any], then: dict[str, Any]
) -> None:
    # Given a source taking people in the porch zone with a score of 0.7 or more
    live: Live = await make_live(match=FrigateMatchSettings(zones=frozenset({"porch"})))

    # When the `new` does not pass yet and the following update does
    new = await live.source.handle_event_message(event_message("new", end_time=None, **first))
    update = await live.source.handle_event_message(event_message("update", end_time=None, **then))

    # Then only the update was reported
    assert (new, update) == ("ignored: new", REPORTED)
    assert live.keys == [EVENT_ID]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"label": "car"}, id="label not taken"),
        pytest.param({"camera": "attic"}, id="camera not mapped"),
        pytest.param({"false_positive": True}, id="false positive"),
    ],
)
async def test_events_the_source_would_not_take_are_never_reported(
    make_live: Callable[..., Any], fields: dict[str, Any]
) -> None:
    # Given a source taking people (even false positives: a live alert never does)
    live: Live = await make_live(match=FrigateMatchSettings(skip_false_positives=False))

    # When Frigate tracks something it would not take, with updates
    for kind in ("new", "update"):
        await live.source.handle_event_message(event_message(kind, end_time=None, **fields))

    # Then nothing was reported
    assert live.reports == []


async def test_catch_up_and_garbage_report_nothing(
    make_live: Callable[..., Any], server: FakeFrigate, clips: tuple[Path, Path]
) -> None:
    # Given Frigate with a person that ended and one still there, found by a catch-up
    live: Live = await make_live()
    done, still = ended(20, suffix="aaa111"), ongoing(10, suffix="bbb222")
    for record in (done, still):
        server.add_event(record["id"], clips[0], record=record)

    # When the source catches up, and MQTT brings garbage
    result = await live.source.catch_up()
    await live.idle()
    garbage = await live.source.handle_event_message(b'{"type": "new", "after": {"id": "x"}}')

    # Then the ended one became a clip (with its key), nothing was reported live
    assert (result.status, result.scheduled, result.in_progress) == ("done", 1, 1)
    assert [clip.metadata[EVENT_KEY] for clip in live.clips] == [done["id"]]
    assert garbage.startswith("invalid: ")
    assert live.reports == []


async def test_a_stopped_source_and_a_broken_listener_do_not_break_messages(
    make_live: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a source whose live listener raises
    live: Live = await make_live()
    live.fail_listener = True

    # When a `new` arrives, then the same event's end
    outcome = await live.source.handle_event_message(event_message("new", end_time=None))
    ended_outcome = await live.source.handle_event_message(event_message("end"))
    await live.idle()
    # and another `new` after the source stopped
    await live.source.stop()
    live.fail_listener = False
    late = await live.source.handle_event_message(
        event_message("new", event_id="1718123999.0-late01", end_time=None)
    )

    # Then the failure was logged, the clip still came, and the stopped source reported nothing
    assert outcome == REPORTED
    assert ended_outcome == "download scheduled"
    assert len(live.clips) == 1
    assert "Live detection listener failed" in caplog.text
    assert late == "ignored: new"
    assert live.reports == []


async def test_a_snapshot_frigate_cannot_give_is_none_with_a_debug_line(
    make_live: Callable[..., Any], server: FakeFrigate, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two live detections: one of an event Frigate has no snapshot of, one of a known
    live: Live = await make_live()
    await live.source.handle_event_message(
        event_message("new", event_id="1718123999.0-nosnap", end_time=None)
    )
    await live.source.handle_event_message(event_message("new", end_time=None))
    (_, missing), (_, known) = live.reports
    assert missing is not None and known is not None

    # When the frames are fetched, the second after Frigate went away
    caplog.set_level(logging.DEBUG, logger="custom_components.homesec_nvr.core.sources")
    first = await missing()
    await server.close()
    second = await known()

    # Then both are None, the unreachable one with a debug line and no traceback
    assert (first, second) == (None, None)
    assert f"No live Frigate snapshot of {EVENT_ID}" in caplog.text
    assert "Traceback" not in caplog.text


async def test_a_review_items_first_new_is_reported_with_its_first_detection_s_snapshot(
    make_live: Callable[..., Any], server: FakeFrigate
) -> None:
    # Given a source in reviews mode (alerts only)
    live: Live = await make_live(mode=FrigateMode.REVIEWS)

    # When Frigate publishes a detection-severity review item, then it becomes an alert
    detection = await live.source.handle_review_message(
        review_message("new", end_time=None, severity="detection")
    )
    alert = await live.source.handle_review_message(review_message("update", end_time=None))
    again = await live.source.handle_review_message(review_message("update", end_time=None))
    await live.source.handle_review_message(review_message("end"))
    await live.idle()

    # Then it was reported once as an alert, keyed by the review id its clip carries too
    assert (detection, alert, again) == ("ignored: new", REPORTED, "ignored: update")
    (reported, fetch), *_others = live.reports
    assert (reported.event_key, reported.label) == (REVIEW_ID, "person")
    assert [clip.metadata[EVENT_KEY] for clip in live.clips] == [REVIEW_ID]
    assert fetch is not None
    assert await fetch() == SNAPSHOT_JPEG
    assert server.queries(SNAPSHOT_PATH)[-1] == {"bbox": "1"}
    assert len(live.reports) == 1
