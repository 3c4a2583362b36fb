"""Per-machine ingest into one shared Parquet collection: ``pipeline ingest PATHS --out DIR``.

Each machine reads its own logs and adds what is new to ``DIR``, in the layout of
``pipeline export`` (:mod:`pipeline.export`), so DuckDB, Spark, Trino or ``pipeline ingest DIR``
read it without this tool's help::

    DIR/pipeline-export.json                          schema version; marks the folder
    DIR/events/source=S/date=D/host=H/PART.parquet     D: the UTC day, H: the host label
    DIR/latency/date=D/host=H/PART.parquet
    DIR/metrics/date=D/host=H/PART.parquet
    DIR/rejects/PART.parquet
    DIR/_progress/MACHINE/files.parquet               how far each of its files was read
    DIR/_progress/MACHINE/event_files.parquet         and the event id prefix each was given
    DIR/_progress/MACHINE/parts.json                  and the part files that hold its rows

``PART`` is ``MACHINE~FILE~LINE_0``: the machine, a key of the file's path and the first
line the run read.  How a run keeps the collection exact:

* The machine's progress is loaded into a scratch store and the usual ingest runs there,
  so a run reads only the bytes added since the last one (the same rules as the DuckDB
  store: rotation, truncation, a record still being written).
* A run that reads a file from line ``F`` first removes that file's rows from line ``F`` on
  (parts that start there are deleted, older parts are cut back), then moves its own parts
  in.  A record that was still being written is therefore replaced, not duplicated, and a
  run repeated after a crash writes the same part names again instead of adding copies.
* Every file is written under a ``_`` name (which readers skip) and renamed into place, so
  no reader sees half a file.  The list of a machine's parts is written before its new parts
  are moved in (so no part is ever unlisted: a run finds its own parts without walking the
  collection), the progress last.
* Event ids mix in the machine, so the same path on two machines is two files.

Machines write side by side; two runs on one machine wait for each other (a lock file in
``_progress``).  Local folders only: for object storage, run it on a mounted bucket or copy
the folder up after the run (see docs/scale-out.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipeline import __version__
from pipeline import export as export_mod
from pipeline import store as store_mod

PROGRESS = "_progress"
PARTS = "parts.json"  # in a machine's progress: its part files, per file
COMPACTING = "compacting.json"  # in a machine's progress: a merge of parts under way
# A machine's parts of one file in one partition are merged into one when there are this
# many (one part per run that read the file: a machine ingesting every 10 minutes reaches it
# in 80 minutes, and a day of it is one file per host, table and day instead of 144).
COMPACT_AT = 8
STAGING = "_staging"
# table: (the rows written, the partition columns)
OUT_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    name: export_mod.TABLES[name] for name in ("events", "latency", "metrics", "rejects")
}
# statuses of a file the run read (the others leave its rows as they are)
READ_STATUSES = ("new", "appended", "resumed", "restarted")


class OutError(Exception):
    """A user-facing problem with the --out folder."""


@dataclass
class OutResult:
    summary: Any  # pipeline.ingest.runner.IngestSummary
    machine: str
    parts_written: int
    parts_removed: int
    parts_cut: int
    parts_merged: int = 0  # merged into another part of theirs (see _compact)


def machine_name(given: str | None = None) -> str:
    """The machine's name as part names use it (letters, digits, ``.``, ``-``, ``_``)."""
    name = given or socket.gethostname() or "machine"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64]


def file_key(path: str) -> str:
    return hashlib.md5(path.encode("utf-8", errors="surrogateescape")).hexdigest()[:12]


def _quote(path: Path | str) -> str:
    return str(path).replace("'", "''")


