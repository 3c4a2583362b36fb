"""Large files are committed in segments that end where an event starts.

Segments make a killed run resumable and let DuckDB insert while the next chunks
parse; none of that may change which rows a file gives.  ``SEGMENT_BYTES`` is made
tiny here so a few hundred KB of log give many segments.
"""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from pipeline.ingest import runner, writer
from tests.helpers import write_log
from tests.store_dump import count, dump
from tests.test_ingest_incremental import DATA_TABLES, app_lines, ingest

SMALL_CHUNK = 16 * 1024


@pytest.fixture
def small_segments(monkeypatch):
    monkeypatch.setattr(runner, "SEGMENT_BYTES", 32 * 1024)


def files_row(db, path):
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("SELECT * FROM files WHERE path = ?", [str(path)])
        cols = [d[0] for d in cur.description]
        return dict(zip(cols, cur.fetchone()))


def test_segments_give_the_same_rows_as_one_commit(tmp_path, small_segments, monkeypatch):
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text(app_lines(0, 3000, every_error=3))  # tracebacks cross many chunk edges
    segmented = tmp_path / "seg.duckdb"
    commits = []
    real_commit = writer.commit_file
    monkeypatch.setattr(writer, "commit_file", lambda con, row: (commits.append(row), real_commit(con, row)))
    report = ingest([log], segmented, chunk_bytes=SMALL_CHUNK).files[0]
    assert len(commits) > 5, "the file should have been committed in several segments"
    assert report.lines == report.accounted and report.rejects == 0
    segments = list(commits)

    monkeypatch.setattr(runner, "SEGMENT_BYTES", 1 << 40)
    whole = tmp_path / "whole.duckdb"
    ingest([log], whole, chunk_bytes=SMALL_CHUNK)
    assert dump(segmented, DATA_TABLES) == dump(whole, DATA_TABLES)

    # every segment ends at the first byte of a line that starts an event
    data = log.read_bytes()
    for row in segments[:-1]:
        at = row["bytes_done"]
        assert 0 < at < len(data) and data[at - 1 : at] == b"\n"
        assert data[at : at + 4] == b"2026", data[at : at + 60]
        assert data[:at].count(b"\n") == row["lines_done"]
    # the last commit keeps the file's last event as a tail, read again when the file grows
    last = segments[-1]
    assert json.loads(last["tail"])["read_to"] == len(data)
    assert data[last["bytes_done"] :].startswith(b"2026") and data[: last["bytes_done"]].endswith(b"\n")


# Stops the process hard just before the third commit, as a kill would.
DIE_AT_THIRD_COMMIT = r"""
import os, sys
from pipeline.ingest import runner, writer
runner.SEGMENT_BYTES = 32 * 1024
real = writer.commit_file
done = []
def commit(con, files_row):
    if len(done) == 2:
        os._exit(9)
    done.append(1)
    real(con, files_row)
writer.commit_file = commit
runner.ingest_paths([sys.argv[1]], sys.argv[2], correlate=False, chunk_bytes=16 * 1024)
"""


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_killed_run_resumes_after_its_last_segment(tmp_path, compressed):
    (tmp_path / "logs").mkdir()
    text = app_lines(0, 3000, every_error=3)
    log = write_log(tmp_path / "logs" / ("app.log.gz" if compressed else "app.log"), text)
    db = tmp_path / "s.duckdb"
    proc = subprocess.run([sys.executable, "-c", DIE_AT_THIRD_COMMIT, str(log), str(db)], timeout=120)
    assert proc.returncode == 9
    kept = count(db, "events")
    assert kept > 0, "two segments were committed before the crash"
    row = files_row(db, log)
    assert row["bytes_done"] < len(text)

    report = ingest([log], db, chunk_bytes=SMALL_CHUNK).files[0]
    # a plain file goes on from the last segment; a .gz one is read again from its start
    assert report.status == ("restarted" if compressed else "resumed")
    if not compressed:
        assert report.lines == text.count("\n") - row["lines_done"]
    clean = tmp_path / "clean.duckdb"
    ingest([log], clean, chunk_bytes=SMALL_CHUNK)
    assert dump(db, DATA_TABLES) == dump(clean, DATA_TABLES)
    assert ingest([log], db).files[0].status == "unchanged"


