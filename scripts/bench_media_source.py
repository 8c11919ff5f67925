"""Benchmark the media browser's busiest listing: one camera-day of 500 clips.

Fills a fresh clip database with `--total` clips (default 100,000: `--day-clips` on one
camera-day, the rest over 60 days and 4 cameras; a third in incidents of 3 clips, analysed
or with detected objects, each with a snapshot). The incidents are camera groups' (their
clips carry the incident's cameras), and each incident of the measured day also has a clip of
another camera (`--cross`, the default; `--no-cross`: one camera's incidents only). Then
times what browsing that day costs, as media_source.py does it: the store's `clips_between`
query, the look-up of the day's incidents' other cameras' clips (`event_clips`, on the event
key's index; skipped without a camera group's incident) plus building the day's nodes
(core/browse.py, with signed snapshot links) and Home Assistant's BrowseMedia children
(media_source.browse_media, when Home Assistant is importable). Also times the camera's day
list (`camera_days`) and the root's clip counts. Prints median / p95 / max of `--repeat` runs
against the 200 ms target.

    .venvs/oldest/bin/python scripts/bench_media_source.py
    .venvs/oldest/bin/python scripts/bench_media_source.py --total 20000 --repeat 50
    .venvs/oldest/bin/python scripts/bench_media_source.py --no-cross
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import import_core

browse = import_core("browse")
grouping = import_core("grouping")
models = import_core("models")
payload = import_core("payload")
links_module = import_core("links")
store_module = import_core("store")

TARGET_MS = 200.0
TZ = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 20)
CAMERAS = ("cam-front", "cam-garden", "cam-drive", "cam-back")
ACTIVITIES = list(models.ActivityType)
RISKS = list(models.RiskLevel)


def _metadata(event_key: str | None, cameras: tuple[str, ...]) -> dict[str, Any]:
    """A clip's metadata: its incident and, for a camera group's, the incident's cameras."""
    if event_key is None:
        return {}
    return {
        models.EVENT_KEY: event_key,
        grouping.INCIDENT_CAMERAS: [c.removeprefix("cam-").capitalize() for c in cameras],
        grouping.INCIDENT_CAMERA_IDS: list(cameras),
    }


def _state(
    index: int,
    camera_id: str,
    start: datetime,
    event_key: str | None,
    cameras: tuple[str, ...] = (),
) -> Any:
    analysed = index % 4 != 0
    detected = ("person", "car")[: 1 + index % 2]
    return models.ClipState(
        clip_id=f"clip-{index:06d}",
        camera_id=camera_id,
        camera_name=camera_id.removeprefix("cam-").capitalize(),
        source_type="rtsp",
        source_path=f"/recordings/{camera_id}/{index}.mp4",
        status=models.ClipStatus.DONE,
        start_ts=start,
        end_ts=start + timedelta(seconds=20),
        created_at=start,
        updated_at=start,
        metadata=_metadata(event_key, cameras or (camera_id,)),
        clip_uri=f"local:///media/homesec/{camera_id}/{index}.mp4",
        snapshot_path=f"/media/homesec/{camera_id}/{index}.jpg",
        filter_result=models.FilterResult(
            detected_classes=detected,
            best_confidence=dict.fromkeys(detected, 0.81),
            detections=(),
            frames_sampled=12,
            model="yolo11n",
            duration_ms=140,
        ),
        analysis=models.AnalysisResult(
            risk_level=RISKS[index % len(RISKS)],
            activity_type=ACTIVITIES[index % len(ACTIVITIES)],
            summary="A person in a dark jacket walks up the drive and leaves a parcel.",
            observations=("A person walks up the drive", "They leave a parcel at the door"),
            model="gpt-4o-mini",
        )
        if analysed
        else None,
    )


def _states(total: int, day_clips: int, cross: bool) -> list[Any]:
    """`day_clips` on CAMERAS[0] on DAY (local), the rest spread over 60 days and 4 cameras;
    with `cross`, each incident of the day also has a clip of CAMERAS[2] (not counted)."""
    states = []
    day_start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ).astimezone(UTC)
    step = timedelta(seconds=86_000 / day_clips)
    cameras = (CAMERAS[0], CAMERAS[2]) if cross else (CAMERAS[0],)
    for i in range(day_clips):
        key = f"ev-day-{i // 3}" if i % 9 < 3 else None  # a third in incidents of 3 clips
        states.append(_state(i, CAMERAS[0], day_start + step * i, key, cameras))
        if cross and i % 9 == 0:
            other = _state(total + i, CAMERAS[2], day_start + step * i, key, cameras)
            states.append(other)
    others = total - day_clips
    span = timedelta(days=60).total_seconds()
    base = day_start - timedelta(days=30)
    for j in range(others):
        index = day_clips + j
        start = base + timedelta(seconds=span * j / max(1, others))
        if start.astimezone(TZ).date() == DAY and index % len(CAMERAS) == 0:
            start += timedelta(days=1)  # keep the measured day at exactly `day_clips`
        key = f"ev-{index // 3}" if index % 9 < 3 else None
        states.append(_state(index, CAMERAS[index % len(CAMERAS)], start, key))
    return states


