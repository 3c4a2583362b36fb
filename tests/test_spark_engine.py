"""`pipeline correlate --engine spark` gives the incidents the store's own correlation gives:
the same ids, causes, confidence (within 1e-9), summaries, advice, details and evidence rows,
on the sample logs and on a lab recording, from a `pipeline export --parquet` folder.

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
from pipeline.correlate.on_spark import correlate_parquet
from pipeline.export import export_parquet

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "recordings" / "realtime" / "realtime_idle_tutorial"
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


def _incidents(con: duckdb.DuckDBPyConnection, source: str = "incidents") -> list[dict[str, Any]]:
    cur = con.execute(f"SELECT * FROM {source} ORDER BY start_ts, incident_id")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def _evidence(con: duckdb.DuckDBPyConnection, source: str = "incident_evidence") -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT * FROM {source} ORDER BY incident_id, seq").fetchall()


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats within 1e-9 (sums may be added up in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) < 1e-9, f"{path}: {a} != {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _assert_same(duck: duckdb.DuckDBPyConnection, spark_side: duckdb.DuckDBPyConnection, inc: str, ev: str) -> int:
    want, got = _incidents(duck), _incidents(spark_side, inc)
    assert [i["incident_id"] for i in got] == [i["incident_id"] for i in want]
    for w, g in zip(want, got):
        where = w["incident_id"]
        for col in ("cause", "start_ts", "end_ts", "hosts", "errors", "summary", "advice"):
            assert g[col] == w[col], f"{where} {col}"
        assert abs(g["confidence"] - w["confidence"]) < 1e-9, where
        _close(json.loads(w["scores"]), json.loads(g["scores"]), f"{where} scores")
        _close(json.loads(w["details"]), json.loads(g["details"]), f"{where} details")
    assert _evidence(spark_side, ev) == _evidence(duck)
    return len(want)


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
        n = _assert_same(duck, mem, parquet["incidents"], parquet["incident_evidence"])
        with duckdb.connect(str(into), read_only=True) as written:
            _assert_same(duck, written, "incidents", "incident_evidence")
    assert summary["incidents"] == n
    assert not list(folder.glob(".*partial*")) and not list(folder.glob(".*old*"))  # renamed into place
    return summary


def test_sample_logs_correlate_the_same_on_spark(sample_store_copy, tmp_path, spark):
    summary = _compare(sample_store_copy, tmp_path, lambda folder, into: correlate_parquet(folder, None, db=into))
    assert summary["incidents"] >= 8 and len(summary["by_cause"]) >= 5  # every kind of scenario


def test_a_recording_correlates_the_same_with_the_command(tmp_path, spark):
    from pipeline.ingest.runner import ingest_paths

    db = tmp_path / "recording.duckdb"
    ingest_paths([RECORDING], db, correlate=False)

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


def test_the_command_says_what_is_missing(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["correlate", "--engine", "spark"])
    assert result.exit_code != 0 and "--parquet" in result.output
    result = runner.invoke(cli, ["correlate", "--engine", "spark", "--parquet", str(tmp_path)])
    assert result.exit_code != 0 and "not a `pipeline export --parquet` folder" in result.output
    result = runner.invoke(cli, ["correlate", "--parquet", str(tmp_path), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code != 0 and "--engine spark" in result.output