def test_a_failed_segment_stops_the_file(tmp_path, small_segments, monkeypatch):
    """If one segment cannot be written, later ones must not record progress past it."""
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text(app_lines(0, 3000))
    calls = []
    real_commit = writer.commit_file

    def failing(con, files_row):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        real_commit(con, files_row)

    monkeypatch.setattr(writer, "commit_file", failing)
    db = tmp_path / "s.duckdb"
    report = ingest([log], db, chunk_bytes=SMALL_CHUNK).files[0]
    assert report.status == "error" and "disk full" in report.error
    first_segment_end = files_row(db, log)["bytes_done"]
    monkeypatch.setattr(writer, "commit_file", real_commit)
    assert ingest([log], db, chunk_bytes=SMALL_CHUNK).files[0].status == "resumed"
    clean = tmp_path / "clean.duckdb"
    ingest([log], clean, chunk_bytes=SMALL_CHUNK)
    assert dump(db, DATA_TABLES) == dump(clean, DATA_TABLES)
    assert first_segment_end < log.stat().st_size


@pytest.mark.parametrize("n_lines", [1, 2, 50, 1500])  # 1500: past the backward walk, the array path
@pytest.mark.parametrize("ends_with_newline", [True, False])
def test_offset_of_line_is_where_the_line_starts(n_lines, ends_with_newline):
    from pipeline.ingest.files import Chunk, _lines_frame

    lines = [("é" if i % 7 == 0 else "x") * (i % 13) for i in range(n_lines)]
    body = ("\r\n".join(lines) + ("\r\n" if ends_with_newline else "")).encode()
    frame, _, _ = _lines_frame(body, 10)
    chunk = Chunk(frame, 1000, 1000 + len(body), False, 0, 0, body=body)
    assert frame.height == n_lines
    for k in {0, 1, n_lines // 2, n_lines - 1} - {n_lines} if n_lines > 1 else {0}:
        expected = 1000 + sum(len(line.encode()) + 2 for line in lines[:k])
        assert chunk.offset_of_line(10 + k) == expected


def test_a_failed_insert_rolls_back_its_segment(tmp_path, small_segments, monkeypatch):
    """Rows go into the store as each chunk is parsed; an insert that fails in the middle
    of a segment takes the whole segment's rows with it, not just its own."""
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_text(app_lines(0, 3000, every_error=3))
    inserts = []
    real_insert = writer.insert_rows

    def failing(con, table, rows, shared):
        inserts.append(table)
        if len(inserts) == 4:  # the second chunk of the second segment
            raise OSError("disk full")
        real_insert(con, table, rows, shared)

    monkeypatch.setattr(writer, "insert_rows", failing)
    db = tmp_path / "s.duckdb"
    report = ingest([log], db, chunk_bytes=SMALL_CHUNK).files[0]
    assert report.status == "error" and "disk full" in report.error
    row = files_row(db, log)
    stored_lines = count(db, "events")
    with duckdb.connect(str(db), read_only=True) as con:
        last = con.execute("SELECT max(line_no) FROM events").fetchone()[0]
    assert stored_lines > 0 and last <= row["lines_done"], "nothing past the committed segment"

    monkeypatch.setattr(writer, "insert_rows", real_insert)
    assert ingest([log], db, chunk_bytes=SMALL_CHUNK).files[0].status == "resumed"
    clean = tmp_path / "clean.duckdb"
    ingest([log], clean, chunk_bytes=SMALL_CHUNK)
    assert dump(db, DATA_TABLES) == dump(clean, DATA_TABLES)
