"""Benchmark the clip history search (`homesec_nvr.get_clips`) on a store of 100,000 clips.

Fills a real store (schema, indexes and full-text triggers as HomeSec creates them) with
`--clips` clips of `--cameras` cameras over `--days` days, with summaries and observations
from a small vocabulary and each clip's pipeline events, in one bulk transaction of the
store's own SQL. Then measures `ClipStore.query` (executor hop and row decoding included):

- a camera-day: one camera, one day, first page of 50 (about 330 clips a day a camera);
- text searches: a word, two words, a prefix; also every camera's newest 50 and a risk filter.

Prints p50/p95/max per query against the 50 ms p95 target and the database size per clip.

    .venvs/oldest/bin/python scripts/bench_history.py
    .venvs/oldest/bin/python scripts/bench_history.py --clips 20000 --runs 50

The core package is imported without Home Assistant (see benchlib.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import import_core

store_module = import_core("store")
clip_query = import_core("clip_query")
models = import_core("models")

TARGET_P95_MS = 50.0
FIRST_DAY = datetime(2026, 11, 1, tzinfo=UTC)
PAGE = 50
SUBJECTS = ["A person", "A courier", "A man", "A woman", "Two people", "A child", "A neighbour"]
VERBS = ["walks to", "waits at", "leaves a parcel at", "looks into", "passes", "opens", "rings"]
PLACES = ["the front door", "the gate", "the driveway", "the garage", "the mailbox", "the car"]
EXTRAS = [
    "wearing a red jacket",
    "carrying a package",
    "with a dog",
    "at night",
    "in the rain",
    "on a bicycle",
    "holding a phone",
    "then leaves",
]
OBJECTS = ["person", "car", "dog", "cat", "package", "bicycle", "truck"]
EVENTS = [
    "clip_recorded",
    "upload_started",
    "upload_completed",
    "filter_started",
    "filter_completed",
    "vlm_started",
    "vlm_completed",
    "alert_decision_made",
]


def _sentence(rng: random.Random) -> str:
    text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}"
    return f"{text} {rng.choice(EXTRAS)}." if rng.random() < 0.7 else f"{text}."


def _state(rng: random.Random, index: int, camera: int, start: datetime) -> Any:
    objects = tuple(rng.sample(OBJECTS, rng.randint(1, 2)))
    detections = tuple(
        models.Detection(label, rng.uniform(0.5, 0.95), (10.0, 20.0, 300.0, 400.0), t * 0.5)
        for t, label in enumerate(objects * 3)
    )
    analysis = (
        models.AnalysisResult(
            risk_level=rng.choices(list(models.RiskLevel), weights=[70, 20, 8, 2])[0],
            activity_type=rng.choice(list(models.ActivityType)),
            summary=_sentence(rng),
            observations=tuple(_sentence(rng) for _ in range(rng.randint(1, 4))),
            requires_review=rng.random() < 0.1,
            model="gpt-4o-mini",
            prompt_tokens=1800,
            completion_tokens=160,
        )
        if rng.random() < 0.8
        else None
    )
    clip_id = f"cam{camera}_{start:%Y%m%d_%H%M%S}-{index:08x}"
    return models.ClipState(
        clip_id=clip_id,
        camera_id=f"cam{camera}",
        camera_name=f"Camera {camera}",
        source_type="rtsp",
        source_path=f"/config/homesec/incoming/cam{camera}/{clip_id}.mp4",
        status=models.ClipStatus.DONE,
        start_ts=start,
        end_ts=start + timedelta(seconds=rng.randint(8, 40)),
        created_at=start,
        updated_at=start,
        metadata={"event_key": f"rtsp:cam{camera}:{index // 3}"},
        clip_uri=f"local:cam{camera}/{start:%Y-%m-%d}/{clip_id}.mp4",
        snapshot_path=f"/media/homesec/cam{camera}/{start:%Y-%m-%d}/{clip_id}.jpg",
        filter_result=models.FilterResult(
            objects, dict.fromkeys(objects, 0.9), detections, 12, "yolo11n", 900
        ),
        analysis=analysis,
        alert_decision=models.AlertDecision(rng.random() < 0.15, "risk or trigger"),
        notified=False,
        upload_done=True,
        vlm_done=True,
    )


def _values(state: Any) -> tuple[Any, ...]:
    """The store's row for a state (the same serialisation as ClipStore._upsert_state)."""
    j, ts = store_module._json, store_module._ts
    return (
        state.clip_id, state.camera_id, state.camera_name, state.source_type, state.source_path,
        state.status.value, ts(state.start_ts), ts(state.end_ts), ts(state.created_at),
        ts(state.updated_at), j(state.metadata), state.clip_uri, state.snapshot_uri,
        state.snapshot_path, j(state.filter_result.to_dict()),
        j(state.analysis.to_dict()) if state.analysis else None, state.analysis_skipped_reason,
        j(state.alert_decision.to_dict()), int(state.notified), state.error,
        int(state.upload_done), int(state.vlm_done), int(state.alert_reported), None,
    )  # fmt: skip


