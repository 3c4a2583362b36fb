"""Output of ``ping``: iputils (Linux) with or without ``-D`` epoch stamps and ``-O``
("no answer yet"), BSD/macOS (``Request timeout for icmp_seq N``), busybox (``seq=N``).

Rows go to ``latency``: a reply is ``rtt_ms`` with ``lost=false``; ``no answer yet``,
``Request timeout`` and ``From X icmp_seq=N Destination Host Unreachable`` are lost
probes (``lost=true``, ``rtt_ms`` NULL).  ``-D`` stamps are exact (epoch seconds with
microseconds).  Without stamps the time comes from a start time the file gives: a line
holding only a timestamp (``2026-11-24T23:50:00Z``, ``# 2026-...``, ``start: ...``, or
``date`` output) before the ``PING`` header, or ``ctx.state["start_time"]``; the probe
time is then start + (icmp_seq - first icmp_seq) x interval (``ctx.state["interval_s"]``,
default 1 s, ping's default).  Lines with no way to know their time are rejected.

The target is ``icmp:<destination as written after PING>``.  Headers, statistics,
blank lines, ``(DUP!)`` replies and BSD ICMP header dumps are counted as skipped; any
other line is rejected.
"""

from __future__ import annotations

import re
from typing import cast

import polars as pl

from pipeline.ingest.families.base import LATENCY_SCHEMA, FileContext, Parsed
from pipeline.ingest.families.common import NonBlankLinesSniff, concat_rejects, reject_frame, share_score
from pipeline.ingest.families.server_common import (
    epoch_to_utc,
    frame_lines,
    start_marker_ts,
    state_start_ts,
    ts_to_state,
)

STAMP = r"^(?:\[(?<epoch>\d+(?:\.\d+)?)\] ?)?"
REPLY_RE = (
    STAMP
    + r"\d+ bytes from \S+(?: \([^)]*\))?: (?:icmp_)?seq=(?<seq>\d+) (?:ttl|hlim)=\d+ time=(?<rtt>[\d.]+) ?ms(?<dup> \(DUP!\))?"
)
NOANSWER_RE = STAMP + r"no answer yet for icmp_seq=(?<seq>\d+)"
TIMEOUT_RE = STAMP + r"Request timeout for icmp_seq[= ](?<seq>\d+)"
UNREACH_RE = (
    STAMP
    + r"From \S+(?: \([^)]*\))?:? (?:icmp_)?seq=(?<seq>\d+) (?:Destination|Time to live|Frag needed|Redirect|Packet filtered|Source Quench)"
)
HEADER_RE = r"^(?:\[\d+(?:\.\d+)?\] ?)?PING (?<target>[^\s(]+)"
SKIP_RE = (
    r"^\s*$|^--- .* ping statistics ---|^\d+ packets transmitted|^(?:rtt|round-trip) min/avg/max|"
    r"^PATTERN: |^WARNING: |^pipe \d+|^Vr HL TOS|^ ?\d+ +\d+ +[0-9a-f]{2} [0-9a-f]{4} |"
    r"^\d+ bytes from .*: Destination (?:Host|Net|Port) Unreachable$|^ping: |^PING "
)

REPLY_PY = re.compile(REPLY_RE.replace("(?<", "(?P<"))
ANY_PROBE_PY = re.compile(
    "|".join(r.replace("(?<", "(?P<").replace("^", "", 1) for r in (NOANSWER_RE, TIMEOUT_RE, UNREACH_RE))
    .replace("(?P<epoch>", "(?:")
    .replace("(?P<seq>", "(?:")
)


