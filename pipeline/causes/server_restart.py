"""``server_restart``: the server shut down, crashed or restarted."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score, share


def score(e: Evidence) -> Score:
    server = 1.0 if (e("srv_stop") or e("srv_start")) else 0.0
    metrics = 1.0 if e("uptime_resets") else 0.0
    client = 0.6 * share(e("n_refused"), e.n)
    restart_kinds = e("n_refused") + e("n_2013") + e("n_2006") + e("n_pool_drop")
    explained = share(restart_kinds, e.n) if (server or metrics) else share(e("n_refused"), e.n)
    return {"server": server, "metrics": metrics, "client": client}, explained


CAUSE = Cause(
    "server_restart",
    "the server shut down, crashed or restarted",
    "#8c564b",  # brown
    order=5,
    tie_rank=1,
    score=score,
)
