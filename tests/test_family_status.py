"""Status snapshots: probe TSV, mysqladmin extended-status tables, Prometheus text."""

from __future__ import annotations

import polars as pl

from pipeline.ingest.families import status
from tests.helpers import assert_columns, load_cases, parse_in_chunks, parser_for, utc

FAMILY = status.FAMILY
CASES = load_cases("status")
parse = parser_for(FAMILY, plain=True, path="status.tsv", host="db1")
PROBE_TSV = CASES["probe-tsv"]["lines"]
MYSQLADMIN = CASES["mysqladmin-extended-status"]["lines"]


def test_probe_tsv():
    """tests/cases/status.toml gives the names, values, times and line numbers."""
    parsed = parse(PROBE_TSV)
    assert_columns(parsed.metrics, CASES["probe-tsv"]["metrics"], "probe-tsv")
    assert parsed.rejects.height == 0
    # non-numeric values (DISABLED, OFF) are skipped, like headers, stamps and blanks
    assert parsed.skipped == 8


def test_snapshot_time_carries_over_chunks():
    parts = parse_in_chunks(FAMILY, PROBE_TSV, [4], path="s")
    assert pl.concat([part.metrics for part in parts]).equals(parse(PROBE_TSV).metrics)


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
