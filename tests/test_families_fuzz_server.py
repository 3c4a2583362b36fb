"""No server/network parser raises, whatever the lines; every line is accounted for."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.families import latency_table, mariadb, mysql_error, ping, postgres, status
from pipeline.ingest.families.base import EVENT_SCHEMA, LATENCY_SCHEMA, METRICS_SCHEMA, REJECT_SCHEMA, FileContext

FAMILIES = [mysql_error.FAMILY, mariadb.FAMILY, postgres.FAMILY, ping.FAMILY, latency_table.FAMILY, status.FAMILY]

SEEDS = [
    "2026-11-20T13:45:01.123456Z 42 [Note] [MY-010914] [Server] Aborted connection 42 to db: 'a' user: 'b' host: 'h' (Got timeout reading communication packets)",
    "2026-11-20T21:45:01.123456+08:00 7 [Warning] Access denied for user 'x'@'y'",
    "2026-11-20  9:45:01 0 [Note] mariadbd: ready for connections.",
    "261120 13:45:01 mysqld_safe Starting mysqld daemon",
    "261120 13:45:01 [ERROR] mysqld got signal 11 ;",
    "Version: '10.11.6-MariaDB'  socket: '/run/mysqld/mysqld.sock'  port: 3306",
    "mysql_1  | 2026-11-20T13:45:01.123456Z 3 [Note] x",
    "Nov 20 13:45:01 host mysqld[1]: 2026-11-20 13:45:01 3 [Warning] y",
    "2026-11-20 13:45:01.242 UTC [24915] FATAL:  sorry, too many clients already",
    "2026-11-20 13:45:01 EST [1-1] user=a,db=b LOG:  could not receive data from client: Connection reset by peer",
    '2026-11-20 13:45:01 UTC [44] DETAIL:  Role "a" does not exist.',
    '2026-01-04 00:05:58.232 UTC,"a","a",36,"h:1",5f.24,2,"auth",2026-01-04 00:05:58 UTC,3/9,0,FATAL,28P01,"bad ""x""",',
    "PING db (10.0.0.5) 56(84) bytes of data.",
    "[1795996201.123456] 64 bytes from 10.0.0.5: icmp_seq=1 ttl=64 time=0.412 ms",
    "[1795996202.1] no answer yet for icmp_seq=2",
    "Request timeout for icmp_seq 3",
    "From 10.0.0.1 icmp_seq=4 Destination Host Unreachable",
    "64 bytes from 10.0.0.5: icmp_seq=5 ttl=64 time=250 ms (DUP!)",
    "--- db ping statistics ---",
    "Tue Nov 24 23:50:00 UTC 2026",
    "2026-11-24T23:50:00Z",
    "timestamp,target,rtt_ms",
    "2026-11-24T23:50:01.123456Z,tcp:127.0.0.1:3307,0.412",
    "2026-11-24T23:50:02Z,tcp:127.0.0.1:3307,",
    '{"ts": "2026-11-24T23:50:01Z", "target": "tcp:db", "rtt_ms": null}',
    "# 2026-11-24T23:50:00.000000Z",
    "Variable_name\tValue",
    "Threads_connected\t5",
    "| Uptime | 1000 |",
    "+------+-----+",
    "mysql_global_status_threads_connected 12 1795996200000",
    'mysql_global_status_connection_errors_total{error="max_connections"} 2',
    "# HELP mysql_up x",
    "",
    "2026-02-30 25:61:61 0 [Note] impossible",
    "9999-99-99T99:99:99.999999Z 1 [Note] impossible",
    "[99999999999999999999.9] 64 bytes from x: icmp_seq=99999999999999999999 ttl=1 time=1e309 ms",
]

text = st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=120)
mutated = st.builds(
    lambda seed, cut, junk: seed[:cut] + junk + seed[cut:],
    st.sampled_from(SEEDS),
    st.integers(min_value=0, max_value=200),
    text,
)
line = st.one_of(st.sampled_from(SEEDS), mutated, text)
lines_st = st.lists(line, min_size=0, max_size=40)


def run(family, lines, final=True, state=None):
    df = pl.DataFrame(
        {"line_no": list(range(1, len(lines) + 1)), "line": lines},
        schema={"line_no": pl.Int64, "line": pl.Utf8},
    )
    ctx = FileContext(path="f", host="h", timezone="Europe/Berlin", final=final, state=state or {})
    return family.parse(df, ctx)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines_st, final=st.booleans())
def test_parse_never_raises_and_accounts_for_every_line(family, lines, final):
    parsed = run(family, lines, final=final)
    assert dict(parsed.events.schema) == EVENT_SCHEMA
    assert dict(parsed.latency.schema) == LATENCY_SCHEMA
    assert dict(parsed.metrics.schema) == METRICS_SCHEMA
    assert dict(parsed.rejects.schema) == REJECT_SCHEMA
    # the runner keeps rows before pending_from and feeds the rest again with the next chunk
    limit = parsed.pending_from if parsed.pending_from is not None else len(lines) + 1
    keep = pl.col("line_no") < limit
    folded = int(parsed.events.filter(keep)["n_lines"].sum() or 0)
    total = (
        folded
        + parsed.rejects.filter(keep).height
        + parsed.latency.filter(keep).height
        + parsed.metrics.filter(keep).height
        + parsed.skipped
    )
    assert total == limit - 1
    assert parsed.events["ts"].null_count() == 0
    assert parsed.latency["ts"].null_count() == 0
    assert parsed.metrics["ts"].null_count() == 0
    if parsed.pending_from is not None:
        assert not final
        assert 1 <= parsed.pending_from <= len(lines)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@settings(max_examples=60, deadline=None)
@given(head=st.lists(st.one_of(line, st.text(max_size=300)), max_size=50))
def test_sniff_never_raises(family, head):
    score = family.sniff(head)
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("family", [ping.FAMILY, status.FAMILY], ids=lambda f: f.name)
@settings(max_examples=30, deadline=None)
@given(
    lines=lines_st,
    state=st.fixed_dictionaries(
        {},
        optional={
            "start_time": st.sampled_from(["2026-11-24T23:50:00Z", "garbage", "1795996200"]),
            "interval_s": st.sampled_from([0.2, 1, 5.0]),
            "ts": st.sampled_from(["2026-11-24T23:50:00.000000Z", "not a time"]),
            "block_start": st.sampled_from(["2026-11-24T23:50:00.000000Z"]),
            "block_seq0": st.integers(min_value=0, max_value=70000),
            "target": st.sampled_from(["db", "x(y)"]),
            "uptime0": st.floats(min_value=0, max_value=1e9),
        },
    ),
)
def test_stateful_families_accept_any_saved_state(family, lines, state):
    parsed = run(family, lines, state=state)
    total = parsed.rejects.height + parsed.latency.height + parsed.metrics.height + parsed.skipped
    assert total == len(lines)
