"""``pipeline correlate``, ``incidents`` and ``explain`` on a hand-made store."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from pipeline import store
from pipeline.cli import cli
from pipeline.correlate.synthetic import StoreBuilder


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.duckdb"
    with store.opened(path) as con:
        b = StoreBuilder(con)
        for t in range(0, 3600, 10):
            b.ping(t, 0.5)
        # a restart seen from web-1
        b.server(600, "server_stop", "/usr/sbin/mariadbd: Normal shutdown")
        b.server(630, "server_start", "/usr/sbin/mariadbd: ready for connections.")
        for i in range(3):
            b.app_error(
                605 + i * 5,
                "cant_connect",
                2003,
                "Can't connect to MySQL server on 'db' ([Errno 111] Connection refused)",
            )
        # 1040s on web-2 an hour later
        b.metric(2990, "max_connections", 100)
        b.metric(3000, "threads_connected", 100)
        for i in range(4):
            b.app_error(3000 + i, "too_many_connections", 1040, "Too many connections", host="web-2")
        b.flush()
    return path


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def test_correlate_then_list(db):
    r = run("correlate", "--db", db)
    assert r.exit_code == 0, r.output
    assert "2 incidents" in r.output
    r = run("correlate", "--db", db, "--json")
    assert json.loads(r.output)["by_cause"] == {"max_connections": 1, "server_restart": 1}

    r = run("incidents", "--db", db, "--format", "json")
    rows = json.loads(r.output)
    assert [x["cause"] for x in rows] == ["server_restart", "max_connections"]
    first = rows[0]
    for key in ("id", "start", "end", "cause", "confidence", "hosts", "errors", "summary", "evidence", "advice"):
        assert key in first
    assert first["start"].endswith("Z") and first["start"].startswith("2026-11-20T02:10:05")
    assert 0 <= first["confidence"] <= 1
    assert first["errors"] == 3
    assert first["evidence"] and set(first["evidence"][0]) == {"source", "ts", "kind", "line", "why"}
    assert any("Normal shutdown" in e["line"] for e in first["evidence"])

    r = run("incidents", "--db", db, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(r.output)))
    assert [t["cause"] for t in table] == ["server_restart", "max_connections"]

    r = run("incidents", "--db", db)
    assert r.exit_code == 0 and "server_restart" in r.output and "max_connections" in r.output


def test_filters(db):
    run("correlate", "--db", db)
    out = lambda *a: json.loads(run("incidents", "--db", db, "--format", "json", *a).output)  # noqa: E731
    assert [x["cause"] for x in out("--cause", "max_connections")] == ["max_connections"]
    assert [x["cause"] for x in out("--host", "web-1")] == ["server_restart"]
    assert [x["cause"] for x in out("--since", "2026-11-20T02:30:00Z")] == ["max_connections"]
    assert [x["cause"] for x in out("--until", "2026-11-20T02:30:00")] == ["server_restart"]
    assert out("--since", "1h") == []  # the data is from the past
    r = run("incidents", "--db", db, "--since", "yesterday-ish")
    assert r.exit_code != 0


def test_explain(db):
    run("correlate", "--db", db)
    rows = json.loads(run("incidents", "--db", db, "--format", "json").output)
    r = run("explain", rows[0]["id"], "--db", db)
    assert r.exit_code == 0
    assert "server_restart" in r.output and "Evidence:" in r.output and "What to change:" in r.output
    assert "Normal shutdown" in r.output
    r = run("explain", rows[1]["id"][:20], "--db", db, "--json")
    assert json.loads(r.output)["cause"] == "max_connections"
    r = run("explain", "nope", "--db", db)
    assert r.exit_code == 1


def test_correlate_reads_thresholds_from_config(db, tmp_path):
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text("[correlate]\ngap_seconds = 10000\n")
    r = run("correlate", "--db", db, "--config", cfg, "--json")
    assert json.loads(r.output)["incidents"] == 1


def test_missing_store(tmp_path):
    assert run("incidents", "--db", tmp_path / "none.duckdb").exit_code == 1
    assert run("correlate", "--db", tmp_path / "none.duckdb").exit_code == 1
