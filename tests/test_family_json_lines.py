"""JSON-lines application logs."""

from __future__ import annotations

import datetime as dt
import json

from pipeline.ingest.families.json_lines import FAMILY
from tests.helpers import parse_lines, rows

UTC = dt.UTC


def test_python_json_logger_style_with_exception():
    line = json.dumps(
        {
            "asctime": "2026-11-20 13:45:01,123",
            "levelname": "ERROR",
            "name": "app.db",
            "message": "query failed",
            "exc_info": 'Traceback (most recent call last):\n  File "x"\n'
            "pymysql.err.OperationalError: (2006, \"MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))\")",
        }
    )
    assert FAMILY.sniff([line]) >= 0.5
    [event] = rows(parse_lines(FAMILY, [line], tz="Europe/Berlin").events)
    assert event["ts"] == dt.datetime(2026, 11, 20, 12, 45, 1, 123000, tzinfo=UTC)
    assert (event["level"], event["kind"], event["error_code"]) == ("ERROR", "server_gone", 2006)
    assert event["message"] == "query failed"
    assert event["raw"] == line


def test_structlog_style_event_key_and_iso_offsets():
    lines = [
        json.dumps({"timestamp": "2026-11-20T13:45:01.5+02:00", "level": "warning", "event": "pool slow"}),
        json.dumps({"@timestamp": "2026-11-20T13:45:01Z", "severity": "INFO", "msg": "ok"}),
        json.dumps({"time": 1795186800.25, "level": "info", "message": "epoch"}),
        json.dumps({"ts": 1795186800250, "level": "info", "message": "epoch ms"}),
    ]
    events = rows(parse_lines(FAMILY, lines).events)
    assert events[0]["ts"] == dt.datetime(2026, 11, 20, 11, 45, 1, 500000, tzinfo=UTC)
    assert events[0]["level"] == "WARNING" and events[0]["message"] == "pool slow"
    assert events[1]["ts"] == dt.datetime(2026, 11, 20, 13, 45, 1, tzinfo=UTC)
    assert events[2]["ts"] == dt.datetime.fromtimestamp(1795186800.25, UTC)
    assert events[3]["ts"] == dt.datetime.fromtimestamp(1795186800.25, UTC)


def test_pool_timeout_and_logger_source():
    line = json.dumps(
        {
            "timestamp": "2026-11-20T13:45:01Z",
            "level": "ERROR",
            "logger": "sqlalchemy.pool",
            "message": "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
        }
    )
    [event] = rows(parse_lines(FAMILY, [line]).events)
    assert event["kind"] == "pool_timeout" and event["source"] == "sqlalchemy"


def test_bad_lines_are_rejected_blank_lines_skipped():
    lines = [
        "not json",
        "",
        json.dumps({"level": "INFO", "message": "no time"}),
        "[1, 2]",
        json.dumps({"timestamp": "yesterday", "message": "bad time"}),
    ]
    parsed = parse_lines(FAMILY, lines)
    assert parsed.events.height == 0
    reasons = {r["line_no"]: r["reason"] for r in rows(parsed.rejects)}
    assert set(reasons) == {1, 3, 4, 5}
    assert "not a JSON log object" in reasons[1]
    assert "time" in reasons[5]
    assert parsed.skipped == 1


def test_plain_text_scores_low():
    assert FAMILY.sniff(["2026-11-20 13:45:01,123 - app - INFO - x"]) < 0.5
    assert FAMILY.sniff(['{"a": 1}']) < 0.5
