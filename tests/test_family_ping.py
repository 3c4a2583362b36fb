"""ping family: iputils -D/-O, BSD timeouts, start-time files, chunk continuity."""

from __future__ import annotations

import polars as pl

from pipeline.ingest.families import ping
from tests.helpers import assert_columns, load_cases, parse_in_chunks, parser_for, utc

FAMILY = ping.FAMILY
CASES = load_cases("ping")
parse = parser_for(FAMILY, plain=True, path="ping.txt", host="app1")
D_O = CASES["iputils-D-O"]["lines"]


def test_epoch_stamps_are_exact_and_loss_is_null_rtt():
    """tests/cases/ping.toml gives the times, losses and line numbers of ``ping -D -O``."""
    parsed = parse(D_O)
    assert_columns(parsed.latency, CASES["iputils-D-O"]["latency"], "iputils-D-O")
    assert parsed.latency["rtt_ms"].to_list() == [0.412, None, 250.0]
    assert parsed.latency["target"].unique().to_list() == ["icmp:db.internal"]
    assert parsed.rejects.height == 0


def test_without_stamps_a_start_line_gives_the_time():
    lines = [
        "2026-11-24T23:50:00Z",
        "PING 10.0.0.5 (10.0.0.5): 56 data bytes",
        "64 bytes from 10.0.0.5: icmp_seq=0 ttl=64 time=0.052 ms",
        "Request timeout for icmp_seq 1",
        "64 bytes from 10.0.0.5: icmp_seq=2 ttl=64 time=0.050 ms",
        "92 bytes from gw (10.0.0.1): Destination Host Unreachable",
        "Vr HL TOS  Len   ID Flg  off TTL Pro  cks      Src      Dst",
        " 4  5  00 5400 567b   0 0000  3f  01 a024 10.0.0.9  10.0.0.5 ",
    ]
    lat = parse(lines).latency
    assert lat["ts"].to_list() == [utc("2026-11-24 23:50:00"), utc("2026-11-24 23:50:01"), utc("2026-11-24 23:50:02")]
    assert lat["lost"].to_list() == [False, True, False]
    assert lat["target"][0] == "icmp:10.0.0.5"


def test_date_output_as_start_and_configured_interval():
    lines = [
        "Tue Nov 24 23:50:00 UTC 2026",
        "PING db (10.0.0.5) 56(84) bytes of data.",
        "64 bytes from db (10.0.0.5): icmp_seq=1 ttl=64 time=1.0 ms",
        "64 bytes from db (10.0.0.5): icmp_seq=3 ttl=64 time=1.0 ms",
    ]
    parsed = parse(lines, state={"interval_s": 0.5})
    assert parsed.latency["ts"].to_list() == [utc("2026-11-24 23:50:00"), utc("2026-11-24 23:50:01")]


def test_without_any_time_lines_are_rejected():
    lines = ["PING db (10.0.0.5) 56(84) bytes of data.", "64 bytes from db (10.0.0.5): icmp_seq=1 ttl=64 time=1.0 ms"]
    parsed = parse(lines)
    assert parsed.latency.height == 0
    assert parsed.rejects.height == 1
    assert "start time" in parsed.rejects["reason"][0]
    # a configured start time fixes it
    parsed = parse(lines, state={"start_time": "2026-11-24T23:50:00Z"})
    assert parsed.latency["ts"].to_list() == [utc("2026-11-24 23:50:00")]


def test_dup_unreachable_busybox_ipv6_and_junk():
    lines = [
        "PING 2a04:4e42:600::323(2a04:4e42:600::323) 56 data bytes",
        "[1595102942.853155] 64 bytes from 2a04:4e42:600::323: icmp_seq=1 ttl=59 time=28.4 ms",
        "[1595102942.953155] 64 bytes from 2a04:4e42:600::324: icmp_seq=1 ttl=59 time=38.4 ms (DUP!)",
        "[1595102943.853155] From 10.0.0.1 icmp_seq=2 Destination Host Unreachable",
        "[1595102944.853155] 64 bytes from 8.8.8.8: seq=3 ttl=42 time=1.637 ms",
        "this is a weird error message",
    ]
    parsed = parse(lines)
    assert parsed.latency["lost"].to_list() == [False, True, False]
    assert parsed.latency["target"][0] == "icmp:2a04:4e42:600::323"
    assert parsed.rejects["line_no"].to_list() == [6]
    assert parsed.skipped == 2  # header + DUP


def test_state_carries_target_and_start_across_chunks():
    lines = [
        "2026-11-24T23:50:00Z",
        "PING db (10.0.0.5) 56(84) bytes of data.",
        "64 bytes from db (10.0.0.5): icmp_seq=1 ttl=64 time=1.0 ms",
        "64 bytes from db (10.0.0.5): icmp_seq=2 ttl=64 time=1.0 ms",
        "64 bytes from db (10.0.0.5): icmp_seq=3 ttl=64 time=1.0 ms",
        "no answer yet for icmp_seq=4",
    ]
    whole = parse(lines).latency
    parts = parse_in_chunks(FAMILY, lines, [3], path="p")
    assert pl.concat([part.latency for part in parts]).equals(whole)


def test_sniff():
    assert FAMILY.sniff(D_O) >= 0.8
    assert FAMILY.sniff(["2026-11-24 23:50:01,123 - app - ERROR - boom"]) == 0.0
    assert FAMILY.sniff(["timestamp,target,rtt_ms", "2026-11-24T23:50:01Z,tcp:db:3306,0.4"]) == 0.0
