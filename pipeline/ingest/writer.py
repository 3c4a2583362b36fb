"""Writing parsed rows into the store, from one background thread, as they come.

The runner hands over each chunk's rows as soon as they are staged; the writer
inserts them at once inside the file's open transaction.  When the runner knows
where a file's rows end (the end of the file, or a segment boundary inside a
large one) it sends the file's bookkeeping row, and the writer commits rows and
bookkeeping together.  So:

- DuckDB inserts while polars parses the next chunks, from a file's first chunk
  to its last (no file-sized wait at the end);
- only a few chunks are ever held in memory, however large the file;
- a run killed at any moment leaves each file's rows and progress consistent.

All work runs in order in one thread, so a file's inserts always precede its
commit.  The store is opened when there is something to write and closed again
after a commit once enough was written (readers can open it in between).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline import store as store_mod
from pipeline.ingest.heap import Trimmer
from pipeline.traits import event_traits

if TYPE_CHECKING:  # for annotations only: polars is imported when rows are written
    import duckdb
    import polars as pl

    from pipeline.ingest.runner import FileReport

# One DuckDB thread: the other core is parsing the next chunks, and a single-threaded
# insert writes full row groups that need no merging at commit (measured: ~25% less
# CPU per row than with two threads).
WRITER_THREADS = 1
# Staged chunks that may wait for the writer; bounds the memory held for it.  Two keep
# DuckDB as busy as three did (the same time, about 25 MB less peak RSS).
WRITE_AHEAD = 2
# After a commit, the store is closed (so readers may open it) once this much was
# written, or this many files were committed, since it was opened.
RELEASE_BYTES = 64 * 1024 * 1024
RELEASE_FILES = 64
# No row-group vacuum in the checkpoints the writer causes.  In a large store DuckDB
# now and then spent 0.4-0.6 s of a close merging a few partly filled row groups
# (measured on a 5 GiB ingest: 4 of 55 closes), while the parser kept filling every
# queue; those closes made the run's peak memory.  Without them the store has 1% more
# row groups (397 instead of 393 for 43M events); the row groups of a re-read file's
# deleted rows are still dropped.
WRITER_SETTINGS = {"max_vacuum_tasks": 0}


def writer_memory_limit(lanes: int) -> str:
    """DuckDB's memory limit while ``lanes`` writers fill the store.

    DuckDB keeps the blocks it has written cached until its memory limit is reached.
    With two lanes one writer's connection is always open, so the store's instance (and
    its cache) lived for the whole run and the cache only grew: 9 -> 110 MB of
    ``BASE_TABLE`` memory over 1.2 GB of log, and a 5 GiB ingest peaked 150-250 MB
    above a 200 MB one.  What a writer needs is its open transaction, about 45 MB for
    a segment of 40 MB of log; the cache is never read again during ingest.  So 64 MiB
    a lane, at least 128 MiB; from four lanes on, the store's usual 256 MiB.
    (Measured on 1.6 GB of application logs, two lanes: peak RSS 929 -> 795 MB, the
    same time, nothing spilled to disk.)"""
    return f"{min(256, max(128, 64 * lanes))}MiB"


@dataclass(frozen=True)
class Replacing:
    """Which rows already stored of a file its new rows replace: they go when the file's
    transaction begins (only the first transaction of a re-read file replaces anything)."""

    all_rows: bool = False  # the file is read again from its start
    from_line: int | None = None  # it is read again from this line (a record that was still being written)


KEEPING = Replacing()  # nothing: the new rows come after the stored ones


# Tables whose rows name their file by path (events name it by file_id: see _begin).
PATH_TABLES = ("latency", "metrics", "rejects")

# Columns the whole file shares are not staged per row: DuckDB fills them in from
# parameters as it inserts (events: the number of the file's row in event_files).
# Traits are staged (pipeline.traits.event_traits): DuckDB took as long to bind the SQL of traits_sql
# for each chunk's INSERT as to insert the chunk's rows.
INSERT_SQL = {
    "events": f"""INSERT INTO {store_mod.EVENT_ROWS} ({", ".join(store_mod.EVENT_STORED_COLUMNS)})
                  SELECT ts, source, $file_id::INTEGER, line_no, level, kind, error_code, conn_ref, raw,
                         message_text, msg_at, traits
                  FROM staged_rows""",
    "latency": "INSERT INTO latency SELECT ts, $host::VARCHAR, target, rtt_ms, lost, $file::VARCHAR, line_no FROM staged_rows",
    "metrics": "INSERT INTO metrics SELECT ts, $host::VARCHAR, name, value, $file::VARCHAR, line_no FROM staged_rows",
    "rejects": "INSERT INTO rejects SELECT $file::VARCHAR, line_no, reason, raw FROM staged_rows",
}
INSERT_PARAMS = {  # the parameters each statement uses
    "events": ("file_id",),
    "latency": ("host", "file"),
    "metrics": ("host", "file"),
    "rejects": ("file",),
}


def storable_events(events: pl.DataFrame) -> pl.DataFrame:
    """Events as the store keeps them: a message that is the end of raw (a one-line
    event's text after its header) is replaced by where it starts there (``msg_at``,
    in characters, as DuckDB's ``substr`` counts); any other message is kept as text
    (``message_text``)."""
    import polars as pl  # imported when rows are written (see pipeline.ingest.runner)

    raw, message, in_raw = pl.col("raw"), pl.col("message"), pl.col("_in_raw")
    # in_raw once: an eager frame evaluates a shared subexpression once per use
    events = events.with_columns(_in_raw=message.is_not_null() & raw.str.ends_with(message))
    return events.with_columns(
        message_text=pl.when(in_raw).then(pl.lit(None, pl.Utf8)).otherwise(message),
        msg_at=pl.when(in_raw).then((raw.str.len_chars() - message.str.len_chars()).cast(pl.Int32)),
        traits=event_traits(events),
    ).drop("message", "_in_raw")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, shared: dict[str, Any]) -> None:
    """Insert one chunk's staged rows of ``table`` (inside the caller's transaction).
    ``shared``: the file's path, host and event id prefix, and, for events, its
    ``file_id`` (see :func:`pipeline.store.file_id`)."""
    import polars as pl

    # string views: DuckDB reads polars' buffers without a copy
    con.register("staged_rows", rows.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(INSERT_SQL[table], {name: shared[name] for name in INSERT_PARAMS[table]})
    finally:
        con.unregister("staged_rows")


# Several writers (one per file read at once) share the store: each file's rows go in its
# own transaction, which DuckDB takes beside the others' (appends to one table do not
# conflict).  What all files share is written outside those transactions, one writer at
# a time: a file's number in event_files, and the change markers in meta (two open
# transactions that both updated them would conflict at commit).
SHARED_ROWS = threading.Lock()


def register_file(con: duckdb.DuckDBPyConnection, path: str, host: str | None, id_prefixes: list[str]) -> int:
    """The number of ``path`` read with ``host`` in event_files, registered at once (its
    own transaction) if new: rows that name it can then be written by any transaction."""
    with SHARED_ROWS, con.cursor() as registrar:
        prefix = store_mod.choose_id_prefix(registrar, path, id_prefixes)
        return store_mod.file_id(registrar, path, host, prefix)


def commit_file(con: duckdb.DuckDBPyConnection, files_row: dict[str, Any]) -> None:
    """Record the file's progress and commit it together with its rows."""
    cols = list(files_row)
    con.execute(
        f"INSERT OR REPLACE INTO files ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [files_row[c] for c in cols],
    )
    # what correlation and caches compare against to know whether to run again; marked
    # before the rows commit (a run killed in between only correlates once more)
    with SHARED_ROWS, con.cursor() as marker:
        store_mod.touch_changed(marker)
        marker.execute("INSERT OR REPLACE INTO meta VALUES ('data_change', uuid()::VARCHAR)")
    con.execute("COMMIT")


