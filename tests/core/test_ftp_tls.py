"""Explicit FTPS (AUTH TLS, RFC 4217): uploads over a protected control and data connection
with ftplib's FTP_TLS and curl, and a server that requires TLS refuses plain logins."""

from __future__ import annotations

import asyncio
import ftplib
import io
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.sources.ftp_server import tls_context

from ..video import write_clip
from .ftp_rig import HOST, Rig, fast_config, running_rig, self_signed

pytestmark = pytest.mark.usefixtures("socket_enabled")


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    return context


def _tls_upload(rig: Rig, name: str, data: bytes) -> tuple[str, str]:
    with ftplib.FTP_TLS(context=_client_context()) as client:
        client.connect(HOST, rig.port, timeout=10)
        client.login("front", "front-pw")  # AUTH TLS first
        client.prot_p()
        cipher = str(client.sock.cipher()[1])  # type: ignore[attr-defined]
        return client.storbinary(f"STOR {name}", io.BytesIO(data)), cipher


async def test_upload_over_ftps(tmp_path: Path) -> None:
    # Given a server with a certificate that requires TLS
    certfile, keyfile = self_signed(tmp_path)
    config = fast_config(tls=tls_context(str(certfile), str(keyfile)), require_tls=True)
    clip_bytes = write_clip(tmp_path / "src.mp4").read_bytes()
    async with running_rig(tmp_path, config) as rig:
        # When a camera uploads with explicit FTPS (control and data protected)
        reply, protocol = await asyncio.to_thread(_tls_upload, rig, "tls.mp4", clip_bytes)
        clips = await rig.clips["front"].wait(1)

    # Then the upload completed over TLS and became a clip of the whole file
    assert reply.startswith("226")
    assert protocol.startswith("TLSv1.")
    assert clips[0].path.read_bytes() == clip_bytes


async def test_plain_login_and_clear_data_are_refused_when_tls_is_required(
    tmp_path: Path,
) -> None:
    # Given a server that requires TLS
    certfile, keyfile = self_signed(tmp_path)
    config = fast_config(tls=tls_context(str(certfile), str(keyfile)), require_tls=True)
    async with running_rig(tmp_path, config) as rig:
        # When a camera logs in without TLS, and another uses TLS but clear data connections
        def plain() -> str:
            with ftplib.FTP() as client:
                client.connect(HOST, rig.port, timeout=10)
                try:
                    client.login("front", "front-pw")
                except ftplib.error_perm as err:
                    return str(err)
                return "logged in"

        def clear_data() -> str:
            with ftplib.FTP_TLS(context=_client_context()) as client:
                client.connect(HOST, rig.port, timeout=10)
                client.login("front", "front-pw")
                try:
                    client.storbinary("STOR clear.mp4", io.BytesIO(b"x"))
                except ftplib.error_perm as err:
                    return str(err)
                return "uploaded"

        plain_answer = await asyncio.to_thread(plain)
        clear_answer = await asyncio.to_thread(clear_data)

    # Then both are refused, and nothing was taken
    assert plain_answer.startswith("530")
    assert clear_answer.startswith("521")
    assert rig.clips["front"].clips == []


async def test_auth_tls_without_a_certificate_is_not_offered(tmp_path: Path) -> None:
    # Given a server without a certificate
    async with running_rig(tmp_path) as rig:
        # When a client asks for TLS
        def ask() -> str:
            with ftplib.FTP_TLS() as client:
                client.connect(HOST, rig.port, timeout=10)
                try:
                    client.auth()
                except ftplib.error_perm as err:
                    return str(err)
                return "TLS"

        answer = await asyncio.to_thread(ask)

    # Then the server says it does not offer it
    assert answer.startswith("502")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_upload_over_ftps(tmp_path: Path) -> None:
    # Given a server that requires TLS, and curl
    certfile, keyfile = self_signed(tmp_path)
    config = fast_config(tls=tls_context(str(certfile), str(keyfile)), require_tls=True)
    source = write_clip(tmp_path / "curl-tls.mp4")
    async with running_rig(tmp_path, config) as rig:
        # When curl uploads with explicit TLS (--ssl-reqd)
        result = await asyncio.to_thread(
            subprocess.run,
            [
                "curl",
                "-sS",
                "--ssl-reqd",
                "-k",
                "-T",
                str(source),
                f"ftp://front:front-pw@{HOST}:{rig.port}/",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        clips = await rig.clips["front"].wait(1) if result.returncode == 0 else []

    # Then it succeeded and the clip arrived
    assert result.returncode == 0, result.stderr
    assert clips[0].path.read_bytes() == source.read_bytes()
