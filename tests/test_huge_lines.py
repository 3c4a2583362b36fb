"""A line longer than --max-line-bytes is stored cut to that length and marked with its whole
length; reading it never holds the whole line, the summary's counts are the store's, and
the next run does not read it again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.helpers import write_log

HEADER = b"2026-11-20 10:00:00,000 - app.db - ERROR - query failed: INSERT INTO t VALUES "
MARK = " \u2026[truncated: {} bytes]"


def _store_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("events", "rejects", "latency", "metrics")
        }
    finally:
        con.close()


def _raws(db: Path) -> list[tuple[int, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT line_no, raw FROM events ORDER BY line_no").fetchall()
    finally:
        con.close()


def _ingest(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["ingest", *args, "--json", "--no-correlate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _line(n: int, tail: str = "ok") -> bytes:
    return f"2026-11-20 10:00:{n:02d},000 - app - INFO - line {n} {tail}\n".encode()


# -- the 200 MB line ------------------------------------------------------------------


@pytest.mark.slow
def test_a_200_mb_line_without_newline_is_cut_with_bounded_memory(tmp_path):
    if shutil.disk_usage(tmp_path).free < 1 << 30:
        pytest.skip("needs 1 GiB of free disk")
    log = tmp_path / "one.log"
    size = 200 * 1024 * 1024
    with open(log, "wb") as fh:
        fh.write(HEADER)
        block = b"(1,'x')," * (1 << 17)  # 1 MiB
        left = size - len(HEADER)
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)
    assert log.stat().st_size == size
    db = tmp_path / "huge.duckdb"
    cmd = [sys.executable, "-m", "pipeline.cli", "ingest", str(log), "--db", str(db), "--json", "--no-correlate"]

    # the child's own peak RSS, from wait4 (RUSAGE_CHILDREN would be the largest child so far)
    out_path, err_path = tmp_path / "out.json", tmp_path / "err.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err_path.read_text()
    peak_mib = usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux
    print(f"200 MB line: peak RSS {peak_mib:.0f} MiB, {usage.ru_utime + usage.ru_stime:.1f} s CPU")
    assert peak_mib < 1024, f"peak RSS {peak_mib:.0f} MiB"
    assert "Traceback" not in err_path.read_text()

    summary = json.loads(out_path.read_text())
    [f] = summary["files"]
    assert f["status"] == "new" and f["error"] is None, f
    assert summary["totals"]["bytes"] == size and summary["totals"]["lines"] == 1
    assert any("truncated" in w for w in f["warnings"]), f["warnings"]
    counts = _store_counts(db)
    assert counts == {k: summary["totals"][k] for k in counts}, (counts, summary["totals"])
    assert counts["events"] + counts["rejects"] == 1
    [(line_no, raw)] = _raws(db) or [(None, None)]
    assert line_no == 1 and raw.endswith(MARK.format(size)) and raw.startswith(HEADER.decode())
    assert len(raw.encode()) == 1024 * 1024 + len(MARK.format(size).encode())

    again = subprocess.run(cmd, check=True, capture_output=True, text=True)
    second = json.loads(again.stdout)
    assert second["files"][0]["status"] == "unchanged"
    assert second["totals"]["bytes"] == 0 and second["totals"]["events"] == 0
    assert _store_counts(db) == counts


# -- small limits: the marker, offsets, resuming -----------------------------------------


def test_a_long_line_is_cut_to_the_limit_and_marked(tmp_path):
    long_tail = "v" * 500
    log = tmp_path / "app.log"
    log.write_bytes(_line(1) + _line(2, long_tail) + _line(3))
    db = tmp_path / "s.duckdb"
    summary = _ingest(str(log), "--db", str(db), "--max-line-bytes", "100")
    raws = dict(_raws(db))
    whole = _line(2, long_tail).rstrip(b"\n")
    assert raws[2] == whole[:100].decode() + MARK.format(len(whole))
    assert raws[1] == _line(1).decode().rstrip("\n") and raws[3] == _line(3).decode().rstrip("\n")
    [f] = summary["files"]
    assert f["events"] == 3 and f["lines"] == 3 and f["bytes"] == log.stat().st_size
    assert any("longer than 100 bytes" in w for w in f["warnings"]), f["warnings"]
    assert _store_counts(db)["events"] == summary["totals"]["events"]


def test_normal_lines_are_left_alone(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(_line(i, "w" * 80) for i in range(1, 6)))
    db = tmp_path / "s.duckdb"
    [f] = _ingest(str(log), "--db", str(db), "--max-line-bytes", "200")["files"]
    assert not any("truncated" in w for w in f["warnings"])
    assert all("truncated" not in raw for _, raw in _raws(db))


def test_a_cut_never_splits_a_character(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(_line(1, "é" * 200))
    db = tmp_path / "s.duckdb"
    [f] = _ingest(str(log), "--db", str(db), "--max-line-bytes", "101")["files"]
    [(_, raw)] = _raws(db)
    kept = raw.split(" \u2026[truncated: ")[0]
    assert "\ufffd" not in raw and len(kept.encode()) <= 101 and len(kept.encode()) >= 99
    assert not any("UTF-8" in w for w in f["warnings"]), f["warnings"]


@pytest.mark.parametrize("compressed", [False, True])
def test_a_line_longer_than_a_chunk_is_skipped_to_its_newline(tmp_path, compressed):
    # 3 MiB without a newline, read in 1 MiB chunks: kept 64 KiB of it, then the next lines
    long_tail = "z" * (3 * 1024 * 1024)
    content = _line(1) + _line(2, long_tail) + _line(3) + _line(4, long_tail).rstrip(b"\n")
    log = write_log(tmp_path / ("app.log.gz" if compressed else "app.log"), content)
    db = tmp_path / "s.duckdb"
    summary = _ingest(str(log), "--db", str(db), "--max-line-bytes", "65536", "--chunk-mb", "1")
    raws = dict(_raws(db))
    assert sorted(raws) == [1, 2, 3, 4]
    for n in (2, 4):
        whole = _line(n, long_tail).rstrip(b"\n")
        assert raws[n] == whole[:65536].decode() + MARK.format(len(whole))
    assert raws[3] == _line(3).decode().rstrip("\n")
    [f] = summary["files"]
    assert f["lines"] == 4 and f["bytes"] == len(content)
    con = duckdb.connect(str(db), read_only=True)
    try:
        done, lines, tail = con.execute("SELECT bytes_done, lines_done, tail FROM files").fetchone()
        if compressed:
            assert (done, lines, tail) == (len(content), 4, None)
        else:  # the last line is kept as the file's tail: read to the end, progress before its start
            assert lines == 3 and json.loads(tail)["read_to"] == len(content)
            assert content[:done].count(b"\n") == 3 and content[done:].startswith(_line(4)[:20])
    finally:
        con.close()


def test_lines_after_a_cut_one_are_read_once_when_the_file_grows(tmp_path):
    long_tail = "q" * (2 * 1024 * 1024)
    first = _line(1) + _line(2, long_tail) + _line(3)
    more = _line(4) + _line(5, long_tail) + _line(6)
    log = tmp_path / "app.log"
    log.write_bytes(first)
    grown = tmp_path / "grown.duckdb"
    args = ("--max-line-bytes", "1000", "--chunk-mb", "1")
    _ingest(str(log), "--db", str(grown), *args)
    with open(log, "ab") as fh:
        fh.write(more)
    [f] = _ingest(str(log), "--db", str(grown), *args)["files"]
    # the earlier run's last line (its tail) is read again with the new ones
    assert f["status"] == "appended" and f["lines"] == 1 + 3 and f["bytes"] == len(_line(3) + more)

    clean = tmp_path / "clean.duckdb"
    _ingest(str(log), "--db", str(clean), *args)
    assert _raws(grown) == _raws(clean)
    assert [n for n, _ in _raws(grown)] == [1, 2, 3, 4, 5, 6]
