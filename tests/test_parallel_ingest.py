"""Files read at once (lanes: one for every two cores ``--jobs`` gives) give the store one
file at a time gives: same rows, same ids, same incidents, whatever the order the files
finish in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.ingest.runner import Ingest, ingest_paths, lanes_for
from tests.store_dump import dump
from tests.test_ingest_incremental import DATA_TABLES, app_lines

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
ALL_TABLES = (*DATA_TABLES, "incidents", "incident_evidence")


def test_the_samples_read_three_at_a_time_give_the_store_one_at_a_time_gives(tmp_path):
    one, three = tmp_path / "one.duckdb", tmp_path / "three.duckdb"
    first = ingest_paths([SAMPLES], one, jobs=1)
    second = ingest_paths([SAMPLES], three, lanes=3)
    # the summary lists files in the order they were found, not the order they finished
    assert [f.path for f in first.files] == [f.path for f in second.files]
    assert [f.events for f in first.files] == [f.events for f in second.files]
    assert dump(one, ALL_TABLES) == dump(three, ALL_TABLES)


def test_appends_rotations_and_tails_across_parallel_runs(tmp_path):
    logs = tmp_path / "logs"
    for n in range(6):
        (logs / f"web-{n}").mkdir(parents=True)
        (logs / f"web-{n}" / "app.log").write_text(app_lines(n * 1000, 900 + 50 * n))
    steps = tmp_path / "steps.duckdb"
    ingest_paths([logs], steps, lanes=2, chunk_bytes=16 * 1024)
    for n in (0, 2, 4):  # grown, one of them ending inside a traceback
        with open(logs / f"web-{n}" / "app.log", "a") as fh:
            fh.write(app_lines(50_000 + n * 100, 40))
            if n == 4:
                fh.write("2026-11-21 09:00:00,000 - app.worker - ERROR - job x failed\nTraceback (most recent")
    shutil.move(logs / "web-1" / "app.log", logs / "web-1" / "app.log.1")  # rotated
    (logs / "web-1" / "app.log").write_text(app_lines(90_000, 30))
    ingest_paths([logs], steps, lanes=2, chunk_bytes=16 * 1024)
    clean = tmp_path / "clean.duckdb"
    ingest_paths([logs], clean, jobs=1)
    assert dump(steps, ALL_TABLES) == dump(clean, ALL_TABLES)


def test_one_file_parsed_by_several_threads_gives_the_store_one_thread_gives(tmp_path, monkeypatch):
    """With cores to spare (fewer files than lanes) a file's chunks are cut where their last
    event starts and parsed side by side; the store is the one a single parser gives: the
    same ids, kinds, raw text, rejects and progress, tracebacks cut by chunk edges, a .gz,
    a file that grew and one whose last record is still being written included."""
    import gzip

    from pipeline.ingest import runner

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("stray continuation before any event\n" + app_lines(0, 3000))
    with gzip.open(logs / "old.log.gz", "wt") as fh:
        fh.write(app_lines(20_000, 2000))
    (logs / "tail.log").write_text(
        app_lines(40_000, 500) + "2026-11-21 09:00:00,000 - app - ERROR - x\nTraceback (most"
    )
    cut_chunks = []
    real_can_cut = runner._can_cut

    def counting(family, ctx):
        ok = real_can_cut(family, ctx)
        cut_chunks.append(ok)
        return ok

    monkeypatch.setattr(runner, "_can_cut", counting)
    several, single = tmp_path / "several.duckdb", tmp_path / "single.duckdb"
    run = Ingest(several, lanes=1, parse_threads=3, chunk_bytes=16 * 1024)
    run.run([logs], correlate=False)
    assert sum(cut_chunks) > 20  # most chunks were cut and parsed side by side
    Ingest(single, lanes=1, parse_threads=1, chunk_bytes=16 * 1024).run([logs], correlate=False)
    assert dump(several, ALL_TABLES) == dump(single, ALL_TABLES)
    with open(logs / "app.log", "a") as fh:  # it grows: read on from where it stopped
        fh.write(app_lines(60_000, 400))
    Ingest(several, lanes=1, parse_threads=3, chunk_bytes=16 * 1024).run([logs], correlate=False)
    Ingest(single, lanes=1, parse_threads=1, chunk_bytes=16 * 1024).run([logs], correlate=False)
    assert dump(several, ALL_TABLES) == dump(single, ALL_TABLES)


def test_lanes_without_a_file_lend_their_cores_to_parsing(tmp_path):
    logs = [tmp_path / f"app{n}.log" for n in range(3)]
    for n, log in enumerate(logs):
        log.write_text(app_lines(n * 1000, 50))
    for lanes, files, threads in [(1, 1, 1), (4, 1, 4), (4, 2, 2), (4, 3, 1), (2, 3, 1), (8, 1, 4)]:
        paths = logs[:files]
        run = Ingest(tmp_path / f"s{lanes}{files}.duckdb", lanes=lanes)
        run.run(paths, correlate=False)
        assert run._parse_threads == threads, (lanes, files)


@pytest.mark.parametrize(("cores", "lanes"), [(1, 1), (2, 1), (3, 2), (4, 2), (8, 4), (16, 8), (64, 8)])
def test_one_lane_reads_for_every_two_cores(cores, lanes):
    assert lanes_for(cores) == lanes


def test_jobs_gives_the_lanes_and_lanes_may_be_asked_for(tmp_path, monkeypatch):
    from pipeline import cores

    monkeypatch.setattr(cores, "available", lambda: 8)
    assert Ingest(tmp_path / "a.duckdb", jobs=2).lanes == 1
    assert Ingest(tmp_path / "a.duckdb", jobs=4).lanes == 2
    assert Ingest(tmp_path / "a.duckdb").lanes == 4
    assert Ingest(tmp_path / "a.duckdb", jobs=1, lanes=3).lanes == 3


def test_more_jobs_than_cores_use_the_cores_there_are(tmp_path, monkeypatch):
    from pipeline import cores

    monkeypatch.setattr(cores, "available", lambda: 2)
    run = Ingest(tmp_path / "a.duckdb", jobs=16)
    assert (run.jobs, run.lanes) == (2, 1)


def test_more_lanes_read_smaller_chunks_and_commit_smaller_segments(tmp_path):
    """Each lane holds chunks in flight and an open transaction: the lanes share the chunk
    size, and with more than two lanes the segments shrink too, so the lanes together stay
    near the memory of two (4 lanes of 40 MB segments peaked at 1,088 MB, of 20 MB segments
    at 886 MB)."""
    from pipeline.ingest import files
    from pipeline.ingest.runner import SEGMENT_BYTES

    one, two = Ingest(tmp_path / "a.duckdb", lanes=1), Ingest(tmp_path / "a.duckdb", lanes=2)
    four = Ingest(tmp_path / "a.duckdb", lanes=4)
    assert (one.chunk_bytes, one.segment_bytes) == (files.DEFAULT_CHUNK_BYTES, SEGMENT_BYTES)
    assert (two.chunk_bytes, two.segment_bytes) == (files.DEFAULT_CHUNK_BYTES // 2, SEGMENT_BYTES)
    assert (four.chunk_bytes, four.segment_bytes) == (files.DEFAULT_CHUNK_BYTES // 4, SEGMENT_BYTES // 2)


def test_a_run_shortens_the_switch_interval_and_gives_it_back(tmp_path, monkeypatch):
    """Threads hand the GIL to each other sooner while a run reads (see SWITCH_INTERVAL_S),
    and the process gets its own interval back afterwards, whatever happens in the run."""
    import sys

    from pipeline.ingest import runner

    seen = []
    real = runner.Ingest._run

    def spy(self, paths, *, correlate):
        seen.append(sys.getswitchinterval())
        return real(self, paths, correlate=correlate)

    monkeypatch.setattr(runner.Ingest, "_run", spy)
    before = sys.getswitchinterval()
    ingest_paths([SAMPLES / "network"], tmp_path / "s.duckdb", correlate=False)
    assert seen == [pytest.approx(runner.SWITCH_INTERVAL_S)]
    assert sys.getswitchinterval() == before
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError):  # a run that fails gives it back too (its store's folder is a file)
        ingest_paths([SAMPLES / "network"], tmp_path / "a-file" / "s.duckdb", correlate=False)
    assert sys.getswitchinterval() == before


def test_a_cut_that_fails_parses_the_chunk_whole(tmp_path, monkeypatch):
    """A bug in finding where events start must not lose lines: the chunk is parsed as
    it would be without parse threads."""
    from pipeline.ingest.families import python_text

    log = tmp_path / "app.log"
    log.write_text(app_lines(0, 2000))
    single, several = tmp_path / "single.duckdb", tmp_path / "several.duckdb"
    Ingest(single, lanes=1, parse_threads=1, chunk_bytes=16 * 1024).run([log], correlate=False)

    def broken(self, chunk, ctx):
        raise ValueError("broken")

    monkeypatch.setattr(python_text.PythonTextFamily, "last_event_start", broken)
    Ingest(several, lanes=1, parse_threads=3, chunk_bytes=16 * 1024).run([log], correlate=False)
    assert dump(several, ALL_TABLES) == dump(single, ALL_TABLES)
