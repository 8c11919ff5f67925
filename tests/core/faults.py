"""Fault injection for the store and pipeline tests: real SQLite, real files, real locks.

- `FaultyStore`: a real ClipStore whose connection (a `sqlite3.Connection` subclass) raises a
  scripted SQLite error at its Nth statement after being armed, for a number of statements in a
  row (a lock held for a while, a disk that fills and is freed, an I/O error that goes away).
- `BlockingStore`: a real ClipStore whose Nth call never runs (Home Assistant killed there):
  everything before it is committed, nothing after it happens.
- `exclusive_lock`: a second, real SQLite connection holding an exclusive lock on the file.
- `PipelineKit`: a pipeline wired to a real store and real local storage, with the scripted
  filter, VLM and notifiers of `doubles.py`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_components.homesec_nvr.core.alert_policy import DefaultAlertPolicy
from custom_components.homesec_nvr.core.interfaces import (
    Notifier,
    ObjectFilter,
    StorageBackend,
    VLMAnalyzer,
)
from custom_components.homesec_nvr.core.runner import (
    CameraPipelineSettings,
    ClipPipeline,
    PipelineSettings,
    RetrySettings,
    StoreRetrySettings,
)
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from .doubles import RecordingListener

FAST_RETRY = RetrySettings(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
FAST_STORE_RETRY = StoreRetrySettings(
    base_delay_s=0.002, max_delay_s=0.01, submit_deadline_s=2.0, stop_grace_s=2.0
)
FAST_SETTINGS = PipelineSettings(retry=FAST_RETRY, store_retry=FAST_STORE_RETRY)


def sqlite_error(
    kind: type[sqlite3.Error], message: str, code: int, name: str
) -> Callable[[], sqlite3.Error]:
    """A factory of the SQLite error that SQLite itself raises for this fault."""

    def make() -> sqlite3.Error:
        err = kind(message)
        err.sqlite_errorcode = code  # type: ignore[attr-defined]
        err.sqlite_errorname = name  # type: ignore[attr-defined]
        return err

    return make


# The transient faults: what SQLite raises for each (primary or extended result code).
TRANSIENT_FAULTS: dict[str, Callable[[], sqlite3.Error]] = {
    "locked": sqlite_error(sqlite3.OperationalError, "database is locked", 5, "SQLITE_BUSY"),
    "table_locked": sqlite_error(
        sqlite3.OperationalError, "database table is locked", 6, "SQLITE_LOCKED"
    ),
    "disk_full": sqlite_error(
        sqlite3.OperationalError, "database or disk is full", 13, "SQLITE_FULL"
    ),
    "io_error": sqlite_error(sqlite3.OperationalError, "disk I/O error", 778, "SQLITE_IOERR_WRITE"),
}
CORRUPT_FAULT = sqlite_error(
    sqlite3.DatabaseError, "database disk image is malformed", 11, "SQLITE_CORRUPT"
)


@dataclass
class FaultPlan:
    """Fail statements `at` .. `at + count - 1` (1-based, counted once armed)."""

    error: Callable[[], sqlite3.Error] | None = None
    at: int = 0
    count: int = 1
    armed: bool = False
    # Only statements starting with this (e.g. "SELECT") are counted and failed.
    match: str | None = None
    statements: int = 0
    raised: int = 0
    log: list[str] = field(default_factory=list)

    def check(self, sql: str) -> None:
        if not self.armed or (self.match and not sql.lstrip().upper().startswith(self.match)):
            return
        self.statements += 1
        self.log.append(sql.split(None, 1)[0].upper())
        if self.error is not None and self.at <= self.statements < self.at + self.count:
            self.raised += 1
            raise self.error()


class FaultyConnection(sqlite3.Connection):
    """A real SQLite connection that asks its plan before every statement."""

    plan: FaultPlan

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.plan.check(sql)
        return super().execute(sql, parameters)


class FaultyStore(ClipStore):
    """A real store on a connection that raises the plan's errors once armed."""

    def __init__(self, path: Path, plan: FaultPlan, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.plan = plan

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout_s, isolation_level=None, factory=FaultyConnection
        )
        conn.plan = self.plan
        return conn


