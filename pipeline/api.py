"""The Python API over a store: what notebooks, the dashboard and the digest use.

::

    from pipeline import Store

    store = Store.open("pipeline.duckdb")              # read-only by default
    store.incidents(since="24h", cause="idle_timeout")  # polars DataFrame
    inc = store.incident("20250101-120000-ab12cd")      # or store.incident() for the latest
    inc.cause, inc.confidence, inc.summary, inc.advice, inc.evidence
    inc.events(window="10m")                             # every source around the incident
    inc.latency(); inc.metrics(); inc.idle_times()       # the evidence series
    store.sql("SELECT kind, count(*) AS n FROM events WHERE host = ? GROUP BY kind", ["web-1"])

Two rules shape this module:

* **No connection is kept.**  DuckDB lets one process write a file and, while
  it does, no other process may open it.  Every method here opens the store,
  runs one query, fetches the result into polars and closes again (retrying
  while an ingest holds the file; see :mod:`pipeline.store`).  So an ingest in
  another process can commit between two notebook cells or dashboard reruns.
* **Aggregate in DuckDB, bind every value.**  The time-series methods
  (:meth:`Store.event_counts`, :meth:`Store.latency`, :meth:`Store.metrics`)
  bucket in SQL so that a chart gets at most about ``max_points`` buckets
  whatever the size of the store; user input reaches SQL only as bound
  parameters.

Times are returned as timezone-aware UTC datetimes.  Arguments that take a time
(``since``, ``until``, ``start``, ``end``) accept a ``datetime`` (naive means
UTC), an ISO 8601 string, or a duration such as ``"24h"``, ``"90m"``, ``"7d"``
meaning that long before now.  Window arguments take a duration or a
``timedelta``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from pipeline import store as store_mod
from pipeline.causes.idle_timeout import IdleTimeoutDetails
from pipeline.correlate.details import IncidentDetails
from pipeline.kinds import CLIENT_DROP_KINDS, CLIENT_SOURCES
from pipeline.timeparse import parse_duration, parse_time

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "BUCKETS",
    "Incident",
    "IncidentNotFound",
    "Store",
    "StoreError",
    "choose_bucket",
    "parse_duration",
    "parse_time",
]

StoreError = store_mod.StoreError

UTC = dt.UTC

# Bucket widths the time-series methods choose from, smallest first.
BUCKETS: tuple[dt.timedelta, ...] = tuple(
    dt.timedelta(seconds=s)
    for s in (
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        10800,
        21600,
        43200,
        86400,
        2 * 86400,
        7 * 86400,
        30 * 86400,
    )
)

# Default number of points a time series may return.
_ISO = "%Y-%m-%dT%H:%M:%S.%gZ"  # times as text: UTC, milliseconds
MAX_POINTS = 2000

# A client drop this soon after a checkout on the same host marks the checkout failed.
DROP_AFTER_CHECKOUT_S = 5.0


class IncidentNotFound(StoreError):
    """No incident has that id (or the id prefix is ambiguous)."""


# --------------------------------------------------------------------------- helpers


def _utc(value: Any) -> dt.datetime:
    """A timestamp read from the store, as an aware UTC datetime."""
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


def choose_bucket(start: dt.datetime, end: dt.datetime, max_points: int = MAX_POINTS) -> dt.timedelta:
    """The smallest of :data:`BUCKETS` giving at most ``max_points`` buckets over [start, end]."""
    span = max((end - start).total_seconds(), 0.0)
    for bucket in BUCKETS:
        if span / bucket.total_seconds() <= max_points:
            return bucket
    # longer than max_points months: whole multiples of the largest bucket
    largest = BUCKETS[-1].total_seconds()
    return dt.timedelta(seconds=largest * math.ceil(span / largest / max_points))


# Buckets are computed on epoch microseconds, ``make_timestamptz((epoch_us(ts) // w) * w)``,
# rather than with ``time_bucket``: integer arithmetic is about twice as fast on TIMESTAMPTZ
# (no time zone calendar work), which matters on a 10-million-event store.  Buckets are
# aligned to the Unix epoch, so daily buckets start at midnight UTC.


def _bucket_us(bucket: str | float | dt.timedelta) -> int:
    us = round(parse_duration(bucket).total_seconds() * 1e6)
    if us <= 0:
        raise ValueError("bucket must be positive")
    return us


def _list(values: str | Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _polars(rel: duckdb.DuckDBPyRelation | None) -> pl.DataFrame:
    """A query's result as a polars frame (empty for a statement without a result)."""
    if rel is None:
        return pl.DataFrame()
    try:
        frame: pl.DataFrame = rel.pl()  # duckdb types pl() as Any
    except Exception:  # types polars cannot import directly (intervals)
        return pl.from_pandas(rel.df())
    return frame


