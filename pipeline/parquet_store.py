"""A Parquet folder (an export or a collection) opened as a read-only store.

Every reader (``incidents``, ``explain``, ``status``, the dashboard, the digest, the Python
API) queries the tables it queries in a DuckDB file.  Given a folder written by
``pipeline export`` or ``pipeline ingest --out``, :func:`pipeline.store.connect` opens an
in-memory DuckDB whose tables are views over the folder's Parquet files (DuckDB reads Parquet
in place: nothing is copied).  A table without files (no incidents yet) is the store's own
empty table.  With ``days``, the tables partitioned by day read only those days' folders, so
a day's digest reads that day and its baseline, not the whole fleet's months.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb

# Tables whose folders are partitioned by UTC day (date=YYYY-MM-DD), and below which
# partition level the date sits
BY_DAY = {"events": "*/date={day}", "latency": "date={day}", "metrics": "date={day}"}
TABLES = ("events", "latency", "metrics", "rejects", "files", "incidents", "incident_evidence")
MARK = "pipeline-export.json"


def is_parquet_store(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MARK).is_file()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _globs(folder: Path, table: str, days: tuple[dt.date, dt.date] | None) -> list[str]:
    """The globs of a table's files (only those that match something: DuckDB refuses an
    empty glob).  Names starting with ``_`` are files being written: never read."""
    base = folder / table
    if table == "files" and (folder / "_progress").is_dir():  # a collection: each machine's progress
        candidates = [f"{folder}/_progress/*/files.parquet"]
    elif not base.is_dir():
        return []
    elif days is None or table not in BY_DAY:
        candidates = [f"{base}/**/*.parquet"]
    else:
        first, last = days
        candidates = [
            f"{base}/{BY_DAY[table].format(day=first + dt.timedelta(days=i))}/**/*.parquet"
            for i in range((last - first).days + 1)
        ]
    return [g for g in candidates if any(p for p in Path("/").glob(g.lstrip("/")) if not p.name.startswith("_"))]


@functools.cache
def _spill_folder() -> str:
    folder = Path(tempfile.gettempdir()) / f"pipeline-duckdb-{os.getpid()}"
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(folder)


def open_parquet(
    folder: str | os.PathLike[str], days: tuple[dt.date, dt.date] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose store tables read the Parquet folder (see the module's note)."""
    from pipeline import store as store_mod

    folder = Path(folder).resolve()
    manifest = json.loads((folder / MARK).read_text())
    if manifest.get("schema_version", 0) > len(store_mod.MIGRATIONS):
        raise store_mod.StoreError(f"{folder} was written by a newer version ({manifest.get('written_by')}): upgrade")
    # the store's memory bound, spilling to a folder of this process's own (an in-memory
    # DuckDB would take 80% of RAM and spill into ./.tmp of wherever it was started)
    con = duckdb.connect(config={"memory_limit": store_mod.DEFAULT_MEMORY_LIMIT, "temp_directory": _spill_folder()})
    con.execute("SET enable_progress_bar = false")
    store_mod.migrate(con)  # the store's tables, empty, with their columns and types
    for table in TABLES:
        globs = _globs(folder, table, days)
        if not globs:
            continue
        columns = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
        kind = "VIEW" if table == "events" else "TABLE"  # the store's events is itself a view
        con.execute(f"DROP {kind} {table}")
        # partition values stay text (a host named "2026" is not a number); casts give the
        # store's types whatever the writer inferred
        select = ", ".join(f"CAST({name} AS {kind_}) AS {name}" for name, kind_ in columns)
        con.execute(
            f"CREATE VIEW {table} AS SELECT {select} FROM read_parquet([{', '.join(map(_quote, globs))}], "
            "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
        )
    con.execute("INSERT OR REPLACE INTO meta VALUES ('last_change', ?)", [repr(version(folder))])
    return con


def version(folder: str | os.PathLike[str]) -> tuple[tuple[int, int] | None, ...]:
    """What changes when the folder's content does, cheaply (no walk of the partitions):
    the marker, each machine's progress (rewritten by every run that adds rows) and the
    incident tables."""
    folder = Path(folder)
    watched = [folder / MARK, *sorted((folder / "_progress").glob("*/files.parquet"))]
    for table in ("incidents", "incident_evidence"):
        watched += sorted((folder / table).glob("*.parquet"))
    sig: list[tuple[int, int] | None] = []
    for path in watched:
        try:
            stat = path.stat()
            sig.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


__all__ = ["is_parquet_store", "open_parquet", "version"]
