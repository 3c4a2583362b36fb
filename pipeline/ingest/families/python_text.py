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

# ASCII classes (not \\d or \\w): the regex engine runs several times faster without
# Unicode classes, and log headers are ASCII.
D = "[0-9]"
TS = rf"{D}{{4}}-{D}{{2}}-{D}{{2}}[ T]{D}{{2}}:{D}{{2}}:{D}{{2}}(?:[.,]{D}{{1,9}})?"
LVL = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|NOTICE|debug|info|warning|warn|error|critical|fatal)"
NAME = r"[A-Za-z0-9_.\-\[\]<>]+"


@dataclass(frozen=True)
class Layout:
    """A line layout.  ``header`` matches the start of a line that begins an event,
    with named groups ``ts`` and optionally ``level`` and ``logger``; the message is
    whatever follows the header (matching only the header is much cheaper than
    matching whole lines)."""

    name: str
    header: str
    with_offset: bool = False
    ts_format: str | None = None  # None: derived from the file's own stamps
    # Every line carries the prefix (docker's own time stamps): a line starts an
    # event only when its payload does not look like a traceback continuation.
    prefix_only: bool = False

    @property
    def pattern(self) -> str:
        return rf"^(?P<_h>{self.header})"


LAYOUTS: list[Layout] = [
    Layout("dash", rf"(?P<ts>{TS}) - (?:(?P<logger>{NAME}) - )?(?P<level>{LVL}) - "),
    Layout("thread", rf"(?P<ts>{TS}) (?P<level>{LVL}) \[(?P<logger>[^\]]+)\] (?:\[[^\]]*\] )?- "),
    Layout("space", rf"(?P<ts>{TS}) (?:{D}+ )?(?P<level>{LVL}) (?P<logger>{NAME}):? "),
    Layout("bracket", rf"(?P<ts>{TS}) \[(?P<level>{LVL})\] (?:(?P<logger>{NAME}):? )?"),
    Layout("flask", rf"\[(?P<ts>{TS})\] (?P<level>{LVL}) in (?P<logger>{NAME}): "),
    Layout("gunicorn", rf"\[(?P<ts>{TS} [+-]{D}{{4}})\] \[{D}+\] \[(?P<level>{LVL})\] ", with_offset=True),
    Layout("celery", rf"\[(?P<ts>{TS}): (?P<level>{LVL})/(?P<logger>[^\]]+)\] "),
    Layout("loguru", rf"(?P<ts>{TS}) \| (?P<level>{LVL})\s*\| (?P<logger>[^\s:]+)\S* - "),
    Layout("colon", rf"(?P<ts>{TS}):{D}+:(?P<level>{LVL}):(?P<logger>[^:]+):"),
    # tornado: [E 191012 10:18:08 base:689] msg  (level letter, yymmdd)
    Layout(
        "tornado",
        rf"\[(?P<level>[DIWEC]) (?P<ts>{D}{{6}} {D}{{2}}:{D}{{2}}:{D}{{2}}) (?P<logger>[^\]\s]+)\] ",
        ts_format="%y%m%d %H:%M:%S",
    ),
    # docker logs --timestamps: 2017-05-30T14:14:14.054758090Z payload
    Layout(
        "docker",
        rf"(?P<ts>{D}{{4}}-{D}{{2}}-{D}{{2}}T{D}{{2}}:{D}{{2}}:{D}{{2}}(?:\.{D}{{1,9}})?)Z ",
        ts_format="%Y-%m-%dT%H:%M:%S%.f",
        prefix_only=True,
    ),
]
TORNADO_LEVELS = {"D": "DEBUG", "I": "INFO", "W": "WARNING", "E": "ERROR", "C": "CRITICAL"}
LAYOUT_BY_NAME = {layout.name: layout for layout in LAYOUTS}
_COMPILED = [(layout, re.compile(layout.pattern)) for layout in LAYOUTS]

# Wrappers some collectors add in front of every line; stripped when most lines have one.
PREFIXES = {
    "compose": r"^[\w.\-]+\s+\|(?: |$)",  # docker compose: "api-1   | "
    "syslog": r"^[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \S+ [^:\s]+: ",  # journald/syslog
}
_PREFIXES = {name: re.compile(rx) for name, rx in PREFIXES.items()}


# Lines that continue an event (tracebacks, SQLAlchemy's [SQL: ...] trailers): they do
# not count against a layout when sniffing, or a file of long tracebacks would look foreign.
_CONTINUATION = re.compile(
    r"^(?:$|\s|Traceback \(most recent call last\)|During handling of the above|The above exception"
    r"|\[SQL: |\[parameters: |\(Background on this error|[\w.]+(?:Error|Exception|Warning)\b)"
)


