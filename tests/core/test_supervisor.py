"""Supervised long-lived tasks: a loop that dies is restarted with backoff and reported."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.runner import Backoff
from custom_components.homesec_nvr.core.sources import local_folder
from custom_components.homesec_nvr.core.sources.local_folder import LocalFolderSource
from custom_components.homesec_nvr.core.supervisor import SupervisedTask, TaskSupervisor

from .video import write_h264_clip

FAST = Backoff(base_delay_s=0.01, max_delay_s=0.05)


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_a_loop_that_dies_is_restarted_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a loop that dies of a bug on its first two runs, then keeps running
    runs = 0
    keep_running = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise KeyError(f"bug {runs}")
        await keep_running.wait()
        await asyncio.Event().wait()

    changes: list[bool] = []
    task = SupervisedTask(
        "watcher", loop, backoff=FAST, on_change=lambda t: changes.append(t.failing)
    )

    # When it runs under supervision
    task.start()
    await _until(lambda: runs == 3)

    # Then it was restarted twice, the failure is recorded and logged with its traceback
    assert task.restarts == 2
    assert task.failing is True
    assert task.last_failure == "KeyError: 'bug 2'"
    assert task.last_failure_at is not None
    assert changes == [True, True]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "HomeSec task watcher died (KeyError: 'bug 1'); restart 1" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert task.health()["running"] is True
    await task.stop()
    assert task.running is False


async def test_a_restarted_loop_that_runs_long_enough_is_healthy_again() -> None:
    # Given a loop that dies once, with a short stable time
    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("once")
        await asyncio.Event().wait()

    changes: list[bool] = []
    task = SupervisedTask(
        "w", loop, backoff=FAST, stable_after_s=0.05, on_change=lambda t: changes.append(t.failing)
    )

    # When it is restarted and then keeps running past the stable time
    task.start()
    await _until(lambda: runs == 2)
    await _until(lambda: not task.failing)

    # Then it is no longer failing (and its restarts stay counted)
    assert changes == [True, False]
    assert task.restarts == 1
    await task.stop()


async def test_a_loop_that_returns_counts_as_a_failure_and_is_restarted() -> None:
    # Given a loop that returns (a long-lived loop never should)
    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs > 1:
            await asyncio.Event().wait()

    task = SupervisedTask("w", loop, backoff=FAST)

    # When it runs
    task.start()
    await _until(lambda: runs == 2)

    # Then its return was reported and it was started again
    assert task.last_failure == "ended unexpectedly"
    assert task.restarts == 1
    await task.stop()


async def test_the_backoff_grows_while_the_loop_keeps_dying_fast() -> None:
    # Given a loop that always dies at once, and a backoff that doubles
    starts: list[float] = []
    loop_time = asyncio.get_running_loop().time

    async def loop() -> None:
        starts.append(loop_time())
        raise ValueError("always")

    task = SupervisedTask("w", loop, backoff=Backoff(base_delay_s=0.02, max_delay_s=1.0))

    # When it dies four times
    task.start()
    await _until(lambda: len(starts) == 4)
    await task.stop()

    # Then each pause is about twice the one before (never a busy restart loop)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.02
    assert gaps[1] >= 0.04
    assert gaps[2] >= 0.08


async def test_stopping_during_the_backoff_cancels_the_restart() -> None:
    # Given a loop that died and waits a long backoff
    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("down")

    task = SupervisedTask("w", loop, backoff=Backoff(base_delay_s=30.0))
    task.start()
    await _until(lambda: task.restarts == 1)

    # When it is stopped
    await task.stop()
    await asyncio.sleep(0.05)

    # Then it never runs again, and a cancel is not a failure
    assert runs == 1
    assert task.restarts == 1
    assert task.running is False


async def test_the_supervisor_reports_its_failing_tasks_and_stops_them_all() -> None:
    # Given a supervisor with one healthy and one failing task
    supervisor = TaskSupervisor(backoff=Backoff(base_delay_s=30.0))

    async def healthy() -> None:
        await asyncio.Event().wait()

    async def broken() -> None:
        raise OSError("disk gone")

    ok = supervisor.start("ok", healthy)
    bad = supervisor.start("bad", broken)
    await _until(lambda: bad.restarts == 1)

    # Then only the failing one is reported, with the combined restart count
    assert supervisor.failing == [bad]
    assert supervisor.restarts == 1

    # When everything stops
    await supervisor.stop_all()

    # Then no task runs and none is left registered
    assert not ok.running
    assert not bad.running
    assert supervisor.tasks == {}


async def test_a_folder_watcher_that_dies_of_a_bug_is_restarted_and_takes_later_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a watched folder whose scan dies of an unexpected error three times
    folder = tmp_path / "in"
    folder.mkdir()
    real_scan = local_folder.scan_folder
    failures = 0

    def scan(path: Path, extensions: frozenset[str]) -> dict[str, tuple[int, int]]:
        nonlocal failures
        if failures < 3:
            failures += 1
            raise TypeError("firmware wrote something odd")
        return real_scan(path, extensions)

    monkeypatch.setattr(local_folder, "scan_folder", scan)
    supervisor = TaskSupervisor(backoff=FAST, stable_after_s=0.2)
    source = LocalFolderSource(
        camera_id="cam",
        camera_name="Garden",
        folder=folder,
        poll_interval_s=0.02,
        stable_time_s=0.05,
        supervisor=supervisor,
    )
    clips: list[Clip] = []

    async def on_clip(clip: Clip) -> None:
        clips.append(clip)

    # When it starts and a clip is written after the crashes
    await source.start(on_clip)
    await _until(lambda: failures == 3)
    assert source.watcher_failing is True
    await asyncio.to_thread(write_h264_clip, folder / "a.mp4", atomic=True)
    await _until(lambda: len(clips) == 1)
    await _until(lambda: not source.watcher_failing)

    # Then the watcher was restarted three times, reported, and still took the clip
    assert source.diagnostics()["watcher"]["restarts"] == 3
    assert clips[0].path == folder / "a.mp4"
    assert "HomeSec task homesec folder watcher Garden died (TypeError" in caplog.text
    await source.stop()
    assert supervisor.tasks == {}


async def test_an_expected_failure_is_logged_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a loop that cannot start for an expected reason (its port is taken)
    from custom_components.homesec_nvr.core.interfaces import PipelineError

    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise PipelineError("cannot listen on 0.0.0.0:2121: address already in use")
        await asyncio.Event().wait()

    task = SupervisedTask("ftp server", loop, backoff=FAST, on_change=lambda _t: None)

    # When it runs under supervision
    task.start()
    await _until(lambda: runs == 2)

    # Then the failure is logged with its reason and no traceback, and the task is restarted
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "address already in use" in error.getMessage()
    assert error.exc_info is None
    assert task.restarts == 1
    await task.stop()
