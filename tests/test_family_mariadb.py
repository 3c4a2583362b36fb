"""MariaDB error-log family: local time without zone, space-padded hours, old layout,
mysqld_safe lines, folded InnoDB and crash blocks."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.ingest.families import mariadb, mysql_error
from tests.helpers import assert_columns, case_params, load_cases, parser_for, utc

FAMILY = mariadb.FAMILY
CASES = load_cases("mariadb")
parse = parser_for(FAMILY)


def test_local_time_takes_configured_zone():
    lines = [
        "2026-11-20 14:45:01 42 [Warning] Aborted connection 42 to db: 'app' user: 'app' host: '10.0.0.5' "
        "(Got timeout reading communication packets)"
    ]
    ev = parse(lines, tz="Europe/Berlin").events.row(0, named=True)
    assert ev["ts"] == utc("2026-11-20 13:45:01")
    assert ev["level"] == "WARNING"
    assert ev["kind"] == "aborted_connection"
    assert ev["conn_ref"] == "42"
    assert ev["source"] == "mysql"
    ev = parse(lines, tz="UTC").events.row(0, named=True)
    assert ev["ts"] == utc("2026-11-20 14:45:01")


def test_space_padded_hour():
    ev = parse(["2026-11-21  9:04:49 0 [Note] mariadbd (initiated by: unknown): Normal shutdown"]).events
    assert ev["ts"][0] == utc("2026-11-21 09:04:49")
    assert ev["kind"][0] == "server_stop"
    assert ev["conn_ref"][0] == "0"


def test_dst_gap_is_rejected_and_repeated_hour_takes_first():
    parsed = parse(
        [
            "2026-03-29  2:30:00 0 [Note] in the gap",
            "2026-10-25  2:30:00 0 [Note] in the repeated hour",
        ],
        tz="Europe/Berlin",
    )
    assert parsed.rejects["line_no"].to_list() == [1]
    assert parsed.events["ts"][0] == utc("2026-10-25 00:30:00")


def test_pthread_thread_column_uses_connection_id():
    ev = parse(
        [
            "2026-05-16 12:10:01 140156782810880 [Warning] Aborted connection 718 to db: 'matomo' user: 'matomo' "
            "host: '172.18.0.5' (Got timeout reading communication packets)"
        ]
    ).events
    assert ev["conn_ref"][0] == "718"


def test_access_denied_is_thread_id():
    ev = parse(
        ["2026-03-23 22:18:20 22 [Warning] Access denied for user 'app'@'172.26.0.8' (using password: YES)"]
    ).events
    assert ev["kind"][0] == "access_denied"
    assert ev["conn_ref"][0] == "22"


@pytest.mark.parametrize("case", case_params(CASES))
def test_lines_parse_into_the_events_of_their_case(case):
    """tests/cases/mariadb.toml: kinds, and codes, connections and folding."""
    assert_columns(parse(case["lines"]).events, case["events"], case["name"])


def test_old_layout_crash_report_is_one_event():
    lines = [
        "261010 11:17:39 [ERROR] mysqld got signal 11 ;",
        "This could be because you hit a bug. It is also possible that this binary",
        "or one of the libraries it was linked against is corrupt, improperly built,",
        "",
        "Server version: 10.4.13-MariaDB",
        "key_buffer_size=16777216",
        "261010 11:17:45 mysqld_safe Number of processes running now: 0",
        "261010 11:17:45 mysqld_safe mysqld restarted",
    ]
    ev = parse(lines, tz="Europe/Berlin").events
    assert ev.height == 3
    assert ev["ts"][0] == utc("2026-10-10 09:17:39")
    assert ev["kind"][0] == "server_stop"
    assert ev["level"][0] == "ERROR"
    assert ev["n_lines"][0] == 6
    assert ev["message"][0] == "mysqld got signal 11 ;"


WRAPPED = [  # (line as a collector wrote it, UTC time, kind): each file has one envelope
    (
        "2026-06-13 13:08:54 2026-06-13 12:08:54 140443127027392 [Note] mysqld: ready for connections.",
        utc("2026-06-13 12:08:54"),
        "server_start",
    ),
    (
        "Aug 23 11:14:34 vserver mysqld[7409]: 2026-08-23 11:14:34 139789470383296 [Note] WSREP: backend: asio",
        utc("2026-08-23 11:14:34"),
        "other",
    ),
    (
        "25/9/2026 20:00:33 | 2026-09-25 23:00:33 155 [Warning] Access denied for user 'frappe'@'10.42.11.41' (using password: NO)",
        utc("2026-09-25 23:00:33"),
        "access_denied",
    ),
    (
        "db    | 2026-01-06 20:21:38 13 [Warning] Access denied for user 'root'@'localhost' (using password: NO)",
        utc("2026-01-06 20:21:38"),
        "access_denied",
    ),
    (
        "mariadbd[658]: 2026-02-04 12:00:03 1157 [Warning] Aborted connection 1157 to db: 'unconnected' user: "
        "'unauthenticated' host: 'localhost' (This connection closed normally without authentication)",
        utc("2026-02-04 12:00:03"),
        "aborted_connection",
    ),
]


@pytest.mark.parametrize("line,when,kind", WRAPPED, ids=["docker-local", "syslog", "rancher", "compose", "tagged"])
def test_docker_local_time_prefix_and_syslog_wrapper(line, when, kind):
    [event] = parse([line, line]).events.head(1).to_dicts()
    assert (event["ts"], event["kind"]) == (when, kind)
    assert event["raw"] == line


def test_sniff_prefers_mariadb_for_zone_less_stamps():
    lines = [
        "2026-11-20 13:45:01 0 [Note] InnoDB: Using Linux native AIO",
        "2026-11-20 13:45:01 0 [Note] mariadbd: ready for connections.",
        "Version: '10.11.6-MariaDB-0+deb12u1'  socket: '/run/mysqld/mysqld.sock'  port: 3306  Debian 12",
    ]
    assert FAMILY.sniff(lines) > mysql_error.FAMILY.sniff(lines)
    assert FAMILY.sniff(lines) >= 0.5
    old = ["200310 22:19:55 mysqld_safe Starting mariadbd daemon with databases from /var/lib/mysql"]
    assert FAMILY.sniff(old) >= 0.5
    assert mysql_error.FAMILY.sniff(old) < 0.5


@pytest.mark.slow
def test_live_mariadbd_error_log(tmp_path):
    """Start a private mariadbd, make it log an idle timeout, a denied login and a
    shutdown, and read its real error log."""
    from lab.mariadb import MariaDBMissing, MariaDBServer

    try:
        server = MariaDBServer(tmp_path / "mariadb.err", options={"wait_timeout": 1}, workdir=tmp_path / "srv")
    except MariaDBMissing:
        pytest.skip("mariadbd is not installed")
    import time

    import pymysql

    server.start()
    try:
        admin = server.admin()
        admin.cursor().execute("CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'pw'")
        admin.close()
        idle = pymysql.connect(host=server.host, port=server.port, user="app", password="pw")
        time.sleep(2.5)
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host=server.host, port=server.port, user="app", password="wrong")
        del idle
    finally:
        server.stop()
    lines = (tmp_path / "mariadb.err").read_text().splitlines()
    assert FAMILY.sniff(lines[:200]) > mysql_error.FAMILY.sniff(lines[:200])
    parsed = parse(lines, tz="UTC")
    kinds = parsed.events["kind"].to_list()
    assert kinds.count("server_start") == 1
    assert "access_denied" in kinds
    assert "server_stop" in kinds
    aborted = parsed.events.filter(pl.col("kind") == "aborted_connection")
    assert aborted["message"].str.contains("Got timeout reading communication packets").any()
    assert parsed.rejects.height == 0
