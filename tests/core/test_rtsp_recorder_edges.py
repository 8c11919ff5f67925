"""MotionRecorder edge cases on real H.264 files: motion before any packet, packets that cannot
be kept, a clip name already taken, a clip that cannot be renamed into place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from av.container import InputContainer

from .test_rtsp_recorder import BASE, SPEC, feed, packets, recorder
from .video import write_h264_clip

NAME = "cam_1-20250101T120002000Z"  # the clip of motion from 4 s (2 s pre-roll)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_h264_clip(tmp_path_factory.mktemp("rec-edges") / "scene.mp4", SPEC)


def test_motion_marked_before_any_packet_starts_at_the_first_keyframe(
    clip_file: Path, tmp_path: Path
) -> None:
    # Given motion marked twice before the stream delivered anything (the first mark strongest)
    rec = recorder(tmp_path)
    rec.mark_motion(0.0, 9.0, since=0.0)
    rec.mark_motion(0.1, 3.0, since=0.1)

    # When the file plays with motion for its first second
    clips = feed(rec, clip_file, [(0.0, 1.0)])

    # Then one clip starts at the first keyframe, with the first mark's start and the peak score
    assert len(clips) == 1
    assert clips[0].start_ts == BASE
    assert clips[0].metadata["pre_roll_s"] == 0.0
    assert clips[0].metadata["motion_score_peak"] == 9.0


def test_packets_that_cannot_be_kept_are_ignored(clip_file: Path, tmp_path: Path) -> None:
    # Given a recorder on a file's video stream, and the file's packets
    rec = recorder(tmp_path)
    with av.open(str(clip_file)) as container:
        rec.open(container.streams.video[0], None)
        video = list(packets(container))
        key, delta = video[0][0], video[1][0]
        assert key.is_keyframe and not delta.is_keyframe

        # When an empty packet, a frame before any keyframe, and a frame without
        # timestamps arrive
        results = [rec.add_packet(av.Packet(), 0.0), rec.add_packet(delta, video[1][1])]
        untimed = video[2][0]
        untimed.pts = None
        untimed.dts = None
        results.append(rec.add_packet(untimed, video[2][1]))

        # Then none is buffered
        assert results == [[], [], []]
        assert rec.buffered_bytes == 0

        # When the keyframe arrives
        rec.add_packet(key, video[0][1])

        # Then the buffer starts with it
        assert rec.buffered_bytes == key.size
        assert rec.close() == []


def test_a_clip_name_already_taken_gets_a_counter(clip_file: Path, tmp_path: Path) -> None:
    # Given a file already named as the next clip would be
    (tmp_path / f"{NAME}.mp4").write_bytes(b"not ours")

    # When the file plays with motion
    clips = feed(recorder(tmp_path), clip_file, [(4.0, 7.0)])

    # Then the clip gets the next free name, and the other file is left alone
    assert [c.clip_id for c in clips] == [f"{NAME}-1"]
    assert clips[0].path.is_file()
    assert (tmp_path / f"{NAME}.mp4").read_bytes() == b"not ours"


def test_a_clip_that_cannot_be_renamed_is_reported_and_kept_on_disk(
    clip_file: Path, tmp_path: Path
) -> None:
    # Given a folder that appears at the clip's final path while it is being written
    def block_final_path(container: InputContainer) -> Iterator[tuple[av.Packet, float]]:
        for packet, t in packets(container):
            if t >= 5.0:
                (tmp_path / f"{NAME}.mp4").mkdir(exist_ok=True)
            yield packet, t

    rec = recorder(tmp_path)

    # When the file plays with motion
    clips = feed(rec, clip_file, [(4.0, 7.0)], transform=block_final_path)

    # Then no clip is handed over, the error is reported, and the written file stays
    assert clips == []
    assert rec.last_error is not None and f"cannot rename clip {NAME}" in rec.last_error
    assert rec.clips_written == 0
    assert (tmp_path / f".{NAME}.mp4.part").stat().st_size > 0


@pytest.mark.parametrize(("motion_t", "records"), [(-5.0, False), (-1.0, True)])
def test_motion_waiting_for_a_keyframe_expires_after_the_post_roll(
    clip_file: Path, tmp_path: Path, motion_t: float, records: bool
) -> None:
    # Given motion marked before the stream's first keyframe (5 s or 1 s before it)
    rec = recorder(tmp_path)
    with av.open(str(clip_file)) as container:
        rec.open(container.streams.video[0], None)
        rec.mark_motion(motion_t, 4.0)
        key = next(packets(container))[0]

        # When the first keyframe arrives at t = 0 (the post-roll is 2 s)
        rec.add_packet(key, 0.0)

        # Then a clip starts only when the motion is still within the post-roll
        assert rec.recording is records
        rec.close()


def test_a_full_disk_is_reported_and_nothing_is_handed_over(
    clip_file: Path, tmp_path: Path
) -> None:
    # Given the clip's temporary file lands on a device that is always full
    (tmp_path / f".{NAME}.mp4.part").symlink_to("/dev/full")
    rec = recorder(tmp_path)

    # When the file plays with motion
    clips = feed(rec, clip_file, [(4.0, 7.0)])

    # Then no clip is handed over, the error says why, and the temporary file is removed
    assert clips == []
    assert rec.last_error == f"cannot write clip {NAME}: No space left on device"
    assert rec.clips_written == 0 and not rec.recording
    assert not (tmp_path / f".{NAME}.mp4.part").is_symlink()
