"""The two tables behind the store's ``events`` view, rebuilt from an export's ``events``.

In a store, ``events`` is a view over ``event_files`` (a number per file, host and event id
prefix) and ``event_rows`` (one row per event, with a ``rowid`` correlation joins on).  An
export or a collection holds ``events`` only; both engines that correlate a folder (DuckDB
in place, Spark) rebuild the two tables with these statements, so they number files and
rows alike.
"""

from __future__ import annotations

from pipeline.store import PREFIX_OF_EVENT_ID

# A file's number is its rank by path, host and id prefix.
EVENT_FILES_SQL = f"""
    SELECT CAST(dense_rank() OVER (ORDER BY file, host NULLS LAST, id_prefix) AS INT) AS file_id,
           file, host, id_prefix
    FROM (SELECT DISTINCT file, host, {PREFIX_OF_EVENT_ID} AS id_prefix FROM events)
"""


def event_rows_sql(columns: list[str]) -> str:
    """``event_rows`` over ``events`` (with these columns) and ``event_files``: an event's
    rowid is its file's number and its line (unique: one event starts on each line); every
    column beyond the store's known ones (``traits``, a newer store's) is kept."""
    known = {"event_id", "ts", "source", "host", "file", "line_no", "level", "kind", "error_code", "conn_ref"}
    known |= {"message", "raw"}
    extra = "".join(f", e.{c}" for c in columns if c not in known)
    return f"""
        SELECT CAST(f.file_id AS BIGINT) * 4294967296 + e.line_no AS rowid, e.ts, e.source, f.file_id,
               e.line_no, e.level, e.kind, e.error_code, e.conn_ref, e.raw, e.message AS message_text,
               CAST(NULL AS INTEGER) AS msg_at{extra}
        FROM events e JOIN event_files f
          ON f.file = e.file AND f.host IS NOT DISTINCT FROM e.host AND f.id_prefix = {PREFIX_OF_EVENT_ID}
    """


__all__ = ["EVENT_FILES_SQL", "event_rows_sql"]
