"""ClipWriter on its own: audio without an audio track, a first frame shown after its decode time.

Real H.264 packets from PyAV-made files are remuxed into a real MP4.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from custom_components.homesec_nvr.core.sources.rtsp.writer import ClipWriter, Entry

from .video import ClipSpec, write_h264_clip


@pytest.fixture(scope="module")
def bframe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = ClipSpec(width=64, height=48, fps=10, seconds=2, gop_seconds=1, bframes=2)
    return write_h264_clip(tmp_path_factory.mktemp("writer") / "b.mp4", spec)


def entry(packet: av.Packet, *, video: bool = True) -> Entry:
    assert packet.pts is not None and packet.dts is not None
    time_base = Fraction(packet.time_base)
    return Entry(
        packet=packet,
        pts=packet.pts,
        dts=packet.dts,
        time_base=time_base,
        video=video,
        key=packet.is_keyframe,
        t=float(packet.dts * time_base),
        size=packet.size,
    )


def test_audio_packets_are_ignored_without_an_audio_track(
    bframe_file: Path, tmp_path: Path
) -> None:
    # Given a writer for a video-only clip and a stream with B-frames (pts ahead of dts)
    with av.open(str(bframe_file)) as container:
        video = container.streams.video[0]
        packets = [p for p in container.demux(video) if p.size]
        first = entry(packets[0])
        assert first.pts > first.dts  # the first frame is shown after it is decoded
        writer = ClipWriter(
            temp_path=tmp_path / "clip.mp4.part",
            name="clip",
            video=video,
            audio=None,
            first=first,
            continuation=False,
        )

        # When the first keyframe is written
        writer.write(first)

        # Then the clip's length is where that frame is shown; no frame step is guessed yet
        shown = float(Fraction(first.pts - first.dts) * first.time_base)
        assert writer.frames == 1
        assert writer.duration_s == pytest.approx(shown)

        # When an "audio" packet arrives although the clip has no audio track
        written = writer.bytes
        writer.write(entry(packets[1], video=False))

        # Then it is ignored: not written, not counted, not dropped
        assert writer.audio_packets == 0 and writer.dropped == 0
        assert writer.bytes == written

        # When the rest of the video is written and the clip closed
        for packet in packets[1:]:
            writer.write(entry(packet))
        writer.close()

    # Then the file plays with every frame
    with av.open(str(tmp_path / "clip.mp4.part"), format="mp4") as result:
        assert len(result.streams.audio) == 0
        assert sum(1 for _ in result.decode(video=0)) == len(packets)
