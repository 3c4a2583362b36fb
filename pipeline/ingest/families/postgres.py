"""PostgreSQL server log: stderr/file output with the default ``log_line_prefix``
(``%m [%p] ``) and the common variants (``%t [%p]: [%l-1] user=%u,db=%d``,
``%m [%p-%l] %q%u@%d ``, ``user=,db=,app=,client=`` ...), ``log_error_verbosity=verbose``
(SQLSTATE after the level), and csvlog (quoted fields may hold newlines).

The prefix is matched loosely: a timestamp, an optional zone (abbreviation or
numeric offset), ``[pid]`` or ``[pid-line]``, then anything up to the severity word
followed by ``:`` and two spaces.  DETAIL/HINT/CONTEXT/STATEMENT/QUERY/LOCATION lines
belong to the message before them and are folded into it, as are untimestamped
continuation lines.  Zone abbreviations are read with PostgreSQL's default table
(EST = -05:00, CST = -06:00 ...); unknown ones fall back to the configured zone.
conn_ref is the backend pid.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.ingest.families.base import FileContext, Parsed
from pipeline.ingest.families.common import (
    concat_rejects,
    event_frame,
    fold,
    normalize_level,
    pending_from,
    reject_frame,
)
from pipeline.ingest.families.server_common import (
    classify,
    combine_ts,
    frame_lines,
    offset_minutes,
    split_bad_timestamps_per_line,
    strip_wrappers,
    without_captures,
    zone_abbrev_minutes,
)

SEVERITIES = r"DEBUG[1-5]?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION"
SECONDARY = ("DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION")

TS_PART = (
    r"^(?<date>\d{4}-\d\d-\d\d) (?<hms>\d\d:\d\d:\d\d)(?<frac>\.\d{1,6})?"
    r"(?: ?(?<off>[+-]\d\d(?::?\d\d)?)| (?<zone>[A-Z]{2,5}))?"
)
TEXT_RE = (
    TS_PART
    + r"\s+\[(?<pid>\d+)(?:-\d+)?\]:?\s+(?<mid>.*?)(?<level>" + SEVERITIES + r"):  "
    r"(?:(?<state>[0-9A-Z]{5}): )?"
)
# TEXT_RE matches the prefix only (capturing the message too is ~3x slower); the
# message is the line with the prefix removed by this capture-free copy.
TEXT_PREFIX_NOCAP = without_captures(TEXT_RE)
_Q = r'(?:"(?:[^"]|"")*"|[^,]*)'
CSV_RE = (
    TS_PART
    + r"," + _Q + r"," + _Q + r",(?<pid>\d+)," + _Q + r",[^,]*,\d*," + _Q + r",[^,]*,[^,]*,[^,]*,"
    r"(?<level>[A-Z0-9]+),(?<state>[0-9A-Z]{5}),\"?(?<msg>(?:[^\"]|\"\")*)"
)
CSV_START = TS_PART + r"," + _Q + r"," + _Q + r",\d+,"

TEXT_PY = re.compile(TEXT_RE.replace("(?<", "(?P<"))
CSV_PY = re.compile(CSV_RE.replace("(?<", "(?P<"))

KIND_RULES: list[tuple[str, str]] = [
    (r"(?i)terminating connection due to idle[- ]session timeout|"
     r"terminating connection due to idle-in-transaction timeout", "idle_disconnect"),
    (r"(?i)sorry, too many clients already|remaining connection slots are reserved|"
     r"too many connections for (?:role|database)", "too_many_connections"),
    (r"(?i)password authentication failed|authentication failed for user|"
     r"no pg_hba\.conf entry|role \"[^\"]*\" does not exist", "access_denied"),
    (r"(?i)could not receive data from client|could not send data to client|"
     r"connection to client lost|unexpected EOF on client connection|Connection reset by peer",
     "connection_reset"),
    (r"(?i)database system is ready to accept (?:read[- ]only )?connections", "server_start"),
    (r"(?i)database system is shut down$|received (?:smart|fast|immediate) shutdown request|"
     r"terminated by signal|was terminated by signal|database system was interrupted|"
     r"database system was not properly shut down|"
     r"terminating any other active server processes|server process .* was terminated",
     "server_stop"),
]


def parse_postgres(chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
    tz = ctx.timezone or "UTC"
    df = frame_lines(chunk).with_columns(_p=strip_wrappers(pl.col("line")))
    df = df.with_columns(_t=pl.col("_p").str.extract_groups(TEXT_RE))
    is_csv = pl.col("_t").struct.field("date").is_null() & pl.col("_p").str.contains(CSV_START)
    df = df.with_columns(
        _c=pl.when(is_csv).then(pl.col("_p")).otherwise(None).str.extract_groups(CSV_RE),
    )
    text_ok = pl.col("_t").struct.field("date").is_not_null()
    csv_ok = pl.col("_c").struct.field("date").is_not_null()

    def f(name: str) -> pl.Expr:
        return pl.when(text_ok).then(pl.col("_t").struct.field(name)).otherwise(pl.col("_c").struct.field(name))

    df = df.with_columns(
        _date=f("date"), _hms=f("hms"), _frac=f("frac"), _off=f("off"), _zone=f("zone"),
        _pid=f("pid"), _level=f("level"), _state=f("state"),
        message=pl.when(csv_ok & ~text_ok)
        .then(pl.col("_c").struct.field("msg").str.replace(r"\"?,*$", "").str.replace_all('""', '"'))
        .when(text_ok)
        .then(pl.col("_p").str.replace(TEXT_PREFIX_NOCAP, "")),
    )
    primary = (text_ok & ~pl.col("_level").is_in(SECONDARY)) | (csv_ok & ~text_ok)
    # a DETAIL/STATEMENT line with no message before it in the file starts its own event
    leading = text_ok & (primary.cast(pl.Int64).cum_sum() == 0)
    starts = primary | leading
    heads, orphans = fold(df, starts)
    off = pl.coalesce(offset_minutes(pl.col("_off")), zone_abbrev_minutes(pl.col("_zone")))
    heads = heads.with_columns(ts=combine_ts(pl.col("_date"), pl.col("_hms"), pl.col("_frac"), off, tz))
    pend = pending_from(heads, ctx.final)
    heads, bad_ts = split_bad_timestamps_per_line(heads, tz)
    level = pl.col("_level")
    events = heads.with_columns(
        source=pl.lit("postgres"),
        level=normalize_level(
            pl.when(level == "LOG").then(pl.lit("INFO"))
            .when(level == "NOTICE").then(pl.lit("INFO"))
            .when(level == "PANIC").then(pl.lit("CRITICAL"))
            .when(level.str.starts_with("DEBUG")).then(pl.lit("DEBUG"))
            .when(level.is_in(SECONDARY)).then(pl.lit("INFO"))
            .otherwise(level)
        ),
        kind=classify(pl.col("message"), KIND_RULES),
        conn_ref=pl.col("_pid"),
        error_code=pl.lit(None, pl.Int32),
    )
    rejects = concat_rejects(reject_frame(orphans, "no PostgreSQL log prefix before this line"), bad_ts)
    return Parsed(events=event_frame(events), rejects=rejects, pending_from=pend)


class PostgresFamily:
    name = "postgres"

    def sniff(self, head: list[str]) -> float:
        try:
            nonblank = 0
            hits = 0
            for line in head:
                if not line.strip():
                    continue
                nonblank += 1
                if TEXT_PY.match(line) or CSV_PY.match(line):
                    hits += 1
            if nonblank == 0 or hits == 0:
                return 0.0
            ratio = hits / nonblank
            return min(1.0, 0.5 + ratio / 2) if ratio >= 0.2 else ratio * 2
        except Exception:  # pragma: no cover - sniff must never raise
            return 0.0

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        return parse_postgres(chunk, ctx)


FAMILY = PostgresFamily()
