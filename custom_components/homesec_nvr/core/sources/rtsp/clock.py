"""The media clock: a stream's packet times expressed on `time.monotonic()`.

Times. A stream's packet times are mapped onto `time.monotonic()`: the first packet is anchored
at the moment the stream was opened (a live stream starts "now"; the packets buffered while
the stream was being analysed keep their spacing), and the mapping follows the camera's clock
(drift, timestamp jumps) when it strays by more than a second. Clip start and end come from
the same mapping, so they are the camera's media times expressed in wall-clock time.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

# Follow the camera when the mapping strays.
_CLOCK_AHEAD_S = 0.5
_CLOCK_JUMP_S = 5.0
_CLOCK_WINDOW_S = 10.0
_CLOCK_MAX_LAG_S = 1.0


class MediaClock:
    """Maps a stream's media time (seconds) onto time.monotonic()."""

    def __init__(self, anchor: float) -> None:
        self._anchor = anchor
        self._offset: float | None = None
        self._window_start = anchor
        self._window_lag = math.inf

    def map(self, media_s: float, arrival: float) -> float:
        """Map a packet's time, learning from its arrival."""
        if self._offset is None:
            self._offset = self._anchor - media_s
        mapped = media_s + self._offset
        lag = arrival - mapped
        if lag < -_CLOCK_AHEAD_S or lag > _CLOCK_JUMP_S:
            # Ahead of real time (fast camera clock, jump forward) or a jump backwards.
            self._offset = arrival - media_s
            self._window_start, self._window_lag = arrival, math.inf
            return arrival
        self._window_lag = min(self._window_lag, lag)
        if arrival - self._window_start >= _CLOCK_WINDOW_S:
            if self._window_lag > _CLOCK_MAX_LAG_S:
                # Every packet of the window arrived late: the camera's clock is slow.
                self._offset += self._window_lag
                mapped += self._window_lag
            self._window_start, self._window_lag = arrival, math.inf
        return mapped

    def peek(self, media_s: float) -> float:
        """Map a time without learning (decoded frames)."""
        return media_s + (self._offset if self._offset is not None else self._anchor - media_s)


def monotonic_to_datetime(t: float) -> datetime:
    """A `time.monotonic()` time as wall-clock time (UTC)."""
    return datetime.fromtimestamp(time.time() - (time.monotonic() - t), tz=UTC)
