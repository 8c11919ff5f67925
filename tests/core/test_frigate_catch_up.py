"""Catching up on Frigate events that ended while Home Assistant was down (issue 11, item 9):
`GET /api/events` / `GET /api/review` against the fake Frigate, which answers as 0.14 - 0.17 do."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources import frigate_client
from custom_components.homesec_nvr.core.sources.frigate import (
    WATERMARK_FILE,
    CatchUpResult,
    FrigateMode,
    FrigateSource,
    FrigateSourceSettings,
    event_clip_id,
    review_clip_id,
)
from custom_components.homesec_nvr.core.sources.frigate_client import FrigateClient, FrigateError
from custom_components.homesec_nvr.core.sources.frigate_filters import FrigateMatchSettings

from .frigate_server import (
    NOT_READY,
    FakeClock,
    FakeFrigate,
    event_after,
    event_message,
    make_clips,
    review_after,
)

VERSIONS = ["0.14.1-f4f3cfa", "0.16.0-a1b2c3d", "0.17.0-a1b2c3d"]


def ended(
    ago: float, *, length: float = 4.0, suffix: str = "abc123", **fields: Any
) -> dict[str, Any]:
    """An MQTT `after` object of a person that started `ago` seconds ago and has ended."""
    start = time.time() - ago
    return event_after(
        f"{start:.6f}-{suffix}",
        start_time=start,
        end_time=start + length,
        frame_time=start + length / 2,
        snapshot={"frame_time": start + 1, "box": [100, 120, 180, 300], "score": 0.88},
        **fields,
    )


def ongoing(ago: float, *, suffix: str = "run001", **fields: Any) -> dict[str, Any]:
    """A person Frigate is still tracking (no end time yet)."""
    return {**ended(ago, suffix=suffix, **fields), "end_time": None}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_clips(tmp_path_factory.mktemp("frigate-catch-up-clips"), seconds=4.0)


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


class Store:
    """The clip store as the source sees it (`is_known`), shared across restarts."""

    def __init__(self) -> None:
        self.clips: list[Clip] = []

    @property
    def ids(self) -> list[str]:
        return [clip.clip_id for clip in self.clips]

    async def is_known(self, clip_id: str) -> bool:
        await asyncio.sleep(0)
        return clip_id in self.ids

    async def on_clip(self, clip: Clip) -> None:
        self.clips.append(clip)


class Runs:
    """Starts sources ("runs of Home Assistant") on one clip folder and one store."""

    def __init__(self, session: aiohttp.ClientSession, clip_dir: Path) -> None:
        self.session = session
        self.clip_dir = clip_dir
        self.store = Store()
        self.sources: list[FrigateSource] = []

    async def start(
        self,
        server: FakeFrigate | str,
        *,
        real_sleep: bool = False,
        wall_clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> FrigateSource:
        url = server if isinstance(server, str) else server.url
        clock = FakeClock()
        client = (
            FrigateClient(self.session, url)
            if real_sleep
            else FrigateClient(self.session, url, sleep=clock.sleep, clock=clock)
        )
        source = FrigateSource(
            client=client,
            settings=FrigateSourceSettings(clip_dir=self.clip_dir, **settings),
            camera_for=lambda name: None if name == "attic" else (f"frigate-{name}", name),
            is_known=self.store.is_known,
            wall_clock=wall_clock,
        )
        await source.start(self.store.on_clip)
        self.sources.append(source)
        return source

    @staticmethod
    async def idle(source: FrigateSource) -> None:
        async with asyncio.timeout(10):
            while source.downloads_in_flight:
                await asyncio.sleep(0.01)

    def watermark_file(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.clip_dir / WATERMARK_FILE).read_text())
        return data


@pytest.fixture
async def runs(session: aiohttp.ClientSession, tmp_path: Path) -> AsyncGenerator[Runs]:
    started = Runs(session, tmp_path / "frigate")
    yield started
    for source in started.sources:
        await source.stop()


async def first_run(runs: Runs, server: FakeFrigate, **settings: Any) -> None:
    """Home Assistant ran once with nothing to catch up on, then stopped."""
    source = await runs.start(server, **settings)
    assert (await source.catch_up()).status == "done"
    await source.stop()


@pytest.mark.parametrize("version", VERSIONS)
async def test_events_that_ended_while_down_are_downloaded_and_processed_once(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path], version: str
) -> None:
    async with FakeFrigate(version) as server:
        # Given a run that stopped, then two people that came and went and one still there
        await first_run(runs, server)
        saved = runs.watermark_file()["watermarks"]["events"]
        first, second, still = ended(40, suffix="aaa111"), ended(20, suffix="bbb222"), ongoing(10)
        for record in (first, second, still):
            server.add_event(record["id"], clips[0], record=record)

        # When Home Assistant starts again and catches up
        source = await runs.start(server)
        result = await source.catch_up()
        await runs.idle(source)

        # Then the two finished events became clips, each downloaded once
        assert sorted(runs.store.ids) == [event_clip_id(first["id"]), event_clip_id(second["id"])]
        assert len(server.paths("clip.mp4")) == 2
        assert (result.status, result.fetched, result.scheduled, result.in_progress) == (
            "done",
            3,
            2,
            1,
        )
        # and Frigate was asked for what started after the saved watermark, with a clip
        query = server.queries("/api/events")[-1]
        assert float(query["after"]) == pytest.approx(saved, abs=1e-5)
        assert query["has_clip"] == "1"
        assert query["labels"] == "person"
        assert query["include_thumbnails"] == "0"
        assert query["limit"] == "50"

        # And a second catch-up finds nothing new to download
        again = await source.catch_up()
        await runs.idle(source)
        assert (again.scheduled, again.known) == (0, 2)
        assert len(server.paths("clip.mp4")) == 2


async def test_a_restart_after_a_catch_up_does_not_reprocess(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path]
) -> None:
    async with FakeFrigate() as server:
        # Given an event caught up and processed, and Home Assistant stopped after it
        await first_run(runs, server)
        record = ended(30)
        server.add_event(record["id"], clips[0], record=record)
        source = await runs.start(server)
        await source.catch_up()
        await runs.idle(source)
        await source.stop()
        saved = runs.watermark_file()["watermarks"]["events"]

        # When Home Assistant starts once more and catches up
        source = await runs.start(server)
        result = await source.catch_up()
        await runs.idle(source)

        # Then it starts from the watermark written at the stop, and the event is not redone
        assert float(server.queries("/api/events")[-1]["after"]) == pytest.approx(saved, abs=1e-5)
        assert saved > record["start_time"] - 60
        assert runs.store.ids == [event_clip_id(record["id"])]
        assert len(server.paths("clip.mp4")) == 1
        assert result.scheduled == 0


@pytest.mark.parametrize("live_first", [True, False])
async def test_a_catch_up_racing_a_live_end_processes_the_event_once(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path], live_first: bool
) -> None:
    async with FakeFrigate() as server:
        # Given an event that ended while Home Assistant was starting
        await first_run(runs, server)
        record = ended(15)
        server.add_event(record["id"], clips[0], record=record)
        source = await runs.start(server)
        payload = event_message("end", **record)

        # When its MQTT end and the catch-up arrive at the same time
        calls = [source.handle_event_message(payload), source.catch_up()]
        if not live_first:
            calls.reverse()
        outcomes = await asyncio.gather(*calls)
        await runs.idle(source)

        # Then exactly one of them downloaded it
        assert runs.store.ids == [event_clip_id(record["id"])]
        assert len(server.paths("clip.mp4")) == 1
        live = outcomes[0] if live_first else outcomes[1]
        caught = outcomes[1] if live_first else outcomes[0]
        assert isinstance(caught, CatchUpResult)
        assert [live == "download scheduled", caught.scheduled == 1].count(True) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_frigate_unreachable_during_catch_up_is_logged_and_retried_next_time(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a source whose Frigate does not answer (nothing listens on its port)
    port = _free_port()
    source = await runs.start(f"http://127.0.0.1:{port}")

    # When it catches up twice
    with caplog.at_level(logging.DEBUG):
        first = await source.catch_up()
        second = await source.catch_up()

    # Then nothing was raised: both failed, logged once as a warning (then at debug level)
    assert first.status == second.status == "failed"
    assert first.error is not None and first.error.startswith("cannot_connect")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "retried at the next MQTT reconnect" in warnings[0].getMessage()
    assert "Traceback" not in caplog.text
    assert source.last_error is not None and source.last_error.startswith("catch-up")
    assert not (runs.clip_dir / WATERMARK_FILE).exists()

    # And at the next transition, with Frigate back, the missed event is taken
    server = FakeFrigate()
    await server.start(port)
    try:
        record = ended(20)
        server.add_event(record["id"], clips[0], record=record)
        result = await source.catch_up()
        await runs.idle(source)
        assert (result.status, result.scheduled) == ("done", 1)
        assert runs.store.ids == [event_clip_id(record["id"])]
        assert source.diagnostics()["catch_up"]["in_sync"] is True
    finally:
        await source.stop()
        await server.close()


async def test_missed_events_go_through_the_subentrys_filters(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path]
) -> None:
    async with FakeFrigate(cameras={"front_door": ["porch", "street"], "attic": []}) as server:
        # Given a source taking people in the porch zone, and what Frigate saw while it was down
        match = FrigateMatchSettings(zones=frozenset({"porch"}))
        await first_run(runs, server, match=match)
        taken = ended(50, suffix="take01")
        skipped = {
            "low score": ended(45, suffix="low001", top_score=0.4),
            "too short": ended(40, suffix="short1", length=0.5),
            "other zone": ended(35, suffix="zone01", entered_zones=["street"]),
            "not mapped": ended(30, suffix="attic1", camera="attic"),
        }
        not_asked = {
            "a car": ended(25, suffix="car001", label="car"),
            "no clip": ended(20, suffix="noclip", has_clip=False),
        }
        for record in [taken, *skipped.values(), *not_asked.values()]:
            server.add_event(record["id"], clips[0], camera=record["camera"], record=record)

        # When it catches up
        source = await runs.start(server, match=match)
        result = await source.catch_up()
        await runs.idle(source)

        # Then only the matching person became a clip; Frigate left out the car and the
        # event without a clip, and the source skipped the rest like MQTT events
        assert runs.store.ids == [event_clip_id(taken["id"])]
        assert (result.fetched, result.scheduled, result.skipped) == (5, 1, 4)
        assert server.paths("clip.mp4") == [f"/api/events/{taken['id']}/clip.mp4"]


async def test_the_look_back_window_and_the_event_cap_hold(
    socket_enabled: None,
    runs: Runs,
    clips: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeFrigate() as server:
        # Given a source that last ran three days ago, a cap of two events per catch-up,
        # an event from 30 h ago and four from the last hour
        three_days = 3 * 24 * 3600.0
        await first_run(runs, server, wall_clock=lambda: time.time() - three_days)
        old = ended(30 * 3600, suffix="old001")
        recent = [ended(3600 - 600 * n, suffix=f"new00{n}") for n in range(4)]
        for record in [old, *recent]:
            server.add_event(record["id"], clips[0], record=record)

        # When it catches up
        source = await runs.start(server, catch_up_max_events=2)
        with caplog.at_level(logging.WARNING):
            result = await source.catch_up()
        await runs.idle(source)

        # Then it looked back 24 h at most and took only the two newest events
        query = server.queries("/api/events")[-1]
        assert float(query["after"]) == pytest.approx(time.time() - 24 * 3600, abs=30)
        assert query["limit"] == "2"
        assert sorted(runs.store.ids) == [
            event_clip_id(recent[2]["id"]),
            event_clip_id(recent[3]["id"]),
        ]
        assert result.capped is True
        assert "than the catch-up limit (2)" in caplog.text
        assert f"/api/events/{old['id']}/clip.mp4" not in server.paths()


async def test_a_caught_up_event_carries_the_metadata_of_a_live_one(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path], tmp_path: Path
) -> None:
    async with FakeFrigate() as server:
        # Given one event with a sub-label, zones and a box, seen live by one source and
        # missed by another
        record = ended(20, sub_label=["Bob", 0.93], entered_zones=["porch", "street"])
        server.add_event(record["id"], clips[0], record=record)
        live = await runs.start(server)
        await live.handle_event_message(event_message("end", **record))
        await runs.idle(live)
        other = Runs(runs.session, tmp_path / "other")
        await first_run(other, server)

        # When the second one catches up
        source = await other.start(server)
        await source.catch_up()
        await other.idle(source)
        await source.stop()

        # Then both clips carry the same Frigate data (API boxes turned back into pixels)
        keys = [
            "frigate_event_id",
            "frigate_camera",
            "frigate_label",
            "frigate_sub_label",
            "frigate_sub_label_score",
            "frigate_top_score",
            "frigate_zones",
            "frigate_box",
            "frigate_region",
            "frigate_has_snapshot",
        ]
        seen, caught = runs.store.clips[0].metadata, other.store.clips[0].metadata
        assert {k: caught[k] for k in keys} == {k: seen[k] for k in keys}
        assert caught["frigate_box"] == [100, 120, 180, 300]
        assert caught["frigate_sub_label"] == "Bob"
        assert other.store.clips[0].start_ts == runs.store.clips[0].start_ts


@pytest.mark.parametrize("version", ["0.14.1-f4f3cfa", "0.17.0-a1b2c3d"])
async def test_review_items_missed_while_down_are_caught_up(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path], version: str
) -> None:
    async with FakeFrigate(version) as server:
        server.recordings["front_door"] = clips[0]
        # Given a source in reviews mode that stopped, then three review items: an alert,
        # an alert already marked reviewed in Frigate's UI, and a detection
        await first_run(runs, server, mode=FrigateMode.REVIEWS)
        now = time.time()
        alert = review_after("a-rev001", start_time=now - 40, end_time=now - 35)
        seen = review_after("a-rev002", start_time=now - 30, end_time=now - 25)
        detection = review_after(
            "a-rev003", start_time=now - 20, end_time=now - 15, severity="detection"
        )
        server.add_review(alert)
        server.add_review(seen, reviewed=True)
        server.add_review(detection)

        # When it starts again and catches up
        source = await runs.start(server, mode=FrigateMode.REVIEWS)
        result = await source.catch_up()
        await runs.idle(source)

        # Then both alerts became clips (also the reviewed one), the detection did not
        assert sorted(runs.store.ids) == [review_clip_id("a-rev001"), review_clip_id("a-rev002")]
        assert result.scheduled == 2
        query = server.queries("/api/review")[-1]
        assert query["severity"] == "alert"
        # 0.14 - 0.15 hide reviewed items unless asked; on 0.16+ `reviewed=1` would hide the rest
        assert query.get("reviewed") == ("1" if version.startswith("0.14") else None)


async def test_an_event_in_progress_at_stop_is_caught_up_after_a_restart(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path]
) -> None:
    async with FakeFrigate() as server:
        # Given a running source that saw a long event start and a later one end, live
        source = await runs.start(server, catch_up_save_interval_s=0)
        await source.catch_up()
        long_one = ongoing(200, suffix="long01")
        later = ended(100, suffix="later1")
        server.add_event(later["id"], clips[0], record=later)
        await source.handle_event_message(event_message("new", **long_one))
        await source.handle_event_message(event_message("end", **later))
        await runs.idle(source)

        # When Home Assistant stops before the long one ends, and it ends meanwhile
        await source.stop()
        saved = runs.watermark_file()["watermarks"]["events"]
        finished = {**long_one, "end_time": long_one["start_time"] + 150}
        server.add_event(finished["id"], clips[0], record=finished)
        source = await runs.start(server)
        await source.catch_up()
        await runs.idle(source)

        # Then the watermark was held before its start, and it is caught up after the restart
        assert saved < long_one["start_time"]
        assert runs.store.ids == [event_clip_id(later["id"]), event_clip_id(long_one["id"])]
        # (the 150 s event's clip is asked for until the window ends: the fake's is 4 s long)
        assert sorted(set(server.paths("clip.mp4"))) == sorted(
            f"/api/events/{record['id']}/clip.mp4" for record in (later, long_one)
        )


async def test_a_download_cut_short_by_a_stop_is_caught_up_at_the_next_start(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path]
) -> None:
    async with FakeFrigate() as server:
        # Given two caught-up events (one from minutes before the other) whose downloads
        # are still waiting for Frigate's recordings
        await first_run(runs, server, wall_clock=lambda: time.time() - 600)
        early, late = ended(300, suffix="cut001"), ended(20, suffix="cut002")
        for record in (early, late):
            server.add_event(record["id"], clips[0], record=record)
        source = await runs.start(server, real_sleep=True, first_delay_s=30)
        assert (await source.catch_up()).scheduled == 2
        assert source.downloads_in_flight == 2

        # When Home Assistant stops before they finished, and starts again
        await source.stop()
        saved = runs.watermark_file()["watermarks"]["events"]
        source = await runs.start(server)
        result = await source.catch_up()
        await runs.idle(source)

        # Then the watermark stayed before the earlier one (not just the latest time seen
        # minus the margin), so the next start takes both
        assert saved < early["start_time"]
        assert result.scheduled == 2
        assert sorted(runs.store.ids) == [event_clip_id(early["id"]), event_clip_id(late["id"])]


async def test_a_damaged_watermark_counts_as_a_first_start(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeFrigate() as server:
        # Given a damaged watermark file and an event from ten minutes ago
        runs.clip_dir.mkdir(parents=True)
        (runs.clip_dir / WATERMARK_FILE).write_text("{not json")
        record = ended(600)
        server.add_event(record["id"], clips[0], record=record)

        # When the source catches up
        source = await runs.start(server)
        with caplog.at_level(logging.WARNING):
            result = await source.catch_up()

        # Then the damage is logged, only the last minute is looked at, and a new file written
        assert "damaged Frigate catch-up watermark" in caplog.text
        assert float(server.queries("/api/events")[-1]["after"]) == pytest.approx(
            time.time() - 60, abs=10
        )
        assert result.scheduled == 0
        assert runs.watermark_file()["version"] == 1


async def test_a_catch_up_while_one_runs_makes_it_run_once_more(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path]
) -> None:
    async with FakeFrigate() as server:
        # Given a running source
        await first_run(runs, server)
        source = await runs.start(server)

        # When a second catch-up is asked for while the first one runs
        first_call = asyncio.ensure_future(source.catch_up())
        await asyncio.sleep(0)
        second = await source.catch_up()
        first = await first_call

        # Then the second is queued and the first asked Frigate twice
        assert second.status == "queued"
        assert first.status == "done"
        assert len(server.queries("/api/events")) == 1 + 2


async def test_catch_up_is_off_with_a_cap_of_zero_and_before_start(
    socket_enabled: None, runs: Runs
) -> None:
    async with FakeFrigate() as server:
        # Given a source with a cap of 0, and one that was stopped
        disabled = await runs.start(server, catch_up_max_events=0)
        stopped = await runs.start(server)
        await stopped.stop()

        # When both are asked to catch up
        results = [await disabled.catch_up(), await stopped.catch_up()]

        # Then neither asked Frigate
        assert [r.status for r in results] == ["disabled", "not running"]
        assert server.queries("/api/events") == []


# -- the client ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_events_since_answers_frigates_rows_newest_first(
    socket_enabled: None, session: aiohttp.ClientSession, clips: tuple[Path, Path], version: str
) -> None:
    async with FakeFrigate(version) as server:
        # Given two finished events in Frigate
        older, newer = ended(60, suffix="old001"), ended(30, suffix="new001")
        for record in (older, newer):
            server.add_event(record["id"], clips[0], record=record)
        client = FrigateClient(session, server.url)

        # When the client asks for events since 90 s ago, for the front door's people
        rows = await client.events_since(
            time.time() - 90, cameras=["front_door"], labels=["person", "dog"], limit=10
        )

        # Then it gets Frigate's database rows (not MQTT objects), newest first
        assert [row["id"] for row in rows] == [newer["id"], older["id"]]
        assert rows[0]["zones"] == ["porch"]
        assert rows[0]["data"]["top_score"] == newer["top_score"]
        assert "thumbnail" not in rows[0]
        assert server.queries("/api/events")[0]["labels"] == "dog,person"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, "text/html", "<html>login</html>"), "not_frigate"),
        ((200, "application/json", '{"success": false}'), "not_frigate"),
        ((500, "application/json", '{"detail": "db locked"}'), "cannot_connect"),
        ((404, "application/json", '{"detail": "Not Found"}'), "not_frigate"),
        ((422, "application/json", '{"detail": []}'), "http_error"),
    ],
)
async def test_an_event_list_frigate_cannot_give_is_a_typed_error(
    socket_enabled: None,
    session: aiohttp.ClientSession,
    answer: tuple[int, str, str],
    reason: str,
) -> None:
    async with FakeFrigate() as server:
        # Given a Frigate answering the event list with something unusable
        server.list_answers["/api/events"] = answer
        client = FrigateClient(session, server.url)

        # When the client asks for events
        with pytest.raises(FrigateError) as caught:
            await client.events_since(time.time() - 60)

        # Then it raises FrigateError with the reason
        assert caught.value.reason == reason


async def test_an_oversized_list_is_refused(
    socket_enabled: None,
    session: aiohttp.ClientSession,
    clips: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeFrigate() as server:
        # Given a list answer larger than the cap
        monkeypatch.setattr(frigate_client, "LIST_CAP_BYTES", 256)
        for n in range(3):
            record = ended(30 + n, suffix=f"big00{n}")
            server.add_event(record["id"], clips[0], record=record)
        client = FrigateClient(session, server.url)

        # When the client asks for it
        with pytest.raises(FrigateError) as caught:
            await client.events_since(time.time() - 60)

        # Then it stops reading and says so
        assert caught.value.reason == "too_large"


async def test_reviews_since_needs_frigate_0_14(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    async with FakeFrigate("0.13.2-6476f8a") as server:
        # Given a Frigate from before review items
        client = FrigateClient(session, server.url)

        # When the client asks for review items
        with pytest.raises(FrigateError) as caught:
            await client.reviews_since(time.time() - 60)

        # Then it is a permanent error, after reading the version once
        assert (caught.value.reason, caught.value.retryable) == ("not_frigate", False)
        assert server.paths("/api/version") == ["/api/version"]


async def test_a_download_not_ready_keeps_retrying_after_a_catch_up(
    socket_enabled: None, runs: Runs, clips: tuple[Path, Path]
) -> None:
    async with FakeFrigate() as server:
        # Given an event caught up whose clip Frigate is not ready to serve at first
        await first_run(runs, server)
        record = ended(15)
        server.add_event(record["id"], clips[0], record=record, script=[NOT_READY])

        # When the source catches up
        source = await runs.start(server)
        await source.catch_up()
        await runs.idle(source)

        # Then the download retried like a live one and the clip arrived
        assert runs.store.ids == [event_clip_id(record["id"])]
        assert len(server.paths("clip.mp4")) == 2
