"""Frame sampling with PyAV on real H.264 clips: keyframes, long GOPs and timestamps."""

from __future__ import annotations

import itertools
import threading
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.video.stream
import numpy as np
import pytest

from custom_components.homesec_nvr.core.filters.onnx import OnnxFilterSettings
from custom_components.homesec_nvr.core.filters.sampling import FrameSampler, SamplingMode
from custom_components.homesec_nvr.core.interfaces import PermanentError
from custom_components.homesec_nvr.core.media import add_stream_like

from .video import ClipSpec, write_h264_clip

# The object filter's defaults: what every camera gets unless its settings say otherwise.
FILTER_DEFAULTS = OnnxFilterSettings(model_path=Path("unused.onnx"))


def default_sampler(path: Path, stop: threading.Event | None = None) -> FrameSampler:
    """A sampler as the object filter builds it at its defaults."""
    return FrameSampler(
        path,
        FILTER_DEFAULTS.sample_interval_s,
        FILTER_DEFAULTS.max_frames,
        stop=stop,
        max_gap_s=FILTER_DEFAULTS.max_sample_gap_s,
    )


def largest_gap(timestamps: list[float], end_s: float) -> float:
    """The longest stretch of the clip (start and end included) without a sample."""
    points = [0.0, *timestamps, end_s]
    return max(b - a for a, b in itertools.pairwise(points))


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


# --- long GOPs at the object filter's defaults ------------------------------------------------


def test_the_filter_defaults_bound_the_gap_between_samples() -> None:
    # Given the object filter's default settings
    settings = FILTER_DEFAULTS

    # When their sampling is looked at
    interval, gap = settings.sample_interval_s, settings.max_sample_gap_s

    # Then a sample is due every second, and keyframes up to 4 s apart are enough on their own
    assert interval == 1.0
    assert settings.max_frames == 30
    assert gap == 4.0


