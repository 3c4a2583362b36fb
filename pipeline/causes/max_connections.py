"""``max_connections``: the server refused connections because max_connections was reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, CauseDetails, Evidence, Facts, Score, share
from pipeline.causes._words import n

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails
    from pipeline.engines import Engine


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


def gather(con: Engine, s: dict[str, Any], features: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Connections the application itself held open, for incidents with refused connections.

    A running count of ``Created new connection`` minus ``Closing connection`` pool
    lines per log file: its peak near the incident, summed over hosts (the busiest
    file of each), says how much of ``max_connections`` the application used.
    """
    grp_ids = sorted(g for g, f in features.items() if f.get("n_1040") or f.get("srv_tmc"))
    if not grp_ids:
        return {}
    ids = ", ".join(str(int(g)) for g in grp_ids)
    rows = con.execute(
        f"""
        WITH ev AS (
            SELECT host, file, epoch_ms(ts) AS t_ms, line_no,
                   CASE WHEN kind = 'conn_open' THEN 1 ELSE -1 END AS d
            FROM events
            WHERE source = 'sqlalchemy' AND conn_ref IS NOT NULL AND kind IN ('conn_open', 'conn_close')
              AND host IN (SELECT DISTINCT host FROM c_drops WHERE grp IN ({ids}))
        ), run AS (
            SELECT host, file, t_ms,
                   sum(d) OVER (PARTITION BY host, file ORDER BY t_ms, line_no ROWS UNBOUNDED PRECEDING) AS n
            FROM ev
        ), per_file AS (
            SELECT i.grp, r.host, r.file, max(r.n) AS n
            FROM run r JOIN c_inc i ON r.t_ms BETWEEN i.lo_ms AND i.hi_ms
            WHERE i.grp IN ({ids}) GROUP BY ALL
        ), per_host AS (
            SELECT grp, host, max(n) AS n FROM per_file GROUP BY ALL
        )
        SELECT grp, sum(n)::INTEGER, count(*) FROM per_host GROUP BY grp
        """
    ).fetchall()
    return {
        grp: {"app_connections_peak": int(peak), "app_hosts_with_pool_lines": int(hosts)} for grp, peak, hosts in rows
    }


@dataclass
class MaxConnectionsDetails(CauseDetails):
    """How many connections one process may open, and how many the application held."""

    pool_size: int | None = None
    max_overflow: int | None = None
    app_connections_peak: int | None = None  # connections the application's pools held at once
    app_hosts_with_pool_lines: int | None = None

    @classmethod
    def build(cls, facts: Facts) -> MaxConnectionsDetails:
        f = facts.features
        return cls(
            pool_size=f.get("pool_size"),
            max_overflow=f.get("max_overflow"),
            app_connections_peak=f.get("app_connections_peak"),
            app_hosts_with_pool_lines=f.get("app_hosts_with_pool_lines"),
        )


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    peak = ""
    if f.get("threads_peak") is not None and f.get("max_connections"):
        peak = f" (threads_connected peaked at {n(f['threads_peak'])} of {n(f['max_connections'])})"
    return f"{errs}: the server refused new connections because max_connections was reached{peak}."


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    own = det.of(MaxConnectionsDetails)
    mx = f.get("max_connections")
    peak = f.get("threads_peak")
    size, over = own.pool_size, own.max_overflow
    per = (size + over) if size is not None and over is not None else None
    if mx:
        line = f"The server allows max_connections={n(mx)}"
        if peak is not None:
            line += f" and threads_connected peaked at {n(peak)}"
        app = own.app_connections_peak
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
            "Make (connections per process = pool_size + max_overflow) x (number of processes on all hosts) "
            "stay below max_connections, with headroom for admin and batch sessions."
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
    gather=gather,
    details=MaxConnectionsDetails,
)
