"""One ingest run: discover files, detect, parse in chunks, commit file by file.

The order of work for each file:

1. decide what to read: nothing (unchanged), the appended tail (its head still
   matches what was stored), or everything again (new, rotated or truncated);
2. detect its family from its first lines (or take the configured format);
3. parse it chunk by chunk, redacting secrets on the way, and hand each
   chunk's rows to the writer thread (:mod:`pipeline.ingest.writer`), which
   inserts them at once inside the file's transaction;
4. commit: the transaction replaces/extends the file's rows and its ``files``
   bookkeeping together.  A large file is committed in segments of about
   ``SEGMENT_BYTES`` of log: each segment ends where an event starts, and its
   transaction records that byte offset and line as the file's progress.  A run
   killed at any moment leaves the store consistent, and the next run resumes
   the file where the last segment ended (status ``resumed``).

Reading, parsing, redacting and inserting run in four threads, chunk after
chunk, so two cores work on one file and only a few chunks are in memory at a
time.  With more cores, more files are read at once: one lane (those four
threads and a store writer) for every two cores (see ``lanes_for``).  When a run
has fewer files than lanes, the lanes left without one lend their cores to the
others' parsing: a file's chunks are cut where their last event starts (the
family says where without parsing) and parsed side by side, then staged and
written in order (``parse_threads``; only families that can say so, today
Python logging text without an envelope).
A lock file serializes whole runs.

Stopping: ``pipeline.cli`` turns SIGINT and SIGTERM into a stop request
(:data:`STOP`) while a run is under way.  The run checks it between chunks and
between files, never inside a parser or a store transaction: it then commits the
current file up to where its last whole event ends (as a segment commit does),
waits for the writer, skips correlation (or interrupts it: DuckDB rolls it back)
and raises :class:`IngestInterrupted`, which says what was kept.  The next run
resumes exactly there.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from pipeline import cores
from pipeline import store as store_mod
from pipeline.config import FileSettings, SettingsResolver, correlate_settings
from pipeline.ingest import files
from pipeline.ingest.heap import keep_large_blocks_mapped
from pipeline.ingest.writer import KEEPING, Replacing, StoreCreation, StoreWriter

# polars and the parsers are imported by the methods that read a file, not with this
# module: a re-run that finds every file unchanged then starts 0.1 s sooner (a third of
# its time).
if TYPE_CHECKING:  # for annotations only
    import duckdb
    import polars as pl

    from pipeline.ingest.families.base import CutsAtEventStarts, FileContext, LogFamily, Parsed

# Log bytes of a large file committed in one transaction: how much a killed run has
# to read again.  DuckDB's memory grows with the open transaction (measured: about
# 40 MB more peak RSS at 64 MB than at 40 MB), so every file's transactions stay
# about as large as a 40 MB log's, whatever its size.  Not much smaller: each commit
# costs DuckDB a partly filled row group (8 commits per 40 MB cost ~30% more than one).
SEGMENT_BYTES = 40 * 1024 * 1024
STAGING_AHEAD = 1  # parsed chunks that may wait for the staging thread (two kept no more busy, held more)
# The parse thread gives up the GIL for each polars call and must get it back after;
# behind a reader or staging thread running Python it waits up to the interpreter's
# switch interval (5 ms by default) each time.  At 1 ms the 162 MB of application logs
# ingested 2-5% faster in three sets of alternating pairs (medians), the CPU the same.
SWITCH_INTERVAL_S = 0.001
PLAUSIBLE_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class StopRequest:
    """A request, made by a signal handler, that the running ingest stop at its next
    safe point.

    ``pipeline.cli`` installs handlers for SIGINT and SIGTERM that call :meth:`request`
    and lists the signals in ``handled_signals``.  While a run is under way in the main
    thread (:meth:`armed`), a request only sets :attr:`signum`: the run looks at it
    between chunks and files and stops there (nothing is raised inside polars or
    DuckDB, where an exception could be taken for a parse error or end a transaction
    half-way).  Before the run holds the store (waiting for another ingest's lock)
    nothing needs saving: the request raises :class:`IngestInterrupted` at once.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.handled_signals: tuple[int, ...] = ()
        self._state = "off"  # off | early (raise at once) | running (flag only)
        self._reclaimed = False

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def active(self) -> bool:
        """A run in this process takes requests now."""
        return self._state != "off"

    def request(self, signum: int) -> bool:
        """Ask the running ingest to stop.  False when no ingest is running, or a stop
        was already asked for: the caller then interrupts the program as usual."""
        if self._state == "off" or self.signum is not None:
            return False
        self.signum = signum
        if self._state == "early":
            raise IngestInterrupted(signum, f"{_signal_name(signum)}: stopped before reading anything; nothing changed")
        return True

    @contextlib.contextmanager
    def armed(self, state: str) -> Iterator[None]:
        """Requests go to this run while the block runs (``state``: early or running);
        after it, to nobody.  Only in the main thread, where signal handlers run, and
        only when handlers that call :meth:`request` are installed."""
        if not self.handled_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        self._state = state
        try:
            yield
        finally:
            self._state = "off"

    def reclaim_handlers(self) -> None:
        """Put the Python-level handlers back in charge after polars is imported.

        polars (2.x) installs a C-level SIGINT handler when it is imported: it calls the
        previous handler, and also aborts whatever polars query is running, in any
        thread, with a KeyboardInterrupt raised from inside that query.  Here a query
        runs in the reader, the parser and the staging thread, so that exception would
        land in the middle of a chunk.  (And a process that started with SIGINT ignored,
        as a background job of a shell script is, had only polars' handler: a Ctrl-C or
        ``kill -INT`` counted only when it fell inside a query that looked at the flag,
        and was otherwise dropped -- the run went on to its end and exited 0.)
        Installing the same Python handlers again replaces polars' handler with
        Python's own, which calls them."""
        if self._reclaimed or self._state == "off" or "polars" not in sys.modules:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.handled_signals:
            handler = signal.getsignal(signum)
            if callable(handler):
                signal.signal(signum, handler)
        self._reclaimed = True


class IngestInterrupted(BaseException):
    """The run stopped on a signal at a safe point; ``message`` says what was kept.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` (a command
    that goes on to its next scenario, say) keeps the program going after the user
    asked it to stop.  The exit status is ``128 + signum`` (130 for SIGINT, 143 for
    SIGTERM)."""

    def __init__(self, signum: int, message: str, summary: IngestSummary | None = None):
        super().__init__(message)
        self.signum = signum
        self.message = message
        self.summary = summary


# The process's stop request: set by pipeline.cli's signal handlers, read by every run.
STOP = StopRequest()


def _signal_name(signum: int) -> str:
    try:
        return f"interrupted by {signal.Signals(signum).name}"
    except ValueError:
        return f"interrupted by signal {signum}"


@dataclass
class FileReport:
    """What happened to one file; the rows of the ingest summary."""

    path: str
    format: str
    host: str | None
    status: str  # new | appended | resumed | restarted | relabelled | unchanged | unknown | skipped | imported | error
    envelopes: list[str] = field(default_factory=list)  # wrappers removed, outermost first
    events: int = 0
    rejects: int = 0
    latency: int = 0
    metrics: int = 0
    lines: int = 0  # lines read this run
    folded: int = 0  # lines that ended up inside an event (first lines and continuations)
    skipped: int = 0  # lines a family ignores on purpose (blank separators, table headers)
    read_errors: int = 0  # rejects that stand for unreadable input rather than a line
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def accounted(self) -> int:
        """Lines that landed somewhere; equals ``lines`` unless something was lost."""
        return self.folded + self.rejects - self.read_errors + self.skipped + self.latency + self.metrics


@dataclass
class IngestSummary:
    db: str
    files: list[FileReport]
    seconds: float  # the whole run
    correlation: dict[str, Any] | None = None
    ingest_seconds: float = 0.0  # reading, parsing and committing files (no correlation)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def mb_per_s(self) -> float:
        """Ingest throughput: bytes read over the time spent reading, parsing and committing."""
        seconds = self.ingest_seconds or self.seconds
        return self.bytes / 1e6 / seconds if seconds > 0 else 0.0

    def totals(self) -> dict[str, int]:
        keys = ("events", "rejects", "latency", "metrics", "lines", "folded", "skipped", "bytes")
        out = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        out["files"] = len(self.files)
        out["unknown"] = sum(1 for f in self.files if f.status == "unknown")
        out["errors"] = sum(1 for f in self.files if f.status == "error")
        return out

    def unaccounted(self) -> list[FileReport]:
        """Files where lines read != lines folded + rejected + skipped + latency/metrics rows."""
        # an imported export brings rows, not lines
        return [f for f in self.files if f.lines != f.accounted and f.status != "imported"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "seconds": round(self.seconds, 3),
            "ingest_seconds": round(self.ingest_seconds, 3),
            "mb_per_s": round(self.mb_per_s, 2),
            "totals": self.totals(),
            "files": [asdict(f) for f in self.files],
            "correlation": self.correlation,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stored_files(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """The ``files`` table by path: what earlier runs read of each file, and the event
    id prefixes its rows have."""
    sql = f"""SELECT f.*, (SELECT list(DISTINCT e.id_prefix) FROM {store_mod.EVENT_FILES} e
                           WHERE e.file = f.path) AS id_prefixes
              FROM files f"""
    return {row["path"]: row for row in store_mod.fetch_dicts(con, sql)}


class Ingest:
    """An ingest run over some paths into one store."""

    def __init__(
        self,
        db: str | Path,
        *,
        config: str | Path | None = None,
        chunk_bytes: int = files.DEFAULT_CHUNK_BYTES,
        on_progress: Callable[[int, str], None] | None = None,
        on_message: Callable[[str], None] | None = None,
        lock_wait_s: float = store_mod.DEFAULT_LOCK_WAIT_S,
        wait_for_writer: bool = True,
        max_line_bytes: int = files.DEFAULT_MAX_LINE_BYTES,
        stop: StopRequest | None = None,
        jobs: int | None = None,
        lanes: int | None = None,
        id_scope: str | None = None,
        parse_threads: int | None = None,
    ):
        self.db = Path(db)
        # mixed into event ids when several machines write one collection (see
        # pipeline.parquet_out): the same path on two machines is two files
        self.id_scope = id_scope
        self.resolver = SettingsResolver(config)
        self.config_path = config
        self.chunk_bytes = chunk_bytes
        self.on_progress = on_progress or (lambda n, name: None)
        self.on_message = on_message or (lambda msg: None)
        self.lock_wait_s = lock_wait_s
        self.wait_for_writer = wait_for_writer
        self.max_line_bytes = max_line_bytes
        self.stop = STOP if stop is None else stop
        # the cores used: more than this process may run on would only add lanes that wait
        self.jobs = max(1, min(jobs, cores.available()) if jobs is not None else default_jobs())
        self.lanes = max(1, lanes) if lanes is not None else lanes_for(self.jobs)  # files read at once
        self.segment_bytes = SEGMENT_BYTES
        if self.lanes > 1:
            # each lane holds a few chunks in every stage: ``chunk_bytes`` is what the lanes
            # read at a time together, so the chunks of every lane weigh about what one
            # lane's do (measured: 2 lanes of 4 MB chunks peaked at 811-838 MB)
            self.chunk_bytes = max(MIN_LANE_CHUNK, chunk_bytes // self.lanes)
        if self.lanes > 2:
            # and an open transaction each: smaller segments keep the sum of the lanes near
            # the memory of two (measured: 4 lanes of 40 MB segments, 1,088 MB; of 20 MB, 886)
            self.segment_bytes = max(MIN_LANE_SEGMENT, SEGMENT_BYTES * 2 // self.lanes)
        # threads that parse one file's chunks side by side; None: as many as the lanes left
        # without a file can spare (one on two cores; see _read_files)
        self.parse_threads = parse_threads
        self._parse_threads = 1
        self.reports: list[FileReport] = []
        # each thread that reads files has a lane of its own (see _Lane)
        self._lanes: list[_Lane] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        # what a stopped run kept of the files it was reading: (report, bytes, lines, size, .gz)
        self._stopped: list[tuple[FileReport, int | None, int, int, bool]] = []
        self._not_started = 0
        self._store_ready: StoreCreation = StoreCreation.DONE  # see _open_store

    # -- the run ---------------------------------------------------------------

    def run(self, paths: list[str | Path], *, correlate: bool = True) -> IngestSummary:
        keep_large_blocks_mapped()  # chunk-sized buffers must not fragment the C heaps (see heap)
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            return self._run(paths, correlate=correlate)
        finally:
            sys.setswitchinterval(switch_interval)

    def _run(self, paths: list[str | Path], *, correlate: bool) -> IngestSummary:
        started = time.perf_counter()
        correlation: dict[str, Any] | None = None
        ingest_seconds = 0.0
        self.db.parent.mkdir(parents=True, exist_ok=True)
        with (
            self.stop.armed("early"),
            store_mod.writer_lock(self.db, wait=self.wait_for_writer, on_wait=self.on_message),
        ):
            # staging folders of older versions, left by a killed run, are garbage
            for stale in self.db.parent.glob(f".pipeline-staging-{self.db.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            try:
                with self.stop.armed("running"):
                    paths = self._import_exports(paths)
                    stored = self._open_store()
                    todo: list[tuple[int, Path]] = []
                    for found in files.discover(paths):
                        if found.problem:
                            self.reports.append(
                                FileReport(stored_path(found.path), "unknown", None, "error", error=found.problem)
                            )
                        elif found.skipped:
                            self.reports.append(
                                FileReport(
                                    stored_path(found.path), "unknown", None, "skipped", warnings=[found.skipped]
                                )
                            )
                        elif not self.resolver.ignored(found.path):
                            todo.append((len(self.reports), found.path))
                            self.reports.append(FileReport(stored_path(found.path), "unknown", None, "not started"))
                    self._read_files(todo, stored)
                    self._store_ready.wait()  # the store exists even when nothing was written
                    for lane in self._lanes:
                        lane.finish()
                    ingest_seconds = time.perf_counter() - started
                    if correlate and not self.stop.requested:
                        correlation = self._correlate()
            finally:
                self._store_ready.settle()
                for lane in self._lanes:  # after an error: let the writers stop and close the store
                    lane.close()
        self.reports = [r for r in self.reports if r.status != "not started"]
        summary = IngestSummary(
            db=str(self.db),
            files=self.reports,
            seconds=time.perf_counter() - started,
            correlation=correlation,
            ingest_seconds=ingest_seconds,
        )
        if self.stop.signum is not None:
            message = self._kept_message(self.stop.signum, correlate and correlation is None)
            raise IngestInterrupted(self.stop.signum, message, summary)
        return summary

    def _open_store(self) -> dict[str, dict[str, Any]]:
        """What earlier runs stored of each file.  A store that does not exist yet holds
        nothing: it is made in the background while the first chunks are read and parsed
        (its tables take 50-70 ms to make, the first chunk about as long to parse), and
        the writers wait for it before they open it."""
        if store_mod.exists(self.db):
            self._store_ready = StoreCreation.DONE
            with store_mod.opened(self.db, wait_s=self.lock_wait_s, on_wait=self.on_message) as con:
                return _stored_files(con)
        self._store_ready = StoreCreation(self.db, self.lock_wait_s, self.on_message)
        return {}

    def _import_exports(self, paths: list[str | Path]) -> list[str | Path]:
        """Load the given folders that ``pipeline export --parquet`` wrote (see
        :mod:`pipeline.export`); return the other paths, to be read as logs."""
        from pipeline import export

        logs: list[str | Path] = []
        for given in paths:
            if not export.is_export(given):
                logs.append(given)
                continue
            report = FileReport(str(Path(given).resolve()), "parquet_export", None, "imported")
            try:
                loaded = export.import_parquet(given, self.db)
            except (OSError, ValueError, export.ExportError) as exc:
                report.status, report.error = "error", f"cannot import: {exc}"
            else:
                report.events, report.rejects = loaded["events"], loaded["rejects"]
                report.latency, report.metrics = loaded["latency"], loaded["metrics"]
            self.reports.append(report)
        return logs

    def _kept_message(self, signum: int, not_correlated: bool) -> str:
        """One line: which files are stored whole, how far the stopped one got, what is left."""
        stopped = [entry[0] for entry in self._stopped]
        reports = [r for r in self.reports if not any(r is s for s in stopped) and r.status != "not started"]
        whole = sum(1 for r in reports if r.status in ("new", "appended", "resumed", "restarted"))
        unchanged = sum(1 for r in reports if r.status == "unchanged")
        others = sum(1 for r in reports if r.status in ("unknown", "error"))
        parts = [f"kept {whole} file{'s' * (whole != 1)} whole"]
        if unchanged:
            parts.append(f"{unchanged} unchanged")
        if others:
            parts.append(f"{others} not logs or unreadable")
        for report, kept, lines, size, compressed in self._stopped:
            name = _short_path(report.path)
            if report.status == "error":
                parts.append(f"{name} not stored ({report.error})")
            elif compressed:
                parts.append(f"{name} to be read again from its start (a .gz file cannot be resumed)")
            elif kept is None:
                parts.append(f"{name} not read again yet (its earlier rows kept)")
            elif lines == 0:
                parts.append(f"nothing of {name} yet")
            else:
                parts.append(f"{name} up to line {lines:,} ({kept / 1e6:.1f} of {size / 1e6:.1f} MB)")
        if self._not_started:
            parts.append(f"{self._not_started} file{'s' * (self._not_started != 1)} not started")
        if self._stopped or self._not_started:
            after = "the next run goes on from there"
        elif not_correlated:
            after = "incidents not rebuilt: the next run (or `pipeline correlate`) rebuilds them"
        else:
            after = "nothing was left to do"
        return f"{_signal_name(signum)}: " + ", ".join(parts) + "; " + after

    # -- one file ----------------------------------------------------------------

    def _read_files(self, todo: list[tuple[int, Path]], stored: dict[str, dict[str, Any]]) -> None:
        """Read the files, ``lanes`` at a time: each thread reads one file after another
        through its own lane, and the store takes every lane's transactions at once."""
        # lanes left without a file give their cores to the others' parsing
        self._parse_threads = self.parse_threads or max(1, min(MAX_PARSE_THREADS, self.lanes // max(1, len(todo))))
        if self.lanes == 1 or len(todo) < 2:
            for slot, path in todo:
                self._ingest_one(slot, path, stored)
            return
        with ThreadPoolExecutor(max_workers=min(self.lanes, len(todo)), thread_name_prefix="pipeline-file") as pool:
            pending = {pool.submit(self._ingest_one, slot, path, stored) for slot, path in todo}
            while pending:
                done, pending = wait(pending, timeout=0.1)
                # a file thread imported polars: its SIGINT handler goes (only the main thread may)
                self.stop.reclaim_handlers()
                for future in done:
                    future.result()

    def _ingest_one(self, slot: int, path: Path, stored: dict[str, dict[str, Any]]) -> None:
        if self.stop.requested:  # a safe point: between files
            with self._lock:
                self._not_started += 1
            return
        self._ingest_file(slot, path, stored.get(stored_path(path)))

    def _lane(self) -> _Lane:
        """This thread's lane (made on its first file)."""
        lane: _Lane | None = getattr(self._local, "lane", None)
        if lane is None:
            lane = _Lane(
                self.db,
                self.lock_wait_s,
                self.on_message,
                lanes=self.lanes,
                store_ready=self._store_ready,
                parse_threads=self._parse_threads,
            )
            self._local.lane = lane
            with self._lock:
                self._lanes.append(lane)
        return lane

    def _ingest_file(self, slot: int, path: Path, stored: dict[str, Any] | None) -> None:
        spath = stored_path(path)  # what the store and every output call the file
        settings = self.resolver.settings_for(path)
        report = FileReport(spath, "unknown", settings.host, "new")
        self.reports[slot] = report
        lane = self._lane()
        try:
            stat = path.stat()
            compressed = files.is_gzip(path)
        except OSError as exc:
            report.status, report.error = "error", f"cannot read: {exc.strerror or exc}"
            return
        head, problem = files.read_head(path, compressed)
        if problem:
            report.status, report.error = "error", problem
            return
        id_prefixes = _event_id_prefixes(path, head, self.id_scope)

        plan = _plan_read(stored, stat, compressed, path, id_prefixes, settings)
        report.status = plan.status
        if plan.warning:
            report.warnings.append(plan.warning)
        relabel = stored is not None and not plan.restart and stored["host"] != settings.host
        if plan.status == "unchanged":
            report.format = stored["format"] if stored else "unknown"
            if relabel and stored is not None:
                # the configuration names the file's host anew: its rows change host, unread
                report.status = "relabelled"
                report.warnings.append(f"host changed from {stored['host']!r}: its rows were relabelled, not re-read")
                self._queue(partial(lane.writer.relabel, report, spath, settings.host, KEEPING))
                row = {k: v for k, v in stored.items() if k != "id_prefixes"} | {"host": settings.host}
                self._queue(partial(lane.writer.commit, report, row, KEEPING))
            return
        start_offset, start_line, restart, state = plan.start_offset, plan.start_line, plan.restart, plan.state

        import polars as pl

        from pipeline.ingest import detect
        from pipeline.ingest.families.base import REJECT_SCHEMA, FileContext, Parsed

        self.stop.reclaim_handlers()  # polars is imported now (see there)

        detection = detect.choose(head, settings.format)
        family = detection.family
        if family is None:
            report.status = "unknown"
            report.warnings.append(detection.reason)
            if stored is not None and stored["format"] != "unknown":
                # it used to be a log we understood: drop its old rows with it
                self._commit_async(
                    report,
                    partial(self._files_row, path, stat, compressed, settings, "unknown", 0, 0, {}, None),
                    Replacing(all_rows=True),
                )
            return
        report.format = family.name
        if stored is not None and stored["format"] != family.name:
            start_offset, start_line, restart, state = 0, 1, stored is not None, {}
            report.status = "restarted"
        trim_from = plan.trim_from if not restart else None
        # the file's bookkeeping row as of (offset, lines done, parser state)
        files_row = partial(
            self._files_row,
            path,
            stat,
            compressed,
            settings,
            family.name,
            stored=stored,
            restart=restart,
            report=report,
        )

        target = _Target(
            report,
            shared={"id_prefixes": id_prefixes, "host": settings.host, "file": spath},
            replacing=Replacing(all_rows=restart, from_line=trim_from),
            lane=lane,
        )
        if relabel and not restart:
            self._queue(partial(lane.writer.relabel, report, spath, settings.host, Replacing(from_line=trim_from)))
        segment_bytes = 0
        ctx = FileContext(path=spath, host=settings.host, timezone=settings.timezone, state=state)
        # the envelope a file was first read with stays its envelope when it grows
        ctx.state.setdefault("envelopes", detection.envelopes)
        report.envelopes = list(ctx.state["envelopes"])
        # the context of a chunk cut where its last event starts: whole events, parsed as a
        # file's end is (nothing held back; see _Lane.parser)
        whole_ctx = FileContext(path=spath, host=settings.host, timezone=settings.timezone, state=ctx.state)
        offset, line_no = start_offset, start_line
        # the event in progress at a chunk's end, read again with the next chunk, and
        # where each of its lines starts in the file
        carry: pl.DataFrame | None = None
        carry_offsets: list[int] = []
        # a plain file's last record may still be being written: it is stored, but the
        # file's progress stops where it starts, so that the next run reads it again
        # (whole, if the file grew meanwhile).  A .gz is never written in place.
        tail: _Tail | None = None
        committed = (start_offset, start_line - 1)  # the file's progress the store holds (byte, line)
        try:
            for chunk in files.read_ahead(
                files.iter_chunks(
                    path,
                    compressed=compressed,
                    start_offset=start_offset,
                    start_line=start_line,
                    chunk_bytes=self.chunk_bytes,
                    max_line_bytes=self.max_line_bytes,
                )
            ):
                frame = chunk.frame if carry is None else pl.concat([carry, chunk.frame])
                ctx.final = chunk.final and compressed
                # with parse threads to spare, a chunk is cut where its last event starts (the
                # family says where without parsing) and parsed beside the next one
                cutter = family if lane.parser is not None and not ctx.final and _can_cut(family, ctx) else None
                cut = cutter is not None
                parsed: Parsed | Future[Parsed] = Parsed()
                if cutter is not None:
                    try:
                        pending = cutter.last_event_start(frame, ctx)
                    except Exception:  # a bug there must not lose lines: parse it whole, here
                        cut = False
                if not cut:
                    parsed = done = _safe_parse(family, frame, ctx)
                    pending = done.pending_from if not ctx.final else None
                if chunk.final and not compressed and pending is None and chunk.ends_inside_a_line:
                    pending = int(chunk.frame["line_no"][-1])  # a line without its newline yet
                whole = frame  # the lines of whole events
                if pending is None:
                    carry, carry_offsets = None, []
                else:
                    pending_offsets = _offsets_from(chunk, carry, carry_offsets, pending)
                    carry, carry_offsets = frame.filter(pl.col("line_no") >= pending), pending_offsets
                    if cut:
                        whole = frame.filter(pl.col("line_no") < pending)
                    else:
                        parsed = _drop_from(done, pending)
                if cut:
                    assert lane.parser is not None
                    parsed = lane.parser.submit(_safe_parse, family, whole, whole_ctx) if whole.height else Parsed()
                self._stage_async(target, parsed)
                if chunk.final and carry is not None:  # the tail: see above
                    tail = _Tail(carry_offsets[0], pending or 0, chunk.end_offset, copy.deepcopy(ctx.state))
                    tail_parsed = _safe_parse(family, carry, _final(ctx))
                    tail.count(tail_parsed)
                    self._stage_async(target, tail_parsed)
                    carry = None
                if chunk.replaced_chars:
                    _warn_once(report, "invalid UTF-8 bytes were replaced by U+FFFD")
                if chunk.nul_lines:
                    _warn_once(report, "NUL bytes were replaced by U+FFFD")
                if chunk.truncated:
                    _warn_once(
                        report,
                        f"lines longer than {self.max_line_bytes:,} bytes were stored cut to that length and "
                        "marked '…[truncated: N bytes]' (N: the whole length; --max-line-bytes sets the limit)",
                    )
                report.bytes += chunk.end_offset - chunk.start_offset
                report.lines += chunk.frame.height
                segment_bytes += chunk.end_offset - chunk.start_offset
                offset, line_no = chunk.end_offset, line_no + chunk.frame.height
                self.on_progress(chunk.end_offset - chunk.start_offset, path.name)
                stopping = self.stop.requested and not chunk.final  # a safe point: between chunks
                if (segment_bytes >= self.segment_bytes or stopping) and not chunk.final:
                    # the rows staged so far end where the event in progress starts
                    seg_offset, seg_line = (
                        (carry_offsets[0], int(carry["line_no"][0]))
                        if carry is not None
                        else (
                            offset,
                            line_no,
                        )
                    )
                    if seg_offset > committed[0]:
                        self._commit_async(
                            report,
                            partial(files_row, seg_offset, seg_line - 1, copy.deepcopy(ctx.state), partial=True),
                            target.replacing,
                        )
                        # only the first commit of a re-read file removes its old rows
                        target, segment_bytes = target.next_segment(), 0
                        committed = (seg_offset, seg_line - 1)
                if stopping:
                    # what is staged after the last commit is rolled back when the writer closes
                    kept = committed[0] if (committed[0] > start_offset or not restart) else None
                    with self._lock:
                        self._stopped.append((report, kept, committed[1], stat.st_size, compressed))
                    return
        except (OSError, EOFError, zlib.error) as exc:
            # keep what was read; say where and why reading stopped
            self._drain_staging()
            if carry is not None:  # the event in progress when the damage came: keep it
                self._stage(target, _safe_parse(family, carry, _final(ctx)))
                carry = None
            stopped = pl.DataFrame(
                {"line_no": [line_no], "reason": [f"reading stopped: {exc}"], "raw": [None]},
                schema=REJECT_SCHEMA,
            )
            self._stage(target, Parsed(rejects=stopped))
            report.read_errors += 1
            report.warnings.append(f"reading stopped at line {line_no}: {exc}")

        def last_row() -> dict[str, Any]:
            if report.lines != report.accounted:
                report.warnings.append(
                    f"line accounting mismatch: {report.lines} read, {report.accounted} accounted for"
                )
            return files_row(
                tail.offset if tail else offset,
                (tail.line if tail else line_no) - 1,
                tail.state if tail else ctx.state,
                tail=tail,
            )

        self._commit_async(report, last_row, target.replacing)

    def _stage_async(self, target: _Target, parsed: Parsed | Future[Parsed]) -> None:
        """Stage a parsed chunk in the staging thread while the next chunk parses."""
        self._queue(self._stage, target, parsed)

    def _commit_async(self, report: FileReport, files_row: Callable[[], dict[str, Any]], replacing: Replacing) -> None:
        """Commit a file, or a segment of it, once its staged chunks are counted: the
        staging thread makes its bookkeeping row (``files_row()``) after them and hands
        it to the writer, while the main thread goes on with the next chunk or file.
        (Waiting for the staging thread at each file's end and segment boundary cost
        about 6% of a 1 GiB ingest.)"""

        writer = self._lane().writer  # (commit() runs in the staging thread)

        def commit() -> None:
            writer.commit(report, files_row(), replacing)

        # A commit holds no rows, so it need not wait for room: waiting kept the parser
        # idle at each file's end while the writer inserted the file's last chunks
        # (about 90 ms of one core per 40 MB file), where it could start the next file.
        self._queue(commit, wait_for_room=False)

    def _queue(self, job: Callable[..., None], *args: Any, wait_for_room: bool = True) -> None:
        """Run ``job`` in the staging thread after the jobs queued before it.

        Jobs run in order (one thread), so a file's chunks reach the writer before its
        commit and before the next file's chunks.  At most ``STAGING_AHEAD`` jobs that
        hold rows wait (a job queued without ``wait_for_room`` holds none), so memory
        stays bounded.
        """
        lane = self._lane()
        while wait_for_room and len(lane.staging_jobs) >= lane.staging_ahead:
            lane.staging_jobs.popleft().result()
        lane.staging_jobs.append(lane.stager.submit(job, *args))

    def _drain_staging(self) -> None:
        self._lane().drain()

    def _stage(self, target: _Target, parsed: Parsed | Future[Parsed]) -> None:
        """Redact, count and hand a parsed chunk's rows to the writer (once it is parsed)."""
        import polars as pl

        from pipeline.ingest.redact import redact_columns
        from pipeline.ingest.writer import storable_events

        if isinstance(parsed, Future):
            parsed = parsed.result()
        report = target.report
        staged: dict[str, pl.DataFrame] = {}
        events = parsed.events
        if events.height:
            # event_id, host and file are the same for the whole file: the insert adds its number
            events = redact_columns(events, ["message", "raw"], mask_column="raw")
            implausible = events.select(
                ((pl.col("ts") < PLAUSIBLE_FROM) | (pl.col("ts") > _now() + dt.timedelta(days=2))).sum()
            ).item()
            if implausible:
                _warn_once(report, f"{implausible} events have implausible timestamps (before 2000 or in the future)")
            report.folded += int(events["n_lines"].sum())
            staged["events"] = storable_events(events.drop("n_lines"))
            report.events += events.height
        if parsed.latency.height:
            staged["latency"] = redact_columns(parsed.latency, ["target"])
            report.latency += parsed.latency.height
        if parsed.metrics.height:
            staged["metrics"] = redact_columns(parsed.metrics, ["name"])
            report.metrics += parsed.metrics.height
        if parsed.rejects.height:
            staged["rejects"] = redact_columns(parsed.rejects, ["raw"])
            report.rejects += parsed.rejects.height
        report.skipped += parsed.skipped
        for warning in parsed.warnings:
            _warn_once(report, warning)
        assert target.lane is not None  # made by _ingest_file
        for table, rows in staged.items():
            target.lane.writer.insert(report, table, rows, target.shared, target.replacing)

    def _files_row(
        self,
        path: Path,
        stat: os.stat_result,
        compressed: bool,
        settings: FileSettings,
        fmt: str,
        offset: int,
        lines_done: int,
        state: dict[str, Any],
        stored: dict[str, Any] | None,
        *,
        restart: bool = True,
        report: FileReport | None = None,
        partial: bool = False,
        tail: _Tail | None = None,
    ) -> dict[str, Any]:
        """The file's bookkeeping row.  ``partial``: a segment that does not end the
        file; the next run resumes after it (a compressed file, which cannot be
        resumed by offset, is recorded with size -1 so it is read again).  ``tail``:
        the last record, stored but read again next time (``offset`` is its start)."""
        head_len = min(stat.st_size, files.HEAD_BYTES)
        base = stored if (stored is not None and not restart) else None
        # the rows of the earlier run's tail were removed (the file was read again from there)
        base_tail: dict[str, int] = json.loads(base["tail"]) if base and base.get("tail") else {}

        def prev(key: str) -> int:
            count: int = base[key] - base_tail.get(key, 0) if base else 0
            return count

        return {
            "path": stored_path(path),
            "format": fmt,
            "host": settings.host,
            "timezone": settings.timezone,
            "compressed": compressed,
            "size": -1 if (partial and compressed) else stat.st_size,
            "mtime": stat.st_mtime,
            "head_len": head_len,
            "head_md5": _safe_head_md5(path, head_len) or "",
            "bytes_done": offset,
            "lines_done": lines_done,
            "events": prev("events") + (report.events if report else 0),
            "rejects": prev("rejects") + (report.rejects if report else 0),
            "latency": prev("latency") + (report.latency if report else 0),
            "metrics": prev("metrics") + (report.metrics if report else 0),
            "state": json.dumps(state, sort_keys=True, default=str),
            "ingested_at": _now(),
            "tail": json.dumps(tail.bookkeeping()) if tail else None,
        }

    def _correlate(self) -> dict[str, Any] | None:
        """Rebuild incidents, unless neither the data nor the effective thresholds changed
        since the last correlation (by this command or by ``pipeline correlate``).  A stop
        request interrupts DuckDB's query (from another thread: DuckDB's own way to
        cancel); the rebuild's transaction is then rolled back and the next run redoes it."""
        from pipeline.correlate import rebuild  # a later stage: imported when used

        self.stop.reclaim_handlers()
        # the [correlate] thresholds of --config, else of ./pipeline.toml, as `pipeline correlate`
        settings = correlate_settings(self.config_path)
        with store_mod.opened(self.db, wait_s=self.lock_wait_s, on_wait=self.on_message) as con:
            done = threading.Event()

            def interrupt_on_stop() -> None:
                while not done.wait(0.05):
                    if self.stop.requested:  # again and again: a query may start after the first
                        con.interrupt()

            watcher = threading.Thread(target=interrupt_on_stop, name="pipeline-stop-watch", daemon=True)
            if self.stop.active:
                watcher.start()
            try:
                return rebuild(con, settings)
            except Exception:
                if not self.stop.requested:
                    raise
                return None  # interrupted: rolled back, the next run rebuilds
            finally:
                done.set()
                if watcher.is_alive():
                    watcher.join()


@dataclass
class _Target:
    """Where a file's staged rows go: the file's report, the values its rows share,
    and whether its transaction must first remove the rows of an earlier read."""

    report: FileReport
    shared: dict[str, Any]
    replacing: Replacing
    lane: _Lane | None = None  # the lane the file is read through

    def next_segment(self) -> _Target:
        return _Target(self.report, self.shared, KEEPING, lane=self.lane)


class _Lane:
    """What one thread reads its files through, one file after another: a staging thread
    (redaction, counting) and a store writer with a connection of its own.  Lanes write
    to the store at once, each in its own transactions (DuckDB takes appends from
    several transactions to one table; see pipeline.ingest.writer)."""

    def __init__(
        self,
        db: Path,
        lock_wait_s: float,
        on_message: Callable[[str], None],
        lanes: int,
        store_ready: StoreCreation = StoreCreation.DONE,
        parse_threads: int = 1,
    ):
        self.stager = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-stager")
        self.staging_jobs: deque[Future[None]] = deque()
        # cores no other lane uses parse a file's chunks side by side (see Ingest._read_files)
        self.parser = (
            ThreadPoolExecutor(max_workers=parse_threads, thread_name_prefix="pipeline-parse")
            if parse_threads > 1
            else None
        )
        # a staged chunk waits for its parse: as many wait as parse at once
        self.staging_ahead = max(STAGING_AHEAD, parse_threads)
        self.writer = StoreWriter(
            db,
            lock_wait_s=lock_wait_s,
            on_message=on_message,
            on_failure=_write_failed,
            lanes=lanes,
            before_open=store_ready.wait,
        )

    def drain(self) -> None:
        while self.staging_jobs:
            self.staging_jobs.popleft().result()  # re-raises a staging error here

    def finish(self) -> None:
        self.drain()
        self.writer.finish()

    def close(self) -> None:
        self.stager.shutdown(wait=True)
        if self.parser is not None:
            self.parser.shutdown(wait=True)
        self.writer.finish()


# Parse threads one file may get when the run reads fewer files than it has lanes.  A file
# has one store writer, which takes about 0.35 CPU-s per 40 MB of application log, and its
# parse about 0.26: past two or three parse threads the writer holds the file back, and
# each thread holds a chunk or two in memory.
MAX_PARSE_THREADS = 4
MIN_LANE_CHUNK = 1024 * 1024
MIN_LANE_SEGMENT = 8 * 1024 * 1024  # not much smaller: see SEGMENT_BYTES on what each commit costs
# A lane keeps about two cores busy by itself: its parse thread, DuckDB's insert in its
# writer thread, its reader and staging threads, and the threads polars and DuckDB start
# for their own work.  Measured on 2 cores: one 800 MB file took 11.5 s with 1.8 cores
# busy, the same bytes as four files in two lanes 11.8 s.  A second lane on those two
# cores made no run faster (8 files, 190 MB: 7.07 s either way; the 200 MB tree 4.95
# against 4.92 s) but held 150-230 MB more (its transaction and chunks in flight), and
# its parser waited for the GIL behind the first's.
CORES_PER_LANE = 2
MAX_LANES = 8  # beyond that the store's writers, not the parsers, hold a run back


def default_jobs() -> int:
    """The cores a run uses: every core this process may use (up to what MAX_LANES fill)."""
    return min(cores.available(), MAX_LANES * CORES_PER_LANE)


def lanes_for(n_cores: int) -> int:
    """Files read at once on ``n_cores`` cores: one lane for every two."""
    return max(1, min(MAX_LANES, -(-n_cores // CORES_PER_LANE)))


@dataclass
class _Tail:
    """A plain file's last record, stored, but read again next run (it may still be
    being written): where it starts, how far the file was read, the parser state
    before it, and the rows it gave (taken off the file's counts when it is re-read)."""

    offset: int
    line: int
    read_to: int
    state: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)

    def count(self, parsed: Parsed) -> None:
        self.rows = {
            "events": parsed.events.height,
            "rejects": parsed.rejects.height,
            "latency": parsed.latency.height,
            "metrics": parsed.metrics.height,
        }

    def bookkeeping(self) -> dict[str, int]:
        return {"read_to": self.read_to, **self.rows}


@dataclass
class _ReadPlan:
    """What to read of a file this run: nothing, from an offset (appended, resumed), or
    everything again."""

    status: str
    start_offset: int = 0
    start_line: int = 1
    restart: bool = False  # earlier rows of the file go
    trim_from: int | None = None  # earlier rows from this line go (the tail read again)
    state: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None


def _plan_read(
    stored: dict[str, Any] | None,
    stat: os.stat_result,
    compressed: bool,
    path: Path,
    id_prefixes: list[str],
    settings: FileSettings,
) -> _ReadPlan:
    if stored is None:
        return _ReadPlan("new")
    if stored["format"] == "unknown":
        return _ReadPlan("restarted", restart=True)
    if stored["timezone"] != settings.timezone:
        return _ReadPlan(
            "restarted",
            restart=True,
            warning=f"time zone changed from {stored['timezone']!r}: read again (its times change)",
        )
    if stored.get("id_prefixes") and not set(stored["id_prefixes"]) & set(id_prefixes):
        # stored by a version that named events by the file's path: read again once
        return _ReadPlan("restarted", restart=True)
    same_head = stat.st_size >= stored["head_len"] and _safe_head_md5(path, stored["head_len"]) == stored["head_md5"]
    if not same_head:
        return _ReadPlan("restarted", restart=True)
    tail = json.loads(stored["tail"]) if stored.get("tail") else None
    if compressed:  # read whole each time it changes (size -1: an earlier run stopped inside it)
        return _ReadPlan("unchanged") if stat.st_size == stored["size"] else _ReadPlan("restarted", restart=True)
    read_to = tail["read_to"] if tail else stored["bytes_done"]
    if stat.st_size == read_to:
        return _ReadPlan("unchanged")
    if stat.st_size < read_to:  # shorter than what was read: rewritten in place
        return _ReadPlan("restarted", restart=True)
    grew = tail is not None or stat.st_size != stored["size"]
    if read_to < files.SNIFF_BYTES:
        # the format, envelope and layout were chosen from fewer lines than a file this
        # size shows now: choose again, from the start, as a first read of it would
        return _ReadPlan("appended" if grew else "resumed", restart=True)
    return _ReadPlan(
        "appended" if grew else "resumed",
        start_offset=stored["bytes_done"],
        start_line=stored["lines_done"] + 1,
        trim_from=stored["lines_done"] + 1 if tail else None,
        state=json.loads(stored["state"] or "{}"),
    )


def _offsets_from(chunk: files.Chunk, carry: pl.DataFrame | None, carry_offsets: list[int], line_no: int) -> list[int]:
    """Where each line from ``line_no`` to the chunk's end starts in the file: lines of
    the chunk are found in its bytes, those of the carry (lines before the chunk) were
    found when it was made."""
    if chunk.frame.height and line_no >= chunk.first_line:
        return chunk.offsets_from(line_no)
    assert carry is not None and carry.height  # line_no is before the chunk: it is in the carry
    before = carry_offsets[line_no - int(carry["line_no"][0]) :]
    return before + (chunk.offsets_from(chunk.first_line) if chunk.frame.height else [])


def _write_failed(report: FileReport, error: str) -> None:
    # DuckDB's messages go on with blank lines and advice: the first line says what failed
    first = error.strip().splitlines()
    report.status, report.error = "error", first[0] if first else error


def _short_path(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def stored_path(path: str | Path) -> str:
    """The name a file has in the store and in every output: its real path, with a secret
    in any of its parts masked part by part (a folder named ``password=...`` keeps the
    files below it apart).  Names without a secret, nearly all, are left as they are."""
    from pipeline.ingest.redact import redact_text

    text = str(path)
    if redact_text(text) == text:
        return text
    # part by part, so the parts after a masked one stay; what spans parts (a URL's
    # credentials) on the whole
    by_part = "/".join(redact_text(part) for part in text.split("/"))
    return by_part if by_part != text else redact_text(text)


def _event_id_prefixes(path: Path, head: bytes, scope: str | None = None) -> list[str]:
    """The event id prefixes a file may take, most to least portable (the store takes
    the first no other file has: :func:`pipeline.store.choose_id_prefix`).  An event is
    ``<12 hex digits>:<line_no>``; the digits come from the file's name and its first
    line, not from where it sits, so the same logs get the same event and incident
    ids in any folder, clone or mount; the file's folder name and then its whole path
    tell apart files whose name and first line are the same.  A ``scope`` (the machine,
    when several write one collection) is mixed into all three."""
    first_line = head.split(b"\n", 1)[0][: files.HEAD_BYTES]
    name = path.name.encode("utf-8", errors="surrogateescape")
    folder = path.parent.name.encode("utf-8", errors="surrogateescape")
    whole = stored_path(path).encode("utf-8", errors="surrogateescape")
    keys = [name + b"\n" + first_line, folder + b"/" + name + b"\n" + first_line, whole]
    if scope is not None:
        keys = [scope.encode("utf-8", errors="surrogateescape") + b"\0" + key for key in keys]
    return [hashlib.md5(key).hexdigest()[:12] + ":" for key in keys]


def _safe_head_md5(path: Path, length: int) -> str | None:
    try:
        return files.head_md5(path, length)
    except OSError:
        return None


def _safe_parse(family: LogFamily, frame: pl.DataFrame, ctx: FileContext) -> Parsed:
    """The chunk's envelope removed and its payload parsed by the family.  A parser bug
    must not lose lines: the whole chunk then becomes rejects with the error."""
    import polars as pl

    from pipeline.ingest import envelopes
    from pipeline.ingest.families.base import Parsed

    try:
        return envelopes.parse(family, frame, ctx)
    except Exception as exc:
        return Parsed(
            rejects=frame.select(
                "line_no",
                pl.lit(f"parser {family.name} failed: {type(exc).__name__}: {exc}").alias("reason"),
                pl.col("line").alias("raw"),
            )
        )


def _can_cut(family: LogFamily, ctx: FileContext) -> TypeGuard[CutsAtEventStarts]:
    """Whether ``family`` can say where the events of a chunk start without parsing it, and
    its parses of chunks cut there may run side by side (see CutsAtEventStarts)."""
    from pipeline.ingest.families.base import CutsAtEventStarts

    return isinstance(family, CutsAtEventStarts) and family.can_cut(ctx)


def _final(ctx: FileContext) -> FileContext:
    ctx.final = True
    return ctx


def _drop_from(parsed: Parsed, line_no: int) -> Parsed:
    import polars as pl

    from pipeline.ingest.families.base import Parsed

    keep = pl.col("line_no") < line_no
    return Parsed(
        events=parsed.events.filter(keep),
        latency=parsed.latency.filter(keep),
        metrics=parsed.metrics.filter(keep),
        rejects=parsed.rejects.filter(keep),
        skipped=parsed.skipped,
        warnings=parsed.warnings,
    )


def _warn_once(report: FileReport, message: str) -> None:
    if message not in report.warnings:
        report.warnings.append(message)


def ingest_paths(paths: Iterable[str | Path], db: str | Path | None = None, **kwargs: Any) -> IngestSummary:
    """Ingest files and folders into the store at ``db`` (see :class:`Ingest`)."""
    correlate = kwargs.pop("correlate", True)
    return Ingest(store_mod.resolve_db_path(db), **kwargs).run(list(paths), correlate=correlate)


__all__ = ["STOP", "FileReport", "Ingest", "IngestInterrupted", "IngestSummary", "StopRequest", "ingest_paths"]
