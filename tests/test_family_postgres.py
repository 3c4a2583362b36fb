"""PostgreSQL server-log family: default and common prefixes, csvlog, zones, kinds."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline.ingest.families import postgres
from pipeline.ingest.families.base import FileContext

UTC = dt.timezone.utc
FAMILY = postgres.FAMILY


def parse(lines, tz="UTC", final=True):
    df = pl.DataFrame(
        {"line_no": list(range(1, len(lines) + 1)), "line": lines},
        schema={"line_no": pl.Int64, "line": pl.Utf8},
    )
    return FAMILY.parse(df, FileContext(path="postgresql.log", host="pg1", timezone=tz, final=final))


def accounted(parsed):
    return int(parsed.events["n_lines"].sum() or 0) + parsed.rejects.height + parsed.skipped


def test_default_prefix_too_many_clients():
    ev = parse(["2026-11-20 13:45:01.242 UTC [24915] FATAL:  sorry, too many clients already"]).events.row(0, named=True)
    assert ev["ts"] == dt.datetime(2026, 11, 20, 13, 45, 1, 242000, tzinfo=UTC)
    assert ev["level"] == "CRITICAL"
    assert ev["kind"] == "too_many_connections"
    assert ev["conn_ref"] == "24915"
    assert ev["source"] == "postgres"
    assert ev["message"] == "sorry, too many clients already"
    assert ev["error_code"] is None


def test_variant_prefix_with_user_and_db():
    lines = [
        "2026-11-20 13:45:01 UTC [123]: [1-1] user=app,db=app FATAL:  terminating connection due to idle-session timeout",
        "2026-11-20 13:45:02 UTC [124]: [3-1] user=app,db=app LOG:  could not receive data from client: Connection reset by peer",
        "2026-11-20 13:45:03 UTC [125]: [1-1] user=app,db=app FATAL:  password authentication failed for user \"app\"",
        "2026-11-20 13:45:04 UTC [126]: [2-1] user=app,db=app FATAL:  terminating connection due to idle-in-transaction timeout",
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == ["idle_disconnect", "connection_reset", "access_denied", "idle_disconnect"]
    assert ev["conn_ref"].to_list() == ["123", "124", "125", "126"]
    assert ev["level"].to_list() == ["CRITICAL", "INFO", "CRITICAL", "CRITICAL"]


def test_user_at_db_prefix_and_line_number():
    ev = parse(["2026-03-04 18:24:15.242 UTC [24915-2] sherlock@postgres LOG:  connection authorized: user=sherlock database=postgres"]).events
    assert ev["conn_ref"][0] == "24915"
    assert ev["message"][0].startswith("connection authorized")


def test_startup_and_shutdown():
    lines = [
        "2026-11-20 13:45:01.000 UTC [1] LOG:  received fast shutdown request",
        "2026-11-20 13:45:01.100 UTC [1] LOG:  aborting any active transactions",
        "2026-11-20 13:45:01.200 UTC [1] LOG:  database system is shut down",
        "2026-11-20 13:45:05.000 UTC [1] LOG:  starting PostgreSQL 16.4 on x86_64-pc-linux-gnu",
        "2026-11-20 13:45:05.500 UTC [1] LOG:  database system is ready to accept connections",
        "2026-11-20 13:45:06.000 UTC [1] LOG:  server process (PID 77) was terminated by signal 9: Killed",
    ]
    ev = parse(lines).events
    assert ev["kind"].to_list() == ["server_stop", "other", "server_stop", "other", "server_start", "server_stop"]


def test_detail_hint_statement_lines_fold_into_their_message():
    lines = [
        "2026-11-20 13:45:01.000 UTC [44] ERROR:  42704: unrecognized configuration parameter \"x\"",
        "2026-11-20 13:45:01.000 UTC [44] LOCATION:  GetConfigOptionByName, guc.c:8342",
        "2026-11-20 13:45:01.000 UTC [44] STATEMENT:  show x;",
        "2026-11-20 13:45:02.000 UTC [45] FATAL:  password authentication failed for user \"a\"",
        "2026-11-20 13:45:02.000 UTC [45] DETAIL:  Role \"a\" does not exist.",
        "\tConnection matched pg_hba.conf line 95: \"host all all all md5\"",
    ]
    parsed = parse(lines)
    ev = parsed.events
    assert ev["n_lines"].to_list() == [3, 3]
    assert ev["message"][0] == "unrecognized configuration parameter \"x\""  # SQLSTATE dropped
    assert ev["level"].to_list() == ["ERROR", "CRITICAL"]
    assert accounted(parsed) == len(lines)


def test_zone_abbreviations_and_offsets():
    lines = [
        "2026-07-31 13:36:43 EST [835-1] LOG:  autovacuum launcher started",
        "2026-07-31 13:36:43.5 CEST [836] LOG:  x",
        "2026-07-31 13:36:43.123+08 [837] LOG:  y",
        "2026-07-31 13:36:43 GMT [838] LOG:  z",
        "2026-07-31 13:36:43 XYZ [839] LOG:  unknown abbreviation takes the configured zone",
    ]
    ev = parse(lines, tz="Europe/Berlin").events
    assert ev["ts"].to_list() == [
        dt.datetime(2026, 7, 31, 18, 36, 43, tzinfo=UTC),
        dt.datetime(2026, 7, 31, 11, 36, 43, 500000, tzinfo=UTC),
        dt.datetime(2026, 7, 31, 5, 36, 43, 123000, tzinfo=UTC),
        dt.datetime(2026, 7, 31, 13, 36, 43, tzinfo=UTC),
        dt.datetime(2026, 7, 31, 11, 36, 43, tzinfo=UTC),
    ]


def test_csvlog_with_embedded_newline():
    lines = [
        '2026-01-04 00:05:58.232 UTC,"azlev","azlev",36,"172.24.0.1:42326",5ff25be6.24,2,"authentication",'
        '2026-01-04 00:05:58 UTC,3/9,0,FATAL,28P01,"password authentication failed for user ""azlev""",'
        '"Role ""azlev"" does not exist.',
        'Connection matched pg_hba.conf line 95: ""host all all all md5""",,,,,,,,""',
        '2026-01-04 00:05:59.807 UTC,,,37,"172.24.0.1:42330",5ff25be7.25,1,"",2026-01-04 00:05:59 UTC,,0,LOG,'
        '00000,"connection received: host=172.24.0.1 port=42330",,,,,,,,,""',
    ]
    parsed = parse(lines)
    ev = parsed.events
    assert ev["message"].to_list() == [
        'password authentication failed for user "azlev"',
        "connection received: host=172.24.0.1 port=42330",
    ]
    assert ev["kind"].to_list() == ["access_denied", "other"]
    assert ev["conn_ref"].to_list() == ["36", "37"]
    assert ev["n_lines"].to_list() == [2, 1]
    assert accounted(parsed) == len(lines)


def test_noise_before_first_line_is_rejected():
    parsed = parse(["Wed, Jul 2 2025 4:10:05 pm", "2026-07-02 23:10:05.214 GMT [1152859] FATAL:  sorry, too many clients already"])
    assert parsed.rejects["line_no"].to_list() == [1]
    assert parsed.events.height == 1


def test_sniff():
    assert FAMILY.sniff(["2026-11-20 13:45:01.242 UTC [24915] LOG:  checkpoint starting: time"]) >= 0.9
    assert FAMILY.sniff([
        "2026-11-24 23:50:01,123 - app - ERROR - boom",
        "2026-11-20T13:45:01.123456Z 0 [Note] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections.",
        "2026-11-20 13:45:01 0 [Note] mariadbd: ready for connections.",
    ]) == 0.0