class StoreCreation:
    """A new store being made (its tables: :func:`pipeline.store.connect`) in a thread of
    its own, while the run reads and parses its first chunks.  ``DONE`` stands for a
    store that already exists."""

    DONE: ClassVar[StoreCreation]

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        lock_wait_s: float = 0.0,
        on_message: Callable[[str], None] | None = None,
    ):
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if db is not None:
            self._thread = threading.Thread(
                target=self._create, args=(db, lock_wait_s, on_message), name="pipeline-new-store", daemon=True
            )
            self._thread.start()

    def _create(self, db: str | os.PathLike[str], lock_wait_s: float, on_message: Callable[[str], None] | None) -> None:
        try:
            with store_mod.opened(db, wait_s=lock_wait_s, on_wait=on_message):
                pass
        except BaseException as exc:  # raised again by wait(), in the threads that need the store
            self._error = exc

    def wait(self) -> None:
        """Return once the store exists; raise what kept it from being made."""
        self.settle()
        if self._error is not None:
            raise self._error

    def settle(self) -> None:
        """Wait for the attempt to end, whatever its outcome (before cleaning up)."""
        if self._thread is not None:
            self._thread.join()


StoreCreation.DONE = StoreCreation()


class StoreWriter:
    """Applies a run's rows and bookkeeping to the store, in order, in one thread.

    ``insert`` and ``commit`` may be called from any thread; ``insert`` blocks
    while ``WRITE_AHEAD`` chunks already wait.  A file whose write fails is
    rolled back and reported as an error (``on_failure``); its later rows and
    segments are dropped, so its recorded progress never passes what was stored.
    A store that cannot be opened at all (locked, unreadable) fails the run:
    :meth:`finish` and later calls raise that error.
    """

    def __init__(
        self,
        db: str | os.PathLike[str],
        *,
        lock_wait_s: float,
        on_message: Callable[[str], None],
        on_failure: Callable[[FileReport, str], None],
        lanes: int,
        before_open: Callable[[], None] = StoreCreation.DONE.wait,
    ):
        self.db = db
        self.before_open = before_open  # waits until the store exists (see StoreCreation)
        self.memory_limit = writer_memory_limit(lanes)
        self.lock_wait_s = lock_wait_s
        self.on_message = on_message
        self.on_failure = on_failure
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-writer")
        self._room = threading.Semaphore(WRITE_AHEAD)
        self._broken: BaseException | None = None
        self._finished = False
        # writer-thread state
        self._con: duckdb.DuckDBPyConnection | None = None
        self._in_transaction: str | None = None  # the file whose transaction is open
        self._trimmer = Trimmer()  # frees the heaps the committed rows used (pipeline.ingest.heap)
        self._file_id: int | None = None  # its number in event_files, once it has events
        self._failed: set[str] = set()
        self._written_since_open = 0  # bytes
        self._commits_since_open = 0

    # -- called by the runner ------------------------------------------------------

    def insert(
        self, report: FileReport, table: str, rows: pl.DataFrame, shared: dict[str, Any], replacing: Replacing
    ) -> None:
        """Queue one chunk's rows of a file (replacing what ``replacing`` says)."""
        self._raise_if_broken()
        self._room.acquire()
        self._submit(self._insert, report, table, rows, shared, replacing, release=True)

    def commit(self, report: FileReport, files_row: dict[str, Any], replacing: Replacing) -> None:
        """Queue the end of a file (or of a segment of it): its bookkeeping row."""
        self._raise_if_broken()
        self._submit(self._commit, report, files_row, replacing)

    def relabel(self, report: FileReport, path: str, host: str | None, replacing: Replacing) -> None:
        """Queue giving the rows already stored of a file a new host, in the transaction
        of the file's next rows (its commit follows)."""
        self._raise_if_broken()
        self._submit(self._relabel, report, path, host, replacing)

    def finish(self) -> None:
        """Wait for everything queued, close the store, and raise a store error if any.
        A file left without its commit (the run stopped on an error) is rolled back."""
        if self._finished:
            return
        self._finished = True
        try:
            self._submit(self._close)
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def wait(self) -> None:
        """Wait until everything queued so far is done (jobs run in order)."""
        self._pool.submit(lambda: None).result()
        self._raise_if_broken()

    # -- the writer thread -------------------------------------------------------------

    def _submit(self, fn: Callable[..., None], *args: Any, release: bool = False) -> None:
        def run() -> None:
            try:
                if self._broken is None:
                    fn(*args)
            except Exception as exc:
                self._broken = exc
            finally:
                if release:
                    self._room.release()

        self._pool.submit(run)

    def _raise_if_broken(self) -> None:
        if self._broken is not None:
            raise self._broken

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self.before_open()
            self._con = store_mod.connect(
                self.db, wait_s=self.lock_wait_s, on_wait=self.on_message, threads=WRITER_THREADS
            )
            for name, value in WRITER_SETTINGS.items():
                self._con.execute(f"SET {name} = {value}")
            self._con.execute(f"SET memory_limit = '{self.memory_limit}'")  # (the whole store's: lanes agree)
            self._written_since_open = self._commits_since_open = 0
        return self._con

    def _begin(self, con: duckdb.DuckDBPyConnection, path: str, replacing: Replacing) -> None:
        if self._in_transaction != path:
            con.execute("BEGIN TRANSACTION")
            self._in_transaction = path
            self._file_id = None
            from_line = 0 if replacing.all_rows else replacing.from_line  # (lines count from 1)
            if from_line is not None:
                store_mod.delete_file_events(con, path, from_line)
                for table in PATH_TABLES:
                    con.execute(f"DELETE FROM {table} WHERE file = ? AND line_no >= ?", [path, from_line])

    def _insert(
        self, report: FileReport, table: str, rows: pl.DataFrame, shared: dict[str, Any], replacing: Replacing
    ) -> None:
        path = shared["file"]
        if path in self._failed:
            return
        con = self._connection()  # failing to open the store fails the run, not the file
        try:
            self._begin(con, path, replacing)
            if table == "events" and self._file_id is None:  # once per transaction: a rollback drops it
                self._file_id = register_file(con, path, shared["host"], shared["id_prefixes"])
            insert_rows(con, table, rows, {**shared, "file_id": self._file_id})
            size = int(rows.estimated_size())
            self._written_since_open += size
            self._trimmer.wrote(size)
        except Exception as exc:  # disk full, read-only file...: this file is not stored
            self._fail(report, path, exc)

    def _relabel(self, report: FileReport, path: str, host: str | None, replacing: Replacing) -> None:
        if path in self._failed:
            return
        con = self._connection()
        try:
            self._begin(con, path, replacing)
            store_mod.relabel_file(con, path, host)
        except Exception as exc:
            self._fail(report, path, exc)

    def _commit(self, report: FileReport, files_row: dict[str, Any], replacing: Replacing) -> None:
        path = files_row["path"]
        if path in self._failed:
            return
        con = self._connection()
        try:
            self._begin(con, path, replacing)
            commit_file(con, files_row)
            self._in_transaction = None
        except Exception as exc:
            self._fail(report, path, exc)
            return
        self._trimmer.after_commit()
        self._commits_since_open += 1
        if self._written_since_open >= RELEASE_BYTES or self._commits_since_open >= RELEASE_FILES:
            self._close()

    def _fail(self, report: FileReport, path: str, exc: Exception) -> None:
        self._failed.add(path)
        if self._in_transaction is not None and self._con is not None:
            try:
                self._con.execute("ROLLBACK")
            except Exception:
                pass
        self._in_transaction = None
        self.on_failure(report, f"could not write to the store: {exc}")

    def _close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            if self._in_transaction is not None:  # the run stopped before this file's end
                self._in_transaction = None
                con.execute("ROLLBACK")
            con.close()


__all__ = ["StoreCreation", "StoreWriter", "commit_file", "insert_rows", "storable_events"]
