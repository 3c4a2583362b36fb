"""The `pipeline ingest` / `pipeline status` commands: output, exit codes, --db and $PIPELINE_DB."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

LOG = (
    "2026-11-20 10:00:00,000 - app - INFO - hello\n"
    "2026-11-20 10:00:01,000 - app - ERROR - boom\n"
    "pymysql.err.OperationalError: (2006, 'MySQL server has gone away')\n"
)


@pytest.fixture
def logs(tmp_path) -> Path:
    root = tmp_path / "logs" / "web-1"
    root.mkdir(parents=True)
    (root / "app.log").write_text(LOG)
    return root.parent


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_ingest_json_summary(logs, tmp_path):
    db = tmp_path / "x.duckdb"
    result = run("ingest", str(logs), "--db", str(db), "--json", "--no-correlate")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["totals"]["events"] == 2
    [f] = summary["files"]
    assert f["format"] == "python_text" and f["host"] == "web-1" and f["status"] == "new"
    assert "mb_per_s" in summary


def test_table_summary_names_format_host_and_speed(logs, tmp_path):
    result = run("ingest", str(logs), "--db", str(tmp_path / "x.duckdb"), "--no-correlate")
    assert result.exit_code == 0
    assert "python_text" in result.stdout and "web-1" in result.stdout and "MB/s" in result.stdout


def test_pipeline_db_environment_variable(logs, tmp_path):
    db = tmp_path / "env.duckdb"
    result = run("ingest", str(logs), "--no-correlate", env={"PIPELINE_DB": str(db)})
    assert result.exit_code == 0
    assert db.exists()
    status = run("status", "--json", env={"PIPELINE_DB": str(db)})
    report = json.loads(status.stdout)
    assert report["formats"][0]["format"] == "python_text"
    assert report["first"].startswith("2026-11-20T10:00:00")


def test_status_on_missing_store_fails_with_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code != 0
    assert "no store" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_option_is_an_error():
    result = CliRunner().invoke(cli, ["ingest", "--bogus", "x"])
    assert result.exit_code == 2


def test_unreadable_path_gives_nonzero_exit(tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nope"), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code != 0


def test_rejects_do_not_fail_the_run(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "app.log").write_text("  orphan\n" + LOG)
    result = run("ingest", str(root), "--db", str(tmp_path / "x.duckdb"), "--json", "--no-correlate")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["totals"]["rejects"] == 1


HOLDER = r"""
import sys, time
from pipeline import store
with store.writer_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(30)
"""


def test_store_locked_by_another_ingest(logs, tmp_path):
    db = tmp_path / "x.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "ingest", str(logs), "--db", str(db), "--no-wait"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "another ingest" in result.stderr
        assert time.monotonic() - started < 20
    finally:
        holder.kill()
        holder.wait()
