"""JSON-lines application logs (python-json-logger, structlog, and similar).

One JSON object per line.  Field names vary by library, so each field is the
first of several candidates present:

- time: ``ts``, ``timestamp``, ``time``, ``asctime``, ``@timestamp`` (ISO-8601
  with or without offset, or epoch seconds)
- level: ``level``, ``levelname``, ``severity``, ``log.level``
- message: ``message``, ``msg``, ``event``
- exception: ``exc_info``, ``exception``, ``exc_text``, ``stack_trace``, ``error``
- logger: ``logger``, ``name``, ``logger_name``

``raw`` keeps the JSON line as written; classification reads the decoded
message and exception text.  A line that is not a JSON object, or has no
readable time, is rejected with the reason.
"""

from __future__ import annotations

import json

import polars as pl

from pipeline.ingest.classify import classify
from pipeline.ingest.families.base import FileContext, Parsed
from pipeline.ingest.families.common import (
    as_written,
    concat_rejects,
    event_frame,
    normalize_level,
    reject_frame,
    to_utc,
)

TIME_KEYS = ["ts", "timestamp", "time", "asctime", "@timestamp"]
LEVEL_KEYS = ["level", "levelname", "severity", "log.level"]
MESSAGE_KEYS = ["message", "msg", "event"]
EXC_KEYS = ["exc_info", "exception", "exc_text", "stack_trace", "error"]
LOGGER_KEYS = ["logger", "name", "logger_name"]


def _field(keys: list[str]) -> pl.Expr:
    line = pl.col("line")
    paths = []
    for key in keys:
        path = f'$["{key}"]'
        paths.append(line.str.json_path_match(path))
    return pl.coalesce(paths)


def parse_timestamp(text: pl.Expr, tz: str) -> pl.Expr:
    """ISO-8601 (offset, ``Z`` or none) or epoch seconds/milliseconds -> UTC."""
    t = text.str.strip_chars()
    epoch = t.cast(pl.Float64, strict=False)
    epoch_us = pl.when(epoch > 1e11).then(epoch * 1_000).otherwise(epoch * 1_000_000).cast(pl.Int64)
    iso = t.str.replace("T", " ", literal=True).str.replace(",", ".", literal=True)
    iso = iso.str.replace(r"Z$", "+0000").str.replace(r"([+-]\d\d):(\d\d)$", "${1}${2}")
    has_offset = iso.str.contains(r"[+-]\d{4}$")
    # no cache: stamps are nearly all distinct (see python_text)
    with_offset = iso.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_zone="UTC", cache=False)
    naive = to_utc(iso.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, cache=False), tz)
    return (
        pl.when(epoch.is_not_null())
        .then(pl.from_epoch(epoch_us, time_unit="us").dt.replace_time_zone("UTC"))
        .when(has_offset)
        .then(with_offset.dt.cast_time_unit("us"))
        .otherwise(naive.dt.cast_time_unit("us"))
    )


class JsonLinesFamily:
    name = "json_lines"

    def sniff(self, head: list[str]) -> float:
        if not head:
            return 0.0
        good = 0
        for line in head[:50]:
            text = line.strip()
            if not text.startswith("{"):
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                continue
            if isinstance(obj, dict) and any(k in obj for k in TIME_KEYS) and any(k in obj for k in MESSAGE_KEYS):
                good += 1
        share = good / min(len(head), 50)
        return 0.5 + share / 2 if share >= 0.5 else share / 2

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        frame = chunk.with_columns(pl.col("line").str.strip_chars())
        blank = frame.filter(pl.col("line") == "")
        frame = frame.filter(pl.col("line") != "")
        frame = frame.with_columns(
            _time=_field(TIME_KEYS),
            level=normalize_level(_field(LEVEL_KEYS)),
            message=_field(MESSAGE_KEYS),
            _exc=_field(EXC_KEYS),
            logger=_field(LOGGER_KEYS),
        )
        ts = parse_timestamp(pl.col("_time"), ctx.timezone)
        if "_env_ts" in frame.columns:  # an object without a time of its own: the envelope's
            ts = pl.coalesce(ts, pl.col("_env_ts"))
        frame = frame.with_columns(ts=ts)
        not_object = frame.filter(
            ~pl.col("line").str.starts_with("{") | pl.col("message").is_null() & pl.col("_time").is_null()
        )
        frame = frame.filter(
            pl.col("line").str.starts_with("{") & (pl.col("message").is_not_null() | pl.col("_time").is_not_null())
        )
        bad_time = frame.filter(pl.col("ts").is_null())
        events = frame.filter(pl.col("ts").is_not_null()).with_columns(
            # as written, envelope included; the lines an envelope joined into this object
            raw=pl.col("_orig") if "_orig" in frame.columns else pl.col("line"),
            n_lines=pl.col("_nl") if "_nl" in frame.columns else pl.lit(1, pl.Int64),
            # first line of the message; the text searched for codes adds the exception
            message=pl.col("message").fill_null("").str.split("\n").list.first(),
            _text=pl.col("message").fill_null("") + "\n" + pl.col("_exc").fill_null(""),
        )
        events = classify(events, logger_col="logger", text_col="_text")
        return Parsed(
            events=event_frame(events),
            rejects=concat_rejects(
                reject_frame(as_written(not_object), "not a JSON log object"),
                reject_frame(as_written(bad_time), "JSON object without a readable time field"),
            ),
            skipped=blank.height,
        )


FAMILY = JsonLinesFamily()
