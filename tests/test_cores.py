"""``pipeline ingest --jobs N`` keeps the run to N cores: every thread of the process, those
running already (DuckDB's, polars') and those started later, may run on N cores only."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import cores

ROOT = Path(__file__).resolve().parents[1]

needs_two_cores = pytest.mark.skipif(cores.available() < 2, reason="needs a process allowed on 2 cores or more")


def run_python(code: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@needs_two_cores
def test_limit_to_reaches_threads_started_before_and_after():
    out = run_python(
        """
        import json, os, threading
        from pipeline import cores
        started = threading.Event(); stop = threading.Event(); seen = {}
        def before():
            started.set(); stop.wait()
            seen["before"] = len(os.sched_getaffinity(0))
        t = threading.Thread(target=before); t.start(); started.wait()
        result = cores.limit_to(1)
        after = threading.Thread(target=lambda: seen.update(after=len(os.sched_getaffinity(0))))
        after.start(); after.join(); stop.set(); t.join()
        print(json.dumps({"result": result, "main": len(os.sched_getaffinity(0)), **seen}))
        """
    )
    assert out == {"result": 1, "main": 1, "before": 1, "after": 1}


def test_asking_for_as_many_cores_as_there_are_changes_nothing():
    n = cores.available()
    out = run_python(
        f"""
        import json, os
        from pipeline import cores
        print(json.dumps({{"result": cores.limit_to({n + 3}), "main": len(os.sched_getaffinity(0))}}))
        """
    )
    assert out == {"result": n, "main": n}


@needs_two_cores
def test_ingest_jobs_one_runs_on_one_core(tmp_path):
    db = tmp_path / "s.duckdb"
    out = run_python(
        f"""
        import atexit, json, os, sys
        sys.argv = ["pipeline", "ingest", {str(ROOT / "sample_logs" / "network")!r}, "--db", {str(db)!r},
                    "--jobs", "1", "--no-correlate", "--json"]
        from pipeline.cli import main

        def report():  # when the command is done (it ends the process)
            tasks = os.listdir("/proc/self/task")
            print()
            print(json.dumps({{"cores": sorted({{len(os.sched_getaffinity(int(t))) for t in tasks}})}}))

        atexit.register(report)
        main()
        """
    )
    assert out == {"cores": [1]}
    # and the store is whole
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 2323
