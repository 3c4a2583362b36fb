"""Traits: what an event's text says beyond its kind, decided once, at ingest.

A kind says what happened (``cant_connect``, ``aborted_connection``); a trait says how
(refused, timed out, reset by the peer) or names a server line's reason.  Each is a bit of
``event_rows.traits``, set as the rows are written (and by migration 0008 for older
stores), so correlation tests bits and never matches message text again.

The phrases are matched case-insensitively anywhere in the text.  Client traits are read
from the whole record (a driver's words may sit in the traceback), server traits from the
message.  Only the rows correlation can read get traits, so ingest pays for them on error
lines and server lines, not on every INFO line.  The table of docs/store.md is made from
``TRAITS`` (``python tests/test_docs.py --write``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pipeline.kinds import CLIENT_DROP_KINDS, SERVER_DROP_KINDS, SERVER_SOURCES

if TYPE_CHECKING:  # polars is imported when rows are staged
    import polars as pl


@dataclass(frozen=True)
class Trait:
    name: str
    meaning: str
    phrases: tuple[str, ...]  # lowercase; any of them sets the trait
    scope: Literal["client", "server"]
    unless_kinds: tuple[str, ...] = ()  # kinds whose words mean something else

    @property
    def bit(self) -> int:
        return 1 << TRAIT_NAMES.index(self.name)


# Append only: a trait's bit is its position, and stores keep the bits.
TRAITS: tuple[Trait, ...] = (
    Trait("refused", "the connection was refused (nothing listened on the port)", ("refused",), "client"),
    Trait(
        "timed_out",
        "the connect or read timed out (a drop on the path, not a refusal)",
        ("timed out", "read timeout", "errno 110"),
        "client",
        # QueuePool's "connection timed out" is the pool's wait, not the network's
        unless_kinds=("pool_timeout",),
    ),
    Trait("reset", "the peer reset the connection", ("reset by peer", "errno 104"), "client"),
    Trait("during_query", "the connection was lost during a query", ("during query",), "client"),
    Trait(
        "told_shutdown",
        "the server told the client it was shutting down (PostgreSQL's fast shutdown, MySQL's 1053)",
        (
            "terminating connection due to administrator command",
            "server shutdown in progress",
            "the database system is shutting down",
        ),
        "client",
    ),
    Trait(
        "server_too_many",
        "a server line about too many connections",
        ("too many connections",),
        "server",
    ),
    Trait(
        "server_access",
        "a server line refusing a login",
        ("access denied", "not allowed to connect", "no pg_hba.conf entry", "password authentication failed"),
        "server",
    ),
    Trait(
        "server_idle_abort",
        "the server closed a client for idling",
        (
            "timeout reading communication packets",
            "idle-session timeout",
            "idle_session_timeout",
            "idle-in-transaction timeout",
        ),
        "server",
    ),
    Trait(
        "server_abort_error",
        "the server aborted a connection on a network error",
        (
            "error reading communication packets",
            "error writing communication packets",
            "timeout writing communication packets",
            "could not receive data from client",
            "connection reset by peer",
        ),
        "server",
    ),
    Trait("server_crash", "a server stop that was a crash or a signal", ("crash", "got signal"), "server"),
)
TRAIT_NAMES: tuple[str, ...] = tuple(t.name for t in TRAITS)
TRAIT_BY_NAME: dict[str, Trait] = {t.name: t for t in TRAITS}

# The kinds whose rows correlation reads with their client traits (drops, and the server
# lines that make incidents of their own).
CLIENT_TRAIT_KINDS: tuple[str, ...] = tuple(dict.fromkeys((*CLIENT_DROP_KINDS, *SERVER_DROP_KINDS)))


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _bits(scope: str, text: str, kind: str) -> str:
    terms = []
    for t in TRAITS:
        if t.scope != scope:
            continue
        said = " OR ".join(f"{text} ILIKE '%{p}%'" for p in t.phrases)
        if t.unless_kinds:
            said = f"({said}) AND {kind} NOT IN ({_quoted(t.unless_kinds)})"
        terms.append(f"CASE WHEN {said} THEN {t.bit} ELSE 0 END")
    return " | ".join(terms)


def traits_sql(*, kind: str = "kind", source: str = "source", raw: str = "raw", message: str = "message") -> str:
    """A SQL expression giving a row's traits from its columns (the names given)."""
    client_text = f"coalesce({raw}, {message}, '')"
    server_text = f"coalesce({message}, '')"
    return f"""(CAST(
        CASE WHEN {kind} IN ({_quoted(CLIENT_TRAIT_KINDS)}) THEN {_bits("client", client_text, kind)} ELSE 0 END
        | CASE WHEN {source} IN ({_quoted(SERVER_SOURCES)}) THEN {_bits("server", server_text, kind)} ELSE 0 END
        AS USMALLINT))"""


