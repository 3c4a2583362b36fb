"""Incremental, idempotent, safe: re-runs, appends, rotation, truncation, .gz, chunking."""

from __future__ import annotations

import gzip
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.ingest.runner import ingest_paths
from tests.store_dump import count, dump
from tests.treegen import LOST_QUERY_TRACEBACK

DATA_TABLES = ("events", "latency", "metrics", "rejects")


def app_lines(start: int, n: int, *, every_error: int = 5) -> str:
    out = []
    for i in range(start, start + n):
        second = i % 60
        minute = (i // 60) % 60
        stamp = f"2026-11-20 10:{minute:02d}:{second:02d},{i % 1000:03d}"
        if i % every_error == 0:
            out += [f"{stamp} - app.worker - ERROR - job {i} failed", *LOST_QUERY_TRACEBACK]
        else:
            out.append(f"{stamp} - app.worker - INFO - job {i} ok url=mysql+pymysql://app:TOPSECRET@db/app")
    return "\n".join(out) + "\n"


def ingest(paths, db, **kw):
    return ingest_paths([str(p) for p in paths], db, correlate=False, **kw)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "s.duckdb"


@pytest.fixture
def app_log(tree, db) -> Path:
    """web-1/app.log, already ingested once into ``db``."""
    log = tree / "web-1" / "app.log"
    ingest([log], db)
    return log


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "logs"
    (root / "web-1").mkdir(parents=True)
    (root / "web-2").mkdir()
    (root / "web-1" / "app.log").write_text(app_lines(0, 300))
    (root / "web-2" / "app.log").write_text(app_lines(1000, 200))
    with gzip.open(root / "web-2" / "app.log.1.gz", "wt") as fh:
        fh.write(app_lines(2000, 100))
    return root


def test_second_run_adds_nothing(tree, db):
    first = ingest([tree], db)
    before = dump(db, DATA_TABLES)
    second = ingest([tree], db)
    assert first.totals()["events"] > 0
    assert {f.status for f in second.files} == {"unchanged"}
    assert second.totals()["events"] == 0
    assert dump(db, DATA_TABLES) == before


def test_a_rerun_over_unchanged_files_starts_without_polars(tree, db):
    """The command that cron runs every few minutes: when nothing changed, it neither
    parses nor imports the parsers (polars' import is a third of such a run)."""
    ingest([tree], db)
    script = (
        "import sys\n"
        "from pipeline.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'polars' not in sys.modules, 'polars was imported'\n"
        "print('ok')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, "ingest", str(tree), "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert '"unchanged"' in run.stdout and '"new"' not in run.stdout
    assert run.stdout.rstrip().endswith("ok")


def test_same_rows_as_a_single_run_whatever_the_history(tree, tmp_path):
    db_once, db_steps = tmp_path / "once.duckdb", tmp_path / "steps.duckdb"
    ingest([tree], db_once)
    # same folder, but built up: first one file, then the rest, then again
    ingest([tree / "web-1"], db_steps)
    ingest([tree], db_steps)
    ingest([tree], db_steps)
    assert dump(db_steps, DATA_TABLES) == dump(db_once, DATA_TABLES)


def test_appended_file_continues_where_it_stopped(app_log, tmp_path, db):
    app_log.write_text(app_lines(0, 1500))  # larger than what detection reads (smaller files are read whole)
    ingest([app_log], db)
    before = count(db, "events")
    with open(app_log, "a") as fh:
        fh.write(app_lines(1500, 50))
    report = ingest([app_log], db).files[0]
    assert report.status == "appended"
    # the last event of the earlier run is read again (it might have been still being written)
    assert report.events == 50 + 1
    assert count(db, "events") == before + 50


def test_a_small_file_that_grew_is_read_again_whole(app_log, tmp_path, db):
    with open(app_log, "a") as fh:
        fh.write(app_lines(300, 50))
    report = ingest([app_log], db).files[0]
    assert report.status == "appended" and report.events == 350
    assert count(db, "events") == 350
    # identical to reading the grown file in one go
    fresh = tmp_path / "fresh.duckdb"
    ingest([app_log], fresh)
    assert dump(db, DATA_TABLES) == dump(fresh, DATA_TABLES)


def test_truncated_or_rotated_file_is_read_again_from_the_start(tree, app_log, db):
    # rotation: the old content moves away, a new file with other content takes the name
    shutil.move(app_log, tree / "web-1" / "app.log.1")
    app_log.write_text(app_lines(5000, 10))
    report = ingest([app_log], db).files[0]
    assert report.status == "restarted"
    assert count(db, "events", "file = ?", [str(app_log)]) == 10
    assert count(db, "events", "message LIKE 'job 5%'") == 10
    # truncation to a shorter file with a different head
    app_log.write_text(app_lines(7000, 3))
    assert ingest([app_log], db).files[0].status == "restarted"
    assert count(db, "events", "file = ?", [str(app_log)]) == 3


def test_gz_is_read_directly(tree, db):
    gz = tree / "web-2" / "app.log.1.gz"
    report = ingest([gz], db).files[0]
    assert report.format == "python_text"
    assert report.events == 100
    assert ingest([gz], db).files[0].status == "unchanged"


def test_chunk_size_does_not_change_the_result(tree, tmp_path):
    big, small = tmp_path / "big.duckdb", tmp_path / "small.duckdb"
    ingest([tree], big)
    # 1 MiB is the smallest chunk the CLI allows; force tiny chunks through the library
    ingest([tree], small, chunk_bytes=700)
    assert dump(small, DATA_TABLES) == dump(big, DATA_TABLES)


def test_secrets_are_redacted_before_storage(tree, db):
    ingest([tree], db)
    assert count(db, "events", "raw LIKE '%TOPSECRET%' OR message LIKE '%TOPSECRET%'") == 0
    assert count(db, "events", "raw LIKE '%app:***@db%'") > 0
    # and the bytes of the file itself do not contain it either
    assert b"TOPSECRET" not in Path(db).read_bytes()


def test_unknown_files_are_listed_and_skipped(tree, db):
    (tree / "notes.txt").write_text("shopping list\nmilk\n")
    (tree / "image.bin").write_bytes(bytes(range(256)) * 10)
    (tree / "empty.log").write_text("")
    reports = {Path(f.path).name: f for f in ingest([tree], db).files}
    for name in ("notes.txt", "image.bin", "empty.log"):
        assert reports[name].status == "unknown"
        assert reports[name].warnings
    assert "binary" in reports["image.bin"].warnings[0]
    assert count(db, "events", "file LIKE '%notes.txt'") == 0


def test_every_line_is_accounted_for(tree, db):
    (tree / "web-1" / "app.log").write_text("  stray first line\n" + app_lines(0, 20))
    report = ingest([tree / "web-1" / "app.log"], db).files[0]
    con_lines = len((tree / "web-1" / "app.log").read_bytes().splitlines())
    assert report.lines == con_lines
    assert report.rejects == 1
    assert count(db, "rejects", "line_no = 1 AND reason LIKE 'continuation%'") == 1


KILLER = r"""
import sys
from pipeline.ingest.runner import ingest_paths
ingest_paths([sys.argv[1]], sys.argv[2], correlate=False, chunk_bytes=64 * 1024)
"""


def test_killed_ingest_leaves_no_partial_file(tmp_path, db):
    root = tmp_path / "logs"
    root.mkdir()
    big = root / "big.log"
    big.write_text(app_lines(0, 60000))  # several MB, many chunks
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(root), str(db)])
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if db.exists():
        # either the whole file is there, or none of it
        n = count(db, "events")
        assert n in (0, count_expected(big, tmp_path))
    ingest([root], db)
    ingest([root], tmp_path / "clean.duckdb")
    assert dump(db, DATA_TABLES) == dump(tmp_path / "clean.duckdb", DATA_TABLES)


