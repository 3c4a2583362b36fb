"""Correlation of a Parquet folder (``pipeline export --parquet``, ``pipeline ingest --out``).

The same stages as :func:`pipeline.correlate.correlate_store`, on DuckDB reading the folder
in place (:mod:`pipeline.engines.duckdb_folder`) or on Spark
(:class:`pipeline.engines.spark.SparkEngine`); the result is written as Parquet beside the
folder's tables (``DIR/incidents/``, ``DIR/incident_evidence/``, with the columns and rows
a store's tables get), and into a DuckDB store when one is named, for the dashboard,
``pipeline incidents``/``explain`` and the digest.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.correlate import assess_all
from pipeline.correlate.settings import resolve
from pipeline.engines import Engine

OUTPUT_TABLES = ("incidents", "incident_evidence")
UTC_US = pa.timestamp("us", tz="UTC")


def correlate_parquet(
    folder: str | os.PathLike[str],
    settings: dict[str, Any] | None = None,
    *,
    engine: str = "duckdb",
    master: str | None = None,
    db: str | os.PathLike[str] | None = None,
    spark: Any = None,
) -> dict[str, Any]:
    """Correlate the export or collection in ``folder`` with ``engine``: "duckdb" (reading
    the Parquet in place) or "spark" (``spark``, else a session for ``master``); write the
    incidents into the folder (and into the store ``db``); return {"incidents", "by_cause",
    "seconds", "engine", and for Spark "master"}."""
    from pipeline.export import ExportError, is_export

    t0 = time.perf_counter()
    if not is_export(folder):
        raise ExportError(f"{folder} is not a `pipeline export --parquet` or `pipeline ingest --out` folder")
    s = resolve(settings)
    summary: dict[str, Any] = {"engine": engine}
    if engine == "spark":
        from pipeline.engines.spark import SparkEngine, session

        spark = spark or session(master)
        summary["master"] = spark.sparkContext.master
        with SparkEngine(spark, folder) as on_spark:
            assessed, times = _assess(on_spark, s)
    elif engine == "duckdb":
        from pipeline.engines.duckdb_folder import open_folder

        with open_folder(folder) as con:
            assessed, times = _assess(con, s)
    else:
        raise ValueError(f"no engine {engine!r} (duckdb or spark)")
    incidents, evidence = incident_tables(assessed, times)
    write_parquet(folder, incidents, evidence)
    if db is not None:
        write_store(db, incidents, evidence)
    by_cause: dict[str, int] = assessed["by_cause"]
    summary.update(
        incidents=incidents.num_rows,
        by_cause=dict(sorted(by_cause.items())),
        seconds=round(time.perf_counter() - t0, 3),
    )
    return summary


def _assess(engine: Engine, s: dict[str, Any]) -> tuple[dict[str, Any], dict[int, tuple[int, int]]]:
    """Correlation's verdicts, and each incident's first and last drop to the microsecond
    (as the store keeps them)."""
    assessed = assess_all(engine, s)
    times = {
        grp: (start_us, end_us)
        for grp, start_us, end_us in engine.execute(
            "SELECT grp, epoch_us(start_ts), epoch_us(end_ts) FROM c_inc"
        ).fetchall()
    }
    return assessed, times


def incident_tables(assessed: dict[str, Any], times: dict[int, tuple[int, int]]) -> tuple[pa.Table, pa.Table]:
    """The ``incidents`` and ``incident_evidence`` rows of a store, in its order."""
    by_grp = {i["grp"]: i for i in assessed["incidents"]}
    rows = sorted(
        assessed["rows"], key=lambda r: (times[r["grp"]][0], r["incident_id"])
    )  # the store's ORDER BY start_ts, incident_id
    incidents = pa.table(
        {
            "incident_id": pa.array([r["incident_id"] for r in rows], pa.string()),
            "start_ts": pa.array([times[r["grp"]][0] for r in rows], pa.int64()).cast(UTC_US),
            "end_ts": pa.array([times[r["grp"]][1] for r in rows], pa.int64()).cast(UTC_US),
            "cause": pa.array([r["cause"] for r in rows], pa.string()),
            "confidence": pa.array([r["confidence"] for r in rows], pa.float64()),
            "hosts": pa.array([list(by_grp[r["grp"]]["hosts"]) or None for r in rows], pa.list_(pa.string())),
            "errors": pa.array([r["errors"] for r in rows], pa.int32()),
            "summary": pa.array([r["summary"] for r in rows], pa.string()),
            "advice": pa.array([r["advice"] for r in rows], pa.list_(pa.string())),
            "scores": pa.array([r["scores"] for r in rows], pa.string()),
            "details": pa.array([r["details"] for r in rows], pa.string()),
        }
    )
    ev = sorted(assessed["evidence"], key=lambda e: (e[0], e[1]))
    evidence = pa.table(
        {
            "incident_id": pa.array([i for i, _, _ in ev], pa.string()),
            "seq": pa.array([q for _, q, _ in ev], pa.int32()),
            "source": pa.array([r["source"] for _, _, r in ev], pa.string()),
            "ts": pa.array([r["t_ms"] for _, _, r in ev], pa.int64()).cast(pa.timestamp("ms", tz="UTC")).cast(UTC_US),
            "kind": pa.array([r.get("kind") for _, _, r in ev], pa.string()),
            "line": pa.array([r.get("line") for _, _, r in ev], pa.string()),
            "why": pa.array([r.get("why") for _, _, r in ev], pa.string()),
            "event_id": pa.array([r.get("event_id") for _, _, r in ev], pa.string()),
            "file": pa.array([r.get("file") for _, _, r in ev], pa.string()),
            "line_no": pa.array([r.get("line_no") for _, _, r in ev], pa.int64()),
        }
    )
    return incidents, evidence


def write_parquet(folder: str | os.PathLike[str], incidents: pa.Table, evidence: pa.Table) -> None:
    """``DIR/incidents/`` and ``DIR/incident_evidence/``, each replaced whole: written
    beside, then renamed into place, so a reader never sees half of one."""
    root = Path(folder)
    for name, table in zip(OUTPUT_TABLES, (incidents, evidence)):
        staging = root / f".{name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            pq.write_table(table, staging / "data_0.parquet")
            old = root / f".{name}.old-{os.getpid()}"
            target = root / name
            if target.exists():
                target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def write_store(db: str | os.PathLike[str], incidents: pa.Table, evidence: pa.Table) -> None:
    """Replace the incidents of the store ``db`` (created if new) by these."""
    from pipeline import store as store_mod

    with store_mod.writer_lock(db), store_mod.opened(db) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM incident_evidence")
            con.execute("DELETE FROM incidents")
            con.register("c_new_inc", incidents)
            con.register("c_new_ev", evidence)
            con.execute("INSERT INTO incidents SELECT * FROM c_new_inc ORDER BY start_ts, incident_id")
            con.execute("INSERT INTO incident_evidence SELECT * FROM c_new_ev ORDER BY incident_id, seq")
            store_mod.touch_changed(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            for name in ("c_new_inc", "c_new_ev"):
                con.unregister(name)


__all__ = ["OUTPUT_TABLES", "correlate_parquet", "incident_tables", "write_parquet", "write_store"]
