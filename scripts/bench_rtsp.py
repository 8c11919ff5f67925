"""Benchmark the RTSP camera source: CPU and memory per camera.

Generates H.264 files with PyAV (15 fps, a keyframe every 2 s, sensor-like noise at camera
bitrates: a 640x360 sub stream at 0.8 Mbps and a 1080p main stream at 4 Mbps), serves them with
GStreamer's RTSP server (tests/core/rtsp_server.py, run by the system python) on 127.0.0.1 and
runs the real `RtspSource` against them. Each scenario runs in its own child process:

- `detect`: motion detection at 5 fps (320 px wide) on a 640x360 stream that is also the
  record stream, with a still scene: decode + motion + pre-roll buffer, no recording.
- `idle-1080p`: a camera with a 1080p main stream (pre-roll buffer full, not recording) and
  detection on its 640x360 sub stream, still scene.
- `record-1080p`: the same camera recording all the time: motion at the start and a post-roll
  longer than the run, so the 1080p stream is remuxed into MP4 clips throughout.
- `detect-1080p` (with `--all`): detection on the 1080p stream itself (a camera without a sub
  stream: every frame must be decoded at 1080p).

CPU is the worker thread's own CPU time (`time.thread_time()`, read by the worker; PyAV and
FFmpeg run in that thread) over the wall time of the measurement window, in percent of one
core, per camera; the whole process's CPU is shown too. Memory is the process RSS after the
window minus the RSS before the sources started (Python, numpy and PyAV already loaded), per
camera. The window starts after a warm-up that fills the pre-roll buffer.

    .venvs/oldest/bin/python scripts/bench_rtsp.py                 # 30 s per scenario, 1 camera
    .venvs/oldest/bin/python scripts/bench_rtsp.py --seconds 60 --cameras 2 --all

The integration's core package is loaded without Home Assistant.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import import_core  # noqa: E402 - after the path setup

WARMUP_S = 8.0
SCENARIOS = ("detect", "idle-1080p", "record-1080p")
TARGETS = {
    "detect": "<= 3 % CPU (floor ~1 %)",
    "idle-1080p": "-",
    "record-1080p": "recording share <= 2 % CPU",
    "detect-1080p": "-",
}


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------------- media


def make_media(folder: Path, seconds: float) -> dict[str, Path]:
    """The served files (kept in `folder` and reused when they are long enough)."""
    video = importlib.import_module("tests.core.video")
    length = seconds + WARMUP_S + 10
    # name: (width, height, bit rate, moving). Still scenes show a static object; moving ones
    # show motion from 2 s to 6 s, then stay still (recording goes on through the post-roll).
    files = {
        "sub_still": (640, 360, 800_000, False),
        "main_still": (1920, 1080, 4_000_000, False),
        "sub_motion": (640, 360, 800_000, True),
        "main_motion": (1920, 1080, 4_000_000, True),
    }
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for name, (width, height, bit_rate, moving) in files.items():
        path = folder / f"{name}-{length:g}s.mp4"
        paths[name] = path
        if path.exists():
            continue
        started = time.perf_counter()
        side = height // 4
        x1 = width // 10
        spec = video.ClipSpec(
            width=width,
            height=height,
            fps=15,
            seconds=length,
            gop_seconds=2.0,
            object_box=(x1, height // 3, x1 + side, height // 3 + side),
            object_speed=width / 10 if moving else 0.0,
            object_from_s=2.0 if moving else 0.0,
            object_until_s=6.0 if moving else None,
            bit_rate=bit_rate,
            noise=24,
            preset="ultrafast",
        )
        video.write_h264_clip(path, spec, atomic=True)
        print(
            f"generated {path.name} ({path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    return paths


# ------------------------------------------------------------------------------- scenario


async def run_scenario(scenario: str, urls: dict[str, str], seconds: float, cameras: int) -> dict:
    rtsp = import_core("sources.rtsp")
    output = Path(tempfile.mkdtemp(prefix="bench-rtsp-"))
    common: dict[str, Any] = {"output_dir": output, "detect_fps": 5.0, "detect_width": 320}
    if scenario == "detect":
        settings = rtsp.RtspSettings(record_url=urls["sub_still"], **common)
    elif scenario == "idle-1080p":
        settings = rtsp.RtspSettings(
            record_url=urls["main_still"], detect_url=urls["sub_still"], **common
        )
    elif scenario == "record-1080p":
        settings = rtsp.RtspSettings(
            record_url=urls["main_motion"],
            detect_url=urls["sub_motion"],
            post_roll_s=seconds + WARMUP_S + 60,
            **common,
        )
    elif scenario == "detect-1080p":
        settings = rtsp.RtspSettings(record_url=urls["main_still"], **common)
    else:
        raise SystemExit(f"unknown scenario {scenario}")

    clips: list[Any] = []

    async def on_clip(clip: Any) -> None:
        clips.append(clip)

    rss_before = _rss_mb()
    sources = [
        rtsp.RtspSource(camera_id=f"bench{i}", camera_name=f"Bench {i}", settings=settings)
        for i in range(cameras)
    ]
    for source in sources:
        await source.start(on_clip)
    await asyncio.sleep(WARMUP_S)
    if not all(s.connected for s in sources):
        raise SystemExit(f"{scenario}: not connected: {[s.last_error for s in sources]}")
    cpu0 = [s.worker_cpu_s for s in sources]
    wall0, process0 = time.monotonic(), time.process_time()
    await asyncio.sleep(seconds)
    cpu1 = [s.worker_cpu_s for s in sources]
    wall, process = time.monotonic() - wall0, time.process_time() - process0
    rss_after = _rss_mb()
    diagnostics = [s.diagnostics() for s in sources]
    for source in sources:
        await source.stop()
    return {
        "scenario": scenario,
        "cameras": cameras,
        "seconds": round(wall, 1),
        "worker_cpu_pct": [round((b - a) / wall * 100, 2) for a, b in zip(cpu0, cpu1, strict=True)],
        "process_cpu_pct_per_camera": round(process / wall * 100 / cameras, 2),
        "rss_delta_mb_per_camera": round((rss_after - rss_before) / cameras, 1),
        "pre_roll_buffer_mb": round(diagnostics[0]["pre_roll_buffer_bytes"] / 1e6, 2),
        "pre_roll_buffer_s": diagnostics[0]["pre_roll_buffer_s"],
        "recording": diagnostics[0]["recording"],
        "frames_analyzed": diagnostics[0]["frames_analyzed"],
        "errors": [d["last_error"] for d in diagnostics if d["last_error"]],
        "clips": len(clips),
    }


# ---------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window (30)")
    parser.add_argument("--cameras", type=int, default=1, help="cameras per scenario (1)")
    parser.add_argument("--all", action="store_true", help="also detect on the 1080p stream")
    parser.add_argument("--media-dir", type=Path, help="generate/reuse the served files here")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # child process: one scenario
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:
        result = asyncio.run(
            run_scenario(args.run, json.loads(args.urls), args.seconds, args.cameras)
        )
        print("RESULT " + json.dumps(result), flush=True)
        return

    fixture = importlib.import_module("tests.core.rtsp_fixture")
    with tempfile.TemporaryDirectory(prefix="bench-rtsp-media-") as scratch:
        media = make_media(args.media_dir or Path(scratch), args.seconds)
        server = fixture.RtspServer(files={f"/{name}": path for name, path in media.items()})
        server.start()
        try:
            urls = {name: server.url(f"/{name}") for name in media}
            scenarios = SCENARIOS + (("detect-1080p",) if args.all else ())
            results = []
            for scenario in scenarios:
                print(f"running {scenario} ({args.seconds:g} s + {WARMUP_S:g} s warm-up)...")
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--run",
                        scenario,
                        "--urls",
                        json.dumps(urls),
                        "--seconds",
                        str(args.seconds),
                        "--cameras",
                        str(args.cameras),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    print(done.stdout, done.stderr, file=sys.stderr)
                    raise SystemExit(f"{scenario} failed")
                results.append(json.loads(line[len("RESULT ") :]))
        finally:
            server.stop()

    print()
    header = (
        f"{'scenario':<14} {'worker CPU %/cam':>16} {'process CPU %/cam':>17} "
        f"{'RSS MB/cam':>10} {'pre-roll MB':>11} {'recording':>9} {'target':<28}"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        cpu = sum(row["worker_cpu_pct"]) / len(row["worker_cpu_pct"])
        print(
            f"{row['scenario']:<14} {cpu:16.2f} {row['process_cpu_pct_per_camera']:17.2f} "
            f"{row['rss_delta_mb_per_camera']:10.1f} {row['pre_roll_buffer_mb']:11.2f} "
            f"{('yes' if row['recording'] else 'no'):>9} {TARGETS[row['scenario']]:<28}"
        )
        if row["errors"]:
            print(f"    errors: {row['errors']}")
    cpu = {
        row["scenario"]: sum(row["worker_cpu_pct"]) / len(row["worker_cpu_pct"]) for row in results
    }
    if {"detect", "idle-1080p", "record-1080p"} <= cpu.keys():
        print(
            "\n1080p recording side, per camera (worker CPU, % of one core):\n"
            f"  receive 1080p + pre-roll buffer (idle-1080p - detect):  "
            f"{cpu['idle-1080p'] - cpu['detect']:.2f}\n"
            f"  remux into MP4 (record-1080p - idle-1080p):             "
            f"{cpu['record-1080p'] - cpu['idle-1080p']:.2f}\n"
            f"  recording total (record-1080p - detect), target <= 2:   "
            f"{cpu['record-1080p'] - cpu['detect']:.2f}"
        )


if __name__ == "__main__":
    main()
