"""The ONNX object filter, end to end: real H.264 clips, real onnxruntime, tiny known models."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from custom_components.homesec_nvr.core.filters.onnx import (
    ModelError,
    OnnxFilterSettings,
    OnnxObjectFilter,
    OnnxRuntimeUnavailable,
    SessionCache,
    default_intra_op_threads,
    inspect_model,
    load_onnxruntime,
)
from custom_components.homesec_nvr.core.interfaces import PermanentError
from custom_components.homesec_nvr.core.models import Clip, FilterResult

from .onnx_models import (
    bright_cell_model,
    constant_model,
    detection_tensor,
    slow_constant_model,
)
from .video import ClipSpec, write_h264_clip

PERSON, CAR, DOG = 0, 2, 16  # COCO-80 indices

ClipFactory = Callable[..., Clip]
RunFilter = Callable[..., Awaitable[FilterResult]]


def make_clip(path: Path, seconds: float = 4.0) -> Clip:
    end = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    return Clip(
        clip_id=path.stem,
        camera_id="front",
        camera_name="Front",
        source_type="test",
        path=path,
        start_ts=end - timedelta(seconds=seconds),
        end_ts=end,
    )


@pytest.fixture
def clip_factory(tmp_path: Path) -> ClipFactory:
    """Write a synthetic H.264 clip (`ClipSpec` fields as keywords) and wrap it in a Clip."""

    def factory(name: str = "clip", **spec: object) -> Clip:
        clip_spec = ClipSpec(**spec)  # type: ignore[arg-type]
        path = write_h264_clip(tmp_path / f"{name}.mp4", clip_spec)
        return make_clip(path, clip_spec.seconds)

    return factory


@pytest.fixture
def cache() -> SessionCache:
    """A session cache of the test's own (the module-wide one is left alone)."""
    return SessionCache()


@pytest.fixture
async def run_filter(cache: SessionCache) -> AsyncIterator[RunFilter]:
    """Run one detect() with a filter built from settings; every filter is closed after."""
    filters: list[OnnxObjectFilter] = []

    async def run(clip: Clip, **settings: object) -> FilterResult:
        object_filter = OnnxObjectFilter(
            OnnxFilterSettings(**settings),  # type: ignore[arg-type]
            session_cache=cache,
        )
        filters.append(object_filter)
        return await object_filter.detect(clip)

    yield run
    for object_filter in filters:
        await object_filter.close()


# --- letterbox, box mapping, NMS, class rows (through onnxruntime) --------------------------


