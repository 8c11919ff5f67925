"""The Frigate HTTP client against a fake Frigate that answers like 0.14, 0.16 and 0.17."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.homesec_nvr.core.sources import frigate_client
from custom_components.homesec_nvr.core.sources.frigate_client import (
    ClipNotReady,
    FrigateClient,
    FrigateError,
)

from .frigate_server import (
    MISSING,
    NO_CLIP,
    NOT_READY,
    SNAPSHOT_JPEG,
    TRUNCATED,
    FakeClock,
    FakeFrigate,
    make_clips,
)

EVENT_ID = "1718123456.123456-abc123"
VERSIONS = ["0.14.1-f4f3cfa", "0.16.0-a1b2c3d", "0.17.0-a1b2c3d"]
MakeFrigate = Callable[..., Awaitable[FakeFrigate]]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 6 s fragmented clip and its first second (made once for the module)."""
    return make_clips(tmp_path_factory.mktemp("frigate-clips"), seconds=6.0, truncated_s=1.0)


@pytest.fixture
async def make_frigate(socket_enabled: None) -> AsyncGenerator[MakeFrigate]:
    """Start fake Frigate servers (closed at the end)."""
    servers: list[FakeFrigate] = []

    async def _make(*args: Any, **kwargs: Any) -> FakeFrigate:
        server = FakeFrigate(*args, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield _make
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _client(
    session: aiohttp.ClientSession, server: FakeFrigate, clock: FakeClock, **kwargs: Any
) -> FrigateClient:
    return FrigateClient(session, server.url, sleep=clock.sleep, clock=clock, **kwargs)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- validate, login -----------------------------------------------------------------------


async def test_validate_reads_version_cameras_zones_and_topic_prefix(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given an unauthenticated Frigate (port 5000) with two cameras and a custom topic prefix
    server = await make_frigate(
        "0.14.1-f4f3cfa", cameras={"front_door": ["porch"], "garage": []}, topic_prefix="nvr"
    )
    client = _client(session, server, clock)

    # When it is validated
    info = await client.validate()

    # Then version, cameras with their zones and the MQTT topic prefix are known
    assert info.version == "0.14.1-f4f3cfa"
    assert info.config.camera_names == ("front_door", "garage")
    assert info.config.cameras[0].zones == ("porch",)
    assert info.config.cameras[0].record_enabled is True
    assert info.config.cameras[0].detect_width == 1280
    assert info.config.mqtt_topic_prefix == "nvr"
    assert client.last_success_at is not None
    assert server.logins == 0


async def test_login_sends_the_token_as_bearer_and_never_logs_secrets(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an authenticated Frigate (port 8971) and a client with its credentials
    caplog.set_level(logging.DEBUG)
    server = await make_frigate(username="admin", password="s3cret-pw")
    client = _client(session, server, clock, username="admin", password="s3cret-pw")

    # When it is validated
    info = await client.validate()

    # Then it logged in once and sent the JWT as a Bearer token on every API call
    assert info.version.startswith("0.17")
    assert server.logins == 1
    token = next(iter(server.tokens))
    api_calls = [r for r in server.requests if r.path != "/api/login"]
    assert {r.headers.get("Authorization") for r in api_calls} == {f"Bearer {token}"}
    assert "s3cret-pw" not in caplog.text
    assert token not in caplog.text


async def test_an_expired_token_logs_in_again_once(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a logged-in client whose token Frigate then expires
    server = await make_frigate(username="admin", password="pw")
    client = _client(session, server, clock, username="admin", password="pw")
    await client.version()
    server.expire_tokens()

    # When the next call is made
    version = await client.version()

    # Then the 401 led to one new login and the call succeeded
    assert version.startswith("0.17")
    assert server.logins == 2
    assert [r.path for r in server.requests].count("/api/version") == 3


async def test_a_token_refused_even_after_a_new_login_is_invalid_auth(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a Frigate that accepts the login but refuses every token
    server = await make_frigate(username="admin", password="pw")
    server.accept_tokens = False
    client = _client(session, server, clock, username="admin", password="pw")

    # When the client is validated
    with pytest.raises(FrigateError) as caught:
        await client.validate()

    # Then it gave up after exactly one re-login
    assert caught.value.reason == "invalid_auth"
    assert server.logins == 2


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "wrong-pw"), (None, None)],
    ids=["wrong-password", "no-credentials"],
)
async def test_bad_or_missing_credentials_are_invalid_auth(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    username: str | None,
    password: str | None,
) -> None:
    # Given an authenticated Frigate and a client with a wrong or no password
    caplog.set_level(logging.DEBUG)
    server = await make_frigate(username="admin", password="right-pw")
    client = _client(session, server, clock, username=username, password=password)

    # When it is validated
    with pytest.raises(FrigateError) as caught:
        await client.validate()

    # Then the reason is invalid_auth, and the password shows nowhere
    assert caught.value.reason == "invalid_auth"
    assert "wrong-pw" not in str(caught.value)
    assert "wrong-pw" not in caplog.text


async def test_nothing_listening_is_cannot_connect(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a server that was started and stopped (its port is now closed)
    server = await make_frigate()
    await server.close()
    client = _client(session, server, clock)

    # When the client is validated
    with pytest.raises(FrigateError) as caught:
        await client.validate()

    # Then the reason is cannot_connect
    assert caught.value.reason == "cannot_connect"


async def test_another_web_app_is_not_frigate(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a server whose /api/version answers with an HTML page
    server = await make_frigate()
    server.version_body = "<html><body>Welcome to nginx!</body></html>"
    client = _client(session, server, clock)

    # When the client is validated
    with pytest.raises(FrigateError) as caught:
        await client.validate()

    # Then the reason is not_frigate
    assert caught.value.reason == "not_frigate"


async def test_a_refreshed_token_is_picked_up_without_a_new_login(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a logged-in client, and Frigate refreshing the JWT on its next answer
    server = await make_frigate(username="admin", password="pw")
    client = _client(session, server, clock, username="admin", password="pw")
    await client.version()
    server.refresh_token = True
    await client.version()

    # When the next call is made (the old token no longer works)
    await client.config()

    # Then the refreshed token was used, without logging in again
    assert server.logins == 1
    refreshed = next(iter(server.tokens))
    assert server.requests[-1].headers["Authorization"] == f"Bearer {refreshed}"


async def test_concurrent_first_calls_log_in_once(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a fresh client for an authenticated Frigate
    server = await make_frigate(username="admin", password="pw")
    client = _client(session, server, clock, username="admin", password="pw")

    # When three calls start at once
    results = await asyncio.gather(client.version(), client.config(), client.version())

    # Then a single login served all of them
    assert results[0] == results[2]
    assert server.logins == 1


@pytest.mark.parametrize("status", [429, 500])
async def test_a_login_endpoint_in_trouble_is_cannot_connect(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock, status: int
) -> None:
    # Given a Frigate whose login is rate-limited or failing
    server = await make_frigate(username="admin", password="pw")
    server.login_status = status
    client = _client(session, server, clock, username="admin", password="pw")

    # When the client is validated
    with pytest.raises(FrigateError) as caught:
        await client.validate()

    # Then it cannot connect (not a credentials problem)
    assert caught.value.reason == "cannot_connect"
    assert caught.value.status == status


async def test_credentials_for_a_frigate_without_login_are_not_needed(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # Given a Frigate 0.13 (no /api/login, no auth) and a client given credentials anyway
    server = await make_frigate("0.13.2-6476f8a")
    server.login_status = 404
    client = _client(session, server, clock, username="admin", password="pw")

    # When it is validated
    info = await client.validate()

    # Then it works without a token
    assert info.version == "0.13.2-6476f8a"
    assert all("Authorization" not in r.headers for r in server.requests)


# -- event clips ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_each_versions_not_ready_answer_is_retried_until_the_clip_is_there(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
    version: str,
) -> None:
    # Given a Frigate of `version` whose recordings are not ready for the first two requests
    server = await make_frigate(version)
    server.add_event(EVENT_ID, clips[0], script=[NOT_READY, NOT_READY])
    client = _client(session, server, clock)
    dest = tmp_path / "out" / "clip.mp4"

    # When the event clip is downloaded
    result = await client.download_event_clip(
        EVENT_ID, dest, padding_s=5, expected_duration_s=4.0, first_delay_s=3.0
    )

    # Then the third attempt got the whole clip, after a short first delay and a backoff
    assert result.attempts == 3
    assert result.truncated is False
    assert result.duration_s == pytest.approx(6.0, abs=0.2)
    assert dest.read_bytes() == clips[0].read_bytes()
    assert result.size_bytes == dest.stat().st_size
    assert clock.sleeps == [3.0, 5.0, 10.0]
    assert server.requests[-1].query == {"padding": "5"}
    assert _leftovers(dest.parent) == []


async def test_event_not_found_then_a_truncated_clip_then_the_full_clip(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # Given an event row not written yet, then a first clip cut after one second
    server = await make_frigate()
    server.add_event(EVENT_ID, clips[0], truncated_clip=clips[1], script=[MISSING, TRUNCATED])
    client = _client(session, server, clock)

    # When the clip of this 4 s event is downloaded
    result = await client.download_event_clip(
        EVENT_ID, tmp_path / "clip.mp4", expected_duration_s=4.0
    )

    # Then the truncated answer was not accepted; the complete one was
    assert result.attempts == 3
    assert result.truncated is False
    assert result.duration_s == pytest.approx(6.0, abs=0.2)
    assert _leftovers(tmp_path) == []


async def test_gives_up_after_the_window_with_the_last_reason(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # Given a 0.17 Frigate that never finds recordings for the event
    server = await make_frigate("0.17.0-a1b2c3d")
    server.add_event(EVENT_ID, clips[0], script=[NOT_READY] * 100)
    client = _client(session, server, clock)
    start = clock.now

    # When the clip is downloaded with a 90 s window
    with pytest.raises(ClipNotReady) as caught:
        await client.download_event_clip(EVENT_ID, tmp_path / "clip.mp4", window_s=90.0)

    # Then it retried with backoff up to the window's end, then gave up with the reason
    assert caught.value.reason == "not_ready"
    assert "No recordings found" in str(caught.value)
    assert clock.sleeps == [10.0, 5.0, 10.0, 20.0, 20.0, 20.0, 5.0]
    assert clock.now - start == pytest.approx(90.0)
    assert caught.value.attempts == 7 == len(server.paths("clip.mp4"))
    assert _files(tmp_path) == []


@pytest.mark.parametrize("accept", [True, False])
async def test_a_clip_that_stays_truncated(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
    accept: bool,
) -> None:
    # Given a Frigate that only ever has the first second of a 4 s event
    server = await make_frigate()
    server.add_event(EVENT_ID, clips[1], script=[TRUNCATED] * 100)
    client = _client(session, server, clock)
    dest = tmp_path / "clip.mp4"

    # When the clip is downloaded, accepting a truncated clip as a last resort or not
    if accept:
        result = await client.download_event_clip(
            EVENT_ID, dest, expected_duration_s=4.0, window_s=30.0, accept_truncated=True
        )
        # Then the truncated clip is kept and marked
        assert result.truncated is True
        assert result.duration_s == pytest.approx(1.0, abs=0.2)
        assert dest.exists()
    else:
        with pytest.raises(ClipNotReady) as caught:
            await client.download_event_clip(
                EVENT_ID, dest, expected_duration_s=4.0, window_s=30.0, accept_truncated=False
            )
        # Then it gives up as truncated, leaving nothing behind
        assert caught.value.reason == "truncated"
        assert not dest.exists()
    assert _leftovers(tmp_path) == []


async def test_a_clip_over_the_size_cap_fails_at_once(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # Given a clip larger than the cap
    server = await make_frigate()
    server.add_event(EVENT_ID, clips[0])
    client = _client(session, server, clock)
    cap = clips[0].stat().st_size // 2

    # When it is downloaded
    with pytest.raises(FrigateError) as caught:
        await client.download_event_clip(EVENT_ID, tmp_path / "clip.mp4", size_cap_bytes=cap)

    # Then it fails without retrying and leaves no partial file
    assert caught.value.reason == "too_large"
    assert len(server.paths("clip.mp4")) == 1
    assert _files(tmp_path) == []


async def test_an_event_without_a_clip_fails_without_retrying(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # Given an event Frigate recorded no clip for
    server = await make_frigate()
    server.add_event(EVENT_ID, clips[0], script=[NO_CLIP])
    client = _client(session, server, clock)

    # When its clip is downloaded
    with pytest.raises(FrigateError) as caught:
        await client.download_event_clip(EVENT_ID, tmp_path / "clip.mp4")

    # Then it is a permanent no_clip after one attempt
    assert caught.value.reason == "no_clip"
    assert caught.value.attempts == 1


async def test_a_chunked_stream_without_content_length_arrives_whole(
    monkeypatch: pytest.MonkeyPatch,
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # Given a Frigate streaming the clip in 512-byte chunks without Content-Length, and a
    # client writing to disk every few kilobytes
    monkeypatch.setattr(frigate_client, "_FLUSH_BYTES", 4096)
    server = await make_frigate(chunk_bytes=512)
    server.add_event(EVENT_ID, clips[0])
    async with session.get(f"{server.url}/api/events/{EVENT_ID}/clip.mp4") as probe:
        assert probe.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in probe.headers
        await probe.read()
    client = _client(session, server, clock)

    # When the clip is downloaded
    result = await client.download_event_clip(EVENT_ID, tmp_path / "clip.mp4")

    # Then the file is byte-identical to Frigate's
    assert (tmp_path / "clip.mp4").read_bytes() == clips[0].read_bytes()
    assert result.attempts == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_review_clip_is_asked_for_whole_seconds_and_retried(
    make_frigate: MakeFrigate,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    clips: tuple[Path, Path],
    tmp_path: Path,
    version: str,
) -> None:
    # Given recordings of front_door that are not ready for the first request
    server = await make_frigate(version)
    server.recordings["front_door"] = clips[0]
    server.recording_script["front_door"] = deque([NOT_READY])
    client = _client(session, server, clock)

    # When a review item's time range is downloaded
    result = await client.download_review_clip(
        "front_door", 1718123451.2, 1718123456.7, tmp_path / "review.mp4"
    )

    # Then the range was widened to whole seconds and the second attempt succeeded
    assert (
        server.paths("clip.mp4")[-1] == "/api/front_door/start/1718123451/end/1718123457/clip.mp4"
    )
    assert result.attempts == 2
    assert result.truncated is False


# -- snapshot, description -----------------------------------------------------------------


async def test_snapshot_bytes_or_none(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path
) -> None:
    # Given one event with a snapshot and one without
    server = await make_frigate()
    server.add_event(EVENT_ID, tmp_path / "unused.mp4")
    server.add_event("1718123999.1-nosnap", tmp_path / "unused.mp4", snapshot=None)
    client = _client(session, server, clock)

    # When both snapshots are fetched
    with_snapshot = await client.snapshot(EVENT_ID)
    without = await client.snapshot("1718123999.1-nosnap")

    # Then the first is the JPEG and the second None (404 Snapshot not available)
    assert with_snapshot == SNAPSHOT_JPEG
    assert without is None


async def test_set_description_posts_the_text(
    make_frigate: MakeFrigate, session: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path
) -> None:
    # Given an event, behind login
    server = await make_frigate(username="u", password="p")
    event = server.add_event(EVENT_ID, tmp_path / "unused.mp4")
    client = _client(session, server, clock, username="u", password="p")

    # When a description is set on it, and on an unknown event
    await client.set_description(EVENT_ID, "A courier left a parcel.")
    with pytest.raises(FrigateError) as caught:
        await client.set_description("1718000000.0-gone00", "x")

    # Then Frigate stored the text, and the unknown event is event_not_found
    assert event.description == "A courier left a parcel."
    assert caught.value.reason == "event_not_found"


async def test_base_url_hides_user_info(session: aiohttp.ClientSession) -> None:
    # Given a URL with user info and a trailing slash
    client = FrigateClient(session, "http://user:pw@frigate.local:5000/")

    # When its display URL is read
    url = client.base_url

    # Then neither user nor password shows
    assert url == "http://frigate.local:5000"
