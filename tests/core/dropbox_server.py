"""A local server that follows the Dropbox API v2 contract (for tests), and the transport
adapter that points the real `dropbox` SDK at it.

aiohttp on 127.0.0.1, port chosen by the OS. One server plays both of Dropbox's hosts (the
adapter keeps the host the SDK meant in `X-Dropbox-Host`; content routes are refused on the
API host and the other way round, as Dropbox does).

- `POST /oauth2/token` (form, `client_id`, `client_secret`): `grant_type=authorization_code`
  with a `code` from `authorize()` -> access and refresh token; `grant_type=refresh_token` ->
  a new access token with `expires_in`; an unknown code, a revoked refresh token or a wrong
  app secret -> 400 `{"error": "invalid_grant"}`.
- RPC routes (JSON body, `Authorization: Bearer`): `users/get_current_account`,
  `files/delete_v2`, `files/list_folder` (`recursive`, `limit`), `files/list_folder/continue`,
  `files/get_temporary_link`. A listing comes in pages of at most `page_size` entries (or the
  request's `limit`) with a cursor; `has_more` says whether to continue. An unknown cursor,
  or any cursor after `reset_cursors()`, -> 409 `reset`.
- Content routes (`Dropbox-API-Arg` header, octet-stream body): `files/upload`,
  `files/upload_session/start|append_v2|finish`, each chunk checked against its
  `content_hash` (Dropbox's 4 MiB block hash).
- An expired access token -> 401 `expired_access_token`; an unknown one -> 401
  `invalid_access_token`. A write past `quota_bytes` -> 409 `insufficient_space`. An append
  or finish at the wrong offset -> 409 `incorrect_offset` with `correct_offset`.
- `fail(route, ...)` scripts the next answers of a route: a status (429 with Retry-After,
  500), a body truncated mid-way (the connection closes before Content-Length is reached),
  an answer given after the upload was taken (the client cannot know it landed), or a route
  error (409) such as a listing cursor's `reset`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import requests
from aiohttp import web
from requests.adapters import HTTPAdapter

API_HOST = "api.dropboxapi.com"
CONTENT_HOST = "content.dropboxapi.com"
CONTENT_ROUTES = {
    "files/upload",
    "files/upload_session/start",
    "files/upload_session/append_v2",
    "files/upload_session/finish",
}
_BLOCK = 4 * 1024 * 1024


def content_hash(data: bytes) -> str:
    """Dropbox's content hash: SHA-256 of the SHA-256 of each 4 MiB block."""
    blocks = b"".join(
        hashlib.sha256(data[i : i + _BLOCK]).digest() for i in range(0, len(data), _BLOCK)
    )
    return hashlib.sha256(blocks).hexdigest()


@dataclass(slots=True)
class Failure:
    """One scripted answer of a route."""

    status: int = 500
    retry_after: int | None = None
    truncate: bool = False
    after_taking: bool = False  # the upload is kept, then the error is answered
    error: dict[str, Any] | None = None  # a route error (409) instead, e.g. {".tag": "reset"}


@dataclass(slots=True)
class UploadSession:
    data: bytearray
    closed: bool = False


