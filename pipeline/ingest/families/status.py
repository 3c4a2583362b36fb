"""Server status snapshots: SHOW GLOBAL STATUS / SHOW GLOBAL VARIABLES taken
periodically, as

* ``mysql -B`` tab-separated output, each snapshot a timestamp line
  (``# 2026-11-24T23:50:00.000000Z``), the ``Variable_name<TAB>Value`` header, rows,
  a blank line (what the lab's probe writes to ``status.tsv``);
* ``mysqladmin extended-status [-i N]`` tables (``| Threads_connected | 5 |``),
  optionally preceded by timestamp lines (``date`` output or ISO);
* Prometheus text exposition scraped from mysqld_exporter, with or without sample
  timestamps (milliseconds).

Rows go to ``metrics`` with names in lower case (``Threads_connected`` ->
``threads_connected``; exporter names lose their ``mysql_global_status_`` /
``mysql_global_variables_`` prefix; labels are kept: ``connection_errors_total{error="max_connections"}``).

Time of a row: the Prometheus sample timestamp if given, else the last timestamp line
before it.  mysqladmin tables with no timestamp line at all take
``ctx.state["start_time"]`` plus the snapshot's ``Uptime`` minus the first snapshot's
(a single scrape without timestamps takes ``start_time`` as is).
Rows with no way to know their time are rejected.  Non-numeric values (``ON``, ``OFF``,
paths) are counted as skipped, as are headers, table borders, ``# HELP``/``# TYPE``
comments, timestamp lines and blank lines.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.ingest.families.base import METRICS_SCHEMA, FileContext, Parsed
from pipeline.ingest.families.common import NonBlankLinesSniff, concat_rejects, reject_frame, share_score
from pipeline.ingest.families.server_common import (
    epoch_to_utc,
    frame_lines,
    start_marker_ts,
    state_start_ts,
    ts_to_state,
)

TSV_RE = r"^(?<name>[A-Za-z_][\w.]*)\t(?<value>[^\t]*?)\s*$"
TABLE_RE = r"^\|\s*(?<name>[A-Za-z_][\w.]*)\s*\|\s*(?<value>[^|]*?)\s*\|\s*$"
PROM_RE = r"^(?<name>[a-zA-Z_:][\w:]*)(?<labels>\{[^}]*\})?[ \t]+(?<value>[^ \t]+)(?:[ \t]+(?<pts>-?\d+))?\s*$"
HEADER_NAMES = ("variable_name",)
SKIP_RE = r"^\s*$|^\+[-+]+\+\s*$|^#\s*(?:HELP|TYPE|EOF)\b|^# EOF"
EXPORTER_PREFIX = r"^mysql_global_(?:status|variables)_"

TSV_PY = re.compile(TSV_RE.replace("(?<", "(?P<"))
TABLE_PY = re.compile(TABLE_RE.replace("(?<", "(?P<"))
PROM_PY = re.compile(PROM_RE.replace("(?<", "(?P<"))


def parse_status(chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
    tz = ctx.timezone or "UTC"
    state = ctx.state
    df = frame_lines(chunk).with_columns(_l=pl.col("line").str.strip_chars_end("\r"))
    df = df.with_columns(
        _skip_syntax=pl.col("_l").str.contains(SKIP_RE),
        _stamp=pl.when(pl.col("_l").str.contains(r"^#\s*(?:HELP|TYPE)\b"))
        .then(None)
        .otherwise(start_marker_ts(pl.col("_l"), tz)),
        _tsv=pl.col("_l").str.extract_groups(TSV_RE),
        _tab=pl.col("_l").str.extract_groups(TABLE_RE),
        _prom=pl.col("_l").str.extract_groups(PROM_RE),
    )
    tsv_ok = pl.col("_tsv").struct.field("name").is_not_null()
    tab_ok = pl.col("_tab").struct.field("name").is_not_null()
    prom_ok = pl.col("_prom").struct.field("name").is_not_null() & ~pl.col("_l").str.starts_with("#")
    stamp_line = pl.col("_stamp").is_not_null()
    df = df.with_columns(
        _raw_name=pl.when(stamp_line)
        .then(None)
        .when(tsv_ok)
        .then(pl.col("_tsv").struct.field("name"))
        .when(tab_ok)
        .then(pl.col("_tab").struct.field("name"))
        .when(prom_ok)
        .then(pl.col("_prom").struct.field("name") + pl.col("_prom").struct.field("labels").fill_null("")),
        _value_text=pl.when(tsv_ok)
        .then(pl.col("_tsv").struct.field("value"))
        .when(tab_ok)
        .then(pl.col("_tab").struct.field("value"))
        .when(prom_ok)
        .then(pl.col("_prom").struct.field("value")),
        _pts=pl.when(prom_ok & ~tsv_ok & ~tab_ok).then(pl.col("_prom").struct.field("pts")),
    )
    name = pl.col("_raw_name").str.to_lowercase().str.replace(EXPORTER_PREFIX, "")
    is_header = name.is_in(HEADER_NAMES) & pl.col("_value_text").str.to_lowercase().is_in(["value"])
    df = df.with_columns(
        name=name,
        _header=is_header.fill_null(False),
        value=pl.col("_value_text").str.strip_chars().cast(pl.Float64, strict=False),
    )
    # snapshot timing: last timestamp line (carried over chunks in state)
    prev = state_start_ts(state, tz, "ts")
    df = df.with_columns(_snap_ts=pl.col("_stamp").forward_fill().fill_null(prev))
    # mysqladmin without timestamp lines: start_time + (Uptime - first Uptime)
    df = df.with_columns(_snap=(pl.col("_header") | stamp_line).cast(pl.Int64).cum_sum())
    uptime = pl.when(pl.col("name") == "uptime").then(pl.col("value")).max().over("_snap")
    uptime0 = state.get("uptime0")
    df = df.with_columns(_uptime=uptime)
    if uptime0 is None:
        first_up = df.filter(pl.col("_uptime").is_not_null())["_uptime"]
        uptime0 = float(first_up[0]) if first_up.len() else None
    start = state_start_ts(state, tz)
    by_uptime = (
        start + pl.duration(microseconds=((pl.col("_uptime") - uptime0) * 1_000_000).cast(pl.Int64))
        if uptime0 is not None
        else pl.lit(None, pl.Datetime("us", "UTC"))
    )
    df = df.with_columns(
        ts=pl.when(pl.col("_pts").is_not_null())
        .then(
            epoch_to_utc(
                pl.col("_pts").str.slice(0, pl.col("_pts").str.len_chars() - 3) + "." + pl.col("_pts").str.slice(-3)
            )
        )
        .otherwise(pl.coalesce(pl.col("_snap_ts"), by_uptime, start))
    )
    is_row = pl.col("_raw_name").is_not_null() & ~pl.col("_header")
    numeric = pl.col("value").is_not_null()
    rows = df.filter(is_row & numeric & pl.col("ts").is_not_null())
    metrics = rows.select("ts", "name", "value", "line_no").cast(METRICS_SCHEMA)
    no_time = reject_frame(
        df.filter(is_row & numeric & pl.col("ts").is_null()),
        "status row before any timestamp line (and no start_time configured)",
    )
    other_mask = ~is_row & ~pl.col("_header") & ~pl.col("_skip_syntax") & ~stamp_line
    other = reject_frame(df.filter(other_mask), "not a status row, header or timestamp line")
    skipped = df.height - metrics.height - no_time.height - other.height
    # carry over
    if df.height:
        last_ts = df["_snap_ts"][-1]
        if last_ts is not None:
            state["ts"] = ts_to_state(last_ts)
        if uptime0 is not None:
            state["uptime0"] = uptime0
    return Parsed(metrics=metrics, rejects=concat_rejects(no_time, other), skipped=skipped)


KNOWN = re.compile(
    r"(?i)^(?:\|\s*)?(?:mysql_global_(?:status|variables)_)?(?:threads_connected|threads_running|"
    r"max_connections|aborted_connects|aborted_clients|wait_timeout|max_used_connections|uptime|"
    r"connections|questions|variable_name)\b"
)


def _prom_sample(line: str) -> bool:
    m = PROM_PY.match(line)
    if not m:
        return False
    try:
        float(m.group("value"))
    except ValueError:
        return False
    return True


class StatusFamily(NonBlankLinesSniff):
    name = "status"

    def score(self, lines: list[str]) -> float:
        known = sum(1 for h in lines if KNOWN.match(h))
        rows = sum(
            1
            for h in lines
            if TSV_PY.match(h)
            or TABLE_PY.match(h)
            or re.match(r"^\+[-+]+\+\s*$", h)
            or (not h.startswith("#") and _prom_sample(h))
            or re.match(r"^#\s*(?:HELP|TYPE) ", h)
        )
        if known == 0 and not any(re.match(r"^#\s*(?:HELP|TYPE) mysql_", h) for h in lines):
            return 0.0
        return share_score(rows / len(lines), confident_from=0.5)

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        return parse_status(chunk, ctx)


FAMILY = StatusFamily()
