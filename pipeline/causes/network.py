"""``network``: latency spikes, lost packets or resets between application and server."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score, share


def score(e: Evidence) -> Score:
    mid_use = e("n_mid_use")
    # read timeouts on connections idle past the limit are the idle kill's (a silent
    # middlebox makes the first statement hang), not the network's
    client = (0.6 * share(e("n_timed_out"), e.n) * (1.0 - e.idle_share)
              + 0.3 * share(mid_use, max(e.known_idle, mid_use)))
    server = 0.3 if e("abort_error") else 0.0
    net_kinds = e("n_2013") + e("n_2006") + e("n_cant_connect") - e("n_refused") + e("n_pool_drop")
    explained = share(max(0, net_kinds), e.n)
    if e.known_idle:
        explained *= 1.0 - e.idle_share
    return {"network": e.latency_part, "client": min(1.0, client), "server": server}, explained


CAUSE = Cause(
    "network",
    "latency spikes, lost packets or resets between application and server",
    "#ff7f0e",  # orange
    order=2,
    tie_rank=6,
    score=score,
)
