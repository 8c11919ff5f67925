"""A small RTSP server for tests and benchmarks (GStreamer's GstRtspServer).

Run it with the SYSTEM python (python3-gi only exists there), never the virtualenv:

    /usr/bin/python3 tests/core/rtsp_server.py --port 8554 \
        --file /cam=/tmp/clip.mp4 --pattern /live=320x180@10 [--user u --password p]

- `--file MOUNT=PATH` plays an MP4 (H.264 video, optional AAC audio) without re-encoding, in
  real time, from its beginning for each client (media is not shared); at the end of the file
  the session ends (the client sees end of stream). SPS/PPS are sent in-band before every
  keyframe slice, as many cameras do: FFmpeg then splits multi-slice keyframes into several
  packets, which the source under test must join again.
- `--pattern MOUNT=WxH@FPS[+audio][+mjpeg]` encodes GStreamer's moving-ball test pattern with
  x264enc (keyframe every second; JPEG with `+mjpeg`) and, with `+audio`, an AAC tone;
  `--pattern MOUNT=audio` serves the AAC tone alone. Patterns never end.
- `--user/--password` require RTSP basic authentication for every mount.

Prints `READY <port>` on stdout once it listens on 127.0.0.1 (`--port 0`, the default, lets it
pick a free port). SIGTERM or SIGINT stops it.
Restarting means starting a new process on the same port (the fixture in rtsp_fixture.py).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def _file_launch(path: str) -> str:
    """Demux an MP4 and payload its H.264 (and AAC, if any) as they are."""
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'( filesrc location="{location}" ! qtdemux name=demux '
        "demux.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "demux.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
    )


def _file_has_audio(path: str) -> bool:
    """True when the MP4 holds an audio track (probed with GStreamer's discoverer)."""
    gi.require_version("GstPbutils", "1.0")
    from gi.repository import GstPbutils

    discoverer = GstPbutils.Discoverer.new(5 * Gst.SECOND)
    info = discoverer.discover_uri(Gst.filename_to_uri(path))
    return bool(info.get_audio_streams())


def _pattern_launch(spec: str) -> str:
    """A live test pattern: `WxH@FPS` (x264 moving ball) with options `+audio` (AAC tone) and
    `+mjpeg` (JPEG instead of H.264), or `audio` alone (an AAC stream without video)."""
    audio_launch = (
        "audiotestsrc is-live=true wave=sine volume=0.1 ! audio/x-raw,rate=16000,channels=1 ! "
        "audioconvert ! avenc_aac ! rtpmp4gpay name=pay{index} pt=97 "
    )
    if spec == "audio":
        return "( " + audio_launch.format(index=0) + ")"
    base, *flags = spec.split("+")
    size, fps = base.split("@")
    width, height = size.split("x")
    source = (
        f"videotestsrc is-live=true pattern=ball ! "
        f"video/x-raw,width={width},height={height},framerate={fps}/1 ! "
    )
    if "mjpeg" in flags:
        video = source + "videoconvert ! video/x-raw,format=I420 ! jpegenc ! "
        video += "rtpjpegpay name=pay0 pt=26 "
    else:
        video = source + (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=300 ! "
            "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 "
        )
    if "audio" in flags:
        video += audio_launch.format(index=1)
    return "( " + video + ")"


def _add_auth(server: GstRtspServer.RTSPServer, user: str, password: str) -> None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)


def _factory(launch: str, with_auth: bool) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    # Only TCP-interleaved transport is used by the tests (no UDP ports to allocate).
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if with_auth:
        role = Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(role)
    return factory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--file", action="append", default=[], metavar="MOUNT=PATH")
    parser.add_argument("--pattern", action="append", default=[], metavar="MOUNT=WxH@FPS")
    parser.add_argument("--user")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    with_auth = bool(args.user)
    if with_auth:
        _add_auth(server, args.user, args.password)
    mounts = server.get_mount_points()
    for item in args.file:
        mount, path = item.split("=", 1)
        launch = _file_launch(path)
        if not _file_has_audio(path):
            launch = launch.split(" demux.audio_0")[0] + " )"
        mounts.add_factory(mount, _factory(launch, with_auth))
    for item in args.pattern:
        mount, spec = item.split("=", 1)
        mounts.add_factory(mount, _factory(_pattern_launch(spec), with_auth))

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
