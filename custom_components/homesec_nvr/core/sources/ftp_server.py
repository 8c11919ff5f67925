"""HomeSec's FTP server: cameras upload their clips to it (pure asyncio, no dependency).

One server per hub, one login per camera (`FtpAccount`); each login sees only its own folder.
`serve()` is the long-lived coroutine (run it under a `TaskSupervisor`): it binds the port,
serves until cancelled and frees the port again. Limits: `max_sessions` concurrent control
connections (421 beyond), `max_upload_bytes` per file (552), idle and data timeouts, and the
wrong-password limiter (ftp_auth.py). The protocol is in ftp_session.py.

An upload that completes is handed to its account's `on_upload` at once (a task, so the client
gets its 226 without waiting for the pipeline); an incomplete one stays a hidden partial file
for `resume_window_s` (so the client may resume it with REST) and is then removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..interfaces import PipelineError
from .ftp_auth import FtpAccount, LoginLimiter
from .ftp_data import start_server_safely
from .ftp_paths import PARTIAL_DIR
from .ftp_session import FtpSession

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 2121
DEFAULT_PASSIVE_PORTS = (30000, 30009)


@dataclass(slots=True)
class FtpServerConfig:
    """Where the server listens and its limits."""

    host: str = "0.0.0.0"  # noqa: S104 - cameras are on the LAN; the user chooses
    port: int = DEFAULT_PORT
    passive_ports: tuple[int, int] | None = DEFAULT_PASSIVE_PORTS
    max_sessions: int = 16
    max_upload_bytes: int = 512 * 1024 * 1024
    idle_timeout_s: float = 300.0
    data_timeout_s: float = 30.0
    resume_window_s: float = 60.0
    line_limit: int = 4096
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # Explicit FTPS (AUTH TLS): the server's certificate; `require_tls` refuses plain logins
    # and unprotected data connections.
    tls: ssl.SSLContext | None = None
    require_tls: bool = False


def port_bindable(host: str, port: int) -> bool:
    """Blocking: whether a TCP port can be bound on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """Blocking: the server's TLS context from a PEM certificate (chain) and key (raises
    ssl.SSLError or OSError when they cannot be loaded)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


class FtpServer:
    """The listening server, its logins and its counters."""

    def __init__(self, config: FtpServerConfig) -> None:
        self.config = config
        self.limiter = config.limiter
        self.accounts: dict[str, FtpAccount] = {}
        self.sessions: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._expiries: dict[Path, asyncio.TimerHandle] = {}
        self._handovers: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()
        self.port: int | None = None
        self.last_error: str | None = None
        self.uploads_completed = 0
        self.uploads_failed = 0
        self.bytes_received = 0
        self.sessions_refused = 0

    # -- accounts -------------------------------------------------------------------------

    async def add_account(self, account: FtpAccount) -> None:
        """Add (or replace) a login: its folder is created, partial uploads an earlier run
        left there are removed (they never completed)."""
        await asyncio.get_running_loop().run_in_executor(None, _prepare_root, account.root)
        self.accounts[account.username] = account

    def remove_account(self, username: str) -> None:
        self.accounts.pop(username, None)

    # -- running --------------------------------------------------------------------------

    async def serve(self) -> None:
        """Bind, serve until cancelled, then close every session and free the port."""
        try:
            self._server = await start_server_safely(
                self._connected,
                host=self.config.host,
                port=self.config.port,
                reuse_address=True,
                limit=self.config.line_limit,
            )
        except OSError as err:
            self.last_error = f"cannot listen on {self.config.host}:{self.config.port}: {err}"
            raise PipelineError(self.last_error) from err
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.config.port
        self.last_error = None
        self.listening.set()
        _LOGGER.info("HomeSec FTP server listening on %s:%s", self.config.host, self.port)
        try:
            await asyncio.Future()  # until cancelled
        finally:
            self.listening.clear()
            await self.close()

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self.sessions):
            task.cancel()
        for task in list(self.sessions):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        for handle in self._expiries.values():
            handle.cancel()
        self._expiries.clear()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername") or ("?", 0)
        if len(self.sessions) >= self.config.max_sessions:
            self.sessions_refused += 1
            _LOGGER.warning("FTP connection from %s refused: too many sessions", peer[0])
            await _refuse(writer, "421 Too many connections, try again later")
            return
        if self.limiter.blocked(str(peer[0])):
            self.sessions_refused += 1
            await _refuse(writer, "421 Too many failed logins, try again later")
            return
        self.sessions.add(task)
        try:
            await FtpSession(self, reader, writer).run()
        except asyncio.CancelledError:
            raise
        except Exception:  # nothing a client sends may end the server
            _LOGGER.exception("FTP session from %s ended by an unexpected error", peer[0])
        finally:
            self.sessions.discard(task)

    # -- uploads --------------------------------------------------------------------------

    def upload_completed(
        self, account: FtpAccount, virtual: str, path: Path, size: int, elapsed_s: float
    ) -> None:
        """Hand a complete upload to its account's owner (in a task of its own)."""
        self.uploads_completed += 1
        self.bytes_received += size
        _LOGGER.debug(
            "FTP upload %s by %s: %s bytes in %.2f s", virtual, account.username, size, elapsed_s
        )
        task = asyncio.get_running_loop().create_task(
            self._hand_over(account, virtual, path, size), name=f"homesec ftp {virtual}"
        )
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)

    async def _hand_over(self, account: FtpAccount, virtual: str, path: Path, size: int) -> None:
        try:
            await account.on_upload(account, virtual, path, size)
        except Exception:
            _LOGGER.exception(
                "FTP upload %s of %s could not be handed over",
                virtual,
                account.label or account.username,
            )

    def upload_failed(self, partial: Path, *, resumable: bool) -> None:
        """An incomplete upload: removed now, or after the resume window."""
        self.uploads_failed += 1
        loop = asyncio.get_running_loop()
        if not resumable or self.config.resume_window_s <= 0:
            loop.run_in_executor(None, _remove, partial)
            return
        self.cancel_partial_expiry(partial)
        self._expiries[partial] = loop.call_later(
            self.config.resume_window_s, self._expire, partial
        )

    def cancel_partial_expiry(self, partial: Path) -> None:
        if (handle := self._expiries.pop(partial, None)) is not None:
            handle.cancel()

    def _expire(self, partial: Path) -> None:
        self._expiries.pop(partial, None)
        asyncio.get_running_loop().run_in_executor(None, _remove, partial)

    def diagnostics(self) -> dict[str, Any]:
        return {
            "host": self.config.host,
            "port": self.port or self.config.port,
            "passive_ports": list(self.config.passive_ports or ()),
            "tls": self.config.tls is not None,
            "tls_required": self.config.require_tls,
            "listening": self.listening.is_set(),
            "last_error": self.last_error,
            "logins": len(self.accounts),
            "sessions": len(self.sessions),
            "sessions_refused": self.sessions_refused,
            "uploads_completed": self.uploads_completed,
            "uploads_failed": self.uploads_failed,
            "bytes_received": self.bytes_received,
            "failed_logins": self.limiter.failures_total,
            "blocked_addresses": self.limiter.blocked_addresses,
        }


async def _refuse(writer: asyncio.StreamWriter, line: str) -> None:
    with contextlib.suppress(Exception):
        writer.write(f"{line}\r\n".encode())
        await asyncio.wait_for(writer.drain(), 2)
    writer.close()


def _prepare_root(root: Path) -> None:
    """Create a login's folder; partial uploads of an earlier run are incomplete: removed."""
    root.mkdir(parents=True, exist_ok=True)
    partials = root / PARTIAL_DIR
    if partials.is_dir():
        for leftover in partials.iterdir():
            _remove(leftover)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
