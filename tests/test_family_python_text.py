"""Python logging text layouts, folding of tracebacks, and time zones."""

from __future__ import annotations

import pytest

from pipeline.ingest.families.python_text import FAMILY
from tests.helpers import parse_lines, rows, utc

LAYOUT_CASES = [
    # (layout, line, expected ts, level, message)
    ("dash", "2026-11-20 13:45:01,123 - ERROR - boom", utc("2026-11-20 13:45:01.123"), "ERROR", "boom"),
    (
        "dash+name",
        "2026-11-20 13:45:01,123 - app.db - WARNING - slow",
        utc("2026-11-20 13:45:01.123"),
        "WARNING",
        "slow",
    ),
    (
        "space",
        "2026-11-20 13:45:01,123 DEBUG sqlalchemy.pool.impl.QueuePool Connection <x> checked out from pool",
        utc("2026-11-20 13:45:01.123"),
        "DEBUG",
        "Connection <x> checked out from pool",
    ),
    (
        "space-colon",
        "2026-11-20 13:45:01,123 INFO app.web: started",
        utc("2026-11-20 13:45:01.123"),
        "INFO",
        "started",
    ),
    (
        "bracket",
        "2026-11-20 13:45:01,123 [ERROR] app.db: failed",
        utc("2026-11-20 13:45:01.123"),
        "ERROR",
        "failed",
    ),
    (
        "flask",
        "[2026-11-20 13:45:01,123] ERROR in app: Exception on /x [GET]",
        utc("2026-11-20 13:45:01.123"),
        "ERROR",
        "Exception on /x [GET]",
    ),
    (
        "gunicorn",
        "[2026-11-20 13:45:01 -0500] [42] [ERROR] Error handling request /x",
        utc("2026-11-20 18:45:01"),
        "ERROR",
        "Error handling request /x",
    ),
    (
        "celery",
        "[2026-11-20 13:45:01,500: ERROR/MainProcess] Unrecoverable error",
        utc("2026-11-20 13:45:01.500"),
        "ERROR",
        "Unrecoverable error",
    ),
    (
        "loguru",
        "2026-11-20 13:45:01.777 | INFO     | sqlalchemy.engine.base:connect:3268 - hello",
        utc("2026-11-20 13:45:01.777"),
        "INFO",
        "hello",
    ),
    (
        "colon",
        "2026-11-20 13:45:01,076:140021197522688:ERROR:Worker:Error in loop",
        utc("2026-11-20 13:45:01.076"),
        "ERROR",
        "Error in loop",
    ),
    (
        "thread",
        "2026-11-20 13:45:01.237 ERROR [Dummy-1] [app.py:875] - Exception on /api",
        utc("2026-11-20 13:45:01.237"),
        "ERROR",
        "Exception on /api",
    ),
    (
        "tornado",
        "[E 261120 13:45:01 base:689] Exception during reset or similar",
        utc("2026-11-20 13:45:01"),
        "ERROR",
        "Exception during reset or similar",
    ),
    (
        "tornado-full",
        "[W 2026-11-20 13:45:01,250 web:2250] 503 GET /x (10.0.0.1) 5001.12ms",
        utc("2026-11-20 13:45:01.250"),
        "WARNING",
        "503 GET /x (10.0.0.1) 5001.12ms",
    ),
    (
        "jupyterhub",
        "[E 2026-11-20 13:45:01.056 JupyterHub ioloop:629] Exception in callback",
        utc("2026-11-20 13:45:01.056"),
        "ERROR",
        "Exception in callback",
    ),
    (
        "paste-5.5",
        "2026-11-20 13:45:01,367 WARNI [ckan.lib.maintain] Function x is deprecated",
        utc("2026-11-20 13:45:01.367"),
        "WARNING",
        "Function x is deprecated",
    ),
    ("iso-T", "2026-11-20T13:45:01.5 - app - INFO - x", utc("2026-11-20 13:45:01.500"), "INFO", "x"),
]


@pytest.mark.parametrize("layout,line,when,level,message", LAYOUT_CASES, ids=[c[0] for c in LAYOUT_CASES])
def test_each_layout_is_detected_and_parsed(layout, line, when, level, message):
    assert FAMILY.sniff([line, line]) >= 0.5
    parsed = parse_lines(FAMILY, [line])
    assert parsed.rejects.height == 0
    [event] = rows(parsed.events)
    assert event["ts"] == when
    assert event["level"] == level
    assert event["message"] == message
    assert event["raw"] == line