async def _fill(store: Any, states: list[Any]) -> None:
    def fill() -> None:
        db = store._db()
        db.execute("BEGIN")
        for state in states:
            store._upsert_state(state)
        db.execute("COMMIT")

    await store._run(fill)


def _browse_media_builder() -> Callable[[Any, list[Any]], Any] | None:
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from custom_components.homesec_nvr.media_source import browse_media
    except ImportError:
        return None
    return browse_media


async def _timed(repeat: int, run: Callable[[], Awaitable[Any]]) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await run()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def _line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:<44} median {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms  "
        f"max {ordered[-1]:7.1f} ms"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--day-clips", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--cross", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    signer = links_module.LinkSigner("s" * 40)

    def links(state: Any) -> Any:
        return payload.MediaLinks(
            media_url=signer.link(state.clip_id, links_module.LinkTarget.CLIP, 86_400),
            snapshot_url=signer.link(state.clip_id, links_module.LinkTarget.SNAPSHOT, 86_400),
        )

    builder = _browse_media_builder()
    labels = browse.BrowseLabels()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "homesec.db"
        store = store_module.ClipStore(path)
        await store.open()
        began = time.perf_counter()
        await _fill(store, _states(args.total, args.day_clips, args.cross))
        filled_s = time.perf_counter() - began
        start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ)
        end = datetime(DAY.year, DAY.month, DAY.day + 1, tzinfo=TZ)

        async def query() -> Any:
            return await store.clips_between(CAMERAS[0], start, end, 2000)

        async def related(states: list[Any]) -> list[Any]:
            keys = browse.grouped_event_keys(states)
            if not keys:
                return []
            return await store.event_clips(keys, 2000, besides=(CAMERAS[0], start, end))

        async def day_listing() -> Any:
            states = await query()
            others = await related(states)
            nodes = browse.day_children(states, DAY, TZ, labels, links, others, nested=False)
            if builder is not None:
                day = browse.BrowseNode(browse.NodeKind.DAY, "cam/2026-11-20", "day")
                return builder(day, nodes)
            return nodes

        query_times, states = await _timed(args.repeat, query)
        related_times, others = await _timed(args.repeat, lambda: related(states))
        day_times, listing = await _timed(args.repeat, day_listing)
        days_times, days = await _timed(args.repeat, lambda: store.camera_days(CAMERAS[0], TZ))
        counts_times, counts = await _timed(args.repeat, store.camera_clip_counts)
        await store.close()
        size_mb = path.stat().st_size / 1e6

    entries = len(listing.children) if builder is not None else len(listing)
    nodes = browse.day_children(states, DAY, TZ, labels, links, others)
    across = sum(
        1 for node in nodes if any(c.identifier.startswith(f"{CAMERAS[2]}/") for c in node.children)
    )
    print(f"command: {' '.join(sys.argv)}")
    print(
        f"store: {args.total} clips ({size_mb:.0f} MB, filled in {filled_s:.1f} s); "
        f"camera-day {DAY}: {len(states)} clips -> {entries} entries "
        f"(incidents of 3 grouped; {across} with a clip of {CAMERAS[2]}, {len(others)} clips "
        f"looked up); {len(days)} days on the camera; cameras {dict(counts)}"
    )
    print(_line("clips_between (the day's query)", query_times))
    print(_line("event_clips (its incidents' other clips)", related_times))
    what = "query + nodes + BrowseMedia" if builder is not None else "query + nodes (no HA)"
    print(_line(f"day listing ({what})", day_times))
    print(_line("camera_days (the camera's day list)", days_times))
    print(_line("camera_clip_counts (the root)", counts_times))
    worst_p95 = sorted(day_times)[min(len(day_times) - 1, round(0.95 * (len(day_times) - 1)))]
    verdict = "OK" if worst_p95 <= TARGET_MS else "OVER"
    print(f"target: day listing p95 <= {TARGET_MS:.0f} ms: {verdict}")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
