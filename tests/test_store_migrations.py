"""A store written by an older version opens, migrates forward, and keeps its rows."""

from __future__ import annotations

import duckdb
import pytest

from pipeline import store
from pipeline.ingest.runner import ingest_paths
from tests.store_dump import dump
from tests.test_ingest_incremental import DATA_TABLES, app_lines


def _old_store(path, applied: int) -> None:
    """A store as it was after the first ``applied`` migrations."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for name, sql in store.MIGRATIONS[:applied]:
        con.execute(sql)
        con.execute("INSERT INTO meta VALUES (?, 'then')", [f"migration:{name}"])
    con.close()


# the columns a writer filled in versions 4 and 5 (host, file and id prefix on every row)
_V4_NAMES = "ts source host file line_no level kind error_code conn_ref raw id_prefix message_text msg_at"
STORED_V4 = tuple(_V4_NAMES.split())


@pytest.mark.parametrize("applied", [2, 3, 4, 5], ids=["version-2", "version-3", "version-4", "version-5"])
def test_an_older_store_is_migrated_and_keeps_its_events(tmp_path, applied):
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text(app_lines(0, 500))
    reference = tmp_path / "new.duckdb"
    ingest_paths([str(log)], reference, correlate=False)

    old = tmp_path / "old.duckdb"
    _old_store(old, applied=applied)
    with duckdb.connect(str(old)) as con, duckdb.connect(str(reference), read_only=True) as ref:
        # the older events table, filled with the reference's rows
        rows = ref.execute(f"SELECT {', '.join(store.EVENT_COLUMNS)} FROM events").fetchall()
        if applied < 4:
            con.executemany(f"INSERT INTO events VALUES ({', '.join('?' * 12)})", rows)
        else:  # version 4 derives event_id and message in generated columns, version 5 in a view
            con.execute(f"CREATE TEMP TABLE given ({', '.join(f'{c} {t}' for c, t in store.EVENT_COLUMNS.items())})")
            con.executemany(f"INSERT INTO given VALUES ({', '.join('?' * 12)})", rows)
            con.execute(
                f"""INSERT INTO {"events" if applied == 4 else "event_rows"} ({", ".join(STORED_V4)})
                    SELECT ts, source, host, file, line_no, level, kind, error_code, conn_ref, raw,
                           {store.PREFIX_OF_EVENT_ID}, message, NULL FROM given"""
            )
        # as an older version recorded them: read to the end, no tail
        lines = log.read_text().count("\n")
        files = ref.execute(
            f"SELECT * EXCLUDE (tail) REPLACE (size AS bytes_done, {lines} AS lines_done) FROM files"
        ).fetchall()
        con.executemany(f"INSERT INTO files VALUES ({', '.join('?' * len(files[0]))})", files)

    con = store.connect(old)
    try:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == str(len(store.MIGRATIONS))
        con.execute("CHECKPOINT")
        compression = {
            r[0]
            for r in con.execute(
                f"SELECT compression FROM pragma_storage_info('{store.EVENT_ROWS}') "
                "WHERE column_name = 'raw' AND segment_type = 'VARCHAR'"
            ).fetchall()
        }
        assert compression == {"ZSTD"}
    finally:
        con.close()
    assert dump(old, DATA_TABLES) == dump(reference, DATA_TABLES)
    # and ingesting into it goes on as usual: the file is known and unchanged
    assert ingest_paths([str(log)], old, correlate=False).files[0].status == "unchanged"