@pytest.mark.parametrize("word", ["DEBUG", "info", "WARN", "warning", "fatal", "NOTICE", "critical"])
def test_levels_come_out_as_normalize_level_makes_them(word):
    import polars as pl

    from pipeline.ingest.families.common import normalize_level

    expected = pl.select(normalize_level(pl.lit(word))).item()
    for line in (f"2026-11-20 13:45:01,123 - app - {word} - x", f"2026-11-20 13:45:01,123 {word} app: x"):
        [event] = rows(parse_lines(FAMILY, [line, line]).events)[:1]
        assert event["level"] == expected


TRACEBACK = [
    "2026-11-20 13:45:01,123 - app.worker - ERROR - job failed",
    "Traceback (most recent call last):",
    '  File "/app/job.py", line 10, in run',
    "    conn.execute(text('SELECT 1'))",
    "    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    "pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')",
    "",
    "The above exception was the direct cause of the following exception:",
    "",
    "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')",
    "[SQL: SELECT 1]",
    "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
    "2026-11-20 13:45:02,000 - app.worker - INFO - next job",
]


def test_traceback_is_folded_into_its_event_blank_lines_included():
    parsed = parse_lines(FAMILY, TRACEBACK)
    events = rows(parsed.events)
    assert [e["line_no"] for e in events] == [1, 13]
    first = events[0]
    assert first["kind"] == "lost_connection"
    assert first["error_code"] == 2013
    assert first["n_lines"] == 12
    assert first["raw"] == "\n".join(TRACEBACK[:12])
    assert first["message"] == "job failed"
    assert parsed.rejects.height == 0


def test_unfinished_last_event_is_pending_when_more_may_follow():
    parsed = parse_lines(FAMILY, TRACEBACK[:5], final=False)
    assert parsed.pending_from == 1
    parsed = parse_lines(FAMILY, TRACEBACK, final=False)
    assert parsed.pending_from == 13


def test_lines_before_the_first_event_are_rejected_with_a_reason():
    parsed = parse_lines(FAMILY, ["  orphan continuation", TRACEBACK[0], TRACEBACK[-1]])
    [reject] = rows(parsed.rejects)
    assert reject["line_no"] == 1
    assert "no event before it" in reject["reason"]
    assert parsed.events.height == 2


def test_gunicorn_offset_may_change_inside_one_file():
    lines = [
        "[2021-12-02 13:27:10 -0500] [1] [INFO] Starting gunicorn 20.1.0",
        "[2021-12-02 18:27:15 +0000] [1] [ERROR] Exception in worker process",
    ]
    events = rows(parse_lines(FAMILY, lines).events)
    assert events[0]["ts"] == utc("2021-12-02 18:27:10")
    assert events[1]["ts"] == utc("2021-12-02 18:27:15")


def test_zone_less_stamps_take_the_configured_zone():
    line = "2026-07-01 12:00:00,000 - app - INFO - summer"
    [event] = rows(parse_lines(FAMILY, [line], tz="Europe/Berlin").events)
    assert event["ts"] == utc("2026-07-01 10:00:00")


def test_dst_gap_is_rejected_and_repeated_hour_takes_first_occurrence():
    lines = [
        "2026-03-29 02:30:00,000 - app - INFO - does not exist in Berlin",
        "2026-10-25 02:30:00,000 - app - INFO - happens twice in Berlin",
    ]
    parsed = parse_lines(FAMILY, lines, tz="Europe/Berlin")
    [reject] = rows(parsed.rejects)
    assert reject["line_no"] == 1 and "time zone Europe/Berlin" in reject["reason"]
    [event] = rows(parsed.events)
    assert event["ts"] == utc("2026-10-25 00:30:00")  # CEST (+02:00), the first of the two


def test_compose_and_syslog_envelopes_are_removed():
    compose = [
        "api-1   | 2026-11-20 13:45:01.237 ERROR [Dummy-1] [app.py:875] - Exception on /x",
        "api-1   | Traceback (most recent call last):",
        "api-1   |",
        'api-1   | pymysql.err.OperationalError: (2006, "MySQL server has gone away")',
    ]
    [event] = rows(parse_lines(FAMILY, compose).events)
    assert event["kind"] == "server_gone" and event["n_lines"] == 4
    assert event["raw"] == "\n".join(compose)  # raw keeps the lines as written
    assert event["message"] == "Exception on /x"
    syslog = [
        "Oct 12 13:18:08 host python3[8673]: [E 261012 10:18:08 base:689] Exception during reset or similar",
        "Oct 12 13:18:08 host python3[8673]:     Traceback (most recent call last):",
    ]
    [event] = rows(parse_lines(FAMILY, syslog).events)
    assert event["kind"] == "reset_fail" and event["n_lines"] == 2