@pytest.mark.parametrize(("bframes", "decoded"), [(0, 5), (2, 15)])
def test_a_long_gop_is_sampled_from_its_keyframes_alone_at_the_defaults(
    tmp_path: Path, bframes: int, decoded: int
) -> None:
    # Given a 20 s, 15 fps clip (300 frames) with a keyframe every 4 s, longer than the 1 s
    # sample interval
    path = write_h264_clip(
        tmp_path / "gop-4.mp4", ClipSpec(seconds=20.0, gop_seconds=4.0, bframes=bframes)
    )
    sampler = default_sampler(path)

    # When it is sampled at the filter's defaults
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then each keyframe is a sample and nothing else is decoded (with B-frames, the two frames
    # the decoder needs before it gives the keyframe back too), far from the 300 frames
    assert sampler.mode is SamplingMode.LONG_GOP
    assert timestamps == pytest.approx([0, 4, 8, 12, 16])
    assert sampler.frames_decoded == decoded


def test_a_gop_longer_than_the_bound_is_decoded_only_as_far_as_the_bound_needs(
    tmp_path: Path,
) -> None:
    # Given a 20 s, 15 fps clip with a keyframe every 10 s (more than the 4 s bound)
    path = write_h264_clip(tmp_path / "gop-10.mp4", ClipSpec(seconds=20.0, gop_seconds=10.0))
    sampler = default_sampler(path)

    # When it is sampled at the filter's defaults
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then each GOP is decoded from its keyframe to 4 s before the next keyframe (or the end)
    # and sampled every second there: no stretch of the clip goes 4 s without a sample, and
    # 182 of the 300 frames are decoded (0-6 s and 10-16 s)
    assert sampler.mode is SamplingMode.LONG_GOP
    assert timestamps == pytest.approx([0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16])
    assert largest_gap(timestamps, end_s=299 / 15) <= 4.0
    assert sampler.frames_decoded == 2 * (6 * 15 + 1)


def test_a_single_keyframe_clip_is_sampled_within_the_bound(tmp_path: Path) -> None:
    # Given a 6 s clip whose only keyframe is its first frame
    path = write_h264_clip(tmp_path / "one-key.mp4", ClipSpec(seconds=6.0, gop_seconds=10.0))
    sampler = default_sampler(path)

    # When it is sampled at the filter's defaults
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then the first 2 s are sampled every second, which leaves less than 4 s to the end
    assert sampler.mode is SamplingMode.LONG_GOP
    assert sampler.keyframe_interval_s is None
    assert timestamps == pytest.approx([0, 1, 2])
    assert sampler.frames_decoded == 31


def test_a_clip_cut_mid_gop_is_sampled_from_its_first_keyframe(tmp_path: Path) -> None:
    # Given a 6 s clip (a keyframe every 2 s) whose first 10 frames, the first keyframe among
    # them, were cut off: it starts with 20 frames that cannot be decoded
    whole = write_h264_clip(tmp_path / "whole.mp4", ClipSpec(seconds=6.0, gop_seconds=2.0))
    path = tmp_path / "cut.mp4"
    with av.open(str(whole)) as source, av.open(str(path), "w", format="mp4") as target:
        stream = source.streams.video[0]
        out = add_stream_like(target, stream)
        for index, packet in enumerate(source.demux(stream)):
            if packet.dts is not None and index >= 10:
                packet.stream = out
                target.mux(packet)
    sampler = default_sampler(path)

    # When it is sampled at the filter's defaults
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then sampling starts at its first keyframe (2 s into the original, 4/3 s into the cut
    # clip) and takes the keyframes from there; only those are decoded
    assert sampler.mode is SamplingMode.LONG_GOP
    assert timestamps == pytest.approx([4 / 3, 10 / 3])
    assert sampler.frames_decoded == 2


def write_vfr_clip(path: Path, frame_times_ms: list[int], gop_frames: int) -> Path:
    """An H.264 clip with the given presentation times (a millisecond time base)."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = cast(av.video.stream.VideoStream, container.add_stream("libx264", rate=30))
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={gop_frames}:min-keyint={gop_frames}:scenecut=0:bframes=0",
        }
        for index, pts in enumerate(frame_times_ms):
            luma = np.full((96, 160), 40 + index % 50, dtype=np.uint8)
            yuv = np.concatenate((luma, np.full((48, 160), 128, dtype=np.uint8)))
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_variable_frame_rate_clip_keeps_samples_within_the_bound(tmp_path: Path) -> None:
    # Given a 20 s clip whose frames come 40 to 160 ms apart (a camera dropping frames), with a
    # keyframe every 40 frames (2 to 6 s apart)
    rng = np.random.default_rng(12)
    times = [0, *np.cumsum(rng.integers(40, 161, 400)).tolist()]
    times = [t for t in times if t < 20_000]
    path = write_vfr_clip(tmp_path / "vfr.mp4", times, gop_frames=40)
    keyframes = [times[i] / 1000 for i in range(0, len(times), 40)]
    sampler = default_sampler(path)

    # When it is sampled at the filter's defaults
    timestamps = [sample.timestamp_s for sample in sampler]

    # Then every keyframe is a sample, no stretch of the clip goes over 4 s (and a frame)
    # without one, and far fewer frames than the clip holds are decoded
    assert max(b - a for a, b in itertools.pairwise(keyframes)) > 4.0
    assert sampler.mode is SamplingMode.LONG_GOP
    assert set(keyframes) <= {round(t, 3) for t in timestamps}
    assert largest_gap(timestamps, end_s=times[-1] / 1000) <= 4.0 + 0.16
    assert timestamps == sorted(timestamps)
    assert sampler.frames_decoded < len(times) / 2


def test_stop_event_ends_a_long_gop_sampling(tmp_path: Path) -> None:
    # Given a 20 s clip with a keyframe every 10 s and a stop event
    path = write_h264_clip(tmp_path / "gop-10.mp4", ClipSpec(seconds=20.0, gop_seconds=10.0))
    stop = threading.Event()
    sampler = default_sampler(path, stop=stop)

    # When the event is set after the second sample
    timestamps = []
    for sample in sampler:
        timestamps.append(sample.timestamp_s)
        if len(timestamps) == 2:
            stop.set()

    # Then no more frames come, and decoding stopped with them
    assert timestamps == pytest.approx([0.0, 1.0])
    assert sampler.frames_decoded == 16


def test_sampler_rejects_a_non_positive_gap_bound(tmp_path: Path) -> None:
    # Given a gap bound of zero
    path = tmp_path / "x.mp4"

    # When a sampler is made with it
    with pytest.raises(ValueError, match="must be") as caught:
        FrameSampler(path, interval_s=1.0, max_frames=3, max_gap_s=0.0)

    # Then it is refused, naming the argument
    assert "max_gap_s" in str(caught.value)
