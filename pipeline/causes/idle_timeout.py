"""``idle_timeout``: a connection sat idle longer than the server's ``wait_timeout`` or a
middlebox's idle limit, and its next use failed."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score, share


def score(e: Evidence) -> Score:
    client = 0.0
    if e.idle_over:
        client = 0.5 + 0.5 * e.idle_share
    if e("n_4031"):
        client = max(client, 0.5 + 0.5 * share(e("n_4031"), e.n))
    server = 1.0 if e("abort_timeout") and (e.disconnect_kinds or e.idle_over) else 0.0
    if not server and e.idle_over and e("abort_error"):
        # a middlebox that resets idle connections: the server sees them break
        server = 0.3
    metrics = 0.8 if e("n_idle_over_wait") else 0.0
    # a silent middlebox leaves nothing but the idle pattern; normal latency rules out the network
    network = 0.3 if (client > 0 and e.latency_quiet) else 0.0
    explained = share(e.disconnect_kinds, e.n)
    if e.known_idle:
        explained *= e.idle_share
    return {"client": client, "server": server, "metrics": metrics, "network": network}, explained


CAUSE = Cause(
    "idle_timeout",
    "a connection sat idle longer than the server's wait_timeout or a middlebox's idle limit",
    "#1f77b4",  # blue
    order=1,
    tie_rank=5,
    score=score,
)
