"""Correlation's SQL in DuckDB over a Parquet folder (an export or a collection), in place.

:func:`pipeline.parquet_store.open_parquet` gives an in-memory DuckDB whose ``events``,
``latency`` and ``metrics`` read the folder's files.  Correlation also reads the two tables
behind a store's ``events`` view: here ``event_files`` is built (one row per file: small)
and ``event_rows`` is a view, so the events are read from the Parquet by each query that
needs them, never copied into memory.
"""

from __future__ import annotations

import os

import duckdb

from pipeline.engines.from_export import EVENT_FILES_SQL, event_rows_sql
from pipeline.parquet_store import open_parquet
from pipeline.store import WORK_MEMORY_LIMIT


def open_folder(folder: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """An engine (a DuckDB connection) over ``folder`` for :func:`pipeline.correlate.assess_all`."""
    con = open_parquet(folder)
    con.execute(f"SET memory_limit = '{WORK_MEMORY_LIMIT}'")  # a whole collection's medians and sorts
    # events read from the folder (else the store's own empty tables stay): open_parquet
    # made the view, so its globs need not be walked again
    (from_files,) = con.execute(  # type: ignore[misc]
        "SELECT count(*) > 0 FROM duckdb_views() WHERE view_name = 'events' AND sql ILIKE '%read_parquet%'"
    ).fetchone()
    if from_files:
        columns = [name for (name,) in con.execute("SELECT column_name FROM (DESCRIBE events)").fetchall()]
        con.execute("DROP TABLE event_rows")
        con.execute("DROP TABLE event_files")
        con.execute(f"CREATE TABLE event_files AS {EVENT_FILES_SQL}")
        con.execute(f"CREATE VIEW event_rows AS {event_rows_sql(columns)}")
    return con


__all__ = ["open_folder"]
