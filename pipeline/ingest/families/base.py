"""The one small interface every log family implements.

A family is a module in this package exposing a ``FAMILY`` object with:

``name``      a short identifier stored in ``files.format`` (``python_text``, ``mariadb`` ...)
``sniff(head)``  a score in 0..1: how sure the family is that these first lines
                 (a list of str, at most ~200) are its format.  Pure, never raises.
``parse(chunk, ctx)``  turn a chunk of lines into a :class:`Parsed`.

``chunk`` is a polars DataFrame with columns ``line_no`` (Int64, 1-based in the
file) and ``line`` (Utf8, no trailing newline).  Parsing must be vectorized:
polars expressions over the whole chunk, never a Python loop per line.

A chunk boundary may fall inside a multi-line event (a traceback).  When
``ctx.final`` is False a family sets ``Parsed.pending_from`` to the line number
where the last, possibly unfinished, event starts; the runner drops every row
from that line on and feeds those lines again at the head of the next chunk.

Stateful formats (a ping file whose start time is in its header, a status dump
whose timestamp line precedes its rows) keep what they need in ``ctx.state``
(a JSON-able dict); the runner saves it in ``files.state`` so an incremental
run resumes with it.

Every input line must end up in exactly one place: an event (first line or a
folded continuation), a latency or metrics row, or a reject.  Lines a family
deliberately ignores (blank separators, table borders) are counted in
``Parsed.skipped`` so the accounting "lines read = folded + rejected + skipped"
holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import polars as pl

# Column layouts of the frames a family returns.  ``ts`` is UTC.
EVENT_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("us", "UTC"),
        "source": pl.Utf8(),
        "line_no": pl.Int64(),
        "level": pl.Utf8(),
        "kind": pl.Utf8(),
        "error_code": pl.Int32(),
        "conn_ref": pl.Utf8(),
        "message": pl.Utf8(),
        "raw": pl.Utf8(),
        "n_lines": pl.Int64(),  # how many input lines the event folds (1 + continuations)
    }
)
LATENCY_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("us", "UTC"),
        "target": pl.Utf8(),
        "rtt_ms": pl.Float64(),
        "lost": pl.Boolean(),
        "line_no": pl.Int64(),
    }
)
METRICS_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("us", "UTC"),
        "name": pl.Utf8(),
        "value": pl.Float64(),
        "line_no": pl.Int64(),
    }
)
REJECT_SCHEMA = pl.Schema(
    {
        "line_no": pl.Int64(),
        "reason": pl.Utf8(),
        "raw": pl.Utf8(),
    }
)


def empty(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


@dataclass
class FileContext:
    """What a family knows about the file it parses."""

    path: str
    host: str | None
    timezone: str = "UTC"  # zone for timestamps that carry none
    final: bool = True  # True when this chunk ends the file
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Parsed:
    events: pl.DataFrame = field(default_factory=lambda: empty(EVENT_SCHEMA))
    latency: pl.DataFrame = field(default_factory=lambda: empty(LATENCY_SCHEMA))
    metrics: pl.DataFrame = field(default_factory=lambda: empty(METRICS_SCHEMA))
    rejects: pl.DataFrame = field(default_factory=lambda: empty(REJECT_SCHEMA))
    pending_from: int | None = None
    skipped: int = 0  # lines deliberately ignored (blank separators, headers)
    warnings: list[str] = field(default_factory=list)


class LogFamily(Protocol):
    name: str

    def sniff(self, head: list[str]) -> float: ...

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed: ...


@runtime_checkable
class CutsAtEventStarts(Protocol):
    """A family that can say where a chunk's events start without parsing it, so that a
    file's chunks cut there parse side by side (see pipeline.ingest.runner)."""

    def can_cut(self, ctx: FileContext) -> bool:
        """Whether :meth:`last_event_start` can tell now, and parses of chunks cut there
        leave ``ctx.state`` as it is."""
        ...

    def last_event_start(self, chunk: pl.DataFrame, ctx: FileContext) -> int | None:
        """The line number of the chunk's last line that starts an event (None: none does)."""
        ...
