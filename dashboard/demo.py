"""A synthetic store for trying the dashboard and for its tests.

``make_store(path, events=N)`` writes a store with every table filled:
two application hosts and one MySQL server over six hours (or longer when
``events`` is large), pool traffic, latency probes, status snapshots, four
incidents with evidence, a few rejected lines.  Rows are generated in SQL
with ``range()``, so a 10-million-event store takes seconds.

    python -m dashboard.demo /tmp/demo.duckdb [--events 10000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from pipeline import store as store_mod

START = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)

INCIDENTS = [
    # id, offset (s), duration (s), cause, confidence, hosts, errors, summary, advice, kind, code, message
    (
        "inc-idle-0001",
        3600,
        40,
        "idle_timeout",
        0.86,
        ["app-1"],
        6,
        "Connections idle 300-320 s failed on first use; none idle 240 s or less did: "
        "something closes idle connections after about 5 minutes (wait_timeout=300?).",
        [
            "Set pool_recycle below the idle limit (e.g. pool_recycle=240).",
            "Enable pool_pre_ping=True so dead connections are replaced before use.",
        ],
        "server_gone",
        2006,
        "(pymysql.err.OperationalError) (2006, 'MySQL server has gone away')",
    ),
    (
        "inc-net-0002",
        9000,
        90,
        "network",
        0.74,
        ["app-1", "app-2"],
        14,
        "Round-trip time rose to 850 ms (baseline 1.2 ms) and 9 probes were lost while queries failed.",
        [
            "Check the network path between the application and the database (packet loss, MTU).",
            "Set connect_timeout and read_timeout so a stalled query fails fast and retries.",
        ],
        "lost_connection",
        2013,
        "(pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')",
    ),
    (
        "inc-maxc-0003",
        14400,
        120,
        "max_connections",
        0.91,
        ["app-2"],
        22,
        "threads_connected reached max_connections=151; the server refused new connections.",
        [
            "Lower pool_size + max_overflow across all application instances below max_connections.",
            "Or raise max_connections on the server.",
        ],
        "too_many_connections",
        1040,
        "(pymysql.err.OperationalError) (1040, 'Too many connections')",
    ),
    (
        "inc-rst-0004",
        18000,
        60,
        "server_restart",
        0.95,
        ["app-1", "app-2"],
        18,
        "The server shut down at 05:00:02 and was ready again at 05:00:48.",
        [
            "Retry on 2003/2013 with backoff around planned restarts.",
            "Use pool_pre_ping=True so connections from before the restart are replaced.",
        ],
        "cant_connect",
        2003,
        "(pymysql.err.OperationalError) (2003, \"Can't connect to MySQL server on 'db-1' ([Errno 111] Connection refused)\")",
    ),
]


def make_store(
    path: str | Path, *, events: int = 20_000, incidents: bool = True, span_hours: float | None = None
) -> Path:
    """Write a synthetic store at ``path`` (replacing one that is there)."""
    path = Path(path)
    for suffix in ("", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    span_s = int((span_hours or max(6.0, events / 20_000 * 6 / 10)) * 3600)
    span_s = max(span_s, 6 * 3600)
    n_pool = max(events * 9 // 10, 100)
    n_app = max(events - n_pool, 10)
    with store_mod.opened(path) as con:
        con.execute("SET threads = 2")
        # pool traffic: checkout/checkin pairs over 8 connections per host
        store_mod.insert_events(
            con,
            """
            SELECT substr(md5('pool:' || i::VARCHAR), 1, 16),
                   ?::TIMESTAMPTZ + to_microseconds((i * ?::DOUBLE * 1000000 / ?)::BIGINT),
                   'sqlalchemy', CASE WHEN i // 2 % 2 = 0 THEN 'app-1' ELSE 'app-2' END,
                   CASE WHEN i // 2 % 2 = 0 THEN '/logs/app-1/app.log' ELSE '/logs/app-2/app.log' END,
                   i + 1, 'DEBUG',
                   CASE WHEN i % 2 = 0 THEN 'checkout' ELSE 'checkin' END, NULL,
                   '<pymysql.connections.Connection object at 0x7f' || (i // 4 % 8)::VARCHAR || '>',
                   'Connection <pymysql.connections.Connection object at 0x7f' || (i // 4 % 8)::VARCHAR
                       || '> ' || CASE WHEN i % 2 = 0 THEN 'checked out from pool' ELSE 'being returned to pool' END,
                   NULL
            FROM range(?) t(i)
        """,
            [START, span_s, n_pool, n_pool],
        )
        # background application errors and noise
        store_mod.insert_events(
            con,
            """
            SELECT substr(md5('app:' || i::VARCHAR), 1, 16),
                   ?::TIMESTAMPTZ + to_microseconds((i * ?::DOUBLE * 1000000 / ?)::BIGINT),
                   'app', CASE WHEN i % 3 = 0 THEN 'app-2' ELSE 'app-1' END,
                   CASE WHEN i % 3 = 0 THEN '/logs/app-2/app.log' ELSE '/logs/app-1/app.log' END,
                   1000000 + i, CASE WHEN i % 50 = 0 THEN 'ERROR' ELSE 'INFO' END,
                   CASE WHEN i % 50 = 0 THEN 'query_error' ELSE 'other' END,
                   CASE WHEN i % 50 = 0 THEN 1205 END, NULL,
                   CASE WHEN i % 50 = 0 THEN '(1205, ''Lock wait timeout exceeded'')' ELSE 'request handled' END,
                   NULL
            FROM range(?) t(i)
        """,
            [START, span_s, n_app, n_app],
        )
        # latency every 5 s, normal ~1.2 ms with jitter
        n_lat = span_s // 5
        con.execute(
            """
            INSERT INTO latency
            SELECT ?::TIMESTAMPTZ + to_microseconds(i * 5 * 1000000), 'app-1', 'db-1:3306',
                   1.0 + (hash(i) % 500) / 1000.0, false, '/logs/probe/latency.csv', i + 2
            FROM range(?) t(i)
        """,
            [START, n_lat],
        )
        n_met = span_s // 30
        con.execute(
            """
            INSERT INTO metrics
            SELECT ?::TIMESTAMPTZ + to_microseconds(i * 30 * 1000000), 'db-1', 'threads_connected',
                   20 + (hash(i) % 15), '/logs/probe/status.tsv', i * 2 + 2
            FROM range(?) t(i)
            UNION ALL
            SELECT ?::TIMESTAMPTZ + to_microseconds(i * 30 * 1000000), 'db-1', 'max_connections',
                   151, '/logs/probe/status.tsv', i * 2 + 3
            FROM range(?) t(i)
        """,
            [START, n_met, START, n_met],
        )
        con.execute("""
            INSERT INTO rejects VALUES
              ('/logs/app-1/app.log', 17, 'no timestamp', 'garbled line without a timestamp'),
              ('/logs/app-1/app.log', 4242, 'no timestamp', '\\x00\\x00\\x00 binary junk'),
              ('/logs/app-1/app.log', 9000, 'timestamp out of range', '1970-01-01 00:00:00 boot message')
        """)
        if incidents:
            for inc in INCIDENTS:
                _incident(con, inc)
        _files(con, START + dt.timedelta(seconds=span_s))
        store_mod.touch_changed(con)
        con.execute("CHECKPOINT")
    return path


FILES = [
    ("/logs/app-1/app.log", "python_text", "app-1"),
    ("/logs/app-2/app.log", "python_json", "app-2"),
    ("/logs/db-1/error.log", "mysql_error", "db-1"),
    ("/logs/probe/latency.csv", "latency_csv", "app-1"),
    ("/logs/probe/status.tsv", "mysql_status", "db-1"),
]


def _files(con, ingested_at) -> None:
    for path, fmt, host in FILES:
        con.execute(
            """
            INSERT INTO files (path, format, host, timezone, compressed, size, mtime, head_len, head_md5,
                               bytes_done, lines_done, events, rejects, latency, metrics, state, ingested_at)
            SELECT ?, ?, ?, 'UTC', false, n * 120, 0, 4096, md5(?), n * 120, n,
                   (SELECT count(*) FROM events WHERE file = ?), (SELECT count(*) FROM rejects WHERE file = ?),
                   (SELECT count(*) FROM latency WHERE file = ?), (SELECT count(*) FROM metrics WHERE file = ?),
                   NULL, ?
            FROM (SELECT (SELECT count(*) FROM events WHERE file = ?) + (SELECT count(*) FROM latency WHERE file = ?)
                         + (SELECT count(*) FROM metrics WHERE file = ?) AS n)
        """,
            [path, fmt, host, path, path, path, path, path, ingested_at, path, path, path],
        )


def _incident(con, inc) -> None:
    (iid, offset, duration, cause, confidence, hosts, errors, summary, advice, kind, code, message) = inc
    t0 = START + dt.timedelta(seconds=offset)
    t1 = t0 + dt.timedelta(seconds=duration)
    ev = []
    for k in range(errors):
        ts = t0 + dt.timedelta(seconds=duration * k / max(errors - 1, 1))
        host = hosts[k % len(hosts)]
        raw = (
            f"{ts:%Y-%m-%d %H:%M:%S},{k:03d} ERROR app.db {message}\n"
            'Traceback (most recent call last):\n  File "app/db.py", line 42, in run\n'
            f"sqlalchemy.exc.OperationalError: {message}"
        )
        ev.append(
            (
                f"{iid}-e{k:03d}",
                ts,
                "app",
                host,
                f"/logs/{host}/app.log",
                500000 + offset + k,
                "ERROR",
                kind,
                code,
                None,
                f"ERROR app.db {message}",
                raw,
            )
        )
    if cause == "server_restart":
        ev.append(
            (
                f"{iid}-stop",
                t0 + dt.timedelta(seconds=2),
                "mysql",
                "db-1",
                "/logs/db-1/error.log",
                101,
                "System",
                "server_stop",
                None,
                None,
                "[MY-010910] [Server] /usr/sbin/mysqld: Shutdown complete",
                f"{t0 + dt.timedelta(seconds=2):%Y-%m-%dT%H:%M:%S}.000000Z 0 [System] [MY-010910] [Server] "
                "/usr/sbin/mysqld: Shutdown complete",
            )
        )
        ev.append(
            (
                f"{iid}-start",
                t0 + dt.timedelta(seconds=48),
                "mysql",
                "db-1",
                "/logs/db-1/error.log",
                140,
                "System",
                "server_start",
                None,
                None,
                "[MY-010931] [Server] /usr/sbin/mysqld: ready for connections.",
                f"{t0 + dt.timedelta(seconds=48):%Y-%m-%dT%H:%M:%S}.000000Z 0 [System] [MY-010931] [Server] "
                "/usr/sbin/mysqld: ready for connections. Version: '8.0.36'",
            )
        )
    if cause == "idle_timeout":
        for k in range(4):
            ts = t0 - dt.timedelta(seconds=1 + k)
            ev.append(
                (
                    f"{iid}-ab{k}",
                    ts,
                    "mysql",
                    "db-1",
                    "/logs/db-1/error.log",
                    50 + k,
                    "Note",
                    "aborted_connection",
                    None,
                    None,
                    f"Aborted connection {100 + k} to db: 'shop' user: 'app' host: '10.0.0.5' "
                    "(Got timeout reading communication packets)",
                    f"{ts:%Y-%m-%dT%H:%M:%S}.000000Z {100 + k} [Note] [MY-010914] [Server] Aborted connection "
                    f"{100 + k} to db: 'shop' user: 'app' host: '10.0.0.5' (Got timeout reading communication packets)",
                )
            )
            ev.append(
                (
                    f"{iid}-inv{k}",
                    t0 + dt.timedelta(seconds=k, milliseconds=5),
                    "sqlalchemy",
                    "app-1",
                    "/logs/app-1/app.log",
                    600000 + k,
                    "INFO",
                    "invalidate",
                    None,
                    f"<conn {k}>",
                    f"Invalidate connection <conn {k}> (reason: OperationalError:(2006, 'MySQL server has gone away'))",
                    None,
                )
            )
        # idle connections: those idle 300 s or more failed on checkout, shorter ones worked
        for k, idle in enumerate([300, 305, 310, 320, 90, 120, 180, 240, 60, 200]):
            ref = f"<conn {k}>"
            out_ts = t0 + dt.timedelta(seconds=k if k < 4 else -600 + 30 * k)
            for tag, ts, kind in (("in", out_ts - dt.timedelta(seconds=idle), "checkin"), ("out", out_ts, "checkout")):
                ev.append(
                    (
                        f"{iid}-{tag}{k}",
                        ts,
                        "sqlalchemy",
                        "app-1",
                        "/logs/app-1/app.log",
                        610000 + 2 * k + (tag == "out"),
                        "DEBUG",
                        kind,
                        None,
                        ref,
                        f"Connection {ref} {kind}",
                        None,
                    )
                )
    store_mod.insert_event_rows(con, ev)
    if cause == "network":
        con.execute(
            """
            UPDATE latency SET rtt_ms = CASE WHEN epoch(ts)::BIGINT % 3 = 0 THEN NULL ELSE 850 END,
                               lost = epoch(ts)::BIGINT % 3 = 0
            WHERE ts BETWEEN ? AND ?""",
            [t0 - dt.timedelta(seconds=20), t1],
        )
    if cause == "max_connections":
        con.execute(
            "UPDATE metrics SET value = 151 WHERE name = 'threads_connected' AND ts BETWEEN ? AND ?",
            [t0 - dt.timedelta(seconds=60), t1],
        )
    details = {"cause": cause}
    if cause == "idle_timeout":
        details["idle_limits"] = {
            "app-1": {"ok_max_s": 240.0, "fail_min_s": 300.0, "fail_max_s": 320.0, "failed_over": 4}
        }
    con.execute(
        "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            iid,
            t0,
            t1,
            cause,
            confidence,
            hosts,
            errors,
            summary,
            advice,
            json.dumps({cause: confidence, "unknown": 0.1}),
            json.dumps(details),
        ],
    )
    evid = []
    for seq, e in enumerate(ev[:8]):
        evid.append(
            (
                iid,
                seq,
                e[2],
                e[1],
                e[7],
                e[11] or e[10],
                {
                    "app": "the application lost its connection",
                    "mysql": "the server's side of it",
                    "sqlalchemy": "the pool threw the connection away",
                }[e[2]],
                e[0],
                e[4],
                e[5],
            )
        )
    if cause == "network":
        evid.append(
            (
                iid,
                len(evid),
                "latency",
                t0,
                None,
                f"{t0:%Y-%m-%d %H:%M:%S},850.0",
                "RTT 700x baseline",
                None,
                "/logs/probe/latency.csv",
                1,
            )
        )
    con.executemany("INSERT INTO incident_evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", evid)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--no-incidents", action="store_true")
    args = parser.parse_args(argv)
    make_store(args.path, events=args.events, incidents=not args.no_incidents)
    print(args.path)


if __name__ == "__main__":
    main()
