"""The DuckDB store: schema, forward migrations, and short-lived connections.

DuckDB lets one process write a database file and, while it does, no other
process may open it.  So nothing in this project holds a connection for long:
every reader and writer opens the file, does its work, and closes it, retrying
while another process holds the lock.  Ingest keeps the store open while it
writes a file (or a segment of a large one) and closes it between segments
(see ``pipeline.ingest.writer``).  That is what lets the dashboard, notebooks and
``pipeline incidents`` keep answering while an ingest runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from pipeline.traits import traits_sql

DEFAULT_DB = "pipeline.duckdb"
ENV_DB = "PIPELINE_DB"

# How long an open waits for another process to release the file, by default.
DEFAULT_LOCK_WAIT_S = 60.0
# DuckDB's buffer pool grows to 80% of RAM unless told otherwise.
DEFAULT_MEMORY_LIMIT = "256MB"
# Work over a whole store or collection (correlation, loading a collection) sorts and takes
# medians of millions of rows, which DuckDB cannot always spill: 256 MB ran out on a fleet of
# 50 hosts x 30 days (13M latency samples); 1 GB does it in 1.1 GB of RSS.
WORK_MEMORY_LIMIT = "1GB"


@contextlib.contextmanager
def work_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``con``'s memory limit raised to :data:`WORK_MEMORY_LIMIT` for a whole-store job."""
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchone()  # type: ignore[misc]
    con.execute(f"SET memory_limit = '{WORK_MEMORY_LIMIT}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{before}'")


# The id_prefix of an event given its event_id: ids written by ingest end with their line
# number; any other id keeps its text as the prefix (the derived id then gains the line
# number).  Migration 0004 uses it: its text must not change.
PREFIX_OF_EVENT_ID = (
    "CASE WHEN suffix(event_id, line_no::VARCHAR) "
    "THEN left(event_id, length(event_id) - length(line_no::VARCHAR)) ELSE event_id END"
)

# The columns of ``events`` that migrations 0003 and 0004 keep as 0001 made them when they
# rebuild the table.  Migrations use it: its text must not change.
_EVENT_COLUMNS_0001_KEPT = """ts         TIMESTAMPTZ NOT NULL,
            source     VARCHAR NOT NULL,
            host       VARCHAR,
            file       VARCHAR NOT NULL,
            line_no    BIGINT NOT NULL,
            level      VARCHAR,
            kind       VARCHAR NOT NULL,
            error_code INTEGER,
            conn_ref   VARCHAR,"""


# How a row of event_rows gives its message (the events view says the same).
MESSAGE_OF_ROW = "coalesce(message_text, substr(raw, msg_at + 1))"


def _rebuild(table: str, columns: str, fill: str) -> str:
    """SQL that replaces ``table`` by a new one with these column definitions, filled by
    ``fill`` (an INSERT's column list and query): DuckDB cannot change a column's
    compression or make it generated in place.  Migrations use it: its text must not change."""
    return f"""
        CREATE TABLE {table}_rebuilt ({columns});
        INSERT INTO {table}_rebuilt {fill};
        DROP TABLE {table};
        ALTER TABLE {table}_rebuilt RENAME TO {table};
        """


