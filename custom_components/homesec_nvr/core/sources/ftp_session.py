"""One FTP control connection: login, navigation inside the login's folder, uploads.

What a camera needs of RFC 959/2389/3659 and nothing more: USER/PASS, PWD/CWD/CDUP, MKD/RMD,
DELE, SIZE, MDTM, LIST/NLST, TYPE/MODE/STRU, PASV/EPSV/PORT/EPRT, REST with STOR/APPE (resume),
ABOR, STAT, NOOP, FEAT, OPTS UTF8, SYST, QUIT. Downloads are not offered.

An upload is written to a hidden partial file and becomes the client's file (and is handed
over) only when its data connection ended normally; an upload that breaks, is aborted or
outgrows the limit never does. Any command line, however odd, gets a reply: a handler that
fails unexpectedly answers 451 and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import posixpath
import re
import ssl
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from .ftp_auth import FtpAccount, LoginLimiter
from .ftp_data import DataChannel, TransferError, UploadSink, disk_full, receive
from .ftp_paths import FtpPathError, normalise, partial_path, to_host

_LOGGER = logging.getLogger(__name__)

_IAC = re.compile(rb"\xff[\xf0-\xff]")
_PRE_LOGIN = {
    "USER", "PASS", "QUIT", "FEAT", "SYST", "NOOP", "OPTS", "AUTH", "HELP", "PBSZ", "PROT",
}  # fmt: skip
_DURING_TRANSFER = {"ABOR", "QUIT", "STAT", "NOOP"}
FEATURES = ("EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "UTF8")
TLS_FEATURES = ("AUTH TLS", "PBSZ", "PROT")


class SessionHost(Protocol):
    """What a session uses of its server (ftp_server.FtpServer)."""

    @property
    def config(self) -> SessionLimits: ...

    limiter: LoginLimiter
    accounts: dict[str, FtpAccount]

    def upload_completed(
        self, account: FtpAccount, virtual: str, path: Path, size: int, elapsed_s: float
    ) -> None: ...

    def upload_failed(self, partial: Path, *, resumable: bool) -> None: ...

    def cancel_partial_expiry(self, partial: Path) -> None: ...


class SessionLimits(Protocol):
    """The server settings a session reads (ftp_server.FtpServerConfig)."""

    @property
    def idle_timeout_s(self) -> float: ...
    @property
    def data_timeout_s(self) -> float: ...
    @property
    def max_upload_bytes(self) -> int: ...
    @property
    def passive_ports(self) -> tuple[int, int] | None: ...
    @property
    def tls(self) -> ssl.SSLContext | None: ...
    @property
    def require_tls(self) -> bool: ...


class FtpSession:
    """The state of one client connection."""

    def __init__(
        self, server: SessionHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer_ip = str(peer[0])
        self.username: str | None = None
        self.account: FtpAccount | None = None
        self.cwd = "/"
        self.rest = 0
        self.data: DataChannel | None = None
        self.transfer: asyncio.Task[None] | None = None
        self.closing = False
        # Explicit FTPS: the control connection after AUTH TLS, data connections after PROT P.
        self.secure = False
        self.protect_data = False

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        config = self.server.config
        reading: asyncio.Task[bytes] | None = None
        try:
            self.reply(220, "HomeSec FTP ready")
            while not self.closing:
                if reading is None:
                    reading = asyncio.ensure_future(self.reader.readline())
                waits: set[asyncio.Future[object]] = {reading}  # type: ignore[arg-type]
                if self.transfer is not None:
                    waits.add(self.transfer)  # type: ignore[arg-type]
                done, _ = await asyncio.wait(
                    waits,
                    timeout=None if self.transfer is not None else config.idle_timeout_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    self.reply(421, "Idle timeout, closing the connection")
                    break
                if self.transfer is not None and self.transfer.done():
                    self.transfer = None
                if reading not in done:
                    continue
                try:
                    raw = reading.result()
                except (ValueError, asyncio.LimitOverrunError):
                    self.reply(500, "Command line too long")
                    break
                except (ConnectionError, OSError):
                    break
                finally:
                    reading = None
                if not raw:
                    break
                await self.handle(raw)
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if reading is not None:
                reading.cancel()
            await self._end_transfer()
            if self.data is not None:
                await self.data.close()
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 2)

    def reply(self, code: int, text: str) -> None:
        if not self.writer.is_closing():
            self.writer.write(f"{code} {text}\r\n".encode())

    def reply_lines(self, code: int, first: str, lines: list[str], last: str) -> None:
        body = "".join(f" {line}\r\n" for line in lines)
        if not self.writer.is_closing():
            self.writer.write(f"{code}-{first}\r\n{body}{code} {last}\r\n".encode())

    async def handle(self, raw: bytes) -> None:
        line = _IAC.sub(b"", raw).decode("utf-8", errors="replace").strip("\r\n\x00 ")
        command, _, argument = line.partition(" ")
        command = command.upper()
        if not command:
            self.reply(500, "Empty command")
            return
        if self.transfer is not None and command not in _DURING_TRANSFER:
            self.reply(450, "A transfer is in progress (ABOR first)")
            return
        if self.account is None and command not in _PRE_LOGIN:
            self.reply(530, "Please log in with USER and PASS")
            return
        handler = getattr(self, f"cmd_{command.lower()}", None) if command.isalpha() else None
        if handler is None:
            self.reply(502, "Command not implemented")
            return
        if command != "REST" and command not in _DURING_TRANSFER:
            rest, self.rest = self.rest, 0
        else:
            rest = self.rest
        try:
            await handler(argument, rest)
        except FtpPathError:
            self.reply(553, "Path not allowed")
        except (ConnectionError, asyncio.CancelledError):
            raise
        except OSError as err:
            if disk_full(err):
                self.reply(452, "Insufficient storage space")
            else:
                self.reply(550, f"File system error: {err.strerror or type(err).__name__}")
        except Exception:  # a bug must not end the session or the server
            _LOGGER.exception("FTP command %s from %s failed unexpectedly", command, self.peer_ip)
            self.reply(451, "Internal error")

    # -- login ----------------------------------------------------------------------------

    async def cmd_user(self, arg: str, rest: int) -> None:
        if self.account is not None:
            self.reply(530, "Already logged in")
            return
        if self.server.config.require_tls and not self.secure:
            self.reply(530, "TLS required: send AUTH TLS first")
            return
        self.username = arg.strip()[:128]
        self.reply(331, "Password required")

    async def cmd_pass(self, arg: str, rest: int) -> None:
        if self.account is not None:
            self.reply(230, "Already logged in")
            return
        if self.username is None:
            self.reply(503, "Send USER first")
            return
        limiter = self.server.limiter
        if limiter.blocked(self.peer_ip):
            self.reply(421, "Too many failed logins, try again later")
            self.closing = True
            return
        account = self.server.accounts.get(self.username)
        if account is not None and account.password_matches(arg):
            limiter.succeeded(self.peer_ip)
            self.account = account
            self.reply(230, "Logged in")
            return
        blocked = limiter.failed(self.peer_ip)
        _LOGGER.warning(
            "FTP login failed for user %r from %s%s",
            self.username,
            self.peer_ip,
            "; address blocked for a while" if blocked else "",
        )
        self.username = None
        await asyncio.sleep(limiter.fail_delay_s)
        if blocked:
            self.reply(421, "Too many failed logins, try again later")
            self.closing = True
            return
        self.reply(530, "Login incorrect")

    async def cmd_quit(self, arg: str, rest: int) -> None:
        await self._end_transfer()
        self.reply(221, "Goodbye")
        self.closing = True

    async def cmd_auth(self, arg: str, rest: int) -> None:
        context = self.server.config.tls
        if context is None:
            self.reply(502, "TLS is not offered")
            return
        if self.secure:
            self.reply(503, "TLS is already on")
            return
        if arg.strip().upper() not in ("TLS", "TLS-C", "SSL"):
            self.reply(504, "Only AUTH TLS")
            return
        self.reply(234, "AUTH TLS successful")
        await self.writer.drain()
        try:
            await asyncio.wait_for(self.writer.start_tls(context), 15)
        except (ssl.SSLError, TimeoutError, OSError) as err:
            _LOGGER.info("FTP TLS handshake with %s failed: %s", self.peer_ip, err)
            self.closing = True
            return
        self.secure = True
        # RFC 4217: the login starts over on the protected connection.
        self.username = None

    async def cmd_pbsz(self, arg: str, rest: int) -> None:
        if not self.secure:
            self.reply(503, "AUTH TLS first")
            return
        self.reply(200, "PBSZ=0")

    async def cmd_prot(self, arg: str, rest: int) -> None:
        level = arg.strip().upper()
        if not self.secure:
            self.reply(503, "AUTH TLS first")
        elif level == "P":
            self.protect_data = True
            self.reply(200, "Data connections protected")
        elif level == "C" and not self.server.config.require_tls:
            self.protect_data = False
            self.reply(200, "Data connections in the clear")
        else:
            self.reply(534 if level == "C" else 504, "Only PROT P")

    # -- small talk ---------------------------------------------------------------------

    async def cmd_feat(self, arg: str, rest: int) -> None:
        tls = TLS_FEATURES if self.server.config.tls is not None else ()
        self.reply_lines(211, "Features:", sorted((*FEATURES, *tls)), "End")

    async def cmd_syst(self, arg: str, rest: int) -> None:
        self.reply(215, "UNIX Type: L8")

    async def cmd_noop(self, arg: str, rest: int) -> None:
        self.reply(200, "OK")

    async def cmd_help(self, arg: str, rest: int) -> None:
        self.reply(214, "Upload clips with STOR")

    async def cmd_opts(self, arg: str, rest: int) -> None:
        self.reply(200 if arg.upper().startswith("UTF8") else 501, "OK")

    async def cmd_type(self, arg: str, rest: int) -> None:
        kind = arg.strip().upper()[:1]
        self.reply(200 if kind in ("A", "I", "L") else 504, f"Type {kind or '?'}")

    async def cmd_mode(self, arg: str, rest: int) -> None:
        self.reply(200 if arg.strip().upper() == "S" else 504, "Mode S only")

    async def cmd_stru(self, arg: str, rest: int) -> None:
        self.reply(200 if arg.strip().upper() == "F" else 504, "Structure F only")

    async def cmd_stat(self, arg: str, rest: int) -> None:
        state = "uploading" if self.transfer is not None else "idle"
        self.reply(211, f"HomeSec FTP, {state}")

    async def cmd_allo(self, arg: str, rest: int) -> None:
        self.reply(202, "No storage allocation necessary")

    # -- navigation -----------------------------------------------------------------------

    def _host(self, virtual: str) -> Path:
        assert self.account is not None
        return to_host(self.account.root, virtual)

    async def cmd_pwd(self, arg: str, rest: int) -> None:
        self.reply(257, '"{}" is the current directory'.format(self.cwd.replace('"', '""')))

    async def cmd_xpwd(self, arg: str, rest: int) -> None:
        await self.cmd_pwd(arg, rest)

    async def cmd_cwd(self, arg: str, rest: int) -> None:
        virtual = normalise(self.cwd, arg or "/")
        path = await self._in_executor_path(virtual)
        if not await asyncio.get_running_loop().run_in_executor(None, path.is_dir):
            self.reply(550, "No such directory")
            return
        self.cwd = virtual
        self.reply(250, f"Directory changed to {virtual}")

    async def cmd_cdup(self, arg: str, rest: int) -> None:
        self.cwd = normalise(self.cwd, "..") if self.cwd != "/" else "/"
        self.reply(250, f"Directory changed to {self.cwd}")

    async def _in_executor_path(self, virtual: str) -> Path:
        return await asyncio.get_running_loop().run_in_executor(None, self._host, virtual)

    async def cmd_mkd(self, arg: str, rest: int) -> None:
        virtual = normalise(self.cwd, arg)
        path = await self._in_executor_path(virtual)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: path.mkdir(parents=True, exist_ok=True)
        )
        self.reply(257, '"{}" created'.format(virtual.replace('"', '""')))

    async def cmd_rmd(self, arg: str, rest: int) -> None:
        virtual = normalise(self.cwd, arg)
        if virtual == "/":
            raise FtpPathError("the root stays")
        path = await self._in_executor_path(virtual)
        await asyncio.get_running_loop().run_in_executor(None, path.rmdir)
        self.reply(250, "Directory removed")

    async def cmd_dele(self, arg: str, rest: int) -> None:
        virtual = normalise(self.cwd, arg)
        path = await self._in_executor_path(virtual)
        await asyncio.get_running_loop().run_in_executor(None, path.unlink)
        self.reply(250, "File deleted")

    async def cmd_size(self, arg: str, rest: int) -> None:
        assert self.account is not None
        virtual = normalise(self.cwd, arg)
        path = await self._in_executor_path(virtual)
        partial = partial_path(self.account.root, virtual)
        size = await asyncio.get_running_loop().run_in_executor(None, _file_size, path, partial)
        if size is None:
            self.reply(550, "No such file")
        else:
            self.reply(213, str(size))

    async def cmd_mdtm(self, arg: str, rest: int) -> None:
        virtual = normalise(self.cwd, arg)
        path = await self._in_executor_path(virtual)
        info = await asyncio.get_running_loop().run_in_executor(None, path.stat)
        stamp = datetime.fromtimestamp(info.st_mtime, UTC).strftime("%Y%m%d%H%M%S")
        self.reply(213, stamp)

    async def cmd_retr(self, arg: str, rest: int) -> None:
        self.reply(550, "Downloads are not offered")

    async def cmd_list(self, arg: str, rest: int) -> None:
        await self._listing(arg, names_only=False)

    async def cmd_nlst(self, arg: str, rest: int) -> None:
        await self._listing(arg, names_only=True)

    async def _listing(self, arg: str, *, names_only: bool) -> None:
        target = " ".join(a for a in arg.split() if not a.startswith("-")) or "."
        virtual = normalise(self.cwd, target)
        path = await self._in_executor_path(virtual)
        lines = await asyncio.get_running_loop().run_in_executor(
            None, _list_lines, path, names_only
        )
        if lines is None:
            self.reply(550, "No such file or directory")
            return
        channel = self._take_channel()
        if channel is None:
            return
        try:
            # 150 first ("about to open"): a TLS client may start its handshake on the data
            # connection before or after it reads this reply.
            self.reply(150, "Here comes the listing")
            await self.writer.drain()
            _reader, writer = await channel.open(self.server.config.data_timeout_s)
            writer.write("".join(f"{line}\r\n" for line in lines).encode())
            await asyncio.wait_for(writer.drain(), self.server.config.data_timeout_s)
        except (TimeoutError, OSError, ssl.SSLError):
            self.reply(425, "Cannot open the data connection")
            return
        finally:
            await channel.close()
        self.reply(226, "Listing sent")

    # -- data connections -----------------------------------------------------------------

    async def cmd_pasv(self, arg: str, rest: int) -> None:
        port = await self._listen()
        if port is None:
            return
        host = self.writer.get_extra_info("sockname")[0]
        if ":" in host:
            host = host.removeprefix("::ffff:")
        if ":" in host:
            self.reply(522, "Use EPSV on IPv6")
            return
        numbers = ",".join(host.split("."))
        self.reply(227, f"Entering Passive Mode ({numbers},{port >> 8},{port & 0xFF})")

    async def cmd_epsv(self, arg: str, rest: int) -> None:
        if arg.strip().upper() == "ALL":
            self.reply(200, "EPSV ALL ok")
            return
        port = await self._listen()
        if port is not None:
            self.reply(229, f"Entering Extended Passive Mode (|||{port}|)")

    async def _listen(self) -> int | None:
        if self.data is not None:
            await self.data.close()
        self.data = DataChannel()
        config = self.server.config
        bind = self.writer.get_extra_info("sockname")[0]
        tls = config.tls if self.protect_data else None
        port = await self.data.listen(bind, config.passive_ports, self.peer_ip, tls)
        if port is None:
            self.data = None
            self.reply(425, "No passive port free")
        return port

    async def cmd_port(self, arg: str, rest: int) -> None:
        parts = arg.strip().split(",")
        if len(parts) != 6 or not all(p.isdigit() and int(p) < 256 for p in parts):
            self.reply(501, "Bad PORT argument")
            return
        await self._active(".".join(parts[:4]), int(parts[4]) * 256 + int(parts[5]))

    async def cmd_eprt(self, arg: str, rest: int) -> None:
        text = arg.strip()
        fields = text[1:-1].split(text[0]) if len(text) > 2 else []
        if len(fields) != 3 or not fields[2].isdigit():
            self.reply(501, "Bad EPRT argument")
            return
        await self._active(fields[1], int(fields[2]))

    async def _active(self, host: str, port: int) -> None:
        if self.protect_data:
            self.reply(522, "Use passive mode (PASV or EPSV) with TLS")
            return
        if host.removeprefix("::ffff:") != self.peer_ip.removeprefix("::ffff:"):
            self.reply(504, "Data connections only to the client's own address")
            return
        if not 1024 <= port <= 65535:
            self.reply(504, "Bad port")
            return
        if self.data is not None:
            await self.data.close()
        self.data = DataChannel()
        self.data.connect_to(host, port)
        self.reply(200, "PORT command successful")

    def _take_channel(self) -> DataChannel | None:
        if self.server.config.require_tls and not self.protect_data:
            self.reply(521, "Data connections must be protected: send PROT P")
            return None
        channel, self.data = self.data, None
        if channel is None or not channel.ready:
            self.reply(425, "Use PASV or PORT first")
            return None
        return channel

    # -- uploads --------------------------------------------------------------------------

    async def cmd_rest(self, arg: str, rest: int) -> None:
        if not arg.strip().isdigit() or len(arg.strip()) > 18:
            self.reply(501, "Bad REST position")
            return
        self.rest = int(arg.strip())
        self.reply(350, f"Restarting at {self.rest}, send STOR or APPE")

    async def cmd_stor(self, arg: str, rest: int) -> None:
        await self._upload(arg, rest, append=False)

    async def cmd_appe(self, arg: str, rest: int) -> None:
        await self._upload(arg, rest, append=True)

    async def _upload(self, arg: str, rest: int, *, append: bool) -> None:
        assert self.account is not None
        account = self.account
        virtual = normalise(self.cwd, arg)
        if virtual == "/":
            raise FtpPathError("no file name")
        final = await self._in_executor_path(virtual)
        partial = partial_path(account.root, virtual)
        loop = asyncio.get_running_loop()
        self.server.cancel_partial_expiry(partial)
        existing = await loop.run_in_executor(None, _size_or_none, partial)
        offset = (existing or 0) if append else rest
        if offset and (existing is None or offset > existing):
            self.reply(554, "Nothing to resume at that position")
            return
        channel = self._take_channel()
        if channel is None:
            return
        self.transfer = asyncio.ensure_future(
            self._receive(account, channel, virtual, final, partial, offset)
        )

    async def _receive(
        self,
        account: FtpAccount,
        channel: DataChannel,
        virtual: str,
        final: Path,
        partial: Path,
        offset: int,
    ) -> None:
        config = self.server.config
        sink = UploadSink(partial, offset)
        started = time.monotonic()
        try:
            try:
                # 150 first ("about to open"), as for listings.
                self.reply(150, f"Ready to receive {virtual}")
                await self.writer.drain()
                reader, _writer = await channel.open(config.data_timeout_s)
            except (TimeoutError, OSError, ssl.SSLError):
                self.reply(425, "Cannot open the data connection")
                return
            await receive(reader, sink, config.max_upload_bytes, config.data_timeout_s)
            final = await asyncio.get_running_loop().run_in_executor(
                None, _complete, partial, final
            )
            virtual = posixpath.join(posixpath.dirname(virtual), final.name)
        except TransferError as err:
            await self._failed(sink, partial, virtual, err.resumable)
            self.reply(err.code, err.text)
            return
        except asyncio.CancelledError:
            # ABOR, QUIT or a lost control connection: the upload is not complete.
            await self._failed(sink, partial, virtual, resumable=True)
            raise
        finally:
            await channel.close()
        elapsed = time.monotonic() - started
        self.server.upload_completed(account, virtual, final, sink.size, elapsed)
        self.reply(226, "Transfer complete")

    async def _failed(self, sink: UploadSink, partial: Path, virtual: str, resumable: bool) -> None:
        await sink.close_quietly()
        _LOGGER.info(
            "FTP upload of %s by %s did not complete (%s bytes received)",
            virtual,
            self.username,
            sink.size,
        )
        self.server.upload_failed(partial, resumable=resumable and sink.size > 0)

    async def cmd_abor(self, arg: str, rest: int) -> None:
        if self.transfer is not None:
            await self._end_transfer()
            self.reply(426, "Transfer aborted")
        elif self.data is not None:
            await self.data.close()
            self.data = None
        self.reply(226, "ABOR successful")

    async def _end_transfer(self) -> None:
        transfer, self.transfer = self.transfer, None
        if transfer is not None and not transfer.done():
            transfer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await transfer


def _size_or_none(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _file_size(path: Path, partial: Path) -> int | None:
    try:
        info = path.stat()
    except OSError:
        return _size_or_none(partial)
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _complete(partial: Path, final: Path) -> Path:
    """The partial file becomes the client's file. A file of that name still there (its
    clip not yet stored: cameras that always upload `snapshot.jpg`) is never overwritten:
    the new one gets a unique name."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        final = final.with_name(f"{final.stem}-{time.time_ns()}{final.suffix}")
    os.replace(partial, final)
    return final


def _list_lines(path: Path, names_only: bool) -> list[str] | None:
    try:
        if path.is_dir():
            entries = sorted(
                (e for e in os.scandir(path) if not e.name.startswith(".")), key=lambda e: e.name
            )
            items = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
        else:
            items = [(path.name, path.stat())]
    except OSError:
        return None
    if names_only:
        return [name for name, _ in items]
    lines = []
    for name, info in items:
        kind = "d" if stat.S_ISDIR(info.st_mode) else "-"
        when = datetime.fromtimestamp(info.st_mtime, UTC).strftime("%b %d %H:%M")
        lines.append(f"{kind}rw-r--r-- 1 homesec homesec {info.st_size:>12} {when} {name}")
    return lines
