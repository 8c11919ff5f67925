"""Choosing, resizing and encoding the frames the vision model sees (real H.264 clips)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from custom_components.homesec_nvr.core.interfaces import PermanentError
from custom_components.homesec_nvr.core.models import Detection
from custom_components.homesec_nvr.core.vlm.frames import (
    choose_times,
    detection_focus_times,
    fit_within,
    format_time_label,
    prepare_frames,
    sample_interval,
)

from .video import ClipSpec, write_h264_clip


def seen(label: str, confidence: float, t: float) -> Detection:
    return Detection(label, confidence, (0.0, 0.0, 10.0, 10.0), t)


def test_without_detections_frames_are_spread_evenly() -> None:
    # Given a 16 s clip and no detections
    # When 8 times are chosen
    times = choose_times(16.0, [], 8)

    # Then they are the middles of 8 equal slices
    assert times == [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0]


def test_detections_get_frames_and_the_rest_covers_start_end_and_gaps() -> None:
    # Given a 20 s clip where a person was seen between 8 and 10 s
    detections = [seen("person", 0.5, 8.0), seen("person", 0.9, 9.0), seen("person", 0.6, 10.0)]

    # When 6 times are chosen
    times = choose_times(20.0, detections, 6)

    # Then the detection moments are kept (3 = half the frames), plus start, end and a gap
    assert times == sorted(times)
    assert len(times) == 6
    assert {8.0, 9.0, 10.0} <= set(times)
    assert times[0] == 0.0
    assert times[-1] == 20.0


def test_detection_focus_starts_with_the_most_confident_moment_and_spreads() -> None:
    # Given detections at 1..5 s, most confident at 3 s
    detections = [seen("car", 0.9 if t == 3 else 0.4, float(t)) for t in range(1, 6)]

    # When two focus moments are chosen
    focus = detection_focus_times(detections, 2)

    # Then the most confident one and the farthest from it are chosen
    assert focus == [1.0, 3.0]


def test_fit_within_scales_down_only() -> None:
    # Given frame sizes larger and smaller than the limit
    # When they are fitted to 1024
    # Then the longest side is 1024 at most and aspect is kept; small frames stay as they are
    assert fit_within(1920, 1080, 1024) == (1024, 576)
    assert fit_within(1080, 1920, 1024) == (576, 1024)
    assert fit_within(640, 360, 1024) == (640, 360)


def test_sampling_is_denser_than_the_frames_within_bounds() -> None:
    # Given clips of different lengths
    # When the sampling interval for 8 frames is chosen
    # Then it is about two samples per wanted frame, between 0.25 s and 2 s
    assert sample_interval(16.0, 8) == 1.0
    assert sample_interval(1.0, 8) == 0.25
    assert sample_interval(600.0, 8) == 2.0


def test_labels_show_seconds_with_one_decimal() -> None:
    # Given times from the start of a clip
    # When they are labelled
    # Then the label is t=<seconds>s
    assert format_time_label(3.0) == "t=3.0s"
    assert format_time_label(12.345) == "t=12.3s"


def test_prepared_frames_are_labelled_resized_jpegs_within_the_clip(tmp_path: Path) -> None:
    # Given a 6 s 160x96 clip with a keyframe every second and a detection at 4 s
    path = write_h264_clip(tmp_path / "c.mp4", ClipSpec(seconds=6.0, gop_seconds=1.0))

    # When up to 5 frames of at most 80 px are prepared
    prepared = prepare_frames(
        path, detections=[seen("person", 0.9, 4.0)], max_frames=5, max_side=80, jpeg_quality=70
    )

    # Then there are at most 5 distinct, ordered frames inside the clip, one at 4 s
    times = [f.timestamp_s for f in prepared.frames]
    assert 3 <= len(times) <= 5
    assert times == sorted(set(times))
    assert all(0.0 <= t <= 6.0 for t in times)
    assert any(abs(t - 4.0) < 0.1 for t in times)
    assert prepared.duration_s == pytest.approx(6.0, abs=0.1)
    assert (prepared.source_width, prepared.source_height) == (160, 96)
    # each frame is a JPEG of 80x48
    for frame in prepared.frames:
        image = Image.open(io.BytesIO(frame.jpeg))
        assert image.format == "JPEG"
        assert image.size == (frame.width, frame.height) == (80, 48)
        assert frame.data_url().startswith("data:image/jpeg;base64,/9j/")


def test_a_long_keyframe_interval_gives_the_frames_nearest_the_wanted_times(
    tmp_path: Path,
) -> None:
    # Given a 4 s clip with a single keyframe (every frame must be decoded)
    path = write_h264_clip(tmp_path / "c.mp4", ClipSpec(seconds=4.0, gop_seconds=4.0))

    # When 4 frames are prepared
    prepared = prepare_frames(path, max_frames=4)

    # Then they are the frames nearest the middles of four 1 s slices (15 fps), and decoding
    # stopped after the last one
    assert [f.timestamp_s for f in prepared.frames] == pytest.approx(
        [0.5, 1.5, 2.5, 3.5], abs=0.5 / 15
    )
    assert prepared.frames_decoded < 60


def test_short_keyframe_intervals_decode_keyframes_only(tmp_path: Path) -> None:
    # Given a 20 s clip with a keyframe every second (15 fps: 300 frames)
    path = write_h264_clip(tmp_path / "c.mp4", ClipSpec(seconds=20.0, gop_seconds=1.0))

    # When 8 frames are prepared (one every 2.5 s is wanted)
    prepared = prepare_frames(path, max_frames=8)

    # Then only keyframes were decoded, and each wanted time got the nearest keyframe
    assert prepared.frames_decoded <= 21
    times = [f.timestamp_s for f in prepared.frames]
    assert all(t == round(t) for t in times)
    assert len(times) == 8
    assert times == pytest.approx([1.25 + 2.5 * i for i in range(8)], abs=0.5)


def test_a_file_that_is_not_a_video_is_a_permanent_error(tmp_path: Path) -> None:
    # Given a file with garbage in it
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video at all" * 50)

    # When frames are prepared
    with pytest.raises(PermanentError) as caught:
        prepare_frames(path)

    # Then the error names the file and what failed
    assert "cannot prepare frames" in str(caught.value)
    assert "broken.mp4" in str(caught.value)


def test_a_clip_cut_before_its_index_is_a_permanent_error(tmp_path: Path) -> None:
    # Given an mp4 cut in half (its index, written last, is missing)
    path = write_h264_clip(tmp_path / "c.mp4", ClipSpec(seconds=4.0))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    # When frames are prepared
    with pytest.raises(PermanentError) as caught:
        prepare_frames(cut, max_frames=4)

    # Then it is a permanent error naming the file
    assert "cannot open clip cut.mp4" in str(caught.value)


def test_a_stop_request_ends_preparation_quietly(tmp_path: Path) -> None:
    # Given a clip and a stop event already set (the analysis was cancelled)
    path = write_h264_clip(tmp_path / "c.mp4", ClipSpec(seconds=4.0))
    stop = threading.Event()
    stop.set()

    # When frames are prepared
    prepared = prepare_frames(path, max_frames=4, stop=stop)

    # Then nothing is decoded and no error is raised
    assert prepared.frames_decoded == 0
    assert prepared.frames == ()
