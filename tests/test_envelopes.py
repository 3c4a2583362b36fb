"""Envelopes (``pipeline/ingest/envelopes.py``): found from a file's first lines, removed
before the family parses, ``raw`` kept as written, the envelope's time used where the
payload has none.  Real samples come from the wild corpus (``tests/wild``)."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.ingest import detect, envelopes
from pipeline.ingest.families import by_name
from pipeline.ingest.runner import ingest_paths
from tests.helpers import parse_lines, rows

WILD = Path(__file__).resolve().parent / "wild"
UTC = dt.UTC


def real_samples() -> dict[str, list[tuple[str, str]]]:
    """envelope -> real samples (tests/wild) that carry it, and the family of their payload,
    as tests/cases/envelope_samples.toml lists them."""
    with open(Path(__file__).resolve().parent / "cases" / "envelope_samples.toml", "rb") as fh:
        table = tomllib.load(fh)["samples"]
    return {envelope: [(s["file"], s["family"]) for s in samples] for envelope, samples in table.items()}


REAL_SAMPLES = real_samples()
CASES = [(env, rel, family) for env, samples in REAL_SAMPLES.items() for rel, family in samples]


@pytest.mark.parametrize("envelope,rel,family", CASES, ids=[f"{e}:{Path(r).stem[:30]}" for e, r, _ in CASES])
def test_real_samples_are_unwrapped_and_read_by_their_payload_family(envelope, rel, family, tmp_path):
    path = WILD / rel
    found = detect.choose(path.read_bytes())
    assert envelope in found.envelopes
    assert found.family is not None and found.family.name == family
    db = tmp_path / "e.duckdb"
    [report] = ingest_paths([path], db, correlate=False).files
    assert report.lines == report.accounted and report.events > 0
    written = path.read_text(errors="replace").split("\n")
    with duckdb.connect(str(db), read_only=True) as con:
        for line_no, raw in con.execute("SELECT line_no, raw FROM events").fetchall():
            # raw keeps the lines as written, envelope included (secrets aside: redacted)
            if "***" not in raw:
                assert raw.split("\n")[0] == written[line_no - 1].rstrip("\r")


def test_every_envelope_that_gives_a_time_has_a_real_sample():
    timed = {env.name for env in envelopes.ENVELOPES if env.ts}
    # no real sample found yet; tested on lines built to daemontools' documented format below
    assert timed - {"tai64n"} <= set(REAL_SAMPLES)


def test_tai64n_labels_give_utc():
    lines = ["@4000000065e1a79004c4b400 LOG:  database system is ready to accept connections"]
    [event] = rows(parse_lines(by_name("postgres"), lines).events)
    # 0x65e1a790 - 10 = 1709287302 s, 0x04c4b400 ns = 80 ms
    assert event["ts"] == dt.datetime.fromtimestamp(1709287302.08, UTC) and event["kind"] == "server_start"


def test_payload_without_a_time_is_read_at_the_envelope_time():
    lines = [
        "2024-03-01T10:00:00.123456789Z INFO:     Started server process [1]",
        "2024-03-01T10:00:05.000000001Z ERROR:sqlalchemy.pool.impl.QueuePool:Exception during reset or similar",
        "2024-03-01T10:00:05.000000002Z Traceback (most recent call last):",
        "2024-03-01T10:00:05.000000003Z pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')",
        "2024-03-01T10:00:06.000000000Z plain print output",
    ]
    assert envelopes.detect(lines) == ["docker_ts"]
    events = rows(parse_lines(by_name("python_text"), lines).events)
    assert [e["line_no"] for e in events] == [1, 2, 5]
    assert events[0]["level"] == "INFO" and events[0]["ts"] == dt.datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert events[1]["kind"] == "reset_fail" and events[1]["error_code"] == 2013 and events[1]["n_lines"] == 3
    assert events[1]["raw"] == "\n".join(lines[1:4])
    assert events[2]["level"] is None and events[2]["message"] == "plain print output"


def test_the_payloads_own_time_wins_and_untimed_payload_lines_continue_it():
    lines = [
        '{"log":"2016-07-27 15:33:22,102 INFO  [tools:sqlalchemy.engine.base.Engine] SELECT 1\\n","stream":"stderr","time":"2016-07-27T13:33:22.104Z"}',
        '{"log":"FROM dual\\n","stream":"stderr","time":"2016-07-27T13:33:22.105Z"}',
    ]
    [event] = rows(parse_lines(by_name("python_text"), lines, tz="Europe/Paris").events)
    assert event["n_lines"] == 2 and event["ts"] == dt.datetime(2016, 7, 27, 13, 33, 22, 102000, tzinfo=UTC)


def test_cri_partial_lines_are_joined_and_counted():
    lines = [
        "2024-03-01T10:00:00.000000001Z stdout P 2024-03-01 10:00:00,000 - app - ERROR - (2006, 'MySQL ",
        "2024-03-01T10:00:00.000000002Z stdout F server has gone away')",
        "2024-03-01T10:00:01.000000000Z stdout F 2024-03-01 10:00:01,000 - app - INFO - ok",
    ]
    parsed = parse_lines(by_name("python_text"), lines)
    first, second = rows(parsed.events)
    assert first["kind"] == "server_gone" and first["n_lines"] == 2
    assert first["message"].endswith("(2006, 'MySQL server has gone away')")
    assert first["raw"] == "\n".join(lines[:2])
    assert second["line_no"] == 3 and int(parsed.events["n_lines"].sum()) == 3


def test_docker_json_split_objects_are_joined():
    lines = [
        '{"log":"2024-03-01 10:00:00,000 - app - ERROR - first half ","stream":"stderr","time":"2024-03-01T10:00:00Z"}',
        '{"log":"second half\\n","stream":"stderr","time":"2024-03-01T10:00:00Z"}',
    ]
    [event] = rows(parse_lines(by_name("python_text"), lines).events)
    assert event["message"] == "first half second half" and event["n_lines"] == 2


def test_journald_json_and_gelf_give_time_level_and_message():
    journald = [  # a service's stdout: one entry per line, a traceback's lines included
        '{ "__CURSOR" : "s=1;i=1", "__REALTIME_TIMESTAMP" : "1709287200000000", "PRIORITY" : "3", '
        '"_SYSTEMD_UNIT" : "app.service", "MESSAGE" : "Error in worker loop" }',
        '{ "__CURSOR" : "s=1;i=2", "__REALTIME_TIMESTAMP" : "1709287200000100", "PRIORITY" : "3", '
        '"_SYSTEMD_UNIT" : "app.service", "MESSAGE" : "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) '
        '(2006, \\"MySQL server has gone away\\")" }',
        '{ "__CURSOR" : "s=1;i=3", "__REALTIME_TIMESTAMP" : "1709287201000000", "PRIORITY" : "6", "MESSAGE" : "ok" }',
    ]
    assert envelopes.detect(journald) == ["journald_json"]
    first, second = rows(parse_lines(by_name("python_text"), journald).events)
    assert first["ts"] == dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC) and first["level"] == "ERROR"
    assert first["kind"] == "server_gone" and first["n_lines"] == 2 and second["level"] == "INFO"
    gelf = [
        '{"version":"1.1","host":"web-1","short_message":"Lost connection","full_message":"OperationalError: '
        '(2013, \'Lost connection to MySQL server during query\')","timestamp":1709287200.25,"level":3}'
    ]
    assert envelopes.detect(gelf) == ["gelf"]
    [event] = rows(parse_lines(by_name("python_text"), gelf).events)
    assert event["ts"] == dt.datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert event["kind"] == "lost_connection" and event["level"] == "ERROR"


def test_lines_without_the_envelope_pass_through():
    frame = pl.DataFrame(
        {"line_no": [1, 2], "line": ["db_1  | 2024-03-01 10:00:00 UTC [1] LOG:  x", "Attaching to db_1"]}
    )
    out = envelopes.unwrap(frame, ["compose"])
    assert out["line"].to_list() == ["2024-03-01 10:00:00 UTC [1] LOG:  x", "Attaching to db_1"]
    assert out["_orig"].to_list() == frame["line"].to_list()


def test_an_appended_file_keeps_its_envelope(tmp_path):
    log = tmp_path / "logs" / "db.log"
    log.parent.mkdir()
    first = "db_1  | 2024-03-01 10:00:00.000 UTC [7] LOG:  database system is ready to accept connections\n"
    log.write_text(first * 800)  # more than detection reads: a smaller file is read again whole
    db = tmp_path / "s.duckdb"
    ingest_paths([log.parent], db, correlate=False)
    with log.open("a") as fh:
        fh.write("db_1  | 2024-03-01 10:05:00.000 UTC [7] LOG:  received fast shutdown request\n")
    [report] = ingest_paths([log.parent], db, correlate=False).files
    # the new line, and the earlier last line (kept as the file's tail) read again
    assert report.status == "appended" and report.events == 2
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = [k for (k,) in con.execute("SELECT kind FROM events ORDER BY line_no").fetchall()]
    assert kinds == ["server_start"] * 800 + ["server_stop"]


def test_a_directory_mixing_every_envelope_ingests_in_one_run(tmp_path):
    import shutil

    folder = tmp_path / "mixed"
    folder.mkdir()
    for envelope, samples in REAL_SAMPLES.items():
        rel, _ = samples[0]
        shutil.copy(WILD / rel, folder / f"{envelope}-{Path(rel).name}")
    summary = ingest_paths([folder], tmp_path / "m.duckdb", correlate=False)
    by_envelope = {Path(f.path).name.split("-", 1)[0]: f for f in summary.files}
    assert set(by_envelope) == set(REAL_SAMPLES)
    for envelope, report in by_envelope.items():
        assert report.status == "new" and report.events > 0, envelope
        assert report.lines == report.accounted, envelope
    assert summary.unaccounted() == []


def test_a_json_payload_in_an_envelope_is_read_by_json_lines():
    lines = [
        '{"log":"{\\"timestamp\\": \\"2024-03-01T10:00:00Z\\", \\"level\\": \\"error\\", \\"event\\": '
        '\\"(2013, \'Lost connection to MySQL server during query\')\\"}\\n","stream":"stdout","time":"2024-03-01T10:00:00.1Z"}',
        '{"log":"{\\"timestamp\\": \\"2024-03-01T10:00:01Z\\", \\"level\\": \\"info\\", \\"event\\": \\"ok\\"}\\n",'
        '"stream":"stdout","time":"2024-03-01T10:00:01.1Z"}',
    ]
    found = detect.choose("\n".join(lines).encode())
    assert found.envelopes == ["docker_json"] and found.family.name == "json_lines"
    first, second = rows(parse_lines(found.family, lines).events)
    assert first["kind"] == "lost_connection" and first["raw"] == lines[0]
    assert second["ts"] == dt.datetime(2024, 3, 1, 10, 0, 1, tzinfo=UTC)


# -- property: whatever the lines, envelopes and the families they feed never raise and
# never lose a line

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WRAPS = [
    "web-1  | ",
    "2024-03-01T10:00:00.123456789Z ",
    "2024-03-01T10:00:00.123456789Z stdout F ",
    "2024-03-01T10:00:00.123456789Z stderr P ",
    "Mar  1 10:00:00 host app[12]: ",
    "<34>1 2024-03-01T10:00:00Z h a 1 - - ",
    "2024-03-01T10:00:00+0000 host unit[3]: ",
    "2015-06-04_03:37:04.66270 ",
    "│ ",
    "> ",
    "[postgres   ] ",
]
PAYLOADS = [
    "2024-03-01 10:00:00.000 UTC [7] LOG:  database system is ready to accept connections",
    "LOG:  received fast shutdown request",
    "ERROR:app.db:(2006, 'MySQL server has gone away')",
    "2024-03-01 10:00:00,123 - app - ERROR - boom",
    "Traceback (most recent call last):",
    '  File "x.py", line 1',
    "2024-03-01T10:00:00.000000Z 3 [Note] Aborted connection 3 to db: 'a'",
    "",
    "plain text",
]
JSONS = [
    '{"log":"%s\\n","stream":"stderr","time":"2024-03-01T10:00:00Z"}',
    '{"log":"%s","stream":"stderr","time":"2024-03-01T10:00:00Z"}',
    '{ "__REALTIME_TIMESTAMP" : "1709287200000000", "PRIORITY" : "3", "MESSAGE" : "%s" }',
    '{"version":"1.1","host":"h","short_message":"%s","timestamp":1709287200.5,"level":3}',
]
wrapped_line = st.one_of(
    st.builds(lambda w, p: w + p, st.sampled_from(WRAPS), st.sampled_from(PAYLOADS)),
    st.builds(lambda j, p: j % p.replace('"', "'"), st.sampled_from(JSONS), st.sampled_from(PAYLOADS)),
    st.text(max_size=80),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(wrapped_line, min_size=1, max_size=25),
    st.sampled_from(["python_text", "postgres", "mysql_error", "json_lines"]),
)
def test_wrapped_lines_never_raise_and_every_line_is_accounted(lines, family):
    lines = [ln.replace("\n", " ").replace("\r", " ") for ln in lines]
    detect.choose("\n".join(lines).encode("utf-8", errors="replace"))
    parsed = parse_lines(by_name(family), lines)
    folded = int(parsed.events["n_lines"].sum() or 0)
    assert folded + parsed.rejects.height + parsed.skipped == len(lines)


def test_small_chunks_read_an_enveloped_file_as_one_chunk_does(tmp_path):
    """Chunk edges may fall inside joined CRI lines and tracebacks under an envelope: the
    store must come out the same as when the whole file is one chunk."""
    from tests.store_dump import dump

    lines = []
    for i in range(40):
        t = f"2024-03-01T10:{i // 60:02d}:{i % 60:02d}.00000000{i % 10}Z"
        lines += [
            f"{t} stdout P 2024-03-01 10:00:{i % 60:02d},000 - app - ERROR - (2006, 'MySQL ",
            f"{t} stdout F server has gone away')",
            f"{t} stderr F Traceback (most recent call last):",
            f'{t} stderr F   File "app.py", line {i}, in run',
            f"{t} stdout F 2024-03-01 10:00:{i % 60:02d},500 - app - INFO - retry {i}",
        ]
    log = tmp_path / "logs" / "pod.log"
    log.parent.mkdir()
    log.write_text("\n".join(lines) + "\n")
    whole, small = tmp_path / "whole.duckdb", tmp_path / "small.duckdb"
    ingest_paths([log.parent], whole, correlate=False)
    [report] = ingest_paths([log.parent], small, correlate=False, chunk_bytes=300).files
    assert report.lines == report.accounted == len(lines)
    assert dump(whole, ("events", "rejects")) == dump(small, ("events", "rejects"))
    assert report.events == 80