def fill(path: Path, clips: int, cameras: int, days: int, seed: int) -> tuple[float, datetime]:
    """Bulk insert; returns the seconds it took and the first day."""
    asyncio.run(_create(path))
    rng = random.Random(seed)
    first_day = FIRST_DAY
    span_s = days * 86400
    columns = store_module._SAVED_COLUMNS
    insert = (
        f"INSERT INTO clip_states ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})"
    )
    began = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    # In time order, as a store fills (clips are inserted as they are recorded).
    starts = sorted(first_day + timedelta(seconds=rng.uniform(0, span_s)) for _ in range(clips))
    for index, start in enumerate(starts):
        state = _state(rng, index, index % cameras, start)
        conn.execute(insert, _values(state))
        conn.executemany(
            "INSERT INTO clip_events (clip_id, event_type, timestamp, duration_ms, data) "
            "VALUES (?,?,?,?,?)",
            [
                (state.clip_id, kind, store_module._ts(start), 120, '{"attempt":1}')
                for kind in EVENTS
            ],
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - began, first_day


async def _create(path: Path) -> None:
    store = store_module.ClipStore(path)
    await store.open()
    await store.close()


async def measure(
    path: Path, first_day: datetime, cameras: int, days: int, runs: int
) -> list[tuple[str, list[float], list[float], float]]:
    store = store_module.ClipStore(path)
    await store.open()
    rng = random.Random(1)
    Q = clip_query.ClipQuery

    def camera_day() -> Any:
        day = first_day + timedelta(days=rng.randrange(days))
        return Q(
            camera_ids=(f"cam{rng.randrange(cameras)}",),
            start=day,
            end=day + timedelta(days=1) - timedelta(microseconds=1),
            limit=PAGE,
        )

    cases = [
        ("camera-day, first 50", camera_day),
        ("camera-day, page 4", lambda: Q(**{**_fields(camera_day()), "offset": 150})),
        ("text: one word", lambda: Q(text=rng.choice(["parcel", "bicycle", "mailbox", "rain"]))),
        ("text: two words", lambda: Q(text=rng.choice(["red jacket", "courier gate", "dog car"]))),
        ("text: prefix", lambda: Q(text=rng.choice(["bicy", "mailb", "neighb"]))),
        ("text + camera", lambda: Q(camera_ids=(f"cam{rng.randrange(cameras)}",), text="parcel")),
        ("all cameras, newest 50", lambda: Q()),
        ("min risk critical", lambda: Q(min_risk=models.RiskLevel.CRITICAL)),
    ]
    results: list[tuple[str, list[float], list[float], float]] = []
    for name, make in cases:
        await store.query(make())  # warm the page cache
        times: list[float] = []
        cpu: list[float] = []
        totals: list[int] = []
        for _ in range(runs):
            query = make()
            began = time.perf_counter()
            # What ClipStore.query runs, plus the store thread's CPU time (less sensitive to
            # other jobs on the machine than the wall time).
            (_page, total), used = await store._run(_cpu_timed, store._query, query)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append(used * 1000)
            totals.append(total)
        results.append((name, times, cpu, statistics.mean(totals)))
    await store.close()
    return results


def _cpu_timed(func: Any, *args: Any) -> tuple[Any, float]:
    began = time.thread_time()
    result = func(*args)
    return result, time.thread_time() - began


def _fields(query: Any) -> dict[str, Any]:
    return {name: getattr(query, name) for name in query.__dataclass_fields__}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--cameras", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", type=Path, help="also copy the filled database here")
    parser.add_argument("--reuse", type=Path, help="measure this filled database (no fill)")
    args = parser.parse_args()
    print(f"$ {Path(sys.executable).name} scripts/bench_history.py {' '.join(sys.argv[1:])}")
    print(f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "homesec.db"
        if args.reuse:
            shutil.copy(args.reuse, path)
            seconds, first_day = 0.0, FIRST_DAY
        else:
            seconds, first_day = fill(path, args.clips, args.cameras, args.days, args.seed)
        size = path.stat().st_size
        if args.keep:
            shutil.copy(path, args.keep)
        print(
            f"filled {args.clips} clips ({args.cameras} cameras, {args.days} days, "
            f"{len(EVENTS)} events each) in {seconds:.1f} s; database {size / 1e6:.1f} MB, "
            f"{size / args.clips:.0f} bytes per clip"
        )
        results = asyncio.run(measure(path, first_day, args.cameras, args.days, args.runs))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"\n{'query':<26} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'cpu p50':>8} {'cpu p95':>8}  target (wall p95)"
    )
    failed = False
    for name, times, cpu, total in results:
        p95 = _percentile(times, 0.95)
        ok = p95 <= TARGET_P95_MS
        failed |= not ok
        print(
            f"{name:<26} {total:>8.0f} {_percentile(times, 0.5):>8.2f} {p95:>8.2f} "
            f"{max(times):>8.2f} {_percentile(cpu, 0.5):>8.2f} {_percentile(cpu, 0.95):>8.2f}  "
            f"{'ok' if ok else 'MISSED'} (<= {TARGET_P95_MS:.0f})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
