"""RTSP settings: credentials kept apart from URLs, redaction, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from custom_components.homesec_nvr.core.sources.motion import MaskRect
from custom_components.homesec_nvr.core.sources.rtsp.clock import MediaClock
from custom_components.homesec_nvr.core.sources.rtsp.settings import (
    RtspSettings,
    inject_credentials,
    redact_text,
    redact_url,
)

PASSWORD = "p@ss:w/rd #1"


def settings(**overrides: Any) -> RtspSettings:
    values: dict[str, Any] = {
        "record_url": "rtsp://192.168.1.20:554/Streaming/101",
        "output_dir": Path("/tmp/out"),
        "username": "admin",
        "password": PASSWORD,
    }
    values.update(overrides)
    return RtspSettings(**values)


def test_credentials_are_injected_percent_encoded() -> None:
    # Given a URL without credentials, when a username and password are injected
    url = inject_credentials("rtsp://cam.local:554/live?channel=1", "ad min", PASSWORD)

    # Then both are percent-encoded into the user info, the rest is kept
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd%20%231@cam.local:554/live?channel=1"


def test_injected_credentials_replace_those_typed_into_the_url() -> None:
    # Given a URL that already holds credentials (and an IPv6 host)
    url = "rtsp://old:secret@[fe80::1]:8554/stream"

    # When other credentials are injected, or none
    replaced = inject_credentials(url, "new", None)
    kept = inject_credentials(url, None, "ignored")

    # Then a username replaces the user info, no username keeps the URL as typed
    assert replaced == "rtsp://new@[fe80::1]:8554/stream"
    assert kept == url


def test_redacted_urls_hide_user_info_and_secret_query_values() -> None:
    # Given URLs with credentials in the user info and in the query
    url = "rtsp://admin:hunter2@10.0.0.5/cam?user=admin&password=hunter2&channel=2"

    # When they are redacted
    redacted = redact_url(url)

    # Then no secret is left, the rest is readable
    assert "hunter2" not in redacted and "admin" not in redacted
    assert redacted.startswith("rtsp://10.0.0.5/cam?")
    assert "channel=2" in redacted and "password=REDACTED" in redacted


def test_redact_text_hides_urls_and_secrets_in_messages() -> None:
    # Given an error text quoting a URL with credentials and the raw password
    source = inject_credentials("rtsp://10.0.0.5/cam", "admin", PASSWORD)
    text = f"failed to open {source} with password {PASSWORD}"

    # When it is redacted
    redacted = redact_text(text, (source,), (PASSWORD,))

    # Then neither the password nor its encoded form is left
    assert PASSWORD not in redacted and "p%40ss" not in redacted
    assert "rtsp://10.0.0.5/cam" in redacted


def test_settings_give_credentials_only_when_opening() -> None:
    # Given settings with a separate detect stream
    config = settings(detect_url="rtsp://192.168.1.20:554/Streaming/102")

    # Then the sources carry the credentials, the displayed forms and repr do not
    assert config.record_source().startswith("rtsp://admin:p%40ss")
    assert config.detect_source().endswith("/Streaming/102")
    assert config.separate_detect
    assert config.redacted_url() == "rtsp://192.168.1.20:554/Streaming/101"
    assert config.redacted_url(detect=True) == "rtsp://192.168.1.20:554/Streaming/102"
    assert PASSWORD not in repr(config) and "p%40ss" not in repr(config)
    assert PASSWORD not in config.redact(f"boom {config.record_source()} {PASSWORD}")


def test_detect_url_equal_to_record_url_is_one_stream() -> None:
    # Given the same URL for both, or no detect URL
    same = settings(detect_url="rtsp://192.168.1.20:554/Streaming/101")
    none = settings()

    # Then motion is detected on the record stream
    assert not same.separate_detect and not none.separate_detect
    assert none.detect_source() == none.record_source()


def test_motion_config_comes_from_the_settings() -> None:
    # Given motion settings with a mask
    mask = MaskRect(0.0, 0.0, 0.2, 0.1)
    config = settings(motion_threshold=40, min_area_percent=1.5, masks=(mask,))

    # When the detector configuration is built
    motion = config.motion_config()

    # Then it carries them
    assert (motion.threshold, motion.min_area_percent, motion.masks) == (40, 1.5, (mask,))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"record_url": "http://cam/video"}, "not an rtsp"),
        ({"detect_url": "file:///tmp/x.mp4"}, "not an rtsp"),
        ({"detect_fps": 0}, "detect_fps"),
        ({"min_clip_s": 60, "max_clip_s": 60}, "min_clip_s"),
        ({"stall_timeout_s": 0}, "timeouts"),
        ({"reconnect_base_s": 10, "reconnect_max_s": 5}, "reconnect"),
        ({"motion_threshold": 0}, "threshold"),
        ({"pre_roll_s": -1}, "roll"),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    # Given invalid values, when settings are built, then they are refused (URL redacted)
    with pytest.raises(ValueError, match=message) as err:
        settings(**overrides)
    assert PASSWORD not in str(err.value)


def test_a_broken_url_is_redacted_to_a_placeholder() -> None:
    # Given a URL Python cannot parse, when it is redacted, then nothing of it is shown
    assert redact_url("rtsp://user:pw@[::1") == "<invalid url>"


def test_media_clock_anchors_at_opening_and_follows_the_camera() -> None:
    # Given a stream opened at t=100 whose first packets were buffered for 1 s
    clock = MediaClock(anchor=100.0)

    # When packets arrive: the burst, then live, then a jump, then from a camera whose clock
    # runs 3 % slow for 100 s
    burst = [clock.map(m / 10, arrival=101.0) for m in range(10)]
    live = clock.map(1.5, arrival=101.55)
    jumped = clock.map(500.0, arrival=102.0)
    lags = [102.0 + k * 1.03 - clock.map(500.0 + k, arrival=102.0 + k * 1.03) for k in range(100)]

    # Then the burst keeps its spacing from the opening, live packets map near their arrival
    assert burst == pytest.approx([100.0 + m / 10 for m in range(10)])
    assert live == pytest.approx(101.5)
    # ... a jump re-anchors at the arrival, and a clock that falls behind is caught up with
    # (3 s behind after 100 s otherwise)
    assert jumped == pytest.approx(102.0)
    assert max(lags) < 1.6 and min(lags) >= 0.0
    assert clock.peek(600.0) == pytest.approx(102.0 + 100 * 1.03, abs=1.6)
