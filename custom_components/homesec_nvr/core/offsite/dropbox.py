"""Dropbox off-site target on the official `dropbox` SDK, run in a worker thread.

Small files go up with one `files/upload`; larger ones by upload session (start, append_v2,
finish) in chunks. A session survives a failed attempt: the next attempt for the same remote
path continues it, from the offset Dropbox reports when it differs from ours
(`UploadSessionOffsetError.correct_offset`). The SDK's own retries and sleeps are off: the
copier decides when to try again (Retry-After of a 429 included).

Errors: 429, 5xx, network failures and malformed responses -> OffsiteError (retryable, with
retry_after_s for a 429); an expired access token is refreshed once by the SDK (refresh
token + app key); a grant that cannot be refreshed or is revoked -> OffsiteAuthError;
`insufficient_space` -> OffsiteSpaceError. A listing that fails halfway (429, 5xx, a cursor
Dropbox reset) is retryable as a whole.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dropbox
import requests
from dropbox import exceptions as dbx_exc
from dropbox import files as dbx_files

from . import OffsiteAuthError, OffsiteError, OffsiteSpaceError, OffsiteTarget, RemoteFile

_LOGGER = logging.getLogger(__name__)

# files/upload takes up to 150 MiB; sessions are used well below that so a failure costs
# one chunk, not the clip.
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0
# How many times one attempt follows Dropbox's correct_offset before giving up.
_MAX_OFFSET_FIXES = 3


@dataclass(frozen=True, slots=True)
class DropboxCredentials:
    """An OAuth2 grant: the access token and what refreshes it."""

    access_token: str
    refresh_token: str | None = None
    app_key: str | None = None
    app_secret: str | None = None
    # When the access token expires (naive UTC, as the SDK compares it).
    expires_at: datetime | None = None


@dataclass(slots=True)
class _Session:
    session_id: str
    offset: int
    size: int


class DropboxTarget(OffsiteTarget):
    """Dropbox through the SDK; every SDK call runs on one worker thread."""

    name = "dropbox"

    def __init__(
        self,
        credentials: DropboxCredentials,
        *,
        http_session: requests.Session | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._chunk_size = chunk_size
        self._client = dropbox.Dropbox(
            oauth2_access_token=credentials.access_token,
            oauth2_refresh_token=credentials.refresh_token,
            oauth2_access_token_expiration=credentials.expires_at,
            app_key=credentials.app_key,
            app_secret=credentials.app_secret,
            session=http_session,
            max_retries_on_error=0,
            max_retries_on_rate_limit=0,
            timeout=timeout_s,
            user_agent="HomeSec",
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="homesec-dropbox")
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    @property
    def access_token(self) -> str:
        """The current access token (the SDK may have refreshed it)."""
        return str(self._client._oauth2_access_token)

    @property
    def pending_sessions(self) -> dict[str, int]:
        """Remote path -> bytes Dropbox has of an unfinished upload session."""
        return {path: s.offset for path, s in self._sessions.items()}

    async def _run[T](self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _mapped, func, *args)

    async def close(self) -> None:
        """Stop the HTTP connection pool and the worker thread (ended when this returns)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._client.close)
        # Waited for on another thread: an unload must not leave the worker thread behind.
        await loop.run_in_executor(None, self._executor.shutdown)

    async def account(self) -> str:
        return await self._run(self._account)

    async def upload(self, local: Path, remote: str) -> int:
        return await self._run(self._upload, local, remote)

    async def delete(self, remote: str) -> bool:
        return await self._run(self._delete, remote)

    async def list_folder(self, remote: str) -> list[str]:
        return await self._run(self._list_folder, remote)

    async def list_files(self, remote: str) -> list[RemoteFile]:
        return await self._run(self._list_files, remote)

    async def temporary_link(self, remote: str) -> str:
        return await self._run(self._temporary_link, remote)

    # -- worker thread -------------------------------------------------------------------

    def _account(self) -> str:
        account = self._client.users_get_current_account()
        return str(account.email or account.account_id)

    def _upload(self, local: Path, remote: str) -> int:
        size = local.stat().st_size
        if size <= self._chunk_size:
            data = local.read_bytes()
            try:
                self._client.files_upload(data, remote, mode=dbx_files.WriteMode.overwrite)
            except dbx_exc.ApiError as err:
                if err.error.is_path() and err.error.get_path().reason.is_insufficient_space():
                    raise _space_error() from None
                raise OffsiteError(f"Dropbox refused {remote}: {err.error}") from None
            return size
        return self._upload_session(local, remote, size)

    def _upload_session(self, local: Path, remote: str, size: int) -> int:
        with self._lock:
            session = self._sessions.get(remote)
        if session is not None and session.size != size:
            session = None  # the file changed: start over
        with local.open("rb") as file:
            if session is None:
                first = file.read(self._chunk_size)
                started = self._client.files_upload_session_start(first)
                session = _Session(started.session_id, len(first), size)
                with self._lock:
                    self._sessions[remote] = session
            fixes = 0
            while True:
                cursor = dbx_files.UploadSessionCursor(session.session_id, session.offset)
                file.seek(session.offset)
                data = file.read(self._chunk_size)
                try:
                    if session.offset + len(data) >= size:
                        commit = dbx_files.CommitInfo(
                            path=remote, mode=dbx_files.WriteMode.overwrite
                        )
                        self._client.files_upload_session_finish(data, cursor, commit)
                        break
                    self._client.files_upload_session_append_v2(data, cursor)
                    session.offset += len(data)
                except dbx_exc.ApiError as err:
                    correct = _correct_offset(err.error)
                    if correct is not None and fixes < _MAX_OFFSET_FIXES:
                        _LOGGER.debug(
                            "Dropbox has %s bytes of %s (we had %s): continuing from there",
                            correct,
                            remote,
                            session.offset,
                        )
                        fixes += 1
                        session.offset = correct
                        continue
                    self._drop_session_if_dead(remote, err.error)
                    raise _session_error(remote, err.error) from None
        with self._lock:
            self._sessions.pop(remote, None)
        return size

    def _drop_session_if_dead(self, remote: str, error: Any) -> None:
        lookup = error.get_lookup_failed() if _is(error, "lookup_failed") else error
        if _is(lookup, "not_found") or _is(lookup, "closed") or _is(lookup, "not_closed"):
            with self._lock:
                self._sessions.pop(remote, None)

    def _delete(self, remote: str) -> bool:
        try:
            self._client.files_delete_v2(remote)
        except dbx_exc.ApiError as err:
            if err.error.is_path_lookup() and err.error.get_path_lookup().is_not_found():
                return False
            raise OffsiteError(f"Dropbox could not delete {remote}: {err.error}") from None
        return True

    def _list_folder(self, remote: str) -> list[str]:
        try:
            result = self._client.files_list_folder(remote)
        except dbx_exc.ApiError as err:
            if err.error.is_path() and err.error.get_path().is_not_found():
                return []
            raise OffsiteError(f"Dropbox could not list {remote}: {err.error}") from None
        names = [str(e.name) for e in result.entries]
        while result.has_more:
            result = self._client.files_list_folder_continue(result.cursor)
            names += [str(e.name) for e in result.entries]
        return names

    def _list_files(self, remote: str) -> list[RemoteFile]:
        """files/list_folder recursive, then list_folder/continue while has_more."""
        try:
            result = self._client.files_list_folder(remote, recursive=True)
        except dbx_exc.ApiError as err:
            if err.error.is_path() and err.error.get_path().is_not_found():
                return []
            raise OffsiteError(f"Dropbox could not list {remote}: {err.error}") from None
        files = _files_of(result.entries)
        while result.has_more:
            try:
                result = self._client.files_list_folder_continue(result.cursor)
            except dbx_exc.ApiError as err:  # reset (cursor no longer valid) or gone
                raise OffsiteError(
                    f"Dropbox could not go on listing {remote}: {err.error}"
                ) from None
            files += _files_of(result.entries)
        return files

    def _temporary_link(self, remote: str) -> str:
        try:
            return str(self._client.files_get_temporary_link(remote).link)
        except dbx_exc.ApiError as err:
            raise OffsiteError(f"Dropbox has no link for {remote}: {err.error}") from None


