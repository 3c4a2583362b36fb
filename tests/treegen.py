"""A small but complete log tree for end-to-end tests: every family, some drops.

Deterministic: the same ``scale`` gives the same bytes.  Hosts are folders
(``web-1``, ``web-2``, ``db-1``), so no config is needed; the MariaDB log is in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

START = dt.datetime(2026, 11, 20, 10, 0, 0)
CONN = "<pymysql.connections.Connection object at 0x7f3a2c1d{:04x}>"


# A query whose connection was lost, as SQLAlchemy logs it over PyMySQL (after the ERROR line).
LOST_QUERY_TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/job.py", line 10, in run',
    "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')",
    "[SQL: SELECT 1]",
]


def _stamp(t: dt.datetime, sep: str = ",") -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") + f"{sep}{t.microsecond // 1000:03d}"


def _ticks(n: int, every_s: float):
    """(i, time) for ``n`` records ``every_s`` seconds apart from START."""
    return ((i, START + dt.timedelta(seconds=i * every_s)) for i in range(n))


def _text(lines) -> str:
    return "\n".join(lines) + "\n"


def app_log(n: int, *, drop_every: int = 97) -> str:
    out = []
    for i, t in _ticks(n, 0.5):
        if i % drop_every == drop_every - 1:
            out += [
                f"{_stamp(t)} - app.worker - ERROR - job {i} failed on mysql+pymysql://app:PLANTED_SECRET@db-1/app",
                *LOST_QUERY_TRACEBACK,
                "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
            ]
        else:
            out.append(f"{_stamp(t)} - app.web - INFO - GET /items/{i} 200 in {i % 300}ms")
    return _text(out)


def json_log(n: int) -> str:
    out = []
    for i, t in _ticks(n, 0.7):
        rec = {"timestamp": t.isoformat() + "Z", "level": "INFO", "logger": "app.api", "message": f"request {i}"}
        if i % 113 == 50:
            rec.update(
                level="ERROR",
                message="db error",
                exc_info='pymysql.err.OperationalError: (2006, "MySQL server has gone away")',
            )
        out.append(json.dumps(rec))
    return _text(out)


def pool_log(n: int) -> str:
    verbs = ("checked out from pool", "being returned to pool")
    return _text(
        f"{_stamp(t)} DEBUG sqlalchemy.pool.impl.QueuePool Connection {CONN.format(i % 5)} {verbs[i % 2]}"
        for i, t in _ticks(n, 0.4)
    )


def mariadb_log(n: int) -> str:
    return _text(
        f"{t:%Y-%m-%d} {t.hour:2d}:{t:%M:%S} {100 + i} [Warning] Aborted connection {100 + i} to db: 'app' "
        f"user: 'app' host: 'localhost' (Got timeout reading communication packets)"
        for i, t in _ticks(n, 3)
    )


def latency_csv(n: int) -> str:
    out = ["timestamp,target,rtt_ms"]
    for i, t in _ticks(n, 1):
        rtt = "" if i % 251 == 0 else f"{0.3 + (i % 7) * 0.05:.3f}"
        out.append(f"{t.isoformat()}.000000Z,tcp:db-1:3306,{rtt}")
    return _text(out)


def status_tsv(n: int) -> str:
    out = []
    for i, t in _ticks(n, 10):
        out += [
            f"# {t.isoformat()}.000000Z",
            "Variable_name\tValue",
            f"Threads_connected\t{5 + i % 3}",
            "max_connections\t151",
            f"Uptime\t{1000 + i * 10}",
            "wait_timeout\t28800",
            "",
        ]
    return _text(out)


def make_tree(root: Path, scale: int = 1) -> Path:
    (root / "web-1").mkdir(parents=True, exist_ok=True)
    (root / "web-2").mkdir(exist_ok=True)
    (root / "db-1").mkdir(exist_ok=True)
    (root / "web-1" / "app.log").write_text(app_log(4000 * scale))
    (root / "web-1" / "sqlalchemy.log").write_text(pool_log(3000 * scale))
    (root / "web-2" / "app.jsonl").write_text(json_log(3000 * scale))
    (root / "web-2" / "app.log").write_text(app_log(3000 * scale, drop_every=61))
    (root / "db-1" / "mariadb-error.log").write_text(mariadb_log(500 * scale))
    (root / "web-1" / "latency.csv").write_text(latency_csv(2000 * scale))
    (root / "db-1" / "status.tsv").write_text(status_tsv(200 * scale))
    return root