async def test_box_in_input_pixels_maps_back_to_frame_pixels(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a 320x180 clip and a rectangular 96x160 model: the frame is scaled by 0.5 to
    # 160x90 and padded by 3 rows at the top; the model always returns one person whose box
    # is the frame box (100, 40, 180, 140) in input pixels: cx 70, cy 48, w 40, h 50
    clip = clip_factory(width=320, height=180, seconds=1.0)
    output = detection_tensor([(70.0, 48.0, 40.0, 50.0, PERSON, 0.9)], 80, num_anchors=8)
    model = constant_model(tmp_path / "one.onnx", output, input_hw=(96, 160))

    # When the clip is filtered
    result = await run_filter(clip, model_path=model)

    # Then the detection comes back in frame pixels
    assert result.detected_classes == ("person",)
    (detection,) = result.detections
    assert detection.box == pytest.approx((100.0, 40.0, 180.0, 140.0), abs=0.01)
    assert detection.confidence == pytest.approx(0.9)


async def test_portrait_frame_is_padded_left_and_right(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a portrait 96x160 clip in a square 64x64 model: scale 0.4, resized 38x64, so
    # 13 columns of padding on the left; a box from input x 13..51 covers the whole width
    clip = clip_factory(width=96, height=160, seconds=1.0, object_box=(8, 8, 24, 24))
    output = detection_tensor([(32.0, 32.0, 38.0, 64.0, CAR, 0.8)], 80, num_anchors=4)
    model = constant_model(tmp_path / "square.onnx", output, input_hw=(64, 64))

    # When the clip is filtered
    result = await run_filter(clip, model_path=model)

    # Then the box spans the frame (mapped back through pad and scale, clipped to the frame)
    (detection,) = result.detections
    assert detection.label == "car"
    assert detection.box == pytest.approx((0.0, 0.0, 96.0, 160.0), abs=1.5)


async def test_bright_object_is_found_where_it_is_in_the_frame(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a clip with a white object at (96, 40)-(160, 104) on a dark background, and a
    # model that marks every bright 8x8 input cell (16x16 frame pixels)
    object_box = (96, 40, 160, 104)
    clip = clip_factory(width=320, height=180, seconds=1.0, object_box=object_box)
    model = bright_cell_model(tmp_path / "bright.onnx", input_hw=(96, 160), cell=8)

    # When the clip is filtered
    result = await run_filter(clip, model_path=model, min_confidence=0.7)

    # Then every detection lies on the object, and together they cover it (to one cell)
    assert result.detected_classes == ("person",)
    boxes = np.array([d.box for d in result.detections])
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = boxes[:, 2].max(), boxes[:, 3].max()
    assert object_box[0] - 16 <= x1 <= object_box[0] + 16
    assert object_box[1] - 16 <= y1 <= object_box[1] + 16
    assert object_box[2] - 16 <= x2 <= object_box[2] + 16
    assert object_box[3] - 16 <= y2 <= object_box[3] + 16


async def test_nms_keeps_the_best_of_overlapping_boxes_per_class(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a model returning two overlapping persons (IoU ~0.68), a distant person, and a
    # car on top of the best person (other class: never suppressed by a person)
    clip = clip_factory(width=64, height=64, seconds=1.0, object_box=None)
    output = detection_tensor(
        [
            (20.0, 20.0, 20.0, 20.0, PERSON, 0.9),
            (22.0, 22.0, 20.0, 20.0, PERSON, 0.8),
            (50.0, 50.0, 10.0, 10.0, PERSON, 0.7),
            (20.0, 20.0, 20.0, 20.0, CAR, 0.6),
        ],
        80,
        num_anchors=16,
    )
    model = constant_model(tmp_path / "nms.onnx", output, input_hw=(64, 64))

    # When the clip is filtered
    result = await run_filter(clip, model_path=model, min_confidence=0.5)

    # Then the 0.8 person is suppressed and everything else is kept
    kept = sorted((d.label, round(d.confidence, 2)) for d in result.detections)
    assert kept == [("car", 0.6), ("person", 0.7), ("person", 0.9)]
    assert result.best_confidence == pytest.approx({"person": 0.9, "car": 0.6})
    assert result.detected_classes == ("person", "car")


async def test_only_the_selected_class_rows_are_read(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given one anchor scoring person 0.95 and car 0.6, and another anchor scoring dog 0.7
    clip = clip_factory(width=64, height=64, seconds=1.0, object_box=None)
    output = detection_tensor(
        [(20.0, 20.0, 10.0, 10.0, PERSON, 0.95), (45.0, 45.0, 10.0, 10.0, DOG, 0.7)],
        80,
        num_anchors=8,
    )
    output[0, 4 + CAR, 0] = 0.6
    model = constant_model(tmp_path / "rows.onnx", output, input_hw=(64, 64))

    # When only cars and dogs are asked for
    result = await run_filter(clip, model_path=model, classes=frozenset({"car", "dog"}))

    # Then the first anchor counts as a car (its person score is never looked at)
    assert set(result.detected_classes) == {"car", "dog"}
    assert result.best_confidence == pytest.approx({"car": 0.6, "dog": 0.7})
    assert "person" not in {d.label for d in result.detections}


async def test_min_box_height_drops_small_boxes(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a 64x64 clip and persons 8 px (1/8 of the frame) and 32 px tall
    clip = clip_factory(width=64, height=64, seconds=1.0, object_box=None)
    output = detection_tensor(
        [(10.0, 10.0, 4.0, 8.0, PERSON, 0.9), (40.0, 40.0, 16.0, 32.0, PERSON, 0.8)],
        80,
        num_anchors=4,
    )
    model = constant_model(tmp_path / "heights.onnx", output, input_hw=(64, 64))

    # When boxes must be at least a quarter of the frame height
    result = await run_filter(clip, model_path=model, min_box_height=0.25)

    # Then only the tall person is left
    assert [round(d.confidence, 2) for d in result.detections] == [0.8]


async def test_transposed_and_float16_exports_give_the_same_detection(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given the same single detection from a 1xNx(4+C) export and from a float16-input export
    clip = clip_factory(width=64, height=64, seconds=1.0, object_box=None)
    output = detection_tensor([(20.0, 30.0, 10.0, 20.0, 1, 0.9)], 2, num_anchors=16)
    transposed = constant_model(
        tmp_path / "transposed.onnx",
        np.ascontiguousarray(output.transpose(0, 2, 1)),
        input_hw=(64, 64),
        names=("cat", "dog"),
    )
    half = constant_model(
        tmp_path / "half.onnx", output, input_hw=(64, 64), names=("cat", "dog"), float16_input=True
    )

    # When the clip is filtered with each
    results = [await run_filter(clip, model_path=model) for model in (transposed, half)]

    # Then both find the dog at (15, 20)-(25, 40)
    for result in results:
        (detection,) = result.detections
        assert detection.label == "dog"
        assert detection.box == pytest.approx((15.0, 20.0, 25.0, 40.0))


async def test_classes_the_model_does_not_know_find_nothing(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a model that always sees a person
    clip = clip_factory(seconds=1.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))

    # When only a class the model does not have is asked for
    result = await run_filter(clip, model_path=model, classes=frozenset({"unicorn"}))

    # Then nothing is reported, though the frame was looked at
    assert result.detected_classes == ()
    assert result.frames_sampled == 1


# --- sampling -------------------------------------------------------------------------------


async def test_keyframes_are_sampled_when_the_gop_fits_the_interval(
    tmp_path: Path,
    clip_factory: ClipFactory,
    run_filter: RunFilter,
    cache: SessionCache,
) -> None:
    # Given a 6 s clip with a keyframe every second (B-frames on) and a model that always
    # sees a person
    clip = clip_factory(seconds=6.0, gop_seconds=1.0, bframes=2)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))
    settings = OnnxFilterSettings(model_path=model, sample_interval_s=2.0, early_exit=False)
    object_filter = OnnxObjectFilter(settings, session_cache=cache)

    # When the clip is sampled every 2 s
    try:
        result = await object_filter.detect(clip)
    finally:
        await object_filter.close()

    # Then every other keyframe is used, and nothing but those keyframes is decoded
    assert [d.timestamp_s for d in result.detections] == pytest.approx([0.0, 2.0, 4.0])
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.sampling_mode == "keyframes"
    assert stats.keyframe_interval_s == pytest.approx(1.0)
    assert stats.frames_decoded == 3
    assert result.frames_sampled == 3


async def test_frames_are_picked_by_timestamp_when_exact_times_are_asked_for(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a 5 s, 15 fps clip with a keyframe every 3 s, and no bound on the gap between
    # samples (exact sample times instead)
    clip = clip_factory(seconds=5.0, gop_seconds=3.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))
    settings = OnnxFilterSettings(
        model_path=model, sample_interval_s=1.0, early_exit=False, max_sample_gap_s=None
    )
    object_filter = OnnxObjectFilter(settings, session_cache=cache)

    # When the clip is sampled every second
    try:
        result = await object_filter.detect(clip)
    finally:
        await object_filter.close()

    # Then the frames at 0, 1, 2, 3 and 4 s are used, from a full decode
    assert [d.timestamp_s for d in result.detections] == pytest.approx([0, 1, 2, 3, 4])
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.sampling_mode == "timestamps"
    assert stats.keyframe_interval_s is None
    assert stats.frames_decoded >= 61


async def test_at_the_defaults_a_long_gop_clip_is_sampled_at_its_keyframes_only(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a 20 s, 15 fps clip (300 frames) with a keyframe every 4 s, longer than the default
    # 1 s sample interval, and a model that always sees a person
    clip = clip_factory(seconds=20.0, gop_seconds=4.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))
    object_filter = OnnxObjectFilter(
        OnnxFilterSettings(model_path=model, early_exit=False), session_cache=cache
    )

    # When the clip is filtered at the default settings
    try:
        result = await object_filter.detect(clip)
    finally:
        await object_filter.close()

    # Then the five keyframes are the samples, and they are all that is decoded
    assert [d.timestamp_s for d in result.detections] == pytest.approx([0, 4, 8, 12, 16])
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.sampling_mode == "long_gop"
    assert stats.frames_decoded == 5


@pytest.mark.parametrize("max_sample_gap_s", [4.0, None], ids=["defaults", "every_frame"])
async def test_an_object_in_view_for_a_gop_from_mid_gop_is_found(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter, max_sample_gap_s: float
) -> None:
    # Given a 12 s clip with a keyframe every 4 s, where the bright object shows only from
    # 5 s to 9 s: it appears mid-GOP and stays for one GOP
    clip = clip_factory(
        width=160,
        height=96,
        seconds=12.0,
        gop_seconds=4.0,
        object_from_s=5.0,
        object_until_s=9.0,
    )
    model = bright_cell_model(tmp_path / "bright.onnx", input_hw=(96, 160), cell=16)

    # When the clip is filtered with the default sampling, then decoding every frame
    result = await run_filter(clip, model_path=model, max_sample_gap_s=max_sample_gap_s)

    # Then both find it: the default sampling on the keyframe at 8 s, a full decode at 5 s
    assert result.detected_classes == ("person",)
    first = min(d.timestamp_s for d in result.detections)
    assert first == pytest.approx(8.0 if max_sample_gap_s else 5.0)


async def test_an_object_between_the_keyframes_of_a_very_long_gop_is_found(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a 20 s clip with a keyframe every 10 s, where the bright object shows only from
    # 2.5 s to 6.7 s (on no keyframe, in view for longer than the 4 s bound)
    clip = clip_factory(
        width=160,
        height=96,
        seconds=20.0,
        gop_seconds=10.0,
        object_from_s=2.5,
        object_until_s=6.7,
    )
    model = bright_cell_model(tmp_path / "bright.onnx", input_hw=(96, 160), cell=16)
    settings = OnnxFilterSettings(
        model_path=model,
        trigger_classes=frozenset({"person"}),
        # Decoding in the scan's thread: no read-ahead, so the frame count is exact.
        parallel_decode=False,
    )
    object_filter = OnnxObjectFilter(settings, session_cache=cache)

    # When the clip is filtered at the default sampling (early exit on persons)
    try:
        result = await object_filter.detect(clip)
    finally:
        await object_filter.close()

    # Then the frames after the first keyframe are decoded far enough to see it at 3 s, and
    # the scan stops there, 46 frames into the clip (of 300)
    assert result.detected_classes == ("person",)
    assert sorted({d.timestamp_s for d in result.detections}) == pytest.approx([3.0])
    assert result.frames_sampled == 4
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.early_exit
    assert stats.frames_decoded == 46


async def test_max_frames_caps_the_samples(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a 6 s, 16 fps clip with a keyframe every 0.5 s, sampled every 0.5 s
    clip = clip_factory(seconds=6.0, fps=16, gop_seconds=0.5)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))

    # When at most 4 frames may be sampled
    result = await run_filter(
        clip, model_path=model, sample_interval_s=0.5, max_frames=4, early_exit=False
    )

    # Then the first 4 sample times are used
    assert result.frames_sampled == 4
    assert [d.timestamp_s for d in result.detections] == pytest.approx([0.0, 0.5, 1.0, 1.5])


async def test_min_hits_counts_frames_with_the_class(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a 6 s clip where the bright object shows from 3 s on (samples at 0..5 s)
    clip = clip_factory(width=160, height=96, seconds=6.0, gop_seconds=1.0, object_from_s=3.0)
    model = bright_cell_model(tmp_path / "bright.onnx", input_hw=(96, 160), cell=16)

    # When the clip is filtered needing 3 hits, then needing 4
    three = await run_filter(clip, model_path=model, min_hits=3, early_exit=False)
    four = await run_filter(clip, model_path=model, min_hits=4, early_exit=False)

    # Then the object counts with 3 hits (first seen at 3 s) and not with 4
    assert three.detected_classes == ("person",)
    assert min(d.timestamp_s for d in three.detections) == pytest.approx(3.0)
    assert four.detected_classes == ()
    assert four.detections == ()
    assert four.best_frame_jpeg is None
    assert four.frames_sampled == 6


# --- early exit -----------------------------------------------------------------------------


async def test_early_exit_stops_decoding_once_the_trigger_has_its_hits(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a 20 s clip (a keyframe every second) and a model that always sees a person
    clip = clip_factory(seconds=20.0, gop_seconds=1.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))
    settings = OnnxFilterSettings(
        model_path=model,
        sample_interval_s=1.0,
        min_hits=2,
        trigger_classes=frozenset({"person"}),
    )
    object_filter = OnnxObjectFilter(settings, session_cache=cache)

    # When the clip is filtered with early exit on persons
    try:
        result = await object_filter.detect(clip)
    finally:
        await object_filter.close()

    # Then the scan stopped after the second sample, long before the 20 keyframes
    assert result.detected_classes == ("person",)
    assert result.frames_sampled == 2
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.early_exit
    assert stats.frames_decoded <= 5


async def test_early_exit_on_a_long_gop_clip_decodes_one_frame(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a 20 s clip with a keyframe every 4 s and a model that always sees a person
    clip = clip_factory(seconds=20.0, gop_seconds=4.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))
    settings = OnnxFilterSettings(model_path=model, trigger_classes=frozenset({"person"}))
    object_filter = OnnxObjectFilter(settings, session_cache=cache)

    # When the clip is filtered at the defaults with early exit on persons
    try:
        result = await object_filter.detect(clip)
    finally:
        await object_filter.close()

    # Then the first keyframe ends the scan, and it is the only frame decoded
    assert result.frames_sampled == 1
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.early_exit
    assert stats.frames_decoded == 1


async def test_without_early_exit_the_whole_clip_is_scanned(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given the same always-a-person model on a 10 s clip
    clip = clip_factory(seconds=10.0, gop_seconds=1.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))

    # When early exit is off, then on with a trigger class that is never seen
    full = await run_filter(
        clip, model_path=model, early_exit=False, trigger_classes=frozenset({"person"})
    )
    other = await run_filter(clip, model_path=model, trigger_classes=frozenset({"dog"}))

    # Then both scan every second of the clip
    assert full.frames_sampled == 10
    assert other.frames_sampled == 10


# --- the best frame -------------------------------------------------------------------------


async def test_best_frame_is_a_jpeg_with_the_boxes_drawn(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a dark 320x180 clip and a model seeing a person at (100, 40)-(180, 140)
    clip = clip_factory(width=320, height=180, seconds=1.0, object_box=None)
    output = detection_tensor([(70.0, 48.0, 40.0, 50.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "one.onnx", output, input_hw=(96, 160))

    # When the clip is filtered
    result = await run_filter(clip, model_path=model)

    # Then the best frame is the resized frame with a bright box outline on the dark image
    assert result.best_frame_jpeg is not None
    image = Image.open(io.BytesIO(result.best_frame_jpeg))
    assert (image.format, image.size) == ("JPEG", (160, 90))
    pixels = np.asarray(image.convert("RGB")).astype(int)
    right_edge = pixels[40:65, 89]  # x2 = 180 * 0.5 - 1, below the label
    inside = pixels[45:65, 70]
    assert right_edge.sum(axis=1).mean() > 250
    assert inside.sum(axis=1).mean() < 150


# --- bad clips ------------------------------------------------------------------------------


def _truncated(path: Path, source: Path) -> None:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "cannot open clip"),
        ("garbage", "cannot open clip"),
        ("text", "cannot open clip"),
        ("truncated", "cannot open clip"),
        ("missing", "clip file not found"),
    ],
)
async def test_unreadable_clips_raise_a_permanent_error(
    tmp_path: Path,
    clip_factory: ClipFactory,
    run_filter: RunFilter,
    kind: str,
    message: str,
) -> None:
    # Given a broken clip file
    good = clip_factory("good", seconds=2.0)
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(3).bytes(50_000))
    elif kind == "text":
        path.write_text("not a video\n" * 100)
    elif kind == "truncated":
        _truncated(path, good.path)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))

    # When it is filtered
    with pytest.raises(PermanentError, match=message) as caught:
        await run_filter(make_clip(path), model_path=model)

    # Then the error is permanent and names the clip
    assert not caught.value.retryable
    assert path.name in str(caught.value)


async def test_clip_with_corrupt_frames_still_finishes(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a clip whose video data is overwritten with garbage after the first keyframe
    clip = clip_factory(seconds=4.0, gop_seconds=1.0, noise=40)
    data = bytearray(clip.path.read_bytes())
    start = len(data) // 3
    data[start : start + len(data) // 3] = np.random.default_rng(5).bytes(len(data) // 3)
    clip.path.write_bytes(bytes(data))
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))

    # When it is filtered (sequential decode of every frame)
    started = time.monotonic()
    try:
        result: FilterResult | None = await asyncio.wait_for(
            run_filter(clip, model_path=model, sample_interval_s=0.5, early_exit=False), 20
        )
    except PermanentError:
        result = None

    # Then it ends quickly, either with what could be decoded or with a permanent error
    assert time.monotonic() - started < 10
    if result is not None:
        assert 1 <= result.frames_sampled <= 8


async def test_audio_only_file_has_no_video_stream(tmp_path: Path, run_filter: RunFilter) -> None:
    # Given an audio-only mp4
    import av

    path = tmp_path / "audio.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for _ in range(8):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))

    # When it is filtered
    with pytest.raises(PermanentError, match="no video stream") as caught:
        await run_filter(make_clip(path), model_path=model)

    # Then the error is permanent
    assert not caught.value.retryable


# --- models ---------------------------------------------------------------------------------


async def test_missing_model_at_run_time_is_model_not_found(
    tmp_path: Path, clip_factory: ClipFactory, run_filter: RunFilter
) -> None:
    # Given a clip and a model path that does not exist
    clip = clip_factory(seconds=1.0)

    # When the clip is filtered
    with pytest.raises(ModelError) as caught:
        await run_filter(clip, model_path=tmp_path / "gone.onnx")

    # Then the reason says so
    assert caught.value.reason == "model_not_found"
    assert "gone.onnx" in str(caught.value)


def test_preload_creates_the_shared_session_once(tmp_path: Path) -> None:
    # Given two cameras' filters on the same model, sharing one cache
    cache = SessionCache()
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "shared.onnx", output, input_hw=(96, 160))
    first = OnnxObjectFilter(OnnxFilterSettings(model_path=model), session_cache=cache)
    second = OnnxObjectFilter(
        OnnxFilterSettings(model_path=model, min_confidence=0.8), session_cache=cache
    )

    # When both preload their model
    infos = (first.preload(), second.preload())

    # Then one session serves both, described from the model
    assert len(cache) == 1
    assert infos[0] == infos[1]
    assert (infos[0].input_width, infos[0].input_height) == (160, 96)
    cache.clear()
    assert len(cache) == 0


def test_sessions_are_shared_per_model_file_and_renewed_when_it_changes(
    tmp_path: Path,
) -> None:
    # Given one model file and a cache used from several threads at once
    cache = SessionCache()
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "shared.onnx", output, input_hw=(64, 64))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        loaded = list(pool.map(lambda _: cache.get(model, 1), range(8)))

    # When the file is replaced (new mtime)
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    renewed = cache.get(model, 1)

    # Then every caller got the same session, and the changed file got a new one
    assert all(item.session is loaded[0].session for item in loaded)
    assert renewed.session is not loaded[0].session
    assert len(cache) == 1


async def test_detect_never_blocks_the_event_loop(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a model costing a real convolution per frame and a 4 s clip sampled 4x a second
    # at exact times (every frame decoded), and a record of the threads that decode and infer
    clip = clip_factory(width=320, height=180, seconds=4.0, gop_seconds=2.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = slow_constant_model(tmp_path / "slow.onnx", output, input_hw=(192, 320), channels=96)
    settings = OnnxFilterSettings(
        model_path=model,
        sample_interval_s=0.25,
        max_frames=12,
        early_exit=False,
        max_sample_gap_s=None,
    )
    object_filter = OnnxObjectFilter(settings, session_cache=cache)
    threads: list[int] = []
    real_scan = object_filter.detect_blocking

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real_scan(*args, **kwargs)

    object_filter.detect_blocking = spy  # type: ignore[method-assign]
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    # When the clip is filtered while a task ticks every 5 ms
    ticking = asyncio.create_task(ticker())
    try:
        result = await object_filter.detect(clip)
    finally:
        done.set()
        await ticking
        await object_filter.close()

    # Then the scan ran in a worker thread and the loop kept ticking meanwhile
    assert result.frames_sampled == 12
    assert threads
    assert threading.get_ident() not in threads
    assert ticks >= 3


async def test_close_stops_a_running_scan_and_its_threads(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given a long scan in progress (40 samples at exact times, every frame decoded)
    clip = clip_factory(width=320, height=180, seconds=10.0, gop_seconds=2.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = slow_constant_model(tmp_path / "slow.onnx", output, input_hw=(192, 320), channels=96)
    settings = OnnxFilterSettings(
        model_path=model,
        sample_interval_s=0.25,
        max_frames=40,
        early_exit=False,
        max_sample_gap_s=None,
    )
    object_filter = OnnxObjectFilter(settings, session_cache=cache)
    scan = asyncio.create_task(object_filter.detect(clip))
    await asyncio.sleep(0.3)

    # When the scan is cancelled and the filter closed
    scan.cancel()
    started = time.perf_counter()
    await object_filter.close()

    # Then closing is quick, no helper thread is left, and the filter refuses new work
    assert time.perf_counter() - started < 5  # far below the 40-frame scan it cut short
    assert not [t for t in threading.enumerate() if t.name.startswith("homesec-onnx")]
    stats = object_filter.last_scan
    assert stats is not None
    assert stats.frames_sampled < 40
    with pytest.raises(asyncio.CancelledError):
        await scan
    with pytest.raises(PermanentError, match="closed"):
        await object_filter.detect(clip)


async def test_an_injected_executor_is_used_and_left_running(
    tmp_path: Path, clip_factory: ClipFactory, cache: SessionCache
) -> None:
    # Given an executor owned by the caller
    clip = clip_factory(seconds=1.0)
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, PERSON, 0.9)], 80, num_anchors=4)
    model = constant_model(tmp_path / "always.onnx", output, input_hw=(64, 64))
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="caller-pool")
    object_filter = OnnxObjectFilter(
        OnnxFilterSettings(model_path=model), session_cache=cache, executor=executor
    )

    # When a clip is filtered and the filter closed
    try:
        result = await object_filter.detect(clip)
        await object_filter.close()
        # Then the executor still takes work (it is the caller's to shut down)
        assert executor.submit(lambda: 42).result() == 42
    finally:
        executor.shutdown(wait=True)
    assert result.detected_classes == ("person",)


# --- settings and onnxruntime -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"min_confidence": 0.0},
        {"min_confidence": 1.5},
        {"min_box_height": -0.1},
        {"min_hits": 0},
        {"sample_interval_s": 0.0},
        {"max_frames": 0},
        {"intra_op_threads": 0},
        {"iou_threshold": 0.0},
    ],
)
def test_settings_reject_out_of_range_values(tmp_path: Path, bad: dict[str, float]) -> None:
    # Given one setting out of range
    (field_name,) = bad

    # When the settings are built
    with pytest.raises(ValueError, match=field_name) as caught:
        OnnxFilterSettings(model_path=tmp_path / "m.onnx", **bad)  # type: ignore[arg-type]

    # Then the error names the field
    assert field_name in str(caught.value)


