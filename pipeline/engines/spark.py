"""Correlation's SQL on Spark, over a ``pipeline export --parquet`` folder.

The folder's tables become views with the columns correlation reads in a store:
``events``, ``latency``, ``metrics``, and the two tables behind the ``events`` view,
``event_files`` (a number per file, host and event id prefix) and ``event_rows`` (with a
``rowid``, unique per event: correlation joins on it).  Each statement is translated by
:mod:`pipeline.engines.spark_sql`; a temporary table is a view of a checkpointed result
(computed once, its lineage cut, as DuckDB materializes a temp table), and ``DELETE`` /
``UPDATE`` replace that view by the rows that stay or change.

pyspark is imported here only: the rest of the tool never loads it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.engines.from_export import EVENT_FILES_SQL, event_rows_sql
from pipeline.engines.spark_sql import Statement, translate

DEFAULT_MASTER = "local[*]"
ENV_MASTER = "SPARK_MASTER"

# Types of the exported tables' columns (partition columns read as text: a host named
# "2026" is not a number), for folders where a table has no rows and so no files.
SCHEMAS = {
    "events": (
        "event_id STRING, ts TIMESTAMP, source STRING, host STRING, file STRING, line_no BIGINT, level STRING, "
        "kind STRING, error_code INT, conn_ref STRING, message STRING, raw STRING"
    ),
    "latency": "ts TIMESTAMP, host STRING, target STRING, rtt_ms DOUBLE, lost BOOLEAN, file STRING, line_no BIGINT",
    "metrics": "ts TIMESTAMP, host STRING, name STRING, value DOUBLE, file STRING, line_no BIGINT",
}
# Settings that make Spark compute what DuckDB does: UTC timestamps, NULL (not an error)
# for a division by zero or a failed cast, partition values kept as text.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
}


def session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """A SparkSession for ``master`` (default ``$SPARK_MASTER``, else ``local[*]``); under
    spark-submit, the session it made (its master and settings win)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("pipeline-correlate")
    active = SparkSession.getActiveSession()
    under_submit = bool(os.environ.get("PYSPARK_GATEWAY_PORT") or os.environ.get("SPARK_ENV_LOADED"))
    if active is None and not under_submit:
        builder = builder.master(master or os.environ.get(ENV_MASTER) or DEFAULT_MASTER)
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in SESSION_CONF.items():  # an existing session gets them too
        spark.conf.set(key, value)
    if active is None and not under_submit:
        # a session of our own: its WARN lines (one per small window statement) would bury
        # the answer; a cluster's own logging is left as its owner set it
        spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine:
    """The engine interface of :mod:`pipeline.engines` on a SparkSession."""

    def __init__(self, spark: Any, folder: str | os.PathLike[str]) -> None:
        self.spark = spark
        self.folder = Path(folder)
        self.description: list[tuple[str, ...]] | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._temp: set[str] = set()
        self._base: list[Any] = []
        for table in SCHEMAS:
            self._view(table, self._read(table))
        self._tables_behind_events()

    # --- the engine interface
    def execute(self, query: str, parameters: Any = None, /) -> SparkEngine:
        st = translate(query, parameters)
        self.description, self._rows = None, []
        t0 = time.perf_counter()
        try:
            self._run(st)
        finally:
            if os.environ.get("PIPELINE_SPARK_DEBUG"):
                took = time.perf_counter() - t0
                print(f"-- {st.kind} {st.table} {took:.2f} s\n{st.sql[:300]}\n", file=sys.stderr)
        return self

    def _run(self, st: Statement) -> None:
        if st.kind == "query":
            df = self.spark.sql(st.sql)
            self.description = [(name,) for name in df.columns]
            self._rows = [tuple(r) for r in df.collect()]
        elif st.kind == "create":
            df = self.spark.sql(st.sql)
            for col in st.replaced:
                df = df.withColumn(col, df[f"_new_{col}"]).drop(f"_new_{col}")
            # computed once, as DuckDB fills a temp table: later statements read the result
            df = df.localCheckpoint(eager=True)
            df.createOrReplaceTempView(st.table)
            self._temp.add(st.table)
        elif st.kind == "drop":
            self.spark.catalog.dropTempView(st.table)
            self._temp.discard(st.table)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        for name in list(self._temp):
            self.spark.catalog.dropTempView(name)
        for df in self._base:
            df.unpersist()

    # --- the folder's tables
    def _read(self, table: str) -> Any:
        path = self.folder / table
        columns = [c.split()[0] for c in SCHEMAS[table].split(", ")]
        if not any(path.rglob("*.parquet")):
            return self.spark.createDataFrame([], SCHEMAS[table])
        df = self.spark.read.option("basePath", str(path)).option("recursiveFileLookup", "false").parquet(str(path))
        # the export's own day partition is derived from ts: readers never see it; columns a
        # newer store added are kept, after the known ones
        return df.select(*columns, *[c for c in df.columns if c not in columns and c != "date"])

    def _view(self, name: str, df: Any) -> None:
        df = df.persist()
        self._base.append(df)
        df.createOrReplaceTempView(name)

    def _tables_behind_events(self) -> None:
        self._view("event_files", self.execute_df(EVENT_FILES_SQL))
        self._view("event_rows", self.execute_df(event_rows_sql(self.spark.table("events").columns)))

    def execute_df(self, query: str) -> Any:
        """A query's DataFrame (translated like :meth:`execute`'s)."""
        st = translate(query)
        return self.spark.sql(st.sql)

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_MASTER", "ENV_MASTER", "SparkEngine", "session"]
