"""Traits are decided at ingest, once; correlation reads them and never the text."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipeline import store
from pipeline.ingest.runner import ingest_paths
from pipeline.traits import TRAIT_NAMES, TRAITS

ROOT = Path(__file__).resolve().parent.parent

APP = "\n".join(
    [
        "2026-11-25 10:00:00,000 ERROR app: (pymysql.err.OperationalError) (2003, \"Can't connect to MySQL "
        "server on 'db' ([Errno 111] Connection refused)\")",
        "2026-11-25 10:00:01,000 ERROR app: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL "
        "server during query ([Errno 104] Connection reset by peer)')",
        "2026-11-25 10:00:02,000 ERROR app: (MySQLdb.OperationalError) (2013, 'Lost connection to MySQL server "
        "at \\'reading initial communication packet\\', system error: 110 (Connection timed out)')",
        "2026-11-25 10:00:03,000 ERROR app: QueuePool limit of size 5 overflow 10 reached, connection timed out, "
        "timeout 30.00",
        "2026-11-25 10:00:04,000 ERROR app: (psycopg2.OperationalError) terminating connection due to "
        "administrator command",
        # an INFO line with the same words is no drop: correlation never reads it, so it gets no traits
        "2026-11-25 10:00:05,000 INFO app: retrying after the request timed out (connection refused)",
        "",
    ]
)
MARIADB = "\n".join(
    [
        "2026-11-25 10:00:00 11 [Warning] Aborted connection 11 to db: 'lab' user: 'app' host: '127.0.0.1' "
        "(Got timeout reading communication packets)",
        "2026-11-25 10:00:01 12 [Warning] Aborted connection 12 to db: 'lab' user: 'app' host: '127.0.0.1' "
        "(Got an error reading communication packets)",
        "2026-11-25 10:00:02 0 [ERROR] mysqld got signal 11 ;",
        "2026-11-25 10:00:03 13 [Warning] Access denied for user 'app'@'10.0.0.5' (using password: YES)",
        "2026-11-25 10:00:04 0 [Note] Server socket created on IP: '0.0.0.0'.",
        "",
    ]
)

EXPECTED = {
    ("app", 1): {"refused"},
    ("app", 2): {"during_query", "reset"},
    ("app", 3): {"timed_out"},
    ("app", 4): set(),  # the pool's wait timed out, not the network
    ("app", 5): {"told_shutdown"},
    ("app", 6): set(),
    ("mysql", 1): {"server_idle_abort"},
    ("mysql", 2): {"server_abort_error"},
    ("mysql", 3): {"server_crash"},
    ("mysql", 4): {"server_access"},
    ("mysql", 5): set(),
}


def _names(bits: int) -> set[str]:
    return {t.name for t in TRAITS if bits & t.bit}


def ingested(tmp_path: Path) -> Path:
    """A store of the two logs above, ingested without correlation."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(APP)
    (tmp_path / "logs" / "mariadb.err").write_text(MARIADB)
    db = tmp_path / "s.duckdb"
    ingest_paths([tmp_path / "logs"], db, correlate=False)
    return db


def test_traits_are_set_as_rows_are_written(tmp_path):
    db = ingested(tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT source, line_no, kind, traits FROM events ORDER BY source, line_no").fetchall()
    got = {(source, line): _names(bits) for source, line, _, bits in rows}
    kinds = {(source, line): kind for source, line, kind, _ in rows}
    assert got == EXPECTED, kinds


def test_migration_gives_old_rows_the_traits_a_new_ingest_gives(tmp_path):
    """A store from before traits is migrated; its rows' traits equal a fresh ingest's."""
    db = ingested(tmp_path)
    with duckdb.connect(str(db)) as con:
        fresh = con.execute("SELECT rowid, traits FROM event_rows ORDER BY rowid").fetchall()
        # as version 7 left it: no traits column, the view without it
        con.execute("DROP VIEW events")
        con.execute("ALTER TABLE event_rows DROP COLUMN traits")
        con.execute(
            f"CREATE VIEW events AS SELECT f.id_prefix || e.line_no AS event_id, e.ts, e.source, f.host, f.file, "
            f"e.line_no, e.level, e.kind, e.error_code, e.conn_ref, {store.message_sql()} AS message, e.raw "
            f"FROM {store.event_rows_sql()}"
        )
        con.execute("DELETE FROM meta WHERE key = 'migration:0008_event_traits'")
    con = store.connect(db)
    try:
        migrated = con.execute("SELECT rowid, traits FROM event_rows ORDER BY rowid").fetchall()
        assert con.execute("SELECT count(traits) FROM events").fetchone()[0] == len(fresh)
    finally:
        con.close()
    assert migrated == fresh
    assert any(bits for _, bits in fresh)


def test_trait_bits_are_their_positions():
    """Stores keep the bits: a trait must never move (new ones are appended)."""
    assert [t.bit for t in TRAITS] == [1 << i for i in range(len(TRAITS))]
    assert len(set(TRAIT_NAMES)) == len(TRAITS) <= 16  # the column is a USMALLINT


# correlation may still match a file's name (e.g. which copy of a line to show) and take
# numbers out of a line whose kind is known (QueuePool's size and timeout); it never
# decides what a line means from its words
TEXT_MATCH = re.compile(r"\b(?:I?LIKE|regexp_(?:matches|full_match|replace)|contains|starts_with)\b", re.IGNORECASE)
ALLOWED = re.compile(r"\bfile\s+ILIKE\b", re.IGNORECASE)


@pytest.mark.parametrize("path", sorted((ROOT / "pipeline" / "correlate").glob("*.py")), ids=lambda p: p.name)
def test_correlation_reads_traits_not_text(path):
    offending = [
        f"{path.name}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if TEXT_MATCH.search(line) and not ALLOWED.search(line) and not line.lstrip().startswith(("#", "--"))
    ]
    assert not offending, "\n".join(offending)
