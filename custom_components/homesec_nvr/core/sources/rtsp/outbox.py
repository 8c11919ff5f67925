"""Hand-over of finished clips from a camera's worker thread to `on_clip` on the event loop.

Hand-over. A finished clip is handed to `on_clip` on the event loop with
`run_coroutine_threadsafe` (bounded by `handover_timeout_s`), without blocking the worker; a
failed hand-over is retried with backoff (1 s doubling to 60 s) and the file is never deleted.
`stop()` finishes a clip in progress, joins the worker and hands over what is left; a clip that
still cannot be handed over stays on disk (logged with its path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ...interfaces import ClipCallback
from ...models import Clip

_LOGGER = logging.getLogger(__name__)

_HANDOVER_RETRY_MAX_S = 60.0


@dataclass(slots=True, eq=False)
class _Handover:
    clip: Clip
    attempts: int = 0
    next_try: float = 0.0
    future: Any = None  # concurrent.futures.Future[None] while on its way


class ClipOutbox:
    """Finished clips on their way to `on_clip`.

    `add` and `service` run on the worker thread (`service` sends, collects and retries);
    `flush` runs on the event loop once the worker has ended. A failed hand-over is reported
    through `on_failure(message)` (on the worker thread) and logged.
    """

    def __init__(
        self,
        *,
        camera_name: str,
        handover_timeout_s: float,
        on_failure: Callable[[str], None],
    ) -> None:
        self._camera_name = camera_name
        self._handover_timeout_s = handover_timeout_s
        self._on_failure = on_failure
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_clip: ClipCallback | None = None
        self._outbox: list[_Handover] = []
        self.clips_emitted = 0

    def __len__(self) -> int:
        return len(self._outbox)

    def bind(self, loop: asyncio.AbstractEventLoop, on_clip: ClipCallback) -> None:
        """Hand clips to `on_clip` on `loop` (when the source starts)."""
        self._loop = loop
        self._on_clip = on_clip

    def add(self, clips: Iterable[Clip]) -> None:
        """Queue finished clips (worker thread); `service` sends them."""
        self._outbox.extend(_Handover(clip) for clip in clips)

    def service(self, now: float) -> None:
        """Collect finished hand-overs, send the queued ones whose time has come (worker)."""
        loop = self._loop
        for item in list(self._outbox):
            future = item.future
            if future is not None:
                if not future.done():
                    continue
                item.future = None
                error = future.exception() if not future.cancelled() else "cancelled"
                if error is None:
                    self._outbox.remove(item)
                    self.clips_emitted += 1
                    continue
                self._handover_failed(item, error, now)
            if now < item.next_try or loop is None:
                continue
            delivery = self._deliver(item.clip)
            try:
                item.future = asyncio.run_coroutine_threadsafe(delivery, loop)
            except RuntimeError as err:  # loop closed
                delivery.close()  # never scheduled: no "never awaited" warning
                self._handover_failed(item, err, now)

    def _handover_failed(self, item: _Handover, error: object, now: float) -> None:
        item.attempts += 1
        delay = min(_HANDOVER_RETRY_MAX_S, 2.0 ** (item.attempts - 1))
        item.next_try = now + delay
        self._on_failure(f"could not hand over clip {item.clip.clip_id}: {error}")
        _LOGGER.warning(
            "Camera %s: could not hand over clip %s (attempt %d), retrying in %.0f s: %s",
            self._camera_name,
            item.clip.path,
            item.attempts,
            delay,
            error,
        )

    async def _deliver(self, clip: Clip) -> None:
        assert self._on_clip is not None
        async with asyncio.timeout(self._handover_timeout_s):
            await self._on_clip(clip)

    async def flush(self) -> None:
        """After the worker ended: wait for hand-overs on their way, retry failed ones once."""
        for item in list(self._outbox):
            if item.future is not None:
                try:
                    await asyncio.wait_for(
                        asyncio.wrap_future(item.future), self._handover_timeout_s
                    )
                except Exception as err:  # noqa: BLE001 - retried below
                    _LOGGER.debug("Hand-over of %s failed: %s", item.clip.clip_id, err)
                else:
                    self._outbox.remove(item)
                    self.clips_emitted += 1
                    continue
            try:
                await self._deliver(item.clip)
            except Exception as err:  # noqa: BLE001 - the file stays on disk
                _LOGGER.error(
                    "Camera %s: clip %s could not be handed over and stays on disk: %s",
                    self._camera_name,
                    item.clip.path,
                    err,
                )
            else:
                self.clips_emitted += 1
            self._outbox.remove(item)
