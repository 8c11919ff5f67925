"""ClipOutbox: hand-over from a worker thread to `on_clip`, in flight, failed, closed loop.

The worker side (`add`, `service`) runs on a real thread here, the event loop side (`flush`)
on the test's loop, as in the RTSP source.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.rtsp.outbox import ClipOutbox

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def clip(name: str) -> Clip:
    return Clip(
        clip_id=name,
        camera_id="porch",
        camera_name="Porch",
        source_type="rtsp",
        path=Path(f"/clips/{name}.mp4"),
        start_ts=START,
        end_ts=START + timedelta(seconds=5),
    )


def on_thread(action: object) -> None:
    """Run `action()` on another thread, as the camera worker does."""
    thread = threading.Thread(target=action)  # type: ignore[arg-type]
    thread.start()
    thread.join()


async def test_a_hand_over_in_flight_is_waited_for_then_counted() -> None:
    # Given an outbox whose on_clip blocks until released
    failures: list[str] = []
    outbox = ClipOutbox(camera_name="Porch", handover_timeout_s=5.0, on_failure=failures.append)
    release = asyncio.Event()
    delivered: list[str] = []

    async def on_clip(c: Clip) -> None:
        await release.wait()
        delivered.append(c.clip_id)

    outbox.bind(asyncio.get_running_loop(), on_clip)
    outbox.add([clip("a")])

    # When the worker sends it, then services again while it is still on its way
    on_thread(lambda: outbox.service(0.0))
    await asyncio.sleep(0.05)
    on_thread(lambda: outbox.service(1.0))

    # Then it is still pending (not sent twice, not counted)
    assert len(outbox) == 1 and outbox.clips_emitted == 0

    # When it is released and the worker services again
    release.set()
    await asyncio.sleep(0.05)
    on_thread(lambda: outbox.service(2.0))

    # Then it was delivered once and counted
    assert delivered == ["a"] and outbox.clips_emitted == 1 and len(outbox) == 0
    assert failures == []


async def test_a_closed_loop_is_a_failed_hand_over_retried_later() -> None:
    # Given an outbox bound to a loop that has been closed
    failures: list[str] = []
    outbox = ClipOutbox(camera_name="Porch", handover_timeout_s=5.0, on_failure=failures.append)
    closed = asyncio.new_event_loop()
    closed.close()
    delivered: list[Clip] = []

    async def on_clip(c: Clip) -> None:
        delivered.append(c)

    outbox.bind(closed, on_clip)
    outbox.add([clip("b")])

    # When the worker services it twice, the second time before the retry delay
    on_thread(lambda: outbox.service(10.0))
    on_thread(lambda: outbox.service(10.5))

    # Then one failure is reported (the retry waits 1 s) and the clip is kept
    assert len(failures) == 1 and "could not hand over clip b" in failures[0]
    assert len(outbox) == 1 and outbox.clips_emitted == 0

    # When the source stops, flush delivers it on the running loop
    outbox.bind(asyncio.get_running_loop(), on_clip)
    await outbox.flush()

    # Then it is handed over and counted
    assert [c.clip_id for c in delivered] == ["b"]
    assert outbox.clips_emitted == 1 and len(outbox) == 0


async def test_flush_retries_a_hand_over_that_failed_on_its_way() -> None:
    # Given an on_clip that fails its first attempt, sent by the worker
    failures: list[str] = []
    outbox = ClipOutbox(camera_name="Porch", handover_timeout_s=5.0, on_failure=failures.append)
    attempts: list[str] = []

    async def on_clip(c: Clip) -> None:
        attempts.append(c.clip_id)
        if len(attempts) == 1:
            raise RuntimeError("store is busy")

    outbox.bind(asyncio.get_running_loop(), on_clip)
    outbox.add([clip("c")])
    on_thread(lambda: outbox.service(0.0))

    # When the source stops before the worker collected the failed attempt
    await outbox.flush()

    # Then flush retried it once, successfully
    assert attempts == ["c", "c"]
    assert outbox.clips_emitted == 1 and len(outbox) == 0


async def test_flush_gives_up_on_a_clip_that_still_fails() -> None:
    # Given an on_clip that always fails, and a queued clip never sent
    outbox = ClipOutbox(camera_name="Porch", handover_timeout_s=5.0, on_failure=lambda _: None)
    attempts: list[str] = []

    async def on_clip(c: Clip) -> None:
        attempts.append(c.clip_id)
        raise RuntimeError("store is gone")

    outbox.bind(asyncio.get_running_loop(), on_clip)
    outbox.add([clip("d")])

    # When the source stops
    await outbox.flush()

    # Then it was tried once, is not counted, and leaves the outbox (the file stays on disk)
    assert attempts == ["d"]
    assert outbox.clips_emitted == 0 and len(outbox) == 0
