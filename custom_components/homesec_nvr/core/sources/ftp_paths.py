"""Paths of one FTP login: every name a client sends resolves inside the login's own folder.

A client sees its folder as `/`. `..` never climbs above it, an absolute path is taken from
that root (never from the host's), and names with NUL bytes, control characters, backslashes
or a hidden (dot) component are refused, so a login cannot reach another camera's folder,
HomeSec's partial uploads or any other file of the host. Symbolic links are never followed out
of the folder: the resolved path must still be inside it.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

# Where unfinished uploads are written (inside each login's folder; hidden from the client).
PARTIAL_DIR = ".partial"
MAX_PATH_CHARS = 1024


class FtpPathError(Exception):
    """A path the client may not use (the server answers 553 or 550)."""


def normalise(cwd: str, name: str) -> str:
    """The client-visible absolute path of `name` seen from `cwd` (both `/`-rooted)."""
    if not name or len(name) > MAX_PATH_CHARS:
        raise FtpPathError("bad path length")
    if any(ord(ch) < 32 or ch in "\\\x7f\ufffd" for ch in name):
        raise FtpPathError("bad characters in path")
    joined = posixpath.join(cwd, name) if not name.startswith("/") else name
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise FtpPathError("outside the folder")
            parts.pop()
            continue
        if part.startswith("."):
            raise FtpPathError("hidden names are not allowed")
        parts.append(part)
    return "/" + "/".join(parts)


def to_host(root: Path, virtual: str) -> Path:
    """The host path of a normalised client path; it must stay inside `root` (blocking:
    resolves symbolic links)."""
    relative = virtual.lstrip("/")
    candidate = root / relative if relative else root
    resolved_root = root.resolve()
    resolved = candidate.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise FtpPathError("outside the folder")
    return candidate


def partial_path(root: Path, virtual: str) -> Path:
    """Where the upload of `virtual` is written until it completes."""
    flat = virtual.lstrip("/").replace("/", "__")
    return root / PARTIAL_DIR / f"{flat}.part"
