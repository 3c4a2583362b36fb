"""Logs still being written: a run that ends inside a record reads that record again
next time, so ingesting a file in pieces gives the store a single run gives.

A plain file's last record is stored, but the file's progress stops where it starts
(``files.tail`` says how far was read); when the file grows, its rows are removed and
it is read again, whole.  See ``pipeline.ingest.runner``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest import detect, files
from tests.store_dump import dump
from tests.test_ingest_incremental import DATA_TABLES, ingest

ROOT = Path(__file__).resolve().parents[1]


def _one_log_per_layout() -> list[Path]:
    """The smallest log of each family and envelope among the samples and the real
    excerpts: every layout the tool reads, in its real shape."""
    smallest: dict[tuple[str, tuple[str, ...]], Path] = {}
    for path in sorted([*ROOT.glob("sample_logs/*/*"), *ROOT.glob("tests/wild/*/*.log")]):
        if not path.is_file() or path.suffix in (".toml", ".json", ".md") or files.is_gzip(path):
            continue
        if path.stat().st_size > 64 * 1024:
            continue
        head, _ = files.read_head(path, False)
        found = detect.choose(head, None)
        if found.family is None:
            continue
        key = (found.family.name, tuple(found.envelopes))
        if key not in smallest or path.stat().st_size < smallest[key].stat().st_size:
            smallest[key] = path
    return sorted(smallest.values())


LOGS = _one_log_per_layout()


def test_every_family_is_among_the_logs_split():
    families = {detect.choose(files.read_head(p, False)[0], None).family.name for p in LOGS}
    assert {"python_text", "json_lines", "mariadb", "mysql_error", "postgres", "latency_table", "status"} <= families


def _split_then_clean(tmp_path: Path, data: bytes, cuts: list[int]) -> tuple[dict, dict]:
    folder = tmp_path / "logs"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    log = folder / "app.log"
    split_db, clean_db = tmp_path / "split.duckdb", tmp_path / "clean.duckdb"
    for db in (split_db, clean_db):
        db.unlink(missing_ok=True)
    log.write_bytes(b"")
    done = 0
    for cut in [*sorted(cuts), len(data)]:
        with open(log, "ab") as fh:
            fh.write(data[done:cut])
        done = cut
        ingest([folder], split_db)
    ingest([folder], clean_db)
    return dump(split_db, DATA_TABLES), dump(clean_db, DATA_TABLES)


@pytest.mark.parametrize("log", LOGS, ids=[f"{p.parent.name}/{p.name}" for p in LOGS])
def test_split_at_every_line_end_and_inside_the_last_record(tmp_path, log):
    data = log.read_bytes()
    # inside a line near the end, and just after a line near the middle
    middle = data.rfind(b"\n", 0, len(data) // 2) + 1
    split, clean = _split_then_clean(tmp_path, data, [middle, max(middle, len(data) - 7)])
    assert split == clean


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=st.sampled_from(LOGS),
    fractions=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=3),
)
def test_random_split_points_give_the_clean_store(tmp_path, log, fractions):
    data = log.read_bytes()
    cuts = sorted({int(f * len(data)) for f in fractions})
    split, clean = _split_then_clean(tmp_path, data, cuts)
    assert split == clean


def test_a_traceback_whose_error_line_comes_later_is_a_drop(tmp_path):
    """The case users met: a cron ingest ran while a traceback was half written."""
    folder = tmp_path / "logs"
    folder.mkdir()
    log = folder / "app.log"
    db = tmp_path / "s.duckdb"
    log.write_text("2026-11-30 00:00:02,000 - app - ERROR - Job failed\nTraceback (most recent call last):\n")
    first = ingest([folder], db).files[0]
    assert first.status == "new" and first.lines == 2 and first.accounted == 2
    with open(log, "a") as fh:
        fh.write(
            '  File "/app/job.py", line 3, in run\n'
            "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) "
            "(2013, 'Lost connection to MySQL server during query')\n"
            "2026-11-30 00:00:03,000 - app - INFO - next job\n"
        )
    second = ingest([folder], db).files[0]
    # a file this small is read again whole (its layout is chosen again from more lines)
    assert second.status == "appended" and second.lines == 5 and second.accounted == 5
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = con.execute("SELECT line_no, kind FROM events ORDER BY line_no").fetchall()
        rejects = con.execute("SELECT count(*) FROM rejects").fetchone()[0]
    assert kinds == [(1, "lost_connection"), (5, "other")] and rejects == 0
    clean = tmp_path / "clean.duckdb"
    ingest([folder], clean)
    assert dump(db, DATA_TABLES) == dump(clean, DATA_TABLES)


def test_a_file_that_did_not_grow_is_unchanged_and_its_tail_kept(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    first, second = "2026-11-30 00:00:02,000 - app - INFO - one\n", "2026-11-30 00:00:03,000 - app - INFO - t"
    (folder / "app.log").write_text(first + second)
    db = tmp_path / "s.duckdb"
    ingest([folder], db)
    assert ingest([folder], db).files[0].status == "unchanged"
    with duckdb.connect(str(db), read_only=True) as con:
        done, lines, tail, events = con.execute("SELECT bytes_done, lines_done, tail, events FROM files").fetchone()
        stored = con.execute("SELECT count(*) FROM events").fetchone()[0]
    # the half-written last line is stored, and counted, until the file grows
    read_to = len(first + second)
    assert lines == 1 and json.loads(tail) == {
        "read_to": read_to,
        "events": 1,
        "rejects": 0,
        "latency": 0,
        "metrics": 0,
    }
    assert done == len(first) and events == stored == 2


def test_a_file_growing_while_it_is_read_is_not_read_again_from_its_start(tmp_path):
    """The size recorded is what was read, not what the file had when the run began."""
    from pipeline.ingest import runner

    folder = tmp_path / "logs"
    folder.mkdir()
    log = folder / "app.log"
    line = "2026-11-30 00:00:02,000 - app - INFO - job ok\n"
    log.write_text(line * 2000)
    db = tmp_path / "s.duckdb"
    real = files.iter_chunks

    def growing(path, **kwargs):  # the writer appends while the first chunk is parsed
        for n, chunk in enumerate(real(path, **kwargs)):
            if n == 0:
                with open(log, "a") as fh:
                    fh.write(line * 10)
            yield chunk

    monkey = pytest.MonkeyPatch()
    monkey.setattr(runner.files, "iter_chunks", growing)
    try:
        ingest([folder], db, chunk_bytes=16 * 1024)
    finally:
        monkey.undo()
    again = ingest([folder], db).files[0]
    assert again.status in ("unchanged", "appended") and again.lines <= 1


def test_a_symlinked_folder_is_the_same_folder(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "app.log").write_text("2026-11-30 00:00:02,000 - app - INFO - one\n")
    (tmp_path / "link").symlink_to(folder)
    db = tmp_path / "s.duckdb"
    ingest([folder], db)
    report = ingest([tmp_path / "link"], db).files[0]
    assert report.status == "unchanged" and report.path == str(folder.resolve() / "app.log")
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_special_files_are_listed_as_skipped(tmp_path):
    import os

    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "app.log").write_text("2026-11-30 00:00:02,000 - app - INFO - one\n")
    os.mkfifo(folder / "pipe.log")
    (folder / "zero.log").symlink_to("/dev/zero")
    summary = ingest([folder], tmp_path / "s.duckdb")
    by_name = {Path(f.path).name: f for f in summary.files}
    assert by_name["pipe.log"].status == "skipped" and "FIFO" in by_name["pipe.log"].warnings[0]
    assert by_name["zero"].status == "skipped" and "device" in by_name["zero"].warnings[0]
    assert by_name["app.log"].status == "new"
