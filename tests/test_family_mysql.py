"""MySQL error-log family: 5.5, 5.7 and 8.0 layouts, offsets, wrappers, kinds."""

from __future__ import annotations

import pytest

from pipeline.ingest.families import mariadb, mysql_error
from tests.helpers import parse_lines, utc

FAMILY = mysql_error.FAMILY


def parse(lines, tz="UTC", final=True, start=1):
    return parse_lines(FAMILY, lines, tz=tz, final=final, start=start, whole=True)


def one(line, tz="UTC"):
    parsed = parse([line], tz)
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


def test_mysqld_safe_and_crash_lines():
    lines = [
        "261120 13:45:01 mysqld_safe Starting mysqld daemon with databases from /var/lib/mysql",
        "261120 13:50:01 mysqld_safe mysqld from pid file /var/run/mysqld/mysqld.pid ended",
        "2026-11-20T13:50:02.000000Z 0 [ERROR] [MY-000000] [Server] mysqld got signal 11 ;",
        "Most likely, you have hit a bug, but this error can also be caused by malfunctioning hardware.",
        "",
        "Thread pointer: 0x0",
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == ["other", "server_stop", "server_stop"]
    assert ev["n_lines"].to_list() == [1, 1, 4]
    assert ev["level"][2] == "ERROR"
    assert "Thread pointer" in ev["raw"][2]


def test_start_and_stop_kinds():
    lines = [
        "2026-11-20T13:44:31.555406Z 6 [System] [MY-013172] [Server] Received SHUTDOWN from user boot. Shutting down mysqld (Version: 8.0.40).",
        "2026-11-20T13:44:33.236624Z 0 [System] [MY-010910] [Server] /usr/sbin/mysqld: Shutdown complete (mysqld 8.0.40)  MySQL Community Server - GPL.",
        "2026-11-20T13:44:34.420123Z 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections. Version: '8.0.40'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community Server - GPL.",
        "2026-11-20T13:44:34.572158Z 0 [System] [MY-011323] [Server] X Plugin ready for connections. Bind-address: '::' port: 33060",
        "2026-11-20T13:44:35.000000Z 0 [Note] InnoDB: Shutdown completed; log sequence number 1595675",
        "2026-11-20T13:44:36.000000Z 0 [Note] /usr/sbin/mysqld: Normal shutdown",
    ]
    ev = parse(lines).events
    # InnoDB's "Shutdown completed; log sequence number" says the server stopped (kind table:
    # `Shutdown complete`)
    assert ev["kind"].to_list() == ["server_stop", "server_stop", "server_start", "other", "server_stop", "server_stop"]
    assert ev["error_code"].to_list()[:4] == [13172, 10910, 10931, 11323]


def test_access_denied_too_many_and_inactivity():
    lines = [
        "2026-11-20T13:45:01.000000Z 12 [Note] [MY-010926] [Server] Access denied for user 'app'@'10.0.0.5' (using password: YES)",
        "2026-11-20T13:45:02.000000Z 0 [Warning] [MY-010055] [Server] IP address '10.0.0.9' could not be resolved",
        "2026-11-20T13:45:03.000000Z 0 [Note] Host '10.0.0.9' is not allowed to connect to this MySQL server",
        "2026-11-20T13:45:04.000000Z 15 [Note] [MY-010914] [Server] Aborted connection 15 to db: 'app' user: 'app' host: '10.0.0.5' (The client was disconnected by the server because of inactivity; see wait_timeout and interactive_timeout for configuring this behavior).",
        "2026-11-20T13:45:05.000000Z 0 [Warning] Too many connections",
        "2026-11-20T13:45:06.000000Z 16 [Warning] Got an error reading communication packets: Connection reset by peer",
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == [
        # "Got an error reading communication packets" is aborted_connection, a row of the
        # kind table before connection_reset's: the first matching row wins
        "access_denied",
        "other",
        "access_denied",
        "idle_disconnect",
        "too_many_connections",
        "aborted_connection",
    ]
    assert ev["conn_ref"].to_list()[3] == "15"


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


def test_mysql57_graceful_shutdown_sequence():
    """A docker entrypoint's temporary server stopping (MySQL 5.7, as posted in issues): the
    lines the kind table names are stops, the steps between them are not."""
    lines = [
        "2021-10-17T04:48:16.845164Z 0 [Note] Giving 0 client threads a chance to die gracefully",
        "2021-10-17T04:48:16.845212Z 0 [Note] Shutting down slave threads",
        "2021-10-17T04:48:16.845217Z 0 [Note] Forcefully disconnecting 0 remaining clients",
        "2021-10-17T04:48:16.845222Z 0 [Note] Event Scheduler: Purging the queue. 0 events",
        "2021-10-17T04:48:16.845337Z 0 [Note] Binlog end",
        "2021-10-17T04:48:16.846000Z 0 [Note] Shutting down plugin 'InnoDB'",
        "2021-10-17T04:48:16.846100Z 0 [Note] InnoDB: FTS optimize thread exiting.",
        "2021-10-17T04:48:16.846200Z 0 [Note] InnoDB: Starting shutdown...",
        "2021-10-17T04:48:18.000000Z 0 [Note] InnoDB: Shutdown completed; log sequence number 12659954",
        "2021-10-17T04:48:18.100000Z 0 [Note] /usr/sbin/mysqld: Shutdown complete",
    ]
    assert parse(lines).events["kind"].to_list() == [
        "server_stop",
        "other",
        "server_stop",
        "other",
        "other",
        "other",
        "other",
        "server_stop",
        "server_stop",
        "server_stop",
    ]


def test_mysql8_shutdown_sequence():
    lines = [
        "2020-04-08T19:53:14.140552Z 12 [System] [MY-013172] [Server] Received SHUTDOWN from user root. "
        "Shutting down mysqld (Version: 8.0.19).",
        "2025-11-10T11:46:27.837383+08:00 0 [Note] [MY-010733] [Server] Shutting down plugin 'InnoDB'",
        "2025-11-10T11:46:27.837426+08:00 0 [Note] [MY-013072] [InnoDB] Starting shutdown...",
        "2025-11-10T11:46:27.837574+08:00 0 [Note] [MY-011944] [InnoDB] Dumping buffer pool(s) to "
        "/var/lib/mysql/ib_buffer_pool",
        "2026-09-17T23:38:38.565846+08:00 0 [Note] [MY-013084] [InnoDB] Log background threads are being closed...",
        "2025-11-10T11:46:28.767553+08:00 0 [Note] [MY-012980] [InnoDB] Shutdown completed; log sequence number 30303787",
        "2020-04-08T19:53:15.777586Z 0 [System] [MY-010910] [Server] /usr/sbin/mysqld: Shutdown complete "
        "(mysqld 8.0.19)  MySQL Community Server - GPL.",
        "2024-06-28T01:42:06.272491Z 0 [System] [MY-015016] [Server] MySQL Server - end.",
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == [
        "server_stop",
        "other",
        "server_stop",
        "other",
        "other",
        "server_stop",
        "server_stop",
        "other",
    ]
    assert ev["error_code"].to_list()[2] == 13072


def test_mysql8_communication_packets_without_aborted_connection():
    ev = one(
        "2023-11-02T17:45:57.710621+08:00 921 [Note] [MY-010914] [Server] Got an error reading communication packets"
    )
    assert (ev["kind"], ev["error_code"], ev["conn_ref"]) == ("aborted_connection", 10914, "921")
    for reason in ("Got timeout reading communication packets", "Got an error writing communication packets"):
        assert one(f"2023-11-02T17:45:59.711067+08:00 922 [Note] {reason}")["kind"] == "aborted_connection"


def test_an_undated_crash_line_starts_a_stop_dated_like_the_record_before():
    """MySQL's crash handler writes "13:25:16 UTC - mysqld got signal/exception" without a
    date: it starts a record of its own, dated like the record before it, in UTC."""
    lines = [
        "2024-02-01T13:25:16.001234Z 0 [ERROR] [MY-012872] [InnoDB] Database page corruption on disk or a failed "
        "file read of tablespace app/t1 page [page id: space=5, page number=3].",
        "InnoDB: about forcing recovery.",
        "13:25:16 UTC - mysqld got exception 0x16 ;",
        "Most likely, you have hit a bug, but this error can also be caused by malfunctioning hardware.",
        "2024-02-01T13:25:17.000000Z 0 [Note] [MY-010733] [Server] Shutting down plugin 'InnoDB'",
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == ["other", "server_stop", "other"]
    assert ev["n_lines"].to_list() == [2, 2, 1]
    assert ev["ts"][1] == utc("2024-02-01 13:25:16") and ev["level"][1] == "ERROR"


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
