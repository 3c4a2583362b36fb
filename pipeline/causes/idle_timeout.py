"""``idle_timeout``: a connection sat idle longer than the server's ``wait_timeout`` or a
middlebox's idle limit, and its next use failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, CauseDetails, Evidence, Facts, Score, share
from pipeline.causes._words import hhmmss, n, recycle_for

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails
    from pipeline.engines import Engine


def gather(con: Engine, s: dict[str, Any], features: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Stale on checkout, fine when new (``n_stale_reconnect``): a failed checkout (ping or
    invalidation) followed at once by a new connection in the same file, which then worked
    (was checked out)."""
    rows = con.execute(
        """
        WITH opened AS (
            SELECT e.file_id, epoch_ms(e.ts) AS t_ms, e.kind
            FROM event_rows e
            WHERE e.source = 'sqlalchemy' AND e.kind IN ('conn_open', 'checkout')
        ), f AS (
            SELECT d.grp, d.rid, d.t_ms, r.file_id
            FROM c_drops d JOIN event_rows r ON r.rowid = d.rid
            WHERE d.kind IN ('pre_ping_fail', 'invalidate')
        )
        SELECT f.grp, count(DISTINCT f.rid) AS n_stale_reconnect
        FROM f
        JOIN opened o ON o.file_id = f.file_id AND o.kind = 'conn_open' AND o.t_ms BETWEEN f.t_ms AND f.t_ms + 2000
        JOIN opened c ON c.file_id = f.file_id AND c.kind = 'checkout' AND c.t_ms BETWEEN o.t_ms AND o.t_ms + 2000
        GROUP BY f.grp
        """
    ).fetchall()
    return {grp: {"n_stale_reconnect": int(count)} for grp, count in rows}


def score(e: Evidence) -> Score:
    client = 0.0
    if e.idle_over:
        client = 0.5 + 0.5 * e.idle_share
    if e("n_4031"):
        client = max(client, 0.5 + 0.5 * share(e("n_4031"), e.n))
    if e("n_stale_reconnect"):
        # pooled connections found dead at checkout while a new one, made at once, works:
        # the old connections were cut while they sat idle (where their idle time is known,
        # the idle pattern above says more)
        client = max(client, 0.4 + 0.4 * share(e("n_stale_reconnect"), e.n))
    if client and e.network_down and not (e("abort_timeout") or e("n_idle_over_wait")):
        # an idle pattern read from failures that all fell while the network was down is
        # weak: during an outage every connection fails, idle or not
        client *= 0.5
    server = 1.0 if e("abort_timeout") and (e.disconnect_kinds or e.idle_over or e.server_only) else 0.0
    if not server and e.idle_over and e("abort_error"):
        # a middlebox that resets idle connections: the server sees them break
        server = 0.3
    metrics = 0.8 if e("n_idle_over_wait") else 0.0
    # a silent middlebox leaves nothing but the idle pattern; normal latency rules out the network
    network = 0.3 if (client > 0 and e.latency_quiet) else 0.0
    explained = share(e.disconnect_kinds, e.n)
    if e.known_idle:
        explained *= e.idle_share
    if e.server_only:
        explained = e.server_share("abort_timeout")
    return {"client": client, "server": server, "metrics": metrics, "network": network}, explained


@dataclass
class IdleTimeoutDetails(CauseDetails):
    """The idle limit found, and who closed the connections."""

    # per host, the limit inferred from idle times (ok_max_s, fail_min_s, fail_max_s,
    # failed_over, failed_total, ok_over, ok_total), and the one most failures were over
    idle_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    idle_limit: dict[str, Any] | None = None
    wait_timeout: float | None = None  # the server's, from status snapshots
    idle_closed_by_server: bool = False
    server_abort_lines: int = 0  # "Got timeout reading communication packets" aborts
    server_reset_lines: int = 0  # "Got an error reading/writing communication packets" aborts
    # products whose default idle limit fits the inferred one (pipeline/catalogue/idle_limits.toml):
    # product, setting, seconds, behaviour, how_to_change, source
    limit_matches: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, facts: Facts) -> IdleTimeoutDetails:
        f = facts.features
        out = cls(
            idle_limits=dict(facts.idle_limits),
            wait_timeout=f.get("wait_timeout"),
            server_abort_lines=f.get("abort_timeout") or 0,
            server_reset_lines=f.get("abort_error") or 0,
        )
        if out.idle_limits:
            out.idle_limit = max(out.idle_limits.values(), key=lambda v: (v["failed_over"], -v["fail_min_s"]))
        # who closed the idle connections: the server when it logged the kills, or when
        # its wait_timeout fits the idle times that failed; otherwise something between
        wt, lim = out.wait_timeout, out.idle_limit
        fits = bool(wt and lim and (lim["ok_max_s"] or 0) <= wt <= lim["fail_min_s"])
        out.idle_closed_by_server = bool(
            out.server_abort_lines or fits or (wt and not lim and (f.get("n_idle_over_wait") or 0) > 0)
        )
        if lim:
            out.limit_matches = _limit_matches(lim, by_server=out.idle_closed_by_server)
        return out


