"""MotionRecorder fed from local files: pre/post-roll, rotation, discard, audio, odd packets.

The recorder has no network code, so these tests read real H.264 files with PyAV, use media
time as the clock and mark motion the way the RTSP source does (at the detect rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.container import InputContainer

from custom_components.homesec_nvr.core.media import add_stream_like
from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.rtsp.assembly import AccessUnitAssembler
from custom_components.homesec_nvr.core.sources.rtsp.recorder import MotionRecorder

from .video import ClipSpec, write_h264_clip

FPS = 10
BASE = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
# Dark scene; a bright object is shown from 4 s to 7 s (moving, never at the frame edge).
SPEC = ClipSpec(
    width=160,
    height=96,
    fps=FPS,
    seconds=12,
    gop_seconds=1,
    object_box=(-100, 30, -80, 60),
    object_speed=30,
    object_from_s=4,
    object_until_s=7,
)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_h264_clip(tmp_path_factory.mktemp("rec") / "scene.mp4", SPEC)


def recorder(output: Path, **overrides: Any) -> MotionRecorder:
    options: dict[str, Any] = {
        "camera_id": "Cam 1",
        "camera_name": "Front",
        "output_dir": output,
        "pre_roll_s": 2.0,
        "post_roll_s": 2.0,
        "max_clip_s": 60.0,
        "min_clip_s": 1.0,
        "to_datetime": lambda t: BASE + timedelta(seconds=t),
    }
    options.update(overrides)
    return MotionRecorder(**options)


def packets(container: InputContainer) -> Iterator[tuple[av.Packet, float]]:
    """The container's packets with their media time (seconds).

    A packet must never outlive its container (its stream would dangle)."""
    for packet in container.demux():
        if packet.size and packet.dts is not None:
            yield packet, float(packet.dts * packet.time_base)


def feed(
    rec: MotionRecorder,
    path: Path,
    motion: list[tuple[float, float]],
    *,
    detect_fps: float = 5.0,
    score: float = 4.5,
    transform: Callable[[InputContainer], Iterator[tuple[av.Packet, float]]] | None = None,
) -> list[Clip]:
    """Play a file through the recorder as the RTSP source does (video through an
    AccessUnitAssembler), marking motion during the given intervals.

    `transform(container)` can replace the file's packets."""
    clips: list[Clip] = []
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = next(iter(container.streams.audio), None)
        rec.open(video, audio)
        assembler = AccessUnitAssembler(video)
        next_detect = 0.0

        def handle(packet: av.Packet, t: float) -> None:
            nonlocal next_detect
            if packet.stream.type == "video" and t >= next_detect - 1e-6:
                next_detect += 1 / detect_fps
                for start, end in motion:
                    if start <= t < end:
                        rec.mark_motion(t, score, since=start)
            clips.extend(rec.add_packet(packet, t))

        source = transform(container) if transform else packets(container)
        for packet, t in source:
            if packet.stream.type == "video":
                for unit, unit_t in assembler.push(packet, t):
                    handle(unit, unit_t)
            else:
                handle(packet, t)
        for unit, unit_t in assembler.flush():
            handle(unit, unit_t)
        clips += rec.close()
    return clips


def frames_of(path: Path) -> list[tuple[float, bool, bool]]:
    """Every decoded frame of a file: (time, shows the object, is a keyframe)."""
    result = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            grey = frame.to_ndarray(format="gray")
            result.append((float(frame.time), int((grey > 200).sum()) >= 200, frame.key_frame))
    return result


def object_span(frames: list[tuple[float, bool, bool]]) -> tuple[float, float]:
    shown = [t for t, visible, _ in frames if visible]
    return shown[0], shown[-1]