def parse_ping(chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
    tz = ctx.timezone or "UTC"
    state = ctx.state
    interval_us = int(float(state.get("interval_s", 1.0)) * 1_000_000)
    df = frame_lines(chunk).with_columns(_l=pl.col("line").str.strip_chars_end("\r"))
    reply = pl.col("_l").str.extract_groups(REPLY_RE)
    noans = pl.col("_l").str.extract_groups(NOANSWER_RE)
    tmo = pl.col("_l").str.extract_groups(TIMEOUT_RE)
    unr = pl.col("_l").str.extract_groups(UNREACH_RE)
    df = df.with_columns(_r=reply, _n=noans, _t=tmo, _u=unr)
    is_reply = pl.col("_r").struct.field("seq").is_not_null()
    is_lost = (
        pl.col("_n").struct.field("seq").is_not_null()
        | pl.col("_t").struct.field("seq").is_not_null()
        | pl.col("_u").struct.field("seq").is_not_null()
    )
    df = df.with_columns(
        _reply=is_reply,
        _lost=is_lost & ~is_reply,
        _dup=pl.col("_r").struct.field("dup").is_not_null(),
        _seq=pl.coalesce(
            pl.col("_r").struct.field("seq"),
            pl.col("_n").struct.field("seq"),
            pl.col("_t").struct.field("seq"),
            pl.col("_u").struct.field("seq"),
        ).cast(pl.Int64, strict=False),
        _epoch=pl.coalesce(
            pl.col("_r").struct.field("epoch"),
            pl.col("_n").struct.field("epoch"),
            pl.col("_t").struct.field("epoch"),
            pl.col("_u").struct.field("epoch"),
        ),
        _rtt=pl.col("_r").struct.field("rtt").cast(pl.Float64, strict=False),
        _target=pl.col("_l").str.extract(HEADER_RE, 1),
        _start=start_marker_ts(pl.col("_l"), tz),
    )
    probe = (pl.col("_reply") & ~pl.col("_dup")) | pl.col("_lost")
    # A start marker or a PING header opens a block; probe times without -D stamps
    # count from the block's start time and its first icmp_seq.
    opens = pl.col("_start").is_not_null() | pl.col("_target").is_not_null()
    df = df.with_columns(
        _start=pl.when(pl.col("_target").is_not_null()).then(None).otherwise(pl.col("_start")),
        _block=opens.cast(pl.Int64).cum_sum(),
    )
    prev_start = state_start_ts(state, tz, "block_start") if "block_start" in state else state_start_ts(state, tz)
    prev_seq0 = state.get("block_seq0")
    prev_target = state.get("target")
    df = df.with_columns(
        _start_f=pl.col("_start").forward_fill().fill_null(prev_start),
        _target_f=pl.col("_target").forward_fill().fill_null(pl.lit(prev_target, pl.Utf8)),
    )
    seq_in_block = pl.when(probe).then(pl.col("_seq"))
    df = df.with_columns(_seq0=seq_in_block.min().over("_block"))
    if prev_seq0 is not None:
        df = df.with_columns(
            _seq0=pl.when(pl.col("_block") == 0).then(pl.lit(int(prev_seq0), pl.Int64)).otherwise(pl.col("_seq0"))
        )
    derived = pl.col("_start_f") + pl.duration(microseconds=(pl.col("_seq") - pl.col("_seq0")) * interval_us)
    df = df.with_columns(
        ts=pl.when(pl.col("_epoch").is_not_null()).then(epoch_to_utc(pl.col("_epoch"))).otherwise(derived),
    )
    rows = df.filter(probe)
    good = rows.filter(pl.col("ts").is_not_null())
    latency = good.select(
        pl.col("ts").cast(LATENCY_SCHEMA["ts"]),
        pl.concat_str([pl.lit("icmp:"), pl.col("_target_f").fill_null("unknown")]).alias("target"),
        pl.when(pl.col("_lost")).then(None).otherwise(pl.col("_rtt")).alias("rtt_ms"),
        pl.col("_lost").alias("lost"),
        pl.col("line_no"),
    ).cast(LATENCY_SCHEMA)
    no_time = reject_frame(
        rows.filter(pl.col("ts").is_null()),
        "ping line without a -D stamp and no start time in the file or configuration",
    )
    rest = df.filter(~probe)
    skip_mask = (
        pl.col("_dup")
        | pl.col("_l").str.contains(SKIP_RE)
        | pl.col("_start").is_not_null()
        | pl.col("_target").is_not_null()
    )
    skipped = rest.filter(skip_mask).height
    other = reject_frame(rest.filter(~skip_mask), "not a ping reply, loss or summary line")
    # carry the last block's start, first seq and target into the next chunk
    if df.height:
        last = df.tail(1)
        block_rows = df.filter(pl.col("_block") == last["_block"][0])
        start_val = last["_start_f"][0]
        seq0_vals = block_rows.filter(probe)["_seq"]
        if start_val is not None:
            state["block_start"] = ts_to_state(start_val)
        if seq0_vals.len():
            state["block_seq0"] = (
                int(cast(int, seq0_vals.min())) if last["_block"][0] > 0 or prev_seq0 is None else int(prev_seq0)
            )
        if last["_target_f"][0] is not None:
            state["target"] = last["_target_f"][0]
    return Parsed(latency=latency, rejects=concat_rejects(no_time, other), skipped=skipped)


class PingFamily(NonBlankLinesSniff):
    name = "ping"

    def score(self, lines: list[str]) -> float:
        probes = sum(1 for h in lines if REPLY_PY.match(h) or ANY_PROBE_PY.match(h))
        header = any(re.match(r"^(?:\[\d+(?:\.\d+)?\] ?)?PING \S+", h) for h in lines[:20])
        if probes == 0:
            return 0.3 if header else 0.0
        score = share_score(probes / len(lines), confident_from=0.3)
        return max(score, 0.8) if header else score

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        return parse_ping(chunk, ctx)


FAMILY = PingFamily()