def test_docker_timestamp_prefix_folds_traceback_payloads():
    lines = [
        "2017-05-30T14:15:40.352021300Z Exception during reset or similar",
        "2017-05-30T14:15:40.352054926Z Traceback (most recent call last):",
        '2017-05-30T14:15:40.352062025Z   File "pool.py", line 687, in _finalize_fairy',
        "2017-05-30T14:15:40.352067058Z pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')",
        "2017-05-30T14:15:41.000000000Z next thing",
    ]
    events = rows(parse_lines(FAMILY, lines).events)
    assert [e["line_no"] for e in events] == [1, 5]
    assert events[0]["kind"] == "reset_fail" and events[0]["error_code"] == 2013
    assert events[0]["ts"] == utc("2017-05-30 14:15:40.352021")


def test_not_python_logging_scores_low():
    assert FAMILY.sniff(["hello world", "just text"]) < 0.5
    # a server line may fit a learned layout, but never better than its own family
    from pipeline.ingest import detect

    server = ["2026-11-20 13:45:01 42 [Warning] Aborted connection 42 to db: 'x'"]
    assert FAMILY.sniff(server) <= 0.9
    assert detect.choose("\n".join(server).encode()).family.name == "mariadb"
    assert FAMILY.sniff(['{"ts": "2026-11-20T13:45:01Z", "msg": "x"}']) < 0.5
    assert FAMILY.sniff([]) == 0.0


def test_sqlalchemy_logger_lines_get_source_sqlalchemy_and_conn_ref():
    lines = [
        "2026-11-20 13:45:01,000 DEBUG sqlalchemy.pool.impl.QueuePool Created new connection <pymysql.connections.Connection object at 0x7f01>",
        "2026-11-20 13:45:02,000 INFO sqlalchemy.engine.Engine SELECT 1",
        "2026-11-20 13:45:03,000 INFO myapp.views GET /",
    ]
    events = rows(parse_lines(FAMILY, lines).events)
    assert [e["source"] for e in events] == ["sqlalchemy", "sqlalchemy", "app"]
    assert events[0]["kind"] == "conn_open"
    assert events[0]["conn_ref"] == "<pymysql.connections.Connection object at 0x7f01>"


def test_two_layouts_interleaved_in_one_file_both_start_events():
    lines = [
        "[2026-11-20 13:45:00 +0000] [7] [INFO] Booting worker with pid: 7",
        "2026-11-20 13:45:01,000 - app.db - ERROR - query failed",
        "pymysql.err.OperationalError: (2006, 'MySQL server has gone away')",
        "[2026-11-20 13:45:02 -0100] [7] [ERROR] Error handling request /x",
        "2026-11-20 13:45:03,000 - app.web - INFO - GET / 200",
        "[2026-11-20 13:45:04 +0000] [7] [INFO] Handling signal: term",
    ]
    assert FAMILY.sniff(lines) >= 0.5
    events = rows(parse_lines(FAMILY, lines).events)
    assert [e["line_no"] for e in events] == [1, 2, 4, 5, 6]
    assert events[1]["kind"] == "server_gone" and events[1]["n_lines"] == 2
    assert events[2]["ts"] == utc("2026-11-20 14:45:02")
    assert events[3]["message"] == "GET / 200" and events[3]["ts"] == utc("2026-11-20 13:45:03")


SPLIT_CASES = [  # lines a split layout's header may or may not match
    "2026-11-20 13:45:01,123 - app.db - WARNING - slow",
    "2026-11-20 13:45:01,123 - app.db - INFO - ",
    "2026-11-20 13:45:01,123 - app.db - INFO -",
    "2026-11-20 13:45:01,123 - app.db - ERROR - a - b - c",
    "2026-11-20 13:45:01,123 - app.db - ERROR - - -",
    "2026-11-20T13:45:01.123456 - a.b[1]<x> - critical - héllo – wörld ✓",
    "2026-11-20 13:45:01 - ERROR - bare - with - dashes",
    "2026-11-20 13:45:01,123 - app db - INFO - a name with a space is no name",
    "2026-11-20 13:45:01,123 - app - VERBOSE - not a level",
    "prefix 2026-11-20 13:45:01,123 - app - INFO - not at the start",
    '  File "x.py", line 3, in f',
    "",
]


@pytest.mark.parametrize("layout_name", ["dash_named", "dash_bare"])
def test_split_layouts_give_exactly_what_the_header_regex_captures(layout_name):
    import dataclasses

    import polars as pl

    from pipeline.ingest.families.python_text import LAYOUT_BY_NAME, _extract_one

    layout = LAYOUT_BY_NAME[layout_name]
    assert layout.split is not None
    frame = pl.DataFrame({"line": [*SPLIT_CASES, None]}, schema={"line": pl.Utf8})
    split = _extract_one(frame, layout)
    captured = _extract_one(frame, dataclasses.replace(layout, split=None))
    assert split.to_dicts() == captured.to_dicts()
    assert split.schema == captured.schema
    assert split["_layout"].is_not_null().sum() >= 1  # the cases hit the layout at least once
