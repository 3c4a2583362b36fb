"""Status snapshots: probe TSV, mysqladmin extended-status tables, Prometheus text."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline.ingest.families import status
from tests.helpers import parse_in_chunks, parse_plain, utc

FAMILY = status.FAMILY


def parse(lines, state=None, tz="UTC"):
    return parse_plain(FAMILY, lines, path="status.tsv", host="db1", tz=tz, state=state, whole=True)


PROBE_TSV = [
    "# 2026-11-24T23:50:00.000000Z",
    "Variable_name\tValue",
    "Threads_connected\t5",
    "Max_connections\t151",
    "Aborted_clients\t2",
    "Have_ssl\tDISABLED",
    "",
    "# 2026-11-24T23:50:10.000000Z",
    "Variable_name\tValue",
    "Threads_connected\t7",
    "Wait_timeout\t28800",
    "Old_passwords\tOFF",
    "",
]


def test_probe_tsv():
    parsed = parse(PROBE_TSV)
    m = parsed.metrics
    assert m["name"].to_list() == [
        "threads_connected",
        "max_connections",
        "aborted_clients",
        "threads_connected",
        "wait_timeout",
    ]
    assert m["value"].to_list() == [5.0, 151.0, 2.0, 7.0, 28800.0]
    t0 = utc("2026-11-24 23:50:00")
    assert m["ts"].to_list() == [t0] * 3 + [t0 + dt.timedelta(seconds=10)] * 2
    assert m["line_no"].to_list() == [3, 4, 5, 10, 11]
    assert parsed.rejects.height == 0
    # non-numeric values (DISABLED, OFF) are skipped, like headers, stamps and blanks
    assert parsed.skipped == 8


def test_snapshot_time_carries_over_chunks():
    parts = parse_in_chunks(FAMILY, PROBE_TSV, [4], path="s")
    assert pl.concat([part.metrics for part in parts]).equals(parse(PROBE_TSV).metrics)


MYSQLADMIN = [
    "+-----------------------------------+----------+",
    "| Variable_name                     | Value    |",
    "+-----------------------------------+----------+",
    "| Aborted_clients                   | 3        |",
    "| Max_used_connections              | 20       |",
    "| Threads_connected                 | 5        |",
    "| Uptime                            | 1000     |",
    "+-----------------------------------+----------+",
    "+-----------------------------------+----------+",
    "| Variable_name                     | Value    |",
    "+-----------------------------------+----------+",
    "| Aborted_clients                   | 4        |",
    "| Max_used_connections              | 20       |",
    "| Threads_connected                 | 9        |",
    "| Uptime                            | 1010     |",
    "+-----------------------------------+----------+",
]


def test_mysqladmin_with_date_lines():
    lines = ["Tue Nov 24 23:50:00 UTC 2026"] + MYSQLADMIN[:8] + ["Tue Nov 24 23:50:10 UTC 2026"] + MYSQLADMIN[8:]
    m = parse(lines).metrics
    assert m.height == 8
    assert m.filter(pl.col("name") == "threads_connected")["value"].to_list() == [5.0, 9.0]
    assert m["ts"].unique().sort().to_list() == [utc("2026-11-24 23:50:00"), utc("2026-11-24 23:50:10")]


def test_mysqladmin_interval_output_uses_uptime_from_a_start_time():
    parsed = parse(MYSQLADMIN, state={"start_time": "2026-11-24T23:50:00Z"})
    m = parsed.metrics
    assert m.filter(pl.col("name") == "aborted_clients")["ts"].to_list() == [
        utc("2026-11-24 23:50:00"),
        utc("2026-11-24 23:50:10"),
    ]
    # without any time the rows are rejected with a reason
    parsed = parse(MYSQLADMIN)
    assert parsed.metrics.height == 0
    assert parsed.rejects.height == 8
    assert "timestamp" in parsed.rejects["reason"][0]


def test_prometheus_exposition():
    lines = [
        "# HELP mysql_global_status_threads_connected Generic metric from SHOW GLOBAL STATUS.",
        "# TYPE mysql_global_status_threads_connected untyped",
        "mysql_global_status_threads_connected 12 1795996200000",
        "mysql_global_variables_max_connections 151 1795996200000",
        'mysql_global_status_connection_errors_total{error="max_connections"} 2 1795996200123',
        "mysql_global_status_aborted_connects 1.5e+01 1795996200000",
    ]
    m = parse(lines).metrics
    assert m["name"].to_list() == [
        "threads_connected",
        "max_connections",
        'connection_errors_total{error="max_connections"}',
        "aborted_connects",
    ]
    assert m["value"].to_list() == [12.0, 151.0, 2.0, 15.0]
    assert m["ts"][2] == utc("2026-11-29 23:50:00.123")


def test_prometheus_without_sample_timestamps_takes_the_stamp_line():
    lines = ["# 2026-11-24T23:50:00Z", "mysql_up 1", "mysql_global_status_uptime 1234"]
    m = parse(lines).metrics
    assert m["name"].to_list() == ["mysql_up", "uptime"]
    assert m["ts"].to_list() == [utc("2026-11-24 23:50:00")] * 2


def test_junk_is_rejected():
    parsed = parse(
        ["# 2026-11-24T23:50:00Z", "Threads_connected\t5", "mysql: [Warning] Using a password on the command line"]
    )
    assert parsed.metrics.height == 1
    assert parsed.rejects["line_no"].to_list() == [3]


def test_sniff():
    assert FAMILY.sniff(PROBE_TSV) >= 0.9
    assert FAMILY.sniff(MYSQLADMIN) >= 0.9
    assert (
        FAMILY.sniff(["# HELP mysql_up Whether the MySQL server is up.", "# TYPE mysql_up gauge", "mysql_up 1"]) >= 0.9
    )
    assert FAMILY.sniff(["2026-11-24 23:50:01,123 - app - ERROR - boom"]) == 0.0
    assert FAMILY.sniff(["timestamp,target,rtt_ms", "2026-11-24T23:50:01Z,tcp:db:3306,0.4"]) == 0.0
