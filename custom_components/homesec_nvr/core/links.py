"""Signed, expiring links to a clip's video and snapshot, for people outside Home Assistant's
login (a phone's notification, a browser tab, an email).

A link is `/api/homesec_nvr/clips/<clip id>/<clip|snapshot>?exp=<unix time>&sig=<hex>`; the
signature is an HMAC-SHA256 over the clip id, what is linked and the expiry, with the hub's
own secret (kept in its config entry, so links survive restarts; a new secret revokes them
all). Verification is constant-time and needs no lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from enum import StrEnum

LINK_PATH = "/api/homesec_nvr/clips/{clip_id}/{what}"
# Clip ids are made by HomeSec's sources: letters, digits and . _ - (see sources/).
_CLIP_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The longest a link may be valid (a year): a larger expiry in a link is refused as forged.
MAX_TTL_S = 366 * 24 * 3600


class LinkTarget(StrEnum):
    """What a link opens."""

    CLIP = "clip"
    SNAPSHOT = "snapshot"
    # The frame a live detection was seen on (the id is the event's key; no clip yet).
    LIVE = "live"


class LinkSigner:
    """Signs and verifies clip links with one secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("link secret too short")
        self._key = secret.encode()

    def _signature(self, clip_id: str, target: LinkTarget, expires: int) -> str:
        message = f"{clip_id}\n{target.value}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def link(
        self, clip_id: str, target: LinkTarget, ttl_s: float, now: float | None = None
    ) -> str | None:
        """The signed path of `target` of a clip, valid for `ttl_s` seconds (None for an id
        that cannot be put in a path)."""
        if not _CLIP_ID.fullmatch(clip_id):
            return None
        expires = int((time.time() if now is None else now) + min(ttl_s, MAX_TTL_S))
        path = LINK_PATH.format(clip_id=clip_id, what=target.value)
        return f"{path}?exp={expires}&sig={self._signature(clip_id, target, expires)}"

    def verify(
        self, clip_id: str, what: str, exp: str | None, sig: str | None, now: float | None = None
    ) -> LinkTarget | None:
        """What a request's link opens, or None when it is malformed, forged or expired."""
        if exp is None or sig is None or not _CLIP_ID.fullmatch(clip_id):
            return None
        try:
            target = LinkTarget(what)
        except ValueError:
            return None
        if not exp.isdigit() or len(exp) > 12 or len(sig) != 64:
            return None
        expires = int(exp)
        current = time.time() if now is None else now
        if expires < current or expires > current + MAX_TTL_S:
            return None
        if not hmac.compare_digest(sig, self._signature(clip_id, target, expires)):
            return None
        return target
