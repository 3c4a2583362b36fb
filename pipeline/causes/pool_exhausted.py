"""``pool_exhausted``: the application's pool had no free connection within ``pool_timeout``."""

from __future__ import annotations

from typing import Any

from pipeline.causes import Cause, Evidence, Score, share
from pipeline.causes._words import n


def score(e: Evidence) -> Score | None:
    if not e("n_pool_timeout"):
        return None
    share_pool = share(e("n_pool_timeout"), e.n)
    healthy = not (e("srv_tmc") or e("srv_stop") or e("srv_start") or e("n_1040") or e.lat_bad)
    ratio = e.threads_ratio
    metrics = 0.3 if (ratio is not None and ratio < e.ratio_required - 0.1) else 0.0
    return {"client": 0.5 + 0.5 * share_pool, "server": 0.5 if healthy else 0.0, "metrics": metrics}, share_pool


def summarize(inc: dict[str, Any], f: dict[str, Any], det: dict[str, Any], errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    return (
        f"{errs}: the application's connection pool ran out of connections "
        f"(pool_size {det.get('pool_size', '?')} + max_overflow {det.get('max_overflow', '?')}) "
        "while the server was healthy."
    )


def advise(inc: dict[str, Any], f: dict[str, Any], det: dict[str, Any]) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    size, over = det.get("pool_size"), det.get("max_overflow")
    cap = (size + over) if size is not None and over is not None else None
    demand = det.get("demand_peak")
    if demand is not None and cap is not None:
        out.append(
            f"Observed peak demand of about {demand} connections at once (all {cap} in use plus "
            f"{demand - cap} requests waiting) versus pool_size + max_overflow = {size} + {over} = {cap}."
        )
    elif cap is not None:
        out.append(f"Every connection of the pool (pool_size + max_overflow = {size} + {over} = {cap}) was in use.")
    if cap is not None and demand is not None:
        out.append(
            f"Raise pool_size/max_overflow so pool_size + max_overflow >= {demand} (checking the server's "
            "max_connections still covers every process), or reduce concurrency."
        )
    else:
        out.append("Raise pool_size/max_overflow to cover the peak concurrency, or reduce concurrency.")
    out.append(
        "Look for sessions held across slow calls or never closed (use 'with Session() as s:'): "
        "the server was healthy, the connections were simply all checked out."
    )
    if det.get("pool_timeout_s"):
        out.append(f"pool_timeout is {n(det['pool_timeout_s'])} s: requests waited that long before failing.")
    return out


CAUSE = Cause(
    "pool_exhausted",
    "the application's pool had no free connection within pool_timeout",
    "#9467bd",  # purple
    order=4,
    tie_rank=4,
    score=score,
    evidence=("client:pool_timeout",),
    summarize=summarize,
    advise=advise,
    # the pool's own timeouts show in the timeline's SQLAlchemy lane; the server was healthy
    charts=("timeline",),
)
