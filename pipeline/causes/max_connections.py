"""``max_connections``: the server refused connections because max_connections was reached."""

from __future__ import annotations

from typing import Any

from pipeline.causes import Cause, Evidence, Score, share
from pipeline.causes._words import n


def score(e: Evidence) -> Score:
    share_1040 = share(e("n_1040"), e.n)
    ratio, required = e.threads_ratio, e.ratio_required
    metrics = 0.0
    if ratio is not None:
        metrics = 1.0 if ratio >= required else (0.5 if ratio >= required - 0.1 else 0.0)
    refused = e("n_1040") or e("srv_tmc")
    explained = e.server_share("srv_tmc") if e.server_only else share_1040
    return {
        "client": (0.5 + 0.5 * share_1040) if e("n_1040") else 0.0,
        "server": 1.0 if e("srv_tmc") else 0.0,
        "metrics": metrics if refused else 0.5 * metrics,
    }, explained


def summarize(inc: dict[str, Any], f: dict[str, Any], det: dict[str, Any], errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    peak = ""
    if f.get("threads_peak") is not None and f.get("max_connections"):
        peak = f" (threads_connected peaked at {n(f['threads_peak'])} of {n(f['max_connections'])})"
    return f"{errs}: the server refused new connections because max_connections was reached{peak}."


def advise(inc: dict[str, Any], f: dict[str, Any], det: dict[str, Any]) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    mx = f.get("max_connections")
    peak = f.get("threads_peak")
    size, over = det.get("pool_size"), det.get("max_overflow")
    per = (size + over) if size is not None and over is not None else None
    procs = det.get("processes")
    if mx:
        line = f"The server allows max_connections={n(mx)}"
        if peak is not None:
            line += f" and threads_connected peaked at {n(peak)}"
        app = det.get("app_connections_peak")
        if app is not None:
            line += f"; the application's pools on {', '.join(inc['hosts'])} held at most {app} of them (pool lines)"
            if peak is not None and peak - app > 0:
                line += (
                    f", so about {n(peak - app)} came from other clients (batch jobs, admin sessions, other services)"
                )
        out.append(line + ".")
    if per is not None:
        out.append(
            f"Each process can open pool_size + max_overflow = {size} + {over} = {per} connections; "
            f"processes x {per} (plus batch jobs and admin sessions) must stay below "
            f"{n(mx) if mx else 'max_connections'}"
            + (f": at most {int((mx * 0.9) // per)} such processes" if mx and per else "")
            + "."
        )
    else:
        out.append(
            "Make (connections per process = pool_size + max_overflow) x (number of processes on all hosts"
            f"{', ' + str(procs) + ' seen' if procs else ''}) stay below max_connections, with headroom for admin and batch sessions."
        )
    out.append(
        "Either lower pool_size/max_overflow (or put a connection proxy in front), or raise max_connections on the server."
    )
    return out


CAUSE = Cause(
    "max_connections",
    "the server refused connections: max_connections reached",
    "#d62728",  # red
    order=3,
    tie_rank=2,
    score=score,
    evidence=("client:too_many_connections", "srv:srv_tmc", "threads_connected"),
    summarize=summarize,
    advise=advise,
    # the timeline's connections lane shows threads_connected against max_connections
    charts=("timeline",),
)
