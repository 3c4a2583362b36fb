"""Helpers shared by the server and network families (MySQL/MariaDB, PostgreSQL,
ping, latency tables, status snapshots).

Everything here builds polars expressions over a whole chunk; nothing loops per line.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

import polars as pl

from pipeline.ingest.families.base import Parsed
from pipeline.ingest.families.common import fold, parsed_events, pending_from, split_bad_timestamps, to_utc


def without_captures(pattern: str) -> str:
    """A regex with its named groups turned into plain groups (faster for replace/contains)."""
    return re.sub(r"\(\?<\w+>", "(?:", pattern)


def offset_minutes(off: pl.Expr) -> pl.Expr:
    """``Z``, ``+08:00``, ``+0800``, ``-07`` -> signed minutes east of UTC (null when absent)."""
    sign = pl.when(off.str.starts_with("-")).then(-1).otherwise(1)
    digits = off.str.replace_all(r"[^0-9]", "")
    hours = digits.str.slice(0, 2).cast(pl.Int32, strict=False)
    minutes = digits.str.slice(2, 2).cast(pl.Int32, strict=False).fill_null(0)
    value = sign * (hours * 60 + minutes)
    return pl.when(off == "Z").then(pl.lit(0, pl.Int32)).otherwise(value.cast(pl.Int32))


def combine_ts(date: pl.Expr, hms: pl.Expr, frac: pl.Expr, off_min: pl.Expr, tz: str) -> pl.Expr:
    """Build a UTC timestamp from ``YYYY-MM-DD``, ``H:MM:SS`` (hour may be space padded),
    ``.ffffff`` (may be null) and an offset in minutes (null -> wall clock in ``tz``)."""
    text = date + " " + hms.str.strip_chars().str.zfill(8) + frac.fill_null("")
    naive = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False, cache=False)
    exact = naive.dt.replace_time_zone("UTC") - pl.duration(minutes=off_min.fill_null(0))
    return pl.when(off_min.is_not_null()).then(exact).otherwise(to_utc(naive, tz))


def epoch_to_utc(text: pl.Expr) -> pl.Expr:
    """``1595037214.261953`` (seconds, optional fraction) -> exact UTC microseconds."""
    whole = text.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False)
    frac = text.str.extract(r"^\d+\.(\d{1,6})", 1).fill_null("").str.pad_end(6, "0").cast(pl.Int64, strict=False)
    return (whole * 1_000_000 + frac).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


ISO_RE = (
    r"^\s*(?<date>\d{4}-\d\d-\d\d)[T ] ?(?<hms>\d{1,2}:\d\d:\d\d)(?<frac>[.,]\d{1,9})?"
    r"\s*(?<off>Z|[+-]\d\d(?::?\d\d)?)?\s*$"
)


def iso_or_epoch_to_utc(text: pl.Expr, tz: str) -> pl.Expr:
    """An ISO-8601 stamp (zone optional -> ``tz``) or epoch seconds -> UTC; null if neither."""
    g = text.str.extract_groups(ISO_RE)
    frac = g.struct.field("frac").str.replace(",", ".").str.slice(0, 7)
    iso = combine_ts(g.struct.field("date"), g.struct.field("hms"), frac, offset_minutes(g.struct.field("off")), tz)
    is_epoch = text.str.contains(r"^\s*\d{9,11}(?:\.\d+)?\s*$")
    return pl.when(is_epoch).then(epoch_to_utc(text.str.strip_chars())).otherwise(iso)


# `date` default output, e.g. "Wed Jan 31 04:58:12 UTC 2024"
DATE_CMD_RE = (
    r"^(?:[A-Z][a-z]{2} )(?<mon>[A-Z][a-z]{2}) +(?<day>\d{1,2}) (?<hms>\d\d:\d\d:\d\d)"
    r"(?: (?<zone>[A-Z]{2,5}))? (?<year>\d{4})\s*$"
)

MONTHS = {
    m: f"{i:02d}"
    for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)
}

# Zone abbreviations as PostgreSQL's default ``timezone_abbreviations`` set reads them.
ZONE_ABBREV_MINUTES: dict[str, int] = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "UCT": 0,
    "WET": 0,
    "WEST": 60,
    "BST": 60,
    "CET": 60,
    "CEST": 120,
    "MET": 60,
    "MEST": 120,
    "EET": 120,
    "EEST": 180,
    "MSK": 180,
    "IST": 120,  # PostgreSQL's default table: Israel
    "EST": -300,
    "EDT": -240,
    "CST": -360,
    "CDT": -300,
    "MST": -420,
    "MDT": -360,
    "PST": -480,
    "PDT": -420,
    "AKST": -540,
    "AKDT": -480,
    "HST": -600,
    "AST": -240,
    "ADT": -180,
    "NST": -210,
    "NDT": -150,
    "JST": 540,
    "KST": 540,
    "HKT": 480,
    "SGT": 480,
    "AWST": 480,
    "ACST": 570,
    "ACDT": 630,
    "AEST": 600,
    "AEDT": 660,
    "NZST": 720,
    "NZDT": 780,
}


def zone_abbrev_minutes(zone: pl.Expr) -> pl.Expr:
    """A zone abbreviation -> minutes east of UTC; null for unknown ones."""
    return zone.replace_strict(ZONE_ABBREV_MINUTES, default=None, return_dtype=pl.Int32)


def date_cmd_to_utc(text: pl.Expr, tz: str) -> pl.Expr:
    """``Wed Jan 31 04:58:12 UTC 2024`` -> UTC (known zone abbreviations, else ``tz``)."""
    g = text.str.extract_groups(DATE_CMD_RE)
    date = (
        g.struct.field("year")
        + "-"
        + g.struct.field("mon").replace_strict(MONTHS, default=None, return_dtype=pl.Utf8)
        + "-"
        + g.struct.field("day").str.zfill(2)
    )
    return combine_ts(
        date, g.struct.field("hms"), pl.lit(None, pl.Utf8), zone_abbrev_minutes(g.struct.field("zone")), tz
    )


def start_marker_ts(line: pl.Expr, tz: str) -> pl.Expr:
    """A line that only states a time (``2026-11-24T23:50:00Z``, ``# 2026-...``,
    ``start: ...``, or ``date`` output) -> that time in UTC; null for any other line."""
    body = line.str.replace(r"^\s*(?:#+|[Ss]tart(?:ed)?(?: time)?:|[Tt]imestamp:|[Dd]ate:)\s*", "")
    return pl.coalesce(iso_or_epoch_to_utc(body, tz), date_cmd_to_utc(body, tz))


def state_start_ts(state: dict[str, Any], tz: str, key: str = "start_time") -> pl.Expr:
    """A start time configured in ``ctx.state`` (ISO text) as a UTC literal expression."""
    value = state.get(key)
    if value is None:
        return pl.lit(None, pl.Datetime("us", "UTC"))
    return iso_or_epoch_to_utc(pl.lit(str(value)), tz)


def ts_to_state(value: datetime | None) -> str | None:
    """A UTC datetime (or None) as ISO text for ``ctx.state``."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def classify(message: pl.Expr, rules: list[tuple[str, str]], default: str | None = "other") -> pl.Expr:
    """First matching ``(regex, kind)`` rule wins."""
    expr = pl.lit(default, pl.Utf8)
    for pattern, kind in reversed(rules):
        expr = pl.when(message.str.contains(pattern)).then(pl.lit(kind)).otherwise(expr)
    return expr


