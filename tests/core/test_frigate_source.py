"""The Frigate source: MQTT payloads in, downloaded clips out (against the fake Frigate)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.frigate import (
    FrigateMode,
    FrigateSource,
    FrigateSourceSettings,
    event_clip_id,
    review_clip_id,
)
from custom_components.homesec_nvr.core.sources.frigate_client import FrigateClient
from custom_components.homesec_nvr.core.sources.frigate_filters import FrigateMatchSettings
from custom_components.homesec_nvr.core.sources.frigate_messages import Availability

from .frigate_server import (
    NOT_READY,
    SNAPSHOT_JPEG,
    FakeClock,
    FakeFrigate,
    event_message,
    make_clips,
    review_message,
)

EVENT_ID = "1718123456.123456-abc123"
REVIEW_ID = "1718123456.2-rev001"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_clips(tmp_path_factory.mktemp("frigate-source-clips"), seconds=6.0)


@pytest.fixture
async def server(socket_enabled: None, clips: tuple[Path, Path]) -> AsyncGenerator[FakeFrigate]:
    async with FakeFrigate("0.16.0-a1b2c3d") as srv:
        srv.add_event(EVENT_ID, clips[0])
        srv.recordings["front_door"] = clips[0]
        yield srv


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _path(value: str) -> Path:
    return Path(value)


class Harness:
    """A source wired to a collector, a fake store (`known`) and a failure recorder."""

    def __init__(self, client: FrigateClient, clip_dir: Path, **settings: Any) -> None:
        self.clips: list[Clip] = []
        self.known: set[str] = set()
        self.failures: list[tuple[str, str, str]] = []
        self.known_checks: list[str] = []
        self.fail_on_clip = False
        self.source = FrigateSource(
            client=client,
            settings=FrigateSourceSettings(clip_dir=clip_dir, **settings),
            camera_for=self.camera_for,
            is_known=self.is_known,
            on_download_failed=lambda *args: self.failures.append(args),
        )

    @staticmethod
    def camera_for(name: str) -> tuple[str, str] | None:
        return (f"frigate-{name}", name.replace("_", " ").title()) if name != "attic" else None

    async def is_known(self, clip_id: str) -> bool:
        self.known_checks.append(clip_id)
        await asyncio.sleep(0)
        return clip_id in self.known

    async def on_clip(self, clip: Clip) -> None:
        if self.fail_on_clip:
            raise RuntimeError("store busy")
        self.clips.append(clip)
        self.known.add(clip.clip_id)

    async def start(self) -> FrigateSource:
        await self.source.start(self.on_clip)
        return self.source

    async def idle(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.source.downloads_in_flight:
                await asyncio.sleep(0.01)


@pytest.fixture
async def make_harness(
    server: FakeFrigate, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncGenerator[Callable[..., Harness]]:
    harnesses: list[Harness] = []
    clock = FakeClock()

    def _make(**settings: Any) -> Harness:
        client = FrigateClient(session, server.url, sleep=clock.sleep, clock=clock)
        harness = Harness(client, tmp_path / "frigate", **settings)
        harnesses.append(harness)
        return harness

    yield _make
    for harness in harnesses:
        await harness.source.stop()


async def test_an_end_message_becomes_a_clip_with_frigate_metadata(
    make_harness: Callable[..., Harness], server: FakeFrigate, tmp_path: Path
) -> None:
    # Given a running source in events mode
    harness = make_harness()
    source = await harness.start()

    # When Frigate publishes new, update and end for one person
    outcomes = [
        await source.handle_event_message(event_message("new", end_time=None)),
        await source.handle_event_message(event_message("update", end_time=None)),
        await source.handle_event_message(event_message("end", sub_label=["bob", 0.93])),
    ]
    await harness.idle()

    # Then only `end` downloaded the clip, and the clip carries Frigate's data
    assert outcomes == ["ignored: new", "ignored: update", "download scheduled"]
    assert len(harness.clips) == 1
    clip = harness.clips[0]
    assert clip.clip_id == event_clip_id(EVENT_ID) == f"frigate-{EVENT_ID}"
    assert (clip.camera_id, clip.camera_name) == ("frigate-front_door", "Front Door")
    assert clip.source_type == "frigate"
    assert clip.start_ts == datetime.fromtimestamp(1718123456.0, tz=UTC)
    assert clip.end_ts == datetime.fromtimestamp(1718123460.0, tz=UTC)
    assert clip.path == tmp_path / "frigate" / "front_door" / f"{clip.clip_id}.mp4"
    assert clip.path.read_bytes() == server.events[EVENT_ID].clip.read_bytes()
    meta = clip.metadata
    assert meta["frigate_event_id"] == EVENT_ID
    assert meta["frigate_camera"] == "front_door"
    assert meta["frigate_label"] == "person"
    assert meta["frigate_sub_label"] == "bob"
    assert meta["frigate_sub_label_score"] == pytest.approx(0.93)
    assert meta["frigate_top_score"] == pytest.approx(0.89453125)
    assert meta["frigate_score"] == pytest.approx(0.87890625)
    assert meta["frigate_zones"] == ["porch"]
    assert meta["frigate_box"] == [100, 120, 180, 300]
    assert meta["frigate_region"] == [0, 0, 320, 320]
    assert meta["frigate_has_snapshot"] is True
    assert meta["frigate_snapshot_offset_s"] == pytest.approx(7.0)
    assert meta["frigate_truncated"] is False
    snapshot = _path(meta["snapshot_path"])
    assert snapshot.read_bytes() == SNAPSHOT_JPEG
    assert snapshot.parent == clip.path.parent
    assert server.requests[-2].query == {"padding": "5"}
    diagnostics = source.diagnostics()
    assert diagnostics["clips_emitted"] == 1
    assert diagnostics["last_event_id"] == EVENT_ID
    assert diagnostics["last_api_success"] is not None


async def test_the_same_end_twice_gives_one_clip(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given a running source
    harness = make_harness()
    source = await harness.start()

    # When the same end message arrives twice at once, and once more after the download
    first, second = await asyncio.gather(
        source.handle_event_message(event_message("end")),
        source.handle_event_message(event_message("end")),
    )
    await harness.idle()
    third = await source.handle_event_message(event_message("end"))

    # Then one download and one clip
    assert sorted([first, second]) == ["download scheduled", "skipped: already downloading"]
    assert third == "skipped: already emitted"
    assert len(harness.clips) == 1
    assert len(server.paths("clip.mp4")) == 1


async def test_a_replay_after_a_restart_is_recognised_by_the_store(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given a source that emitted the clip, then a new source ("restart") sharing the store
    before = make_harness()
    await before.start()
    await before.source.handle_event_message(event_message("end"))
    await before.idle()
    await before.source.stop()
    after = make_harness()
    after.known = set(before.known)
    source = await after.start()

    # When the broker replays the end message to the new source
    outcome = await source.handle_event_message(event_message("end"))
    await after.idle()

    # Then it asked the store and did not download again
    assert outcome == "skipped: already known"
    assert after.known_checks == [event_clip_id(EVENT_ID)]
    assert after.clips == []
    assert len(server.paths("clip.mp4")) == 1


async def test_review_mode_makes_one_clip_per_review_item(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given a source in reviews mode taking alerts only, with 2 s of padding
    harness = make_harness(
        mode=FrigateMode.REVIEWS, padding_s=2, match=FrigateMatchSettings(min_top_score=0.0)
    )
    source = await harness.start()

    # When an event end, a detection-severity review and an alert review end arrive
    outcomes = [
        await source.handle_event_message(event_message("end")),
        await source.handle_review_message(review_message("update")),
        await source.handle_review_message(
            review_message("end", review_id="1718123400.0-det001", severity="detection")
        ),
        await source.handle_review_message(review_message("end")),
    ]
    await harness.idle()

    # Then only the alert review became a clip, from the padded recordings range
    assert outcomes == [
        "ignored: reviews mode",
        "ignored: update",
        "skipped: severity 'detection' not in alert",
        "download scheduled",
    ]
    assert len(harness.clips) == 1
    clip = harness.clips[0]
    assert clip.clip_id == review_clip_id(REVIEW_ID)
    assert clip.metadata["frigate_review_id"] == REVIEW_ID
    assert clip.metadata["frigate_severity"] == "alert"
    assert clip.metadata["frigate_labels"] == ["person"]
    assert clip.metadata["frigate_detections"] == [EVENT_ID]
    assert clip.metadata["snapshot_path"] is not None
    assert server.paths("clip.mp4") == ["/api/front_door/start/1718123454/end/1718123462/clip.mp4"]


async def test_events_that_do_not_match_are_skipped_with_a_reason(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given a running source (people, score >= 0.7)
    harness = make_harness()
    source = await harness.start()

    # When a dog, a false positive, an unmapped camera and a clipless event end
    outcomes = [
        await source.handle_event_message(event_message("end", label="dog")),
        await source.handle_event_message(event_message("end", false_positive=True)),
        await source.handle_event_message(event_message("end", camera="attic")),
        await source.handle_event_message(event_message("end", has_clip=False)),
    ]

    # Then none is downloaded and each says why
    assert outcomes == [
        "skipped: label 'dog' not in person",
        "skipped: false positive",
        "skipped: camera 'attic' not mapped",
        "skipped: Frigate recorded no clip",
    ]
    assert server.paths("clip.mp4") == []
    assert source.diagnostics()["messages_skipped"] == 4


async def test_a_download_that_gives_up_is_counted_and_reported(
    make_harness: Callable[..., Harness], server: FakeFrigate, tmp_path: Path
) -> None:
    # Given an event whose recordings never show up
    server.events[EVENT_ID].script.extend([NOT_READY] * 50)
    harness = make_harness(download_window_s=30.0)
    source = await harness.start()

    # When its end message arrives
    await source.handle_event_message(event_message("end"))
    await harness.idle()

    # Then no clip, one failure reported to the glue, and the error is kept for diagnostics
    assert harness.clips == []
    assert harness.failures == [(EVENT_ID, "front_door", "not_ready")]
    assert source.clips_download_failed == 1
    assert source.last_error is not None and "not_ready" in source.last_error
    assert [p for p in (tmp_path / "frigate").rglob("*") if p.is_file()] == []


async def test_a_clip_the_pipeline_refuses_can_be_replayed(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given a pipeline that fails to queue the first clip
    harness = make_harness()
    harness.fail_on_clip = True
    source = await harness.start()
    await source.handle_event_message(event_message("end"))
    await harness.idle()

    # When the same end message is replayed once the pipeline works again
    harness.fail_on_clip = False
    outcome = await source.handle_event_message(event_message("end"))
    await harness.idle()

    # Then the replay produced the clip (and its hand-over record is gone)
    assert outcome == "download scheduled"
    assert len(harness.clips) == 1
    assert source.last_error is not None and "store busy" in source.last_error
    files = sorted(p.name for p in harness.clips[0].path.parent.iterdir())
    assert files == [f"{event_clip_id(EVENT_ID)}.jpg", f"{event_clip_id(EVENT_ID)}.mp4"]


async def test_a_clip_the_pipeline_refused_is_handed_over_at_the_next_start(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given a clip downloaded while the pipeline could not take it
    harness = make_harness()
    harness.fail_on_clip = True
    source = await harness.start()
    await source.handle_event_message(event_message("end"))
    await harness.idle()
    assert harness.clips == []
    downloads = len(server.paths("clip.mp4"))

    # When the next run starts and recovers what the last one kept
    harness.fail_on_clip = False
    recovered = await source.recover()

    # Then the kept clip is handed over with its Frigate metadata, without a new download
    assert recovered == 1
    assert [c.clip_id for c in harness.clips] == [event_clip_id(EVENT_ID)]
    assert harness.clips[0].metadata["frigate_event_id"] == EVENT_ID
    assert harness.clips[0].path.is_file()
    assert len(server.paths("clip.mp4")) == downloads
    assert await source.recover() == 0


async def test_invalid_messages_are_counted_and_logged_once_without_traceback(
    make_harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a running source
    harness = make_harness()
    source = await harness.start()

    # When three malformed event payloads arrive
    outcomes = [await source.handle_event_message(b"{oops") for _ in range(3)]

    # Then each is reported, but only one warning (with the payload) and no traceback is logged
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(o.startswith("invalid: malformed JSON") for o in outcomes)
    assert len(warnings) == 1
    assert "{oops" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    assert source.diagnostics()["messages_invalid"] == 3


async def test_availability_follows_frigate(make_harness: Callable[..., Harness]) -> None:
    # Given a source that has heard nothing yet
    harness = make_harness()
    source = harness.source
    assert source.availability is Availability.UNKNOWN

    # When Frigate goes online, offline, says something odd, then stopped
    states = []
    for payload in (b"online", b"offline", b"rebooting", b"stopped"):
        source.handle_availability(payload)
        states.append((source.availability, source.healthy))

    # Then the state follows, an odd payload changes nothing, and health reflects it
    assert states == [
        (Availability.ONLINE, True),
        (Availability.OFFLINE, False),
        (Availability.OFFLINE, False),
        (Availability.STOPPED, False),
    ]
    assert source.diagnostics()["availability"] == "stopped"


async def test_stop_cancels_downloads_in_flight(
    server: FakeFrigate, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # Given a source whose download waits (its first delay never ends)
    gate = asyncio.Event()

    async def blocked_sleep(_seconds: float) -> None:
        await gate.wait()

    client = FrigateClient(session, server.url, sleep=blocked_sleep)
    harness = Harness(client, tmp_path / "frigate")
    source = await harness.start()
    await source.handle_event_message(event_message("end"))
    assert source.downloads_in_flight == 1

    # When the source stops
    await source.stop()
    outcome = await source.handle_event_message(event_message("end"))

    # Then the download was cancelled and the stopped source takes no more messages
    assert source.downloads_in_flight == 0
    assert outcome == "ignored: source not running"
    assert harness.clips == []
    assert server.paths("clip.mp4") == []


async def test_review_items_that_cannot_be_taken(make_harness: Callable[..., Harness]) -> None:
    # Given a source in reviews mode
    harness = make_harness(mode=FrigateMode.REVIEWS)
    source = await harness.start()

    # When a review ends on an unmapped camera, one without end time, and an event arrives
    outcomes = [
        await source.handle_review_message(review_message("end", camera="attic")),
        await source.handle_review_message(review_message("end", end_time=None)),
        await source.handle_review_message(b"not json"),
    ]

    # Then nothing is downloaded and each says why
    assert outcomes == [
        "skipped: camera 'attic' not mapped",
        "skipped: no end time",
        "invalid: malformed JSON (Expecting value: line 1 column 1 (char 0))",
    ]
    assert source.downloads_in_flight == 0
    assert source.diagnostics()["last_review_id"] == REVIEW_ID


async def test_a_missing_snapshot_does_not_stop_the_clip(
    make_harness: Callable[..., Harness], server: FakeFrigate
) -> None:
    # Given an event that claims a snapshot Frigate no longer has
    server.events[EVENT_ID].snapshot = None
    harness = make_harness()
    source = await harness.start()

    # When its end message arrives
    await source.handle_event_message(event_message("end"))
    await harness.idle()

    # Then the clip is emitted without a snapshot path
    assert len(harness.clips) == 1
    assert harness.clips[0].metadata["snapshot_path"] is None


async def test_messages_before_start_are_ignored(make_harness: Callable[..., Harness]) -> None:
    # Given a source not started yet
    harness = make_harness()

    # When an end message arrives
    outcome = await harness.source.handle_event_message(event_message("end"))

    # Then it is ignored, but its id is remembered for diagnostics
    assert outcome == "ignored: source not running"
    assert harness.source.last_event_id == EVENT_ID


class BrokenClient(FrigateClient):
    """A client with a bug in its download."""

    async def download_event_clip(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")


async def test_a_bug_in_a_download_is_contained_and_reported(
    server: FakeFrigate, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # Given a source whose download crashes and whose failure listener crashes too
    harness = Harness(BrokenClient(session, server.url), tmp_path / "frigate")

    def broken_listener(*_args: str) -> None:
        raise ValueError("listener bug")

    harness.source._on_download_failed = broken_listener
    source = await harness.start()

    # When an end message arrives
    await source.handle_event_message(event_message("end"))
    await harness.idle()

    # Then the failure is counted as internal_error and the source keeps working
    assert source.clips_download_failed == 1
    assert source.last_error is not None and "internal_error" in source.last_error
    assert await source.handle_event_message(event_message("end")) == "download scheduled"
    await harness.idle()
    await source.stop()
