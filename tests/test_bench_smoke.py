"""The benchmark scripts keep working: generator determinism and a tiny ``bench/run.py`` run.

Benchmarks themselves are not part of the test run; this only keeps them from rotting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import BUILT_IN_CAUSES, generate_logs, run_python

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
    assert {w["cause"] for w in truth} == set(BUILT_IN_CAUSES)
    assert all(w["start"] < w["end"] for w in truth)
    app = (tmp_path / "a" / "logs" / a["app_logs"][0]).read_text()
    assert " - ERROR - " in app and "Traceback (most recent call last):" in app


@pytest.mark.slow
def test_run_quick_tiny(tmp_path):
    results = tmp_path / "results.json"
    proc = run_python(
        BENCH / "run.py",
        "--quick",
        "--tiny",
        "--data",
        tmp_path / "data",
        "--results",
        results,
        "--clean",
        "--pairs",
        2,
    )
    assert "| size |" in proc.stdout
    # every reference has its row: DuckDB with its default settings and capped, lnav (or "not
    # installed"), a naive Python script and wc -l
    for row in (
        "| DuckDB read_csv + regexp_extract, default settings (primary) |",
        "| DuckDB read_csv + regexp_extract, memory_limit = 1GB |",
        "| lnav",
        "| naive Python: each line, one regex, count by level |",
        "| wc -l (the read floor) |",
    ):
        assert row in proc.stdout
    assert "Processor: " in proc.stdout
    res = json.loads(results.read_text())
    assert res["mode"] == "tiny"
    assert res["machine"]["cpu"]
    for s in res["sizes"]:
        assert s["ingest_app"]["mb_per_s"] > 0
        assert s["ingest_tree"]["rejects"] == 0
        assert s["ingest_tree"]["rss_mb"] > 0
        refs = s["references"]
        assert list(refs) == ["duckdb_default", "duckdb_1gb", "lnav", "python_naive", "wc"]
        for key in ("duckdb_default", "duckdb_1gb", "python_naive", "wc"):
            assert refs[key]["mb_per_s"] > 0 and refs[key]["rss_mb"] > 0, key
            assert s[f"ratio_app_vs_{key}"] == refs[key]["ratio"] > 0
        assert refs["duckdb_default"]["settings"]["memory_limit"] != refs["duckdb_1gb"]["settings"]["memory_limit"]
        assert refs["duckdb_default"]["rows"] == refs["wc"]["lines"] == s["ingest_app"]["lines"]
        assert refs["python_naive"]["records"] == s["ingest_app"]["events"]
        if refs["lnav"].get("error") == "not installed":
            assert s["ratio_app_vs_lnav"] is None
        else:  # it read the format: records by level, one per event
            assert refs["lnav"]["recognised"], refs["lnav"]
            assert refs["lnav"]["records"] == s["ingest_app"]["events"]
            assert s["ratio_app_vs_lnav"] > 0
        if res["machine"]["rss_by"].startswith("GNU time"):  # the child's own peak, not the runner's
            assert refs["wc"]["rss_mb"] < 50
        # the references and the pipeline ran in turns; for each reference the lower of two
        # rounds' ratios is reported, and the pipeline's figures are of the primary's round
        assert len(s["pairs"]) == 2
        assert s["pairs"][0]["order"][-1] == "pipeline" and s["pairs"][1]["order"][0] == "pipeline"
        for key in ("duckdb_default", "duckdb_1gb", "python_naive", "wc"):
            assert s[f"ratio_app_vs_{key}"] == min(pair["ratios"][key] for pair in s["pairs"])
            assert refs[key]["rss_mb"] == max(pair["references"][key]["rss_mb"] for pair in s["pairs"])
        assert s["ingest_app"]["mb_per_s"] == refs["duckdb_default"]["pipeline_mb_per_s"]
        assert s["ingest_app"]["rss_mb"] == max(pair["pipeline_rss_mb"] for pair in s["pairs"])
    inc = res["sizes"][-1]["incremental"]
    assert inc["unchanged_statuses"] == {"unchanged": res["sizes"][-1]["files"]}
    assert "appended" in inc["append_statuses"]
    assert not (tmp_path / "data" / "6MB-s7").exists()  # --clean


@pytest.mark.slow
def test_profile_tiny(tmp_path):
    """--profile: every stage's MB/s and share of the time, each stage timed on its own."""
    results = tmp_path / "profile.json"
    proc = run_python(
        BENCH / "run.py", "--quick", "--tiny", "--profile", "--data", tmp_path / "data", "--results", results
    )
    assert "| stage | MB/s | seconds | share | thread in a real run |" in proc.stdout
    prof = json.loads(results.read_text())
    iso = prof["isolated"]
    assert [st["stage"] for st in iso["stages"]] == [
        "read",
        "split",
        "parse",
        "classify",
        "redact",
        "stage",
        "write",
        "other",
    ]
    assert all(st["seconds"] > 0 for st in iso["stages"])
    assert abs(sum(st["share"] for st in iso["stages"]) - 1) < 1e-3
    # the stages on their own made what the real run made
    assert iso["events"] == prof["stage_run"]["events"] and iso["rejects"] == 0
