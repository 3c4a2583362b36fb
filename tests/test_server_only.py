"""Incidents from the server's log alone: users of managed databases often have the server's
error log and no application log (or not for that time).  Each cause the server can show on
its own gives an incident marked "server log only"; where an application log covers the time,
the server's lines stay evidence for its incidents (the two merge)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
WILD = Path(__file__).parent / "wild"
SERVER_ONLY = "Server log only (no application log to confirm which requests failed)"


def incidents_of(folder: Path, db: Path) -> list[dict]:
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["incidents", "--db", str(db), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.output)


def overlapping(rows: list[dict], window: dict) -> list[dict]:
    return [r for r in rows if r["start"] <= window["end"] and r["end"] >= window["start"]]


# Recorded lab runs: the real MariaDB's error log of each fault, read without the rest.
@pytest.mark.parametrize(
    "scenario",
    [
        "access_denied",
        "max_connections",
        "server_restart",
        "server_wait_timeout",
        "network",
        "mixed_burst_then_latency",
    ],
)
def test_the_servers_log_alone_names_the_fault(scenario, tmp_path):
    logs = tmp_path / "db-1"
    logs.mkdir()
    shutil.copy(SAMPLES / scenario / "mariadb-error.log", logs)
    rows = incidents_of(logs, tmp_path / "s.duckdb")
    truth = json.loads((SAMPLES / scenario / "truth.json").read_text())
    for window in truth:
        found = overlapping(rows, window)
        assert [r["cause"] for r in found] == [window["cause"]], (window, rows)
        assert found[0]["summary"].startswith(SERVER_ONLY)
        assert found[0]["evidence"] and all(e["source"] == "mysql" for e in found[0]["evidence"])


def test_a_shutdown_is_said_and_a_lone_start_is_not_an_incident(tmp_path):
    logs = tmp_path / "db-1"
    logs.mkdir()
    shutil.copy(SAMPLES / "baseline" / "mariadb-error.log", logs)
    rows = incidents_of(logs, tmp_path / "s.duckdb")
    # the log opens with the server starting (nothing before it) and ends with its shutdown
    assert [r["cause"] for r in rows] == ["server_restart"]
    assert "shut down, and its log shows no start after it" in rows[0]["summary"]


# real server logs (tests/wild excerpts) -> the cause found, and words of its summary
SERVER_LOGS_ALONE = {
    "postgres/metabase-8679_too-many-clients-reserved-slots": ("max_connections", "max_connections was reached"),
    "heldout2/all-in-one-2833_pg-acst-remaining-slots-unfenced": ("max_connections", "max_connections"),
    "mysql/ShannonBase-475_mysql-8-crash-recovery-then-signal11": ("server_restart", "crashed"),
    "mysql/bitnami-vms-1003_mariadb-10.6-crash-terminal-wrapped": ("server_restart", "crashed and restarted"),
}


@pytest.mark.parametrize("excerpt", SERVER_LOGS_ALONE)
def test_real_server_logs_alone(excerpt, tmp_path):
    cause, words = SERVER_LOGS_ALONE[excerpt]
    logs = tmp_path / "db"
    logs.mkdir()
    shutil.copy(WILD / f"{excerpt}.log", logs)
    rows = incidents_of(logs, tmp_path / "s.duckdb")
    assert rows and {r["cause"] for r in rows} == {cause}, rows
    assert all(r["summary"].startswith(SERVER_ONLY) and words in r["summary"] for r in rows)


def test_routine_server_lines_alone_make_no_incident(tmp_path):
    """One refused login and one client closed after wait_timeout are everyday lines."""
    logs = tmp_path / "db-1"
    logs.mkdir()
    (logs / "mariadb-error.log").write_text(
        "2026-11-25  1:00:00 12 [Warning] Access denied for user 'app'@'10.0.0.5' (using password: YES)\n"
        "2026-11-25  3:00:00 15 [Warning] Aborted connection 15 to db: 'lab' user: 'app' host: '10.0.0.5' "
        "(Got timeout reading communication packets)\n"
    )
    assert incidents_of(logs, tmp_path / "s.duckdb") == []


def test_with_both_logs_the_server_lines_join_the_clients_incident(tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / "server_restart", logs)
    rows = incidents_of(logs, tmp_path / "s.duckdb")
    window = json.loads((SAMPLES / "server_restart" / "truth.json").read_text())[0]
    found = overlapping(rows, window)
    assert [r["cause"] for r in found] == ["server_restart"]
    assert not found[0]["summary"].startswith(SERVER_ONLY)
    sources = {e["source"] for e in found[0]["evidence"]}
    assert "mysql" in sources and sources & {"app", "sqlalchemy"}
    # the server's start and final shutdown, inside the application log's span, are not incidents
    assert len(rows) == 1