class DropboxServer:
    """Files live in `files` (path_lower -> bytes); `calls` records every route called."""

    def __init__(self, app_key: str = "app-key", app_secret: str = "app-secret") -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.codes: set[str] = set()
        self.files: dict[str, bytes] = {}
        self.sessions: dict[str, UploadSession] = {}
        self.calls: list[str] = []
        self.quota_bytes: int | None = None
        self.failures: dict[str, list[Failure]] = {}
        self.page_size = 2000
        self._listings: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def grant(self) -> tuple[str, str]:
        """A fresh (access token, refresh token) pair."""
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return access, refresh

    def authorize(self) -> str:
        """The code Dropbox's authorize page hands back after the user allowed the app."""
        code = secrets.token_urlsafe(8)
        self.codes.add(code)
        return code

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expire(self, access_token: str) -> None:
        self.access_tokens.discard(access_token)
        self.expired_tokens.add(access_token)

    def revoke(self) -> None:
        """The user removed the app's access: every token stops working."""
        self.access_tokens.clear()
        self.expired_tokens.clear()
        self.refresh_tokens.clear()

    def fail(self, route: str, *failures: Failure) -> None:
        self.failures.setdefault(route, []).extend(failures)

    def reset_cursors(self) -> None:
        """Dropbox invalidated the listing cursors it handed out."""
        self._listings.clear()

    def count(self, route: str) -> int:
        return self.calls.count(route)

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_post("/2/{route:.+}", self._route)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def http_session(self) -> requests.Session:
        """A requests session whose HTTPS transport goes to this server."""
        session = requests.Session()
        session.mount("https://", _LocalAdapter(self.port))
        return session

    # -- answers -------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.calls.append("oauth2/token")
        form = await request.post()
        grant = form.get("grant_type")
        app_ok = (
            form.get("client_id") == self.app_key and form.get("client_secret") == self.app_secret
        )
        if app_ok and grant == "authorization_code" and form.get("code") in self.codes:
            self.codes.discard(str(form["code"]))
            access, refresh = self.grant()
            return _json(
                {
                    "access_token": access,
                    "refresh_token": refresh,
                    "token_type": "bearer",
                    "expires_in": 14400,
                    "scope": "files.content.write files.content.read files.metadata.read",
                    "uid": "12345",
                    "account_id": _ACCOUNT["account_id"],
                }
            )
        if not (
            app_ok and grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens
        ):
            return _json(
                {"error": "invalid_grant", "error_description": "refresh token is invalid"},
                status=400,
            )
        access = secrets.token_urlsafe(16)
        self.access_tokens.add(access)
        return _json({"access_token": access, "token_type": "bearer", "expires_in": 14400})

    async def _route(self, request: web.Request) -> web.StreamResponse:
        route = request.match_info["route"]
        self.calls.append(route)
        host = request.headers.get("X-Dropbox-Host", "")
        if host != (CONTENT_HOST if route in CONTENT_ROUTES else API_HOST):
            return web.Response(
                status=400, text=f"Error in call to API function: wrong host {host}"
            )
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.expired_tokens:
            return _auth_error("expired_access_token")
        if token not in self.access_tokens:
            return _auth_error("invalid_access_token")
        failures = self.failures.get(route)
        failure = failures.pop(0) if failures else None
        if failure is not None and not failure.after_taking:
            return await _fail(request, failure)
        body = await request.read()
        if route in CONTENT_ROUTES:
            arg = json.loads(request.headers["Dropbox-API-Arg"])
            answer = self._content(route, arg, body)
        else:
            answer = self._rpc(route, json.loads(body) if body else None)
        if failure is not None:
            return await _fail(request, failure)
        return answer

    def _content(self, route: str, arg: dict[str, Any], body: bytes) -> web.Response:
        if arg.get("content_hash") and arg["content_hash"] != content_hash(body):
            return _route_error({".tag": "content_hash_mismatch"})
        if route == "files/upload":
            if not self._fits(len(body), arg["path"]):
                return _route_error(
                    {
                        ".tag": "path",
                        "reason": {".tag": "insufficient_space"},
                        "upload_session_id": "",
                    }
                )
            return self._store(arg["path"], body)
        if route == "files/upload_session/start":
            session_id = secrets.token_hex(8)
            self.sessions[session_id] = UploadSession(bytearray(body), bool(arg.get("close")))
            return _json({"session_id": session_id})
        cursor = arg["cursor"]
        session = self.sessions.get(cursor["session_id"])
        lookup: dict[str, Any] | None = None
        if session is None:
            lookup = {".tag": "not_found"}
        elif cursor["offset"] != len(session.data):
            lookup = {".tag": "incorrect_offset", "correct_offset": len(session.data)}
        elif session.closed and route.endswith("append_v2"):
            lookup = {".tag": "closed"}
        if route.endswith("append_v2"):
            if lookup is not None:
                return _route_error(lookup)
            assert session is not None
            session.data += body
            session.closed = bool(arg.get("close"))
            return _json(None)
        if lookup is not None:
            return _route_error({".tag": "lookup_failed", "lookup_failed": lookup})
        assert session is not None
        data = bytes(session.data + body)
        path = arg["commit"]["path"]
        if not self._fits(len(data), path):
            return _route_error({".tag": "path", "path": {".tag": "insufficient_space"}})
        del self.sessions[cursor["session_id"]]
        return self._store(path, data)

    def _fits(self, size: int, path: str) -> bool:
        if self.quota_bytes is None:
            return True
        used = sum(len(v) for k, v in self.files.items() if k != path.lower())
        return used + size <= self.quota_bytes

    def _store(self, path: str, data: bytes) -> web.Response:
        self.files[path.lower()] = data
        return _json(_file_metadata(path, data))

    def _rpc(self, route: str, arg: Any) -> web.Response:
        if route == "users/get_current_account":
            return _json(_ACCOUNT)
        if route == "files/list_folder/continue":
            listing = self._listings.pop(str(arg["cursor"]), None)
            if listing is None:
                return _route_error({".tag": "reset"})
            return self._page(*listing)
        path = str(arg["path"]).lower().rstrip("/")
        if route == "files/delete_v2":
            doomed = [k for k in self.files if k == path or k.startswith(path + "/")]
            if not doomed:
                return _route_error({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}})
            for key in doomed:
                del self.files[key]
            tag = "file" if doomed == [path] else "folder"
            meta = _file_metadata(path, b"") if tag == "file" else _folder_metadata(path)
            return _json({"metadata": {".tag": tag, **meta}})
        if route == "files/list_folder":
            entries = self._entries(path, bool(arg.get("recursive")))
            if not entries:
                return _route_error({".tag": "path", "path": {".tag": "not_found"}})
            return self._page(entries, int(arg.get("limit") or self.page_size))
        if route == "files/get_temporary_link":
            if path not in self.files:
                return _route_error({".tag": "path", "path": {".tag": "not_found"}})
            return _json(
                {
                    "metadata": _file_metadata(path, self.files[path]),
                    "link": f"https://dl.dropboxusercontent.com/tmp/{secrets.token_hex(8)}",
                }
            )
        return web.Response(status=400, text=f"Unknown API function: {route}")

    def _entries(self, path: str, recursive: bool) -> list[dict[str, Any]]:
        """The entries below `path`: its children, or (recursive) every folder and file."""
        folders: set[str] = set()
        files: list[str] = []
        for key in self.files:
            if not key.startswith(path + "/"):
                continue
            parts = key[len(path) + 1 :].split("/")
            depth = len(parts) if recursive else 1
            for i in range(1, min(depth, len(parts) - 1) + 1):
                folders.add(f"{path}/{'/'.join(parts[:i])}")
            if len(parts) == 1 or recursive:
                files.append(key)
        entries = [{".tag": "folder", **_folder_metadata(f)} for f in folders]
        entries += [{".tag": "file", **_file_metadata(k, self.files[k])} for k in files]
        return sorted(entries, key=lambda e: str(e["path_lower"]))

    def _page(self, entries: list[dict[str, Any]], limit: int) -> web.Response:
        page, rest = entries[:limit], entries[limit:]
        cursor = secrets.token_urlsafe(12)
        if rest:
            self._listings[cursor] = (rest, limit)
        return _json({"entries": page, "cursor": cursor, "has_more": bool(rest)})


