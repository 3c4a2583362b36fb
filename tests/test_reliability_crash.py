"""Crash safety: SIGKILL an ingest at 20 moments, re-run, and get exactly a clean run's rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.store_dump import dump
from tests.treegen import make_tree

ALL_TABLES = ("events", "latency", "metrics", "rejects", "incidents", "incident_evidence")
KILLS = 20


def _ingest_cmd(root: Path, db: Path) -> list[str]:
    # small chunks: many commit points and many parse steps to be killed in
    return [sys.executable, "-m", "pipeline.cli", "ingest", str(root), "--db", str(db), "--json", "--chunk-mb", "1"]


@pytest.mark.slow
def test_sigkill_at_twenty_moments_then_rerun_equals_clean_run(tmp_path):
    root = make_tree(tmp_path / "logs", scale=4)
    clean = tmp_path / "clean.duckdb"
    started = time.monotonic()
    subprocess.run(_ingest_cmd(root, clean), check=True, capture_output=True)
    duration = time.monotonic() - started
    expected = dump(clean, ALL_TABLES)
    assert expected["events"] and expected["latency"] and expected["metrics"] and expected["incidents"]

    db = tmp_path / "killed.duckdb"
    outcomes = []
    for i in range(KILLS):
        # spread the kill moments over a whole run: start-up, parsing, commits, correlation
        delay = duration * (i + 0.5) / KILLS
        proc = subprocess.Popen(_ingest_cmd(root, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        outcomes.append(proc.wait())
        # each kill is followed by a run to completion
        subprocess.run(_ingest_cmd(root, db), check=True, capture_output=True)
        got = dump(db, ALL_TABLES)
        for table in ALL_TABLES:
            assert got[table] == expected[table], f"{table} differs after kill {i} at {delay:.2f}s"
        db.unlink()
        Path(str(db) + ".wal").unlink(missing_ok=True)
    # at least some kills really interrupted a run
    assert outcomes.count(-signal.SIGKILL) >= KILLS // 2


def test_no_staging_left_behind_after_a_kill(tmp_path):
    root = make_tree(tmp_path / "logs", scale=2)
    db = tmp_path / "s.duckdb"
    proc = subprocess.Popen(_ingest_cmd(root, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(_ingest_cmd(root, db), check=True, capture_output=True)
    assert not list(tmp_path.glob(".pipeline-staging-*"))
