"""Latency tables: the probe's CSV (header optional) and JSON lines."""

from __future__ import annotations

from pipeline.ingest.families import latency_table
from tests.helpers import parse_plain, utc

FAMILY = latency_table.FAMILY


def parse(lines, tz="UTC"):
    return parse_plain(FAMILY, lines, path="latency.csv", host="app1", tz=tz, whole=True)


PROBE_CSV = [
    "timestamp,target,rtt_ms",
    "2026-11-24T23:50:01.123456Z,tcp:127.0.0.1:3307,0.412",
    "2026-11-24T23:50:02.123456Z,tcp:127.0.0.1:3307,",
    "2026-11-24T23:50:03.000001Z,tcp:127.0.0.1:3307,1250",
]


def test_probe_csv():
    parsed = parse(PROBE_CSV)
    lat = parsed.latency
    assert lat["ts"].to_list() == [
        utc("2026-11-24 23:50:01.123456"),
        utc("2026-11-24 23:50:02.123456"),
        utc("2026-11-24 23:50:03.000001"),
    ]
    assert lat["target"].to_list() == ["tcp:127.0.0.1:3307"] * 3
    assert lat["rtt_ms"].to_list() == [0.412, None, 1250.0]
    assert lat["lost"].to_list() == [False, True, False]
    assert parsed.skipped == 1


def test_header_is_optional_and_zone_less_stamps_take_the_zone():
    parsed = parse(
        ["2026-11-24 23:50:01,tcp:db:3306,2.5", "2026-11-24T23:50:02+01:00,tcp:db:3306,3"], tz="Europe/Berlin"
    )
    assert parsed.latency["ts"].to_list() == [utc("2026-11-24 22:50:01"), utc("2026-11-24 22:50:02")]


def test_json_lines():
    lines = [
        '{"ts": "2026-11-24T23:50:01.5Z", "target": "tcp:db:3306", "rtt_ms": 0.4}',
        '{"timestamp": 1795996201.25, "target": "tcp:db:3306", "rtt_ms": null}',
        '{"ts": "2026-11-24T23:50:03Z", "target": "icmp:db", "rtt_ms": 3.0, "lost": true}',
        "",
    ]
    lat = parse(lines).latency
    assert lat["ts"].to_list() == [
        utc("2026-11-24 23:50:01.500"),
        utc("2026-11-29 23:50:01.250"),
        utc("2026-11-24 23:50:03"),
    ]
    assert lat["lost"].to_list() == [False, True, True]
    assert lat["rtt_ms"].to_list() == [0.4, None, None]


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
