"""`pipeline correlate --engine spark` gives the incidents the store's own correlation gives:
the same ids, causes, confidence (within 1e-9), summaries, advice, details and evidence rows,
on the sample logs and on the lab recordings, from a `pipeline export --parquet` folder, and
on a generated fleet's collection (`pipeline ingest --out`, machine by machine) as DuckDB
gives it over the same folder.

Spark runs in local mode, one session for the module (its start costs most of the time).
Without a Java runtime or pyspark the module is skipped, saying which is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

if shutil.which("java") is None:
    pytest.skip(
        "no Java runtime on PATH: Spark needs one (apt-get install default-jre-headless)", allow_module_level=True
    )
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install -e '.[spark]')")

from click.testing import CliRunner

from pipeline import store
from pipeline.cli import cli
from pipeline.correlate import correlate_store
from pipeline.correlate.on_parquet import correlate_parquet
from pipeline.export import export_parquet
from tests.helpers import assert_same_incidents, fleet_collection

ROOT = Path(__file__).resolve().parents[1]
# every lab recording, in one store (one Spark run covers them all)
RECORDINGS = sorted(p for p in (ROOT / "recordings" / "realtime").iterdir() if p.is_dir())
# small data on a small machine: few partitions, no generated code to compile per query, and
# a JVM that compiles quickly rather than well (it lives for a minute: 40 s for the sample
# logs instead of 85 s)
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.codegen.wholeStage": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


@pytest.fixture(scope="module")
def spark():
    from pipeline.engines.spark import session

    s = session("local[2]", TEST_CONF)
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def _compare(db: Path, tmp_path: Path, run) -> dict[str, Any]:
    """Correlate ``db`` in DuckDB and its export on Spark (``run(folder, into)``); assert
    the same result in the folder and in the store ``into``."""
    folder = tmp_path / "export"
    export_parquet(db, folder)
    with store.opened(db) as con:
        correlate_store(con, None)
    into = tmp_path / "from-spark.duckdb"
    summary = run(folder, into)
    with duckdb.connect(str(db), read_only=True) as duck, duckdb.connect() as mem:
        parquet = {t: f"read_parquet('{folder / t}/*.parquet')" for t in ("incidents", "incident_evidence")}
        n = assert_same_incidents(duck, mem, parquet["incidents"], parquet["incident_evidence"])
        with duckdb.connect(str(into), read_only=True) as written:
            assert_same_incidents(duck, written)
    assert summary["incidents"] == n
    assert not list(folder.glob(".*partial*")) and not list(folder.glob(".*old*"))  # renamed into place
    return summary


def test_sample_logs_correlate_the_same_on_spark(sample_store_copy, tmp_path, spark):
    summary = _compare(
        sample_store_copy,
        tmp_path,
        lambda folder, into: correlate_parquet(folder, None, engine="spark", db=into, spark=spark),
    )
    assert summary["incidents"] >= 8 and len(summary["by_cause"]) >= 5  # every kind of scenario


def test_the_recordings_correlate_the_same_with_the_command(tmp_path, spark):
    from pipeline.ingest.runner import ingest_paths

    db = tmp_path / "recording.duckdb"
    assert len(RECORDINGS) >= 2
    ingest_paths(RECORDINGS, db, correlate=False)

    def command(folder: Path, into: Path) -> dict[str, Any]:
        args = ["correlate", "--engine", "spark", "--parquet", str(folder), "--db", str(into), "--json"]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        out: dict[str, Any] = json.loads(result.output)
        assert out["engine"] == "spark" and out["written"] == [str(folder), str(into)]
        return out

    summary = _compare(db, tmp_path, command)
    assert summary["by_cause"].get("idle_timeout")
    # the export still loads as before: the incidents written into it are not one of its tables
    back = tmp_path / "back.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "export"), "--db", str(back), "--no-correlate"])
    assert result.exit_code == 0, result.output


def test_a_fleet_collection_correlates_the_same_on_spark(tmp_path, spark):
    fleet = fleet_collection(tmp_path)
    on_duckdb = correlate_parquet(fleet, None)
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE incidents AS SELECT * FROM read_parquet('{fleet}/incidents/*.parquet')")
        con.execute(
            f"CREATE TABLE incident_evidence AS SELECT * FROM read_parquet('{fleet}/incident_evidence/*.parquet')"
        )
        on_spark = correlate_parquet(fleet, None, engine="spark", spark=spark)
        parquet = {t: f"read_parquet('{fleet / t}/*.parquet')" for t in ("incidents", "incident_evidence")}
        n = assert_same_incidents(con, con, parquet["incidents"], parquet["incident_evidence"])
    assert n == on_duckdb["incidents"] == on_spark["incidents"] and len(on_spark["by_cause"]) >= 5


def test_the_command_says_what_is_missing(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["correlate", "--engine", "spark"])
    assert result.exit_code != 0 and "--parquet" in result.output
    result = runner.invoke(cli, ["correlate", "--engine", "spark", "--parquet", str(tmp_path)])
    assert (
        result.exit_code != 0 and "not a `pipeline export --parquet` or `pipeline ingest --out` folder" in result.output
    )
