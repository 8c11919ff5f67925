"""Odd files through every clip reader: the corpus of `bad_clips.py` against the duration probe,
the snapshot keyframe, frame sampling, the ONNX filter, the vision model's frames, the Frigate
clip download and the watched folder.

The rule: an odd but valid clip (a GBK title, say) is processed normally; a bad one ends in a
typed error (PermanentError, or FrigateError for a download) whose message names the file;
nothing raises another exception type, hangs, stops a watcher or leaves a `.part` behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import re
import shutil
import threading
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from custom_components.homesec_nvr.core import media
from custom_components.homesec_nvr.core.filters.onnx import (
    OnnxFilterSettings,
    OnnxObjectFilter,
    SessionCache,
)
from custom_components.homesec_nvr.core.filters.sampling import FrameSampler
from custom_components.homesec_nvr.core.interfaces import PermanentError
from custom_components.homesec_nvr.core.media import keyframe_jpeg, probe_duration
from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.frigate_client import FrigateClient, FrigateError
from custom_components.homesec_nvr.core.sources.local_folder import LocalFolderSource
from custom_components.homesec_nvr.core.vlm.frames import prepare_frames

from ..video import write_clip
from .bad_clips import CORPUS_NAMES, Expect, GrowingClip, OddClip, build_corpus
from .frigate_server import FakeClock, FakeFrigate
from .onnx_models import constant_model, detection_tensor

CORE = Path(media.__file__).parent
# A reader that has not answered after this long is hanging.
HANG_S = 60.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OddClip]:
    """The corpus, written once for the module."""
    return build_corpus(tmp_path_factory.mktemp("odd-clips"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ONNX detector that never finds anything (so every clip is scanned to its end)."""
    folder = tmp_path_factory.mktemp("odd-clip-model")
    return constant_model(folder / "nothing.onnx", detection_tensor([], 80, num_anchors=4))


def _clip_of(path: Path) -> Clip:
    end = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    return Clip(
        clip_id=path.stem,
        camera_id="front",
        camera_name="Front",
        source_type="test",
        path=path,
        start_ts=end - timedelta(seconds=2),
        end_ts=end,
    )


def _within[T](seconds: float, func: Callable[[], T]) -> T:
    """Run a blocking reader in a thread; fail the test if it does not answer in time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(func)
        try:
            return future.result(timeout=seconds)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"reader still busy after {seconds} s (hang)")


def _outcome[T](func: Callable[[], T]) -> T | PermanentError:
    """The reader's result, or its PermanentError; any other exception fails the test."""
    try:
        return _within(HANG_S, func)
    except PermanentError as err:
        return err


def _check(clip: OddClip, outcome: object) -> None:
    """GOOD clips succeed, BAD clips end in the typed error naming the file, EITHER clips do
    either."""
    if isinstance(outcome, PermanentError):
        assert clip.path.name in str(outcome), f"error does not name the file: {outcome}"
    if clip.expect is Expect.GOOD:
        assert not isinstance(outcome, PermanentError), f"{clip.name} rejected: {outcome}"
    elif clip.expect is Expect.BAD:
        assert isinstance(outcome, PermanentError), f"{clip.name} accepted: {outcome!r}"


# -- the corpus itself ------------------------------------------------------------------------


def test_the_corpus_holds_every_kind_of_odd_file(corpus: dict[str, OddClip]) -> None:
    # Given the generated corpus
    # When its files are looked at
    titles = corpus["gbk-title"].path.read_bytes()
    sizes = {name: clip.path.stat().st_size for name, clip in corpus.items()}

    # Then every entry exists, the GBK title really is not UTF-8, and all three outcomes occur
    assert tuple(corpus) == CORPUS_NAMES
    assert "前门".encode("gbk") in titles
    with pytest.raises(UnicodeDecodeError):
        "前门".encode("gbk").decode("utf-8")
    assert sizes["zero-bytes"] == 0
    assert sizes["huge-metadata"] > 1_000_000
    assert sizes["truncated-at-0.001"] < sizes["truncated-at-0.5"] < sizes["plain"]
    assert {clip.expect for clip in corpus.values()} == set(Expect)


def test_every_reading_av_open_in_core_goes_through_open_input() -> None:
    # Given the core package's sources
    calls = []
    for path in CORE.rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r"\bav\.open\(", line) and not line.lstrip().startswith(("#", '"')):
                calls.append((path.relative_to(CORE).as_posix(), line.strip()))

    # When the av.open calls are listed
    readers = [(where, line) for where, line in calls if 'mode="w"' not in line]

    # Then the only one that reads is inside media.open_input (writers open with mode="w")
    assert readers == [
        ("media.py", 'container = av.open(str(source), mode="r", **_TOLERANT_METADATA, **options)')
    ]


