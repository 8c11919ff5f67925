"""Frame sampling with PyAV on real H.264 clips: keyframes vs timestamps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.filters.sampling import FrameSampler, SamplingMode
from custom_components.homesec_nvr.core.interfaces import PermanentError

from .video import ClipSpec, write_h264_clip


@pytest.mark.parametrize("bframes", [0, 2])
def test_keyframe_mode_decodes_only_the_keyframes_it_needs(tmp_path: Path, bframes: int) -> None:
    # Given a 6 s clip with a keyframe every 0.5 s (8 frames at 16 fps)
    path = write_h264_clip(
        tmp_path / "gop-half.mp4", ClipSpec(fps=16, seconds=6.0, gop_seconds=0.5, bframes=bframes)
    )
    sampler = FrameSampler(path, interval_s=1.0, max_frames=30)

    # When it is sampled every second
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then one keyframe per second is decoded, and nothing else
    assert sampler.mode is SamplingMode.KEYFRAMES
    assert sampler.keyframe_interval_s == pytest.approx(0.5)
    assert timestamps == pytest.approx([0, 1, 2, 3, 4, 5])
    assert sampler.frames_decoded == 6


def test_timestamp_mode_picks_the_first_frame_at_each_due_time(tmp_path: Path) -> None:
    # Given a 3 s, 15 fps clip with a keyframe every 2 s
    path = write_h264_clip(tmp_path / "gop-2.mp4", ClipSpec(seconds=3.0, gop_seconds=2.0))
    sampler = FrameSampler(path, interval_s=0.7, max_frames=30)

    # When it is sampled every 0.7 s
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then frames are decoded in turn and the first one at or after 0, 0.7, 1.4, 2.1, 2.8 s
    # is taken (15 fps: 0, 11/15, 21/15, 32/15, 42/15)
    assert sampler.mode is SamplingMode.TIMESTAMPS
    assert sampler.keyframe_interval_s is None
    assert timestamps == pytest.approx([0, 11 / 15, 21 / 15, 32 / 15, 42 / 15])
    assert sampler.frames_decoded == 45


def test_a_clip_shorter_than_the_interval_gives_its_first_frame(tmp_path: Path) -> None:
    # Given a 0.5 s clip with a single keyframe
    path = write_h264_clip(tmp_path / "short.mp4", ClipSpec(seconds=0.5, gop_seconds=2.0))
    sampler = FrameSampler(path, interval_s=1.0, max_frames=30)

    # When it is sampled
    samples = list(sampler)

    # Then the first frame is all there is to see, from keyframes only
    assert [s.timestamp_s for s in samples] == [0.0]
    assert sampler.mode is SamplingMode.KEYFRAMES
    assert (samples[0].frame.width, samples[0].frame.height) == (160, 96)


def test_stop_event_ends_the_sampling(tmp_path: Path) -> None:
    # Given a 10 s clip and a stop event
    path = write_h264_clip(tmp_path / "long.mp4", ClipSpec(seconds=10.0, gop_seconds=1.0))
    stop = threading.Event()
    sampler = FrameSampler(path, interval_s=1.0, max_frames=30, stop=stop)

    # When the event is set after the second sample
    timestamps = []
    for sample in sampler:
        timestamps.append(sample.timestamp_s)
        if len(timestamps) == 2:
            stop.set()

    # Then no more frames come
    assert timestamps == pytest.approx([0.0, 1.0])
    assert sampler.frames_decoded == 2


def test_a_non_video_file_is_a_permanent_error(tmp_path: Path) -> None:
    # Given a text file named like a clip
    path = tmp_path / "notes.mp4"
    path.write_text("hello\n")

    sampler = FrameSampler(path, interval_s=1.0, max_frames=3)
    samples: list[object] = []

    # When it is sampled
    with pytest.raises(PermanentError) as caught:
        samples.extend(sampler)

    # Then the error names the file, and nothing was decoded
    assert "cannot open clip notes.mp4" in str(caught.value)
    assert samples == []
    assert sampler.frames_decoded == 0


@pytest.mark.parametrize(("interval", "frames"), [(0.0, 1), (1.0, 0)])
def test_sampler_rejects_bad_arguments(tmp_path: Path, interval: float, frames: int) -> None:
    # Given a non-positive interval or frame budget
    path = tmp_path / "x.mp4"

    # When a sampler is made
    with pytest.raises(ValueError, match="must be") as caught:
        FrameSampler(path, interval_s=interval, max_frames=frames)

    # Then it is refused, naming what is wrong
    assert ("interval_s" if interval <= 0 else "max_frames") in str(caught.value)