@dataclass
class Life:
    """One Home Assistant process: once dead, nothing it started goes on."""

    dead: bool = False

    async def checkpoint(self) -> None:
        """Hang forever once the process is dead (a killed process runs nothing more)."""
        if self.dead:
            await asyncio.Event().wait()


def describe_call(func: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """A readable name of a store call: `event:<type>:<notifier>`, `state:<status>`, or the
    method's name."""
    name = getattr(func, "__name__", "call")
    if name == "_add_event" and args:
        event = args[0]
        return f"event:{event.event_type.value}:{event.data.get('notifier', '')}"
    if name == "_upsert_state" and args:
        return f"state:{args[0].status.value}"
    return name.lstrip("_")


class BlockingStore(ClipStore):
    """A real store that dies at call number `block_at` (counted once armed).

    That call and every later one never run, and the store's `life` ends (so the doubles of
    the same process stop too), as when Home Assistant is killed. With `stop_at`, `on_stop()`
    is started as call number `stop_at` begins (the call itself goes on): a graceful stop
    arriving while a write is on its way; `stopped` is set once it returned. While armed,
    a dead `life` (a kill) also stops every call.
    """

    def __init__(self, path: Path, life: Life | None = None, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.life = life or Life()
        self.block_at = 0
        self.stop_at = 0
        self.on_stop: Callable[[], Any] | None = None
        self.armed = False
        self.calls: list[str] = []
        self.blocked = asyncio.Event()
        self.stopped = asyncio.Event()
        self._stop_tasks: set[asyncio.Task[Any]] = set()

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        if self.armed:
            if self.life.dead:
                await asyncio.Event().wait()  # the process is gone
            self.calls.append(describe_call(func, args))
            if self.block_at and len(self.calls) >= self.block_at:
                self.life.dead = True
                self.blocked.set()
                await asyncio.Event().wait()  # killed here: never runs
            if len(self.calls) == self.stop_at and self.on_stop is not None:
                task = asyncio.ensure_future(self.on_stop())
                self._stop_tasks.add(task)
                task.add_done_callback(lambda _t: self.stopped.set())
        return await super()._run(func, *args)


def set_up_storage(root: Path) -> LocalStorage:
    """Local storage whose folder the set-up created (as the config flow does)."""
    storage = LocalStorage(root)
    storage.ensure_root()
    return storage


@contextmanager
def exclusive_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """A second real connection holding an exclusive lock on the database file."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield conn
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `condition()` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@dataclass
class PipelineKit:
    """Builds pipelines on one store and one storage (as the hub does)."""

    store: ClipStore
    storage: StorageBackend
    listener: RecordingListener = field(default_factory=RecordingListener)
    built: list[ClipPipeline] = field(default_factory=list)

    def pipeline(
        self,
        object_filter: ObjectFilter,
        vlm: VLMAnalyzer | None = None,
        notifiers: list[Notifier] | None = None,
        camera: CameraPipelineSettings | None = None,
        settings: PipelineSettings | None = None,
        store: ClipStore | None = None,
        listener: RecordingListener | None = None,
    ) -> ClipPipeline:
        camera = camera or CameraPipelineSettings()

        async def snapshot(_clip: object) -> bytes | None:
            return b"jpeg"

        pipeline = ClipPipeline(
            store=store or self.store,
            storage=self.storage,
            filters=lambda _cid: object_filter,
            vlm=vlm,
            policy=DefaultAlertPolicy(camera.alert),
            notifiers=notifiers or [],
            settings=settings or FAST_SETTINGS,
            camera_settings=lambda _cid: camera,
            snapshot=snapshot,
            listener=listener or self.listener,
        )
        self.built.append(pipeline)
        return pipeline

    async def stop_all(self) -> None:
        """Stop every pipeline built here (test teardown)."""
        for pipeline in self.built:
            await pipeline.stop()
