"""Fuzzing the FTP server's command parser: random command lines (before and after login, known
verbs with random arguments, raw bytes) always get a well-formed reply or a clean close, and
the server keeps taking uploads afterwards."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import threading
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .ftp_rig import HOST, Rig, running_rig

pytestmark = pytest.mark.usefixtures("socket_enabled")

VERBS = [
    "USER", "PASS", "CWD", "CDUP", "PWD", "MKD", "RMD", "DELE", "SIZE", "MDTM", "LIST",
    "NLST", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "REST", "STOR", "APPE",
    "ABOR", "STAT", "NOOP", "FEAT", "OPTS", "SYST", "RETR", "AUTH", "ALLO", "HELP", "XPWD",
]  # fmt: skip
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

arguments = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60
) | st.sampled_from(["..", "/..", "../../etc/passwd", "/", "-la", "|1|127.0.0.1|1|", "1,2,3"])
lines = (
    st.tuples(st.sampled_from(VERBS), arguments).map(lambda va: f"{va[0]} {va[1]}".encode())
    | st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" "))
    | st.text(max_size=80).map(lambda t: t.replace("\n", " ").encode("utf-8", "replace"))
)


@pytest.fixture
def threaded_rig(tmp_path: Path) -> Generator[Rig]:
    """The rig, served from its own event loop in a thread (hypothesis drives it)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    holder: list[Rig] = []

    async def main() -> None:
        async with running_rig(tmp_path) as rig:
            rig.server.config.idle_timeout_s = 5
            rig.server.config.data_timeout_s = 0.3
            # Random PASS lines must not block the fuzzing client's address.
            rig.server.limiter.max_failures = 10**9
            rig.server.limiter.fail_delay_s = 0
            holder.append(rig)
            ready.set()
            await stop.wait()

    errors = _ErrorRecords()
    logger = logging.getLogger("custom_components.homesec_nvr.core.sources")
    logger.addHandler(errors)
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    assert ready.wait(10)
    try:
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        logger.removeHandler(errors)
    # Nothing a client sent was an unexpected error of the server.
    assert errors.messages == []


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _reply_ok(conn: socket.socket) -> bool:
    """Read one reply (perhaps multi-line); True when well formed or the server closed."""
    data = b""
    while True:
        try:
            chunk = conn.recv(4096)
        except (ConnectionError, TimeoutError):
            return True
        if not chunk:
            return True
        data += chunk
        text = data.decode("utf-8", "replace")
        last = text.rstrip("\r\n").split("\r\n")[-1]
        if text.endswith("\r\n") and len(last) >= 4 and last[:3].isdigit() and last[3] == " ":
            return True


def _session(rig: Rig, login: bool) -> socket.socket:
    conn = socket.create_connection((HOST, rig.port), timeout=5)
    assert _reply_ok(conn)
    if login:
        conn.sendall(b"USER front\r\n")
        _reply_ok(conn)
        conn.sendall(b"PASS front-pw\r\n")
        _reply_ok(conn)
    return conn


@FUZZ
@given(commands=st.lists(lines, min_size=1, max_size=6), login=st.booleans())
def test_random_command_lines_never_break_the_server(
    threaded_rig: Rig, commands: list[bytes], login: bool
) -> None:
    # Given a session (logged in or not)
    conn = _session(threaded_rig, login)
    try:
        # When it sends random command lines
        for command in commands:
            try:
                conn.sendall(command + b"\r\n")
            except ConnectionError:
                break
            # Then each gets a well-formed reply (or the server closes the session cleanly)
            assert _reply_ok(conn)
    finally:
        conn.close()


def test_server_still_works_after_fuzzing(threaded_rig: Rig) -> None:
    # Given sessions that sent a very long line and raw garbage
    for junk in (b"X" * 100_000 + b"\r\n", b"\xff\xf4\xff\xf2\x00\x01\x02\r\n"):
        conn = _session(threaded_rig, login=True)
        conn.sendall(junk)
        assert _reply_ok(conn)
        conn.close()

    # When a camera uploads afterwards
    with threaded_rig.login() as client:
        reply = client.storbinary("STOR after.txt", io.BytesIO(b"data"))

    # Then the upload works
    assert reply.startswith("226")
