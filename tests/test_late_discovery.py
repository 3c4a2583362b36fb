"""The server logs an idle kill when the connection expires; the application finds out at its
next use, minutes or hours later.  The two logs describe one event, and the verdict must say
so.  And advice never asks for evidence the store already holds."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli

APP_ERRORS = """\
2026-11-20 10:45:00,000 INFO app: service started
2026-11-20 10:47:01,120 ERROR app.db: query failed: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')
2026-11-20 10:47:02,340 ERROR app.db: query failed: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')
2026-11-20 10:47:05,010 ERROR app.db: query failed: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')
2026-11-20 10:47:09,500 ERROR app.db: query failed: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')
2026-11-20 10:50:00,000 INFO app: heartbeat
"""
ABORT = (
    "2026-11-20 10:00:{s:02d} {n} [Warning] Aborted connection {n} to db: 'app' user: 'app' host: '10.0.0.5' "
    "(Got timeout reading communication packets)\n"
)


def incidents(tmp_path: Path, server_log: str) -> list[dict]:
    (tmp_path / "app-1").mkdir()
    (tmp_path / "db-1").mkdir()
    (tmp_path / "app-1" / "app.log").write_text(APP_ERRORS)
    (tmp_path / "db-1" / "mariadb-error.log").write_text(server_log)
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(tmp_path), "--db", db]).exit_code == 0
    listed = json.loads(runner.invoke(cli, ["incidents", "--db", db, "--format", "json"]).output)
    return [json.loads(runner.invoke(cli, ["explain", r["id"], "--db", db, "--json"]).output) for r in listed]


def test_idle_kills_logged_long_before_the_failures_are_their_cause(tmp_path):
    server = "2026-11-20  9:50:00 0 [Note] /usr/sbin/mariadbd: ready for connections.\n" + "".join(
        ABORT.format(s=s, n=n) for s, n in ((11, 31), (12, 32), (14, 33), (19, 34))
    )
    rows = incidents(tmp_path, server)
    # one incident, not a server-only one at 10:00 and an unknown one at 10:47
    assert [r["cause"] for r in rows] == ["idle_timeout"]
    inc = rows[0]
    assert inc["errors"] == 4
    assert "closed by the server (it logged the kills from 10:00:11, 47 min before" in inc["summary"]
    assert sum(e["source"] == "mysql" for e in inc["evidence"]) >= 3


def test_advice_never_asks_for_what_the_store_holds(tmp_path):
    server = "2026-11-20  9:50:00 0 [Note] /usr/sbin/mariadbd: ready for connections.\n"
    rows = incidents(tmp_path, server)
    assert [r["cause"] for r in rows] == ["unknown"]
    advice = " ".join(rows[0]["advice"])
    assert "In the store: the server's error log" in advice
    # what the server's log showed: its start, an hour before, outside the window, and why
    assert "Nearest server line (server_start, db-1, 2026-11-20T09:50:00Z" in advice
    assert "logged 57 min before the first failure: server lines count from lookback_seconds (30 s)" in advice
    missing = advice.split("Collect what is missing:", 1)[1]
    assert "the server's error log" not in missing
    assert "SQLAlchemy's pool log" in missing and "latency samples" in missing


def test_an_unknown_verdict_says_which_server_line_was_nearest_and_why_it_did_not_count(tmp_path):
    # a reset logged three hours before: no cause takes it, the advice says what it was
    server = (
        "2026-11-20  7:47:00 0 [Note] /usr/sbin/mariadbd: ready for connections.\n"
        "2026-11-20  7:47:05 9 [Warning] Aborted connection 9 to db: 'app' user: 'app' host: '10.0.0.5' "
        "(Got an error reading communication packets)\n"
    )
    rows = incidents(tmp_path, server)
    unknown = [r for r in rows if r["cause"] == "unknown"]
    assert len(unknown) == 1
    details = unknown[0]["details"]["nearest_unused"]
    assert details["server"]["kind"] == "aborted_connection"
    assert round(details["server"]["seconds_from_failures"]) == -10796  # 07:47:05 to 10:47:01.12
    advice = " ".join(unknown[0]["advice"])
    assert "logged 3.0 h before the first failure" in advice and "idle_lookback_seconds" in advice