def test_intra_op_threads_default_to_one_with_parallel_decoding(tmp_path: Path) -> None:
    # Given settings without a thread count, with and without parallel decoding
    parallel = OnnxFilterSettings(model_path=tmp_path / "m.onnx")
    sequential = OnnxFilterSettings(model_path=tmp_path / "m.onnx", parallel_decode=False)
    explicit = OnnxFilterSettings(model_path=tmp_path / "m.onnx", intra_op_threads=3)

    # When the thread counts are resolved
    counts = (
        parallel.resolved_intra_op_threads,
        sequential.resolved_intra_op_threads,
        explicit.resolved_intra_op_threads,
    )

    # Then parallel decoding gets 1, sequential the physical cores capped at 2
    assert counts[0] == 1
    assert 1 <= counts[1] <= 2
    assert counts[1] == default_intra_op_threads(parallel_decode=False)
    assert counts[2] == 3


def test_missing_onnxruntime_raises_a_clear_permanent_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given onnxruntime cannot be imported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)

    # When a model is inspected
    with pytest.raises(OnnxRuntimeUnavailable, match="onnxruntime is not installed") as caught:
        inspect_model(Path(__file__))

    # Then the error is permanent and load_onnxruntime says the same
    assert not caught.value.retryable
    with pytest.raises(OnnxRuntimeUnavailable):
        load_onnxruntime()


def test_importing_the_filter_does_not_import_onnxruntime() -> None:
    # Given a fresh interpreter that imports the filter module (without Home Assistant)
    root = Path(__file__).resolve().parents[2]
    packages = {
        "custom_components": str(root / "custom_components"),
        "custom_components.homesec_nvr": str(root / "custom_components" / "homesec_nvr"),
    }
    code = (
        "import sys, types\n"
        f"for name, path in {packages!r}.items():\n"
        "    module = types.ModuleType(name)\n"
        "    module.__path__ = [path]\n"
        "    sys.modules[name] = module\n"
        "import custom_components.homesec_nvr.core.filters.onnx\n"
        "print('onnxruntime' in sys.modules, 'homeassistant' in sys.modules)\n"
    )

    # When it runs
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )

    # Then neither onnxruntime nor Home Assistant was imported
    assert done.stdout.split() == ["False", "False"]
