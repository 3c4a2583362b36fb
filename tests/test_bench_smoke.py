"""The benchmark scripts keep working: generator determinism and a tiny ``bench/run.py`` run.

Benchmarks themselves are not part of the test run; this only keeps them from rotting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import generate_logs

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def test_generator_is_deterministic_and_plants_every_cause(tmp_path):
    a = generate_logs(tmp_path / "a")
    b = generate_logs(tmp_path / "b")
    assert a["files"] == b["files"]
    for rel in a["files"]:
        assert (tmp_path / "a" / "logs" / rel).read_bytes() == (tmp_path / "b" / "logs" / rel).read_bytes()
    assert 1.5e6 < a["bytes"] < 2.5e6
    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert {w["cause"] for w in truth} == {
        "idle_timeout",
        "network",
        "max_connections",
        "pool_exhausted",
        "server_restart",
        "access_denied",
    }
    assert all(w["start"] < w["end"] for w in truth)
    app = (tmp_path / "a" / "logs" / a["app_logs"][0]).read_text()
    assert " - ERROR - " in app and "Traceback (most recent call last):" in app


@pytest.mark.slow
def test_run_quick_tiny(tmp_path):
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--quick",
            "--tiny",
            "--data",
            str(tmp_path / "data"),
            "--results",
            str(results),
            "--clean",
            "--pairs",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| size |" in proc.stdout
    res = json.loads(results.read_text())
    assert res["mode"] == "tiny"
    for s in res["sizes"]:
        assert s["ingest_app"]["mb_per_s"] > 0 and s["duckdb_ref"]["mb_per_s"] > 0
        assert s["ingest_tree"]["rejects"] == 0
        assert s["ingest_tree"]["rss_mb"] > 0
        # the reference and the pipeline ran in turns; the lower of two pairs' ratios is reported
        assert len(s["pairs"]) == 2
        assert s["ratio_app_vs_duckdb"] == min(pair["ratio"] for pair in s["pairs"])
        assert s["ingest_app"]["rss_mb"] == max(pair["pipeline_rss_mb"] for pair in s["pairs"])
    inc = res["sizes"][-1]["incremental"]
    assert inc["unchanged_statuses"] == {"unchanged": res["sizes"][-1]["files"]}
    assert "appended" in inc["append_statuses"]
    assert not (tmp_path / "data" / "6MB-s7").exists()  # --clean
