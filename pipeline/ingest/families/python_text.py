"""Python ``logging`` text logs (application and SQLAlchemy pool logs).

A line that matches the file's layout starts an event; every other line (a
traceback, ``[SQL: ...]``, ``During handling of ...``, blank lines) is folded
into the event before it.  The layout is picked once per file from its first
lines and remembered in ``ctx.state`` so an incremental run resumes with it.

Layouts (``TS`` is ``2026-11-24 23:50:01,123``, with ``.``/``,``/no fraction, or ``T``):

==================  ===========================================================
``dash``            ``TS - LEVEL - msg`` and ``TS - name - LEVEL - msg`` (``dash_bare`` and
                    ``dash_named`` when a file keeps to one of them)
``space``           ``TS LEVEL name msg`` (SQLAlchemy's echo format), ``TS LEVEL name: msg``,
                    ``TS PID LEVEL name msg`` (oslo)
``bracket``         ``TS [LEVEL] name: msg``
``flask``           ``[TS] LEVEL in module: msg``
``gunicorn``        ``[TS +0000] [pid] [LEVEL] msg`` (offset per line, may change)
``celery``          ``[TS: LEVEL/MainProcess] msg``
``loguru``          ``TS | LEVEL    | name:func:line - msg``
``colon``           ``TS:thread:LEVEL:name:msg``
``thread``          ``TS LEVEL [thread] [file:line] - msg``
``tornado``         ``[E 261120 13:45:01 mod:12] msg`` (``tornado_full``: with a full date)
==================  ===========================================================

Any other layout is learned from the file's first lines (``layout_inference.py``): where
the time stamp is and how it is written, the level, bracketed and padded fields.  Named
layouts come first where they fit, because they give fields a meaning (the logger name).

Envelopes (docker compose, ``docker logs -t``, Kubernetes, journald...) are removed before
this family sees a line (``pipeline/ingest/envelopes.py``).  When the envelope carries the
time and the payload does not (``ERROR:app:msg`` under ``docker logs -t``), every payload
line that is not a continuation starts an event at the envelope's time.

Time stamps without an offset are in the file's configured zone.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, cast

import polars as pl

from pipeline.ingest.classify import classify
from pipeline.ingest.families import layout_inference
from pipeline.ingest.families.base import FileContext, Parsed
from pipeline.ingest.families.common import (
    fold,
    normalize_level,
    parsed_events,
    pending_from,
    reject_frame,
    split_bad_timestamps,
    to_utc,
)

# ASCII classes (not \\d or \\w): the regex engine runs several times faster without
# Unicode classes, and log headers are ASCII.
D = "[0-9]"
TS = rf"{D}{{4}}-{D}{{2}}-{D}{{2}}[ T]{D}{{2}}:{D}{{2}}:{D}{{2}}(?:[.,]{D}{{1,9}})?"
LEVEL_WORDS = [
    "DEBUG",
    "INFO",
    "WARNING",
    "WARN",
    "WARNI",
    "ERROR",
    "CRITICAL",
    "CRITI",
    "FATAL",
    "NOTICE",
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "critical",
    "fatal",
]
LVL = "(?:" + "|".join(LEVEL_WORDS) + ")"
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
    # For layouts learned from the file: how its stamp is written (layout_inference.STAMPS);
    # None and no ``ts`` group: the time comes from the envelope.
    stamp: str | None = None
    inferred: bool = False
    # (separator, field names) when the header is its fields joined by a literal none
    # of them can contain: a line the header matches is then split on that literal,
    # which costs less than half of the regex's captures.
    split: tuple[str, tuple[str, ...]] | None = None

    @property
    def pattern(self) -> str:
        return rf"^(?P<_h>{self.header})"

    @property
    def has_ts(self) -> bool:
        return "(?P<ts>" in self.header

    @property
    def has_level(self) -> bool:
        return "(?P<level>" in self.header


LAYOUTS: list[Layout] = [
    # logging's most common format, with and without the logger's name.  A file uses one
    # or the other: each pattern has no optional part, which makes the regex engine's
    # captures about twice as fast as with "dash" below (chosen when a file mixes both).
    # Neither a stamp, a name nor a level holds " - ", so these split on it.
    Layout(
        "dash_named",
        rf"(?P<ts>{TS}) - (?P<logger>{NAME}) - (?P<level>{LVL}) - ",
        split=(" - ", ("ts", "logger", "level")),
    ),
    Layout("dash_bare", rf"(?P<ts>{TS}) - (?P<level>{LVL}) - ", split=(" - ", ("ts", "level"))),
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
    # tornado with a full date (a datefmt of its LogFormatter): [E 2019-10-12 10:18:08,123 base:689] msg
    # (JupyterHub and other tornado apps add their name: [E 2016-03-03 14:04:47.056 JupyterHub ioloop:629])
    Layout("tornado_full", rf"\[(?P<level>[DIWEC]) (?P<ts>{TS}) (?P<logger>[^\]]+?)\] "),
]
# logfmt: time=2024-10-17T13:41:50+0000 level=error msg="..." (time and level first, as
# logrus, structlog's LogfmtRenderer and most logfmt writers put them)
LAYOUTS.append(
    Layout(
        "logfmt",
        r'(?:time|ts|timestamp|t)="?(?P<ts>' + dict(layout_inference.STAMPS)["iso"] + r')"? +(?:level|lvl|severity)="?'
        r"(?P<level>" + layout_inference.LEVEL_RX + r')"? +',
        stamp="iso",
    )
)
TORNADO_LEVELS = {"D": "DEBUG", "I": "INFO", "W": "WARNING", "E": "ERROR", "C": "CRITICAL"}
# A header's level is one of LEVEL_WORDS (or a tornado letter, spelled out first), so
# its normal form is a lookup, made once by normalize_level: three times cheaper than
# doing normalize_level's string work on every line.
_WORDS = [*LEVEL_WORDS, *TORNADO_LEVELS.values(), *layout_inference.LEVEL_SPELLINGS]
NORMAL_LEVEL = {
    **dict(zip(_WORDS, pl.select(normalize_level(pl.lit(pl.Series(_WORDS)))).to_series().to_list())),
    **TORNADO_LEVELS,
    "F": "CRITICAL",  # initials (learned layouts' "E/LocalTaskJob")
    "INFORMATION": "INFO",
    "Information": "INFO",
    "information": "INFO",
    "ALERT": "CRITICAL",
    "Alert": "CRITICAL",
    "alert": "CRITICAL",
    "EMERG": "CRITICAL",
    "Emerg": "CRITICAL",
    "emerg": "CRITICAL",
    "EMERGENCY": "CRITICAL",
    "Emergency": "CRITICAL",
    "emergency": "CRITICAL",
    "SEVERE": "ERROR",
    "Severe": "ERROR",
    "severe": "ERROR",
}
LAYOUT_BY_NAME = {layout.name: layout for layout in LAYOUTS}
_COMPILED_BY_NAME = {layout.name: re.compile(layout.pattern) for layout in LAYOUTS}

# Lines that continue an event (tracebacks, SQLAlchemy's [SQL: ...] trailers): they do
# not count against a layout when sniffing, or a file of long tracebacks would look foreign.
_CONTINUATION = re.compile(
    r"^(?:$|\s|Traceback \(most recent call last\)|During handling of the above|The above exception"
    r"|\[SQL: |\[parameters: |\(Background on this error|[\w.]+(?:Error|Exception|Warning)\b)"
)


def _choose_layouts(lines: list[str], *, need_ts: bool = True) -> tuple[list[Layout], float]:
    """The layouts a file's lines use, and how well they fit.

    The candidates are the named layouts and the layouts learned from these lines
    (:mod:`layout_inference`); named ones win ties.  Most files use one layout, but some
    interleave two (gunicorn's own lines between the application's, say): the layout
    matching most lines comes first, then any that match at least two more lines.  Lines
    of a layout left out would be folded into the event before them, hiding their time
    and their error.  The share is the fraction of the lines that could start an event
    which one of the layouts matches.  ``need_ts=False``: the time comes from an envelope,
    and a header needs only a level.
    """
    layouts, share = _choose_cached(tuple(lines), need_ts)
    return list(layouts), share


@functools.lru_cache(maxsize=16)
def _choose_cached(lines: tuple[str, ...], need_ts: bool) -> tuple[tuple[Layout, ...], float]:
    """:func:`_choose_layouts`, remembered: detection asks it of the same head lines up to
    three times (all lines, record lines, with an envelope's time), and parse once more."""
    if not lines:
        return (), 0.0
    if need_ts:  # learning a layout costs more than matching the named ones: only when they fall short
        named = _pick(list(lines), LAYOUTS)
        if named[0] and named[1] >= NAMED_ARE_ENOUGH:
            return tuple(named[0]), named[1]
    chosen, share = _pick(list(lines), [*(LAYOUTS if need_ts else []), *_learned(list(lines), need_ts)])
    return tuple(chosen), share


# The share of a file's first lines the named layouts must explain for learning to be skipped.
NAMED_ARE_ENOUGH = 0.99


def _pick(lines: list[str], candidates: list[Layout]) -> tuple[list[Layout], float]:
    """The greedy choice of :func:`_choose_layouts` among ``candidates``."""
    matched = {lay.name: {i for i, ln in enumerate(lines) if rx.match(ln)} for lay, rx in _compiled(candidates)}
    chosen: list[Layout] = []
    covered: set[int] = set()
    while len(chosen) < 3:
        pool = [lay for lay in candidates if lay not in chosen]
        gains = {lay.name: len(matched[lay.name] - covered) for lay in pool}
        if not gains:
            break
        # a header without a level tells less: it must cover more than twice the lines
        best = max(pool, key=lambda lay: (gains[lay.name] * (1 if lay.has_level else 0.4), -candidates.index(lay)))
        if gains[best.name] < (1 if not chosen else min(2, max(1, len(lines) // 10))):
            break
        chosen.append(best)
        covered |= matched[best.name]
    if not chosen:
        return [], 0.0
    others = sum(1 for i, ln in enumerate(lines) if i not in covered and not _CONTINUATION.match(ln))
    return chosen, len(covered) / (len(covered) + others)


def _learned(lines: list[str], need_ts: bool) -> list[Layout]:
    """Layouts learned from the lines, as :class:`Layout` s named ``learned<i>``."""
    return [
        Layout(f"learned{i}", inferred.header, stamp=inferred.stamp, inferred=True)
        for i, inferred in enumerate(layout_inference.infer(lines, need_ts=need_ts))
    ]


def _compiled(layouts: list[Layout]) -> list[tuple[Layout, re.Pattern[str]]]:
    return [(lay, _COMPILED_BY_NAME.get(lay.name) or re.compile(lay.pattern)) for lay in layouts]


def _best_layout(lines: list[str]) -> tuple[Layout | None, float]:
    """The main layout of these lines (see :func:`_choose_layouts`)."""
    layouts, share = _choose_layouts(lines)
    return (layouts[0] if layouts else None), share


def _score(layouts: list[Layout], share: float) -> float:
    """Half of the lines that could start an event is convincing (the rest may be print()
    output or another program's lines interleaved).  A learned layout scores at most 0.9
    (0.7 without a level): a server family whose strict layout explains the lines wins."""
    if not layouts:
        return 0.0
    score = min(1.0, 0.25 + share) if share >= 0.5 else share / 2
    if not layouts[0].inferred:
        return score
    # a learned header with a level is a log's; one that is only a time stamp could be any
    # program's, so a server family reading most of the lines wins over it
    return min(score, 0.9 if layouts[0].has_level else 0.7)


class PythonTextFamily:
    name = "python_text"

    def sniff(self, head: list[str]) -> float:
        layouts, share = _choose_layouts(head)
        score = _score(layouts, share)
        if layouts and not any(lay.has_level for lay in layouts):
            # a time stamp alone opening one line is thin evidence of a log (a date in prose)
            compiled = [rx for _, rx in _compiled(layouts)]
            if sum(1 for ln in head if any(rx.match(ln) for rx in compiled)) < 2:
                return min(score, 0.4)
        return score

    def sniff_stamped(self, head: list[str]) -> float:
        """The score when an envelope gives every line a time: any text with levels reads
        well, plain text still reads (each line an event at the envelope's time)."""
        timed = self.sniff(head)
        if timed >= 0.5:
            return timed
        layouts, share = _choose_layouts(head, need_ts=False)
        return 0.8 if layouts and share >= 0.3 else 0.6

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        layouts = _layouts_of(chunk, ctx.state)
        if layouts is None:
            return Parsed(
                rejects=reject_frame(chunk, "no line matches a known Python logging layout"),
                pending_from=None,
            )
        frame = _extract(chunk, layouts)
        starts = pl.col("_layout").is_not_null()
        if ctx.state.get("envelope_time"):  # any payload line that is not a continuation
            starts = starts | ~pl.col("line").str.contains(_CONTINUATION.pattern)
            if "_whole" in chunk.columns:
                starts = starts | pl.col("_whole")
        if any(lay.name.startswith("tornado") for lay in layouts):
            frame = frame.with_columns(level=pl.col("level").replace(TORNADO_LEVELS))

        heads, orphans = fold(frame, starts)
        pending = pending_from(heads, ctx.final)
        ts = _all_timestamps(heads, layouts, ctx.state, ctx.timezone)
        if "_env_ts" in heads.columns:  # the envelope's time where the payload has none
            ts = ts.fill_null(heads["_env_ts"])
        level = pl.col("level").replace_strict(NORMAL_LEVEL, default=None, return_dtype=pl.Utf8)
        if "_env_level" in heads.columns:
            level = level.fill_null(pl.col("_env_level"))
        # a line that starts an event without a header (envelope time) is all message
        message = pl.coalesce("msg", "line") if ctx.state.get("envelope_time") else pl.col("msg")
        heads = heads.with_columns(ts=ts, level=level, message=message)
        heads, bad_ts = split_bad_timestamps(heads, ctx.timezone)
        heads = classify(heads, logger_col="logger")
        return parsed_events(
            heads,
            orphans=orphans,
            orphans_reason="continuation line with no event before it",
            bad_ts=bad_ts,
            pending=pending,
        )

    # -- cutting a file's chunks where events start (parsed side by side: see runner) --

    def can_cut(self, ctx: FileContext) -> bool:
        """Whether :meth:`last_event_start` can tell where events start without parsing,
        and a parse of a chunk cut there changes nothing in ``ctx.state`` (so chunks can be
        parsed side by side): the file's layouts and their stamps' formats are known, and
        no envelope gives the times (its starts depend on more than the header)."""
        state = ctx.state
        layouts = _known_layouts(state)
        if not layouts or state.get("envelope_time") or state.get("envelopes"):
            return False
        formats = state.get("ts_formats", {})
        return all(
            lay.name in formats for lay in layouts if lay.has_ts and not (lay.with_offset or lay.stamp or lay.ts_format)
        )

    def last_event_start(self, chunk: pl.DataFrame, ctx: FileContext) -> int | None:
        """The line number of the last line of ``chunk`` that starts an event (one a layout's
        header matches, as :meth:`parse` finds them), or None when none does.  Only the end
        of the chunk is searched, further back until a start is found."""
        layouts = _known_layouts(ctx.state)
        assert layouts, "can_cut() said the layouts are known"
        starts = pl.any_horizontal([pl.col("line").str.contains(layout.pattern) for layout in layouts])
        lines = 256
        while True:
            tail = chunk.tail(lines)
            found = tail.select(starts).to_series()
            if found.any():
                return int(tail["line_no"][int(found.arg_true()[-1])])
            if lines >= chunk.height:
                return None
            lines *= 16

    @staticmethod
    def _timestamps(heads: pl.DataFrame, layout: Layout, state: dict[str, Any], tz: str) -> pl.Series:
        """UTC time stamps of the event heads.

        The exact format is derived once from the file's first stamp, so each line
        is parsed by one strptime; the rare line written with another precision or
        separator goes through a slower normalizing parse.
        """
        text = heads["ts"]
        if heads.height == 0 or not layout.has_ts:
            return pl.Series("ts", [None] * heads.height, pl.Datetime("us", "UTC"))
        if layout.with_offset:
            return (
                text.str.to_datetime("%Y-%m-%d %H:%M:%S %z", strict=False, time_zone="UTC", cache=False)
                .dt.cast_time_unit("us")
                .alias("ts")
            )
        if layout.stamp:
            return pl.select(read_stamps(pl.lit(text), layout.stamp, tz)).to_series().alias("ts")
        formats = state.setdefault("ts_formats", {})
        fmt = (
            layout.ts_format
            or formats.get(layout.name)
            or _stamp_format(cast(str | None, text.drop_nulls().first()) or "")
        )
        formats.setdefault(layout.name, fmt)
        # no cache: a log's stamps are nearly all distinct, and caching them costs 80% more
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us", cache=False)
        if parsed.null_count() > text.null_count():
            slow = (
                text.str.replace(",", ".", literal=True)
                .str.replace("T", " ", literal=True)
                .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us", cache=False)
            )
            parsed = parsed.fill_null(slow) if layout.ts_format is None else parsed
        return pl.select(to_utc(pl.lit(parsed), tz)).to_series().alias("ts")


def _layouts_of(chunk: pl.DataFrame, state: dict[str, Any]) -> list[Layout] | None:
    """The file's layouts: chosen from its first lines at its first chunk and kept in
    ``state`` (learned layouts with their regex), so a later run reads it the same way."""
    known = _known_layouts(state)
    if known is None:
        head = [ln for ln in chunk["line"].head(200).to_list() if ln and ln.strip()]
        layouts, _share = _choose_layouts(head)
        timed_by_envelope = "_env_ts" in chunk.columns and chunk["_env_ts"].is_not_null().any()
        # the envelope's time is used only when the payload has none of its own: where some
        # payload lines carry a stamp, the others continue them (wrapped SQL, tracebacks)
        if timed_by_envelope and not layouts:
            layouts, _ = _choose_layouts(head, need_ts=False)
            state["envelope_time"] = True
            if not layouts:  # no level either: every line that is not a continuation
                layouts = [ENVELOPE_ONLY]
        if not layouts:
            return None
        state["layouts"] = [lay.name for lay in layouts]
        state["learned"] = {lay.name: {"header": lay.header, "stamp": lay.stamp} for lay in layouts if lay.inferred}
        known = _known_layouts(state)
    return known


def _known_layouts(state: dict[str, Any]) -> list[Layout] | None:
    """The layouts ``state`` names, or None when it names none or one this version does not
    know (a learned layout's regex is kept in ``state``)."""
    learned = state.get("learned", {})
    names = state.get("layouts")
    if names is None or any(name not in LAYOUT_BY_NAME and name not in learned for name in names):
        return None
    return [
        LAYOUT_BY_NAME.get(name) or Layout(name, learned[name]["header"], stamp=learned[name]["stamp"], inferred=True)
        for name in names
    ]


# Payloads of an envelope that gives the time, with no header at all: a line's header is
# empty, so every line that is not a continuation starts an event (see PythonTextFamily.parse).
ENVELOPE_ONLY = Layout("envelope_only", r"\b\B", inferred=True)  # a header that never matches


def _extract(frame: pl.DataFrame, layouts: list[Layout]) -> pl.DataFrame:
    """Header fields of every line: ``ts``, ``level``, ``logger``, ``msg`` and ``_layout``
    (index of the first layout whose header the line matches; null for continuations)."""
    if len(layouts) == 1:  # the usual case: no choosing between layouts
        return _extract_one(frame, layouts[0])
    parts = []
    for i, layout in enumerate(layouts):
        fields = pl.col("line").str.extract_groups(layout.pattern)
        parts.append(fields.alias(f"_g{i}"))
    frame = frame.with_columns(parts)

    def field(name: str) -> pl.Expr:
        present = [
            pl.col(f"_g{i}").struct.field(name) for i, layout in enumerate(layouts) if f"(?P<{name}>" in layout.pattern
        ]
        if not present:
            return pl.lit(None, pl.Utf8)
        ordered = [
            pl.when(pl.col(f"_g{i}").struct.field("_h").is_not_null()).then(
                pl.col(f"_g{i}").struct.field(name) if f"(?P<{name}>" in layout.pattern else pl.lit(None, pl.Utf8)
            )
            for i, layout in enumerate(layouts)
        ]
        return pl.coalesce(ordered) if len(ordered) > 1 else ordered[0]

    which = pl.lit(None, pl.Int32)
    for i in reversed(range(len(layouts))):
        which = pl.when(pl.col(f"_g{i}").struct.field("_h").is_not_null()).then(pl.lit(i, pl.Int32)).otherwise(which)
    header = pl.coalesce([pl.col(f"_g{i}").struct.field("_h") for i in range(len(layouts))])
    frame = frame.with_columns(
        ts=field("ts"),
        level=field("level"),
        logger=field("logger"),
        _layout=which,
        _h=header,
    )
    return frame.with_columns(msg=pl.col("line").str.strip_prefix(pl.col("_h"))).drop(
        [f"_g{i}" for i in range(len(layouts))] + ["_h"]
    )


def _extract_one(frame: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """:func:`_extract` for a file with a single layout."""
    if layout.split is not None:
        return _split_one(frame, layout)
    groups = pl.col("_g").struct
    fields = [
        (groups.field(name) if f"(?P<{name}>" in layout.pattern else pl.lit(None, pl.Utf8)).alias(name)
        for name in ("ts", "level", "logger")
    ]
    frame = frame.with_columns(_g=pl.col("line").str.extract_groups(layout.pattern))
    return frame.with_columns(
        *fields,
        _layout=pl.when(groups.field("_h").is_not_null()).then(pl.lit(0, pl.Int32)),
        msg=pl.col("line").str.strip_prefix(groups.field("_h")),
    ).drop("_g")


def _split_one(frame: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """:func:`_extract_one` for a layout with ``split``: one match test without
    captures, and every line split on the separator (splitting all lines and keeping
    the matching ones' fields costs less than choosing the lines to split first)."""
    assert layout.split is not None  # _extract_one hands over only layouts with one
    separator, names = layout.split
    frame = frame.with_columns(
        _head=pl.col("line").str.contains(layout.pattern),
        _g=pl.col("line").str.splitn(separator, len(names) + 1),
    )

    def part(i: int) -> pl.Expr:
        return pl.when(pl.col("_head")).then(pl.col("_g").struct.field(f"field_{i}"))

    fields = [
        (part(names.index(name)) if name in names else pl.lit(None, pl.Utf8)).alias(name)
        for name in ("ts", "level", "logger")
    ]
    return frame.with_columns(
        *fields,
        _layout=pl.when(pl.col("_head")).then(pl.lit(0, pl.Int32)),
        msg=part(len(names)),
    ).drop("_g", "_head")


def _all_timestamps(heads: pl.DataFrame, layouts: list[Layout], state: dict[str, Any], tz: str) -> pl.Series:
    """UTC time stamps of event heads that may come from several layouts."""
    if len(layouts) == 1:
        return PythonTextFamily._timestamps(heads, layouts[0], state, tz)
    out = pl.Series("ts", [None] * heads.height, pl.Datetime("us", "UTC"))
    for i, layout in enumerate(layouts):
        mask = (heads["_layout"] == i).fill_null(False)
        if mask.any():
            part = PythonTextFamily._timestamps(heads.filter(mask), layout, state, tz)
            out = out.scatter(mask.arg_true(), part)
    return out


def read_stamps(text: pl.Expr, stamp: str | None, tz: str) -> pl.Expr:
    """Time stamps as a learned layout found them (``layout_inference.STAMPS``) -> UTC.
    A stamp with a zone or offset is exact; one without is in the file's zone ``tz``."""
    # "2022-03-07, 12:19:30" (Airflow) first; then a decimal comma
    text = text.str.replace(r"(\d), (\d)", "$1 $2").str.replace(",", ".", literal=True)
    if stamp == "epoch":
        seconds = text.cast(pl.Float64, strict=False)
        return (seconds * 1_000_000).round().cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if stamp == "clf":  # 02/May/2023:10:01:02 +0000
        return text.str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False, time_zone="UTC", time_unit="us")
    if stamp == "dmy":
        naive = text.str.to_datetime("%d.%m.%Y %H:%M:%S%.f", strict=False, time_unit="us")
        return to_utc(naive, tz)
    if stamp in ("yymmdd", "ymd2"):
        fmt = "%y%m%d %H:%M:%S%.f" if stamp == "yymmdd" else "%y-%m-%d %H:%M:%S%.f"
        return to_utc(text.str.to_datetime(fmt, strict=False, time_unit="us"), tz)
    # iso and slash: "2023-05-02T10:01:02.123+0000", "2023/05/02 10:01:02", "... UTC"
    text = text.str.replace_all("/", "-", literal=True).str.replace(r"(\d)T(\d)", "$1 $2")
    # UTC and GMT are exact; other zone names are ambiguous (IST: India or Israel?)
    text = (
        text.str.replace(r" ?(?:UTC|GMT)$", "Z")
        .str.replace(r" [A-Z]{2,5}$", "")
        .str.replace(r" ([+-]\d\d:?\d\d|Z)$", "$1")
    )
    zoned = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%#z", strict=False, time_zone="UTC", time_unit="us")
    naive = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
    return pl.when(text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$")).then(zoned).otherwise(to_utc(naive, tz))


def _stamp_format(stamp: str) -> str:
    """strptime format of a stamp like ``2026-11-20 13:45:01,123`` (separator and fraction vary)."""
    sep = "T" if len(stamp) > 10 and stamp[10] == "T" else " "
    base = f"%Y-%m-%d{sep}%H:%M:%S"
    if len(stamp) > 19 and stamp[19] == ",":
        return base + f",%{len(stamp) - 20}f" if len(stamp) - 20 in (3, 6, 9) else base + "%.f"
    return base + "%.f"


FAMILY = PythonTextFamily()
