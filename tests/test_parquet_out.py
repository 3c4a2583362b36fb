"""`pipeline ingest PATHS --out DIR`: many machines add to one Parquet collection, exactly."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.parquet_out import ingest_to_parquet
from tests.test_ingest_incremental import app_lines

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
ROW_TABLES = ("events", "latency", "metrics", "rejects")


def _rows(out: Path, table: str) -> list[tuple]:
    """What a reader of the collection sees (the same query DuckDB users would write)."""
    glob = str(out / table / "**" / "*.parquet")
    if not list((out / table).rglob("*.parquet")):
        return []
    with duckdb.connect() as con:
        cols = "event_id, file, line_no, kind, raw" if table == "events" else "*"
        return con.execute(
            f"SELECT {cols} FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY ALL"
        ).fetchall()


def _ids(out: Path) -> list[str]:
    return [r[0] for r in _rows(out, "events")]


def _snapshot(out: Path) -> dict[str, list[tuple]]:
    return {table: _rows(out, table) for table in ROW_TABLES}


def _copy_samples(dest: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(SAMPLES / name, dest / name)
    return dest


def test_two_machines_twice_no_duplicates_and_nothing_lost(tmp_path):
    out = tmp_path / "collection"
    a = _copy_samples(tmp_path / "a", "middlebox_idle_kill")
    b = _copy_samples(tmp_path / "b", "pool_exhaustion")
    first_a = ingest_to_parquet([a], out, machine="app-a", jobs=1)
    ingest_to_parquet([b], out, machine="app-b", jobs=1)
    before = _snapshot(out)
    again = ingest_to_parquet([a], out, machine="app-a", jobs=1)
    assert first_a.parts_written > 0 and again.parts_written == 0  # nothing new, nothing written
    assert _snapshot(out) == before
    ids = _ids(out)
    assert len(ids) == len(set(ids)) > 0
    # each machine's events are all there: as many as a store gets from the same logs
    from pipeline.ingest.runner import ingest_paths

    ingest_paths([a, b], tmp_path / "s.duckdb", correlate=False)
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        expected = con.execute("SELECT file, line_no, kind, raw FROM events ORDER BY ALL").fetchall()
    assert sorted(r[1:] for r in _rows(out, "events")) == expected


def test_the_same_path_on_two_machines_is_two_files(tmp_path):
    out = tmp_path / "collection"
    logs = _copy_samples(tmp_path / "logs", "middlebox_idle_kill")
    ingest_to_parquet([logs], out, machine="one", jobs=1)
    n = len(_ids(out))
    ingest_to_parquet([logs], out, machine="two", jobs=1)
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == 2 * n


def _grow_in_steps(log: Path, text: str, cuts: list[int], out: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    for cut in [*cuts, len(text)]:
        log.write_text(text[:cut])
        ingest_to_parquet([log.parent], out, machine="m", jobs=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_appending_gives_what_one_read_of_the_whole_file_gives(tmp_path, seed):
    """Lines added between runs, cut anywhere (inside a traceback, inside a line): the
    collection ends equal to one read of the final file, ids included."""
    text = app_lines(0, 400, every_error=7)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), 4))
    grown, whole = tmp_path / "grown", tmp_path / "whole"
    _grow_in_steps(tmp_path / "g" / "web-1" / "app.log", text, cuts, grown)
    _grow_in_steps(tmp_path / "w" / "web-1" / "app.log", text, [], whole)
    got, want = _snapshot(grown), _snapshot(whole)
    # the two folders differ in name only: compare what the rows say, ids included
    strip = lambda rows: [tuple(str(v).replace("/g/", "/w/") for v in r) for r in rows]  # noqa: E731
    assert {t: strip(rows) for t, rows in got.items()} == {t: strip(rows) for t, rows in want.items()}
    ids = _ids(grown)
    assert len(ids) == len(set(ids))


def test_a_rewritten_file_replaces_its_rows(tmp_path):
    out = tmp_path / "collection"
    log = tmp_path / "logs" / "web-1" / "app.log"
    log.parent.mkdir(parents=True)
    log.write_text(app_lines(0, 300))
    ingest_to_parquet([log.parent], out, machine="m", jobs=1)
    log.write_text(app_lines(5000, 100))  # rotated: other content from line 1
    result = ingest_to_parquet([log.parent], out, machine="m", jobs=1)
    assert [f.status for f in result.summary.files] == ["restarted"]
    raws = [r[4] for r in _rows(out, "events")]
    assert raws and all("job 5" in r for r in raws)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, env=env, **kw)


def test_a_killed_run_leaves_no_half_file_and_the_next_run_completes_it(tmp_path):
    """SIGKILL at several moments of a run: every Parquet file a reader can see is whole,
    and the next run leaves the collection as one uninterrupted run would."""
    logs = tmp_path / "logs"
    for host in ("web-1", "web-2", "web-3"):
        (logs / host).mkdir(parents=True)
        (logs / host / "app.log").write_text(app_lines(0, 30000, every_error=11))
    clean = tmp_path / "clean"
    assert _cli("ingest", str(logs), "--out", str(clean), "--machine", "m", "--jobs", "1").returncode == 0
    want = _snapshot(clean)
    started = time.perf_counter()
    _cli("ingest", str(logs), "--out", str(tmp_path / "timing"), "--machine", "m", "--jobs", "1")
    whole_run = time.perf_counter() - started

    out = tmp_path / "killed"
    states = set()  # whether each kill left the collection complete
    for fraction in (0.55, 0.7, 0.8, 0.9, 0.97):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "ingest",
                str(logs),
                "--out",
                str(out),
                "--machine",
                "m",
                "--jobs",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(whole_run * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # what a reader globs: every file whole (a half-written Parquet file has no footer)
        with duckdb.connect() as con:
            for part in out.rglob("*.parquet"):
                if not any(p.startswith("_") for p in part.relative_to(out).parts):
                    con.execute(f"SELECT count(*) FROM read_parquet('{part}')").fetchone()
        states.add(_snapshot(out) == want)
    assert False in states  # some kill did cut a run short
    assert _cli("ingest", str(logs), "--out", str(out), "--machine", "m", "--jobs", "1").returncode == 0
    assert _snapshot(out) == want


def test_cli_mistakes_are_one_line(tmp_path):
    logs = _copy_samples(tmp_path / "logs", "middlebox_idle_kill")
    both = _cli("ingest", str(logs), "--out", str(tmp_path / "o"), "--db", str(tmp_path / "s.duckdb"))
    assert both.returncode == 2 and both.stderr.startswith("error: --out writes a Parquet collection")
    alone = _cli("ingest", str(logs), "--machine", "m", "--db", str(tmp_path / "s.duckdb"))
    assert alone.returncode == 2 and "give --out too" in alone.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    busy = _cli("ingest", str(logs), "--out", str(tmp_path / "busy"))
    assert busy.returncode == 1 and busy.stderr.count("\n") == 1 and "not a collection" in busy.stderr


def test_a_collection_loads_into_a_store_with_the_same_verdicts(tmp_path):
    out = tmp_path / "collection"
    logs = _copy_samples(tmp_path / "logs", "middlebox_idle_kill", "pool_exhaustion")
    assert _cli("ingest", str(logs), "--out", str(out), "--machine", "m").returncode == 0
    from_out = _cli("ingest", str(out), "--db", str(tmp_path / "from_out.duckdb"), "--json")
    direct = _cli("ingest", str(logs), "--db", str(tmp_path / "direct.duckdb"), "--json")
    assert from_out.returncode == direct.returncode == 0
    causes = []
    for db in ("from_out.duckdb", "direct.duckdb"):
        with duckdb.connect(str(tmp_path / db), read_only=True) as con:
            causes.append(con.execute("SELECT start_ts, cause, errors FROM incidents ORDER BY ALL").fetchall())
    assert causes[0] == causes[1] and causes[0]


def _parts_per_partition(out: Path) -> list[int]:
    folders: dict[Path, int] = {}
    for part in out.rglob("*.parquet"):
        if part.parent.name.startswith("host=") or part.parent.name.startswith("date="):
            folders[part.parent] = folders.get(part.parent, 0) + 1
    return sorted(folders.values())


def test_frequent_runs_leave_few_parts_and_the_same_rows(tmp_path):
    """A machine that runs every few minutes: its parts of a file in a partition are merged
    once there are COMPACT_AT of them; the rows are those of one read of the whole file."""
    from pipeline.parquet_out import COMPACT_AT

    text = app_lines(0, 30000, every_error=7)
    cuts = [len(text) * i // 20 + 3 for i in range(1, 20)]  # 20 runs, each ending inside a line
    grown, whole = tmp_path / "grown", tmp_path / "whole"
    _grow_in_steps(tmp_path / "g" / "web-1" / "app.log", text, cuts, grown)
    _grow_in_steps(tmp_path / "w" / "web-1" / "app.log", text, [], whole)
    strip = lambda rows: [tuple(str(v).replace("/g/", "/w/") for v in r) for r in rows]  # noqa: E731
    assert {t: strip(r) for t, r in _snapshot(grown).items()} == {t: strip(r) for t, r in _snapshot(whole).items()}
    assert max(_parts_per_partition(grown)) < COMPACT_AT
    # the merged parts hold only their own columns (the partition's come from the path)
    with duckdb.connect() as con:
        for part in grown.rglob("*.parquet"):
            if "_progress" not in part.parts:
                cols = {
                    c
                    for (c, *_) in con.execute(
                        f"DESCRIBE SELECT * FROM read_parquet('{part}', hive_partitioning = false)"
                    ).fetchall()
                }
                assert not cols & {"source", "date", "host"}, part


@pytest.mark.parametrize("moment", ["before the merged part goes in", "after it went in"])
def test_a_merge_cut_short_is_finished_by_the_next_run(tmp_path, monkeypatch, moment):
    import pipeline.parquet_out as out_mod

    text = app_lines(0, 30000, every_error=7)
    cuts = [len(text) * i // 12 + 3 for i in range(1, out_mod.COMPACT_AT)]
    log = tmp_path / "logs" / "web-1" / "app.log"
    grown = tmp_path / "grown"
    _grow_in_steps(log, text[: cuts[-1]], cuts[:-1], grown)  # one part short of a merge
    want_dir = tmp_path / "whole"
    _grow_in_steps(tmp_path / "w" / "web-1" / "app.log", text, [], want_dir)

    class Killed(BaseException):
        pass

    real_replace = os.replace

    def replace(src, dst):
        if str(src).endswith(".merge"):
            if moment == "after it went in":
                real_replace(src, dst)
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(out_mod.os, "replace", replace)
    log.write_text(text)
    with pytest.raises(Killed):
        ingest_to_parquet([log.parent], grown, machine="m", jobs=1)
    monkeypatch.setattr(out_mod.os, "replace", real_replace)
    assert (grown / "_progress" / "m" / out_mod.COMPACTING).is_file()
    ingest_to_parquet([log.parent], grown, machine="m", jobs=1)  # nothing new to read: finishes the merge
    assert not (grown / "_progress" / "m" / out_mod.COMPACTING).exists()
    strip = lambda rows: [tuple(str(v).replace("/logs/", "/w/") for v in r) for r in rows]  # noqa: E731
    got = {t: strip(r) for t, r in _snapshot(grown).items()}
    assert got == {t: strip(r) for t, r in _snapshot(want_dir).items()}


def test_machines_starting_together_on_a_new_folder_both_add(tmp_path):
    """The first runs of two machines on an empty folder: one may see the other's marker
    being written (a "_" file) or just written, and must add to the collection, not refuse."""
    from pipeline.export import MARK

    logs = _copy_samples(tmp_path / "logs", "pool_exhaustion")
    being_written = tmp_path / "a"
    being_written.mkdir()
    (being_written / f"_{MARK}.4242.tmp").write_text("{")
    assert ingest_to_parquet([logs], being_written, machine="m", jobs=1).parts_written > 0
    # and side by side, for real
    import concurrent.futures

    together = tmp_path / "b"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(ingest_to_parquet, [logs], together, machine=name, jobs=1) for name in ("m1", "m2")]
        assert all(run.result().parts_written > 0 for run in runs)
    something_else = tmp_path / "c"
    (something_else / "events").mkdir(parents=True)
    with pytest.raises(Exception, match="not empty and not a collection"):
        ingest_to_parquet([logs], something_else, machine="m", jobs=1)
