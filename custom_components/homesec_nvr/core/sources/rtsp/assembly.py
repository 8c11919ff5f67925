"""Whole access units (one packet per frame) from the RTSP demuxer's video packets.

Video packets first go through an `AccessUnitAssembler`: FFmpeg's RTSP demuxer can split one
frame into several packets (for example a keyframe with several slices, each behind in-band
SPS/PPS), which would give the decoder half frames (false motion at every keyframe) and MP4 two
samples for one frame.
"""

from __future__ import annotations

from typing import Any

from av.packet import Packet
from av.video.stream import VideoStream


def _joined(data: bytes, stamps: Packet[Any]) -> Packet[Any]:
    """A new packet holding `data`, with the timestamps and stream of `stamps`."""
    packet = Packet(data)
    packet.stream = stamps.stream
    packet.time_base = stamps.time_base
    packet.pts = stamps.pts
    packet.dts = stamps.dts
    return packet


class AccessUnitAssembler:
    """Turns a demuxer's video packets into whole access units (one packet per frame).

    RTSP demuxing can split one frame into several packets with the same timestamp (a keyframe
    with several slices, each behind its own SPS/PPS: a decoder would see half frames and MP4
    needs one sample per frame), so such packets are joined; this delays video by one packet.
    A keyframe part without timestamps (FFmpeg gives the first packet of a session so) is put
    in front of the next packet when that is a keyframe too (the rest of the same frame), or
    else takes the timestamps of the frame before the next packet.
    """

    def __init__(self, stream: VideoStream) -> None:
        self._stream = stream
        self._pending: tuple[Packet[Any], float] | None = None
        self._orphan: Packet[Any] | None = None

    def push(self, packet: Packet[Any], t: float) -> list[tuple[Packet[Any], float]]:
        """Add a video packet (time `t`); return the access units now complete, in order."""
        if packet.size <= 0:
            return []
        dts = _packet_dts(packet)
        if dts is None:
            self._orphan = packet if packet.is_keyframe else None
            return []
        orphan, self._orphan = self._orphan, None
        if orphan is not None and packet.is_keyframe:
            packet = _joined(bytes(orphan) + bytes(packet), packet)
            packet.is_keyframe = True
        pending = self._pending
        if pending is not None and dts == _packet_dts(pending[0]):
            joined = _joined(bytes(pending[0]) + bytes(packet), pending[0])
            joined.is_keyframe = pending[0].is_keyframe or packet.is_keyframe
            self._pending = (joined, pending[1])
            return []
        self._pending = (packet, t)
        units = [pending] if pending is not None else []
        if orphan is not None and not packet.is_keyframe:
            before = self._before(orphan, packet, t)
            if before is not None:
                units.append(before)
        return units

    def flush(self) -> list[tuple[Packet[Any], float]]:
        """The access unit still held (end of the stream)."""
        pending, self._pending, self._orphan = self._pending, None, None
        return [pending] if pending is not None else []

    def _before(
        self, orphan: Packet[Any], following: Packet[Any], t: float
    ) -> tuple[Packet[Any], float] | None:
        rate = self._stream.average_rate or self._stream.guessed_rate
        dts = _packet_dts(following)
        if not rate or dts is None:
            return None
        step = round(1 / (rate * following.time_base))
        packet = _joined(bytes(orphan), following)
        packet.pts = (following.pts if following.pts is not None else dts) - step
        packet.dts = dts - step
        packet.is_keyframe = True
        return packet, t - float(step * following.time_base)


def _packet_dts(packet: Packet[Any]) -> int | None:
    dts = packet.dts
    return dts if dts is not None else packet.pts