def test_clip_holds_pre_roll_motion_and_post_roll(clip_file: Path, tmp_path: Path) -> None:
    # Given a recorder with 2 s of pre-roll and post-roll
    rec = recorder(tmp_path)

    # When the file plays with motion while the object is shown (4 s to 7 s)
    clips = feed(rec, clip_file, [(4.0, 7.0)])

    # Then one clip was written, starting on the keyframe 2 s before the motion
    assert len(clips) == 1
    clip = clips[0]
    frames = frames_of(clip.path)
    first_seen, last_seen = object_span(frames)
    assert first_seen == pytest.approx(2.0)
    # ... and ending 2 s after the last motion mark (6.8 s), so 8.8 s: 6.9 s long
    assert clip.metadata["duration_s"] == pytest.approx(6.9, abs=0.01)
    assert len(frames) == 69 and frames[0][2]
    assert frames[-1][0] - last_seen == pytest.approx(3.9 - 1.9, abs=0.11)
    # The clip is described and named after its start
    assert clip.start_ts == BASE + timedelta(seconds=2)
    assert clip.end_ts == BASE + timedelta(seconds=8.9)
    assert clip.source_type == "rtsp"
    assert clip.camera_id == "Cam 1" and clip.camera_name == "Front"
    assert clip.clip_id == "cam_1-20250101T120002000Z"
    assert clip.path == tmp_path / f"{clip.clip_id}.mp4"
    assert clip.metadata["motion_score_peak"] == 4.5
    assert clip.metadata["pre_roll_s"] == pytest.approx(2.0)
    assert clip.metadata["frames"] == 69
    assert clip.metadata["audio_codec"] is None
    # No temporary file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip.path.name]


def test_motion_before_enough_pre_roll_starts_at_the_first_keyframe(
    clip_file: Path, tmp_path: Path
) -> None:
    # Given motion 0.5 s into the stream (less than the 2 s pre-roll is buffered)
    rec = recorder(tmp_path)

    # When the file plays
    clips = feed(rec, clip_file, [(0.5, 1.0)])

    # Then the clip starts at the first keyframe and the recorded pre-roll says so
    assert len(clips) == 1
    assert clips[0].start_ts == BASE
    assert clips[0].metadata["pre_roll_s"] == pytest.approx(0.5)


def test_long_motion_is_split_into_contiguous_clips(clip_file: Path, tmp_path: Path) -> None:
    # Given clips of at most 3 s
    rec = recorder(tmp_path, pre_roll_s=1.0, post_roll_s=1.0, max_clip_s=3.0)

    # When motion lasts the whole file (12 s)
    clips = feed(rec, clip_file, [(0.0, 12.0)])

    # Then it is cut at keyframes into 3 s clips that hold every frame exactly once
    assert [c.metadata["duration_s"] for c in clips] == pytest.approx([3.0, 3.0, 3.0, 3.0])
    assert [c.metadata["continuation"] for c in clips] == [False, True, True, True]
    assert [c.start_ts for c in clips] == [BASE + timedelta(seconds=s) for s in (0, 3, 6, 9)]
    decoded = [frames_of(c.path) for c in clips]
    assert sum(len(f) for f in decoded) == SPEC.frame_count
    assert all(f[0][2] for f in decoded)
    assert len({c.clip_id for c in clips}) == 4


def test_clips_shorter_than_the_minimum_are_discarded(clip_file: Path, tmp_path: Path) -> None:
    # Given a 3 s minimum and short rolls
    rec = recorder(tmp_path, pre_roll_s=0.0, post_roll_s=0.3, min_clip_s=3.0)

    # When there is a brief motion
    clips = feed(rec, clip_file, [(5.0, 5.2)])

    # Then no clip is handed over and no file is left behind
    assert clips == []
    assert rec.clips_discarded == 1
    assert list(tmp_path.iterdir()) == []


def test_a_new_motion_after_the_post_roll_is_a_new_clip(clip_file: Path, tmp_path: Path) -> None:
    # Given short rolls
    rec = recorder(tmp_path, pre_roll_s=1.0, post_roll_s=1.0)

    # When motion happens twice, 5 s apart
    clips = feed(rec, clip_file, [(2.0, 3.0), (8.0, 9.0)])

    # Then there are two clips, each around its own motion
    assert [c.start_ts for c in clips] == [BASE + timedelta(seconds=s) for s in (1, 7)]
    assert all(2.5 <= c.metadata["duration_s"] <= 3.5 for c in clips)


