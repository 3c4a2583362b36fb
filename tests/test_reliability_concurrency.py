"""Concurrency: two ingests on one store, and readers answering while an ingest writes.

DuckDB lets one process write a file; this project keeps every connection short
(readers open per query and retry while a commit holds the lock, ingest opens the
store only to commit), and serializes whole ingest runs with a lock file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.store_dump import dump
from tests.treegen import make_tree

DATA_TABLES = ("events", "latency", "metrics", "rejects", "incidents", "incident_evidence")


def ingest_cmd(root, db, *extra):
    return [sys.executable, "-m", "pipeline.cli", "ingest", str(root), "--db", str(db), "--chunk-mb", "1", *extra]


@pytest.mark.slow
def test_two_ingests_at_once_second_waits_and_nothing_is_corrupted(tmp_path):
    root = make_tree(tmp_path / "logs", scale=3)
    db = tmp_path / "s.duckdb"
    first = subprocess.Popen(ingest_cmd(root, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    second = subprocess.Popen(ingest_cmd(root, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _out1, err1 = first.communicate(timeout=600)
    _out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting" in err2 or "waiting" in err1  # one of them said it waits
    clean = tmp_path / "clean.duckdb"
    subprocess.run(ingest_cmd(root, clean), check=True, capture_output=True)
    assert dump(db, DATA_TABLES) == dump(clean, DATA_TABLES)


READER = r"""
import json, sys, time, subprocess
from pipeline import status
from pipeline.api import Store
db, seconds = sys.argv[1], float(sys.argv[2])
ok = errors = 0
messages = []
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        status.store_status(db)
        store = Store.open(db, read_only=True)
        store.incidents()
        store.event_counts()
        ok += 1
    except Exception as exc:
        errors += 1
        messages.append(f"{type(exc).__name__}: {exc}"[:200])
print(json.dumps({"ok": ok, "errors": errors, "messages": messages[:5]}))
"""


@pytest.mark.slow
def test_readers_keep_answering_while_an_ingest_writes(tmp_path):
    root = make_tree(tmp_path / "logs", scale=2)
    db = tmp_path / "s.duckdb"
    subprocess.run(ingest_cmd(root, db), check=True, capture_output=True)  # a store to read
    bigger = make_tree(tmp_path / "more", scale=6)
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(db), "12"], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(0.5)
    writer = subprocess.run(ingest_cmd(bigger, db), capture_output=True, text=True, timeout=600)
    cli_answers = []
    for _ in range(3):  # the command line keeps answering too
        r = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "incidents", "--db", str(db), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        cli_answers.append(r.returncode)
    results = [json.loads(r.communicate(timeout=120)[0]) for r in readers]
    assert writer.returncode == 0, writer.stderr
    for result in results:
        assert result["errors"] == 0, result["messages"]
        assert result["ok"] > 3
    assert cli_answers == [0, 0, 0]
