"""`pipeline correlate --parquet DIR`: DuckDB correlates an export or a collection in place
(reading the Parquet, copying nothing into a store) and gives what the store's own
correlation gives: the same incidents, confidence, details and evidence rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline import store
from pipeline.cli import cli
from pipeline.correlate import correlate_store
from pipeline.correlate.on_parquet import correlate_parquet
from pipeline.export import export_parquet
from pipeline.ingest.runner import ingest_paths
from tests.helpers import assert_same_incidents, fleet_collection


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    return fleet_collection(tmp_path_factory.mktemp("fleet"))


def _parquet(folder: Path) -> tuple[str, str]:
    return tuple(f"read_parquet('{folder / t}/*.parquet')" for t in ("incidents", "incident_evidence"))  # type: ignore[return-value]


def test_an_export_correlates_in_place_as_in_its_store(sample_store_copy, tmp_path):
    folder = tmp_path / "export"
    export_parquet(sample_store_copy, folder)
    with store.opened(sample_store_copy) as con:
        correlate_store(con, None)
    summary = correlate_parquet(folder, None)
    assert summary["engine"] == "duckdb" and summary["incidents"] >= 8
    with duckdb.connect(str(sample_store_copy), read_only=True) as want, duckdb.connect() as got:
        assert assert_same_incidents(want, got, *_parquet(folder)) == summary["incidents"]


def test_a_fleet_collection_correlates_in_place_as_once_loaded(fleet, tmp_path):
    """Machines' parts, each machine's progress: the folder gives what a store loaded from it gives."""
    loaded = tmp_path / "loaded.duckdb"
    ingest_paths([fleet], loaded)  # a load correlates
    into = tmp_path / "into.duckdb"
    args = ["correlate", "--parquet", str(fleet), "--db", str(into), "--format", "json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["engine"] == "duckdb" and out["written"] == [str(fleet), str(into)]
    with duckdb.connect(str(loaded), read_only=True) as want:
        with duckdb.connect() as got:
            n = assert_same_incidents(want, got, *_parquet(fleet))
        with duckdb.connect(str(into), read_only=True) as got:
            assert_same_incidents(want, got)
    assert n == out["incidents"] and len(out["by_cause"]) >= 5  # the generator plants every cause


def test_the_fleet_is_read_right(fleet, tmp_path):
    """Every planted incident is found under its cause (the database's log is in local time:
    the generated pipeline.toml says so, and each machine's ingest was given it)."""
    truth = json.loads((fleet.parent / "truth.json").read_text())
    correlate_parquet(fleet, None)
    with duckdb.connect() as con:
        found = con.execute(f"SELECT cause, start_ts, end_ts FROM {_parquet(fleet)[0]}").fetchall()
    planted = truth["incidents"] if isinstance(truth, dict) else truth
    named = {row[0] for row in found}
    assert {p["cause"] for p in planted} <= named


def test_what_is_wrong_is_said(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["correlate", "--parquet", str(tmp_path)])
    assert (
        result.exit_code != 0
        and "is not a `pipeline export --parquet` or `pipeline ingest --out` folder" in result.output
    )
    result = runner.invoke(cli, ["correlate", "--master", "local[1]"])
    assert result.exit_code == 2 and "--master goes with --engine spark" in result.output
