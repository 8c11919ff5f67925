"""The clip writer: one MP4 being written from the record stream's packets, without re-encoding.

Packets are remuxed into MP4 as they are (`media.add_stream_like`, no re-encoding), their
timestamps rebased to the clip's first keyframe; a packet from before the clip's start or out
of order is dropped (counted in `dropped`). HEVC is tagged `hvc1` for Apple players.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from ...media import add_stream_like


@dataclass(slots=True, eq=False)
class Entry:
    """A record-stream packet with its timestamps resolved (buffered, then written)."""

    packet: Packet[Any]
    pts: int
    dts: int
    time_base: Fraction
    video: bool
    key: bool
    t: float
    size: int


class ClipWriter:
    """One MP4 being written (remux)."""

    def __init__(
        self,
        *,
        temp_path: Path,
        name: str,
        video: VideoStream,
        audio: AudioStream | None,
        first: Entry,
        continuation: bool,
    ) -> None:
        self.temp_path = temp_path
        self.name = name
        self.start_t = first.t
        self.end_t = first.t
        self.continuation = continuation
        self.peak = 0.0
        self.motion_since: float | None = None
        # The motion event the clip belongs to (clips of one event share it).
        self.event_key: str | None = None
        self.dropped = 0
        self.frames = 0
        self.audio_packets = 0
        self.bytes = 0
        self._origin = Fraction(first.dts) * first.time_base
        self._video_end = Fraction(0)
        self._frame_step = Fraction(0)
        self._last_dts: dict[bool, int] = {}
        self._offsets: dict[bool, int] = {}
        self.container: OutputContainer = av.open(str(temp_path), mode="w", format="mp4")
        try:
            self._out_video = add_stream_like(self.container, video)
            if video.codec_context.name == "hevc":
                # Apple players want hvc1 (parameter sets in the sample entry).
                self._out_video.codec_context.codec_tag = "hvc1"
            self._out_audio = add_stream_like(self.container, audio) if audio is not None else None
        except BaseException:
            self.container.close()
            raise

    def write(self, entry: Entry) -> None:
        """Mux one packet (timestamps rebased to the clip's first keyframe)."""
        out = self._out_video if entry.video else self._out_audio
        if out is None:
            return
        offset = self._offsets.get(entry.video)
        if offset is None:
            offset = math.floor(self._origin / entry.time_base)
            self._offsets[entry.video] = offset
        pts, dts = entry.pts - offset, entry.dts - offset
        last = self._last_dts.get(entry.video)
        if pts < 0 or dts < 0 or (last is not None and dts <= last):
            self.dropped += 1
            return
        packet = entry.packet
        packet.stream = out
        packet.time_base = entry.time_base
        packet.pts = pts
        packet.dts = dts
        self.container.mux_one(packet)
        self._last_dts[entry.video] = dts
        self.bytes += entry.size
        self.end_t = max(self.end_t, entry.t)
        if entry.video:
            self.frames += 1
            pts_s = Fraction(pts) * entry.time_base
            if pts_s > self._video_end:
                if self.frames > 1:
                    self._frame_step = pts_s - self._video_end
                self._video_end = pts_s
        else:
            self.audio_packets += 1

    @property
    def duration_s(self) -> float:
        """Length of the video written so far (last frame included)."""
        return float(self._video_end + self._frame_step)

    def close(self) -> None:
        """Finish the file (write the index)."""
        self.container.close()