# -- probe_duration and keyframe_jpeg ----------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_probe_duration_never_raises(corpus: dict[str, OddClip], name: str) -> None:
    # Given a corpus file
    clip = corpus[name]

    # When its duration is probed
    duration = _within(HANG_S, lambda: probe_duration(clip.path))

    # Then a good clip tells its length, and nothing raises: unreadable files give None
    if clip.seconds is not None:
        assert duration == pytest.approx(clip.seconds, abs=0.1)
    elif clip.expect is Expect.GOOD:
        assert duration is not None and duration > 0
    assert duration is None or duration >= 0


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_keyframe_jpeg_gives_a_snapshot_or_a_permanent_error(
    corpus: dict[str, OddClip], name: str
) -> None:
    # Given a corpus file
    clip = corpus[name]

    # When the snapshot keyframe is taken (what the `none` filter sends with the alert)
    outcome = _outcome(lambda: keyframe_jpeg(clip.path, max_side=64))

    # Then a good clip gives a real JPEG within the size asked for; a bad one a typed error
    _check(clip, outcome)
    if isinstance(outcome, bytes):
        image = Image.open(io.BytesIO(outcome))
        assert image.format == "JPEG"
        assert max(image.size) <= 64


# -- frame sampling, the ONNX filter, the vision model's frames ---------------------------------


@pytest.mark.parametrize(
    ("interval_s", "max_gap_s"),
    [(0.5, None), (0.05, None), (0.05, 0.5)],
    ids=["keyframes", "timestamps", "long_gop"],
)
@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_frame_sampling_samples_or_raises_a_permanent_error(
    corpus: dict[str, OddClip], name: str, interval_s: float, max_gap_s: float | None
) -> None:
    # Given a corpus file
    clip = corpus[name]

    # When frames are sampled from it (keyframes only, every frame, or keyframes and the
    # frames after them that keep samples within 0.5 s of each other)
    outcome = _outcome(lambda: list(FrameSampler(clip.path, interval_s, 100, max_gap_s=max_gap_s)))

    # Then a good clip gives frames in time order over its length; a bad one a typed error
    _check(clip, outcome)
    if isinstance(outcome, list):
        times = [sample.timestamp_s for sample in outcome]
        assert times and times == sorted(times)
        if clip.seconds is not None:
            assert times[-1] == pytest.approx(clip.seconds, abs=0.6)


@pytest.mark.parametrize("parallel_decode", [True, False], ids=["parallel", "inline"])
@pytest.mark.parametrize("name", CORPUS_NAMES)
async def test_the_onnx_filter_scans_or_rejects_with_a_permanent_error(
    corpus: dict[str, OddClip], model: Path, name: str, parallel_decode: bool
) -> None:
    # Given a corpus file and an ONNX filter with a tiny real model
    clip = corpus[name]
    object_filter = OnnxObjectFilter(
        OnnxFilterSettings(
            model_path=model, sample_interval_s=0.5, parallel_decode=parallel_decode
        ),
        session_cache=SessionCache(),
    )

    # When the clip is filtered
    try:
        async with asyncio.timeout(HANG_S):
            outcome: Any = await object_filter.detect(_clip_of(clip.path))
    except PermanentError as err:
        outcome = err
    finally:
        await object_filter.close()

    # Then a good clip is scanned to its end (nothing found): its keyframe every second is
    # rarer than the 0.5 s interval, so the default sampling takes the keyframes at 0 and 1 s
    # (samples within the 4 s bound) without decoding anything else; a bad one is a typed error
    _check(clip, outcome)
    if not isinstance(outcome, PermanentError):
        assert outcome.frames_sampled >= 1
        assert outcome.detected_classes == ()
        if clip.seconds is not None:
            assert outcome.frames_sampled == 2


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_vision_model_frames_are_prepared_or_a_permanent_error(
    corpus: dict[str, OddClip], name: str
) -> None:
    # Given a corpus file
    clip = corpus[name]

    # When the frames for the vision model are prepared
    outcome = _outcome(lambda: prepare_frames(clip.path, max_frames=4, max_side=64))

    # Then a good clip gives labelled JPEG frames; a bad one a typed error
    _check(clip, outcome)
    if not isinstance(outcome, PermanentError):
        assert 1 <= len(outcome.frames) <= 4
        assert all(frame.jpeg.startswith(b"\xff\xd8") for frame in outcome.frames)
        if clip.seconds is not None:
            assert len(outcome.frames) == 4
            assert outcome.duration_s == pytest.approx(clip.seconds, abs=0.1)


