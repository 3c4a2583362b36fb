"""Summaries, the "why" of each evidence line, and advice specific to what was found.

The summary and advice of each cause live with the cause (``pipeline/causes/<name>.py``);
this module turns evidence rows into sentences and hands each incident to its cause.

Advice is written for SQLAlchemy 2.x: ``pool_recycle`` acts at checkout only,
``pool_pre_ping=True`` tests a connection at checkout (it does not protect a query already
running), and there is no ``disconnect`` pool event: a custom liveness check raises
``sqlalchemy.exc.DisconnectionError`` from a ``checkout`` event listener, which makes the pool
discard that connection and retry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.causes import UNKNOWN, Cause, by_name
from pipeline.causes._words import n as _n

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails


def why(row: dict[str, Any], f: dict[str, Any]) -> str:
    cat, v, ref = row["category"], row.get("value"), row.get("ref")
    if cat == "idle_fail":
        text = f"connection checked out after {_n(v)} s idle"
        if ref is not None:
            text += f"; it failed {ref:.1f} s later"
        return text
    if cat == "idle_ok":
        return f"connection checked out after {_n(v)} s idle and worked: the limit is above this"
    if cat == "latency_high":
        return f"round trip {_n(v)} ms against this target's median of {_n(ref)} ms"
    if cat == "latency_lost":
        return "probe lost: no answer from the target"
    if cat == "threads_connected":
        pct = f" ({100 * (v or 0) / ref:.0f}%)" if ref else ""
        return f"threads_connected {_n(v)} of max_connections {_n(ref)}{pct}: the server was at its limit"
    if cat == "uptime_reset":
        return f"server uptime fell from {_n(ref)} s to {_n(v)} s: it restarted"
    if cat == "metric:wait_timeout":
        return f"the server closes connections idle longer than wait_timeout = {_n(v)} s"
    if cat.startswith("srv:"):
        return {
            "srv:srv_stop": "the server shut down (or crashed)",
            "srv:srv_start": "the server was ready for connections again",
            "srv:srv_tmc": "the server refused a connection: Too many connections",
            "srv:srv_access": "the server refused the login",
            "srv:abort_timeout": "the server closed a connection left idle longer than its timeout",
            "srv:abort_error": "the server saw a connection break in the middle (error reading/writing packets)",
        }.get(cat, "server line")
    kind = row.get("kind") or ""
    for trait in ("is_refused", "is_timed_out"):  # what the error text said, when it tells more
        if row.get(trait) and (kind, trait) in _ROW_MEANINGS:
            return _ROW_MEANINGS[kind, trait]
    return _ROW_MEANINGS.get((kind, None), kind or "evidence")


# What a client evidence row of a kind means, more specific with a trait of its text.
_ROW_MEANINGS: dict[tuple[str, str | None], str] = {
    ("too_many_connections", None): "1040: the server refused a new connection, max_connections reached",
    ("pool_timeout", None): "the application's pool had no free connection within pool_timeout",
    ("access_denied", None): "the server refused the login (1045 bad credentials / 1130 host not allowed)",
    ("cant_connect", "is_refused"): "connection refused: nothing was listening on the server port",
    ("cant_connect", "is_timed_out"): "connect timed out: the server did not answer",
    ("cant_connect", None): "the application could not connect to the server",
    ("lost_connection", "is_timed_out"): "connection lost in the middle of a query after a read timeout",
    ("lost_connection", None): "connection lost (2013): the other end closed or reset it",
    ("server_gone", None): "2006: the connection had already been closed by the other end when it was used",
    ("idle_disconnect", None): "the server disconnected the client for inactivity",
    ("pre_ping_fail", None): "the pool's pre-ping found the connection dead at checkout",
    ("invalidate", None): "the pool discarded a dead connection",
}


def _hhmm(t_ms: float) -> str:
    return datetime.fromtimestamp(t_ms / 1000.0, UTC).strftime("%H:%M")


def summarize(cause: str, inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> str:
    """The cause's one-sentence summary of the incident (``pipeline/causes/<cause>.py``)."""
    hosts = ", ".join(inc["hosts"]) or "unknown host"
    n = inc["errors"]
    if inc.get("server_only"):
        seen = f"{n} refused or aborted connection{'s' if n != 1 else ''}" if n else "the server going away"
        errs = f"Server log only (no application log to confirm which requests failed): {seen} on {hosts}"
    else:
        errs = f"{n} connection failure{'s' if n != 1 else ''} on {hosts}"
    if det.episode_incidents:
        errs += f" between {_hhmm(inc['start_ms'])} and {_hhmm(inc['end_ms'])} UTC, one at a time"
    summarize = _cause(cause).summarize or UNKNOWN.summarize
    assert summarize is not None  # unknown has one
    return summarize(inc, f, det, errs)


def advise(cause: str, inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """The cause's advice for the incident (``pipeline/causes/<cause>.py``)."""
    advise = _cause(cause).advise or UNKNOWN.advise
    assert advise is not None  # unknown has one
    return advise(inc, f, det)


def _cause(name: str) -> Cause:
    try:
        return by_name(name)
    except KeyError:
        return UNKNOWN
