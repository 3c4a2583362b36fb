"""Latency samples as CSV (``timestamp,target,rtt_ms``, header optional, an empty
``rtt_ms`` is a lost probe) or JSON lines (``{"ts": ..., "target": ..., "rtt_ms": ...}``;
``timestamp``/``time`` accepted for ``ts``, ``rtt_ms`` null or ``"lost": true`` for a
lost probe).  This is what the lab's probe writes (``latency.csv``).

Timestamps: ISO-8601 with ``Z`` or an offset are exact; without a zone they are read in
the configured zone; epoch seconds are accepted.  Rows go to ``latency``; the header
and blank lines are skipped; anything else is rejected with a reason.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.ingest.families.base import LATENCY_SCHEMA, FileContext, Parsed
from pipeline.ingest.families.common import NonBlankLinesSniff, concat_rejects, reject_frame, share_score
from pipeline.ingest.families.server_common import frame_lines, iso_or_epoch_to_utc

TS_TEXT = r"\d{4}-\d\d-\d\d[T ]\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d(?::?\d\d)?)?|\d{9,11}(?:\.\d+)?"
CSV_RE = (
    r"^\s*\"?(?<ts>" + TS_TEXT + r")\"?\s*[,;\t]\s*\"?(?<target>[^,;\t\"]*)\"?\s*[,;\t]\s*"
    r"(?<rtt>-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)?\s*(?:[,;\t]\s*(?<lost>(?i:true|false|1|0))?\s*)?$"
)
HEADER_RE = r"(?i)^\s*\"?(?:timestamp|ts|time)\"?\s*[,;\t]\s*\"?target"
JSON_TS = r"\"(?:ts|timestamp|time|@timestamp)\"\s*:\s*\"?(?<ts>" + TS_TEXT + r")\"?"
JSON_TARGET = r"\"(?:target|host|dest)\"\s*:\s*\"(?<target>[^\"]*)\""
JSON_RTT = r"\"(?:rtt_ms|rtt|time_ms|latency_ms)\"\s*:\s*(?<rtt>null|-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
JSON_LOST = r"\"lost\"\s*:\s*(?<lost>true|false)"

CSV_PY = re.compile(CSV_RE.replace("(?<", "(?P<"))
JSON_PY = re.compile(JSON_TS.replace("(?<", "(?P<"))


def parse_latency_table(chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
    tz = ctx.timezone or "UTC"
    df = frame_lines(chunk)
    is_json = pl.col("line").str.contains(r"^\s*\{")
    csv = pl.col("line").str.extract_groups(CSV_RE)
    df = df.with_columns(
        _json=is_json,
        _c=csv,
        _jts=pl.col("line").str.extract(JSON_TS, 1),
        _jtarget=pl.col("line").str.extract(JSON_TARGET, 1),
        _jrtt=pl.col("line").str.extract(JSON_RTT, 1),
        _jlost=pl.col("line").str.extract(JSON_LOST, 1),
    )
    df = df.with_columns(
        _ts_text=pl.when(pl.col("_json")).then(pl.col("_jts")).otherwise(pl.col("_c").struct.field("ts")),
        _target=pl.when(pl.col("_json")).then(pl.col("_jtarget")).otherwise(pl.col("_c").struct.field("target")),
        _rtt=pl.when(pl.col("_json"))
        .then(pl.col("_jrtt"))
        .otherwise(pl.col("_c").struct.field("rtt"))
        .cast(pl.Float64, strict=False),
        _lostflag=pl.when(pl.col("_json"))
        .then(pl.col("_jlost"))
        .otherwise(pl.col("_c").struct.field("lost"))
        .str.to_lowercase()
        .is_in(["true", "1"]),
    )
    df = df.with_columns(ts=iso_or_epoch_to_utc(pl.col("_ts_text"), tz))
    matched = pl.col("_ts_text").is_not_null() & pl.col("_target").is_not_null()
    ok = matched & pl.col("ts").is_not_null()
    lost = pl.col("_rtt").is_null() | pl.col("_lostflag").fill_null(False)
    rows = df.filter(ok)
    latency = rows.select(
        pl.col("ts"),
        pl.col("_target").str.strip_chars().alias("target"),
        pl.when(lost).then(None).otherwise(pl.col("_rtt")).alias("rtt_ms"),
        lost.alias("lost"),
        pl.col("line_no"),
    ).cast(LATENCY_SCHEMA)
    rest = df.filter(~ok)
    skip = pl.col("line").str.contains(r"^\s*$") | pl.col("line").str.contains(HEADER_RE)
    skipped = rest.filter(skip).height
    bad_ts = reject_frame(rest.filter(~skip & matched), f"latency timestamp cannot be read (zone {tz})")
    other = reject_frame(rest.filter(~skip & ~matched), "not a latency row (timestamp,target,rtt_ms)")
    return Parsed(latency=latency, rejects=concat_rejects(bad_ts, other), skipped=skipped)


class LatencyTableFamily(NonBlankLinesSniff):
    name = "latency_table"

    def score(self, lines: list[str]) -> float:
        header = bool(re.match(HEADER_RE.replace("(?i)", ""), lines[0], re.I))
        rows = 0
        for h in lines:
            if CSV_PY.match(h) or (
                h.lstrip().startswith("{")
                and JSON_PY.search(h)
                and re.search(r"\"(?:rtt_ms|rtt|time_ms|latency_ms)\"\s*:", h)
                and re.search(r"\"(?:target|host|dest)\"\s*:", h)
            ):
                rows += 1
        ratio = (rows + (1 if header else 0)) / len(lines)
        if rows == 0:
            return 0.4 if header else 0.0
        return share_score(ratio, confident_from=0.5)

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        return parse_latency_table(chunk, ctx)


FAMILY = LatencyTableFamily()