def ingest_to_parquet(
    paths: Sequence[str | Path],
    out: str | os.PathLike[str],
    *,
    machine: str | None = None,
    on_message: Callable[[str], None] | None = None,
    **ingest_options: Any,
) -> OutResult:
    """Ingest ``paths`` and add what is new to the collection ``out`` (see the module's note)."""
    from pipeline.ingest.runner import Ingest

    folder = Path(out)
    name = machine_name(machine)
    _prepare(folder)
    progress = folder / PROGRESS / name
    progress.mkdir(parents=True, exist_ok=True)
    with _machine_lock(progress), tempfile.TemporaryDirectory(prefix="pipeline-out-") as scratch_dir:
        _finish_compaction(folder, progress)
        scratch = Path(scratch_dir) / "scratch.duckdb"
        old = _load_progress(scratch, progress)
        summary = Ingest(scratch, id_scope=name, on_message=on_message, **ingest_options).run(
            list(paths), correlate=False
        )
        staging = folder / STAGING / f"{name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            parts = _load_parts(folder, progress, name)
            with store_mod.connect(scratch, read_only=True) as con:
                firsts = _first_lines_read(con, summary.files, old)
                written = _stage_parts(con, staging, name, firsts)
                removed, cut = _supersede(con, folder, parts, firsts)
            # written ahead: a run killed while moving its parts in leaves none unlisted
            for staged in sorted(staging.rglob("*.parquet")):
                key = staged.name.split("~")[1]
                parts.setdefault(key, []).append(staged.relative_to(staging).as_posix())
            _save_parts(progress, parts)
            _move_in(staging, folder)
            with store_mod.connect(scratch, read_only=True) as con:
                _save_progress(con, progress)
            merged = _compact(folder, progress, parts)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return OutResult(summary, name, written, removed, cut, merged)