@pytest.mark.timeout(120)
def test_readers_of_a_clip_still_being_written_answer_without_hanging(tmp_path: Path) -> None:
    # Given a fragmented clip that a camera is still uploading, a chunk every 10 ms
    path = tmp_path / "uploading.mp4"
    results: list[str] = []
    growing = GrowingClip(path)
    readers: dict[str, Callable[[], object]] = {
        "probe": lambda: probe_duration(path),
        "keyframe": lambda: keyframe_jpeg(path, max_side=64),
        "sampler": lambda: list(FrameSampler(path, 0.5, 100)),
        "frames": lambda: prepare_frames(path, max_frames=4, max_side=64),
    }

    # When every reader reads it again and again while it grows, and once after it is complete
    with growing:
        while not growing.done.is_set():
            for reader in readers.values():
                outcome = _outcome(reader)
                if isinstance(outcome, PermanentError):
                    results.append("error" if path.name in str(outcome) else str(outcome))
                else:
                    results.append("ok")
    final = prepare_frames(path, max_frames=4, max_side=64)

    # Then each read ended in a result or a typed error, and the finished clip reads in full
    assert len(results) >= 8
    assert set(results) <= {"ok", "error"}
    assert len(final.frames) == 4
    assert final.duration_s == pytest.approx(2.0, abs=0.1)


# -- the Frigate clip download -------------------------------------------------------------------

# Bad only once decoded: a download checks the container (it opens, has video, has a length);
# the filter then rejects what does not decode.
DECODE_LEVEL = frozenset({"huge-declared-picture"})


@pytest.fixture
async def frigate(socket_enabled: None) -> AsyncGenerator[FakeFrigate]:
    server = FakeFrigate()
    await server.start()
    yield server
    await server.close()


@pytest.mark.parametrize("name", CORPUS_NAMES)
async def test_a_frigate_download_keeps_good_clips_and_rejects_bad_ones_without_leftovers(
    corpus: dict[str, OddClip], frigate: FakeFrigate, tmp_path: Path, name: str
) -> None:
    # Given a Frigate whose event clip is the corpus file
    clip = corpus[name]
    event_id = "1718123456.123456-abc123"
    frigate.add_event(event_id, clip.path)
    dest = tmp_path / "clips" / f"frigate-{event_id}.mp4"
    clock = FakeClock()

    # When HomeSec downloads it (retrying within a short window)
    async with aiohttp.ClientSession() as session:
        client = FrigateClient(session, frigate.url, sleep=clock.sleep, clock=clock)
        try:
            async with asyncio.timeout(HANG_S):
                outcome: Any = await client.download_event_clip(
                    event_id, dest, window_s=2.0, first_delay_s=0.0, retry_delay_s=1.0
                )
        except FrigateError as err:
            outcome = err

    # Then a good clip is kept whole; a bad one is a FrigateError; never a `.part` left
    leftovers = sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []
    if clip.expect is Expect.GOOD:
        assert not isinstance(outcome, FrigateError), f"{name} rejected: {outcome}"
    if clip.expect is Expect.BAD and name not in DECODE_LEVEL:
        assert isinstance(outcome, FrigateError), f"{name} accepted: {outcome!r}"
        assert outcome.reason in ("invalid_clip", "not_ready")
    if isinstance(outcome, FrigateError):
        assert leftovers == []
    else:
        assert leftovers == [dest.name]
        assert dest.read_bytes() == clip.path.read_bytes()
        if clip.seconds is not None:
            assert outcome.duration_s == pytest.approx(clip.seconds, abs=0.1)