def _limit_matches(lim: dict[str, Any], *, by_server: bool, most: int = 3) -> list[dict[str, Any]]:
    """Products whose default idle limit lies in the inferred range: databases when the
    server closed the connections, the things in between when it did not."""
    from pipeline.catalogue.idle_limits import matching

    lo, hi = lim.get("ok_max_s"), lim["fail_min_s"]
    if not hi or (lo is not None and lo > hi):
        return []
    rows = [r for r in matching(lo, hi) if (r.kind == "database") == by_server]
    return [
        {
            "product": r.product,
            "setting": r.setting,
            "seconds": r.seconds,
            "behaviour": r.behaviour,
            "how_to_change": r.how_to_change,
            "source": r.source,
        }
        for r in rows[:most]
    ]


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    from pipeline.correlate.idle import describe_limit  # the correlate stage, loaded by then

    own = det.of(IdleTimeoutDetails)
    lim, wt = own.idle_limit, own.wait_timeout
    if own.idle_closed_by_server:
        who = f"the server (wait_timeout = {n(wt)} s)" if wt else "the server"
    else:
        saw = (
            "the server only saw the connections break ('error reading communication packets')"
            if own.server_reset_lines
            else "the server logged nothing"
        )
        who = f"something between application and server ({saw}" + (
            f" and its wait_timeout is {n(wt)} s)" if wt else ")"
        )
    matches = own.limit_matches
    fits = ""
    if matches:
        names = ", ".join(f"{m['product']}'s {m['setting']} ({n(m['seconds'])} s)" for m in matches)
        fits = f"; that fits the default of {names}"
    first_abort, start = f.get("abort_timeout_first_ms"), inc.get("start_ms")
    if first_abort is not None and start is not None and start - first_abort > 60_000:
        # the server logs a kill when the connection expires; the client finds out at its next use
        who += (
            f" (it logged the kills from {hhmmss(first_abort)}, {(start - first_abort) / 60_000:.0f} min before "
            "the application used those connections again)"
        )
    if lim:
        return f"{errs}: pooled connections left idle too long were closed by {who}; {describe_limit(lim)}{fits}."
    return f"{errs}: pooled connections left idle too long were closed by {who}."


def _common_path_limits(most: int = 4) -> str:
    """The shortest default idle limits of load balancers and NAT gateways in the catalogue."""
    from pipeline.catalogue.idle_limits import load

    seen: dict[str, float] = {}
    for row in sorted(load(), key=lambda r: r.seconds):
        if row.kind in ("load_balancer", "nat") and not row.is_off_by_default:
            seen.setdefault(row.product, row.seconds)
    return ", ".join(f"{n(sec)} s ({product})" for product, sec in list(seen.items())[:most])


