"""Cached reads for the dashboard.

Every loader goes through :class:`pipeline.api.Store` (read-only, a short open
per query, aggregation in DuckDB) and is cached with ``st.cache_data`` keyed on
the store path and its *version*: the size and modification time of the
database file and its WAL.  Any commit by ``pipeline ingest`` or correlation
changes the version, so the next rerun reads fresh data; reruns in between are
served from the cache without opening the store at all.  The cache is shared by
every visitor, so only the first view of a new version pays for the queries.

Light loaders (:func:`meta`, :func:`incidents`, :func:`incident`) feed the
summary a page draws first; the series behind the charts (:func:`overview`,
:func:`incident_series`, :func:`incident_idle`) are loaded after it.

While an ingest holds the store, an open waits at most ``READ_WAIT_S``; then
:class:`Busy` is raised and the app shows the data of the last version it read.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import streamlit as st

from pipeline import health as health_mod
from pipeline import store as store_mod
from pipeline.api import DROP_AFTER_CHECKOUT_S, IncidentNotFound, Store, choose_bucket, parse_time

# How long one read waits for a committing ingest before the app falls back to cached data.
READ_WAIT_S = 4.0
# Buckets on the overview timeline: enough for a smooth chart, few enough to stay light.
OVERVIEW_POINTS = 400
INCIDENT_POINTS = 300
# Idle times around an incident: at least this much on each side, so the limit has points on both sides.
IDLE_WINDOW = dt.timedelta(minutes=3)

# What the dashboard's "server" source means in the events table.
SERVER_SOURCES = ("mysql", "postgres")


class Busy(store_mod.StoreBusy):
    """The store stayed locked by a writer for longer than ``READ_WAIT_S``."""


def db_path() -> Path:
    """The store: ``-- --db FILE`` on the streamlit command line, else $PIPELINE_DB, else the default."""
    import sys

    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--db" and i + 1 < len(argv):
            return Path(argv[i + 1]).expanduser().resolve()
        if arg.startswith("--db="):
            return Path(arg.split("=", 1)[1]).expanduser().resolve()
    return store_mod.resolve_db_path(None).expanduser().resolve()


def version(db: Path) -> tuple:
    """What changes whenever the store's content changes (no open needed)."""
    if db.is_dir():  # a Parquet export or collection
        from pipeline import parquet_store

        return parquet_store.version(db)
    sig = []
    for path in (db, Path(str(db) + ".wal")):
        try:
            stat = os.stat(path)
            sig.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


_wait_s: contextvars.ContextVar[float] = contextvars.ContextVar("wait_s", default=READ_WAIT_S)


@contextlib.contextmanager
def quick_reads(wait_s: float = 0.3):
    """Loaders called inside this block give up on a locked store almost at once."""
    token = _wait_s.set(wait_s)
    try:
        yield
    finally:
        _wait_s.reset(token)


def _store(db: str) -> Store:
    return Store(db, read_only=True, wait_s=_wait_s.get())


