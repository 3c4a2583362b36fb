"""How events are kept in the store: a message that is the end of its raw line is
stored as an offset into it, and readers still see the same twelve columns."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from pipeline import store
from pipeline.ingest.runner import ingest_paths
from pipeline.ingest.writer import insert_rows, storable_events
from tests.test_ingest_incremental import app_lines

CASES = [  # (raw, message, stored as an offset?)
    ("2026-11-24 10:00:00,000 - app - INFO - hello", "hello", True),
    ("2026-11-24 10:00:00,000 - app - INFO - héllo wörld ✓ e\u0301 👩‍👩‍👧", "héllo wörld ✓ e\u0301 👩‍👩‍👧", True),
    ("2026-11-24 10:00:00,000 - app - INFO - ", "", True),
    ("2026-11-24 10:00:00,000 - app - ERROR - failed\nTraceback (most recent call last):", "failed", False),
    ('{"msg": "from json", "level": "info"}', "from json", False),
    ("no message at all", None, False),
    ("tail repeated: ab ab", "ab", True),
]


def _events(cases) -> pl.DataFrame:
    n = len(cases)
    return pl.DataFrame(
        {
            "ts": [dt.datetime(2026, 11, 24, tzinfo=dt.UTC)] * n,
            "source": ["app"] * n,
            "line_no": list(range(1, n + 1)),
            "level": ["INFO"] * n,
            "kind": ["other"] * n,
            "error_code": pl.Series([None] * n, dtype=pl.Int32),
            "conn_ref": pl.Series([None] * n, dtype=pl.Utf8),
            "message": [m for _, m, _ in cases],
            "raw": [r for r, _, _ in cases],
        }
    )


def test_messages_read_back_exactly_and_only_slices_of_one_line_become_offsets():
    stored = storable_events(_events(CASES))
    assert stored["msg_at"].is_not_null().to_list() == [offset for _, _, offset in CASES]
    assert stored.filter(pl.col("msg_at").is_not_null())["message_text"].null_count() == sum(
        1 for _, _, offset in CASES if offset
    )
    con = duckdb.connect()
    store.migrate(con)
    shared = {"id_prefix": "0123456789ab:", "host": "web-1", "file": "/l/app.log"}
    file_id = store.file_id(con, shared["file"], shared["host"], shared["id_prefix"])
    insert_rows(con, "events", stored, {**shared, "file_id": file_id})
    rows = con.execute("SELECT event_id, message, raw FROM events ORDER BY line_no").fetchall()
    assert rows == [(f"0123456789ab:{i}", m, r) for i, (r, m, _) in enumerate(CASES, start=1)]


def test_an_ingested_log_keeps_single_line_messages_as_offsets(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(app_lines(0, 400, every_error=10))
    db = tmp_path / "s.duckdb"
    ingest_paths([str(log)], db, correlate=False)
    with duckdb.connect(str(db), read_only=True) as con:
        offsets, texts, multi = con.execute(
            "SELECT count(msg_at), count(message_text), count(*) FILTER (WHERE contains(raw, chr(10))) FROM event_rows"
        ).fetchone()
        # every event's message is the end of its first line, as parsed
        wrong = con.execute(
            "SELECT count(*) FROM events WHERE message IS DISTINCT FROM regexp_extract(split_part(raw, chr(10), 1), "
            "' - [A-Z]+ - (.*)$', 1)"
        ).fetchone()[0]
    assert multi > 0 and texts == multi and offsets > 0
    assert wrong == 0


@pytest.mark.parametrize(
    "given_id, line_no, expected",
    [
        ("0123456789ab:17", 17, "0123456789ab:17"),  # as ingest names events: kept exactly
        ("z1", 1, "z1"),
        ("custom", 5, "custom5"),  # an id that does not end with its line number gains it
    ],
)
def test_events_made_by_code_keep_ids_that_end_with_their_line(given_id, line_no, expected):
    con = duckdb.connect()
    store.migrate(con)
    store.insert_event_rows(
        con,
        [
            (
                given_id,
                dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
                "app",
                "h",
                "/f",
                line_no,
                "INFO",
                "other",
                None,
                None,
                "msg",
                "raw msg",
            )
        ],
    )
    assert con.execute("SELECT event_id, message, raw FROM events").fetchone() == (expected, "msg", "raw msg")


def test_the_writer_connection_runs_with_its_settings(tmp_path, monkeypatch):
    """Ingest's checkpoints do not vacuum (see WRITER_SETTINGS): the setting must
    be in force on the connection that inserts."""
    from pipeline.ingest import writer

    seen = {}
    real = writer.insert_rows

    def spy(con, table, rows, shared):
        for name in writer.WRITER_SETTINGS:
            seen[name] = con.execute(f"SELECT current_setting('{name}')").fetchone()[0]
        return real(con, table, rows, shared)

    monkeypatch.setattr(writer, "insert_rows", spy)
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text(app_lines(0, 50))
    ingest_paths([log.parent], tmp_path / "s.duckdb", correlate=False)
    assert seen == dict(writer.WRITER_SETTINGS.items())
    assert seen["max_vacuum_tasks"] == 0


@pytest.mark.parametrize(
    ("lanes", "limit"), [(1, "128MiB"), (2, "128MiB"), (3, "192MiB"), (4, "256MiB"), (8, "256MiB")]
)
def test_the_writers_memory_limit_grows_with_the_lanes_up_to_the_stores_usual(lanes, limit):
    from pipeline.ingest.writer import writer_memory_limit

    assert writer_memory_limit(lanes) == limit


@pytest.mark.parametrize(("lanes", "expected"), [(1, "128.0 MiB"), (4, "256.0 MiB")])
def test_the_inserting_connection_keeps_the_lanes_memory_limit(tmp_path, monkeypatch, lanes, expected):
    """DuckDB caches the blocks it has written up to its limit, and with several lanes the
    store's instance stays open the whole run: the limit caps that cache (see
    writer_memory_limit), so it must be in force where rows are inserted."""
    from pipeline.ingest import writer

    seen = set()
    real = writer.insert_rows

    def spy(con, table, rows, shared):
        seen.add(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return real(con, table, rows, shared)

    monkeypatch.setattr(writer, "insert_rows", spy)
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("a.log", "b.log"):
        (logs / name).write_text(app_lines(0, 50))
    ingest_paths([logs], tmp_path / "s.duckdb", correlate=False, lanes=lanes)
    assert seen == {expected}


def test_events_is_a_view_of_the_given_columns_and_traits_and_its_derivations_are_shared(tmp_path):
    """Readers see the twelve EVENT_COLUMNS and the traits derived from them; queries that read event_rows directly
    (correlation, by rowid) derive event_id and message exactly as the view does."""
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text(app_lines(0, 60))
    db = tmp_path / "s.duckdb"
    ingest_paths([log.parent], db, correlate=False)
    with store.opened(db) as con:
        store.insert_event_rows(
            con,
            [
                (
                    "given-id",
                    dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
                    "app",
                    None,
                    "/x.log",
                    7,
                    "INFO",
                    "other",
                    None,
                    None,
                    "given message",
                    "raw text",
                )
            ],
        )
        described = [
            (c, t.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"))
            for c, t, *_ in con.execute("DESCRIBE events").fetchall()
        ]
        assert described == [*store.EVENT_COLUMNS.items(), ("traits", "USMALLINT")]
        view = con.execute("SELECT event_id, message FROM events ORDER BY file, line_no").fetchall()
        derived = con.execute(
            f"SELECT {store.event_id_sql('r', 'g')}, {store.message_sql('r')} FROM {store.event_rows_sql('r', 'g')} "
            "ORDER BY g.file, r.line_no"
        ).fetchall()
    assert view == derived
    assert ("given-id7", "given message") in view  # an id not ending with its line gains it
    assert sum(1 for _, message in view if message and message.startswith("job ")) == 60


def _event_files(db) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT file_id, file, host FROM event_files ORDER BY file, file_id").fetchall()


def test_a_file_is_stored_once_however_many_chunks_and_segments_it_takes(tmp_path, monkeypatch):
    """Path, host and event id prefix live in event_files, one row per file; the events
    view gives them back on every event."""
    from pipeline.ingest import runner

    monkeypatch.setattr(runner, "SEGMENT_BYTES", 32 * 1024)  # several commits per file
    for host in ("web-1", "web-2"):
        (tmp_path / "logs" / host).mkdir(parents=True)
        (tmp_path / "logs" / host / "app.log").write_text(app_lines(0, 2000, every_error=7))
    db = tmp_path / "s.duckdb"
    ingest_paths([tmp_path / "logs"], db, correlate=False, chunk_bytes=8 * 1024)
    assert [(f, h) for _, f, h in _event_files(db)] == [
        (str(tmp_path / "logs" / h / "app.log"), h) for h in ("web-1", "web-2")
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        assert "file" not in [c for c, *_ in con.execute("DESCRIBE event_rows").fetchall()]
        per_file = con.execute("SELECT host, file, count(*) FROM events GROUP BY ALL ORDER BY host").fetchall()
    assert [(h, n) for h, _, n in per_file] == [("web-1", 2000), ("web-2", 2000)]
    assert all(f.endswith(f"/{h}/app.log") for h, f, _ in per_file)


def test_a_file_read_again_keeps_only_its_new_rows(tmp_path):
    log = tmp_path / "logs" / "web-1" / "app.log"
    log.parent.mkdir(parents=True)
    log.write_text(app_lines(0, 300))
    db = tmp_path / "s.duckdb"
    ingest_paths([tmp_path / "logs"], db, correlate=False)
    before = _event_files(db)
    log.write_text(app_lines(5000, 120))  # rotated: another head, read again from the start
    assert ingest_paths([tmp_path / "logs"], db, correlate=False).files[0].status == "restarted"
    # its first line changed, so its events are named anew (an id names content, not a path)
    after = _event_files(db)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 120
        assert con.execute("SELECT count(*) FROM event_rows").fetchone()[0] == 120


def test_a_new_host_for_a_file_applies_to_all_its_rows_without_a_re_read(tmp_path):
    """A host the configuration names anew relabels the rows already stored (the
    file is not read again) and the appended ones get it too."""
    logs = tmp_path / "logs"
    log = logs / "web-1" / "app.log"
    log.parent.mkdir(parents=True)
    first = app_lines(0, 100)
    log.write_text(first)
    db = tmp_path / "s.duckdb"
    ingest_paths([logs], db, correlate=False)
    (logs / "pipeline.toml").write_text('[defaults]\nhost = "renamed"\n')
    report = ingest_paths([logs], db, correlate=False).files[0]
    assert report.status == "relabelled" and report.lines == 0
    assert {h for _, _, h in _event_files(db)} == {"renamed"}
    with open(log, "a") as fh:
        fh.write(app_lines(100, 40))
    assert ingest_paths([logs], db, correlate=False).files[0].status == "appended"
    with duckdb.connect(str(db), read_only=True) as con:
        hosts = con.execute("SELECT host, count(*) FROM events GROUP BY host").fetchall()
        assert con.execute("SELECT DISTINCT host FROM files").fetchall() == [("renamed",)]
    assert hosts == [("renamed", 140)]


def test_a_new_store_is_made_while_the_first_chunks_are_parsed(tmp_path, monkeypatch):
    """A run into a new store makes its tables in a thread of its own; the writer waits for
    them before its first insert, and the store is whole when the run ends."""
    import threading

    from pipeline.ingest import writer

    made_in: list[str] = []
    real_create = writer.StoreCreation._create

    def create(self, *args):
        made_in.append(threading.current_thread().name)
        real_create(self, *args)

    monkeypatch.setattr(writer.StoreCreation, "_create", create)
    log = tmp_path / "app.log"
    log.write_text(app_lines(0, 300, every_error=10))
    db = tmp_path / "new" / "s.duckdb"
    summary = ingest_paths([str(log)], db, correlate=False)
    assert made_in == ["pipeline-new-store"]
    assert summary.totals()["events"] == 300
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 300
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            len(store.MIGRATIONS)
        )
    # a store that exists is opened as before: no second creation
    ingest_paths([str(log)], db, correlate=False)
    assert made_in == ["pipeline-new-store"]


def test_a_run_that_writes_nothing_still_leaves_a_new_store(tmp_path):
    empty = tmp_path / "logs"
    empty.mkdir()
    db = tmp_path / "s.duckdb"
    ingest_paths([str(empty)], db, correlate=False)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_a_new_store_that_cannot_be_made_fails_the_run_with_the_stores_error(tmp_path):
    """The tables are made in the background, but a store that cannot be made still ends the
    run with the store's own error (a dangling link: nothing is at the path, and DuckDB
    cannot create the file it points to)."""
    log = tmp_path / "app.log"
    log.write_text(app_lines(0, 50))
    db = tmp_path / "s.duckdb"
    db.symlink_to(tmp_path / "missing-dir" / "s.duckdb")
    with pytest.raises(store.StoreError, match="cannot open store"):
        ingest_paths([str(log)], db, correlate=False)
