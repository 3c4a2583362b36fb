"""MySQL error-log family: 5.5, 5.7 and 8.0 layouts, offsets, wrappers, kinds."""

from __future__ import annotations

import pytest

from pipeline.ingest.families import mariadb, mysql_error
from tests.helpers import assert_columns, case_params, load_cases, parser_for, utc

FAMILY = mysql_error.FAMILY
CASES = load_cases("mysql_error")
parse = parser_for(FAMILY)


def one(line, tz="UTC"):
    parsed = parse([line], tz=tz)
    assert parsed.events.height == 1, parsed.rejects
    return parsed.events.row(0, named=True)


def test_mysql8_aborted_connection_with_code():
    ev = one(
        "2026-11-20T13:45:01.123456Z 42 [Note] [MY-010914] [Server] Aborted connection 42 to db: 'app' "
        "user: 'app' host: '10.0.0.5' (Got timeout reading communication packets)."
    )
    assert ev["ts"] == utc("2026-11-20 13:45:01.123456")
    assert ev["level"] == "INFO"
    assert ev["kind"] == "aborted_connection"
    assert ev["error_code"] == 10914
    assert ev["conn_ref"] == "42"
    assert ev["source"] == "mysql"
    assert ev["message"].startswith("Aborted connection 42 to db: 'app'")
    assert "Got timeout reading communication packets" in ev["message"]


def test_mysql57_layout_keeps_utc():
    ev = one(
        "2026-11-20T13:45:01.123456Z 7 [Note] Aborted connection 9 to db: 'app' user: 'app' "
        "host: '10.0.0.5' (Got an error reading communication packets)",
        tz="Europe/Berlin",  # Z stamps ignore the configured zone
    )
    assert ev["ts"] == utc("2026-11-20 13:45:01.123456")
    assert ev["conn_ref"] == "9"  # the connection id from the message, not the thread column
    assert ev["error_code"] is None
    assert ev["kind"] == "aborted_connection"


def test_log_timestamps_system_offset():
    ev = one(
        "2026-11-20T21:45:01.000001+08:00 1956430 [Note] Aborted connection 1956430 to db: 'x' "
        "user: 'y' host: '10.1.2.3' (Got timeout reading communication packets)"
    )
    assert ev["ts"] == utc("2026-11-20 13:45:01.000001")
    ev = one("2026-11-20T08:45:01.5-05:00 0 [Warning] [MY-010068] [Server] CA certificate ca.pem is self signed.")
    assert ev["ts"] == utc("2026-11-20 13:45:01.500")
    assert ev["level"] == "WARNING"


