"""Benchmark what one analysis sends: a single clip, a 2-camera incident, and its clips alone.

Runs HomeSec's real OpenAI-compatible analyzer (the real openai SDK over httpx) against the
OpenAI-contract server of the tests (tests/core/openai_server.py), which records every
request. Clips are real H.264 files made with PyAV at a camera's size (default 1280x720): a
driveway clip and a front-door clip of one person walking from one to the other. Three cases:

- one clip alone (what any clip costs);
- the incident analysed once (`analyze_incident`: the frame budget shared, frames labelled by
  camera and time);
- the same two clips each analysed alone (what HomeSec did before, and what every peer does).

For each it records from the requests themselves: requests, images, their pixels, the JPEG
bytes, estimated image tokens (OpenAI's published rule for GPT-4o-class models: `detail` low
is 85 tokens; high/auto scales the image to fit 2048x2048, then its short side to 768, and
counts 170 per 512-pixel tile plus 85), estimated text tokens (characters / 4, the usual rule
of thumb; the system prompt, the JSON schema of `response_format` and the user text) and their
sum, the estimated prompt tokens.

    .venvs/oldest/bin/python scripts/bench_vlm_cost.py
    .venvs/oldest/bin/python scripts/bench_vlm_cost.py --max-frames 8 --detail low --size 1920x1080

Exits 1 when the incident does not cost less than its clips alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import io
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from benchlib import ROOT, import_core
from PIL import Image

interfaces = import_core("interfaces")
models = import_core("models")
analyzer_module = import_core("vlm.openai_compatible")
sys.path.insert(0, str(ROOT))
openai_server = __import__("tests.core.openai_server", fromlist=["OpenAIServer"])
video = __import__("tests.core.video", fromlist=["write_h264_clip"])


def image_tokens(width: int, height: int, detail: str) -> int:
    """OpenAI's image token rule for GPT-4o-class models."""
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


@dataclass
class Cost:
    """What a case sent, summed over its requests."""

    requests: int = 0
    images: int = 0
    pixels: int = 0
    jpeg_bytes: int = 0
    image_tokens: int = 0
    text_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.image_tokens + self.text_tokens

    def add(self, body: dict[str, Any]) -> None:
        self.requests += 1
        text = json.dumps(body.get("response_format") or {})
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                text += content
                continue
            for part in content:
                if part["type"] == "text":
                    text += part["text"]
                    continue
                url = part["image_url"]["url"]
                jpeg = base64.b64decode(url.split(",", 1)[1])
                with Image.open(io.BytesIO(jpeg)) as image:
                    width, height = image.size
                self.images += 1
                self.pixels += width * height
                self.jpeg_bytes += len(jpeg)
                self.image_tokens += image_tokens(width, height, part["image_url"]["detail"])
        self.text_tokens += math.ceil(len(text) / 4)


def make_clips(folder: Path, width: int, height: int) -> list[Any]:
    """The driveway clip (12 s, the person walks across) and the front door's (15 s, from
    8 s after the driveway's start: they overlap)."""
    start = datetime(2026, 12, 1, 14, 3, tzinfo=UTC)
    box = (width // 10, height // 3, width // 10 + width // 12, height // 3 + height // 3)
    clips = []
    for name, offset, seconds in (("Driveway", 0.0, 12.0), ("Front door", 8.0, 15.0)):
        path = folder / f"{name.replace(' ', '_').lower()}.mp4"
        spec = video.ClipSpec(
            width=width,
            height=height,
            fps=15,
            seconds=seconds,
            gop_seconds=1.0,
            object_box=box,
            object_speed=width / (seconds * 1.5),
        )
        video.write_h264_clip(path, spec)
        begin = start + timedelta(seconds=offset)
        camera_id = name.replace(" ", "_").lower()
        clip = models.Clip(
            clip_id=f"{camera_id}-1",
            camera_id=camera_id,
            camera_name=name,
            source_type="local_folder",
            path=path,
            start_ts=begin,
            end_ts=begin + timedelta(seconds=seconds),
        )
        detections = tuple(
            models.Detection(
                label="person", confidence=0.9, timestamp_s=t, box=tuple(float(v) for v in box)
            )
            for t in (1.0, seconds / 2, seconds - 1.0)
        )
        result = models.FilterResult(
            detected_classes=("person",),
            best_confidence={"person": 0.9},
            detections=detections,
            frames_sampled=10,
            model="bench",
            duration_ms=0,
        )
        clips.append(interfaces.IncidentClip(clip, result))
    return clips


async def run(args: argparse.Namespace) -> int:
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="homesec-bench-cost-") as tmp:
        clips = await asyncio.to_thread(make_clips, Path(tmp), width, height)
        settings = analyzer_module.VLMSettings(
            base_url="",
            model=openai_server.DEFAULT_MODEL,
            max_frames=args.max_frames,
            max_image_side=args.max_side,
            image_detail=args.detail,
        )
        costs: dict[str, Cost] = {}
        async with openai_server.OpenAIServer() as server, httpx.AsyncClient() as http:
            analyzer = analyzer_module.OpenAICompatibleAnalyzer(
                dataclasses.replace(settings, base_url=server.url), http
            )

            async def case(name: str, *calls: Any) -> None:
                before = len(server.chat_bodies)
                for call in calls:
                    await call()
                cost = costs[name] = Cost()
                for body in server.chat_bodies[before:]:
                    cost.add(body)

            drive, door = clips
            await case("one clip alone", lambda: analyzer.analyze(drive.clip, drive.filter_result))
            await case("2-camera incident, once", lambda: analyzer.analyze_incident(clips))
            await case(
                "its 2 clips, each alone",
                lambda: analyzer.analyze(drive.clip, drive.filter_result),
                lambda: analyzer.analyze(door.clip, door.filter_result),
            )
    print(
        f"Clips {width}x{height}, max_frames {args.max_frames}, max side {args.max_side} px, "
        f"detail {args.detail}"
    )
    header = (
        f"{'case':<26} {'requests':>8} {'images':>6} {'Mpixels':>8} {'JPEG KiB':>9} "
        f"{'img tok':>8} {'text tok':>8} {'prompt tok':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, cost in costs.items():
        print(
            f"{name:<26} {cost.requests:>8} {cost.images:>6} {cost.pixels / 1e6:>8.2f} "
            f"{cost.jpeg_bytes / 1024:>9.1f} {cost.image_tokens:>8} {cost.text_tokens:>8} "
            f"{cost.prompt_tokens:>10}"
        )
    incident = costs["2-camera incident, once"].prompt_tokens
    alone = costs["its 2 clips, each alone"].prompt_tokens
    print(f"\nIncident / clips alone: {incident / alone:.2f} of the prompt tokens")
    return 0 if incident < alone else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1280x720", help="clip size, WxH")
    parser.add_argument("--max-frames", type=int, default=8)
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--detail", default="auto", choices=["auto", "low", "high"])
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
