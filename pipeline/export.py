"""A store's normalized tables as Hive-partitioned Parquet, and such a folder back into a store.

The layout, readable by DuckDB, Spark, Trino or pandas without this tool::

    DIR/pipeline-export.json                      what wrote it, the schema version, row counts
    DIR/events/source=S/date=YYYY-MM-DD/host=H/   one folder per source, UTC day and host
    DIR/latency/date=.../host=.../
    DIR/metrics/date=.../host=.../
    DIR/rejects/                                  (no time of their own)
    DIR/files/                                    each file's progress, so an imported store resumes
    DIR/incidents/, DIR/incident_evidence/        correlation's results, for readers of the folder

A NULL host is DuckDB's ``__HIVE_DEFAULT_PARTITION__``; partition values are URL-escaped.
The folder is written beside its destination and renamed into place at the end, so a run
killed half-way leaves no folder that readers take for an export.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb

from pipeline import __version__
from pipeline import store as store_mod

MARK = "pipeline-export.json"
DAY = "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')"
# table: (the rows exported, the partition columns)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "events": (f"SELECT *, {DAY} AS date FROM events", ("source", "date", "host")),
    "latency": (f"SELECT *, {DAY} AS date FROM latency", ("date", "host")),
    "metrics": (f"SELECT *, {DAY} AS date FROM metrics", ("date", "host")),
    "rejects": ("SELECT * FROM rejects", ()),
    "files": ("SELECT * FROM files", ()),
}
# Correlation's results go along for readers of the folder (`pipeline incidents --db DIR`, the
# dashboard, Spark); loading the folder into a store correlates again instead.
RESULT_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "incidents": ("SELECT * FROM incidents", ()),
    "incident_evidence": ("SELECT * FROM incident_evidence", ()),
}
WRITTEN_TABLES = {**TABLES, **RESULT_TABLES}  # what an export writes


class ExportError(Exception):
    """A user-facing problem with an export folder (exists, not an export, other schema)."""


def is_export(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MARK).is_file()


def export_parquet(db: str | os.PathLike[str], out: str | os.PathLike[str], *, force: bool = False) -> dict[str, Any]:
    """Write the store ``db`` to ``out`` (see the module's note); the manifest is returned."""
    target = Path(out)
    if target.exists() and not force:
        raise ExportError(f"{target} exists: choose a new folder, or replace it with --force")
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with store_mod.connect(db, read_only=True) as con:
            version = int(con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])  # type: ignore[index]
            counts = {table: _copy_table(con, table, staging) for table in WRITTEN_TABLES}
        manifest = {"written_by": f"pipeline {__version__}", "schema_version": version, "rows": counts}
        (staging / MARK).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # readers see a whole export or none
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> int:
    select, partitions = WRITTEN_TABLES[table]
    count: int = con.execute(f"SELECT count(*) FROM ({select})").fetchone()[0]  # type: ignore[index]
    dest = folder / table
    dest.mkdir()
    path = str(dest).replace("'", "''")
    if not partitions:
        con.execute(f"COPY ({select}) TO '{path}/data_0.parquet' (FORMAT parquet)")
    elif count:
        by = ", ".join(partitions)
        con.execute(f"COPY ({select} ORDER BY ALL) TO '{path}' (FORMAT parquet, PARTITION_BY ({by}))")
    return count


def import_parquet(src: str | os.PathLike[str], db: str | os.PathLike[str]) -> dict[str, int]:
    """Load an export folder into the store ``db`` (created if new), replacing the rows of
    every file the export holds; returns the rows loaded per table."""
    folder = Path(src)
    manifest = json.loads((folder / MARK).read_text())
    if manifest.get("schema_version", 0) > len(store_mod.MIGRATIONS):
        raise ExportError(f"{folder} was written by a newer version ({manifest.get('written_by')}): upgrade first")
    loaded: dict[str, int] = {}
    with store_mod.connect(db) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            with store_mod.work_memory(con):
                for table in TABLES:
                    loaded[table] = _load_table(con, folder, table)
            store_mod.touch_changed(con)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('data_change', uuid()::VARCHAR)")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return loaded


def _read(folder: Path, table: str) -> str:
    glob = str(folder / table).replace("'", "''") + "/**/*.parquet"
    # partition values stay text (a host named "2026" is not a number); the export's own
    # date column is dropped: it is derived from ts
    return (
        f"(SELECT * EXCLUDE (date) FROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false))"
    )


def _load_table(con: duckdb.DuckDBPyConnection, folder: Path, table: str) -> int:
    if not any((folder / table).rglob("*.parquet")):
        return 0
    source = _read(folder, table) if TABLES[table][1] else f"read_parquet('{_glob(folder, table)}')"
    files = f"(SELECT DISTINCT {'path' if table == 'files' else 'file'} FROM {source})"
    if table == "events":
        con.execute(
            f"DELETE FROM {store_mod.EVENT_ROWS} WHERE file_id IN "
            f"(SELECT file_id FROM {store_mod.EVENT_FILES} WHERE file IN {files})"
        )
        columns = ", ".join(store_mod.EVENT_COLUMNS)
        store_mod.insert_events(con, f"SELECT {columns} FROM {source} ORDER BY file, line_no")
    else:
        key = "path" if table == "files" else "file"
        con.execute(f"DELETE FROM {table} WHERE {key} IN {files}")
        columns = ", ".join(c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall())
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}")
    count: int = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]  # type: ignore[index]
    return count


def _glob(folder: Path, table: str) -> str:
    return str(folder / table).replace("'", "''") + "/*.parquet"


__all__ = ["MARK", "ExportError", "export_parquet", "import_parquet", "is_export"]
