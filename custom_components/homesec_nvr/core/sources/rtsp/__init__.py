"""RTSP camera source: motion detection on the stream, motion clips recorded without re-encoding.

Each module holds one part, lowest first (a module imports only from those above it):

- `settings`: `RtspSettings`, credentials kept apart from the URLs, redaction;
- `probe`: opening a stream and describing it (`StreamInfo`), the config flow's probe;
- `clock`: packet times mapped onto `time.monotonic()`;
- `assembly`: the demuxer's video packets joined into whole frames;
- `writer`: one MP4 clip being remuxed;
- `recorder`: the pre-roll buffer and the motion clips (`MotionRecorder`);
- `outbox`: finished clips handed over to the event loop, with retries;
- `worker`: the camera's thread: connect, reconnect, detect motion, feed the recorder;
- `source`: `RtspSource`, the ClipSource the integration uses.

Motion detection itself (background, masks, score) is in `..motion`.
"""

from .probe import RtspProbeError, probe_stream
from .settings import SOURCE_TYPE, RtspSettings, redact_url
from .source import RtspSource

__all__ = [
    "SOURCE_TYPE",
    "RtspProbeError",
    "RtspSettings",
    "RtspSource",
    "probe_stream",
    "redact_url",
]