def count_expected(path: Path, tmp_path: Path) -> int:
    db = tmp_path / "expected.duckdb"
    ingest([path], db)
    return count(db, "events")


def test_config_ignore_list_skips_files(tree, tmp_path):
    (tree / "pipeline.toml").write_text('ignore = ["*.md", "truth.json"]\n')
    (tree / "README.md").write_text("# notes\n")
    (tree / "web-1" / "truth.json").write_text("[]\n")
    names = {Path(f.path).name for f in ingest([tree], tmp_path / "s.duckdb").files}
    assert "README.md" not in names and "truth.json" not in names
    assert "app.log" in names


def test_correlation_reruns_only_when_data_or_thresholds_change(tree, tmp_path, db):
    first = ingest_paths([str(tree)], db)
    assert "skipped" not in first.correlation
    again = ingest_paths([str(tree)], db)
    assert again.correlation == {"skipped": "nothing changed since the last correlation"}
    with open(tree / "web-1" / "app.log", "a") as fh:
        fh.write(app_lines(300, 10))
    assert "skipped" not in ingest_paths([str(tree)], db).correlation
    config = tmp_path / "other.toml"
    config.write_text("[correlate]\ngap_seconds = 40\n")
    assert "skipped" not in ingest_paths([str(tree)], db, config=config).correlation