def test_reasons_are_kept_in_the_message():
    reasons = [
        "Got timeout reading communication packets",
        "Got an error reading communication packets",
        "Got an error writing communication packets",
    ]
    lines = [
        f"2026-11-20T13:45:0{i}.000000Z {i} [Note] Aborted connection {i} to db: 'a' user: 'b' host: 'h' ({r})"
        for i, r in enumerate(reasons)
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == ["aborted_connection"] * 3
    for msg, reason in zip(ev["message"].to_list(), reasons):
        assert msg.endswith(f"({reason})")


def test_mysql55_layout_uses_configured_zone():
    ev = one("261120 14:45:01 [Warning] IP address '10.10.10.10' could not be resolved", tz="Europe/Berlin")
    assert ev["ts"] == utc("2026-11-20 13:45:01")
    assert ev["level"] == "WARNING"
    ev = one("261120  9:05:01  InnoDB: Starting shutdown...")
    assert ev["ts"] == utc("2026-11-20 09:05:01")
    assert ev["level"] == "INFO"
    assert ev["kind"] == "server_stop"  # the kind table lists `InnoDB: Starting shutdown`


@pytest.mark.parametrize("case", case_params(CASES))
def test_lines_parse_into_the_events_of_their_case(case):
    """tests/cases/mysql_error.toml: kinds, and levels, codes, connections, folding and times."""
    assert_columns(parse(case["lines"]).events, case["events"], case["name"])


def test_a_crash_report_keeps_its_folded_lines():
    assert "Thread pointer" in parse(CASES["mysqld-safe-and-crash-lines"]["lines"]).events["raw"][2]


@pytest.mark.parametrize(
    "prefix",
    [
        "mysql_1  | ",
        "> svc_1  | ",
        "- ",
        "2026-11-20T13:45:01.123456789Z ",
        "2026-11-20T05:45:01.123456789-08:00 ",
        "Nov 20 13:45:01 dbhost mysqld[7409]: ",
        "mysqld[7409]: ",
    ],
)
def test_wrapper_prefixes_are_stripped(prefix):
    ev = one(
        prefix + "2026-11-20T13:45:01.123456Z 3 [Note] Aborted connection 3 to db: 'a' user: 'b' "
        "host: '172.17.0.4' (Got an error reading communication packets)"
    )
    assert ev["ts"] == utc("2026-11-20 13:45:01.123456")
    assert ev["conn_ref"] == "3"
    assert ev["message"].startswith("Aborted connection 3")
    assert ev["raw"].startswith(prefix)  # raw keeps the line as written


def test_version_continuation_is_folded_and_orphans_rejected():
    lines = [
        "Version: '8.0.40'  socket: '/tmp/mysql.sock'  port: 3306",
        "2026-11-20T13:45:01.000000Z 0 [Note] /usr/sbin/mysqld: ready for connections.",
        "Version: '5.7.44'  socket: '/tmp/mysql.sock'  port: 3306  MySQL Community Server (GPL)",
        "[Note] Aborted connection 43563 to db: 'maxwell' user: 'maxwell' host: 'x' (Got timeout reading communication packets)",
    ]
    parsed = parse(lines)
    assert parsed.events.height == 1
    assert parsed.events["n_lines"][0] == 3
    assert parsed.events["raw"][0].count("\n") == 2
    assert parsed.rejects["line_no"].to_list() == [1]


def test_pending_from_when_not_final():
    lines = [
        "2026-11-20T13:45:01.000000Z 0 [Note] a",
        "2026-11-20T13:45:02.000000Z 0 [ERROR] b",
        "  continuation",
    ]
    parsed = parse(lines, final=False, start=10)
    assert parsed.pending_from == 11
    assert parse(lines, final=True).pending_from is None


def test_entrypoint_lines_with_offset():
    ev = one("2026-11-20 21:45:01+08:00 [Note] [Entrypoint]: Entrypoint script for MySQL Server 8.0.40 started.")
    assert ev["ts"] == utc("2026-11-20 13:45:01")
    assert ev["message"].startswith("Entrypoint script")


def test_bad_date_is_rejected_with_reason():
    parsed = parse(["2026-02-30T13:45:01.000000Z 0 [Note] impossible date"])
    assert parsed.events.height == 0
    assert parsed.rejects.height == 1
    assert "timestamp" in parsed.rejects["reason"][0]


APP_LINES = [
    "2026-11-24 23:50:01,123 - app.db - ERROR - (2013, 'Lost connection to MySQL server during query')",
    "2026-11-24 23:50:01,123 DEBUG sqlalchemy.pool.impl.QueuePool Connection <x> checked out from pool",
    '{"ts": "2026-11-24T23:50:01Z", "level": "ERROR", "logger": "app", "message": "boom"}',
    "Traceback (most recent call last):",
    '  File "/app/x.py", line 1, in <module>',
]


def test_sniff_separates_mysql_from_mariadb_and_app_logs():
    my = [
        "2026-11-20T13:45:01.123456Z 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections.",
        "2026-11-20T13:45:02.123456Z 9 [Note] Aborted connection 9 to db: 'a' user: 'b' host: 'h' (Got timeout reading communication packets)",
    ]
    maria = [
        "2026-11-20  9:45:01 0 [Note] mariadbd: ready for connections.",
        "2026-11-20  9:45:02 9 [Warning] Aborted connection 9 to db: 'a' user: 'b' host: 'h' (Got timeout reading communication packets)",
    ]
    assert FAMILY.sniff(my) >= 0.9
    assert mariadb.FAMILY.sniff(my) < 0.5
    assert FAMILY.sniff(maria) < 0.5
    assert mariadb.FAMILY.sniff(maria) >= 0.9
    assert FAMILY.sniff(APP_LINES) < 0.5
    assert mariadb.FAMILY.sniff(APP_LINES) < 0.5
    assert FAMILY.sniff([]) == 0.0


def test_mysql8_communication_packets_without_aborted_connection():
    ev = one(
        "2023-11-02T17:45:57.710621+08:00 921 [Note] [MY-010914] [Server] Got an error reading communication packets"
    )
    assert (ev["kind"], ev["error_code"], ev["conn_ref"]) == ("aborted_connection", 10914, "921")
    for reason in ("Got timeout reading communication packets", "Got an error writing communication packets"):
        assert one(f"2023-11-02T17:45:59.711067+08:00 922 [Note] {reason}")["kind"] == "aborted_connection"


def test_mysql51_windows_exception_line():
    assert one("100805  3:40:49 - mysqld got exception 0x80000003 ;")["kind"] == "server_stop"


@pytest.mark.parametrize(
    "message",
    [
        "Event Scheduler: Purging the queue. 0 events",
        "Shutting down slave threads",
        "Shutting down plugin 'ngram'",
        "Binlog end",
        "InnoDB: Buffer pool(s) dump completed at 211017  4:48:16",
        'InnoDB: Removed temporary tablespace data file: "ibtmp1"',
        "Plugin 'FEDERATED' is disabled.",
        "Slave I/O thread killed while reading event for channel ''",
    ],
)
def test_shutdown_steps_are_not_stops(message):
    assert one(f"2021-10-17T04:48:16.845222Z 0 [Note] {message}")["kind"] == "other"


def test_mysql55_not_shut_down_normally():
    # MySQL 5.5's InnoDB wrote "shut down" (aws-missing-tools#87); 5.7 and 8.0 "shutdown"
    assert one("150209 12:17:08  InnoDB: Database was not shut down normally!")["kind"] == "server_stop"
    assert (
        one("2024-02-01T13:25:16.001234Z 0 [Note] [MY-012551] [InnoDB] Database was not shutdown normally!")["kind"]
        == "server_stop"
    )


def test_general_query_log_lines_start_records_and_keep_their_command():
    lines = [
        "2019-03-24T13:44:34.420123Z\t   12 Connect\troot@localhost on test using Socket",
        "2019-03-24T13:44:34.421000Z\t   12 Query\tSELECT *",
        "FROM t",  # a query's next line folds into it
        "2019-03-24T13:44:35.000000Z\t   12 Quit\t",
    ]
    from pipeline.ingest import detect

    assert detect.choose("\n".join(lines).encode()).family.name == "mysql_error"
    events = parse(lines).events
    assert events["message"].to_list()[0] == "Connect root@localhost on test using Socket"
    assert events["conn_ref"].to_list() == ["12", "12", "12"] and events["n_lines"].to_list() == [1, 2, 1]


def test_mysqld_safe_lines_with_an_iso_stamp_start_records():
    lines = [
        "2021-01-15T07:36:40.219774Z 0 [Note] Shutting down plugin 'MEMORY'",
        "2021-01-15T07:36:41.000000Z mysqld_safe mysqld from pid file /var/run/mysqld/mysqld.pid ended",
    ]
    from pipeline.ingest import detect

    assert detect.choose("\n".join(lines).encode()).family.name == "mysql_error"
    events = parse(lines).events
    assert events["kind"].to_list() == ["other", "server_stop"]
    assert events["message"][1].startswith("mysqld_safe mysqld from pid file")
