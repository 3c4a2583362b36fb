"""What is in a store, for ``pipeline status`` (its table: pipeline.commands.ingest) and the dashboard's data-health page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import store as store_mod
from pipeline.store import fetch_dicts, fetch_one


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