def _prepare(folder: Path) -> None:
    """Create the collection, or check that ``folder`` is one this version can add to."""
    mark = folder / export_mod.MARK
    if mark.is_file():
        manifest = json.loads(mark.read_text())
        if manifest.get("schema_version", 0) != len(store_mod.MIGRATIONS):
            raise OutError(
                f"{folder} holds schema version {manifest.get('schema_version')} "
                f"(written by {manifest.get('written_by')}); this version writes {len(store_mod.MIGRATIONS)}"
            )
        if manifest.get("layout") != "per-machine":
            raise OutError(f"{folder} is an export of one store, not a collection: give --out a new folder")
        return
    # another machine's first run may be creating the collection right now: its marker (and
    # the "_" file the marker is written as) are no sign of a folder that is something else
    ours = (PROGRESS, STAGING, export_mod.MARK)
    if folder.exists() and any(p.name not in ours and not p.name.startswith("_") for p in folder.iterdir()):
        raise OutError(f"{folder} is not empty and not a collection: give --out a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "written_by": f"pipeline {__version__}",
        "schema_version": len(store_mod.MIGRATIONS),
        "layout": "per-machine",
    }
    _write_atomically(mark, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    # a temporary name of its own: two runs in one process (threads) must not share one
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f"_{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temp, path)


@contextlib.contextmanager
def _machine_lock(progress: Path) -> Iterator[None]:
    with open(progress / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _load_progress(scratch: Path, progress: Path) -> dict[str, int]:
    """Create the scratch store with the machine's progress; return lines read per file."""
    with store_mod.connect(scratch) as con:
        for table in ("files", "event_files"):
            part = progress / f"{table}.parquet"
            if part.is_file():
                con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet('{_quote(part)}')")
        return {path: int(lines) for path, lines in con.execute("SELECT path, lines_done FROM files").fetchall()}


def _first_lines_read(con: duckdb.DuckDBPyConnection, reports: list[Any], old: dict[str, int]) -> dict[str, int]:
    """Per file the run read, the first line it read: after the lines read before, or 1
    for a file new or rewritten; earlier if rows came from further up (a small file is
    read again whole when it grows)."""
    lowest = {
        path: int(line)
        for path, line in con.execute(
            "SELECT file, min(line_no) FROM ("
            + " UNION ALL ".join(f"SELECT file, line_no FROM {table}" for table in OUT_TABLES)
            + ") GROUP BY file"
        ).fetchall()
    }
    firsts: dict[str, int] = {}
    for report in reports:
        if report.status not in READ_STATUSES:
            continue
        after = 1 if report.status in ("new", "restarted") or report.path not in old else old[report.path] + 1
        firsts[report.path] = min(after, lowest.get(report.path, after))
    return firsts


def _part_name(machine: str, path: str, first_line: int) -> str:
    return f"{machine}~{file_key(path)}~{first_line}"


def _stage_parts(con: duckdb.DuckDBPyConnection, staging: Path, machine: str, firsts: dict[str, int]) -> int:
    """Write each read file's new rows under ``staging``, in the collection's layout."""
    for table, (select, partitions) in OUT_TABLES.items():
        (staging / table).mkdir()
        for path, first in firsts.items():
            rows = f"SELECT * FROM ({select}) WHERE file = '{_quote(path)}'"
            if not con.execute(f"SELECT count(*) FROM ({rows})").fetchone()[0]:  # type: ignore[index]
                continue
            pattern = _part_name(machine, path, first) + "_{i}"
            where = _quote(staging / table)
            if partitions:
                con.execute(
                    f"COPY ({rows} ORDER BY ALL) TO '{where}' (FORMAT parquet, PARTITION_BY ({', '.join(partitions)}), "
                    f"FILENAME_PATTERN '{pattern}', OVERWRITE_OR_IGNORE)"
                )
            else:
                con.execute(f"COPY ({rows} ORDER BY ALL) TO '{where}/{pattern.format(i=0)}.parquet' (FORMAT parquet)")
    return sum(1 for _ in staging.rglob("*.parquet"))


def _save_parts(progress: Path, parts: dict[str, list[str]]) -> None:
    _write_atomically(progress / PARTS, json.dumps({k: sorted(set(v)) for k, v in parts.items()}, indent=0))


def _load_parts(folder: Path, progress: Path, machine: str) -> dict[str, list[str]]:
    """The machine's parts per file key, as listed in its progress (relative to the
    collection); a machine without the list has its parts found once by a walk."""
    listed = progress / PARTS
    if listed.is_file():
        parts: dict[str, list[str]] = json.loads(listed.read_text())
        return parts
    found: dict[str, list[str]] = {}
    for table in OUT_TABLES:
        for part in (folder / table).rglob(f"{machine}~*.parquet"):
            found.setdefault(part.name.split("~")[1], []).append(part.relative_to(folder).as_posix())
    return found


def _first_line_of(part: str) -> int | None:
    """The first line a part holds, from its name (``MACHINE~FILE~LINE_0.parquet``)."""
    first = part.rsplit("/", 1)[-1].split("~")[-1].split("_", 1)[0]
    return int(first) if first.isdigit() else None


def _supersede(
    con: duckdb.DuckDBPyConnection, folder: Path, parts: dict[str, list[str]], firsts: dict[str, int]
) -> tuple[int, int]:
    """Remove the rows each read file has from its first line read on: parts that start
    there go, older parts are rewritten without them (``parts`` is updated).  Returns
    (removed, cut)."""
    removed = cut = 0
    for path, first in firsts.items():
        key = file_key(path)
        kept: list[str] = []
        for rel in parts.get(key, []):
            part, part_first = folder / rel, _first_line_of(rel)
            if part_first is None or not part.is_file():
                continue  # listed ahead by a run killed before it moved the part in
            kept.append(rel)
            if part_first >= first:
                part.unlink()
                kept.pop()
                removed += 1
                continue
            src = _quote(part)
            (last,) = con.execute(f"SELECT max(line_no) FROM {_part_rows(src)}").fetchone()  # type: ignore[misc]
            if last is None or last < first:
                continue
            temp = part.with_name(f"_{part.name}.tmp")
            con.execute(
                f"COPY (SELECT * FROM {_part_rows(src)} WHERE line_no < {first} ORDER BY ALL) "
                f"TO '{_quote(temp)}' (FORMAT parquet)"
            )
            os.replace(temp, part)
            cut += 1
        parts[key] = kept
    return removed, cut


def _part_rows(*quoted_paths: str) -> str:
    """The rows of part files as they are written: DuckDB would add the ``key=value``
    folders of their path as columns (``date`` typed as a DATE), and a part rewritten with
    them holds columns beside the partition columns readers derive from its path."""
    files = ", ".join(f"'{p}'" for p in quoted_paths)
    return f"read_parquet([{files}], hive_partitioning = false, union_by_name = true)"


def _finish_compaction(folder: Path, progress: Path) -> None:
    """Finish a merge a killed run left half done (see :func:`_compact`)."""
    journal = progress / COMPACTING
    if not journal.is_file():
        return
    merge = json.loads(journal.read_text())
    temp = folder / merge["temp"]
    if temp.is_file():  # killed before the merged part went in: the parts are all still there
        temp.unlink()
    else:  # the merged part is in: the parts it replaced go
        for rel in merge["replaced"]:
            (folder / rel).unlink(missing_ok=True)
    journal.unlink()


def _compact(folder: Path, progress: Path, parts: dict[str, list[str]]) -> int:
    """Merge a machine's parts of one file in one partition once there are ``COMPACT_AT``
    of them, into the part with the lowest first line (its name stays true: the merged
    part starts there).  A machine that runs every few minutes would otherwise leave a
    small file per run, and readers open every file.  A journal in the machine's progress
    says what is being merged, so a run killed mid-way is finished by the next one; until
    then readers may see the merged rows twice (never a half file, never a row missing).
    Returns how many parts were merged away; ``parts`` is updated."""
    groups: dict[tuple[str, str], list[str]] = {}
    for key, rels in parts.items():
        for rel in rels:
            if _first_line_of(rel) is not None and (folder / rel).is_file():
                groups.setdefault((key, rel.rsplit("/", 1)[0]), []).append(rel)
    merged = 0
    with duckdb.connect() as con:
        for (key, _), rels in sorted(groups.items()):
            if len(rels) < COMPACT_AT:
                continue
            rels.sort(key=lambda rel: _first_line_of(rel) or 0)
            into, replaced = rels[0], rels[1:]
            temp = f"{into.rsplit('/', 1)[0]}/_{into.rsplit('/', 1)[1]}.merge"
            sources = [_quote(folder / rel) for rel in rels]
            con.execute(
                f"COPY (SELECT * FROM {_part_rows(*sources)} ORDER BY ALL) TO '{_quote(folder / temp)}' (FORMAT parquet)"
            )
            _write_atomically(progress / COMPACTING, json.dumps({"into": into, "temp": temp, "replaced": replaced}))
            os.replace(folder / temp, folder / into)
            for rel in replaced:
                (folder / rel).unlink(missing_ok=True)
            (progress / COMPACTING).unlink()
            gone = set(replaced)
            parts[key] = [rel for rel in parts[key] if rel not in gone]
            merged += len(replaced)
    if merged:  # a list that still names a merged-away part is harmless: missing parts are skipped
        _save_parts(progress, parts)
    return merged


def _move_in(staging: Path, folder: Path) -> None:
    """Rename each staged part to its place (within one file system: atomic)."""
    for part in sorted(staging.rglob("*.parquet")):
        dest = folder / part.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)


def _save_progress(con: duckdb.DuckDBPyConnection, progress: Path) -> None:
    for table in ("files", "event_files"):
        temp = progress / f"_{table}.tmp"
        con.execute(f"COPY (SELECT * FROM {table} ORDER BY ALL) TO '{_quote(temp)}' (FORMAT parquet)")
        os.replace(temp, progress / f"{table}.parquet")


__all__ = ["OutError", "OutResult", "ingest_to_parquet", "machine_name"]
