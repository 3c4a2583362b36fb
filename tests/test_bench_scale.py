"""The scale simulation (``bench/scale.py``) keeps working: a small fleet ingested machine by
machine into one Parquet collection, correlated by DuckDB and, where Spark can run, by Spark
with the same result."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.helpers import run_python

ROOT = Path(__file__).resolve().parents[1]
SCALE = ROOT / "bench" / "scale.py"


def _spark_can_run() -> bool:
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


def _load_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", SCALE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about 70 s on 2 cores, most of it Spark's start and its ~70 statements
def test_quick_fleet_ingested_and_correlated(tmp_path):
    results = tmp_path / "r.json"
    proc = run_python(SCALE, "--quick", "--data", tmp_path, "--results", results)
    assert "| correlate DuckDB over the partitions |" in proc.stdout
    assert "Processor: " in proc.stdout
    res = json.loads(results.read_text())

    fleet, ingest = res["fleet"], res["ingest"]
    assert ingest["machines"] == ingest["ok"] == len(fleet["hosts"]) + len(fleet["dbs"]) == 5
    assert ingest["failed"] == []
    assert ingest["events"] > 0 and ingest["parquet"]["files"] > 0
    assert ingest["peak_rss_mb"] > 0

    duck = res["correlate"]["duckdb"]
    assert duck["ok"] and duck["incidents"] > 0 and duck["rss_mb"] > 0
    assert res["truth"]["duckdb"]["found"] > 0

    spark = res["correlate"]["spark"]
    if _spark_can_run():
        assert spark["ok"], spark.get("error")
        assert spark["incidents"] == duck["incidents"]
        assert res["engines_agree"] == "same"
    else:
        assert spark["skipped"]
    # the logs stay for the next run; the collection goes unless --keep
    assert (Path(fleet["folder"]) / "manifest.json").is_file()
    assert not (Path(fleet["folder"]) / "fleet").exists()


def _write_result(folder: Path, confidence: float, evidence_line: int) -> Path:
    for table in ("incidents", "incident_evidence"):
        (folder / table).mkdir(parents=True)
    duckdb.execute(
        f"COPY (SELECT 'i-1' AS incident_id, 'network' AS cause, {confidence}::DOUBLE AS confidence) "
        f"TO '{folder}/incidents/data_0.parquet'"
    )
    duckdb.execute(
        "COPY (SELECT 'i-1' AS incident_id, 1 AS seq, 'app' AS source, 'lost_connection' AS kind, "
        f"'e-1' AS event_id, 'app.log' AS file, {evidence_line}::BIGINT AS line_no) "
        f"TO '{folder}/incident_evidence/data_0.parquet'"
    )
    return folder


def test_engine_comparison_names_what_differs(tmp_path):
    scale = _load_scale()
    a = _write_result(tmp_path / "a", 0.9, 10)
    assert scale.compare_results(a, _write_result(tmp_path / "b", 0.9 + 1e-12, 10)) == "same"
    diff = scale.compare_results(a, _write_result(tmp_path / "c", 0.8, 11))
    assert diff["cause_or_confidence_differs"][0]["incident_id"] == "i-1"
    assert diff["evidence_only_duckdb"]["rows"] == diff["evidence_only_spark"]["rows"] == 1
