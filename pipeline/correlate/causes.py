"""Cause rules: score every cause from the evidence gathered for an incident.

Each cause is scored from up to four independent sources of evidence, each
worth at most 1:

``client``   what the application and its pool logged (error codes, idle times),
``server``   the server's error log,
``network``  latency samples (high or lost probes, against the target's own baseline),
``metrics``  server status snapshots (threads_connected, uptime, wait_timeout).

The sum is then scaled by how much of the incident's client errors the cause
explains (``explained``, 0..1): ``score = sum * (0.5 + 0.5 * explained)``.  The
incident is named after the best score; below ``min_score`` it is ``unknown``.
Confidence grows with the number of independent sources that agree and with the
share of errors explained, and shrinks when a second cause scores close to the
first.
"""

from __future__ import annotations

CAUSE_ORDER = (
    "server_restart",
    "max_connections",
    "access_denied",
    "pool_exhausted",
    "idle_timeout",
    "network",
)


def _share(x, n) -> float:
    return min(1.0, (x or 0) / n) if n else 0.0


def score_causes(f: dict, s: dict) -> dict[str, dict]:
    """{cause: {"score", "explained", "parts": {source: value}}} for every cause with evidence."""
    n = f.get("n_base") or 0
    g = lambda key: f.get(key) or 0  # noqa: E731
    out: dict[str, dict] = {}

    def put(cause, parts, explained):
        parts = {k: round(v, 3) for k, v in parts.items() if v > 0}
        total = sum(parts.values())
        if total <= 0:
            return
        out[cause] = {
            "score": round(total * (0.5 + 0.5 * explained), 3),
            "explained": round(explained, 3),
            "parts": parts,
        }

    lat_bad = g("lat_high") + 3 * g("lat_lost_excess")
    needed = max(float(s["latency_samples_full"]), float(s["latency_share_full"]) * g("lat_samples"), 1.0)
    latency_part = min(1.0, lat_bad / needed)
    latency_quiet = g("lat_samples") > 0 and latency_part < 0.34  # no network trouble to speak of
    disconnect_kinds = g("n_2006") + g("n_2013") + g("n_4031") + g("n_pool_drop")

    # idle_timeout ---------------------------------------------------------------
    known = g("n_fail_known_idle")
    over = max(g("n_idle_over_limit"), g("n_idle_over_wait"))
    # the share of the incident's failures the idle pattern explains: failures whose
    # connection's idle time is unknown (failed connects, no pool lines) count against it
    idle_share = _share(over, max(known, g("errors")))
    client = 0.0
    if over:
        client = 0.5 + 0.5 * idle_share
    if g("n_4031"):
        client = max(client, 0.5 + 0.5 * _share(g("n_4031"), n))
    server = 1.0 if g("abort_timeout") and (disconnect_kinds or over) else 0.0
    if not server and over and g("abort_error"):
        # a middlebox that resets idle connections: the server sees them break
        server = 0.3
    metrics = 0.8 if g("n_idle_over_wait") else 0.0
    # a silent middlebox leaves nothing but the idle pattern; normal latency rules out the network
    network = 0.3 if (client > 0 and latency_quiet) else 0.0
    explained = _share(disconnect_kinds, n)
    if known:
        explained *= idle_share
    put("idle_timeout", {"client": client, "server": server, "metrics": metrics, "network": network}, explained)

    # network --------------------------------------------------------------------
    mid_use = g("n_mid_use")
    # read timeouts on connections idle past the limit are the idle kill's (a silent
    # middlebox makes the first statement hang), not the network's
    client = 0.6 * _share(g("n_timed_out"), n) * (1.0 - idle_share) + 0.3 * _share(mid_use, max(known, mid_use))
    server = 0.3 if g("abort_error") else 0.0
    net_kinds = g("n_2013") + g("n_2006") + g("n_cant_connect") - g("n_refused") + g("n_pool_drop")
    explained = _share(max(0, net_kinds), n)
    if known:
        explained *= 1.0 - idle_share
    put("network", {"network": latency_part, "client": min(1.0, client), "server": server}, explained)

    # max_connections ------------------------------------------------------------
    share_1040 = _share(g("n_1040"), n)
    ratio_req = float(s["max_connections_ratio"])
    ratio = f.get("threads_ratio")
    metrics = 0.0
    if ratio is not None:
        metrics = 1.0 if ratio >= ratio_req else (0.5 if ratio >= ratio_req - 0.1 else 0.0)
    put(
        "max_connections",
        {
            "client": (0.5 + 0.5 * share_1040) if g("n_1040") else 0.0,
            "server": 1.0 if g("srv_tmc") else 0.0,
            "metrics": metrics if (g("n_1040") or g("srv_tmc")) else 0.5 * metrics,
        },
        share_1040,
    )

    # pool_exhausted -------------------------------------------------------------
    share_pool = _share(g("n_pool_timeout"), n)
    if g("n_pool_timeout"):
        healthy = not (g("srv_tmc") or g("srv_stop") or g("srv_start") or g("n_1040") or lat_bad)
        metrics = 0.3 if (ratio is not None and ratio < ratio_req - 0.1) else 0.0
        put(
            "pool_exhausted",
            {"client": 0.5 + 0.5 * share_pool, "server": 0.5 if healthy else 0.0, "metrics": metrics},
            share_pool,
        )

    # server_restart -------------------------------------------------------------
    server = 1.0 if (g("srv_stop") or g("srv_start")) else 0.0
    metrics = 1.0 if g("uptime_resets") else 0.0
    client = 0.6 * _share(g("n_refused"), n)
    restart_kinds = g("n_refused") + g("n_2013") + g("n_2006") + g("n_pool_drop")
    put(
        "server_restart",
        {"server": server, "metrics": metrics, "client": client},
        _share(restart_kinds, n) if (server or metrics) else _share(g("n_refused"), n),
    )

    # access_denied --------------------------------------------------------------
    share_acc = _share(g("n_access"), n)
    put(
        "access_denied",
        {
            "client": (0.5 + 0.5 * share_acc) if g("n_access") else 0.0,
            "server": 1.0 if g("srv_access") else 0.0,
        },
        share_acc if g("n_access") else (0.3 if g("srv_access") else 0.0),
    )
    return out


def verdict(scores: dict[str, dict], s: dict) -> tuple[str, float]:
    """The named cause and the confidence in it."""
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1]["score"], CAUSE_ORDER.index(kv[0])))
    if not ranked or ranked[0][1]["score"] < float(s["min_score"]):
        best = ranked[0][1]["score"] if ranked else 0.0
        return "unknown", round(min(0.3, 0.1 + best * 0.2), 2)
    cause, top = ranked[0]
    second = ranked[1][1]["score"] if len(ranked) > 1 else 0.0
    sources = len(top["parts"])
    base = min(0.98, 0.25 + 0.17 * sources + 0.25 * top["explained"])
    margin = min(1.0, 0.5 + (top["score"] - second) / top["score"])
    return cause, round(base * margin, 2)
