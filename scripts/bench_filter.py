"""Benchmark the ONNX object filter on synthetic H.264 clips.

Generates 720p and 1080p clips (15 fps, 20 s, keyframe every 2 s, a moving object, sensor-like
noise at camera bitrates) with PyAV, runs the real filter (`OnnxObjectFilter.detect`, worker
threads and all) with the model given on the command line, and prints per clip: wall ms, CPU ms,
CPU/wall (CPU time of the whole process over wall time), seconds of video per wall second, frames
sampled, frames decoded, ms per inference and the process's peak RSS. It also runs the early-exit
case with a model built here that fires on the first frame.

Then the integration's defaults (`const.py`: a sample every 1 s, 30 frames at most, early exit on
persons) on clips whose keyframe interval is longer than the sample interval (1080p and 720p,
a keyframe every 4 s) and shorter (1080p, every 1 s). The random-weight models find nothing, so
those clips are scanned to their end; `--defaults-only` runs just this part.

    .venvs/oldest/bin/python scripts/bench_filter.py ../shared/models/yolo11n-384x640-random.onnx

The filter's core package is loaded without Home Assistant and the clips are generated in a
child process, so the RSS figures are the filter's own (with Python, numpy, PyAV). Clips are
kept in --clips-dir when given (default: a temporary directory, deleted at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib
import multiprocessing
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import import_core  # noqa: E402 - after the path setup

onnx_filter = import_core("filters.onnx")
const = importlib.import_module("custom_components.homesec_nvr.const")
models = importlib.import_module("custom_components.homesec_nvr.core.models")
video = importlib.import_module("tests.core.video")

CLIPS = {
    "720p": {"width": 1280, "height": 720, "bit_rate": 2_000_000},
    "1080p": {"width": 1920, "height": 1080, "bit_rate": 4_000_000},
}
FPS = 15
# Keyframe interval (s) of the main clips.
GOP_S = 2.0
# The clips scanned at the defaults: (size, keyframe interval in s).
DEFAULTS_CLIPS = {
    "1080p GOP 4 s": ("1080p", 4.0),
    "720p GOP 4 s": ("720p", 4.0),
    "1080p GOP 1 s": ("1080p", 1.0),
}


@dataclass
class Row:
    case: str
    wall_ms: float
    cpu_ms: float
    video_s: float
    frames: int
    decoded: int
    inference_ms: float
    mode: str
    rss_mb: float

    @property
    def speed(self) -> float:
        return self.video_s / (self.wall_ms / 1000)


def make_clips(folder: Path, seconds: float) -> dict[str, Path]:
    """The clips by name: the main ones ("720p", "1080p") and those of DEFAULTS_CLIPS."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {name: (name, GOP_S) for name in CLIPS} | DEFAULTS_CLIPS
    paths = {}
    for key, (name, gop_s) in wanted.items():
        size = CLIPS[name]
        path = folder / f"bench-{name}-{seconds:g}s-gop{gop_s:g}.mp4"
        if not path.exists():
            started = time.perf_counter()
            width, height = size["width"], size["height"]
            spec = video.ClipSpec(
                width=width,
                height=height,
                fps=FPS,
                seconds=seconds,
                gop_seconds=gop_s,
                object_box=(0, height // 3, width // 10, height // 3 + height // 3),
                object_speed=width * 0.9 / seconds,
                bit_rate=size["bit_rate"],
                noise=48,
                preset="veryfast",
            )
            video.write_h264_clip(path, spec, atomic=True)
            print(
                f"generated {path.name} ({path.stat().st_size / 1e6:.1f} MB) "
                f"in {time.perf_counter() - started:.1f} s"
            )
        paths[key] = path
    return paths


def first_frame_model(path: Path, height: int, width: int) -> Path:
    """A model that reports a confident person on every frame (so on the first one)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = np.zeros((1, 84, 64), dtype=np.float32)
    out[0, :4, 0] = (width / 2, height / 2, width / 4, height / 2)
    out[0, 4, 0] = 0.9
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["detections", "nothing"], ["output0"]),
        ],
        "first_frame",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out.shape))],
        initializer=[
            numpy_helper.from_array(out, "detections"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def clip_for(path: Path, seconds: float) -> Any:
    end = datetime.now(UTC)
    return models.Clip(
        clip_id=path.stem,
        camera_id="bench",
        camera_name="Bench",
        source_type="bench",
        path=path,
        start_ts=end - timedelta(seconds=seconds),
        end_ts=end,
    )


async def run_case(case: str, settings: Any, clip_path: Path, seconds: float, repeat: int) -> Row:
    object_filter = onnx_filter.OnnxObjectFilter(settings)
    try:
        await asyncio.get_running_loop().run_in_executor(None, object_filter.preload)
        rows = []
        for _ in range(repeat):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            result = await object_filter.detect(clip_for(clip_path, seconds))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            stats = object_filter.last_scan
            rows.append(
                Row(
                    case=case,
                    wall_ms=wall * 1000,
                    cpu_ms=cpu * 1000,
                    video_s=seconds,
                    frames=result.frames_sampled,
                    decoded=stats.frames_decoded,
                    inference_ms=stats.inference_ms / max(1, stats.frames_sampled),
                    mode=stats.sampling_mode or "-",
                    rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                )
            )
    finally:
        await object_filter.close()
    # The median run by wall time (the first run pays for cold caches).
    return sorted(rows, key=lambda r: r.wall_ms)[len(rows) // 2]


def print_rows(rows: list[Row]) -> None:
    header = (
        f"{'case':<34} {'wall ms':>8} {'CPU ms':>8} {'CPU/wall':>8} {'video s/s':>9} "
        f"{'frames':>6} {'decoded':>7} {'ms/inf':>7} {'sampling':>17} {'peak RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.case:<34} {row.wall_ms:8.0f} {row.cpu_ms:8.0f} "
            f"{row.cpu_ms / row.wall_ms:8.2f} {row.speed:9.1f} {row.frames:6d} "
            f"{row.decoded:7d} {row.inference_ms:7.1f} {row.mode:>17} {row.rss_mb:11.0f}"
        )


def defaults_settings(model: Path, sequential: bool) -> Any:
    """The filter as the integration builds it when nothing is changed (settings.py)."""
    return onnx_filter.OnnxFilterSettings(
        model_path=model,
        classes=frozenset(const.DEFAULT_FILTER_CLASSES) | {"person"},
        min_confidence=const.DEFAULT_FILTER_MIN_CONFIDENCE,
        min_box_height=const.DEFAULT_FILTER_MIN_BOX_HEIGHT,
        min_hits=const.DEFAULT_FILTER_MIN_HITS,
        sample_interval_s=const.DEFAULT_FILTER_SAMPLE_INTERVAL_S,
        max_frames=const.DEFAULT_FILTER_MAX_FRAMES,
        early_exit=True,
        trigger_classes=frozenset({"person"}),
        parallel_decode=not sequential,
    )


async def main_cases(args: argparse.Namespace, clips: dict[str, Path], info: Any) -> list[Row]:
    """The main clips at --interval, the optional every-1-s case, and the early exit."""
    base = onnx_filter.OnnxFilterSettings(
        model_path=args.model,
        classes=frozenset({"person", "car", "truck", "bus", "motorcycle", "bicycle"}),
        min_confidence=0.5,
        sample_interval_s=args.interval,
        max_frames=args.max_frames,
        early_exit=True,
        trigger_classes=frozenset({"person"}),
        intra_op_threads=args.threads,
        parallel_decode=not args.sequential,
    )
    print(
        f"main clips (keyframe every {GOP_S:g} s): intra-op threads "
        f"{base.resolved_intra_op_threads}, {'sequential' if args.sequential else 'parallel'} "
        f"decode, interval {args.interval:g} s\n"
    )
    rows = []
    for name in CLIPS:
        rows.append(
            await run_case(f"{name} full scan", base, clips[name], args.seconds, args.repeat)
        )
    if args.timestamps:
        every_second = onnx_filter.OnnxFilterSettings(**{**base.__dict__, "sample_interval_s": 1.0})
        rows.append(
            await run_case(
                "1080p every 1 s", every_second, clips["1080p"], args.seconds, args.repeat
            )
        )
    with tempfile.TemporaryDirectory(prefix="homesec-bench-model-") as tmp:
        early_model = first_frame_model(
            Path(tmp) / "first-frame.onnx", info.input_height, info.input_width
        )
        early = onnx_filter.OnnxFilterSettings(**{**base.__dict__, "model_path": early_model})
        rows.append(
            await run_case(
                "1080p early exit (first frame)", early, clips["1080p"], args.seconds, args.repeat
            )
        )
    return rows


def verdict(ok: bool, applies: bool = True) -> str:
    return ("ok" if ok else "MISSED") if applies else "(other model)"


def print_main_targets(rows: list[Row], model_name: str) -> None:
    full = next(r for r in rows if r.case == "1080p full scan")
    print(
        f"  1080p full scan wall {full.wall_ms:.0f} ms (<= 700 ms with yolo11n-384x640): "
        f"{verdict(full.wall_ms <= 700, 'yolo11n-384x640' in model_name)}"
    )
    slowest = min(r.speed for r in rows if "full scan" in r.case)
    print(
        f"  video s per wall s {slowest:.1f} (>= 20 with yolov8n-640): "
        f"{verdict(slowest >= 20, 'yolov8n-640' in model_name)}"
    )
    early_row = next(r for r in rows if "early exit" in r.case)
    print(
        f"  early exit {early_row.wall_ms:.0f} ms (<= 150 ms): {verdict(early_row.wall_ms <= 150)}"
    )
    for label, selected in (
        ("full scans", [r for r in rows if "full scan" in r.case]),
        ("early exit", [early_row]),
        ("every 1 s", [r for r in rows if "every 1 s" in r.case]),
    ):
        if selected:
            worst = max(r.cpu_ms / r.wall_ms for r in selected)
            print(f"  CPU/wall, {label}: {worst:.2f} (<= 1.3): {verdict(worst <= 1.3)}")


def print_defaults_targets(rows: list[Row], fps: int, seconds: float) -> None:
    total = round(fps * seconds)
    for row in rows:
        ratio = row.cpu_ms / row.wall_ms
        print(
            f"  {row.case}: CPU/wall {ratio:.2f} (<= 1.3): {verdict(ratio <= 1.3)}; "
            f"{row.decoded} of {total} frames decoded "
            f"(fewer than all: {verdict(row.decoded < total)})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="YOLOv8/YOLO11 detection export (.onnx)")
    parser.add_argument("--clips-dir", type=Path, help="generate/reuse clips here")
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (20)")
    parser.add_argument("--interval", type=float, default=2.0, help="sample interval s (2)")
    parser.add_argument("--max-frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--sequential", action="store_true", help="decode in the same thread")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument(
        "--timestamps", action="store_true", help="also sample 1080p every 1 s (rarer keyframes)"
    )
    parser.add_argument(
        "--defaults-only", action="store_true", help="only the clips scanned at the defaults"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="homesec-bench-") as tmp:
        # Generated in a child process, so the peak RSS below is the filter's alone.
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            clips = pool.submit(make_clips, args.clips_dir or Path(tmp), args.seconds).result()
        baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        info = onnx_filter.inspect_model(args.model)
        print(
            f"model {info.name}: input {info.input_width}x{info.input_height}, "
            f"{info.num_classes} classes; {args.seconds:g} s clips at {FPS} fps, median of "
            f"{args.repeat} runs; peak RSS before the filter: {baseline_mb:.0f} MB\n"
        )
        main_rows = [] if args.defaults_only else await main_cases(args, clips, info)
        if main_rows:
            print_rows(main_rows)
            print("\ntargets (2-core machine; model-specific ones apply to that model only):")
            print_main_targets(main_rows, info.name)
            print()

        defaults = defaults_settings(args.model, args.sequential)
        print(
            f"at the defaults: a sample every {defaults.sample_interval_s:g} s, at most "
            f"{defaults.max_frames} frames, early exit on persons, intra-op threads "
            f"{defaults.resolved_intra_op_threads}, "
            f"{'sequential' if args.sequential else 'parallel'} decode\n"
        )
        default_rows = [
            await run_case(case, defaults, clips[case], args.seconds, args.repeat)
            for case in DEFAULTS_CLIPS
        ]
        print_rows(default_rows)
        print("\ntargets at the defaults:")
        print_defaults_targets(default_rows, fps=FPS, seconds=args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
