"""``pool_exhausted``: the application's pool had no free connection within ``pool_timeout``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, CauseDetails, Evidence, Facts, Score, share
from pipeline.causes._words import n

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails
    from pipeline.engines import Engine


def score(e: Evidence) -> Score | None:
    if not e("n_pool_timeout"):
        return None
    share_pool = share(e("n_pool_timeout"), e.n)
    healthy = not (e("srv_tmc") or e("srv_stop") or e("srv_start") or e("n_1040") or e.lat_bad)
    ratio = e.threads_ratio
    metrics = 0.3 if (ratio is not None and ratio < e.ratio_required - 0.1) else 0.0
    return {"client": 0.5 + 0.5 * share_pool, "server": 0.5 if healthy else 0.0, "metrics": metrics}, share_pool


def gather(con: Engine, s: dict[str, Any], features: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Requests left waiting at once (``waiting_peak``), for incidents with pool timeouts.

    When a QueuePool timeout is raised every connection of the pool is checked
    out (pool_size + max_overflow, both in the error message), so demand is that
    plus the requests that were waiting: the most pool-timeout errors in one log
    file within ``pool_timeout`` (the longest in the messages, 30 s when they do not say) of each other.
    """
    grp_ids = sorted(g for g, f in features.items() if (f.get("n_pool_timeout") or 0) > 0)
    if not grp_ids:
        return {}
    ids = ", ".join(str(int(g)) for g in grp_ids)
    row = con.execute(
        f"""
        SELECT max(TRY_CAST(regexp_extract(coalesce(raw, message), 'timeout (\\d+(?:\\.\\d+)?)', 1) AS DOUBLE))
        FROM c_drops WHERE kind = 'pool_timeout' AND grp IN ({ids})
        """
    ).fetchone()
    timeout_s = (row[0] if row else None) or 30.0
    rows = con.execute(
        f"""
        SELECT grp, max(n) FROM (
            SELECT grp, count(*) OVER (
                PARTITION BY grp, host, file ORDER BY t_ms
                RANGE BETWEEN {math.floor(float(timeout_s) * 1000.0)} PRECEDING AND CURRENT ROW) AS n
            FROM c_drops WHERE kind = 'pool_timeout' AND source = 'app' AND grp IN ({ids})
        ) GROUP BY grp
        """
    ).fetchall()
    return {grp: {"waiting_peak": int(waiting)} for grp, waiting in rows}


@dataclass
class PoolExhaustedDetails(CauseDetails):
    """The pool's size and how far demand went past it."""

    pool_size: int | None = None
    max_overflow: int | None = None
    pool_timeout_s: float | None = None
    waiting_peak: int | None = None  # requests left waiting at once for a connection
    demand_peak: int | None = None  # connections wanted at once: the pool's size plus the waiting

    @classmethod
    def build(cls, facts: Facts) -> PoolExhaustedDetails:
        f = facts.features
        out = cls(
            pool_size=f.get("pool_size"),
            max_overflow=f.get("max_overflow"),
            pool_timeout_s=f.get("pool_timeout_s"),
            waiting_peak=f.get("waiting_peak"),
        )
        if out.waiting_peak and out.pool_size is not None and out.max_overflow is not None:
            out.demand_peak = out.pool_size + out.max_overflow + out.waiting_peak
        return out


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    own = det.of(PoolExhaustedDetails)
    size = "?" if own.pool_size is None else own.pool_size
    over = "?" if own.max_overflow is None else own.max_overflow
    return (
        f"{errs}: the application's connection pool ran out of connections "
        f"(pool_size {size} + max_overflow {over}) while the server was healthy."
    )


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    own = det.of(PoolExhaustedDetails)
    size, over = own.pool_size, own.max_overflow
    cap = (size + over) if size is not None and over is not None else None
    demand = own.demand_peak
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
    if own.pool_timeout_s:
        out.append(f"pool_timeout is {n(own.pool_timeout_s)} s: requests waited that long before failing.")
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
    gather=gather,
    details=PoolExhaustedDetails,
)
