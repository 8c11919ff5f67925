"""The small interfaces every pipeline backend implements.

New sources, filters, vision models, storage backends, policies and notifiers drop in behind
these. Nothing here imports Home Assistant.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .models import (
    Alert,
    AlertDecision,
    AnalysisResult,
    Clip,
    FilterResult,
)

ClipCallback = Callable[[Clip], Awaitable[None]]
# Creates a long-lived task (Home Assistant passes its own helper so unload cancels it).
TaskFactory = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


def default_task_factory(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Plain asyncio task creation, for use outside Home Assistant."""
    return asyncio.get_running_loop().create_task(coro, name=name)


class PipelineError(Exception):
    """An expected failure of a pipeline stage (no traceback is logged for it).

    `retry_after_s` asks the runner to wait at least that long before the next attempt
    (for example an HTTP 429 with Retry-After); the runner caps it.
    """

    retryable: bool = True

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(PipelineError):
    """A failure that retrying cannot fix (bad file, bad configuration)."""

    retryable = False


class StorageUnavailableError(PipelineError):
    """The storage cannot take or give clips right now (its folder is missing, is not a
    folder or is read-only: an unmounted share). Retryable: nothing is lost, the clip's source
    is kept and the catch-up job stores it once the storage is back."""


class StageSkipped(PipelineError):
    """The stage decided not to run for this clip (not a failure), e.g. a spent budget.

    `reason` is a stable machine-readable string (recorded in the clip's events).
    """

    retryable = False

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


class ClipSource(ABC):
    """Produces finished clips and hands them to the pipeline."""

    source_type: str

    @abstractmethod
    async def start(self, on_clip: ClipCallback) -> None:
        """Start producing clips; each finished clip is awaited through `on_clip`."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop producing clips and release every task, thread and file."""

    def diagnostics(self) -> dict[str, Any]:
        """Source-specific health details (no secrets)."""
        return {}


class ObjectFilter(ABC):
    """Decides what is in a clip by looking at sampled frames."""

    name: str

    @abstractmethod
    async def detect(self, clip: Clip) -> FilterResult:
        """Return what the clip holds; raise PipelineError on failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and worker threads."""


@dataclass(frozen=True, slots=True)
class IncidentClip:
    """One clip of an incident across cameras, with what the object filter found in it."""

    clip: Clip
    filter_result: FilterResult


class VLMAnalyzer(ABC):
    """Asks a vision model for a structured analysis of a clip (or, when `supports_incidents`,
    of an incident's clips of several cameras in one request)."""

    name: str
    supports_incidents: bool = False

    @abstractmethod
    async def analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        """Return the analysis; raise PipelineError on failure."""

    async def analyze_incident(self, clips: Sequence[IncidentClip]) -> AnalysisResult:
        """One analysis of an incident's clips (in time order); raise PipelineError on
        failure. Only called when `supports_incidents`."""
        raise PermanentError(f"the {self.name} vision model cannot analyse an incident")

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""


class StorageBackend(ABC):
    """Keeps clips (and their snapshot) somewhere durable."""

    name: str

    @abstractmethod
    async def put_clip(self, clip: Clip) -> str:
        """Store the clip file; return its URI."""

    @abstractmethod
    async def put_snapshot(self, clip: Clip, jpeg: bytes) -> str:
        """Store the clip's snapshot image; return its URI."""

    @abstractmethod
    async def delete(self, uri: str) -> int:
        """Delete a stored object; return the bytes freed (missing is not an error)."""

    @abstractmethod
    def local_path(self, uri: str) -> Path | None:
        """The local file behind a URI, when the backend is local."""


class AlertPolicy(ABC):
    """Decides whether a processed clip deserves a notification."""

    @abstractmethod
    def decide(
        self,
        camera_id: str,
        filter_result: FilterResult | None,
        analysis: AnalysisResult | None,
        at: datetime | None = None,
    ) -> AlertDecision:
        """Return the decision and the reason for it; `at` is the clip's start time."""

    def decide_live(self, camera_id: str, label: str, at: datetime) -> AlertDecision:
        """Whether a trigger object seen live (before its clip exists) alerts at once."""
        return AlertDecision(False, "this policy does not alert on live detections")


class Notifier(ABC):
    """Delivers an alert to the user."""

    name: str
    # Takes live alerts (an object seen before its clip exists) and replaces its message of an
    # event when a later alert of the event arrives (a phone notification's tag). Notifiers
    # that cannot update what they sent (email) get only the clip's alert.
    supports_live: bool = False

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver the alert; raise PipelineError on failure."""
