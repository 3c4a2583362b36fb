"""``server_restart``: the server shut down, crashed or restarted."""

from __future__ import annotations

from typing import Any

from pipeline.causes import Cause, Evidence, Score, share
from pipeline.causes._words import n


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


def summarize(inc: dict[str, Any], f: dict[str, Any], det: dict[str, Any], errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    down = det.get("downtime_s")
    d = f", down for about {n(down)} s" if down is not None else ""
    if f.get("n_told_shutdown") and not (f.get("srv_stop") or f.get("srv_start") or f.get("uptime_resets")):
        return (
            f"{errs}: the database server ended these sessions itself, saying it was shutting down "
            "(a shutdown, a failover or an administrator's kill; the server's log would tell which)."
        )
    if det.get("server_came_back") is False:
        how = "crashed" if det.get("crashed") else "shut down"
        return f"{errs}: the database server {how}, and its log shows no start after it."
    how = "crashed and restarted" if det.get("crashed") else "restarted"
    return f"{errs}: the database server {how}{d}."


def advise(inc: dict[str, Any], f: dict[str, Any], det: dict[str, Any]) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    when = det.get("restart_at")
    if det.get("crashed"):
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
)
