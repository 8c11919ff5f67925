"""A running HomeSec FTP server with camera logins, and the helpers its tests share (JPEG
snapshots, clip collectors, an ftplib login)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ftplib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.ftp import FtpSource
from custom_components.homesec_nvr.core.sources.ftp_auth import LoginLimiter
from custom_components.homesec_nvr.core.sources.ftp_server import FtpServer, FtpServerConfig

HOST = "127.0.0.1"


class Collector:
    """Receives one camera's clips."""

    def __init__(self) -> None:
        self.clips: list[Clip] = []

    async def __call__(self, clip: Clip) -> None:
        self.clips.append(clip)

    async def wait(self, count: int, timeout: float = 10.0) -> list[Clip]:
        async with asyncio.timeout(timeout):
            while len(self.clips) < count:
                await asyncio.sleep(0.01)
        return self.clips


@dataclass
class Rig:
    server: FtpServer
    folders: dict[str, Path]
    clips: dict[str, Collector]
    sources: dict[str, FtpSource] = field(default_factory=dict)

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def login(self, user: str = "front", password: str = "front-pw") -> ftplib.FTP:
        """Blocking: an ftplib session, logged in (passive mode)."""
        client = ftplib.FTP()
        try:
            client.connect(HOST, self.port, timeout=10)
            client.login(user, password)
        except BaseException:
            client.close()  # ftplib keeps the socket of a refused connect or login open
            raise
        return client


def fast_config(**overrides: object) -> FtpServerConfig:
    """Test settings: any free port, short delays."""
    config = FtpServerConfig(
        host=HOST,
        port=0,
        passive_ports=None,
        limiter=LoginLimiter(fail_delay_s=0.05, max_failures=3, block_s=30),
        resume_window_s=30,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@contextlib.asynccontextmanager
async def running_rig(
    tmp_path: Path, config: FtpServerConfig | None = None, snapshot_gap_s: float = 0.5
) -> AsyncGenerator[Rig]:
    """The server with two camera logins ("front" and "back"), serving until the block ends."""
    server = FtpServer(config or fast_config())
    rig = Rig(server, {}, {})
    for user in ("front", "back"):
        rig.folders[user] = tmp_path / "ftp" / user
        rig.clips[user] = Collector()
        rig.sources[user] = FtpSource(
            camera_id=f"cam-{user}",
            camera_name=user.title(),
            server=server,
            username=user,
            password=f"{user}-pw",
            root=rig.folders[user],
            snapshot_gap_s=snapshot_gap_s,
        )
        await rig.sources[user].start(rig.clips[user])
    task = asyncio.get_running_loop().create_task(server.serve())
    await asyncio.wait_for(server.listening.wait(), 5)
    try:
        yield rig
    finally:
        for source in rig.sources.values():
            await source.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def write_jpeg(path: Path, value: int = 128, width: int = 320, height: int = 180) -> Path:
    """A flat grey JPEG of the given brightness."""
    rgb = np.full((height, width, 3), value, dtype=np.uint8)
    rgb[height // 4 : height // 2, width // 4 : width // 2] = 255 - value
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    with av.open(str(path), mode="w", format="image2") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width = width  # type: ignore[union-attr]
        stream.height = height  # type: ignore[union-attr]
        stream.pix_fmt = "yuvj420p"  # type: ignore[union-attr]
        for packet in stream.encode(frame):  # type: ignore[union-attr]
            container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return path


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "homesec.local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile
