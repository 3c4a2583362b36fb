"""Latency tables: the probe's CSV (header optional) and JSON lines."""

from __future__ import annotations

import pytest

from pipeline.ingest.families import latency_table
from tests.helpers import assert_columns, case_params, load_cases, parser_for, utc

FAMILY = latency_table.FAMILY
CASES = load_cases("latency_table")
parse = parser_for(FAMILY, plain=True, path="latency.csv", host="app1")
PROBE_CSV = CASES["probe-csv"]["lines"]


@pytest.mark.parametrize("case", case_params(CASES))
def test_lines_parse_into_the_latency_rows_of_their_case(case):
    """tests/cases/latency_table.toml: times, targets and losses."""
    assert_columns(parse(case["lines"]).latency, case["latency"], case["name"])


def test_probe_csv_gives_no_rtt_for_a_lost_probe_and_skips_its_header():
    parsed = parse(PROBE_CSV)
    assert parsed.latency["rtt_ms"].to_list() == [0.412, None, 1250.0]
    assert parsed.skipped == 1


def test_header_is_optional_and_zone_less_stamps_take_the_zone():
    parsed = parse(
        ["2026-11-24 23:50:01,tcp:db:3306,2.5", "2026-11-24T23:50:02+01:00,tcp:db:3306,3"], tz="Europe/Berlin"
    )
    assert parsed.latency["ts"].to_list() == [utc("2026-11-24 22:50:01"), utc("2026-11-24 22:50:02")]


def test_json_lines_give_no_rtt_for_a_lost_probe():
    assert parse(CASES["json-lines"]["lines"]).latency["rtt_ms"].to_list() == [0.4, None, None]


def test_bad_rows_are_rejected_with_reasons():
    parsed = parse(["timestamp,target,rtt_ms", "2026-13-01T00:00:00Z,tcp:db,1", "hello", '{"foo": 1}'])
    assert parsed.latency.height == 0
    reasons = dict(zip(parsed.rejects["line_no"].to_list(), parsed.rejects["reason"].to_list()))
    assert "timestamp" in reasons[2]
    assert "not a latency row" in reasons[3]
    assert "not a latency row" in reasons[4]


def test_sniff():
    assert FAMILY.sniff(PROBE_CSV) >= 0.9
    assert FAMILY.sniff(PROBE_CSV[1:]) >= 0.9
    assert FAMILY.sniff(['{"ts": "2026-11-24T23:50:01Z", "target": "tcp:db", "rtt_ms": 1.2}']) >= 0.9
    assert FAMILY.sniff(['{"ts": "2026-11-24T23:50:01Z", "level": "ERROR", "message": "boom"}']) == 0.0
    assert FAMILY.sniff(["2026-11-24 23:50:01,123 - app - ERROR - boom"]) == 0.0
