"""``pool_exhausted``: the application's pool had no free connection within ``pool_timeout``."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score, share


def score(e: Evidence) -> Score | None:
    if not e("n_pool_timeout"):
        return None
    share_pool = share(e("n_pool_timeout"), e.n)
    healthy = not (e("srv_tmc") or e("srv_stop") or e("srv_start") or e("n_1040") or e.lat_bad)
    ratio = e.threads_ratio
    metrics = 0.3 if (ratio is not None and ratio < e.ratio_required - 0.1) else 0.0
    return {"client": 0.5 + 0.5 * share_pool, "server": 0.5 if healthy else 0.0, "metrics": metrics}, share_pool


CAUSE = Cause(
    "pool_exhausted",
    "the application's pool had no free connection within pool_timeout",
    "#9467bd",  # purple
    order=4,
    tie_rank=4,
    score=score,
)