async def test_a_download_cancelled_while_its_clip_is_checked_leaves_no_part_file(
    corpus: dict[str, OddClip],
    frigate: FakeFrigate,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a download whose clip is being checked when Home Assistant stops
    event_id = "1718123456.123456-abc123"
    frigate.add_event(event_id, corpus["plain"].path)
    dest = tmp_path / "clips" / "clip.mp4"
    checking, release = threading.Event(), threading.Event()
    loop = asyncio.get_running_loop()
    run_in_executor = loop.run_in_executor

    def gated_run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        # The loop's own executor runs everything; the duration check waits for the test.
        if func is not probe_duration:
            return run_in_executor(executor, func, *args)

        def gated() -> Any:
            checking.set()
            release.wait(HANG_S)
            return func(*args)

        return run_in_executor(executor, gated)

    monkeypatch.setattr(loop, "run_in_executor", gated_run_in_executor)
    clock = FakeClock()
    async with aiohttp.ClientSession() as session:
        client = FrigateClient(session, frigate.url, sleep=clock.sleep, clock=clock)
        task = asyncio.create_task(client.download_event_clip(event_id, dest, first_delay_s=0))
        while not checking.is_set():
            await asyncio.sleep(0.01)

        # When the download is cancelled during the check
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    # Then neither the clip nor its temporary file is left
    assert sorted(p.name for p in dest.parent.iterdir()) == []


# -- the watched folder -------------------------------------------------------------------------


class Collector:
    def __init__(self) -> None:
        self.clips: list[Clip] = []

    async def __call__(self, clip: Clip) -> None:
        self.clips.append(clip)

    def names(self) -> set[str]:
        return {clip.path.name for clip in self.clips}

    async def wait_for(self, names: set[str], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not names <= self.names():
                await asyncio.sleep(0.05)


def _folder_source(folder: Path, stable_time_s: float = 0.2) -> LocalFolderSource:
    return LocalFolderSource(
        camera_id="cam-1",
        camera_name="Gate",
        folder=folder,
        poll_interval_s=0.05,
        stable_time_s=stable_time_s,
    )


def _folder_with_corpus(folder: Path, corpus: dict[str, OddClip]) -> Path:
    """A copy of every corpus file, and a valid clip whose file name is GBK bytes."""
    folder.mkdir()
    for clip in corpus.values():
        shutil.copy(clip.path, folder / clip.path.name)
    gbk_name = os.fsencode(folder) + b"/" + "前门".encode("gbk") + b".mp4"
    with open(gbk_name, "wb") as handle:
        handle.write(corpus["plain"].path.read_bytes())
    return folder


async def test_the_watched_folder_hands_over_every_odd_file_and_keeps_watching(
    corpus: dict[str, OddClip], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a watched folder holding the whole corpus and a file whose name is GBK bytes
    incoming = _folder_with_corpus(tmp_path / "incoming", corpus)
    collector = Collector()
    source = _folder_source(incoming)

    # When the watcher runs, and a good clip arrives after all of them
    taken = {clip.path.name for clip in corpus.values() if clip.path.stat().st_size > 0}
    await source.start(collector)
    try:
        await collector.wait_for(taken)
        write_clip(incoming / "later.mp4")
        await collector.wait_for({"later.mp4"})
        watcher = source.diagnostics()["watcher"]
        running = watcher["running"] and watcher["restarts"] == 0
    finally:
        await source.stop()

    # Then every corpus file with content was handed over once (bad ones fail in the pipeline,
    # visibly), the good ones with their duration; the empty file still waits for content; the
    # GBK-named file was skipped with a warning naming the camera; the later clip arrived
    assert running
    by_name = {clip.path.name: clip for clip in collector.clips}
    assert len(collector.clips) == len(taken) + 1
    assert set(by_name) == taken | {"later.mp4"}
    for odd in corpus.values():
        if odd.seconds is not None:
            handed = by_name[odd.path.name]
            assert handed.metadata["duration_s"] == pytest.approx(odd.seconds, abs=0.1)
    assert source.files_failed == 1
    assert source.diagnostics()["files_failed"] == 1
    assert "not valid UTF-8" in (source.last_file_error or "")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("Gate" in r.getMessage() and "UTF-8" in r.getMessage() for r in warnings)


async def test_the_watched_folder_takes_a_growing_upload_once_it_is_complete(
    tmp_path: Path,
) -> None:
    # Given a watched folder into which a camera is still uploading a clip
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    collector = Collector()
    source = _folder_source(incoming, stable_time_s=1.0)
    await source.start(collector)
    try:
        # When the upload grows for a while, then ends
        with GrowingClip(incoming / "upload.mp4") as growing:
            async with asyncio.timeout(HANG_S):
                while not growing.done.is_set():
                    assert collector.clips == []
                    await asyncio.sleep(0.05)
        await collector.wait_for({"upload.mp4"})
        await asyncio.sleep(0.3)
    finally:
        await source.stop()

    # Then it is handed over once, complete
    assert [clip.path.name for clip in collector.clips] == ["upload.mp4"]
    assert collector.clips[0].metadata["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert collector.clips[0].metadata["size_bytes"] == len(growing.data)
