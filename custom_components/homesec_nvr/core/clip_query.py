"""Searching the clip history: the filters of `homesec_nvr.get_clips` as SQL.

`ClipQuery` holds the filters; `where_clause` turns them into a WHERE clause with bound
parameters only (no user text is ever part of the SQL). Free text goes through SQLite FTS5
(table `clip_fts`, kept in sync with `clip_states` by triggers, see `ensure_fts`): the text is
split into words, each becomes a quoted prefix term ("deliv"* matches "delivery"), all must
match; FTS5 syntax in the user's text is never interpreted. Without FTS5 in the SQLite build,
each word is a LIKE substring test over the same text (slower, logged once).

An incident (`incident_id`, the clip payload's) is the clips whose event key is that id, and
the clip of that id when it has no event key (a clip that is its own incident): both are
index look-ups (the event key's expression index, the clip id's primary key).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .models import ActivityType, RiskLevel

_LOGGER = logging.getLogger(__name__)

FTS_TABLE = "clip_fts"
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
# Words of a free-text query used (the rest are ignored: a query is a few words, not a text).
MAX_QUERY_WORDS = 16
MAX_WORD_CHARS = 64

# The risk level as the store writes it (one expression: the index on it is used).
RISK_SQL = "json_extract(analysis, '$.risk_level')"
_ACTIVITY_SQL = "json_extract(analysis, '$.activity_type')"
_ALERTED_SQL = "COALESCE(json_extract(alert_decision, '$.notify'), 0)"
# The clip's event key (models.EVENT_KEY) as the store writes it: one expression, the index on
# it (store schema 8) is used.
EVENT_KEY_SQL = "json_extract(metadata, '$.event_key')"


def _joined(column: str, path: str) -> str:
    return f"(SELECT group_concat(value, ' ') FROM json_each({column}, '{path}'))"


# What free text searches, as SQL over a clip_states row (`prefix` is NEW. in triggers).
def _document_sql(prefix: str = "") -> tuple[str, str, str, str]:
    return (
        f"json_extract({prefix}analysis, '$.summary')",
        _joined(f"{prefix}analysis", "$.observations"),
        f"{prefix}camera_name",
        _joined(f"{prefix}filter_result", "$.detected_classes"),
    )


_FTS_COLUMNS = ("summary", "observations", "camera", "objects")


@dataclass(frozen=True, slots=True)
class ClipQuery:
    """Filters of a history search; empty tuples and None filter nothing.

    Newest first (start time, then insertion order); `limit` clips from `offset` on.
    """

    camera_ids: tuple[str, ...] = ()
    start: datetime | None = None  # clips starting at or after
    end: datetime | None = None  # clips starting at or before
    min_risk: RiskLevel | None = None
    activity_types: tuple[ActivityType, ...] = ()
    alerted: bool | None = None
    reviewed: bool | None = None  # True: reviewed or false alarm; False: not reviewed
    objects: tuple[str, ...] = ()  # any of these detected classes
    text: str = ""
    incident_id: str | None = None  # the clips of this incident (any camera)
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1-{MAX_LIMIT}, got {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, got {self.offset}")


def query_words(text: str) -> list[str]:
    """The words of a free-text query: runs of letters and digits, lowercased."""
    words: list[str] = []
    current: list[str] = []
    for char in f"{text} ":
        if char.isalnum():
            current.append(char)
        elif current:
            words.append("".join(current)[:MAX_WORD_CHARS].lower())
            current = []
    return list(dict.fromkeys(words))[:MAX_QUERY_WORDS]


def fts_match(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted prefix term (quotes doubled)."""
    return " AND ".join('"' + word.replace('"', '""') + '"*' for word in words)


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def where_clause(query: ClipQuery, *, fts: bool) -> tuple[str, list[Any]]:
    """The WHERE clause over clip_states (always valid SQL) and its parameters."""
    terms: list[str] = []
    params: list[Any] = []
    # An incident's clips are found by its keys: a unary + keeps SQLite from walking another
    # filter's index instead (a camera's, the time's, the risk's: thousands of rows).
    by_key = "+" if query.incident_id is not None else ""
    if query.camera_ids:
        terms.append(f"{by_key}camera_id IN ({','.join('?' * len(query.camera_ids))})")
        params.extend(query.camera_ids)
    if query.start is not None:
        terms.append(f"{by_key}start_ts >= ?")
        params.append(_ts(query.start))
    if query.end is not None:
        terms.append(f"{by_key}start_ts <= ?")
        params.append(_ts(query.end))
    if query.min_risk is not None:
        levels = [r.value for r in RiskLevel if r >= query.min_risk]
        terms.append(f"{by_key}{RISK_SQL} IN ({','.join('?' * len(levels))})")
        params.extend(levels)
    if query.activity_types:
        terms.append(f"{_ACTIVITY_SQL} IN ({','.join('?' * len(query.activity_types))})")
        params.extend(a.value for a in query.activity_types)
    if query.alerted is not None:
        terms.append(f"{_ALERTED_SQL} = ?")
        params.append(int(query.alerted))
    if query.reviewed is not None:
        terms.append("review IS NOT NULL" if query.reviewed else "review IS NULL")
    if query.objects:
        terms.append(
            "EXISTS (SELECT 1 FROM json_each(filter_result, '$.detected_classes') "
            f"WHERE value IN ({','.join('?' * len(query.objects))}))"
        )
        params.extend(query.objects)
    if query.incident_id is not None:
        terms.append(f"({EVENT_KEY_SQL} = ? OR (clip_id = ? AND {EVENT_KEY_SQL} IS NULL))")
        params.extend((query.incident_id, query.incident_id))
    if words := query_words(query.text):
        if fts:
            terms.append(f"rowid IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
            params.append(fts_match(words))
        else:
            document = " || ' ' || ".join(f"COALESCE({part}, '')" for part in _document_sql())
            for word in words:
                terms.append(f"({document}) LIKE ? ESCAPE '\\'")
                params.append(_like_pattern(word))
    return (" AND ".join(terms) or "1"), params


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """The SQL of one search: how many match, and the rowids of the page, newest first."""

    count_sql: str
    count_params: list[Any]
    page_sql: str
    page_params: list[Any]
    # The page's rows carry the total as a second column (count_sql is then needed only for
    # an empty page).
    counted: bool = False


def query_plan(query: ClipQuery, *, fts: bool) -> QueryPlan:
    """The statements for a search (fetch the page's rows by rowid afterwards).

    Only rowids are sorted (never whole rows). A text search counts in the full-text index
    alone when it has no other filter; otherwise it walks the time index (the camera's, or
    every camera's) newest first, keeping the clips the full-text index names: it stops
    after the page, and never looks up every matching row (SQLite would, for a common word).
    A text search with other filters counts in the same statement as its page (the
    full-text index is read once). With an incident, a text search is not walked on the time
    index: the incident's few clips are looked up by their keys and the full-text index tests
    them.
    """
    where, params = where_clause(query, fts=fts)
    text = fts and bool(query_words(query.text))
    index = ""
    if text and query.incident_id is None:
        by = "camera_time" if query.camera_ids else "start"
        index = f" INDEXED BY idx_clip_states_{by}"
    text_only = text and replace(query, text="", limit=DEFAULT_LIMIT, offset=0) == ClipQuery()
    if text_only:
        count_sql = f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
        count_params: list[Any] = [fts_match(query_words(query.text))]
    else:
        count_sql = f"SELECT count(*) FROM clip_states{index} WHERE {where}"
        count_params = params
    counted = text and not text_only
    return QueryPlan(
        count_sql,
        count_params,
        f"SELECT rowid{', count(*) OVER ()' if counted else ''} FROM clip_states{index} "
        f"WHERE {where} ORDER BY start_ts DESC, rowid DESC LIMIT ? OFFSET ?",
        [*params, query.limit, query.offset],
        counted,
    )


# -- the full-text index -------------------------------------------------------------------


def fts5_available(conn: sqlite3.Connection) -> bool:
    """True when this SQLite build has FTS5."""
    options = {str(row[0]) for row in conn.execute("PRAGMA compile_options")}
    if "ENABLE_FTS5" in options:
        return True
    try:  # FTS5 may also be built in without the compile option (loaded as an extension)
        conn.execute("CREATE VIRTUAL TABLE temp.homesec_fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.homesec_fts5_probe")
    return True


def has_fts(conn: sqlite3.Connection) -> bool:
    """True when the database has the full-text index."""
    # A pragma, not a SELECT on sqlite_master: opening runs no query of the clips' tables.
    return bool(conn.execute(f"PRAGMA main.table_info({FTS_TABLE})").fetchall())


def ensure_fts(conn: sqlite3.Connection) -> None:
    """Create the full-text index, its triggers and its content when missing (idempotent).

    Rows are keyed by clip_states' rowid. Without FTS5 nothing is created and searches fall
    back to LIKE (a warning says so); a later SQLite with FTS5 creates and fills it then.
    """
    if has_fts(conn):
        return
    if not fts5_available(conn):
        _LOGGER.warning(
            "This SQLite build has no FTS5: clip history text search falls back to slower "
            "LIKE matching"
        )
        return
    columns = ", ".join(_FTS_COLUMNS)
    values = ", ".join(_document_sql("new."))
    conn.execute(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({columns}, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )
    conn.execute(
        f"CREATE TRIGGER clip_fts_insert AFTER INSERT ON clip_states BEGIN "
        f"INSERT INTO {FTS_TABLE} (rowid, {columns}) VALUES (new.rowid, {values}); END"
    )
    conn.execute(
        "CREATE TRIGGER clip_fts_update AFTER UPDATE OF analysis, camera_name, filter_result "
        "ON clip_states WHEN old.analysis IS NOT new.analysis OR old.camera_name IS NOT "
        "new.camera_name OR old.filter_result IS NOT new.filter_result "
        f"BEGIN DELETE FROM {FTS_TABLE} WHERE rowid = old.rowid; "
        f"INSERT INTO {FTS_TABLE} (rowid, {columns}) VALUES (new.rowid, {values}); END"
    )
    conn.execute(
        f"CREATE TRIGGER clip_fts_delete AFTER DELETE ON clip_states BEGIN "
        f"DELETE FROM {FTS_TABLE} WHERE rowid = old.rowid; END"
    )
    backfill = ", ".join(_document_sql())
    conn.execute(
        f"INSERT INTO {FTS_TABLE} (rowid, {columns}) SELECT rowid, {backfill} FROM clip_states"
    )


def warn_like_fallback() -> None:
    """Logged at the first text search without the full-text index."""
    _LOGGER.warning(
        "Clip history has no full-text index (SQLite without FTS5): text search uses LIKE"
    )