def _guard(fn):
    """Turn a lock timeout into :class:`Busy` (not cached: the next rerun tries again)."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except store_mod.StoreBusy as exc:
            raise Busy(str(exc)) from exc

    wrapper.__wrapped__ = fn
    return wrapper


# --------------------------------------------------------------------------- loaders
# The first two arguments of every loader are (db, ver); ver only keys the cache.


@_guard
@st.cache_data(show_spinner=False, max_entries=16)
def meta(db: str, ver: tuple) -> dict:
    """What the filters need: span, hosts, counts, sources present (one open, one pass over events)."""
    store = _store(db)
    with store.connection() as con:
        store_mod.require_tables(
            con, db, {"events", "latency", "metrics", "incidents", "incident_evidence", "files", "meta"}
        )
        per_source = con.execute("""
            SELECT source, host, count(*) FROM events GROUP BY ALL
            UNION ALL SELECT 'latency', host, count(*) FROM latency GROUP BY ALL
            UNION ALL SELECT 'metrics', host, count(*) FROM metrics GROUP BY ALL
        """).fetchall()
        # min/max of a column come from DuckDB's statistics: no scan
        span = con.execute("""
            SELECT min(lo), max(hi) FROM (
                SELECT min(ts) AS lo, max(ts) AS hi FROM events
                UNION ALL SELECT min(ts), max(ts) FROM latency
                UNION ALL SELECT min(ts), max(ts) FROM metrics)
        """).fetchone()
        incident_hosts = [r[0] for r in con.execute("SELECT DISTINCT unnest(hosts) FROM incidents").fetchall()]
        counts = dict(
            con.execute("""
            SELECT 'incidents', count(*) FROM incidents UNION ALL SELECT 'files', count(*) FROM files
            UNION ALL SELECT 'rejects', count(*) FROM rejects""").fetchall()
        )
        last_change = con.execute("SELECT value FROM meta WHERE key = 'last_change'").fetchone()
    span = (parse_time(span[0]), parse_time(span[1])) if span and span[0] is not None else None
    counts.update({"events": 0, "latency": 0, "metrics": 0})
    for source, _, n in per_source:
        key = source if source in ("latency", "metrics") else "events"
        counts[key] += n
    sources = {"server" if r[0] in SERVER_SOURCES else r[0] for r in per_source if r[2]}
    hosts = {r[1] for r in per_source if r[1]} | {h for h in incident_hosts if h}
    return {
        "span": span,
        "hosts": sorted(hosts),
        "counts": counts,
        "sources": sorted(sources),
        "last_change": last_change[0] if last_change else None,
    }


def _event_sources(sources: tuple[str, ...]) -> list[str] | None:
    if not sources:
        return None
    out = []
    for s in sources:
        out += list(SERVER_SOURCES) if s == "server" else [s]
    return out


@_guard
@st.cache_data(show_spinner=False, max_entries=64)
def overview(
    db: str, ver: tuple, start: dt.datetime, end: dt.datetime, hosts: tuple[str, ...], sources: tuple[str, ...]
) -> dict:
    """Bucketed series for the timeline (the incidents in range come from :func:`incidents`)."""
    store = _store(db)
    bucket = choose_bucket(start, end, OVERVIEW_POINTS)
    host_list = list(hosts) or None
    want = set(sources) or {"app", "sqlalchemy", "server", "latency", "metrics"}
    ev_sources = list(_event_sources(tuple(want & {"app", "sqlalchemy", "server"})) or [])
    # the three queries are independent: run them side by side (DuckDB releases the GIL)
    with ThreadPoolExecutor(max_workers=3) as pool:
        f_counts = pool.submit(_counts, store, start, end, bucket, host_list, ev_sources) if ev_sources else None
        f_latency = pool.submit(store.latency, start, end, host_list, bucket) if "latency" in want else None
        f_metrics = pool.submit(_metrics, store, start, end, host_list, bucket) if "metrics" in want else None
        counts = f_counts.result() if f_counts else None
        latency = f_latency.result() if f_latency else None
        metrics = f_metrics.result() if f_metrics else None
    return {"bucket": bucket, "counts": counts, "latency": latency, "metrics": metrics}


def _counts(store: Store, start, end, bucket, hosts, sources: list[str]) -> pl.DataFrame:
    """Event counts for the timeline (one pass); the app lane shows errors, not routine lines."""
    counts = store.event_counts(start, end, bucket=bucket, hosts=hosts, sources=sources)
    if counts.height:
        counts = counts.filter((pl.col("source") != "app") | (pl.col("kind") != "other"))
    return counts


def _metrics(store: Store, start, end, hosts, bucket) -> pl.DataFrame:
    """Connections against max_connections.  Status snapshots come from the server,
    whose host name rarely matches the application hosts, so a host filter that
    leaves nothing falls back to every host."""
    frame = store.metrics(start, end, hosts=hosts, bucket=bucket)
    if hosts and frame.height == 0:
        frame = store.metrics(start, end, bucket=bucket)
    return frame


@_guard
@st.cache_data(show_spinner=False, max_entries=64)
def incidents(
    db: str, ver: tuple, start: dt.datetime, end: dt.datetime, hosts: tuple[str, ...], causes: tuple[str, ...]
) -> pl.DataFrame:
    return _store(db).incidents(since=start, until=end, cause=list(causes) or None, hosts=list(hosts) or None)


@_guard
@st.cache_data(show_spinner=False, max_entries=64)
def incident(db: str, ver: tuple, incident_id: str) -> dict | None:
    """One incident's verdict and evidence lines (no series); None when there is no such incident."""
    try:
        inc = _store(db).incident(incident_id)
    except IncidentNotFound:
        return None
    return {"incident": inc.as_dict(), "evidence": inc.evidence}


@_guard
@st.cache_data(show_spinner=False, max_entries=64)
def incident_series(db: str, ver: tuple, incident_id: str, window_s: float) -> dict | None:
    """The series of the timeline and latency charts, ``window_s`` before and after the incident
    (and the incident, which the charts mark)."""
    store = _store(db)
    try:
        inc = store.incident(incident_id)
    except IncidentNotFound:
        return None
    window = dt.timedelta(seconds=window_s)
    start, end = inc.around(window)
    bucket = choose_bucket(start, end, INCIDENT_POINTS)
    return {
        "incident": inc.as_dict(),
        "window": (start, end),
        "bucket": bucket,
        "counts": _counts(store, start, end, bucket, None, ["app", "sqlalchemy", *SERVER_SOURCES]),
        "latency": inc.latency(window, bucket=bucket),
        "metrics": _metrics(store, start, end, None, bucket),
        "neighbours": store.incidents(since=start, until=end),
    }


@_guard
@st.cache_data(show_spinner=False, max_entries=64)
def incident_idle(db: str, ver: tuple, incident_id: str, window_s: float) -> dict | None:
    """Pooled checkouts around the incident (at least ``IDLE_WINDOW`` on each side) with their
    idle times, the idle limit correlation inferred from the failures (None when it inferred
    none) and the server's wait_timeout, kept apart: a wait_timeout is not an inferred limit."""
    try:
        inc = _store(db).incident(incident_id)
    except IncidentNotFound:
        return None
    window = max(dt.timedelta(seconds=window_s), IDLE_WINDOW)
    inferred = inc.limit_range() if inc.idle_limits() else None
    return {
        "window": inc.around(window),
        "idle": inc.idle_times(window=window),
        "limit": inferred,
        "wait_timeout": inc.wait_timeout(),
        "drop_within_s": DROP_AFTER_CHECKOUT_S,
    }


@_guard
@st.cache_data(show_spinner=False, max_entries=8)
def health(db: str, ver: tuple) -> dict:
    with _store(db).connection() as con:
        return health_mod.health_report(con)