def settings_let_through(det: IncidentDetails) -> list[str]:
    """Why the application's own pool settings did not prevent these failures."""
    pool = det.pool_settings
    own = det.of(IdleTimeoutDetails)
    lim, wt = own.idle_limit, own.wait_timeout
    limit = lim["fail_min_s"] if lim else (wt if own.idle_closed_by_server else None)
    out: list[str] = []
    recycle = pool.get("pool_recycle")
    if recycle is not None and recycle <= 0:
        out.append("pool_recycle is off (-1): the pool keeps a connection however long it sits idle.")
    elif recycle is not None and limit and recycle >= limit:
        out.append(
            f"pool_recycle={n(recycle)} did not help: it is above the {n(limit)} s idle limit, so a connection "
            "idle longer than the limit is dead before the pool would replace it."
        )
    checks = "pool_pre_ping=True" if pool.get("pool_pre_ping") else None
    if pool.get("listener_ping"):
        checks = "The checkout listener's ping"
    if checks:
        rt = pool.get("read_timeout")
        out.append(
            f"{checks} found the dead connections at checkout and the pool replaced them, so requests went on; "
            "but every check of a connection cut silently waits for the driver's read timeout"
            + (f" ({n(rt)} s)" if rt else "")
            + " before it fails, and the cut connections are still cut: the limit is in the path."
        )
    return out


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = settings_let_through(det)
    own = det.of(IdleTimeoutDetails)
    lim, wt = own.idle_limit, own.wait_timeout
    bound, what = None, ""
    if lim:
        lo, hi = lim["ok_max_s"], lim["fail_min_s"]
        if wt and (lo or 0) <= wt <= hi:
            bound, what = wt, f"the server's wait_timeout of {n(wt)} s, which the failures agree with"
        elif lo:
            bound, what = lo, f"the idle limit, somewhere between {n(lo)} s and {n(hi)} s"
        else:
            bound, what = hi, f"the idle limit, below {n(hi)} s"
    elif wt and own.idle_closed_by_server:
        bound, what = wt, f"the server's wait_timeout of {n(wt)} s"
    if bound:
        out.append(
            f"Set pool_recycle={recycle_for(bound)} on create_engine (below {what}), so the pool "
            "replaces a connection before anything in between kills it."
        )
    elif own.idle_closed_by_server:
        out.append("Set pool_recycle below the server's wait_timeout.")
    else:
        out.append(
            "Set pool_recycle below the idle limit of the firewall, NAT or load balancer in the path. These logs "
            "cannot measure it (they do not say how long each failed connection sat idle: SQLAlchemy's pool "
            "logging at DEBUG does); common defaults: " + _common_path_limits() + "."
        )
    pool = det.pool_settings
    if not (pool.get("pool_pre_ping") or pool.get("listener_ping")):
        out.append(
            "Set pool_pre_ping=True so each checkout tests the connection and transparently replaces a dead one "
            "(it does not protect a query already running)."
        )
    if own.idle_closed_by_server:
        out.append(
            f"Or raise the server's wait_timeout{f' (now {n(wt)} s)' if wt else ''} above the longest idle time "
            "your pool sees"
            + (
                "; the server logged these kills as 'Got timeout reading communication packets'."
                if own.server_abort_lines
                else "."
            )
        )
    else:
        out.append(
            ("The server did not close these connections" if own.server_reset_lines else "The server logged nothing")
            + ": look for a firewall, NAT or load balancer idle timeout between the "
            "application and the database, and raise it or enable TCP keepalives shorter than it."
        )
    for m in own.limit_matches:
        out.append(
            f"If the path goes through {m['product']} (default {m['setting']} {n(m['seconds'])} s, "
            f"which fits the limit found): {m['how_to_change']} (source: {m['source']})"
        )
    if not pool.get("listener_ping"):
        out.append(
            "For a custom liveness check, raise sqlalchemy.exc.DisconnectionError from a 'checkout' pool event "
            "listener: the pool discards that connection and retries with a fresh one (there is no 'disconnect' event)."
        )
    return out


CAUSE = Cause(
    "idle_timeout",
    "a connection sat idle longer than the server's wait_timeout or a middlebox's idle limit",
    "#1f77b4",  # blue
    order=1,
    tie_rank=5,
    score=score,
    evidence=(
        "idle_fail",
        "idle_ok",
        "srv:abort_timeout",
        "metric:wait_timeout",
        "client:idle_disconnect",
        "client:server_gone",
        "client:lost_connection",
        "client:pre_ping_fail",
        "client:invalidate",
    ),
    summarize=summarize,
    advise=advise,
    # idle times against the limit are the evidence; calm latency rules out the network
    charts=("timeline", "idle_times", "latency"),
    gather=gather,
    details=IdleTimeoutDetails,
)
