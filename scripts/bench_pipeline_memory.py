"""Memory of HomeSec's own pipeline over many clips, without Home Assistant around it.

The soak benchmark measures the whole Home Assistant process (its recorder, logbook, state
machine and caches grow as well); this one separates HomeSec's part. It runs the real
`ClipPipeline` with the real SQLite store, local storage, the keyframe snapshot, the
passthrough filter, the default alert policy and a notifier, on real H.264 clips (made once
with PyAV), through a real watched-folder source that deletes each clip once stored, and
prints the process's RSS and Python's traced heap every `--report` clips, then the slope.

    .venvs/oldest/bin/python scripts/bench_pipeline_memory.py --clips 2000

No vision model is called (the analysis would be the SDK's memory, not HomeSec's).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from benchlib import import_core

alert_policy = import_core("alert_policy")
interfaces = import_core("interfaces")
media = import_core("media")
models = import_core("models")
none_filter = import_core("filters.none")
runner = import_core("runner")
local_folder = import_core("sources.local_folder")
local_storage = import_core("storage.local")
store_module = import_core("store")


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _make_clip(path: Path) -> None:
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = 160, 96
        stream.pix_fmt = "yuv420p"
        for index in range(20):
            frame = np.full((96, 160, 3), index * 10 % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


class _Listener:
    def __init__(self) -> None:
        self.finished = 0
        self.changed = asyncio.Event()

    def clip_updated(self, state: object, stage: str) -> None:
        if stage == "finished":
            self.finished += 1
            self.changed.set()

    def counters_changed(self) -> None:
        return


class _CountingNotifier(interfaces.Notifier):  # type: ignore[misc, name-defined]
    name = "count"

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, alert: object) -> None:
        self.sent += 1


async def _run(args: argparse.Namespace, work: Path) -> int:
    template = work / "template.mp4"
    _make_clip(template)
    incoming = work / "incoming"
    incoming.mkdir()
    (work / "storage").mkdir()
    store = store_module.ClipStore(work / "homesec.db")
    await store.open()
    listener = _Listener()
    notifier = _CountingNotifier()
    camera = runner.CameraPipelineSettings(
        alert=alert_policy.AlertPolicySettings(notify_on_motion=True),
        delete_source_after_store=True,
    )
    pipeline = runner.ClipPipeline(
        store=store,
        storage=local_storage.LocalStorage(work / "storage"),
        filters=lambda _cid: none_filter.PassthroughFilter(),
        vlm=None,
        policy=alert_policy.DefaultAlertPolicy(camera.alert),
        notifiers=[notifier],
        settings=runner.PipelineSettings(),
        camera_settings=lambda _cid: camera,
        snapshot=lambda clip: asyncio.to_thread(media.keyframe_jpeg, clip.path),
        listener=listener,
    )
    source = local_folder.LocalFolderSource(
        camera_id="bench",
        camera_name="Bench",
        folder=incoming,
        poll_interval_s=0.02,
        stable_time_s=0.02,
    )
    await source.start(pipeline.submit)
    tracemalloc.start()
    samples: list[tuple[int, float, float]] = []
    started = time.monotonic()
    for index in range(1, args.clips + 1):
        tmp = incoming / f".clip{index}.tmp"
        await asyncio.to_thread(shutil.copyfile, template, tmp)
        os.utime(tmp, (time.time(), time.time() - index))  # a distinct mtime per clip
        tmp.rename(incoming / f"clip{index}.mp4")
        while listener.finished < index:
            listener.changed.clear()
            await listener.changed.wait()
        if index % args.report == 0:
            gc.collect()
            traced, _peak = tracemalloc.get_traced_memory()
            samples.append((index, _rss_mb(), traced / 1e6))
            print(
                f"clips {index:6d}  RSS {samples[-1][1]:7.1f} MB  "
                f"Python heap {samples[-1][2]:6.2f} MB  "
                f"{index / (time.monotonic() - started):5.1f} clips/s",
                flush=True,
            )
    await source.stop()
    await pipeline.stop()
    await store.close()
    # The first report is the warm-up (caches, imports): the slope is over the rest.
    steady = samples[1:] if len(samples) > 2 else samples
    clips = [s[0] for s in steady]
    per_1000 = 1000.0 / (statistics.pvariance(clips) or 1.0)
    mean_clip = statistics.fmean(clips)

    def slope(values: list[float]) -> float:
        mean_value = statistics.fmean(values)
        covariance = statistics.fmean(
            (c - mean_clip) * (v - mean_value) for c, v in zip(clips, values, strict=True)
        )
        return covariance * per_1000

    print(
        f"clips {args.clips}, finished {listener.finished}, notified {notifier.sent}; "
        f"after warm-up: RSS {steady[0][1]:.1f} -> {steady[-1][1]:.1f} MB "
        f"({slope([s[1] for s in steady]):+.2f} MB per 1000 clips), Python heap "
        f"{steady[0][2]:.2f} -> {steady[-1][2]:.2f} MB "
        f"({slope([s[2] for s in steady]):+.3f} MB per 1000 clips)"
    )
    return 0 if listener.finished == notifier.sent == args.clips else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--report", type=int, default=250, help="clips between reports")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homesec-mem-"))
    try:
        return asyncio.run(_run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