def _with_audio(video_path: Path, out: Path, codec: str, container_format: str) -> Path:
    """Copy a video file and add a 16 kHz mono tone encoded with `codec`."""
    rate = 16000 if codec == "aac" else 8000
    with av.open(str(video_path)) as src, av.open(str(out), "w", format=container_format) as dst:
        v_in = src.streams.video[0]
        v_out = add_stream_like(dst, v_in)
        a_out = dst.add_stream(codec, rate=rate, layout="mono")  # type: ignore[call-overload]
        a_out.time_base = Fraction(1, rate)
        fmt = "fltp" if codec == "aac" else "s16"
        seconds = SPEC.seconds
        samples = 1024
        tone = np.sin(np.arange(int(rate * seconds)) * 2 * math.pi * 440 / rate) * 0.2
        for index in range(0, len(tone) - samples, samples):
            chunk = tone[index : index + samples].reshape(1, -1)
            data = chunk.astype(np.float32) if fmt == "fltp" else (chunk * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = index
            frame.time_base = Fraction(1, rate)
            for packet in a_out.encode(frame):
                dst.mux(packet)
        for packet in a_out.encode():
            dst.mux(packet)
        for packet in src.demux(v_in):
            if packet.dts is None:
                continue
            packet.stream = v_out
            dst.mux(packet)
    return out


def test_aac_audio_is_copied(clip_file: Path, tmp_path: Path) -> None:
    # Given a stream with AAC audio
    source = _with_audio(clip_file, tmp_path / "src.mp4", "aac", "mp4")
    out = tmp_path / "out"
    rec = recorder(out)

    # When motion is recorded
    clips = feed(rec, source, [(4.0, 7.0)])

    # Then the clip holds the audio, copied as it was, over the clip's length
    assert len(clips) == 1 and clips[0].metadata["audio_codec"] == "aac"
    with av.open(str(clips[0].path)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        audio_packets = [p for p in container.demux(audio) if p.size]
    assert len(audio_packets) * 1024 / 16000 == pytest.approx(6.9, abs=0.2)
    assert len(frames_of(clips[0].path)) == 69


def test_audio_that_mp4_cannot_hold_is_dropped(clip_file: Path, tmp_path: Path) -> None:
    # Given a stream with G.711 (mu-law) audio, as many cameras send
    source = _with_audio(clip_file, tmp_path / "src.mov", "pcm_mulaw", "mov")
    out = tmp_path / "out"
    rec = recorder(out)

    # When motion is recorded
    clips = feed(rec, source, [(4.0, 7.0)])

    # Then the clip has video only
    assert len(clips) == 1 and clips[0].metadata["audio_codec"] is None
    with av.open(str(clips[0].path)) as container:
        assert len(container.streams.audio) == 0
        assert sum(1 for _ in container.decode(video=0)) == 69


def _parameter_sets(extradata: bytes) -> bytes:
    """SPS and PPS from an avcC record, as length-prefixed NAL units."""
    out, pos = b"", 6
    for count_pos in (5, None):
        count = extradata[5] & 0x1F if count_pos == 5 else extradata[pos]
        pos += 0 if count_pos == 5 else 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            out += size.to_bytes(4, "big") + extradata[pos + 2 : pos + 2 + size]
            pos += 2 + size
    return out


def _split_keyframes(container: InputContainer) -> Iterator[tuple[av.Packet, float]]:
    """Packets as an RTSP demuxer may give them: each keyframe in two packets with the same
    timestamps (in-band SPS/PPS, then the picture); the very first keyframe's first part
    without timestamps."""
    video = container.streams.video[0]
    parameter_sets = _parameter_sets(bytes(video.codec_context.extradata))
    first = True
    for packet, t in packets(container):
        if not packet.is_keyframe:
            yield packet, t
            continue
        for index, part in enumerate((parameter_sets, bytes(packet))):
            piece = av.Packet(part)
            piece.stream = video
            piece.time_base = packet.time_base
            if not (first and index == 0):
                piece.pts, piece.dts = packet.pts, packet.dts
            piece.is_keyframe = True
            yield piece, t
        first = False


def test_keyframes_split_over_packets_are_merged(clip_file: Path, tmp_path: Path) -> None:
    # Given a stream whose keyframes arrive in two packets with the same timestamp
    rec = recorder(tmp_path, pre_roll_s=4.0)
    seen: list[av.Packet] = []

    def split(container: InputContainer) -> Iterator[tuple[av.Packet, float]]:
        for packet, t in _split_keyframes(container):
            seen.append(packet)
            yield packet, t

    # When motion is recorded from it
    clips = feed(rec, clip_file, [(4.0, 7.0)], transform=split)

    # Then every frame is whole again: as many frames as the source, the object where it was
    assert len(clips) == 1
    frames = frames_of(clips[0].path)
    assert len(frames) == 89 and frames[0][2]
    assert object_span(frames) == (pytest.approx(4.0), pytest.approx(6.9))
    assert sum(1 for _, visible, _ in frames if visible) == 30
    assert len(seen) == SPEC.frame_count + 12  # one extra packet per keyframe


def test_a_first_keyframe_without_timestamps_is_kept(clip_file: Path, tmp_path: Path) -> None:
    # Given a stream whose first frame (a whole keyframe) comes without timestamps, as
    # FFmpeg's RTSP demuxer gives it
    def first_unstamped(container: InputContainer) -> Iterator[tuple[av.Packet, float]]:
        for index, (packet, t) in enumerate(packets(container)):
            if index == 0:
                packet.pts = None
                packet.dts = None  # type: ignore[assignment]
            yield packet, t

    rec = recorder(tmp_path)

    # When motion starts 1 s in
    clips = feed(rec, clip_file, [(1.0, 2.0)], transform=first_unstamped)

    # Then the clip starts with that frame, at its place
    assert len(clips) == 1 and clips[0].start_ts == BASE
    frames = frames_of(clips[0].path)
    assert frames[0][2] and [f[0] for f in frames[:3]] == pytest.approx([0.0, 0.1, 0.2])
    assert len(frames) == 39  # 0.0 s to 3.8 s (2 s after the last motion mark at 1.8 s)


def test_a_timestamp_jump_ends_the_clip_and_recording_resumes(
    clip_file: Path, tmp_path: Path
) -> None:
    # Given a stream whose timestamps jump 100 s forward at 6 s (camera clock reset)
    def jumped(container: InputContainer) -> Iterator[tuple[av.Packet, float]]:
        for packet, t in packets(container):
            if t >= 6.0:
                shift = int(100 / packet.time_base)
                packet.pts = (packet.pts or 0) + shift
                packet.dts = packet.dts + shift
            yield packet, t

    rec = recorder(tmp_path, pre_roll_s=1.0, post_roll_s=1.0)

    # When motion lasts across the jump
    clips = feed(rec, clip_file, [(4.0, 8.0)], transform=jumped)

    # Then the clip ends at the jump and a new one starts on the next keyframe
    assert [c.start_ts for c in clips] == [BASE + timedelta(seconds=s) for s in (3, 6)]
    assert clips[0].metadata["duration_s"] == pytest.approx(3.0)
    # (6.0 s to 8.8 s: 1 s of post-roll after the last motion mark at 7.8 s)
    assert len(frames_of(clips[1].path)) == 29


def test_an_unwritable_folder_is_reported_not_raised(clip_file: Path, tmp_path: Path) -> None:
    # Given an output "folder" that is a file
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    rec = recorder(blocker)

    # When motion happens
    clips = feed(rec, clip_file, [(4.0, 7.0)])

    # Then no clip is produced and the error is kept
    assert clips == []
    assert rec.last_error is not None and "cannot write clip" in rec.last_error
    assert not rec.recording


def test_pre_roll_buffer_stays_bounded(clip_file: Path, tmp_path: Path) -> None:
    # Given a recorder with 2 s pre-roll and no motion
    rec = recorder(tmp_path)
    with av.open(str(clip_file)) as container:
        rec.open(container.streams.video[0], None)
        sizes = []
        # When the whole file goes through it
        for packet, t in packets(container):
            rec.add_packet(packet, t)
            sizes.append(rec.buffered_s)

    # Then the buffer covers the pre-roll plus at most a GOP and the margin, never the file
    assert max(sizes) <= 2.0 + 1.0 + 0.5
    assert sizes[-1] >= 2.0
    assert rec.buffered_bytes > 0
    assert list(tmp_path.iterdir()) == []


def _transcode_to_hevc(source: Path, target: Path, seconds: float) -> Path:
    """Re-encode the first seconds of a clip as H.265 (keyframe every second)."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="mp4") as dst:
        stream = dst.add_stream("libx265", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SPEC.width, SPEC.height, "yuv420p"
        stream.codec_context.options = {
            "preset": "ultrafast",
            "x265-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0:log-level=error",
        }
        for index, frame in enumerate(src.decode(video=0)):
            if index >= seconds * FPS:
                break
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return target


def test_hevc_is_remuxed_with_the_apple_friendly_tag(clip_file: Path, tmp_path: Path) -> None:
    # Given an H.265 camera stream
    source = _transcode_to_hevc(clip_file, tmp_path / "hevc.mp4", seconds=5)
    out = tmp_path / "out"
    rec = recorder(out, pre_roll_s=1.0, post_roll_s=0.5)

    # When motion is recorded
    clips = feed(rec, source, [(2.0, 3.0)])

    # Then the clip is H.265 tagged hvc1, and every frame decodes
    assert len(clips) == 1 and clips[0].metadata["video_codec"] == "hevc"
    with av.open(str(clips[0].path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "hevc"
        assert video.codec_context.codec_tag == "hvc1"
    # 1.0 s (keyframe before the pre-roll) to 3.3 s (post-roll after the last mark, 2.8 s)
    assert len(frames_of(clips[0].path)) == clips[0].metadata["frames"] == 24


def test_memory_budget_bounds_the_pre_roll(clip_file: Path, tmp_path: Path) -> None:
    # Given recorders whose buffer budget holds about two GOPs, and less than one GOP
    gop_bytes = 4000
    roomy = recorder(tmp_path, pre_roll_s=5.0, max_buffer_bytes=2 * gop_bytes)
    tight = recorder(tmp_path, pre_roll_s=5.0, max_buffer_bytes=500)

    # When the file goes through them
    sizes = []
    with av.open(str(clip_file)) as container:
        roomy.open(container.streams.video[0], None)
        tight.open(container.streams.video[0], None)
        for packet, t in packets(container):
            roomy.add_packet(packet, t)
            tight.add_packet(packet, t)
            sizes.append(roomy.buffered_bytes)
        roomy.close()
        tight.close()

    # Then the buffer never outgrows its budget; a GOP larger than the budget is dropped
    assert 0 < max(sizes) <= 2 * gop_bytes
    assert tight.buffered_bytes == 0
    assert tight.last_error is not None and "keyframes too rare" in tight.last_error


def test_packets_going_back_in_time_are_dropped(clip_file: Path, tmp_path: Path) -> None:
    # Given a recording in progress
    rec = recorder(tmp_path, pre_roll_s=1.0, post_roll_s=1.0)
    clips: list[Clip] = []
    with av.open(str(clip_file)) as container:
        rec.open(container.streams.video[0], None)
        earlier: av.Packet | None = None
        for packet, t in packets(container):
            if 2.0 <= t < 3.0:
                rec.mark_motion(t, 3.0, since=2.0)
            if t == pytest.approx(2.2):
                earlier = av.Packet(bytes(packet))
                earlier.stream, earlier.time_base = packet.stream, packet.time_base
                earlier.pts, earlier.dts = packet.pts, packet.dts
            clips += rec.add_packet(packet, t)
            # When a packet from 0.3 s earlier comes again
            if t == pytest.approx(2.5):
                assert earlier is not None
                clips += rec.add_packet(earlier, t)
        clips += rec.close()

    # Then it is left out and the clip stays playable
    assert rec.packets_dropped == 1
    assert len(clips) == 1
    frames = frames_of(clips[0].path)
    # 1.0 s (keyframe before the pre-roll) to 3.9 s (1 s after the last mark, 2.9 s)
    assert (len(frames), clips[0].metadata["frames"]) == (30, 30)
