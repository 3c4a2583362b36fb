"""Which family a file belongs to, from its first lines (never from its name).

1. The file's envelope (docker, Kubernetes, journald, syslog...) is found and removed from
   the first lines (:mod:`pipeline.ingest.envelopes`), so every family judges its payload.
2. Each family scores the lines.  Text-log families are scored twice, on all lines and
   on the lines that look like records (a time stamp near the line's start): a crash
   dump, a long traceback or a banner must not sink a file whose every record matches.
3. The best score of at least ``MIN_SCORE`` wins; ties go to the family listed first
   (the server families, whose layouts are the stricter ones).  A layout a family learned
   from the file scores below a strict family's own (see ``python_text``).
4. When the envelope gives every line a time, any text payload can be read (``python_text``
   reads each line as an event at the envelope's time).

A file no family reads is reported with the reason and, where one came close, the
``format = "..."`` that would make ingest read it anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.ingest import envelopes, files
from pipeline.ingest.families import all_families, by_name
from pipeline.ingest.families.base import LogFamily

MIN_SCORE = 0.5
# Families whose records begin with a time stamp and may hold untimed blocks between them.
RECORD_FAMILIES = ("python_text", "mysql_error", "mariadb", "postgres")
# A time stamp near the start of a line: ISO or slashed dates, MySQL 5.5's YYMMDD, syslog's
# "Jan  2 03:04:05", common log format, dotted European dates.
STAMP_NEAR_START = re.compile(
    r"^(?!\s).{0,40}?(?:\d{4}[-/]\d\d[-/]\d\d(?:[ T]|, ) ?\d{1,2}:\d\d:\d\d|\b\d{6} +\d{1,2}:\d\d:\d\d"
    r"|\b\d\d-\d\d-\d\d \d\d:\d\d:\d\d|^1\d{9}(?:\.\d+)?[:\s]"
    r"|[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d|\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d|\d\d\.\d\d\.\d{4} \d\d:\d\d)"
)


@dataclass
class Detection:
    """What detection decided for one file."""

    family: LogFamily | None
    reason: str
    envelopes: list[str] = field(default_factory=list)


def record_lines(lines: list[str]) -> list[str]:
    """The lines that look like the start of a record (a time stamp near the start)."""
    return [ln for ln in lines if STAMP_NEAR_START.match(ln)]


def scores(head_lines: list[str], *, envelope_time: bool = False) -> dict[str, float]:
    """Every family's score for these (unwrapped) lines; a family that raises scores 0."""
    records = record_lines(head_lines)
    out = {}
    for family in all_families():
        try:
            score = float(family.sniff(head_lines))
            if records and len(records) < len(head_lines) and family.name in RECORD_FAMILIES:
                score = max(score, float(family.sniff(records)))
            if envelope_time and hasattr(family, "sniff_stamped"):
                score = max(score, float(family.sniff_stamped(head_lines)))
        except Exception:
            score = 0.0
        out[family.name] = score
    return out


def choose(head: bytes, override: str | None = None) -> Detection:
    """The family and envelopes for a file whose first bytes are ``head``."""
    lines = files.head_lines(head) if head and not files.looks_binary(head) else []
    wrapped = envelopes.detect(lines)
    if override:
        try:
            return Detection(by_name(override), "configured", wrapped)
        except KeyError as exc:
            return Detection(None, str(exc.args[0]), wrapped)
    if not head:
        return Detection(None, "empty file")
    if files.looks_binary(head):
        return Detection(None, "binary content (NUL or control bytes), not a text log")
    if not lines:
        return Detection(None, "no text lines")
    payload = envelopes.unwrap_lines(lines, wrapped)
    timed = any(envelopes.BY_NAME[name].ts for name in wrapped)
    ranked = sorted(scores(payload, envelope_time=timed).items(), key=lambda kv: -kv[1])
    order = {f.name: i for i, f in enumerate(all_families())}
    best_score = ranked[0][1]
    if best_score < MIN_SCORE:
        return Detection(None, _why_unknown(payload, ranked), wrapped)
    # ties go to the family listed first
    best = min((name for name, score in ranked if score == best_score), key=order.__getitem__)
    return Detection(by_name(best), f"detected ({best_score:.2f})", wrapped)


# a time of day without a date opening a line: "20:18:31 [Q] INFO ...", "07:00:44 UTC - ..."
TIME_WITHOUT_DATE = re.compile(r"^\[?\d\d:\d\d:\d\d(?:[.,]\d+)?\]?[ |]")


def _why_unknown(lines: list[str], ranked: list[tuple[str, float]]) -> str:
    """One line a user can act on: what is missing, and the format that comes closest."""
    if not record_lines(lines) and sum(1 for ln in lines if TIME_WITHOUT_DATE.match(ln)) >= 1:
        return (
            "the lines carry a time of day but no date, so no event can be placed in time "
            "(log with %(asctime)s or a datefmt with %Y-%m-%d)"
        )
    if not record_lines(lines) and not any(score > 0 for _, score in ranked):
        return (
            "no line carries a time stamp and no family knows the layout: an event needs a time "
            "(log with %(asctime)s, or keep the collector's time: docker logs -t, journalctl -o short-iso)"
        )
    name, score = ranked[0]
    if score == 0:
        return "format not recognized by any log family (time stamps found, but no level or known layout)"
    return (
        f"format not recognized (best guess {name} at {score:.2f}; "
        f'format = "{name}" in pipeline.toml reads it with that family)'
    )


__all__ = ["MIN_SCORE", "Detection", "choose", "record_lines", "scores"]
