"""FTP data connections and upload files.

`DataChannel` gives one data connection: passive (HomeSec listens on a port of the configured
range and takes the first connection from the client's address) or active (HomeSec connects to
the address the client named, which must be the client's own: no bounce to other hosts).

`UploadSink` writes one upload into its partial file on a worker thread (never on the event
loop), in batches; `receive` streams a data connection into it, enforcing the size limit and
the data timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

CHUNK_BYTES = 256 * 1024
FLUSH_BYTES = 1024 * 1024
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


class TransferError(Exception):
    """An upload that did not complete: `code` and `text` are the FTP reply; `resumable`
    keeps the partial file for a while so the client can resume it with REST."""

    def __init__(self, code: int, text: str, *, resumable: bool) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.resumable = resumable


def disk_full(err: OSError) -> bool:
    return err.errno in _DISK_FULL


class DataChannel:
    """One data connection, passive or active."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None
        self._connected = None
        self._active: tuple[str, int] | None = None
        self._released = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def listen(
        self,
        bind: str,
        ports: tuple[int, int] | None,
        peer_ip: str,
        tls: ssl.SSLContext | None = None,
    ) -> int | None:
        """Listen for the client's data connection (over TLS with `tls`, after PROT P); the
        port, or None when none is free."""
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            if (
                self._connected is None
                or self._connected.done()
                or not peer
                or _same_ip(str(peer[0]), peer_ip) is False
            ):
                writer.close()
                return
            self._connected.set_result((reader, writer))
            # The connection stays open until the transfer is over.
            await self._released.wait()

        candidates = [0] if ports is None else list(range(ports[0], ports[1] + 1))
        random.shuffle(candidates)
        for port in candidates:
            try:
                self._server = await start_server_safely(
                    accepted,
                    host=bind,
                    port=port,
                    reuse_address=True,
                    backlog=1,
                    ssl=tls,
                    ssl_handshake_timeout=30 if tls is not None else None,
                )
            except OSError:
                continue
            sockets = self._server.sockets
            return int(sockets[0].getsockname()[1]) if sockets else None
        return None

    def connect_to(self, host: str, port: int) -> None:
        """Active mode: connect to the client when the transfer starts."""
        self._active = (host, port)

    @property
    def ready(self) -> bool:
        return self._server is not None or self._active is not None

    async def open(self, timeout_s: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The data connection (TimeoutError or OSError when none comes)."""
        if self._active is not None:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*self._active), timeout_s
            )
        elif self._connected is not None:
            try:
                reader, writer = await asyncio.wait_for(asyncio.shield(self._connected), timeout_s)
            finally:
                self._stop_listening()
        else:
            raise OSError("no data connection was set up (PASV or PORT first)")
        self.writer = writer
        return reader, writer

    def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def close(self) -> None:
        """Close the connection (also one the client made but no transfer used) and the
        listener."""
        self._stop_listening()
        self._released.set()
        writer, self.writer = self.writer, None
        connected, self._connected = self._connected, None
        if connected is not None:
            if not connected.done():
                connected.cancel()
            elif not connected.cancelled() and connected.exception() is None:
                writer = writer or connected.result()[1]
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)


async def start_server_safely(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    **kwargs: Any,
) -> asyncio.Server:
    """`asyncio.start_server` that never leaks its socket: cancelled while it starts (the
    socket is already bound then), the server it made is closed before the cancellation goes
    on, so the port is free again."""
    starting = asyncio.ensure_future(asyncio.start_server(handler, **kwargs))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            (await starting).close()
        raise


def _same_ip(a: str, b: str) -> bool:
    return a.removeprefix("::ffff:") == b.removeprefix("::ffff:")


class UploadSink:
    """The partial file of one upload; every file operation on a worker thread."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self.size = offset
        self._file: BinaryIO | None = None
        self._buffer = bytearray()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle: BinaryIO
        if self.offset:
            handle = self.path.open("r+b")
            handle.truncate(self.offset)
            handle.seek(self.offset)
        else:
            handle = self.path.open("wb")
        self._file = handle

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)

    def _close(self) -> None:
        if self._file is not None:
            handle, self._file = self._file, None
            handle.close()

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._open)

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            await asyncio.get_running_loop().run_in_executor(None, self._write, data)

    async def finish(self) -> None:
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(None, self._close)

    async def close_quietly(self) -> None:
        """Close after a failure: what arrived so far is written (for a resume) if it can be."""
        with contextlib.suppress(OSError):
            if self._file is not None:
                await self.flush()
        self._buffer.clear()
        with contextlib.suppress(OSError):
            await asyncio.get_running_loop().run_in_executor(None, self._close)
        self.size = await asyncio.get_running_loop().run_in_executor(None, _size_or_zero, self.path)


def _size_or_zero(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


async def receive(
    reader: asyncio.StreamReader, sink: UploadSink, max_bytes: int, data_timeout_s: float
) -> None:
    """Stream a data connection into `sink` until the client closes it (the end of the file).

    Raises `TransferError`: 552 over the size limit, 452 when the disk is full, 426 when the
    connection breaks or stays silent for `data_timeout_s`, 451 for other file errors.
    """
    try:
        await sink.open()
        while True:
            try:
                data = await asyncio.wait_for(reader.read(CHUNK_BYTES), data_timeout_s)
            except TimeoutError as err:
                raise TransferError(426, "Data connection timed out", resumable=True) from err
            except (ConnectionError, OSError) as err:
                raise TransferError(426, "Data connection broken", resumable=True) from err
            if not data:
                break
            if sink.size + len(data) > max_bytes:
                raise TransferError(
                    552, f"Upload larger than the {max_bytes} byte limit", resumable=False
                )
            await sink.write(data)
        await sink.finish()
    except OSError as err:
        if disk_full(err):
            raise TransferError(452, "Insufficient storage space", resumable=False) from err
        raise TransferError(
            451, f"Cannot write the file: {err.strerror or err}", resumable=False
        ) from err
