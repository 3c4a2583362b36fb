"""``max_connections``: the server refused connections because max_connections was reached."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score, share


def score(e: Evidence) -> Score:
    share_1040 = share(e("n_1040"), e.n)
    ratio, required = e.threads_ratio, e.ratio_required
    metrics = 0.0
    if ratio is not None:
        metrics = 1.0 if ratio >= required else (0.5 if ratio >= required - 0.1 else 0.0)
    refused = e("n_1040") or e("srv_tmc")
    return {
        "client": (0.5 + 0.5 * share_1040) if e("n_1040") else 0.0,
        "server": 1.0 if e("srv_tmc") else 0.0,
        "metrics": metrics if refused else 0.5 * metrics,
    }, share_1040


CAUSE = Cause(
    "max_connections",
    "the server refused connections: max_connections reached",
    "#d62728",  # red
    order=3,
    tie_rank=2,
    score=score,
)
