"""SQLite store for clip states, the append-only clip event history and the live alerts'
memory (which events were alerted live, and through which notifiers).

Every call runs on one dedicated worker thread (SQLite connections are not shared between
threads), so the asyncio event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from .clip_query import (
    EVENT_KEY_SQL,
    RISK_SQL,
    ClipQuery,
    ensure_fts,
    has_fts,
    query_plan,
    warn_like_fallback,
)
from .models import (
    AlertDecision,
    AnalysisResult,
    ClipEvent,
    ClipEventType,
    ClipState,
    ClipStatus,
    FilterResult,
    ReviewState,
    SourceFingerprint,
)

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

SCHEMA_VERSION = 9

# Each migration brings the schema from version N-1 to N (index N-1 in this list): SQL
# statements, or functions run on the connection inside the migration's transaction.
_Step = str | Callable[[sqlite3.Connection], None]
_MIGRATIONS: tuple[tuple[_Step, ...], ...] = (
    (
        """CREATE TABLE clip_states (
            clip_id TEXT PRIMARY KEY,
            camera_id TEXT NOT NULL,
            camera_name TEXT NOT NULL,
            source_type TEXT NOT NULL,
            source_path TEXT NOT NULL,
            status TEXT NOT NULL,
            start_ts TEXT NOT NULL,
            end_ts TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            clip_uri TEXT,
            snapshot_uri TEXT,
            filter_result TEXT,
            analysis TEXT,
            alert_decision TEXT,
            notified INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )""",
        """CREATE TABLE clip_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            clip_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            attempt INTEGER,
            will_retry INTEGER,
            error_type TEXT,
            error_message TEXT,
            duration_ms INTEGER,
            data TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX idx_clip_events_clip ON clip_events (clip_id, id)",
        "CREATE INDEX idx_clip_states_status ON clip_states (status)",
    ),
    (
        "ALTER TABLE clip_states ADD COLUMN snapshot_path TEXT",
        "ALTER TABLE clip_states ADD COLUMN analysis_skipped_reason TEXT",
        "ALTER TABLE clip_states ADD COLUMN upload_done INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE clip_states ADD COLUMN vlm_done INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX idx_clip_states_camera_time ON clip_states (camera_id, start_ts)",
    ),
    (
        "ALTER TABLE clip_states ADD COLUMN alert_reported INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX idx_clip_events_type ON clip_events (clip_id, event_type)",
    ),
    ("ALTER TABLE clip_states ADD COLUMN stored_source TEXT",),
    (
        # NULL: not reviewed; 'reviewed' or 'false_alarm' (ReviewState), and when.
        "ALTER TABLE clip_states ADD COLUMN review TEXT",
        "ALTER TABLE clip_states ADD COLUMN reviewed_at TEXT",
    ),
    (
        # The history search (clip_query.py): newest first over every camera, by risk, and
        # the full-text index of summaries, observations, camera names and detected objects.
        "CREATE INDEX idx_clip_states_start ON clip_states (start_ts)",
        f"CREATE INDEX idx_clip_states_risk ON clip_states ({RISK_SQL}, start_ts)",
        ensure_fts,
    ),
    (
        # The off-site copy (core/offsite/): 1 once the clip and its snapshot are copied.
        # Written only by mark_offsite_done: saving a clip's state keeps it.
        "ALTER TABLE clip_states ADD COLUMN offsite_done INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX idx_clip_states_offsite ON clip_states (offsite_done, start_ts)",
    ),
    (
        # get_clips' incident filter (clip_query.py): the clips of one incident by event key.
        f"CREATE INDEX idx_clip_states_event_key ON clip_states ({EVENT_KEY_SQL})",
    ),
    (
        # The live alerts' memory (core/live_alerts.py), kept across restarts: the events
        # already reported live (first seen at `seen_at`), the notifiers that told the user
        # about each (a JSON list of names) and whether one of its clips has alerted. A few
        # hundred rows at most: pruned by age and count on every write and at start.
        """CREATE TABLE live_events (
            event_key TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL,
            delivered TEXT NOT NULL DEFAULT '[]',
            clip_alerted INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX idx_live_events_seen ON live_events (seen_at)",
    ),
)

_STATE_COLUMNS = (
    "clip_id",
    "camera_id",
    "camera_name",
    "source_type",
    "source_path",
    "status",
    "start_ts",
    "end_ts",
    "created_at",
    "updated_at",
    "metadata",
    "clip_uri",
    "snapshot_uri",
    "snapshot_path",
    "filter_result",
    "analysis",
    "analysis_skipped_reason",
    "alert_decision",
    "notified",
    "error",
    "upload_done",
    "vlm_done",
    "alert_reported",
    "stored_source",
    "review",
    "reviewed_at",
)
# Written only by set_review: saving a clip's state (the pipeline, retention) keeps them.
_REVIEW_COLUMNS = ("review", "reviewed_at")
_SAVED_COLUMNS = tuple(c for c in _STATE_COLUMNS if c not in _REVIEW_COLUMNS)


class StoreError(Exception):
    """The database could not be opened, read or written (base of the typed store errors).

    `code_name` is SQLite's result code name (e.g. SQLITE_BUSY) when SQLite raised it.
    """

    def __init__(self, message: str, *, code_name: str | None = None) -> None:
        super().__init__(message)
        self.code_name = code_name


class StoreTransientError(StoreError):
    """A fault that goes away by itself: locked or busy, a full disk, an I/O error.

    Retrying later succeeds once the other writer is done or space is freed; such a fault must
    never decide a clip's fate (the runner retries it with backoff).
    """


class StorePermanentError(StoreError):
    """A fault that retrying cannot fix (a bug, a read-only file, a closed store)."""


# SQLite primary result codes (sqlite3.SQLITE_* exists only on Python >= 3.11 builds).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_NOMEM = 7
_SQLITE_INTERRUPT = 9
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_PROTOCOL = 15
_SQLITE_NOTADB = 26
_TRANSIENT_CODES = frozenset(
    {
        _SQLITE_BUSY,
        _SQLITE_LOCKED,
        _SQLITE_NOMEM,
        _SQLITE_INTERRUPT,
        _SQLITE_IOERR,
        _SQLITE_FULL,
        _SQLITE_CANTOPEN,
        _SQLITE_PROTOCOL,
    }
)
_CORRUPT_CODES = frozenset({_SQLITE_CORRUPT, _SQLITE_NOTADB})
# Messages, for errors raised without a result code.
_TRANSIENT_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "disk is full",
    "disk i/o error",
    "unable to open database file",
    "out of memory",
    "interrupted",
)
_CORRUPT_MESSAGES = ("malformed", "not a database", "file is encrypted")


def _primary_code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_transient(err: BaseException) -> bool:
    """True for SQLite faults that go away (busy, locked, full disk, I/O error)."""
    if not isinstance(err, sqlite3.Error):
        return False
    code = _primary_code(err)
    if code is not None:
        return code in _TRANSIENT_CODES
    message = str(err).lower()
    return isinstance(err, sqlite3.OperationalError) and any(
        text in message for text in _TRANSIENT_MESSAGES
    )


def is_corrupt(err: BaseException) -> bool:
    """True for SQLite errors that say the database file is damaged."""
    if not isinstance(err, sqlite3.DatabaseError):
        return False
    code = _primary_code(err)
    if code is not None:
        return code in _CORRUPT_CODES
    message = str(err).lower()
    return any(text in message for text in _CORRUPT_MESSAGES)


def typed_error(err: sqlite3.Error, context: str | None = None) -> StoreError:
    """The typed store error for a raw SQLite error (raise it `from` the raw one).

    The message is SQLite's own (prefixed by `context` when given).
    """
    name = getattr(err, "sqlite_errorname", None)
    message = f"{context}: {err}" if context else str(err)
    kind = StoreTransientError if is_transient(err) else StorePermanentError
    return kind(message, code_name=name if isinstance(name, str) else None)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


DEFAULT_BUSY_TIMEOUT_S = 5.0
# Damaged databases replaced per store (a disk that keeps damaging files is left alone).
MAX_RECOVERIES = 3


@dataclass(frozen=True, slots=True)
class StoreRecovery:
    """A damaged database file that was moved aside and replaced by a fresh one."""

    damaged_path: Path
    moved: tuple[Path, ...]  # the database file and its -wal/-shm, as moved
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LiveEventRecord:
    """What the live alerts remember of one event (see core/live_alerts.py)."""

    event_key: str
    seen_at: datetime  # when the event was first reported (its age, for pruning)
    delivered: frozenset[str] = frozenset()  # notifiers that told the user about it
    clip_alerted: bool = False  # one of its clips has alerted


class _DamagedError(Exception):
    """quick_check found the database file damaged."""


class ClipStore:
    """Async facade over a SQLite file; all I/O on a single worker thread.

    Every call raises only typed errors: StoreTransientError (busy, locked, full disk, I/O
    error: retry later) or StorePermanentError; never a raw sqlite3 exception.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="homesec-store")
        self._conn: sqlite3.Connection | None = None
        # Damaged databases replaced so far (the glue turns them into a repair issue).
        self.recoveries: list[StoreRecovery] = []
        self._reopen = False
        self._unreported: list[StoreRecovery] = []
        self._recovery_listeners: list[Callable[[StoreRecovery], None]] = []
        self._warned_like = False

    @property
    def path(self) -> Path:
        """Location of the database file."""
        return self._path

    async def _run(self, func: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, self._guarded, func, *args)
        except RuntimeError as err:  # the worker thread was shut down
            raise StorePermanentError("clip database is closed") from err
        try:
            return await future
        finally:
            self._report_recoveries()

    def _guarded(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run one call on the worker thread; raw SQLite errors become typed store errors.

        A damaged database (malformed, not a database) is moved aside and replaced by a fresh
        one, and the call runs once more on it.
        """
        try:
            conn = self._conn
            if conn is not None and conn.in_transaction:
                conn.execute("ROLLBACK")  # left open by a rollback that failed earlier
            return func(*args)
        except sqlite3.Error as err:
            self._rollback()
            if not (is_corrupt(err) and self._conn is not None):
                raise typed_error(err) from err
            self._recover(str(err))
        try:
            return func(*args)
        except sqlite3.Error as err:
            self._rollback()
            raise typed_error(err) from err

    # -- damaged databases -------------------------------------------------------------

    @property
    def recovered_from(self) -> Path | None:
        """Where the last damaged database file was moved (None when none was found)."""
        return self.recoveries[-1].damaged_path if self.recoveries else None

    def add_recovery_listener(
        self, listener: Callable[[StoreRecovery], None]
    ) -> Callable[[], None]:
        """Call `listener(recovery)` on the event loop each time a damaged database was
        replaced (at open or during use); returns the function that removes it."""
        self._recovery_listeners.append(listener)
        return lambda: self._recovery_listeners.remove(listener)

    def _report_recoveries(self) -> None:
        while self._unreported:
            recovery = self._unreported.pop(0)
            for listener in list(self._recovery_listeners):
                try:
                    listener(recovery)
                except Exception:
                    _LOGGER.exception("Clip database recovery listener failed")

    def _recover(self, reason: str) -> None:
        """Worker thread: move the damaged file (and its -wal/-shm) aside, open a fresh one.

        Nothing is deleted: the damaged file stays next to the new one for the user (or
        `sqlite3 .recover`). Raises StorePermanentError when that is not possible.
        """
        if len(self.recoveries) >= MAX_RECOVERIES:
            raise StorePermanentError(
                f"clip database {self._path} is damaged again ({reason}); left as it is after "
                f"{len(self.recoveries)} recoveries"
            )
        damaged = self._damaged_name()
        moved: list[Path] = []
        try:
            # The -wal/-shm are copied while the damaged connection is still open: closing it
            # may delete them. The main file is renamed (also fine while open).
            for suffix in ("-wal", "-shm"):
                source = Path(f"{self._path}{suffix}")
                if source.exists():
                    shutil.copy2(source, f"{damaged}{suffix}")
                    moved.append(Path(f"{damaged}{suffix}"))
            if self._path.exists():
                os.replace(self._path, damaged)
                moved.insert(0, damaged)
        except OSError as err:
            _close_quietly(self._conn)
            self._conn = None
            raise StorePermanentError(
                f"clip database {self._path} is damaged ({reason}) and cannot be moved aside: {err}"
            ) from err
        _close_quietly(self._conn)
        self._conn = None
        self._reopen = True
        for suffix in ("-wal", "-shm"):  # kept above: they must not meet the new database
            with contextlib.suppress(OSError):
                Path(f"{self._path}{suffix}").unlink(missing_ok=True)
        if moved and moved[0] == damaged:
            _LOGGER.error(
                "Clip database %s is damaged (%s); moved it to %s and started a new one (clip "
                "files are kept; the history of earlier clips is in the moved file)",
                self._path,
                reason,
                damaged,
            )
            recovery = StoreRecovery(
                damaged_path=damaged, moved=tuple(moved), reason=reason, at=datetime.now(UTC)
            )
            self.recoveries.append(recovery)
            self._unreported.append(recovery)
        self._reopen_now()

    def _reopen_now(self) -> None:
        """Open a fresh connection (after a recovery); typed errors, never a new recovery."""
        try:
            self._conn = self._connect_and_migrate()
        except (sqlite3.Error, _DamagedError) as err:
            _close_quietly(self._conn)
            self._conn = None
            if isinstance(err, _DamagedError):
                raise StorePermanentError(f"new clip database {self._path}: {err}") from err
            raise typed_error(err, f"cannot open a new clip database {self._path}") from err
        self._reopen = False

    def _damaged_name(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        candidate = self._path.with_name(f"{self._path.name}.damaged-{stamp}")
        index = 1
        while any(Path(f"{candidate}{s}").exists() for s in ("", "-wal", "-shm")):
            index += 1
            candidate = self._path.with_name(f"{self._path.name}.damaged-{stamp}-{index}")
        return candidate

    def _rollback(self) -> None:
        conn = self._conn
        if conn is not None and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as err:
                _LOGGER.debug("Rollback failed: %s", err)

    def _connect(self) -> sqlite3.Connection:
        """A new connection to the database file (tests override this to inject faults)."""
        return sqlite3.connect(self._path, timeout=self._busy_timeout_s, isolation_level=None)

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Open (creating if needed) and migrate the database."""
        await self._run(self._open)

    def _open(self) -> None:
        context = f"cannot open clip database {self._path}"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorePermanentError(f"{context}: {err}") from err
        try:
            self._conn = self._connect_and_migrate()
        except _DamagedError as err:
            self._recover(str(err))
        except sqlite3.Error as err:
            if not is_corrupt(err):
                raise typed_error(err, context) from err
            self._recover(str(err))

    def _connect_and_migrate(self) -> sqlite3.Connection:
        """A checked, migrated connection.

        On a damaged file (quick_check fails: _DamagedError, or SQLite says malformed / not a
        database) the connection is left open in `_conn` for the recovery, which keeps the
        files before closing it.
        """
        conn = self._connect()
        try:
            conn.row_factory = sqlite3.Row
            # Checked before anything is written to the file (it is kept as it was).
            problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise _DamagedError("; ".join(problems))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
        except (sqlite3.Error, _DamagedError) as err:
            if isinstance(err, _DamagedError) or is_corrupt(err):
                self._conn = conn
            else:
                _close_quietly(conn)
            raise
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StorePermanentError(
                f"clip database schema version {version} is newer than this HomeSec "
                f"({SCHEMA_VERSION}); upgrade HomeSec"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            _LOGGER.debug("Migrating clip database to schema version %s", target)
            conn.execute("BEGIN")
            try:
                for step in _MIGRATIONS[target - 1]:
                    if isinstance(step, str):
                        conn.execute(step)
                    else:
                        step(conn)
                conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
        if version >= 6:  # migrated by a SQLite without FTS5: this one may have it
            conn.execute("BEGIN")
            try:
                ensure_fts(conn)
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Close the database and stop the worker thread.

        The connection is closed on the worker thread after the calls queued before: one of
        them may be a recovery opening a new database, which is closed too.
        """
        with contextlib.suppress(StoreError):
            await self._run(self._close_connection)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        self._reopen = False
        conn, self._conn = self._conn, None
        _close_quietly(conn)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None and self._reopen:
            self._reopen_now()  # a recovery could not open the new file last time
        if self._conn is None:
            raise StorePermanentError("clip database is not open")
        return self._conn

    async def schema_version(self) -> int:
        """The schema version of the open database."""
        return await self._run(lambda: int(self._db().execute("PRAGMA user_version").fetchone()[0]))

    # -- clip states -------------------------------------------------------------------

    async def upsert_state(self, state: ClipState) -> None:
        """Insert or replace the full state row of a clip."""
        await self._run(self._upsert_state, state)

    def _upsert_state(self, state: ClipState) -> None:
        """Insert the row, or update every column but the review (a person's, kept).

        The state object gets the stored review back, so a clip reviewed while the pipeline
        holds it shows its review from the pipeline's next save on.
        """
        state.updated_at = datetime.now(UTC)
        values = (
            state.clip_id,
            state.camera_id,
            state.camera_name,
            state.source_type,
            state.source_path,
            state.status.value,
            _ts(state.start_ts),
            _ts(state.end_ts),
            _ts(state.created_at),
            _ts(state.updated_at),
            _json(state.metadata) or "{}",
            state.clip_uri,
            state.snapshot_uri,
            state.snapshot_path,
            _json(state.filter_result.to_dict()) if state.filter_result else None,
            _json(state.analysis.to_dict()) if state.analysis else None,
            state.analysis_skipped_reason,
            _json(state.alert_decision.to_dict()) if state.alert_decision else None,
            int(state.notified),
            state.error,
            int(state.upload_done),
            int(state.vlm_done),
            int(state.alert_reported),
            _json(state.stored_source.to_dict()) if state.stored_source else None,
        )
        # fetchall: the statement must run to its end (an unread RETURNING keeps it open).
        rows = self._db().execute(_UPSERT_SQL, values).fetchall()
        if rows:
            review, reviewed_at = rows[0]
            state.review = ReviewState(review) if review else None
            state.reviewed_at = _parse_ts(reviewed_at) if reviewed_at else None

    async def upsert_states(self, states: Sequence[ClipState]) -> None:
        """Store several clips' states in one transaction (all or none): an incident's
        analysis and decision land in every one of its clips together."""
        await self._run(self._upsert_states, tuple(states))

    def _upsert_states(self, states: tuple[ClipState, ...]) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            for state in states:
                self._upsert_state(state)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    async def mark_uploaded(
        self, clip_id: str, clip_uri: str, stored_source: SourceFingerprint | None = None
    ) -> None:
        """Record a clip's stored copy without touching the other columns of its row."""
        await self._run(self._mark_uploaded, clip_id, clip_uri, stored_source)

    def _mark_uploaded(
        self, clip_id: str, clip_uri: str, stored_source: SourceFingerprint | None
    ) -> None:
        self._db().execute(
            "UPDATE clip_states SET clip_uri = ?, upload_done = 1, stored_source = ?, "
            "updated_at = ?, status = CASE WHEN status = ? THEN ? ELSE status END "
            "WHERE clip_id = ?",
            (
                clip_uri,
                _json(stored_source.to_dict()) if stored_source else None,
                _ts(datetime.now(UTC)),
                ClipStatus.QUEUED.value,
                ClipStatus.UPLOADED.value,
                clip_id,
            ),
        )

    async def set_review(
        self, clip_ids: Sequence[str], review: ReviewState | None
    ) -> list[ClipState]:
        """Mark clips reviewed or a false alarm (None clears it), in one transaction.

        Returns the states of the clips that exist, as stored now, in the order asked (each
        once); ids missing from the result are unknown (nothing is written for them).
        """
        return await self._run(self._set_review, tuple(dict.fromkeys(clip_ids)), review)

    def _set_review(self, clip_ids: tuple[str, ...], review: ReviewState | None) -> list[ClipState]:
        db = self._db()
        reviewed_at = _ts(datetime.now(UTC)) if review is not None else None
        db.execute("BEGIN IMMEDIATE")
        try:
            updated: list[ClipState] = []
            for clip_id in clip_ids:
                cursor = db.execute(
                    "UPDATE clip_states SET review = ?, reviewed_at = ? WHERE clip_id = ?",
                    (review.value if review else None, reviewed_at, clip_id),
                )
                if cursor.rowcount and (state := self._get_state(clip_id)) is not None:
                    updated.append(state)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return updated

    async def insert_state_if_new(self, state: ClipState) -> bool:
        """Insert a new clip; False when the clip id is already known (dedupe)."""
        return await self._run(self._insert_clip, state, None) is None

    async def insert_clip(self, state: ClipState, recorded: ClipEvent) -> ClipState | None:
        """Insert a new clip and its first event in one transaction.

        Returns None when the clip was inserted, or the stored state when the clip id is
        already known (nothing is written then). Either both rows are written or neither.
        """
        return await self._run(self._insert_clip, state, recorded)

    def _insert_clip(self, state: ClipState, recorded: ClipEvent | None) -> ClipState | None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            existing = self._get_state(state.clip_id)
            if existing is None:
                self._upsert_state(state)
                if recorded is not None:
                    self._add_event(recorded)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return existing

    async def get_state(self, clip_id: str) -> ClipState | None:
        """The state of one clip, or None."""
        return await self._run(self._get_state, clip_id)

    def _get_state(self, clip_id: str) -> ClipState | None:
        row = (
            self._db()
            .execute(
                f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states WHERE clip_id = ?",
                (clip_id,),
            )
            .fetchone()
        )
        return _row_to_state(row) if row else None

    async def has_clip(self, clip_id: str) -> bool:
        """True when a clip id was ever recorded (survives restarts)."""
        return await self._run(
            lambda: (
                self._db()
                .execute("SELECT 1 FROM clip_states WHERE clip_id = ?", (clip_id,))
                .fetchone()
                is not None
            )
        )

    async def unfinished_states(self) -> list[ClipState]:
        """Clips that were queued or mid-pipeline (to resume after a restart)."""
        return await self._run(self._unfinished)

    def _unfinished(self) -> list[ClipState]:
        finished = tuple(s.value for s in ClipStatus if s.finished)
        rows = self._db().execute(
            f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states "
            f"WHERE status NOT IN ({','.join('?' * len(finished))}) ORDER BY start_ts",
            finished,
        )
        return [_row_to_state(r) for r in rows]

    async def recent_states(self, camera_id: str | None = None, limit: int = 20) -> list[ClipState]:
        """Newest clips first, optionally for one camera."""
        return await self._run(self._recent, camera_id, limit)

    def _recent(self, camera_id: str | None, limit: int) -> list[ClipState]:
        cols = ",".join(_STATE_COLUMNS)
        if camera_id is None:
            rows = self._db().execute(
                f"SELECT {cols} FROM clip_states ORDER BY start_ts DESC LIMIT ?", (limit,)
            )
        else:
            rows = self._db().execute(
                f"SELECT {cols} FROM clip_states WHERE camera_id = ? "
                "ORDER BY start_ts DESC LIMIT ?",
                (camera_id, limit),
            )
        return [_row_to_state(r) for r in rows]

    async def query(self, q: ClipQuery) -> tuple[list[ClipState], int]:
        """One page of the clips matching the history search, newest first, and how many
        match in all."""
        return await self._run(self._query, q)

    def _query(self, q: ClipQuery) -> tuple[list[ClipState], int]:
        db = self._db()
        fts = has_fts(db)
        if q.text.strip() and not fts and not self._warned_like:
            self._warned_like = True
            warn_like_fallback()
        plan = query_plan(q, fts=fts)
        db.execute("BEGIN")  # one snapshot: the page and the count agree
        try:
            found = db.execute(plan.page_sql, plan.page_params).fetchall()
            page = [int(row[0]) for row in found]
            if plan.counted and found:
                total = int(found[0][1])
            else:
                total = int(db.execute(plan.count_sql, plan.count_params).fetchone()[0])
            rows = {
                int(row[0]): row
                for row in db.execute(
                    f"SELECT rowid, {','.join(_STATE_COLUMNS)} FROM clip_states "
                    f"WHERE rowid IN ({','.join('?' * len(page))})",
                    page,
                )
            }
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return [_row_to_state(rows[rowid]) for rowid in page], total

    async def count_since(self, camera_id: str, since: datetime) -> tuple[int, int]:
        """(clips, alerts) of a camera that HomeSec received at or after `since`."""
        return await self._run(self._count_since, camera_id, since)

    def _count_since(self, camera_id: str, since: datetime) -> tuple[int, int]:
        row = (
            self._db()
            .execute(
                "SELECT COUNT(*), COALESCE(SUM(json_extract(alert_decision, '$.notify')), 0) "
                "FROM clip_states WHERE camera_id = ? AND created_at >= ?",
                (camera_id, _ts(since)),
            )
            .fetchone()
        )
        return int(row[0]), int(row[1])

    # -- browsing (the media source): plain reads on idx_clip_states_camera_time ----------

    async def camera_clip_counts(self) -> dict[str, int]:
        """How many clips the history holds per camera id."""
        return await self._run(self._camera_clip_counts)

    def _camera_clip_counts(self) -> dict[str, int]:
        rows = self._db().execute("SELECT camera_id, COUNT(*) FROM clip_states GROUP BY camera_id")
        return {str(r[0]): int(r[1]) for r in rows}

    async def camera_days(self, camera_id: str, tz: tzinfo) -> list[tuple[date, int]]:
        """(local date in `tz`, clip count) of each day a camera has clips, newest first.

        SQLite counts per UTC quarter hour (every time zone's offset is a whole number of
        quarter hours), so only those few buckets cross into Python to be given a local date.
        """
        return await self._run(self._camera_days, camera_id, tz)

    def _camera_days(self, camera_id: str, tz: tzinfo) -> list[tuple[date, int]]:
        # start_ts is UTC ISO text: 2026-12-01T14:03:05.123456+00:00 (see _ts).
        rows = self._db().execute(
            "SELECT substr(start_ts, 1, 13), CAST(substr(start_ts, 15, 2) AS INTEGER) / 15, "
            "COUNT(*) FROM clip_states WHERE camera_id = ? GROUP BY 1, 2",
            (camera_id,),
        )
        days: dict[date, int] = {}
        for hour, quarter, count in rows:
            bucket = datetime.fromisoformat(f"{hour}:00+00:00") + timedelta(minutes=15 * quarter)
            day = bucket.astimezone(tz).date()
            days[day] = days.get(day, 0) + int(count)
        return sorted(days.items(), reverse=True)

    async def clips_between(
        self, camera_id: str, start: datetime, end: datetime, limit: int
    ) -> list[ClipState]:
        """A camera's clips that started in [start, end), newest first, at most `limit`."""
        return await self._run(self._clips_between, camera_id, start, end, limit)

    def _clips_between(
        self, camera_id: str, start: datetime, end: datetime, limit: int
    ) -> list[ClipState]:
        rows = self._db().execute(
            f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states WHERE camera_id = ? "
            "AND start_ts >= ? AND start_ts < ? ORDER BY start_ts DESC LIMIT ?",
            (camera_id, _ts(start), _ts(end), limit),
        )
        return [_row_to_state(r) for r in rows]

    async def count_between(self, camera_id: str, start: datetime, end: datetime) -> int:
        """How many of a camera's clips started in [start, end)."""
        return await self._run(
            lambda: int(
                self._db()
                .execute(
                    "SELECT COUNT(*) FROM clip_states WHERE camera_id = ? "
                    "AND start_ts >= ? AND start_ts < ?",
                    (camera_id, _ts(start), _ts(end)),
                )
                .fetchone()[0]
            )
        )

    async def event_clips(
        self,
        event_keys: Collection[str],
        limit: int,
        *,
        besides: tuple[str, datetime, datetime] | None = None,
    ) -> list[ClipState]:
        """The clips whose event key is one of `event_keys` (any camera, any day), newest
        first, at most `limit`; `besides` (camera id, start, end) leaves out that camera's
        clips that started in [start, end) (those a day's listing already holds). Looked up
        on the event key's index, one statement whatever the number of keys."""
        return await self._run(self._event_clips, tuple(event_keys), limit, besides)

    def _event_clips(
        self,
        event_keys: tuple[str, ...],
        limit: int,
        besides: tuple[str, datetime, datetime] | None,
    ) -> list[ClipState]:
        if not event_keys:
            return []
        sql = (
            f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states "
            f"WHERE {EVENT_KEY_SQL} IN (SELECT value FROM json_each(?))"
        )
        params: list[Any] = [json.dumps(event_keys)]
        if besides is not None:
            camera_id, start, end = besides
            sql += " AND NOT (camera_id = ? AND start_ts >= ? AND start_ts < ?)"
            params += [camera_id, _ts(start), _ts(end)]
        rows = self._db().execute(f"{sql} ORDER BY start_ts DESC LIMIT ?", (*params, limit))
        return [_row_to_state(r) for r in rows]

    async def incident_cameras(
        self, event_keys: Collection[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """Each event key's cameras (camera id, name), in the order they first recorded a
        clip of it: all its clips', whatever page or camera filter found one of them. Looked
        up on the event key's index, one statement whatever the number of keys."""
        return await self._run(self._incident_cameras, tuple(event_keys))

    def _incident_cameras(self, event_keys: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
        if not event_keys:
            return {}
        rows = self._db().execute(
            f"SELECT {EVENT_KEY_SQL} AS event_key, camera_id, camera_name, MIN(start_ts) AS first "
            f"FROM clip_states WHERE {EVENT_KEY_SQL} IN (SELECT value FROM json_each(?)) "
            "GROUP BY event_key, camera_id ORDER BY event_key, first, camera_id",
            (json.dumps(event_keys),),
        )
        cameras: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            cameras.setdefault(str(row[0]), []).append((str(row[1]), str(row[2])))
        return cameras

    async def unstored_states(self) -> list[ClipState]:
        """Finished clips whose upload never succeeded (to try again), oldest first."""
        return await self._run(self._unstored)

    def _unstored(self) -> list[ClipState]:
        rows = self._db().execute(
            f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states "
            "WHERE status IN (?, ?) AND upload_done = 0 ORDER BY start_ts",
            (ClipStatus.DONE.value, ClipStatus.ERROR.value),
        )
        return [_row_to_state(r) for r in rows]

    async def retention_candidates(
        self,
        keep_offsite_pending_since: datetime | None = None,
        offsite_cameras: Collection[str] | None = None,
    ) -> list[ClipState]:
        """Done clips that still hold stored media, oldest first.

        With `keep_offsite_pending_since`, clips from then on (of `offsite_cameras`, None:
        every camera) whose off-site copy is still missing are left out (their local file is
        the only copy).
        """
        return await self._run(
            self._retention_candidates, keep_offsite_pending_since, offsite_cameras
        )

    def _retention_candidates(
        self, pending_since: datetime | None, cameras: Collection[str] | None
    ) -> list[ClipState]:
        args: list[str] = [ClipStatus.DONE.value, ClipStatus.ERROR.value]
        keep = ""
        if pending_since is not None:
            in_cameras, camera_args = _cameras_clause(cameras)
            keep = f" AND NOT (offsite_done = 0 AND start_ts >= ?{in_cameras})"
            args += [_ts(pending_since), *camera_args]
        rows = self._db().execute(
            f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states "
            f"WHERE status IN (?, ?) AND clip_uri IS NOT NULL{keep} ORDER BY start_ts",
            args,
        )
        return [_row_to_state(r) for r in rows]

    # -- off-site copies ---------------------------------------------------------------

    _OFFSITE_WHERE = (
        "WHERE offsite_done = 0 AND start_ts >= ? AND status IN (?, ?) AND clip_uri IS NOT NULL"
    )

    async def offsite_backlog(
        self, since: datetime, limit: int = 50, cameras: Collection[str] | None = None
    ) -> list[ClipState]:
        """Stored clips from `since` on (of `cameras`, None: every camera) without an
        off-site copy, oldest first."""
        return await self._run(self._offsite_backlog, since, limit, cameras)

    def _offsite_backlog(
        self, since: datetime, limit: int, cameras: Collection[str] | None
    ) -> list[ClipState]:
        in_cameras, camera_args = _cameras_clause(cameras)
        rows = self._db().execute(
            f"SELECT {','.join(_STATE_COLUMNS)} FROM clip_states {self._OFFSITE_WHERE}"
            f"{in_cameras} ORDER BY start_ts LIMIT ?",
            (_ts(since), ClipStatus.DONE.value, ClipStatus.ERROR.value, *camera_args, limit),
        )
        return [_row_to_state(r) for r in rows]

    async def offsite_backlog_count(
        self, since: datetime, cameras: Collection[str] | None = None
    ) -> int:
        """How many stored clips from `since` on wait for their off-site copy."""
        return await self._run(self._offsite_backlog_count, since, cameras)

    def _offsite_backlog_count(self, since: datetime, cameras: Collection[str] | None) -> int:
        in_cameras, camera_args = _cameras_clause(cameras)
        row = self._db().execute(
            f"SELECT COUNT(*) FROM clip_states {self._OFFSITE_WHERE}{in_cameras}",
            (_ts(since), ClipStatus.DONE.value, ClipStatus.ERROR.value, *camera_args),
        )
        return int(row.fetchone()[0])

    async def mark_offsite_done(self, clip_id: str) -> None:
        """Record that a clip's off-site copy exists."""
        await self._run(
            lambda: self._db().execute(
                "UPDATE clip_states SET offsite_done = 1 WHERE clip_id = ?", (clip_id,)
            )
        )

    # -- events --------------------------------------------------------------------------

    async def add_event(self, event: ClipEvent) -> None:
        """Append one event to a clip's history."""
        await self._run(self._add_event, event)

    def _add_event(self, event: ClipEvent) -> None:
        self._db().execute(
            "INSERT INTO clip_events (clip_id, event_type, timestamp, attempt, will_retry, "
            "error_type, error_message, duration_ms, data) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                event.clip_id,
                event.event_type.value,
                _ts(event.timestamp),
                event.attempt,
                None if event.will_retry is None else int(event.will_retry),
                event.error_type,
                event.error_message,
                event.duration_ms,
                _json(event.data) or "{}",
            ),
        )

    async def notifications_sent(self, clip_id: str) -> set[str]:
        """Names of the notifiers with a stored notification_sent for the clip's alert."""
        return await self._run(self._notifications_sent, clip_id)

    def _notifications_sent(self, clip_id: str) -> set[str]:
        rows = self._db().execute(
            "SELECT DISTINCT json_extract(data, '$.notifier') FROM clip_events "
            "WHERE clip_id = ? AND event_type = ?",
            (clip_id, ClipEventType.NOTIFICATION_SENT.value),
        )
        return {str(row[0]) for row in rows if row[0] is not None}

    async def events(self, clip_id: str) -> list[ClipEvent]:
        """A clip's history, oldest first."""
        return await self._run(self._events, clip_id)

    def _events(self, clip_id: str) -> list[ClipEvent]:
        rows = self._db().execute(
            "SELECT clip_id, event_type, timestamp, attempt, will_retry, error_type, "
            "error_message, duration_ms, data FROM clip_events WHERE clip_id = ? ORDER BY id",
            (clip_id,),
        )
        return [
            ClipEvent(
                clip_id=r[0],
                event_type=ClipEventType(r[1]),
                timestamp=_parse_ts(r[2]),
                attempt=r[3],
                will_retry=None if r[4] is None else bool(r[4]),
                error_type=r[5],
                error_message=r[6],
                duration_ms=r[7],
                data=json.loads(r[8]),
            )
            for r in rows
        ]

    # -- the live alerts' memory ---------------------------------------------------------

    async def save_live_event(self, record: LiveEventRecord, *, keep: int, since: datetime) -> None:
        """Remember an event's live alert (insert, or update all but `seen_at`), and forget
        events first seen before `since` and all but the `keep` newest, in one transaction."""
        await self._run(self._save_live_event, record, keep, since)

    def _save_live_event(self, record: LiveEventRecord, keep: int, since: datetime) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO live_events (event_key, seen_at, delivered, clip_alerted) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (event_key) DO UPDATE SET "
                "delivered = excluded.delivered, clip_alerted = excluded.clip_alerted",
                (
                    record.event_key,
                    _ts(record.seen_at),
                    json.dumps(sorted(record.delivered), separators=(",", ":")),
                    int(record.clip_alerted),
                ),
            )
            self._prune_live_events(keep, since)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    async def load_live_events(self, *, keep: int, since: datetime) -> list[LiveEventRecord]:
        """The remembered events first seen from `since` on, at most the `keep` newest, oldest
        first; older ones are forgotten (deleted) first."""
        return await self._run(self._load_live_events, keep, since)

    def _load_live_events(self, keep: int, since: datetime) -> list[LiveEventRecord]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            self._prune_live_events(keep, since)
            rows = db.execute(
                "SELECT event_key, seen_at, delivered, clip_alerted FROM live_events "
                "ORDER BY seen_at, rowid"
            ).fetchall()
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return [
            LiveEventRecord(
                event_key=str(row[0]),
                seen_at=_parse_ts(row[1]),
                delivered=frozenset(str(name) for name in json.loads(row[2])),
                clip_alerted=bool(row[3]),
            )
            for row in rows
        ]

    def _prune_live_events(self, keep: int, since: datetime) -> None:
        self._db().execute(
            "DELETE FROM live_events WHERE seen_at < ? OR event_key NOT IN "
            "(SELECT event_key FROM live_events ORDER BY seen_at DESC, rowid DESC LIMIT ?)",
            (_ts(since), keep),
        )


_UPSERT_SQL = (
    f"INSERT INTO clip_states ({','.join(_SAVED_COLUMNS)}) "
    f"VALUES ({','.join('?' * len(_SAVED_COLUMNS))}) ON CONFLICT (clip_id) DO UPDATE SET "
    + ",".join(f"{c} = excluded.{c}" for c in _SAVED_COLUMNS if c != "clip_id")
    + " RETURNING review, reviewed_at"
)


def _cameras_clause(cameras: Collection[str] | None) -> tuple[str, list[str]]:
    """` AND camera_id IN (?, ...)` and its values; nothing for None (every camera)."""
    if cameras is None:
        return "", []
    values = sorted(cameras)
    return f" AND camera_id IN ({','.join('?' * len(values))})", values


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def _loads(value: str | None) -> dict[str, Any] | None:
    return None if value is None else dict(json.loads(value))


def _row_to_state(row: sqlite3.Row) -> ClipState:
    filter_data = _loads(row["filter_result"])
    analysis_data = _loads(row["analysis"])
    decision_data = _loads(row["alert_decision"])
    stored = _loads(row["stored_source"])
    return ClipState(
        clip_id=row["clip_id"],
        camera_id=row["camera_id"],
        camera_name=row["camera_name"],
        source_type=row["source_type"],
        source_path=row["source_path"],
        status=ClipStatus(row["status"]),
        start_ts=_parse_ts(row["start_ts"]),
        end_ts=_parse_ts(row["end_ts"]),
        created_at=_parse_ts(row["created_at"]),
        updated_at=_parse_ts(row["updated_at"]),
        metadata=_loads(row["metadata"]) or {},
        clip_uri=row["clip_uri"],
        snapshot_uri=row["snapshot_uri"],
        snapshot_path=row["snapshot_path"],
        filter_result=FilterResult.from_dict(filter_data) if filter_data else None,
        analysis=AnalysisResult.from_dict(analysis_data) if analysis_data else None,
        analysis_skipped_reason=row["analysis_skipped_reason"],
        alert_decision=AlertDecision.from_dict(decision_data) if decision_data else None,
        notified=bool(row["notified"]),
        error=row["error"],
        upload_done=bool(row["upload_done"]),
        vlm_done=bool(row["vlm_done"]),
        alert_reported=bool(row["alert_reported"]),
        stored_source=SourceFingerprint.from_dict(stored) if stored else None,
        review=ReviewState(row["review"]) if row["review"] else None,
        reviewed_at=_parse_ts(row["reviewed_at"]) if row["reviewed_at"] else None,
    )
