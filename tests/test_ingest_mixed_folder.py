"""One ``pipeline ingest`` over a folder holding an app log, a SQLAlchemy log, a MariaDB
error log (local time), ping output and a status dump; ``pipeline status --json``
shows every family with its time span."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import cli

UTC = dt.UTC


def epoch(*args) -> str:
    return f"{dt.datetime(*args, tzinfo=UTC).timestamp():.6f}"


def write_folder(root: Path) -> None:
    logs = root / "logs"
    (logs / "app-1").mkdir(parents=True)
    (logs / "db-1").mkdir(parents=True)
    (logs / "app-1" / "app.log").write_text(
        "2026-11-24 23:50:01,123 - app.db - INFO - request started\n"
        "2026-11-24 23:50:05,456 - app.db - ERROR - (pymysql.err.OperationalError) "
        "(2013, 'Lost connection to MySQL server during query')\n"
        "2026-11-24 23:51:00,000 - app.db - INFO - request done\n"
    )
    (logs / "app-1" / "sqlalchemy.log").write_text(
        "2026-11-24 23:50:00,100 DEBUG sqlalchemy.pool.impl.QueuePool Created new connection "
        "<pymysql.connections.Connection object at 0x7f00>\n"
        "2026-11-24 23:50:00,200 DEBUG sqlalchemy.pool.impl.QueuePool Connection "
        "<pymysql.connections.Connection object at 0x7f00> checked out from pool\n"
        "2026-11-24 23:50:05,500 INFO sqlalchemy.pool.impl.QueuePool Invalidate connection "
        "<pymysql.connections.Connection object at 0x7f00> (reason: OperationalError:(2013, "
        "'Lost connection to MySQL server during query'))\n"
    )
    # MariaDB writes local time without a zone; this server runs on Berlin time
    (logs / "db-1" / "mariadb.err").write_text(
        "2026-11-25  0:40:00 0 [Note] mariadbd: ready for connections.\n"
        "Version: '10.11.6-MariaDB-0+deb12u1'  socket: '/run/mysqld/mysqld.sock'  port: 3306  Debian 12\n"
        "2026-11-25  0:50:05 31 [Warning] Aborted connection 31 to db: 'app' user: 'app' host: 'localhost' "
        "(Got timeout reading communication packets)\n"
    )
    (logs / "db-1" / "pipeline.toml").write_text('[[files]]\nglob = "mariadb.err"\ntimezone = "Europe/Berlin"\n')
    (logs / "app-1" / "ping.txt").write_text(
        "PING db (10.0.0.5) 56(84) bytes of data.\n"
        f"[{epoch(2026, 11, 24, 23, 50, 1, 123456)}] 64 bytes from db (10.0.0.5): icmp_seq=1 ttl=64 time=0.412 ms\n"
        f"[{epoch(2026, 11, 24, 23, 50, 2, 123456)}] no answer yet for icmp_seq=2\n"
        f"[{epoch(2026, 11, 24, 23, 50, 3, 123457)}] 64 bytes from db (10.0.0.5): icmp_seq=3 ttl=64 time=912 ms\n"
    )
    (logs / "db-1" / "status.tsv").write_text(
        "# 2026-11-24T23:50:00.000000Z\nVariable_name\tValue\nThreads_connected\t5\nMax_connections\t151\n"
        "Have_ssl\tDISABLED\n\n"
        "# 2026-11-24T23:50:10.000000Z\nVariable_name\tValue\nThreads_connected\t7\nMax_connections\t151\n\n"
    )


@pytest.fixture
def ingested(tmp_path):
    write_folder(tmp_path)
    db = tmp_path / "store.duckdb"
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", "--db", str(db), "--json", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    return db, runner


def test_one_ingest_reads_every_family(ingested):
    db, runner = ingested
    result = runner.invoke(cli, ["status", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    formats = {row["format"]: row for row in status["formats"]}
    assert {"python_text", "mariadb", "ping", "status"} <= set(formats)
    for name in ("python_text", "mariadb", "ping", "status"):
        assert formats[name]["first"] and formats[name]["last"], name
    assert formats["mariadb"]["events"] == 2
    assert formats["mariadb"]["first"].startswith("2026-11-24T23:40:00")  # Berlin 00:40 -> 23:40 UTC
    assert formats["mariadb"]["last"].startswith("2026-11-24T23:50:05")
    assert formats["ping"]["latency"] == 3
    assert formats["ping"]["first"].startswith("2026-11-24T23:50:01.123456")
    assert formats["ping"]["last"].startswith("2026-11-24T23:50:03.123457")
    assert formats["status"]["metrics"] == 4
    assert formats["status"]["first"].startswith("2026-11-24T23:50:00")
    assert formats["status"]["last"].startswith("2026-11-24T23:50:10")
    assert not status["rejects"]
    by_file = {Path(f["path"]).name: f["format"] for f in status["files"]}
    assert by_file == {
        "app.log": "python_text",
        "sqlalchemy.log": "python_text",
        "mariadb.err": "mariadb",
        "ping.txt": "ping",
        "status.tsv": "status",
    }


def test_rows_land_in_their_tables(ingested):
    db, _ = ingested
    con = duckdb.connect(str(db), read_only=True)
    try:
        lost = con.execute("SELECT count(*) FROM latency WHERE lost AND rtt_ms IS NULL").fetchone()[0]
        assert lost == 1
        names = {r[0] for r in con.execute("SELECT DISTINCT name FROM metrics").fetchall()}
        assert names == {"threads_connected", "max_connections"}
        row = con.execute(
            "SELECT kind, conn_ref, level, source FROM events WHERE kind = 'aborted_connection'"
        ).fetchone()
        assert row == ("aborted_connection", "31", "WARNING", "mysql")
    finally:
        con.close()


def write_big_folder(root: Path) -> None:
    root.mkdir(parents=True)
    t0 = dt.datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    err = []
    for i in range(600):
        t = t0 + dt.timedelta(seconds=7 * i)
        stamp = f"{t:%Y-%m-%d} {t.hour:2d}:{t:%M:%S}"
        err.append(
            f"{stamp} {i} [Warning] Aborted connection {i} to db: 'app' user: 'app' host: '10.0.0.5' "
            "(Got an error reading communication packets)"
        )
        if i % 50 == 0:
            err.append(f"{stamp} 0 [ERROR] mariadbd got signal 11 ;")
            err += ["Server version: 10.11.6-MariaDB", "", "Thread pointer: 0x0", "Attempting backtrace."]
            err.append(f"{stamp} 0 [Note] mariadbd: ready for connections.")
            err.append("Version: '10.11.6-MariaDB'  socket: '/run/mysqld/mysqld.sock'  port: 3306  Debian 12")
    (root / "mariadb.err").write_text("\n".join(err) + "\n")
    ping = ["2026-11-24T20:00:00Z", "PING db (10.0.0.5) 56(84) bytes of data."]
    for seq in range(1, 1500):
        ping.append(
            f"64 bytes from db (10.0.0.5): icmp_seq={seq} ttl=64 time={seq % 97 / 10:.1f} ms"
            if seq % 13
            else f"no answer yet for icmp_seq={seq}"
        )
    (root / "ping.txt").write_text("\n".join(ping) + "\n")
    status = []
    for k in range(200):
        status += [
            f"# {t0 + dt.timedelta(seconds=10 * k):%Y-%m-%dT%H:%M:%S.000000Z}",
            "Variable_name\tValue",
            f"Threads_connected\t{k % 40}",
            "Max_connections\t151",
            f"Uptime\t{1000 + 10 * k}",
            "",
        ]
    (root / "status.tsv").write_text("\n".join(status) + "\n")


def test_chunk_size_does_not_change_what_is_stored(tmp_path):
    from pipeline.ingest.runner import ingest_paths

    write_big_folder(tmp_path / "logs")
    dumps = []
    for chunk in (4096, 1 << 24):
        db = tmp_path / f"store-{chunk}.duckdb"
        ingest_paths([tmp_path / "logs"], db, chunk_bytes=chunk)
        con = duckdb.connect(str(db), read_only=True)
        try:
            dumps.append(
                (
                    con.execute(
                        "SELECT ts, kind, level, conn_ref, message, raw FROM events ORDER BY file, line_no"
                    ).fetchall(),
                    con.execute("SELECT ts, target, rtt_ms, lost, line_no FROM latency ORDER BY line_no").fetchall(),
                    con.execute("SELECT ts, name, value, line_no FROM metrics ORDER BY line_no").fetchall(),
                    con.execute("SELECT count(*) FROM rejects").fetchone(),
                )
            )
        finally:
            con.close()
    small, whole = dumps
    assert small == whole
    events, latency, metrics, rejects = whole
    assert len(events) == 600 + 12 * 2 and rejects == (0,)
    assert len(latency) == 1499 and sum(1 for r in latency if r[3]) == 1499 // 13
    # no -D stamps: the last probe (icmp_seq 1499) sits 1498 s after the start line
    last = latency[-1][0]
    last = last.replace(tzinfo=UTC) if last.tzinfo is None else last.astimezone(UTC)
    assert last == dt.datetime(2026, 11, 24, 20, 24, 58, tzinfo=UTC)
    assert len(metrics) == 600
