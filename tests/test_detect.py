"""Detection: envelopes first, text families judged on their record lines, and a file
left unknown says why and which ``format = "..."`` would read it."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest import detect

WILD = Path(__file__).resolve().parent / "wild"


def choose(lines: list[str]) -> detect.Detection:
    return detect.choose("\n".join(lines).encode())


def test_a_crash_dump_does_not_sink_the_records_around_it():
    # a real MariaDB 10.1 crash: two records, then a long untimed backtrace
    found = detect.choose((WILD / "mysql/pinba2-8_mariadb-10.1-signal11-backtrace.log").read_bytes())
    assert found.family is not None and found.family.name == "mariadb"
    dump = ["2026-11-20 13:45:01 0 [ERROR] mysqld got signal 11 ;"] + [f"0x{i:x} frame{i}" for i in range(150)]
    assert choose(dump).family.name == "mariadb"


def test_a_server_log_behind_a_container_prefix_is_the_servers():
    lines = [
        f"db-1  | 2026-11-20T13:45:0{i}.123456Z 0 [Note] [MY-010931] [Server] ready for connections." for i in range(5)
    ]
    found = choose(lines)
    assert found.envelopes == ["compose"] and found.family.name == "mysql_error"


def test_untimed_lines_say_an_event_needs_a_time():
    found = choose(["ERROR:sqlalchemy.pool:Exception during reset or similar", "Traceback (most recent call last):"])
    assert found.family is None
    assert "time stamp" in found.reason and "%(asctime)s" in found.reason


def test_a_near_miss_names_the_format_that_would_read_it():
    lines = ["2026-11-20 13:45:01 something happened"] + [f"plain text line {i}" for i in range(20)]
    found = choose(lines)
    assert found.family is None
    assert 'format = "python_text"' in found.reason


def test_a_configured_format_skips_detection_but_not_the_envelope():
    found = detect.choose(b"web-1  | anything at all\n", override="python_text")
    assert found.family.name == "python_text" and found.reason == "configured" and found.envelopes == ["compose"]


def test_a_time_of_day_without_a_date_is_named_as_the_reason():
    found = choose(["20:18:31 [Q] INFO Process-1:7 pushing tasks at 12124", "--- Logging error ---"])
    assert found.family is None and "no date" in found.reason
