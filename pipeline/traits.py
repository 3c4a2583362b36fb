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

from dataclasses import dataclass
from typing import Literal

from pipeline.kinds import CLIENT_DROP_KINDS, SERVER_DROP_KINDS, SERVER_SOURCES


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


__all__ = ["TRAITS", "TRAIT_NAMES", "Trait", "has_trait", "traits_sql"]
