"""`pipeline export --parquet DIR` writes the store as Hive-partitioned Parquet; `pipeline
ingest DIR` loads it back into a store equal to the first."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from click.testing import CliRunner

from pipeline.cli import cli
from tests.store_dump import dump

TABLES = ("events", "latency", "metrics", "rejects", "incidents", "incident_evidence")


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_round_trip_is_exact_and_correlates_the_same(sample_store, tmp_path):
    out = tmp_path / "export"
    result = _run("export", "--parquet", str(out), "--db", str(sample_store), "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert manifest["rows"]["events"] > 1000
    # partitioned as readers push filters down: one folder per source, UTC day and host
    days = {p.name for p in (out / "events").glob("source=*/date=*")}
    assert days and all(d.startswith("date=2026-") for d in days)
    assert (out / "events" / "source=mysql").is_dir()

    back = tmp_path / "back.duckdb"
    result = _run("ingest", str(out), "--db", str(back), "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output[result.output.index("{") :])["files"]
    assert report["status"] == "imported" and report["events"] == manifest["rows"]["events"]
    assert dump(back, TABLES) == dump(sample_store, TABLES)
    with duckdb.connect(str(back), read_only=True) as a, duckdb.connect(str(sample_store), read_only=True) as b:
        files = "SELECT * EXCLUDE (ingested_at) FROM files ORDER BY path"
        assert a.execute(files).fetchall() == b.execute(files).fetchall()


def test_importing_twice_replaces_rather_than_doubles(sample_store, tmp_path):
    out = tmp_path / "export"
    assert _run("export", "--parquet", str(out), "--db", str(sample_store)).exit_code == 0
    back = tmp_path / "back.duckdb"
    for _ in range(2):
        assert _run("ingest", str(out), "--db", str(back), "--no-correlate").exit_code == 0
    assert dump(back, ("events", "latency")) == dump(sample_store, ("events", "latency"))


def test_an_existing_folder_is_kept_unless_forced(sample_store, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = CliRunner().invoke(cli, ["export", "--parquet", str(out), "--db", str(sample_store)])
    assert result.exit_code == 2 and "exists" in result.output and (out / "mine.txt").exists()
    assert _run("export", "--parquet", str(out), "--db", str(sample_store), "--force").exit_code == 0
    assert not (out / "mine.txt").exists() and (out / "pipeline-export.json").is_file()
    assert not list(Path(tmp_path).glob(".export.partial-*"))


def test_a_missing_store_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["export", "--parquet", str(tmp_path / "o"), "--db", str(tmp_path / "no.duckdb")])
    assert result.exit_code == 1 and result.output.startswith("error: no store at")