def _best_layout(lines: list[str]) -> tuple[Layout | None, str | None, float]:
    """The layout most lines match, whether a compose prefix must be stripped, and the share
    of the lines that could start an event which do match it."""
    if not lines:
        return None, False, 0.0
    best: tuple[Layout | None, str | None, float] = (None, None, 0.0)
    prefix = None
    candidates = lines
    for name, rx in _PREFIXES.items():
        if sum(1 for ln in lines if rx.match(ln)) > len(lines) / 2:
            prefix = name
            candidates = [rx.sub("", ln, count=1) for ln in lines]
            break
    for layout, rx in _COMPILED:
        hits = sum(1 for ln in candidates if rx.match(ln))
        others = sum(1 for ln in candidates if not rx.match(ln) and not _CONTINUATION.match(ln))
        share = hits / (hits + others) if hits else 0.0
        if layout.prefix_only:  # a bare time stamp proves little: demand more
            share *= 0.8
        if hits and share > best[2]:
            best = (layout, prefix, share)
    return best


class PythonTextFamily:
    name = "python_text"

    def sniff(self, head: list[str]) -> float:
        layout, _, share = _best_layout(head)
        if layout is None:
            return 0.0
        # half of the lines that could start an event is convincing (the rest may be
        # print() output or another program's lines interleaved)
        return min(1.0, 0.25 + share) if share >= 0.5 else share / 2

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        state = ctx.state
        if "layout" not in state:
            layout, prefix, _ = _best_layout(chunk["line"].head(200).to_list())
            if layout is None:
                return Parsed(
                    rejects=reject_frame(chunk, "no line matches a known Python logging layout"),
                    pending_from=None,
                )
            state["layout"], state["prefix"] = layout.name, prefix
        layout = LAYOUT_BY_NAME[state["layout"]]

        line = pl.col("line")
        if state.get("prefix"):
            line = line.str.replace(PREFIXES[state["prefix"]], "")
        frame = chunk.with_columns(line=line)
        frame = frame.with_columns(_g=pl.col("line").str.extract_groups(layout.pattern)).unnest("_g")
        frame = frame.with_columns(msg=pl.col("line").str.slice(pl.col("_h").str.len_chars())).drop("_h")
        for optional in ("logger", "level"):
            if optional not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.Utf8).alias(optional))
        starts = pl.col("ts").is_not_null()
        if layout.prefix_only:
            starts = starts & ~pl.col("msg").fill_null("").str.contains(_CONTINUATION.pattern)
            frame = frame.with_columns(line=pl.coalesce("msg", "line"))
        if layout.name == "tornado":
            frame = frame.with_columns(level=pl.col("level").replace(TORNADO_LEVELS))

        heads, orphans = fold(frame, starts)
        pending = pending_from(heads, ctx.final)
        heads = heads.with_columns(ts=self._timestamps(heads, layout, state, ctx.timezone))
        heads = heads.with_columns(
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


    @staticmethod
    def _timestamps(heads: pl.DataFrame, layout: Layout, state: dict, tz: str) -> pl.Series:
        """UTC time stamps of the event heads.

        The exact format is derived once from the file's first stamp, so each line
        is parsed by one strptime; the rare line written with another precision or
        separator goes through a slower normalizing parse.
        """
        text = heads["ts"]
        if heads.height == 0:
            return pl.Series("ts", [], pl.Datetime("us", "UTC"))
        if layout.with_offset:
            return text.str.to_datetime(
                "%Y-%m-%d %H:%M:%S %z", strict=False, time_zone="UTC"
            ).dt.cast_time_unit("us").alias("ts")
        fmt = layout.ts_format or state.get("ts_format") or _stamp_format(text[0])
        state.setdefault("ts_format", fmt)
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        if parsed.null_count():
            slow = (
                text.str.replace(",", ".", literal=True)
                .str.replace("T", " ", literal=True)
                .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
            )
            parsed = parsed.fill_null(slow) if layout.ts_format is None else parsed
        zone = "UTC" if layout.name == "docker" else tz
        return pl.select(to_utc(pl.lit(parsed), zone)).to_series().alias("ts")


def _stamp_format(stamp: str) -> str:
    """strptime format of a stamp like ``2026-11-20 13:45:01,123`` (separator and fraction vary)."""
    sep = "T" if len(stamp) > 10 and stamp[10] == "T" else " "
    base = f"%Y-%m-%d{sep}%H:%M:%S"
    if len(stamp) > 19 and stamp[19] == ",":
        return base + f",%{len(stamp) - 20}f" if len(stamp) - 20 in (3, 6, 9) else base + "%.f"
    return base + "%.f"


FAMILY = PythonTextFamily()
