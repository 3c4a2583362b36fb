"""Python ``logging`` text logs (application and SQLAlchemy pool logs).

A line that matches the file's layout starts an event; every other line (a
traceback, ``[SQL: ...]``, ``During handling of ...``, blank lines) is folded
into the event before it.  The layout is picked once per file from its first
lines and remembered in ``ctx.state`` so an incremental run resumes with it.

Layouts (``TS`` is ``2026-11-24 23:50:01,123``, with ``.``/``,``/no fraction, or ``T``):

==================  ===========================================================
``dash``            ``TS - LEVEL - msg`` and ``TS - name - LEVEL - msg``
``space``           ``TS LEVEL name msg`` (SQLAlchemy's echo format), ``TS LEVEL name: msg``,
                    ``TS PID LEVEL name msg`` (oslo)
``bracket``         ``TS [LEVEL] name: msg``
``flask``           ``[TS] LEVEL in module: msg``
``gunicorn``        ``[TS +0000] [pid] [LEVEL] msg`` (offset per line, may change)
``celery``          ``[TS: LEVEL/MainProcess] msg``
``loguru``          ``TS | LEVEL    | name:func:line - msg``
``colon``           ``TS:thread:LEVEL:name:msg``
``thread``          ``TS LEVEL [thread] [file:line] - msg``
==================  ===========================================================

A ``name   | `` prefix (docker compose) is stripped when most lines carry it.
Time stamps without an offset are in the file's configured zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from pipeline.ingest.classify import classify
from pipeline.ingest.families.base import FileContext, Parsed
from pipeline.ingest.families.common import (
    concat_rejects,
    event_frame,
    fold,
    normalize_level,
    pending_from,
    reject_frame,
    split_bad_timestamps,
    to_utc,
)

TS = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?"
LVL = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|NOTICE|debug|info|warning|warn|error|critical|fatal)"
NAME = r"[\w.\-\[\]<>]+"


@dataclass(frozen=True)
class Layout:
    name: str
    pattern: str  # named groups: ts, level, msg; optional: logger
    with_offset: bool = False


LAYOUTS: list[Layout] = [
    Layout("dash", rf"^(?P<ts>{TS}) - (?:(?P<logger>{NAME}) - )?(?P<level>{LVL}) - (?P<msg>.*)$"),
    Layout("space", rf"^(?P<ts>{TS}) (?:\d+ )?(?P<level>{LVL}) (?P<logger>{NAME}):? (?P<msg>.*)$"),
    Layout("bracket", rf"^(?P<ts>{TS}) \[(?P<level>{LVL})\] (?:(?P<logger>{NAME}):? )?(?P<msg>.*)$"),
    Layout("flask", rf"^\[(?P<ts>{TS})\] (?P<level>{LVL}) in (?P<logger>{NAME}): (?P<msg>.*)$"),
    Layout(
        "gunicorn",
        rf"^\[(?P<ts>{TS} [+-]\d{{4}})\] \[\d+\] \[(?P<level>{LVL})\] (?P<msg>.*)$",
        with_offset=True,
    ),
    Layout("celery", rf"^\[(?P<ts>{TS}): (?P<level>{LVL})/(?P<logger>[^\]]+)\] (?P<msg>.*)$"),
    Layout("loguru", rf"^(?P<ts>{TS}) \| (?P<level>{LVL})\s*\| (?P<logger>[^\s:]+)\S* - (?P<msg>.*)$"),
    Layout("colon", rf"^(?P<ts>{TS}):\d+:(?P<level>{LVL}):(?P<logger>[^:]+):(?P<msg>.*)$"),
    Layout("thread", rf"^(?P<ts>{TS}) (?P<level>{LVL}) \[(?P<logger>[^\]]+)\] (?:\[[^\]]*\] )?- (?P<msg>.*)$"),
]
LAYOUT_BY_NAME = {layout.name: layout for layout in LAYOUTS}
_COMPILED = [(layout, re.compile(layout.pattern)) for layout in LAYOUTS]

COMPOSE_PREFIX = r"^[\w.\-]+\s+\| "
_COMPOSE = re.compile(COMPOSE_PREFIX)


def _best_layout(lines: list[str]) -> tuple[Layout | None, bool, float]:
    """The layout most lines match, whether a compose prefix must be stripped, and the share."""
    if not lines:
        return None, False, 0.0
    best: tuple[Layout | None, bool, float] = (None, False, 0.0)
    stripped = [_COMPOSE.sub("", ln, count=1) for ln in lines]
    compose = sum(1 for ln in lines if _COMPOSE.match(ln)) > len(lines) / 2
    candidates = stripped if compose else lines
    for layout, rx in _COMPILED:
        hits = sum(1 for ln in candidates if rx.match(ln))
        share = hits / len(candidates)
        if hits and share > best[2]:
            best = (layout, compose, share)
    return best


class PythonTextFamily:
    name = "python_text"

    def sniff(self, head: list[str]) -> float:
        layout, _, share = _best_layout(head)
        if layout is None:
            return 0.0
        # tracebacks dilute the share; a third of the lines is already convincing
        return min(1.0, 0.5 + share) if share >= 0.2 else share

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        state = ctx.state
        if "layout" not in state:
            layout, compose, _ = _best_layout(chunk["line"].head(200).to_list())
            if layout is None:
                return Parsed(
                    rejects=reject_frame(chunk, "no line matches a known Python logging layout"),
                    pending_from=None,
                )
            state["layout"], state["compose"] = layout.name, compose
        layout = LAYOUT_BY_NAME[state["layout"]]

        line = pl.col("line")
        if state.get("compose"):
            line = line.str.replace(COMPOSE_PREFIX, "")
        frame = chunk.with_columns(line=line)
        frame = frame.with_columns(_g=pl.col("line").str.extract_groups(layout.pattern)).unnest("_g")
        if "logger" not in frame.columns:
            frame = frame.with_columns(logger=pl.lit(None, pl.Utf8))

        heads, orphans = fold(frame, pl.col("ts").is_not_null())
        pending = pending_from(heads, ctx.final)
        if layout.with_offset:
            ts = pl.col("ts").str.to_datetime("%Y-%m-%d %H:%M:%S %z", strict=False, time_zone="UTC")
        else:
            text = pl.col("ts").str.replace(",", ".", literal=True).str.replace("T", " ", literal=True)
            ts = to_utc(text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False), ctx.timezone)
        heads = heads.with_columns(
            ts=ts.dt.cast_time_unit("us"),
            level=normalize_level(pl.col("level")),
            message=pl.col("msg"),
        )
        heads, bad_ts = split_bad_timestamps(heads, ctx.timezone)
        heads = classify(heads, logger_col="logger")
        return Parsed(
            events=event_frame(heads),
            rejects=concat_rejects(
                reject_frame(orphans, "continuation line with no event before it"), bad_ts
            ),
            pending_from=pending,
        )


FAMILY = PythonTextFamily()
