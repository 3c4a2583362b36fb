"""Hand-made stores for tests and benchmarks.

``StoreBuilder`` appends rows to a store's events/latency/metrics tables with
sensible defaults, so a rule can be tested on a dozen lines; ``fill_synthetic``
generates a large store in SQL (``range()``) for timing correlation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import duckdb

from pipeline import store as store_mod

T0 = datetime(2026, 11, 20, 2, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


class StoreBuilder:
    def __init__(self, con: duckdb.DuckDBPyConnection, app_host: str = "web-1", db_host: str = "db-1") -> None:
        self.con = con
        self.app_host = app_host
        self.db_host = db_host
        self.events: list[tuple[Any, ...]] = []
        self.latency: list[tuple[Any, ...]] = []
        self.metrics: list[tuple[Any, ...]] = []
        self._line: dict[str, int] = {}

    def _next_line(self, file: str) -> int:
        self._line[file] = self._line.get(file, 0) + 1
        return self._line[file]

    def event(
        self,
        t: float,
        source: str,
        kind: str,
        *,
        host: str | None = None,
        code: int | None = None,
        conn: str | None = None,
        message: str | None = None,
        raw: str | None = None,
        file: str | None = None,
        level: str = "ERROR",
    ) -> Self:
        host = host or (self.db_host if source in ("mysql", "postgres") else self.app_host)
        file = (
            file
            or {
                "app": f"/logs/{host}/app.log",
                "sqlalchemy": f"/logs/{host}/pool.log",
                "mysql": f"/logs/{host}/mariadb.err",
                "postgres": f"/logs/{host}/postgresql.log",
            }[source]
        )
        line_no = self._next_line(file)
        message = message or kind
        event_id = hashlib.md5(file.encode()).hexdigest()[:12] + f":{line_no}"  # as ingest names them
        self.events.append(
            (event_id, at(t), source, host, file, line_no, level, kind, code, conn, message, raw or message)
        )
        return self

    # client-side shorthands
    def app_error(
        self,
        t: float,
        kind: str,
        code: int | None = None,
        text: str = "",
        host: str | None = None,
        both_logs: bool = True,
    ) -> Self:
        msg = f"request failed: (pymysql.err.OperationalError) ({code}, '{text}')"
        raw = f"{msg}\nTraceback (most recent call last):\npymysql.err.OperationalError: ({code}, '{text}')"
        self.event(t, "app", kind, code=code, message=msg, raw=raw, host=host)
        if both_logs:
            h = host or self.app_host
            self.event(t, "app", kind, code=code, message=msg, raw=raw, host=h, file=f"/logs/{h}/app.jsonl")
        return self

    def pool(self, t: float, kind: str, conn: str, host: str | None = None) -> Self:
        text = {
            "checkout": "Connection {} checked out from pool",
            "checkin": "Connection {} being returned to pool",
            "invalidate": "Invalidate connection {} (reason: OperationalError:(2013, 'Lost connection'))",
            "pre_ping_fail": "Pool pre-ping on connection {} failed, will invalidate pool",
            "conn_open": "Created new connection {}",
        }.get(kind, kind + " {}")
        ref = f"<pymysql.connections.Connection object at {conn}>"
        return self.event(t, "sqlalchemy", kind, conn=ref, message=text.format(ref), host=host, level="DEBUG")

    def server(self, t: float, kind: str, message: str) -> Self:
        return self.event(t, "mysql", kind, message=message, level="Warning")

    def ping(self, t: float, rtt: float | None = None, target: str = "db-1", host: str | None = None) -> Self:
        host = host or self.app_host
        file = f"/logs/{host}/ping.log"
        self.latency.append((at(t), host, target, rtt, rtt is None, file, self._next_line(file)))
        return self

    def metric(self, t: float, name: str, value: float, host: str | None = None) -> Self:
        host = host or self.db_host
        file = f"/logs/{host}/status.log"
        self.metrics.append((at(t), host, name, float(value), file, self._next_line(file)))
        return self

    def flush(self) -> Self:
        if self.events:
            store_mod.insert_event_rows(self.con, self.events)
        if self.latency:
            self.con.executemany("INSERT INTO latency VALUES (?, ?, ?, ?, ?, ?, ?)", self.latency)
        if self.metrics:
            self.con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", self.metrics)
        self.events, self.latency, self.metrics = [], [], []
        return self


def fill_synthetic(
    con: duckdb.DuckDBPyConnection, n_events: int = 10_000_000, hosts: int = 8, seed_every: int = 600
) -> None:
    """A large store in SQL: pool traffic on ``hosts`` app hosts, with a drop burst every
    ``seed_every`` seconds, server aborts, one latency sample per second and metrics every 10 s."""
    store_mod.insert_events(
        con,
        f"""
        SELECT 'syn:' || i AS event_id,
               TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_microseconds((i // {hosts}) * 50000) AS ts,
               CASE WHEN i % 997 = 0 THEN 'mysql' WHEN i % 13 = 0 THEN 'app' ELSE 'sqlalchemy' END AS source,
               CASE WHEN i % 997 = 0 THEN 'db-1' ELSE 'web-' || (i % {hosts}) END AS host,
               CASE WHEN i % 997 = 0 THEN '/syn/db-1/mariadb.err' WHEN i % 13 = 0 THEN '/syn/web-' || (i % {hosts}) || '/app.log'
                    ELSE '/syn/web-' || (i % {hosts}) || '/pool.log' END AS file,
               i AS line_no,
               'DEBUG' AS level,
               CASE
                   WHEN i % 997 = 0 THEN CASE WHEN (i // {hosts}) * 0.05 % {seed_every} < 60
                                              THEN 'aborted_connection' ELSE 'other' END
                   WHEN i % 13 = 0 THEN CASE WHEN (i // {hosts}) * 0.05 % {seed_every} < 30
                                             THEN (['server_gone', 'lost_connection', 'too_many_connections',
                                                    'pool_timeout'])[1 + (i // 13) % 4] ELSE 'other' END
                   WHEN i % 2 = 0 THEN 'checkout' ELSE 'checkin'
               END AS kind,
               NULL AS error_code,
               '<pymysql.connections.Connection object at 0x7f' || ((i // 2) % 5000) || '>' AS conn_ref,
               'synthetic line ' || i AS message,
               'synthetic line ' || i AS raw
        FROM range({n_events}) t(i)
        """,
    )
    seconds = int(n_events // hosts * 0.05)
    con.execute(
        f"""
        INSERT INTO latency
        SELECT TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(s), 'web-0', 'db-1',
               CASE WHEN s % 7919 = 0 THEN NULL WHEN s % {seed_every} < 30 THEN 250.0 ELSE 0.5 + (s % 10) / 10 END,
               s % 7919 = 0, '/syn/web-0/ping.log', s + 1
        FROM range({seconds}) t(s)
        """
    )
    con.execute(
        f"""
        INSERT INTO metrics
        SELECT TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(s * 10), 'db-1', n.name,
               CASE n.name WHEN 'threads_connected' THEN 20 + s % 50 WHEN 'max_connections' THEN 151
                           ELSE s * 10 END,
               '/syn/db-1/status.log', s * 3 + n.k
        FROM range({seconds // 10}) t(s),
             (VALUES ('threads_connected', 0), ('max_connections', 1), ('uptime', 2)) n(name, k)
        """
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m pipeline.correlate.synthetic STORE [N_EVENTS]``: fill a store, then time correlation."""
    import sys
    import time
    from pathlib import Path

    from pipeline import store
    from pipeline.correlate import correlate_store

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: python -m pipeline.correlate.synthetic STORE [N_EVENTS]")
    path, n = Path(args[0]), int(float(args[1])) if len(args) > 1 else 10_000_000
    if not path.exists():
        with store.opened(path) as con:
            t = time.perf_counter()
            fill_synthetic(con, n)
            print(f"generated {n:,} events in {time.perf_counter() - t:.1f} s")
    with store.opened(path) as con:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM latency), (SELECT count(*) FROM metrics)"
        ).fetchone()
        assert counts is not None  # a SELECT without FROM returns one row
        result = correlate_store(con)
    print(f"store: {counts[0]:,} events, {counts[1]:,} latency samples, {counts[2]:,} metrics")
    print(f"correlated: {result['incidents']} incidents in {result['seconds']:.2f} s")


if __name__ == "__main__":
    main()