def frame_lines(chunk: pl.DataFrame) -> pl.DataFrame:
    """The chunk with ``line`` never null (blank lines may come back as null)."""
    return chunk.with_columns(pl.col("line").cast(pl.Utf8).fill_null(""), pl.col("line_no").cast(pl.Int64))


class Records(NamedTuple):
    """A chunk of a server log folded into records (see :func:`fold_records`)."""

    heads: pl.DataFrame  # one row a record whose time could be read: its first line's columns, raw, n_lines, ts
    orphans: pl.DataFrame  # the lines before the first record
    bad_ts: pl.DataFrame  # the lines of the records whose time could not be read, as rejects
    pending: int | None  # where the last record starts, when the next chunk may add lines to it

    def parsed(self, events: pl.DataFrame, orphans_reason: str) -> Parsed:
        """What the family returns: ``events`` (made from :attr:`heads`) and the rejects."""
        return parsed_events(
            events, orphans=self.orphans, orphans_reason=orphans_reason, bad_ts=self.bad_ts, pending=self.pending
        )


def fold_records(
    lines: pl.DataFrame, starts: pl.Expr, offset: pl.Expr, *, final: bool, tz: str, fallback: pl.Expr | None = None
) -> Records:
    """Fold each continuation line into the record before it (``starts`` marks the lines that
    begin one) and give each record its time: its first line's ``_date``, ``_hms`` and ``_frac``
    columns at ``offset`` (minutes east of UTC; null: the wall clock in ``tz``), else ``fallback``
    (e.g. the time of the envelope the line came in)."""
    heads, orphans = fold(lines, starts)
    ts = combine_ts(pl.col("_date"), pl.col("_hms"), pl.col("_frac"), offset, tz)
    heads = heads.with_columns(ts=ts if fallback is None else pl.coalesce(ts, fallback))
    # before the records with an unreadable time go: the last one may still be waiting for lines
    pending = pending_from(heads, final)
    heads, bad_ts = split_bad_timestamps(heads, tz)
    return Records(heads, orphans, bad_ts, pending)
