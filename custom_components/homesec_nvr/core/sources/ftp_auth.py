"""FTP logins: the accounts (one per camera) and the wrong-password rate limit.

Every wrong password is answered only after `fail_delay_s`; after `max_failures` wrong
passwords from one address within `window_s`, that address is blocked for `block_s` (each
connection from it is refused with 421 until then). Passwords are compared in constant time
and never logged.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

# Called once an upload completed: (account, client path, host path, size in bytes).
UploadCallback = Callable[["FtpAccount", str, Path, int], Awaitable[None]]


@dataclass(slots=True)
class FtpAccount:
    """One login: its password, its folder (the client's `/`) and who takes its uploads."""

    username: str
    password: str
    root: Path
    on_upload: UploadCallback
    label: str = ""

    def password_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(self.password.encode(), candidate.encode())


@dataclass(slots=True)
class LoginLimiter:
    """Counts wrong passwords per client address and blocks an address that keeps failing."""

    fail_delay_s: float = 1.0
    max_failures: int = 5
    window_s: float = 300.0
    block_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _blocked_until: dict[str, float] = field(default_factory=dict)
    blocked_total: int = 0
    failures_total: int = 0

    def blocked(self, address: str) -> bool:
        until = self._blocked_until.get(address)
        if until is None:
            return False
        if self.clock() >= until:
            del self._blocked_until[address]
            return False
        return True

    def failed(self, address: str) -> bool:
        """Record a wrong password; True when the address is now blocked."""
        now = self.clock()
        self.failures_total += 1
        recent = [t for t in self._failures.get(address, []) if now - t < self.window_s]
        recent.append(now)
        if len(recent) >= self.max_failures:
            self._failures.pop(address, None)
            self._blocked_until[address] = now + self.block_s
            self.blocked_total += 1
            return True
        self._failures[address] = recent
        # Forget addresses that stopped trying, so the table stays small.
        if len(self._failures) > 1024:
            for other in [a for a, ts in self._failures.items() if now - ts[-1] >= self.window_s]:
                del self._failures[other]
        return False

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    @property
    def blocked_addresses(self) -> int:
        return sum(1 for a in list(self._blocked_until) if self.blocked(a))