def _files_of(entries: list[Any]) -> list[RemoteFile]:
    return [
        RemoteFile(str(e.path_lower), int(e.size))
        for e in entries
        if isinstance(e, dbx_files.FileMetadata)
    ]


def _is(union: Any, tag: str) -> bool:
    check = getattr(union, f"is_{tag}", None)
    return bool(check()) if check is not None else False


def _correct_offset(error: Any) -> int | None:
    """Dropbox's offset from an incorrect_offset error of append_v2 or finish."""
    lookup = error.get_lookup_failed() if _is(error, "lookup_failed") else error
    if _is(lookup, "incorrect_offset"):
        return int(lookup.get_incorrect_offset().correct_offset)
    return None


def _session_error(remote: str, error: Any) -> Exception:
    if _is(error, "path") and _is(error.get_path(), "insufficient_space"):
        return _space_error()
    return OffsiteError(f"Dropbox upload session for {remote} failed: {error}")


def _space_error() -> OffsiteSpaceError:
    return OffsiteSpaceError("the Dropbox account has no space left for the off-site copy")


def _mapped[T](func: Callable[..., T], *args: Any) -> T:
    """Call an SDK function; translate the SDK's and the transport's errors."""
    try:
        return func(*args)
    except dbx_exc.RateLimitError as err:
        retry_after = float(err.backoff) if err.backoff is not None else None
        raise OffsiteError(
            "Dropbox rate limit (429)", retry_after_s=retry_after if retry_after else 5.0
        ) from None
    except dbx_exc.AuthError as err:
        raise OffsiteAuthError(f"Dropbox refused the sign-in ({_auth_reason(err)})") from None
    except dbx_exc.InternalServerError as err:
        raise OffsiteError(f"Dropbox server error ({err.status_code})") from None
    except dbx_exc.BadInputError as err:
        raise OffsiteError(f"Dropbox rejected the request: {err.message}") from None
    except dbx_exc.HttpError as err:
        raise OffsiteError(f"Dropbox HTTP error {err.status_code}") from None
    except requests.exceptions.RequestException as err:
        raise OffsiteError(f"cannot reach Dropbox: {type(err).__name__}") from None
    except (ValueError, KeyError, AssertionError) as err:
        # A truncated or malformed response body (JSON or stone validation).
        raise OffsiteError(f"malformed response from Dropbox: {type(err).__name__}") from None
    except OSError as err:
        raise OffsiteError(f"cannot read the local file: {err.strerror or err}") from None


def _auth_reason(err: Any) -> str:
    error = getattr(err, "error", None)
    for tag in ("expired_access_token", "invalid_access_token", "user_suspended"):
        if _is(error, tag):
            return tag
    return "invalid grant"
