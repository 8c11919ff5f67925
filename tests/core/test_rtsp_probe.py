"""probe_stream against GStreamer's RTSP server: what the config flow reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from custom_components.homesec_nvr.core.sources.rtsp import RtspProbeError, probe_stream

from .rtsp_fixture import RtspServer, gstreamer_available
from .video import ClipSpec, write_h264_clip

pytestmark = pytest.mark.skipif(
    not gstreamer_available(), reason="GStreamer RTSP server (python3-gi) not installed"
)

USER = "ad min"
PASSWORD = "p@ss:w/rd #1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    """One server for the module: an H.264 file, live H.264+AAC, MJPEG and audio-only."""
    clip = write_h264_clip(
        tmp_path_factory.mktemp("probe") / "cam.mp4",
        ClipSpec(width=320, height=180, fps=10, seconds=30, object_box=None),
    )
    rtsp = RtspServer(
        files={"/cam": clip},
        patterns={"/live": "160x96@10+audio", "/mjpeg": "160x96@10+mjpeg", "/audio": "audio"},
        user=USER,
        password=PASSWORD,
    ).start()
    yield rtsp
    rtsp.stop()


async def test_good_stream_is_described(server: RtspServer) -> None:
    # Given the right URL and credentials (with characters that need encoding)
    # When the stream is probed
    info = await probe_stream(server.url("/cam"), USER, PASSWORD, timeout_s=10)

    # Then its codec, size and rate are reported
    assert (info.video_codec, info.width, info.height) == ("h264", 320, 180)
    assert info.fps == pytest.approx(10.0)
    assert info.audio_codec is None and not info.audio_recorded
    assert info.to_dict()["video_codec"] == "h264"


async def test_audio_is_reported_and_aac_is_recordable(server: RtspServer) -> None:
    # Given a live stream with AAC audio, when it is probed
    info = await probe_stream(server.url("/live"), USER, PASSWORD, timeout_s=10)

    # Then the audio codec is reported as recordable
    assert info.video_codec == "h264" and (info.width, info.height) == (160, 96)
    assert info.audio_codec == "aac" and info.audio_recorded


@pytest.mark.parametrize(
    ("user", "password"), [(USER, "wrong"), (None, None), ("intruder", PASSWORD)]
)
async def test_wrong_or_missing_credentials_are_auth_failed(
    server: RtspServer, user: str | None, password: str | None
) -> None:
    # Given bad credentials, when the stream is probed, then it is an authentication failure
    with pytest.raises(RtspProbeError) as err:
        await probe_stream(server.url("/cam"), user, password, timeout_s=10)
    assert err.value.reason == "auth_failed"
    assert PASSWORD not in str(err.value)


async def test_unknown_path_is_cannot_connect(server: RtspServer) -> None:
    # Given a path the server does not serve (RTSP 404), when it is probed
    with pytest.raises(RtspProbeError) as err:
        await probe_stream(server.url("/nope"), USER, PASSWORD, timeout_s=10)

    # Then it cannot connect, and the detail says why
    assert err.value.reason == "cannot_connect"
    assert "404" in err.value.detail


async def test_closed_port_is_cannot_connect() -> None:
    # Given a port nobody listens on, when it is probed
    with pytest.raises(RtspProbeError) as err:
        await probe_stream("rtsp://127.0.0.1:1/cam", USER, PASSWORD, timeout_s=5)

    # Then it cannot connect, without leaking the password
    assert err.value.reason == "cannot_connect"
    assert PASSWORD not in err.value.detail and "p%40ss" not in err.value.detail


async def test_not_an_rtsp_url_is_cannot_connect() -> None:
    # Given an HTTP URL, when it is probed, then it is refused before connecting
    with pytest.raises(RtspProbeError) as err:
        await probe_stream("http://127.0.0.1/video.mjpg", None, None)
    assert err.value.reason == "cannot_connect"


async def test_mjpeg_is_unsupported_codec(server: RtspServer) -> None:
    # Given an MJPEG stream (cannot be recorded into MP4 clips), when it is probed
    with pytest.raises(RtspProbeError) as err:
        await probe_stream(server.url("/mjpeg"), USER, PASSWORD, timeout_s=10)

    # Then the codec is reported as unsupported
    assert err.value.reason == "unsupported_codec"
    assert "mjpeg" in err.value.detail


async def test_audio_only_stream_is_no_video_stream(server: RtspServer) -> None:
    # Given a stream without video, when it is probed, then it is refused as such
    with pytest.raises(RtspProbeError) as err:
        await probe_stream(server.url("/audio"), USER, PASSWORD, timeout_s=10)
    assert err.value.reason == "no_video_stream"
