"""``bench/cores.py`` keeps working: 8 files ingested with ``--jobs 1`` and with the default, in
turns, the same events stored both ways, the figures written.  (The speed-up itself is a
benchmark figure, read from its results, not asserted here.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_python

ROOT = Path(__file__).resolve().parents[1]


def test_cores_bench_runs_both_ways_on_the_same_files(tmp_path):
    results = tmp_path / "cores.json"
    proc = run_python(
        ROOT / "bench" / "cores.py", "--size", "8MB", "--pairs", "1", "--data", tmp_path, "--results", results
    )
    assert "speedup" in proc.stdout
    res = json.loads(results.read_text())
    assert res["files"] == 8
    assert len(res["runs"]["jobs_1"]) == len(res["runs"]["default"]) == 1
    assert res["events"] > 0 and res["speedup"] > 0
    assert res["cpu"] and res["cores"] >= 1
