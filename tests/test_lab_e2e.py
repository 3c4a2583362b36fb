"""One short lab scenario end to end: server, proxy, app; record; ingest; check the store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab import scenarios
from lab.mariadb import find_install_db, find_mariadbd

pytestmark = pytest.mark.slow

SCENARIO = "server_wait_timeout"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    if not find_mariadbd() or not find_install_db():
        pytest.skip("mariadbd not installed: apt-get install mariadb-server")
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("pymysql")
    out = tmp_path_factory.mktemp("lab") / SCENARIO
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "lab", "run", SCENARIO, "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


def test_recording_has_every_file(recording):
    out, result = recording
    for name in scenarios.get(SCENARIO).recorded_files():
        assert (out / name).is_file(), name
    assert result["problems"] == []


def test_truth_and_counts(recording):
    out, result = recording
    truth = json.loads((out / "truth.json").read_text())
    assert [w["cause"] for w in truth] == ["idle_timeout"]
    assert truth[0]["start"] < truth[0]["end"]
    assert truth[0]["start"].endswith("Z")
    counts = result["counts"]
    assert counts["app.log"].get("2013 lost connection", 0) + counts["app.log"].get("2006 server gone away", 0) >= 1
    assert counts["mariadb-error.log"].get("aborted: timeout reading", 0) >= 1
    # Nothing secret leaks into the recording.
    settings = json.loads((out / "scenario.json").read_text())
    assert "password" not in json.dumps(settings).lower()


def test_errors_fall_inside_truth(recording):
    """Every client drop in app.jsonl happened while the fault was on."""
    out, _ = recording
    truth = json.loads((out / "truth.json").read_text())
    errors = [
        json.loads(line)["timestamp"]
        for line in (out / "app.jsonl").read_text().splitlines()
        if json.loads(line)["level"] == "ERROR"
    ]
    assert errors
    for ts in errors:
        assert any(w["start"] <= ts <= w["end"] for w in truth), ts


def test_ingest_finds_expected_kinds(recording, tmp_path):
    out, _ = recording
    duckdb = pytest.importorskip("duckdb")
    db = tmp_path / "lab.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "ingest", str(out), "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and "No such command 'ingest'" in proc.stderr:
        pytest.skip("pipeline ingest is not available in this tree yet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        kinds = dict(con.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        sources = {r[0] for r in con.execute("SELECT DISTINCT source FROM events").fetchall()}
        aborted = con.execute(
            "SELECT count(*) FROM events WHERE kind = 'aborted_connection' AND host = 'db-1'"
        ).fetchone()[0]
        latency = con.execute("SELECT count(*) FROM latency").fetchone()[0]
    finally:
        con.close()
    assert kinds.get("lost_connection", 0) + kinds.get("server_gone", 0) >= 1, kinds
    assert aborted >= 1, kinds
    assert {"app", "mysql"} <= sources, sources
    assert latency > 0


# A tiny tutorial-style run (no SQLAlchemy pool log, listener ping, idle resets):
# the pool_debug=False path end to end, in about half a minute.
TUTORIAL_SCRIPT = """
import json, sys
from lab.runner import run_scenario
from lab.scenarios import TUTORIAL_POOL, Scenario, Step
from lab.workload import GroupPhase

s = Scenario(
    name="tiny_tutorial_reset",
    summary="test",
    duration=25,
    driver="mysqlconnector",
    pool=TUTORIAL_POOL,
    groups={"slow": 2},
    phases={"normal": {"slow": GroupPhase(gap=(2.5, 3.5))}},
    steps=[
        Step(3, "idle_kill", {"seconds": 1.5, "mode": "rst"}, truth="on:idle_timeout"),
        Step(14, "idle_kill", {"seconds": None}, truth="off:idle_timeout"),
    ],
    engine_per_worker=True,
    client_timeout=4,
    pool_debug=False,
    expect={"app.log": ["listener ping failed"]},
)
print(json.dumps(run_scenario(s, sys.argv[1], echo=lambda m: print(m, file=sys.stderr))))
"""


def test_tutorial_run_without_pool_log(tmp_path):
    if not find_mariadbd() or not find_install_db():
        pytest.skip("mariadbd not installed: apt-get install mariadb-server")
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("mysql.connector")
    out = tmp_path / "tiny"
    proc = subprocess.run(
        [sys.executable, "-c", TUTORIAL_SCRIPT, str(out)], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["problems"] == []
    assert not (out / "sqlalchemy.log").exists()
    assert result["counts"]["app.log"].get("listener ping failed", 0) >= 1
    text = (out / "app.log").read_text()
    assert "sqlalchemy" not in text and " - DEBUG - " not in text
    truth = json.loads((out / "truth.json").read_text())
    for line in (out / "app.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["level"] == "ERROR" or "Connection ping failed" in rec["message"]:
            assert any(w["start"] <= rec["timestamp"] <= w["end"] for w in truth), rec