# Forward migrations, applied in order.  Each is (name, SQL).  Never edit one
# that has shipped: append a new one.  ``meta`` records which have been applied.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE IF NOT EXISTS events (
            event_id   VARCHAR NOT NULL,   -- md5(file path)[:12] ':' line number: stable across re-ingests
            ts         TIMESTAMPTZ NOT NULL,
            source     VARCHAR NOT NULL,   -- app | sqlalchemy | mysql | postgres
            host       VARCHAR,
            file       VARCHAR NOT NULL,
            line_no    BIGINT NOT NULL,    -- 1-based line where the event starts
            level      VARCHAR,
            kind       VARCHAR NOT NULL,   -- pipeline.kinds.EVENT_KINDS
            error_code INTEGER,
            conn_ref   VARCHAR,
            message    VARCHAR,            -- first line of the event
            raw        VARCHAR             -- the whole event text, tracebacks included
        );
        CREATE TABLE IF NOT EXISTS latency (
            ts      TIMESTAMPTZ NOT NULL,
            host    VARCHAR,
            target  VARCHAR,
            rtt_ms  DOUBLE,                -- NULL when the probe was lost
            lost    BOOLEAN NOT NULL,
            file    VARCHAR NOT NULL,
            line_no BIGINT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS metrics (
            ts      TIMESTAMPTZ NOT NULL,
            host    VARCHAR,
            name    VARCHAR NOT NULL,      -- lower case: threads_connected, max_connections, ...
            value   DOUBLE,
            file    VARCHAR NOT NULL,
            line_no BIGINT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS rejects (
            file    VARCHAR NOT NULL,
            line_no BIGINT NOT NULL,
            reason  VARCHAR NOT NULL,
            raw     VARCHAR
        );
        CREATE TABLE IF NOT EXISTS files (
            path        VARCHAR PRIMARY KEY,  -- absolute path
            format      VARCHAR NOT NULL,     -- family name, or 'unknown'
            host        VARCHAR,
            timezone    VARCHAR,
            compressed  BOOLEAN NOT NULL,
            size        BIGINT NOT NULL,      -- size on disk when last read
            mtime       DOUBLE,
            head_len    INTEGER NOT NULL,     -- bytes covered by head_md5
            head_md5    VARCHAR NOT NULL,     -- identity: a file whose head changed was rotated/truncated
            bytes_done  BIGINT NOT NULL,      -- (uncompressed) offset up to which lines are stored
            lines_done  BIGINT NOT NULL,
            events      BIGINT NOT NULL,
            rejects     BIGINT NOT NULL,
            latency     BIGINT NOT NULL,
            metrics     BIGINT NOT NULL,
            state       VARCHAR,              -- parser state (JSON) to resume a stateful family
            ingested_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE IF NOT EXISTS incidents (
            incident_id VARCHAR PRIMARY KEY,  -- stable: derived from the first drop event
            start_ts    TIMESTAMPTZ NOT NULL,
            end_ts      TIMESTAMPTZ NOT NULL,
            cause       VARCHAR NOT NULL,     -- pipeline.kinds.CAUSES
            confidence  DOUBLE NOT NULL,      -- 0..1
            hosts       VARCHAR[],
            errors      INTEGER NOT NULL,     -- client-side drop events in the incident
            summary     VARCHAR NOT NULL,
            advice      VARCHAR[],
            scores      VARCHAR,              -- JSON {cause: score} for every cause with evidence
            details     VARCHAR               -- JSON: inferred limits, peaks, anything the advice used
        );
        CREATE TABLE IF NOT EXISTS incident_evidence (
            incident_id VARCHAR NOT NULL,
            seq         INTEGER NOT NULL,
            source      VARCHAR NOT NULL,     -- app | sqlalchemy | mysql | postgres | latency | metrics
            ts          TIMESTAMPTZ,
            kind        VARCHAR,
            line        VARCHAR,              -- the raw line
            why         VARCHAR,              -- what it shows
            event_id    VARCHAR,
            file        VARCHAR,
            line_no     BIGINT
        );
        """,
    ),
    (
        "0002_deliveries",
        """
        CREATE TABLE IF NOT EXISTS deliveries (
            period       VARCHAR NOT NULL,      -- digest period key: '2026-11-23 UTC' or 'start/end'
            channel      VARCHAR NOT NULL,      -- mail | webhook
            target       VARCHAR NOT NULL,      -- recipients, or the webhook's host and a hash of its URL
            delivered_at TIMESTAMPTZ NOT NULL,
            forced       BOOLEAN NOT NULL,      -- sent again with --force
            digest_sha256 VARCHAR NOT NULL      -- of the Markdown digest that was sent
        );
        """,
    ),
    (
        # raw (whole events, tracebacks included) is long, varied text: zstd stores it in
        # about a third of the space of DuckDB's default string compression and costs
        # about a quarter less CPU at insert.  DuckDB cannot change a column's
        # compression in place, so the table is rebuilt (once; cheap while it is empty).
        "0003_raw_zstd",
        _rebuild(
            "events",
            f"""
            event_id   VARCHAR NOT NULL,
            {_EVENT_COLUMNS_0001_KEPT}
            message    VARCHAR,
            raw        VARCHAR USING COMPRESSION zstd
            """,
            "SELECT * FROM events",
        ),
    ),
    (
        # Text that repeats other columns is no longer stored twice, which saves
        # about a quarter of the insert's CPU and 40% of the table's size:
        # - event_id is its file's prefix and the line number: the prefix is stored
        #   (one value per file, which DuckDB stores almost for free), the id derived;
        # - message, the first line's text after its header, is most often the end
        #   of raw: then only where it starts in raw is stored (``msg_at``,
        #   characters), otherwise the text itself (``message_text``: events of
        #   several lines, families whose message is not the end of the line).
        # Readers see the same twelve columns as before; writers fill the others.
        "0004_derived_columns",
        _rebuild(
            "events",
            f"""
            event_id     VARCHAR GENERATED ALWAYS AS (id_prefix || line_no) VIRTUAL,
            {_EVENT_COLUMNS_0001_KEPT}
            message      VARCHAR GENERATED ALWAYS AS (coalesce(message_text, substr(raw, msg_at + 1))) VIRTUAL,
            raw          VARCHAR USING COMPRESSION zstd,
            id_prefix    VARCHAR NOT NULL,
            message_text VARCHAR,
            msg_at       INTEGER
            """,
            f"""(ts, source, host, file, line_no, level, kind, error_code, conn_ref, raw,
                 id_prefix, message_text, msg_at)
            SELECT ts, source, host, file, line_no, level, kind, error_code, conn_ref, raw,
                   {PREFIX_OF_EVENT_ID},
                   message, NULL
            FROM events""",
        ),
    ),
    (
        # DuckDB computes a table's generated columns on every insert, and the message's
        # substr() over each row was 8% of ingest time.  A view derives the same two
        # columns only when a query reads them.
        "0005_events_view",
        """
        ALTER TABLE events RENAME TO event_rows;
        ALTER TABLE event_rows DROP COLUMN event_id;
        ALTER TABLE event_rows DROP COLUMN message;
        CREATE VIEW events AS
        SELECT id_prefix || line_no AS event_id, ts, source, host, file, line_no, level, kind, error_code,
               conn_ref, coalesce(message_text, substr(raw, msg_at + 1)) AS message, raw
        FROM event_rows;
        """,
    ),
    (
        # A file's path, host and event id prefix are the same on each of its rows, yet
        # DuckDB paid for three string columns on every insert (17% of the writer's CPU).
        # They are stored once per file in ``event_files``; each event keeps the number of
        # its file, and the view joins them back.  A file read with another host (the
        # configuration changed) gets a new number, so older rows keep their host.
        "0006_event_files",
        """
        DROP VIEW events;
        CREATE TABLE event_files (
            file_id   INTEGER PRIMARY KEY,
            file      VARCHAR NOT NULL,
            host      VARCHAR,
            id_prefix VARCHAR NOT NULL
        );
        INSERT INTO event_files
        SELECT row_number() OVER (ORDER BY file, host, id_prefix), file, host, id_prefix
        FROM (SELECT DISTINCT file, host, id_prefix FROM event_rows);
        """
        + _rebuild(
            "event_rows",
            """
            ts           TIMESTAMPTZ NOT NULL,
            source       VARCHAR NOT NULL,
            file_id      INTEGER NOT NULL,
            line_no      BIGINT NOT NULL,
            level        VARCHAR,
            kind         VARCHAR NOT NULL,
            error_code   INTEGER,
            conn_ref     VARCHAR,
            raw          VARCHAR USING COMPRESSION zstd,
            message_text VARCHAR,
            msg_at       INTEGER
            """,
            """
            SELECT e.ts, e.source, f.file_id, e.line_no, e.level, e.kind, e.error_code, e.conn_ref, e.raw,
                   e.message_text, e.msg_at
            FROM event_rows e
            JOIN event_files f ON f.file = e.file AND f.host IS NOT DISTINCT FROM e.host AND f.id_prefix = e.id_prefix
            ORDER BY e.rowid""",
        )
        + """
        CREATE VIEW events AS
        SELECT f.id_prefix || e.line_no AS event_id, e.ts, e.source, f.host, f.file, e.line_no, e.level, e.kind,
               e.error_code, e.conn_ref, coalesce(e.message_text, substr(e.raw, e.msg_at + 1)) AS message, e.raw
        FROM event_rows e JOIN event_files f ON f.file_id = e.file_id;
        """,
    ),
    (
        # A plain file's last record may still be being written when it is read (a
        # traceback whose error line comes later, a line without its newline).  It is
        # stored, but the file's progress (bytes_done, lines_done, state) stops where it
        # starts, and ``tail`` says how far was read and what the record gave (JSON:
        # read_to, events, rejects, latency, metrics); when the file grows, that record's
        # rows are removed and it is read again, whole.
        "0007_files_tail",
        "ALTER TABLE files ADD COLUMN tail VARCHAR;",
    ),
    (
        # What an event's text says beyond its kind (refused, timed out, a server's reason
        # for an abort) is decided once, as rows are written, and kept as bits
        # (pipeline/traits.py); correlation tests the bits instead of matching text again.
        "0008_event_traits",
        f"""
        DROP VIEW events;
        ALTER TABLE event_rows ADD COLUMN traits USMALLINT DEFAULT 0;
        UPDATE event_rows SET traits = {traits_sql(message=MESSAGE_OF_ROW)};
        CREATE VIEW events AS
        SELECT f.id_prefix || e.line_no AS event_id, e.ts, e.source, f.host, f.file, e.line_no, e.level, e.kind,
               e.error_code, e.conn_ref, coalesce(e.message_text, substr(e.raw, e.msg_at + 1)) AS message, e.raw,
               e.traits
        FROM event_rows e JOIN event_files f ON f.file_id = e.file_id;
        """,
    ),
]

# Events are stored in ``event_rows``, their files' path, host and id prefix in
# ``event_files``; readers query the ``events`` view that joins them.
EVENT_ROWS = "event_rows"
EVENT_FILES = "event_files"


def event_rows_sql(rows: str = "e", files: str = "f") -> str:
    """``event_rows`` joined to its files, for queries that must read the tables behind
    the ``events`` view (views have no ``rowid``)."""
    return f"{EVENT_ROWS} {rows} JOIN {EVENT_FILES} {files} ON {files}.file_id = {rows}.file_id"


def event_id_sql(rows: str = "e", files: str = "f") -> str:
    """How the ``events`` view derives ``event_id`` (over :func:`event_rows_sql`)."""
    return f"{files}.id_prefix || {rows}.line_no"


def message_sql(rows: str = "e") -> str:
    """How the ``events`` view derives ``message`` from ``event_rows``."""
    return f"coalesce({rows}.message_text, substr({rows}.raw, {rows}.msg_at + 1))"


# The columns of ``event_rows`` a writer fills (the view derives the others from them).
EVENT_STORED_COLUMNS = (
    "ts",
    "source",
    "file_id",
    "line_no",
    "level",
    "kind",
    "error_code",
    "conn_ref",
    "raw",
    "message_text",
    "msg_at",
    "traits",
)
# The twelve columns an event is given by (insert_events); readers see these and its
# ``traits``, which are derived from them as rows are written.
EVENT_COLUMNS = {
    "event_id": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "source": "VARCHAR",
    "host": "VARCHAR",
    "file": "VARCHAR",
    "line_no": "BIGINT",
    "level": "VARCHAR",
    "kind": "VARCHAR",
    "error_code": "INTEGER",
    "conn_ref": "VARCHAR",
    "message": "VARCHAR",
    "raw": "VARCHAR",
}


def file_id(con: duckdb.DuckDBPyConnection, file: str, host: str | None, id_prefix: str) -> int:
    """The number ``event_rows`` gives a file read with ``host`` (registered if new).
    Inside the caller's transaction: a rolled-back file leaves no number behind."""
    found = con.execute(
        f"SELECT file_id FROM {EVENT_FILES} WHERE file = ? AND host IS NOT DISTINCT FROM ? AND id_prefix = ?",
        [file, host, id_prefix],
    ).fetchall()
    if found:
        known: int = found[0][0]
        return known
    added: int = con.execute(
        f"INSERT INTO {EVENT_FILES} SELECT coalesce(max(file_id), 0) + 1, ?, ?, ? FROM {EVENT_FILES} RETURNING file_id",
        [file, host, id_prefix],
    ).fetchall()[0][0]
    return added


def delete_file_events(con: duckdb.DuckDBPyConnection, file: str, from_line: int = 1) -> None:
    """Remove the events of ``file`` (every host it was read with) from line ``from_line`` on."""
    con.execute(
        f"""DELETE FROM {EVENT_ROWS}
            WHERE file_id IN (SELECT file_id FROM {EVENT_FILES} WHERE file = ?) AND line_no >= ?""",
        [file, from_line],
    )


def relabel_file(con: duckdb.DuckDBPyConnection, file: str, host: str | None) -> None:
    """Give every row of ``file`` the host ``host`` (the configuration named it anew): no re-read."""
    con.execute(f"UPDATE {EVENT_FILES} SET host = ? WHERE file = ?", [host, file])
    for table in ("latency", "metrics"):
        con.execute(f"UPDATE {table} SET host = ? WHERE file = ?", [host, file])
    con.execute("UPDATE files SET host = ? WHERE path = ?", [host, file])


def choose_id_prefix(con: duckdb.DuckDBPyConnection, file: str, candidates: list[str]) -> str:
    """The event id prefix of ``file``: the first of ``candidates`` it already has, else the
    first no other file has.  Candidates go from content-only to path-bound, so the same
    logs get the same ids wherever they sit, and two files whose name and first line are
    the same still get ids of their own."""
    rows = con.execute(
        f"SELECT DISTINCT id_prefix, file = ? FROM {EVENT_FILES} WHERE list_contains(?, id_prefix)",
        [file, candidates],
    ).fetchall()
    mine = {prefix for prefix, own in rows if own}
    others = {prefix for prefix, own in rows if not own}
    for prefix in candidates:
        if prefix in mine:
            return prefix
    for prefix in candidates:
        if prefix not in others:
            return prefix
    return candidates[-1]


def insert_events(con: duckdb.DuckDBPyConnection, select_sql: str, params: object = None) -> None:
    """Insert events given as a query whose twelve columns are ``EVENT_COLUMNS``, in that
    order (their traits are derived from them); for code that makes events itself (synthetic stores, tests).
    An ``event_id`` that ends with its line number keeps its exact value.  The query is
    run twice (once for its files, once for its rows): it must give the same rows each time."""
    given = f"(SELECT *, {PREFIX_OF_EVENT_ID} AS id_prefix FROM ({select_sql}) AS given({', '.join(EVENT_COLUMNS)}))"
    # the files not registered yet, numbered in one statement, in the order of their names
    # (one query per file made a store of 20,000 synthetic events take 40 s)
    con.execute(
        f"""INSERT INTO {EVENT_FILES}
            SELECT (SELECT coalesce(max(file_id), 0) FROM {EVENT_FILES})
                   + row_number() OVER (ORDER BY file, host, id_prefix), file, host, id_prefix
            FROM (SELECT DISTINCT file, host, id_prefix FROM {given}) g
            WHERE NOT EXISTS (SELECT 1 FROM {EVENT_FILES} f WHERE f.file = g.file
                              AND f.host IS NOT DISTINCT FROM g.host AND f.id_prefix = g.id_prefix)""",
        params,
    )
    con.execute(
        f"""INSERT INTO {EVENT_ROWS} ({", ".join(EVENT_STORED_COLUMNS)})
            SELECT g.ts, g.source, f.file_id, g.line_no, g.level, g.kind, g.error_code, g.conn_ref, g.raw,
                   g.message, NULL, {traits_sql(kind="g.kind", source="g.source", raw="g.raw", message="g.message")}
            FROM {given} g
            JOIN {EVENT_FILES} f ON f.file = g.file AND f.host IS NOT DISTINCT FROM g.host
                                    AND f.id_prefix = g.id_prefix""",
        params,
    )


def insert_event_rows(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    """:func:`insert_events` for rows given as tuples in ``EVENT_COLUMNS`` order."""
    columns = ", ".join(f"{name} {kind}" for name, kind in EVENT_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE events_given ({columns})")
    try:
        con.executemany(f"INSERT INTO events_given VALUES ({', '.join('?' * len(EVENT_COLUMNS))})", rows)
        insert_events(con, "SELECT * FROM events_given")
    finally:
        con.execute("DROP TABLE events_given")


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The rows of a query, each a dict keyed by column name."""
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate without GROUP BY)."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


class StoreError(RuntimeError):
    """A store problem worth a one-line message to the user."""


class StoreBusy(StoreError):
    """Another process holds the store and did not let go in time."""


def require_tables(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], names: set[str]) -> None:
    """Raise :class:`StoreError` unless the store at ``path`` has every table (or view) in ``names``."""
    tables = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    missing = names - tables
    if missing:
        raise StoreError(f"{path} is not a pipeline store (missing tables: {', '.join(sorted(missing))})")


def exists(path: str | os.PathLike[str]) -> bool:
    """Whether anything is at the store's path: a store, a Parquet folder, or the
    write-ahead log a killed run left of a store."""
    return Path(path).exists() or Path(str(path) + ".wal").exists()


def resolve_db_path(db: str | os.PathLike[str] | None) -> Path:
    """The store path: the argument, else ``$PIPELINE_DB``, else ``./pipeline.duckdb``."""
    return Path(db or os.environ.get(ENV_DB) or DEFAULT_DB)


def _is_lock_conflict(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def connect(
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    wait_s: float = DEFAULT_LOCK_WAIT_S,
    on_wait: Callable[[str], object] | None = None,
    threads: int | None = None,
    days: tuple[dt.date, dt.date] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the store, retrying while another process holds its lock.

    ``threads`` caps DuckDB's worker threads (default: one per core).  A Parquet folder
    (``pipeline export``, ``pipeline ingest --out``) opens read-only as the same tables
    (:mod:`pipeline.parquet_store`); ``days`` then limits the days it reads.

    A read-only open of a file that does not exist is an error (there is nothing
    to read); a read-write open creates it and applies migrations.
    ``on_wait`` is called once with a message when the open has to wait.
    """
    path = Path(path)
    if path.is_dir():
        from pipeline import parquet_store

        if not parquet_store.is_parquet_store(path):
            raise StoreError(f"{path} is a folder, not a store or a Parquet export or collection")
        if not read_only:
            raise StoreError(
                f"{path} is a Parquet folder: read-only here (add to it with `pipeline ingest --out`, "
                "or load it into a store with `pipeline ingest FOLDER --db FILE`)"
            )
        return parquet_store.open_parquet(path, days)
    if read_only and not path.exists():
        raise StoreError(f"no store at {path} (run `pipeline ingest` first, or pass --db)")
    deadline = time.monotonic() + wait_s
    delay = 0.02
    warned = False
    while True:
        try:
            con = duckdb.connect(
                str(path),
                read_only=read_only,
                config={"memory_limit": DEFAULT_MEMORY_LIMIT, **({"threads": threads} if threads else {})},
            )
            break
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise StoreError(f"cannot open store {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise StoreBusy(f"store {path} is locked by another process (waited {wait_s:.0f}s)") from exc
            if on_wait and not warned:
                on_wait(f"store {path} is in use by another process; waiting...")
                warned = True
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
    try:  # it would draw on the user's terminal (and needs ipywidgets inside Jupyter)
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        pass
    if not read_only:
        try:
            migrate(con)
        except Exception:
            con.close()
            raise
    return con


# ``with opened(db) as con:`` -- connect, yield, always close: a DuckDB connection closes
# itself at the end of a ``with`` block (rolling back what was not committed).
opened = connect


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration not yet applied; return the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    rows = con.execute("SELECT key, value FROM meta WHERE key LIKE 'migration:%' OR key = 'schema_version'").fetchall()
    applied = {key for key, _ in rows if key != "schema_version"}
    recorded = next((value for key, value in rows if key == "schema_version"), None)
    for name, sql in MIGRATIONS:
        key = f"migration:{name}"
        if key in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO meta VALUES (?, current_timestamp::VARCHAR)", [key])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    version = len(MIGRATIONS)
    # written only when it changes: an open that writes commits (and syncs) a transaction,
    # and a long ingest's writer opens the store again after every 64 MB it writes
    if recorded != str(version):
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
    return version


def touch_changed(con: duckdb.DuckDBPyConnection) -> None:
    """Record that the store's content changed (caches key on this)."""
    con.execute("INSERT OR REPLACE INTO meta VALUES ('last_change', strftime(now(), '%Y-%m-%dT%H:%M:%S.%f'))")


@contextlib.contextmanager
def writer_lock(
    path: str | os.PathLike[str], *, wait: bool = True, on_wait: Callable[[str], object] | None = None
) -> Iterator[None]:
    """Serialize whole ingest/correlate runs on one store across processes.

    DuckDB's own lock only covers the moments a connection is open; this lock
    file covers a whole run, so a second ``pipeline ingest`` waits (or, with
    ``wait=False``, fails) instead of interleaving its files with the first.
    The lock is released by the kernel if the process dies.
    """
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock_path, "a+")  # noqa: SIM115 - held for the lock's lifetime, closed on release
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise StoreBusy(f"another ingest is writing to {path}") from None
            if on_wait:
                on_wait(f"another ingest is writing to {path}; waiting for it to finish...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()
