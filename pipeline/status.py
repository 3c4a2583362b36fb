"""What is in a store, for ``pipeline status`` and the dashboard's data-health page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline import store as store_mod
from pipeline.store import fetch_dicts, fetch_one
from pipeline.terminal import cell, markup


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def store_status(db: str | Path) -> dict[str, Any]:
    """A JSON-able description of the store's content."""
    with store_mod.opened(db, read_only=True) as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        files = fetch_dicts(
            con,
            """
            SELECT path, format, host, timezone, compressed, size, bytes_done, lines_done,
                   events, latency, metrics, rejects, ingested_at
            FROM files ORDER BY path""",
        )
        # time span per format, over every table a family can fill
        formats = fetch_dicts(
            con,
            """
            WITH spans AS (
                SELECT file, min(ts) AS first, max(ts) AS last FROM events GROUP BY file
                UNION ALL SELECT file, min(ts), max(ts) FROM latency GROUP BY file
                UNION ALL SELECT file, min(ts), max(ts) FROM metrics GROUP BY file
            )
            SELECT f.format, count(DISTINCT f.path) AS files,
                   sum(f.events) AS events, sum(f.latency) AS latency, sum(f.metrics) AS metrics,
                   sum(f.rejects) AS rejects, min(s.first) AS first, max(s.last) AS last
            FROM files f LEFT JOIN spans s ON s.file = f.path
            GROUP BY f.format ORDER BY f.format""",
        )
        by_kind = fetch_dicts(
            con,
            """
            SELECT source, kind, count(*) AS events, min(ts) AS first, max(ts) AS last
            FROM events GROUP BY source, kind ORDER BY source, events DESC""",
        )
        span = fetch_one(
            con,
            """
            SELECT min(ts), max(ts) FROM (
                SELECT ts FROM events UNION ALL SELECT ts FROM latency UNION ALL SELECT ts FROM metrics)
        """,
        )
        rejects = fetch_dicts(
            con,
            """
            SELECT reason, count(*) AS lines, any_value(file) AS example_file,
                   any_value(line_no) AS example_line
            FROM rejects GROUP BY reason ORDER BY lines DESC LIMIT 20""",
        )
        incidents = fetch_one(con, "SELECT count(*) FROM incidents")[0]
    for row in files:
        row["ingested_at"] = _iso(row["ingested_at"])
    for row in formats + by_kind:
        row["first"], row["last"] = _iso(row["first"]), _iso(row["last"])
    return {
        "db": str(db),
        "schema_version": int(version[0]) if version else None,
        "first": _iso(span[0]),
        "last": _iso(span[1]),
        "files": files,
        "formats": formats,
        "events_by_kind": by_kind,
        "rejects": rejects,
        "incidents": incidents,
    }


def print_status(report: dict[str, Any], console: Console) -> None:
    """The report as tables; names from the store (paths, hosts, formats, reasons) go in as
    Text cells, so escape sequences and rich markup in them print literally."""
    console.print(
        f"[bold]{markup(report['db'])}[/] schema v{report['schema_version']}, "
        f"data from {report['first']} to {report['last']}, {report['incidents']} incidents",
        emoji=False,
    )
    t = Table(title="formats")
    for col in ("format", "files", "events", "latency", "metrics", "rejects", "first", "last"):
        t.add_column(col)
    for r in report["formats"]:
        t.add_row(
            cell(r["format"]),
            str(r["files"]),
            f"{r['events'] or 0:,}",
            f"{r['latency'] or 0:,}",
            f"{r['metrics'] or 0:,}",
            f"{r['rejects'] or 0:,}",
            r["first"] or "-",
            r["last"] or "-",
        )
    console.print(t)
    t = Table(title="events by source and kind")
    for col in ("source", "kind", "events", "first", "last"):
        t.add_column(col)
    for r in report["events_by_kind"]:
        t.add_row(cell(r["source"]), cell(r["kind"]), f"{r['events']:,}", r["first"], r["last"])
    console.print(t)
    t = Table(title="files")
    for col in ("file", "format", "host", "events", "rejects", "MB read"):
        t.add_column(col)
    for r in report["files"]:
        t.add_row(
            cell(r["path"]),
            cell(r["format"]),
            cell(r["host"] or ""),
            f"{r['events']:,}",
            f"{r['rejects']:,}",
            f"{r['bytes_done'] / 1e6:.2f}",
        )
    console.print(t)
    if report["rejects"]:
        t = Table(title="rejects by reason")
        for col in ("reason", "lines", "example"):
            t.add_column(col)
        for r in report["rejects"]:
            t.add_row(cell(r["reason"]), f"{r['lines']:,}", cell(f"{r['example_file']}:{r['example_line']}"))
        console.print(t)