def _bucket_sql(column: str) -> str:
    """The start of the bucket ``column`` falls in; binds the bucket width (``_bucket_us``) twice."""
    return f"make_timestamptz((epoch_us({column}) // ?::BIGINT) * ?::BIGINT)"


class _Where:
    """WHERE clauses with their bound parameters, added only for given filters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def values(self, column: str, values: Sequence[str] | None) -> None:
        if values is not None:
            self.add(f"list_contains(?::VARCHAR[], {column})", list(values))

    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _incidents_where(
    since: Any = None,
    until: Any = None,
    cause: str | Sequence[str] | None = None,
    hosts: str | Sequence[str] | None = None,
) -> _Where:
    """Incidents overlapping [since, until] of these causes, on any of these hosts."""
    w = _Where()
    if since is not None:
        w.add("end_ts >= ?", parse_time(since))
    if until is not None:
        w.add("start_ts <= ?", parse_time(until))
    w.values("cause", _list(cause))
    if hosts is not None:
        w.add("len(list_intersect(hosts, ?::VARCHAR[])) > 0", _list(hosts))
    return w


# --------------------------------------------------------------------------- Store


class Store:
    """A store file, opened only for the moment each query runs.

    Build with :meth:`Store.open`.  Every method returns a polars DataFrame (call
    ``.to_pandas()`` for pandas) or plain Python values, and holds no DuckDB
    connection afterwards.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = True, wait_s: float = store_mod.DEFAULT_LOCK_WAIT_S
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.wait_s = wait_s

    # -- opening ------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = True,
        wait_s: float = store_mod.DEFAULT_LOCK_WAIT_S,
    ) -> Store:
        """Check the store at ``path`` (default ``$PIPELINE_DB``, else ``./pipeline.duckdb``).

        Read-only (the default) requires the file to exist with a readable
        schema; ``read_only=False`` creates it if needed and applies migrations,
        for scripts that write.  Waits up to ``wait_s`` seconds while another
        process holds the file.  Raises :class:`StoreError` otherwise.
        """
        store = cls(store_mod.resolve_db_path(path), read_only=read_only, wait_s=wait_s)
        with store.connection() as con:
            store_mod.require_tables(
                con, store.path, {"events", "latency", "metrics", "incidents", "incident_evidence", "meta"}
            )
        return store

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Store({str(self.path)!r}, {mode})"

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived DuckDB connection with the session time zone set to UTC.

        Close it quickly (use it in a ``with`` block): while it is open, an
        ingest in another process cannot write.
        """
        with store_mod.opened(self.path, read_only=self.read_only, wait_s=self.wait_s) as con:
            con.execute("SET TimeZone = 'UTC'")
            yield con

    def _frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        with self.connection() as con:
            return _polars(con.sql(sql, params=list(params) if params else None))

    def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connection() as con:
            return con.execute(sql, list(params) if params else []).fetchall()

    # -- general ------------------------------------------------------------

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run any SQL and return its result as a DataFrame.

        Pass values as ``params`` (``?`` placeholders, or ``$name`` with a dict),
        never by formatting them into the query.  On a read-only store only reads
        are possible.  Mind the size: this returns every row.
        """
        with self.connection() as con:
            if isinstance(params, Mapping):
                return _polars(con.sql(query, params=dict(params)))
            return _polars(con.sql(query, params=list(params) if params else None))

    def last_change(self) -> str | None:
        """When ingest or correlation last committed (meta ``last_change``); a cache key."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'last_change'")
        return rows[0][0] if rows else None

    def span(self) -> tuple[dt.datetime, dt.datetime] | None:
        """First and last timestamp over events, latency and metrics; None when empty."""
        rows = self._rows(
            """
            SELECT min(lo), max(hi) FROM (
                SELECT min(ts) AS lo, max(ts) AS hi FROM events
                UNION ALL SELECT min(ts), max(ts) FROM latency
                UNION ALL SELECT min(ts), max(ts) FROM metrics
            )
            """
        )
        lo, hi = rows[0]
        if lo is None:
            return None
        return _utc(lo), _utc(hi)

    def hosts(self) -> list[str]:
        """Every host seen in events, latency or metrics."""
        rows = self._rows(
            """
            SELECT DISTINCT host FROM (
                SELECT DISTINCT host FROM events UNION SELECT DISTINCT host FROM latency
                UNION SELECT DISTINCT host FROM metrics
            ) WHERE host IS NOT NULL ORDER BY host
            """
        )
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        names = ("events", "latency", "metrics", "rejects", "files", "incidents")
        rows = self._rows(" UNION ALL ".join(f"SELECT '{n}', count(*) FROM {n}" for n in names))
        return {name: int(n) for name, n in rows}

    def _range(self, start: Any, end: Any) -> tuple[dt.datetime, dt.datetime]:
        """[start, end] with missing ends taken from the store's span."""
        start, end = parse_time(start), parse_time(end)
        if start is None or end is None:
            span = self.span()
            if span is None:
                now = dt.datetime.now(UTC)
                span = (now - dt.timedelta(hours=1), now)
            start = start or span[0]
            end = end or span[1]
        if end < start:
            start, end = end, start
        return start, end

    # -- incidents ----------------------------------------------------------

    def incidents(
        self,
        since: Any = None,
        until: Any = None,
        *,
        cause: str | Sequence[str] | None = None,
        hosts: str | Sequence[str] | None = None,
        min_confidence: float | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Incidents overlapping [since, until], newest first.

        Columns: incident_id, start_ts, end_ts, duration_s, cause, confidence,
        hosts (list), errors, summary, advice (list), scores and details (JSON
        text).  ``cause`` and ``hosts`` filter (one value or several; an incident
        matches when any of its hosts is listed).
        """
        w = _incidents_where(since, until, cause, hosts)
        if min_confidence is not None:
            w.add("confidence >= ?", float(min_confidence))
        sql = f"""
            SELECT incident_id, start_ts, end_ts,
                   epoch_ms(end_ts) / 1000.0 - epoch_ms(start_ts) / 1000.0 AS duration_s,
                   cause, confidence, hosts, errors, summary, advice, scores, details
            FROM incidents {w.sql()}
            ORDER BY start_ts DESC, incident_id
        """
        params = w.params
        if limit is not None:
            sql += " LIMIT ?"
            params = params + [int(limit)]
        return self._frame(sql, params)

    def incident_records(
        self,
        since: Any = None,
        until: Any = None,
        *,
        cause: str | Sequence[str] | None = None,
        hosts: str | Sequence[str] | None = None,
        incident_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Incidents as plain data, oldest first, each with its evidence lines: what
        ``pipeline incidents --format json`` and ``pipeline explain --json`` print.

        Keys: id, start, end (ISO-8601 UTC text), cause, confidence, hosts, errors, summary,
        scores, evidence (source, ts, kind, line, why, file, line_no), advice, details.
        """
        w = _incidents_where(since, until, cause, hosts)
        if incident_id is not None:
            w.add("incident_id = ?", incident_id)
        with self.connection() as con:
            cur = con.execute(
                f"""
                SELECT incident_id, strftime(timezone('UTC', start_ts), '{_ISO}'),
                       strftime(timezone('UTC', end_ts), '{_ISO}'), cause,
                       confidence, hosts, errors, summary, advice, scores, details
                FROM incidents {w.sql()}
                ORDER BY start_ts, incident_id
                """,
                w.params,
            )
            incidents = cur.fetchall()
            evidence: dict[str, list[dict[str, Any]]] = {}
            if incidents:
                for row in con.execute(
                    f"""
                    SELECT incident_id, source, strftime(timezone('UTC', ts), '{_ISO}'), kind, line, why, file, line_no
                    FROM incident_evidence WHERE incident_id IN (SELECT unnest(?::VARCHAR[]))
                    ORDER BY incident_id, seq
                    """,
                    [[r[0] for r in incidents]],
                ).fetchall():
                    keys = ("source", "ts", "kind", "line", "why", "file", "line_no")
                    evidence.setdefault(row[0], []).append(dict(zip(keys, row[1:])))
        return [
            {
                "id": iid,
                "start": start,
                "end": end,
                "cause": cause_,
                "confidence": confidence,
                "hosts": list(hosts_ or []),
                "errors": errors,
                "summary": summary,
                "scores": _json(scores),
                "evidence": evidence.get(iid, []),
                "advice": list(advice or []),
                # read back through the typed form, so every store's details print the same layout
                "details": IncidentDetails.from_json(details).as_dict(),
            }
            for iid, start, end, cause_, confidence, hosts_, errors, summary, advice, scores, details in incidents
        ]

    def incident_counts(
        self, since: Any = None, until: Any = None, *, bucket: str | dt.timedelta = "1d"
    ) -> pl.DataFrame:
        """Incidents per time bucket (default a day, by start time) and cause.

        Columns: day (bucket start, UTC), cause, n, errors.  The frame
        :func:`pipeline.charts.incidents_by_cause_chart` draws.
        """
        w = _incidents_where(since, until)
        return self._frame(
            f"""
            SELECT {_bucket_sql("start_ts")} AS day, cause,
                   count(*)::BIGINT AS n, sum(errors)::BIGINT AS errors
            FROM incidents {w.sql()}
            GROUP BY ALL ORDER BY day, cause
            """,
            [_bucket_us(bucket)] * 2 + w.params,
        )

    def incident_total(self) -> int:
        """How many incidents the store holds."""
        return int(self._rows("SELECT count(*) FROM incidents")[0][0])

    def latest_incident_id(self, cause: str | None = None) -> str | None:
        """The id of the most recent incident (optionally of one cause), or None."""
        w = _Where()
        if cause is not None:
            w.add("cause = ?", cause)
        rows = self._rows(
            f"SELECT incident_id FROM incidents {w.sql()} ORDER BY start_ts DESC, incident_id LIMIT 1",
            w.params,
        )
        return rows[0][0] if rows else None

    def incident(self, incident_id: str | None = None) -> Incident:
        """One incident with its evidence; the latest when ``incident_id`` is None.

        A unique prefix of an id is enough.  Raises :class:`IncidentNotFound`.
        """
        with self.connection() as con:
            if incident_id is None:
                rows = con.execute("SELECT * FROM incidents ORDER BY start_ts DESC, incident_id LIMIT 1").fetchall()
                if not rows:
                    raise IncidentNotFound(f"{self.path} has no incidents")
            else:
                incident_id = str(incident_id).strip()
                rows = con.execute("SELECT * FROM incidents WHERE incident_id = ?", [incident_id]).fetchall()
                if not rows:
                    rows = con.execute(
                        "SELECT * FROM incidents WHERE starts_with(incident_id, ?) ORDER BY incident_id LIMIT 2",
                        [incident_id],
                    ).fetchall()
                if not rows:
                    raise IncidentNotFound(f"no incident {incident_id!r} in {self.path}")
                if len(rows) > 1:
                    raise IncidentNotFound(
                        f"{incident_id!r} matches several incidents ({rows[0][0]}, {rows[1][0]}, ...)"
                    )
            columns = [d[0] for d in con.description]
            row = dict(zip(columns, rows[0]))
            evidence = con.sql(
                """
                SELECT seq, source, ts, kind, line, why, event_id, file, line_no
                FROM incident_evidence WHERE incident_id = ? ORDER BY seq
                """,
                params=[row["incident_id"]],
            ).pl()
        return Incident(
            store=self,
            incident_id=row["incident_id"],
            start=_utc(row["start_ts"]),
            end=_utc(row["end_ts"]),
            cause=row["cause"],
            confidence=float(row["confidence"]),
            hosts=list(row.get("hosts") or []),
            errors=int(row["errors"]),
            summary=row["summary"],
            advice=list(row.get("advice") or []),
            scores=_json(row.get("scores")),
            details=IncidentDetails.from_json(row.get("details")),
            evidence=evidence,
        )

    # -- time series (aggregated in DuckDB) ---------------------------------

    def event_counts(
        self,
        start: Any = None,
        end: Any = None,
        bucket: str | dt.timedelta | None = None,
        hosts: str | Sequence[str] | None = None,
        sources: str | Sequence[str] | None = None,
        kinds: str | Sequence[str] | None = None,
        *,
        max_points: int = MAX_POINTS,
    ) -> pl.DataFrame:
        """Events per time bucket, source and kind over [start, end].

        Columns: bucket (start, UTC), source, kind, n.  The bucket is chosen so
        at most ``max_points`` buckets cover the range unless given.  Missing
        ``start``/``end`` default to the store's span.
        """
        return self._per_bucket(
            "events",
            "source, kind",
            "count(*)::BIGINT AS n",
            self._range(start, end),
            bucket,
            max_points,
            {"host": hosts, "source": sources, "kind": kinds},
        )

    def latency(
        self,
        start: Any = None,
        end: Any = None,
        hosts: str | Sequence[str] | None = None,
        bucket: str | dt.timedelta | None = None,
        *,
        targets: str | Sequence[str] | None = None,
        max_points: int = MAX_POINTS,
    ) -> pl.DataFrame:
        """Latency probes per time bucket, host and target.

        Columns: bucket, host, target, samples, lost, rtt_min, rtt_median,
        rtt_max (milliseconds; null when every probe in the bucket was lost).
        """
        return self._per_bucket(
            "latency",
            "host, target",
            """count(*)::BIGINT AS samples,
               count(*) FILTER (WHERE lost)::BIGINT AS lost,
               min(rtt_ms) AS rtt_min, median(rtt_ms)::DOUBLE AS rtt_median, max(rtt_ms) AS rtt_max""",
            self._range(start, end),
            bucket,
            max_points,
            {"host": hosts, "target": targets},
        )

    def metrics(
        self,
        start: Any = None,
        end: Any = None,
        names: str | Sequence[str] | None = ("threads_connected", "max_connections"),
        hosts: str | Sequence[str] | None = None,
        bucket: str | dt.timedelta | None = None,
        *,
        max_points: int = MAX_POINTS,
    ) -> pl.DataFrame:
        """Server status values per time bucket, host and name.

        Columns: bucket, host, name, value (the bucket's maximum), value_min,
        value_last, samples.  ``names=None`` returns every metric.
        """
        return self._per_bucket(
            "metrics",
            "host, name",
            """max(value) AS value, min(value) AS value_min,
               arg_max(value, ts) AS value_last, count(*)::BIGINT AS samples""",
            self._range(start, end),
            bucket,
            max_points,
            {"name": names, "host": hosts},
        )

    def _per_bucket(
        self,
        table: str,
        keys: str,
        aggregates: str,
        span: tuple[dt.datetime, dt.datetime],
        bucket: str | dt.timedelta | None,
        max_points: int,
        filters: Mapping[str, str | Sequence[str] | None],
    ) -> pl.DataFrame:
        """The query behind event_counts, latency and metrics: ``aggregates`` of ``table``'s
        rows in ``span`` per time bucket and ``keys``, where each filter column holds one
        of the given values (None: any)."""
        start, end = span
        width = parse_duration(bucket) if bucket is not None else choose_bucket(start, end, max_points)
        w = _Where()
        w.add("ts >= ? AND ts <= ?", start, end)
        for column, values in filters.items():
            w.values(column, _list(values))
        return self._frame(
            f"""
            SELECT {_bucket_sql("ts")} AS bucket, {keys},
                   {aggregates}
            FROM {table} {w.sql()}
            GROUP BY ALL ORDER BY bucket, {keys}
            """,
            [_bucket_us(width)] * 2 + w.params,
        )

    def events(
        self,
        start: Any,
        end: Any,
        *,
        hosts: str | Sequence[str] | None = None,
        sources: str | Sequence[str] | None = None,
        kinds: str | Sequence[str] | None = None,
        limit: int = 10_000,
    ) -> pl.DataFrame:
        """Raw events in [start, end] (both required), oldest first, at most ``limit`` rows.

        Columns: ts, source, host, kind, level, error_code, conn_ref, message,
        file, line_no, event_id.
        """
        start, end = parse_time(start), parse_time(end)
        if start is None or end is None:
            raise ValueError("events() needs both start and end")
        w = _Where()
        w.add("ts >= ? AND ts <= ?", start, end)
        w.values("host", _list(hosts))
        w.values("source", _list(sources))
        w.values("kind", _list(kinds))
        return self._frame(
            f"""
            SELECT ts, source, host, kind, level, error_code, conn_ref, message, file, line_no, event_id
            FROM events {w.sql()}
            ORDER BY ts, file, line_no LIMIT ?
            """,
            w.params + [int(limit)],
        )

    def idle_times(
        self,
        start: Any,
        end: Any,
        *,
        hosts: str | Sequence[str] | None = None,
        lookback: str | dt.timedelta = "1d",
        drop_within_s: float = DROP_AFTER_CHECKOUT_S,
        limit: int = 50_000,
    ) -> pl.DataFrame:
        """How long each pooled connection sat idle before a checkout in [start, end].

        From SQLAlchemy pool events (``conn_ref`` is the DBAPI connection's
        repr): idle time = checkout time minus the previous checkin of the same
        connection on the same host, looked for up to ``lookback`` before
        ``start``; none when the connection was (re)created since.

        Columns: ts (the checkout), host, conn_ref, idle_s (null when unknown),
        checkin_ts, conn_failed (the connection's next pool event was a failed
        pre-ping or an invalidation), drop_followed (a client drop error on that
        host within ``drop_within_s`` seconds, before the connection was used
        again), failed (either), event_id, file, line_no.
        """
        start, end = parse_time(start), parse_time(end)
        if start is None or end is None:
            raise ValueError("idle_times() needs both start and end")
        lookback_start = start - parse_duration(lookback)
        until = end + dt.timedelta(seconds=drop_within_s) + dt.timedelta(minutes=5)
        host_list = _list(hosts)
        pool_where = _Where()
        pool_where.add("source = 'sqlalchemy' AND conn_ref IS NOT NULL")
        pool_where.add("kind IN ('checkout', 'checkin', 'invalidate', 'pre_ping_fail', 'conn_open', 'conn_close')")
        pool_where.add("ts >= ? AND ts <= ?", lookback_start, until)
        pool_where.values("host", host_list)
        drop_where = _Where()
        drop_where.values("source", list(CLIENT_SOURCES))
        drop_where.values("kind", list(CLIENT_DROP_KINDS))
        drop_where.add("host IS NOT NULL")
        drop_where.add("ts >= ? AND ts <= ?", start, until)
        drop_where.values("host", host_list)
        sql = f"""
            WITH p AS (
                SELECT host, conn_ref, ts, kind, event_id, file, line_no
                FROM events {pool_where.sql()}
            ), q AS (
                SELECT *,
                    last_value(CASE WHEN kind = 'checkin' THEN ts END IGNORE NULLS) OVER w_prev AS last_in,
                    last_value(CASE WHEN kind IN ('conn_open', 'conn_close', 'invalidate') THEN ts END IGNORE NULLS)
                        OVER w_prev AS last_new,
                    lead(kind) OVER w AS next_kind,
                    lead(ts) OVER w AS next_ts
                FROM p
                WINDOW w AS (PARTITION BY host, conn_ref ORDER BY ts, file, line_no),
                       w_prev AS (PARTITION BY host, conn_ref ORDER BY ts, file, line_no
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            ), c AS (
                SELECT ts, host, conn_ref, next_ts,
                       CASE WHEN last_in IS NOT NULL AND (last_new IS NULL OR last_in >= last_new)
                            THEN (epoch_us(ts) - epoch_us(last_in)) / 1e6 END AS idle_s,
                       CASE WHEN last_in IS NOT NULL AND (last_new IS NULL OR last_in >= last_new)
                            THEN last_in END AS checkin_ts,
                       coalesce(next_kind IN ('invalidate', 'pre_ping_fail'), false) AS conn_failed,
                       event_id, file, line_no
                FROM q WHERE kind = 'checkout' AND ts >= ? AND ts <= ?
            ), d AS (
                SELECT host, ts AS drop_ts FROM events {drop_where.sql()}
            )
            SELECT c.ts, c.host, c.conn_ref, c.idle_s, c.checkin_ts, c.conn_failed,
                   coalesce(d.drop_ts <= c.ts + to_microseconds(?::BIGINT)
                            AND (c.next_ts IS NULL OR d.drop_ts <= c.next_ts), false) AS drop_followed,
                   c.conn_failed OR coalesce(d.drop_ts <= c.ts + to_microseconds(?::BIGINT)
                            AND (c.next_ts IS NULL OR d.drop_ts <= c.next_ts), false) AS failed,
                   c.event_id, c.file, c.line_no
            FROM c ASOF LEFT JOIN d ON c.host = d.host AND d.drop_ts >= c.ts
            ORDER BY c.ts, c.host, c.conn_ref
            LIMIT ?
        """
        within_us = int(drop_within_s * 1e6)
        params = pool_where.params + [start, end] + drop_where.params + [within_us, within_us, int(limit)]
        return self._frame(sql, params)


# --------------------------------------------------------------------------- Incident


@dataclass(frozen=True)
class Incident:
    """One incident: the verdict, its evidence, and the series around it.

    The attributes are loaded once by :meth:`Store.incident`; the methods query
    the store again (briefly) each time they are called.
    """

    store: Store = field(repr=False)
    incident_id: str
    start: dt.datetime
    end: dt.datetime
    cause: str
    confidence: float
    hosts: list[str]
    errors: int
    summary: str
    advice: list[str]
    scores: dict[str, Any] = field(default_factory=dict, repr=False)
    details: IncidentDetails = field(default_factory=IncidentDetails, repr=False)
    evidence: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)
    """Evidence lines: seq, source, ts, kind, line, why, event_id, file, line_no."""

    # -- shape ---------------------------------------------------------------

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start

    def around(self, window: str | dt.timedelta = "10m") -> tuple[dt.datetime, dt.datetime]:
        """[start - window, end + window]."""
        w = parse_duration(window)
        return self.start - w, self.end + w

    def as_dict(self) -> dict[str, Any]:
        """The verdict as plain data (no evidence frame)."""
        return {
            "incident_id": self.incident_id,
            "start_ts": self.start,
            "end_ts": self.end,
            "cause": self.cause,
            "confidence": self.confidence,
            "hosts": list(self.hosts),
            "errors": self.errors,
            "summary": self.summary,
            "advice": list(self.advice),
            "scores": dict(self.scores),
            "details": self.details.as_dict(),
        }

    def _repr_markdown_(self) -> str:
        lines = [
            f"**Incident {self.incident_id}**: `{self.cause}` (confidence {self.confidence:.0%})",
            "",
            f"{self.start:%Y-%m-%d %H:%M:%S} to {self.end:%H:%M:%S} UTC, "
            f"{self.errors} errors on {', '.join(self.hosts) or 'unknown hosts'}",
            "",
            self.summary,
        ]
        return "\n".join(lines)

    # -- verdict details -------------------------------------------------------

    def ranked_causes(self) -> list[tuple[str, float]]:
        """(cause, score) for every scored cause, best first."""
        out = []
        for cause, value in self.scores.items():
            score: Any = value.get("score") if isinstance(value, Mapping) else value
            try:
                out.append((cause, float(score)))
            except (TypeError, ValueError):
                continue
        return sorted(out, key=lambda kv: -kv[1])

    def idle_limits(self) -> dict[str, dict[str, Any]]:
        """Per host, the idle limit correlation inferred (``ok_max_s``, ``fail_min_s``, ...).

        Empty when correlation inferred none.
        """
        idle = self.details.of(IdleTimeoutDetails)
        if idle.idle_limits:
            return {str(h): dict(v) for h, v in idle.idle_limits.items()}
        return {"*": dict(idle.idle_limit)} if idle.idle_limit else {}

    def limit_range(self, host: str | None = None) -> tuple[float | None, float] | None:
        """The inferred idle limit as (low, high) seconds: it lies between the two.

        From ``details`` (the longest idle that worked and the shortest that
        failed), else the server's ``wait_timeout`` if status snapshots carry it.
        None when neither is known.
        """
        limits = self.idle_limits()
        chosen = None
        if host is not None and host in limits:
            chosen = limits[host]
        elif limits:
            # the host with most failures over the limit
            chosen = max(limits.values(), key=lambda v: v.get("failed_over") or 0)
        if chosen:
            hi = chosen.get("fail_min_s", chosen.get("limit_s"))
            lo = chosen.get("ok_max_s")
            if hi is not None:
                return (None if lo is None else float(lo), float(hi))
        wt = self.wait_timeout()
        return None if wt is None else (wt, wt)

    def wait_timeout(self) -> float | None:
        """The server's ``wait_timeout`` in seconds: from ``details``, else the smallest
        ``wait_timeout`` status snapshot up to a day before the incident; None if unknown."""
        value = self.details.of(IdleTimeoutDetails).wait_timeout
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        wt = self.store.metrics(self.start - dt.timedelta(days=1), self.end, names=["wait_timeout"], bucket="1d")
        if wt.height:
            smallest: Any = wt["value_min"].drop_nulls().min()
            if smallest is not None and smallest > 0:
                return float(smallest)
        return None

    # -- series ----------------------------------------------------------------

    def events(
        self,
        window: str | dt.timedelta = "10m",
        *,
        sources: str | Sequence[str] | None = None,
        kinds: str | Sequence[str] | None = None,
        hosts: str | Sequence[str] | None = None,
        limit: int = 10_000,
    ) -> pl.DataFrame:
        """Every event (all sources and hosts unless filtered) from ``window`` before to ``window`` after."""
        start, end = self.around(window)
        return self.store.events(start, end, hosts=hosts, sources=sources, kinds=kinds, limit=limit)

    def event_counts(
        self, window: str | dt.timedelta = "10m", bucket: str | dt.timedelta | None = None, **kwargs: Any
    ) -> pl.DataFrame:
        """:meth:`Store.event_counts` around the incident."""
        start, end = self.around(window)
        return self.store.event_counts(start, end, bucket=bucket, **kwargs)

    def latency(
        self,
        window: str | dt.timedelta = "10m",
        bucket: str | dt.timedelta | None = None,
        *,
        hosts: str | Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """:meth:`Store.latency` around the incident (every host unless filtered)."""
        start, end = self.around(window)
        return self.store.latency(start, end, hosts=hosts, bucket=bucket)

    def metrics(
        self,
        window: str | dt.timedelta = "10m",
        names: str | Sequence[str] | None = ("threads_connected", "max_connections"),
        bucket: str | dt.timedelta | None = None,
        *,
        hosts: str | Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """:meth:`Store.metrics` around the incident; ``names=None`` for every metric."""
        start, end = self.around(window)
        return self.store.metrics(start, end, names=names, hosts=hosts, bucket=bucket)

    def idle_times(
        self,
        window: str | dt.timedelta = "1h",
        *,
        hosts: str | Sequence[str] | None = None,
        drop_within_s: float = DROP_AFTER_CHECKOUT_S,
    ) -> pl.DataFrame:
        """:meth:`Store.idle_times` for checkouts from ``window`` before to ``window`` after,
        on the incident's hosts unless given."""
        start, end = self.around(window)
        return self.store.idle_times(
            start, end, hosts=hosts if hosts is not None else (self.hosts or None), drop_within_s=drop_within_s
        )

    def timeline(self, window: str | dt.timedelta = "10m", **kwargs: Any) -> go.Figure:
        """The shared multi-lane timeline figure around this incident."""
        from pipeline import charts

        start, end = self.around(window)
        incidents = self.store.incidents(since=start, until=end)
        return charts.timeline(
            self.event_counts(window),
            self.latency(window),
            self.metrics(window),
            incidents,
            title=kwargs.pop("title", f"{self.incident_id}: {self.cause}"),
            **kwargs,
        )
