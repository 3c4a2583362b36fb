"""``server_restart``: the server shut down, crashed or restarted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, CauseDetails, Evidence, Facts, Score, share
from pipeline.causes._words import iso, n

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails


def score(e: Evidence) -> Score:
    server = 1.0 if (e("srv_stop") or e("srv_start")) else 0.0
    metrics = 1.0 if e("uptime_resets") else 0.0
    client = 0.6 * share(e("n_refused"), e.n)
    if e("n_told_shutdown"):
        # the server told the client it was shutting down ("terminating connection due to
        # administrator command", 1053 "Server shutdown in progress")
        client = max(client, 0.6 + 0.4 * share(e("n_told_shutdown"), e.n))
    restart_kinds = e("n_refused") + e("n_2013") + e("n_2006") + e("n_pool_drop")
    told = server or metrics or e("n_told_shutdown")
    explained = share(restart_kinds, e.n) if told else share(e("n_refused"), e.n)
    if e.server_only:
        explained = e.server_share("srv_stop", "srv_start")
    return {"server": server, "metrics": metrics, "client": client}, explained


@dataclass
class ServerRestartDetails(CauseDetails):
    """When the server went away, whether it crashed, and for how long."""

    restart_at: str | None = None  # the shutdown line or the first failure, whichever came first
    crashed: bool = False
    downtime_s: float | None = None
    server_came_back: bool | None = None  # a start after the stop (None: no stop seen)

    @classmethod
    def build(cls, facts: Facts) -> ServerRestartDetails:
        f, inc = facts.features, facts.incident
        stop, start = f.get("stop_ms"), f.get("start_ms_srv")
        out = cls(crashed=bool(f.get("srv_crash")))
        if stop is not None or start is not None:
            out.restart_at = iso(min(x for x in (stop, inc["start_ms"]) if x is not None))
        if stop is not None:
            out.server_came_back = start is not None and start >= stop
        if start is not None:
            # down from the shutdown line or the first failure, whichever came first (a crash
            # writes nothing when it happens: its recovery lines come at the next start); with
            # the server's log alone, the first line of the incident may be an earlier start
            firsts = (stop,) if inc.get("server_only") else (stop, inc["start_ms"])
            down_from = min((x for x in firsts if x is not None), default=inc["start_ms"])
            if start > down_from:
                out.downtime_s = round((start - down_from) / 1000.0, 1)
        return out


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    own = det.of(ServerRestartDetails)
    down = own.downtime_s
    d = f", down for about {n(down)} s" if down is not None else ""
    if f.get("n_told_shutdown") and not (f.get("srv_stop") or f.get("srv_start") or f.get("uptime_resets")):
        return (
            f"{errs}: the database server ended these sessions itself, saying it was shutting down "
            "(a shutdown, a failover or an administrator's kill; the server's log would tell which)."
        )
    if own.server_came_back is False:
        how = "crashed" if own.crashed else "shut down"
        return f"{errs}: the database server {how}, and its log shows no start after it."
    how = "crashed and restarted" if own.crashed else "restarted"
    return f"{errs}: the database server {how}{d}."


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    own = det.of(ServerRestartDetails)
    when = own.restart_at
    if own.crashed:
        out.append(
            "The database server crashed"
            + (f" around {when}" if when else "")
            + " (it ran crash recovery when it came back): look for the reason before it (OOM killer in the "
            "kernel log, 'got signal' in the error log, the host's or the container's restarts)."
        )
    else:
        out.append(
            "The database server restarted"
            + (f" around {when}" if when else "")
            + ": find out why in its error log and the host's logs (planned maintenance, OOM kill, deploy)."
        )
    out.append(
        "Set pool_pre_ping=True so connections broken by the restart are replaced at checkout instead of failing a request."
    )
    out.append(
        "Retry connects with backoff while the server is down, and schedule maintenance restarts outside busy hours."
    )
    return out


CAUSE = Cause(
    "server_restart",
    "the server shut down, crashed or restarted",
    "#8c564b",  # brown
    order=5,
    tie_rank=1,
    score=score,
    evidence=(
        "srv:srv_stop",
        "srv:srv_start",
        "uptime_reset",
        "client:cant_connect",
        "client:lost_connection",
        "client:server_gone",
    ),
    summarize=summarize,
    advise=advise,
    # the server log lane shows the stop and start; latency and idle times say nothing
    charts=("timeline",),
    details=ServerRestartDetails,
)
