"""The `frigate` filter: Frigate already detected the object, so trust its metadata.

Builds the FilterResult from the clip's Frigate metadata without decoding any video: the label
becomes the detected class, the top score its confidence, the box (as Frigate gives it, in
detect-resolution pixels) one detection at the snapshot's time, and Frigate's snapshot the
clip's best frame. The VLM trigger rule and the alert policy then treat the clip like one
HomeSec's own detector looked at. Review-item clips carry labels but no scores.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from ..interfaces import ObjectFilter, PermanentError
from ..models import Clip, Detection, FilterResult
from ..sources.frigate import (
    META_BOX,
    META_CAMERA,
    META_LABEL,
    META_LABELS,
    META_SCORE,
    META_SNAPSHOT_OFFSET_S,
    META_SNAPSHOT_PATH,
    META_SUB_LABEL,
    META_SUB_LABELS,
    META_TOP_SCORE,
)

MODEL_NAME = "frigate"
_SNAPSHOT_CAP_BYTES = 20 * 1024 * 1024


def _score(value: Any) -> float | None:
    number = _number(value)
    return min(1.0, max(0.0, number)) if number is not None else None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        return None
    x1, y1, x2, y2 = (float(n) for n in numbers if n is not None)
    return x1, y1, x2, y2


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _labels(metadata: dict[str, Any]) -> tuple[str, ...]:
    raw = metadata.get(META_LABELS)
    names = list(raw) if isinstance(raw, list | tuple) else []
    label = metadata.get(META_LABEL)
    if not names and isinstance(label, str):
        names = [label]
    seen: dict[str, None] = {}
    for name in names:
        if isinstance(name, str) and name:
            seen.setdefault(name, None)
    return tuple(seen)


def frigate_sub_labels(metadata: dict[str, Any]) -> tuple[str, ...]:
    """Names Frigate recognised on the clip's objects (faces, plates, couriers), if any."""
    raw = metadata.get(META_SUB_LABELS)
    names = list(raw) if isinstance(raw, list | tuple) else []
    single = metadata.get(META_SUB_LABEL)
    if isinstance(single, str):
        names.insert(0, single)
    seen: dict[str, None] = {}
    for name in names:
        if isinstance(name, str) and name:
            seen.setdefault(name, None)
    return tuple(seen)


def _read_snapshot(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > _SNAPSHOT_CAP_BYTES:
            return None
        return path.read_bytes() or None
    except OSError:
        return None


def frigate_filter_result(
    metadata: dict[str, Any], *, duration_ms: int = 0, best_frame_jpeg: bytes | None = None
) -> FilterResult:
    """The FilterResult that Frigate's metadata describes (raises PermanentError without it)."""
    if not isinstance(metadata.get(META_CAMERA), str):
        raise PermanentError("clip has no Frigate metadata (the frigate filter needs one)")
    labels = _labels(metadata)
    confidence = _score(metadata.get(META_TOP_SCORE))
    if confidence is None:
        confidence = _score(metadata.get(META_SCORE))
    best_confidence = dict.fromkeys(labels, confidence) if confidence is not None else {}
    detections: tuple[Detection, ...] = ()
    box = _box(metadata.get(META_BOX))
    if box is not None and labels:
        offset = _number(metadata.get(META_SNAPSHOT_OFFSET_S))
        detections = (
            Detection(
                label=labels[0],
                confidence=confidence if confidence is not None else 0.0,
                box=box,
                timestamp_s=max(0.0, offset) if offset is not None else 0.0,
            ),
        )
    return FilterResult(
        detected_classes=labels,
        best_confidence=best_confidence,
        detections=detections,
        frames_sampled=0,
        model=MODEL_NAME,
        duration_ms=duration_ms,
        sub_labels=frigate_sub_labels(metadata),
        best_frame_jpeg=best_frame_jpeg,
    )


class FrigateDetectionFilter(ObjectFilter):
    """Reads what Frigate detected from the clip's metadata (no video decoding)."""

    name = "frigate"

    async def detect(self, clip: Clip) -> FilterResult:
        started = time.monotonic()
        jpeg: bytes | None = None
        snapshot = clip.metadata.get(META_SNAPSHOT_PATH)
        if isinstance(snapshot, str) and snapshot:
            jpeg = await asyncio.get_running_loop().run_in_executor(
                None, _read_snapshot, Path(snapshot)
            )
        return frigate_filter_result(
            clip.metadata,
            duration_ms=round((time.monotonic() - started) * 1000),
            best_frame_jpeg=jpeg,
        )
