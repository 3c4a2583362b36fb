"""Hostile and broken input: every case gives rejects or warnings with a reason, the
run completes, and every line read is accounted for."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.ingest.runner import Ingest, ingest_paths
from tests.store_dump import count

GOOD = "2026-11-20 10:00:{:02d},000 - app - INFO - line {}\n"


def good_lines(n: int) -> str:
    return "".join(GOOD.format(i % 60, i) for i in range(n))


def run(paths, db, **kw):
    summary = ingest_paths([str(p) for p in paths], db, correlate=False, **kw)
    for report in summary.files:
        assert report.lines == report.accounted, f"{report.path}: {report.lines} read, {report.accounted} accounted"
    return summary


def by_name(summary):
    return {Path(f.path).name: f for f in summary.files}


def test_binary_nul_invalid_utf8_latin1_and_a_huge_line(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "binary.dat").write_bytes(os.urandom(4096) + b"\x00" * 512)
    (root / "nul.log").write_bytes(good_lines(5).encode() + b"2026-11-20 10:01:00,000 - app - INFO - a\x00b\n")
    (root / "utf8.log").write_bytes(
        good_lines(5).encode() + b"2026-11-20 10:01:00,000 - app - INFO - caf\xc3\xa9 \xff\xfe\n"
    )
    (root / "latin1.log").write_bytes(
        good_lines(5).encode() + "2026-11-20 10:01:00,000 - app - INFO - Müller\n".encode("latin-1")
    )
    (root / "huge.log").write_text(
        good_lines(3) + "2026-11-20 10:01:00,000 - app - ERROR - " + "x" * (5 * 1024 * 1024) + "\n" + good_lines(2)
    )
    db = tmp_path / "s.duckdb"
    reports = by_name(run([root], db, chunk_bytes=1024 * 1024))
    assert reports["binary.dat"].status == "unknown" and "binary" in reports["binary.dat"].warnings[0]
    assert reports["nul.log"].events == 6 and any("NUL" in w for w in reports["nul.log"].warnings)
    assert reports["utf8.log"].events == 6 and any("UTF-8" in w for w in reports["utf8.log"].warnings)
    assert reports["latin1.log"].events == 6 and any("UTF-8" in w for w in reports["latin1.log"].warnings)
    assert reports["huge.log"].events == 6
    # longer than the 1 MiB default: kept as its first bytes and its full length
    assert count(db, "events", "raw LIKE '%…[truncated: % bytes]' AND length(raw) < 1100000") == 1
    assert count(db, "events", "message LIKE 'caf%'") == 1


def test_empty_zero_length_and_truncated_gz(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "zero.log.gz").write_bytes(b"")
    with gzip.open(root / "empty.log.gz", "wb") as fh:
        fh.write(b"")
    data = gzip.compress(good_lines(20000).encode())
    (root / "truncated.log.gz").write_bytes(data[: len(data) // 2])
    db = tmp_path / "s.duckdb"
    reports = by_name(run([root], db))
    assert reports["zero.log.gz"].status == "unknown"
    assert reports["empty.log.gz"].status == "unknown"
    truncated = reports["truncated.log.gz"]
    assert truncated.events > 0 and truncated.rejects == 1
    assert any("reading stopped" in w for w in truncated.warnings)
    assert count(db, "rejects", "reason LIKE 'reading stopped%'") == 1


def test_symlink_loop_and_broken_link(tmp_path):
    root = tmp_path / "logs"
    (root / "a").mkdir(parents=True)
    (root / "a" / "app.log").write_text(good_lines(3))
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")
    (root / "dangling.log").symlink_to(root / "missing.log")
    reports = by_name(run([root], tmp_path / "s.duckdb"))
    assert reports["app.log"].events == 3
    assert reports["self"].status == "error" and reports["dangling.log"].status == "error"


def test_file_vanishes_or_shrinks_while_the_run_reads(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "a.log").write_text(good_lines(20000))
    (root / "b.log").write_text(good_lines(100))
    done = []

    def on_progress(nbytes, name):
        if name == "a.log" and not done:
            done.append(1)
            (root / "b.log").unlink()  # vanishes before its turn
            with open(root / "a.log", "r+") as fh:  # shrinks under our feet
                fh.truncate(200_000)

    db = tmp_path / "s.duckdb"
    # one file at a time: b.log vanishes before its turn
    summary = Ingest(db, chunk_bytes=64 * 1024, on_progress=on_progress, jobs=1).run([root], correlate=False)
    reports = by_name(summary)
    assert reports["b.log"].status == "error" and "No such file" in reports["b.log"].error
    assert reports["a.log"].events > 0
    assert reports["a.log"].lines == reports["a.log"].accounted
    # next run notices the file no longer matches what was stored and reads it again
    again = by_name(run([root], db))
    assert again["a.log"].status in ("restarted", "unchanged")
    assert count(db, "events") == count(db, "events", "file = ?", [str(root / "a.log")])


def test_far_past_future_and_dst(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "pipeline.toml").write_text('[defaults]\ntimezone = "Europe/Berlin"\n')
    (root / "odd.log").write_text(
        "1970-01-01 00:00:01,000 - app - INFO - epoch\n"
        "2999-12-31 23:59:59,000 - app - INFO - far future\n"
        "2026-03-29 02:30:00,000 - app - INFO - DST gap\n"
        "2026-10-25 02:30:00,000 - app - INFO - DST repeat\n"
    )
    db = tmp_path / "s.duckdb"
    report = by_name(run([root], db))["odd.log"]
    assert report.events == 3 and report.rejects == 1
    assert any("implausible" in w for w in report.warnings)
    assert count(db, "rejects", "reason LIKE '%Europe/Berlin%'") == 1


NOBODY = 65534
SETPRIV = shutil.which("setpriv")


def _without_root_powers(cmd, cwd):
    """Run as root but without the capabilities that bypass file permissions, so a
    file owned by someone else with mode 600 is really unreadable (as for a user)."""
    return subprocess.run(
        [SETPRIV, "--bounding-set=-dac_override,-dac_read_search", *cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None,
    reason="needs root and setpriv (util-linux) to drop the permission-bypass capabilities",
)
def test_unreadable_file_and_read_only_store(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "ok.log").write_text(good_lines(3))
    secret = root / "secret.log"
    secret.write_text(good_lines(3))
    os.chown(secret, NOBODY, NOBODY)
    secret.chmod(0o600)  # someone else's, unreadable to us
    db = tmp_path / "s.duckdb"
    cmd = [sys.executable, "-m", "pipeline.cli", "ingest", str(root), "--db", str(db), "--json", "--no-correlate"]
    result = _without_root_powers(cmd, tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    files = {Path(f["path"]).name: f for f in json.loads(result.stdout)["files"]}
    assert files["secret.log"]["status"] == "error" and "ermission" in files["secret.log"]["error"]
    assert files["ok.log"]["events"] == 3
    # a store the user may not write: one clear line, non-zero exit, store intact
    ro_db = tmp_path / "ro.duckdb"
    run([root / "ok.log"], ro_db)
    os.chown(ro_db, NOBODY, NOBODY)
    ro_db.chmod(0o644)
    before = count(ro_db, "events")
    (root / "new.log").write_text(good_lines(2))
    result = _without_root_powers(
        [sys.executable, "-m", "pipeline.cli", "ingest", str(root), "--db", str(ro_db)], tmp_path
    )
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) <= 2
    assert count(ro_db, "events") == before


WRITE_LIMITED = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from pipeline.cli import main
sys.argv = ["pipeline", "ingest", sys.argv[1], "--db", sys.argv[2], "--json", "--no-correlate"]
main()
"""


def test_disk_full_aborts_the_file_and_leaves_the_store_usable(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "small.log").write_text(good_lines(10))
    db = tmp_path / "s.duckdb"
    run([root], db)
    size = db.stat().st_size
    before = count(db, "events")
    (root / "big.log").write_text(good_lines(200000))  # needs far more room than allowed
    result = subprocess.run(
        [sys.executable, "-c", WRITE_LIMITED, str(root), str(db), str(size + 64 * 1024)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert "could not write" in output or "error" in output.lower()
    # the store still opens, holds what it held, and a later run completes the job
    assert count(db, "events") == before
    run([root], db)
    assert count(db, "events") == before + 200000