class _LocalAdapter(HTTPAdapter):
    """Sends the SDK's HTTPS requests to the local server over plain HTTP."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = urlsplit(str(request.url))
        request.headers["X-Dropbox-Host"] = url.hostname or ""
        request.url = urlunsplit(("http", f"127.0.0.1:{self._port}", url.path, url.query, ""))
        return super().send(request, *args, **kwargs)


async def _fail(request: web.Request, failure: Failure) -> web.StreamResponse:
    if failure.error is not None:
        return _route_error(failure.error)
    if failure.truncate:
        body = json.dumps(_file_metadata("/truncated", b"x")).encode()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        response.force_close()  # the connection ends after half of the promised body
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await response.write_eof()
        return response
    if failure.status == 429:
        headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
        return web.Response(status=429, text="too_many_requests", headers=headers)
    return web.Response(status=failure.status, text="Internal server error")


def _json(value: Any, status: int = 200) -> web.Response:
    """JSON as Dropbox sends it: `Content-Type: application/json` without a charset (the SDK
    compares the header exactly)."""
    return web.Response(
        body=json.dumps(value).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _auth_error(tag: str) -> web.Response:
    return _json({"error_summary": f"{tag}/..", "error": {".tag": tag}}, status=401)


def _route_error(error: dict[str, Any]) -> web.Response:
    return _json({"error_summary": f"{error['.tag']}/..", "error": error}, status=409)


def _folder_metadata(path: str) -> dict[str, Any]:
    return {
        "name": path.rsplit("/", 1)[-1],
        "id": "id:" + hashlib.sha1(path.encode()).hexdigest()[:12],
        "path_lower": path.lower(),
        "path_display": path,
    }


def _file_metadata(path: str, data: bytes) -> dict[str, Any]:
    return {
        **_folder_metadata(path),
        "client_modified": "2026-12-01T10:00:00Z",
        "server_modified": "2026-12-01T10:00:00Z",
        "rev": "a1c10ce0dd78",
        "size": len(data),
        "is_downloadable": True,
        "content_hash": content_hash(data),
    }


_ACCOUNT = {
    "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
    "name": {
        "given_name": "Home",
        "surname": "Owner",
        "familiar_name": "Home",
        "display_name": "Home Owner",
        "abbreviated_name": "HO",
    },
    "email": "owner@example.com",
    "email_verified": True,
    "disabled": False,
    "locale": "en",
    "referral_link": "https://db.tt/ZITNuhtI",
    "is_paired": False,
    "account_type": {".tag": "basic"},
    "root_info": {".tag": "user", "root_namespace_id": "3235641", "home_namespace_id": "3235641"},
    "country": "US",
}
