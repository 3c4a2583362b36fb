"""``network``: latency spikes, lost packets or resets between application and server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, Evidence, Score, share
from pipeline.causes._words import hhmmss, n

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails


def score(e: Evidence) -> Score:
    mid_use = e("n_mid_use")
    # read timeouts on connections idle past the limit are the idle kill's (a silent
    # middlebox makes the first statement hang), not the network's
    client = 0.6 * share(e("n_timed_out"), e.n) * (1.0 - e.idle_share) + 0.3 * share(
        mid_use, max(e.known_idle, mid_use)
    )
    server = 0.3 if e("abort_error") else 0.0
    if e.server_only and e("abort_error") >= 3:
        # no client log: connections breaking mid-use, several at once, is the network's mark
        server = 1.0
    net_kinds = e("n_2013") + e("n_2006") + e("n_cant_connect") - e("n_refused") + e("n_pool_drop")
    explained = share(max(0, net_kinds), e.n)
    if e.known_idle and not e.network_down:
        # failures of connections idle past a limit are the idle kill's, unless the network
        # was visibly down at that very moment (then every connection fails, idle or not)
        explained *= 1.0 - e.idle_share
    if e.server_only:
        explained = e.server_share("abort_error")
    return {"network": e.latency_part, "client": min(1.0, client), "server": server}, explained


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    parts = []
    if f.get("lat_high"):
        parts.append(f"round trips up to {n(f.get('lat_max'))} ms against a median of {n(f.get('lat_med'))} ms")
    if f.get("lat_lost"):
        parts.append(f"{f['lat_lost']} lost probes")
    extra = " and ".join(parts) or "queries timing out in flight"
    return f"{errs} while the network to the server degraded: {extra}."


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    targets = ", ".join(f.get("lat_targets") or []) or "the database server"
    a, b = f.get("lat_first_ms") or inc["start_ms"], f.get("lat_last_ms") or inc["end_ms"]
    out.append(
        f"The network to {targets} degraded between {hhmmss(min(a, inc['start_ms']))} and "
        f"{hhmmss(max(b, inc['end_ms']))} UTC: check that path (links, NAT, proxies, cloud network events) in that window."
    )
    out.append(
        "Set connect_timeout and read_timeout/write_timeout on the driver so a stalled query fails fast, and "
        "retry idempotent transactions on 2006/2013 with backoff."
    )
    out.append("pool_pre_ping=True replaces connections broken while idle, but cannot save a query in flight.")
    return out


CAUSE = Cause(
    "network",
    "latency spikes, lost packets or resets between application and server",
    "#ff7f0e",  # orange
    order=2,
    tie_rank=6,
    score=score,
    evidence=(
        "latency_high",
        "latency_lost",
        "client:lost_connection",
        "client:cant_connect",
        "client:server_gone",
        "srv:abort_error",
    ),
    summarize=summarize,
    advise=advise,
    # round trips and lost probes are the evidence
    charts=("timeline", "latency"),
)