def has_trait(name: str, column: str = "traits") -> str:
    """A SQL condition: the row has this trait."""
    return f"(({column} & {TRAIT_BY_NAME[name].bit}) <> 0)"


# -- the same bits from a polars frame, for ingest: it stages them with the rows (DuckDB took as
# long to bind traits_sql in each chunk's INSERT as to insert the chunk)


def ilike_regex(phrase: str) -> str:
    """A regex that finds ``phrase`` (ASCII) wherever DuckDB's ``text ILIKE '%phrase%'``
    does.  DuckDB lowercases text and pattern one code point at a time, so a letter
    matches itself, its capital, and the two non-ASCII letters whose lower case is ASCII
    (U+0130 -> i, U+212A Kelvin sign -> k); ``_`` is any one character and ``%`` any
    run of them, newlines too (with the ``(?s)`` flag).  (A plain case-insensitive regex
    would miss the U+0130 and match more.)"""
    assert phrase.isascii(), phrase  # a non-ASCII letter would need DuckDB's lower case
    also = {"i": "\u0130", "k": "\u212a"}
    parts = []
    for char in phrase.lower():
        if char in "_%":
            parts.append("." if char == "_" else ".*")
        elif char.isalpha():
            parts.append(f"[{char}{char.upper()}{also.get(char, '')}]")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


# each trait as (bit, scope, regex of its phrases, kinds it does not apply to)
_TRAIT_RULES = [
    (t.bit, t.scope, "(?s)" + "|".join(f"(?:{ilike_regex(p)})" for p in t.phrases), list(t.unless_kinds))
    for t in TRAITS
]


def event_traits(events: pl.DataFrame) -> pl.Series:
    """Each event's ``traits``, as :func:`traits_sql` gives them from the same
    columns (a test compares the two).  Only rows of the kinds and sources that can have
    traits are searched; all others get 0."""
    import polars as pl

    candidate, traits = _trait_expressions()
    zeros = pl.zeros(events.height, pl.UInt16, eager=True).alias("traits")
    rows = events.select(candidate.arg_true()).to_series()
    if rows.len() == 0:
        return zeros
    return zeros.scatter(rows, events[rows].select(traits).to_series())


@functools.cache
def _trait_expressions() -> tuple[pl.Expr, pl.Expr]:
    """(whether a row can have traits, its traits), built once: building the expressions
    cost more than evaluating them on a chunk's few candidate rows."""
    import polars as pl

    kind = pl.col("kind")
    applies = {"client": kind.is_in(list(CLIENT_TRAIT_KINDS)), "server": pl.col("source").is_in(list(SERVER_SOURCES))}
    texts = {"client": pl.coalesce("raw", "message", pl.lit("")), "server": pl.coalesce("message", pl.lit(""))}
    bits = [
        pl.when(applies[scope] & texts[scope].str.contains(regex) & (~kind.is_in(unless) if unless else True))
        .then(pl.lit(bit, pl.UInt16))
        .otherwise(pl.lit(0, pl.UInt16))
        for bit, scope, regex, unless in _TRAIT_RULES
    ]
    candidate = (applies["client"] | applies["server"]).fill_null(False)
    return candidate, pl.sum_horizontal(bits).cast(pl.UInt16)


__all__ = ["TRAITS", "TRAIT_NAMES", "Trait", "event_traits", "has_trait", "ilike_regex", "traits_sql"]
