"""Read every data table of a store into sorted lists, to compare two stores."""

from __future__ import annotations

import duckdb

from pipeline.store import EVENT_COLUMNS

TABLE_ORDER = {
    "events": "file, line_no",
    "latency": "file, line_no, target",
    "metrics": "file, line_no, name",
    "rejects": "file, line_no, reason",
    "incidents": "incident_id",
    "incident_evidence": "incident_id, seq",
}


# what readers see of a table (events keep some of it in other forms, see store.py)
COLUMNS = {"events": ", ".join(EVENT_COLUMNS)}


def dump(db, tables=tuple(TABLE_ORDER)) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT {COLUMNS.get(t, '*')} FROM {t} ORDER BY {TABLE_ORDER[t]}").fetchall()
            for t in tables
        }
    finally:
        con.close()


def count(db, table: str, where: str = "TRUE", params=None) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params or []).fetchone()[0]
    finally:
        con.close()
