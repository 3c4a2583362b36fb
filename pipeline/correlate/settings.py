"""Correlation thresholds: defaults, and how ``[correlate]`` in pipeline.toml overrides them.

Every number here is a threshold the rules use; each one is explained where it is
defined, and docs/incidents.md gives the reasoning.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Drops closer than this to the previous drop belong to the same incident.
    # A failing pool retries within seconds, a restart or a latency spike keeps
    # failing for tens of seconds, and in the lab recordings no two distinct faults
    # were closer than a few minutes; 25 s joins the retries of one fault
    # without merging the next one.
    "gap_seconds": 25.0,
    # Idle kills come one at a time: incidents named idle_timeout on a shared host and less
    # than this apart are one episode (a quiet night of them is one finding, and the limit
    # is read from all of them).  Real limits are minutes to hours (MySQL's wait_timeout is
    # 8 h; load balancers and NAT gateways cut at 50 s to 30 min), so kills of one limit
    # come minutes to an hour apart.
    "episode_gap_seconds": 3600.0,
    # Server lines, latency samples and metrics this long before the first drop
    # and after the last one still count as evidence for the incident.
    "lookback_seconds": 30.0,
    "lookahead_seconds": 15.0,
    # An idle kill is logged by the server when the connection *expires*, long
    # before the client notices at its next checkout: "timeout reading" aborts
    # are looked for up to this long before the incident (capped by the longest
    # idle time of a connection that failed in it).
    "idle_lookback_seconds": 3600.0,
    # A server start more than this before the first drop (or a stop after the last
    # one) is not evidence of a restart causing the drops.
    "restart_slack_seconds": 5.0,
    # Shortest idle time that can be an idle limit.  No server or middlebox closes
    # connections idle for less than a few seconds (real limits are minutes to hours:
    # load balancers 4-6 min, wait_timeout 8 h; the lab's are 5-6 s); a connection
    # that failed after 2 s idle is a busy pool hit by something else.
    "min_idle_limit_seconds": 5.0,
    # Successful checkouts idle at least as long as the inferred limit, tolerated per
    # failure above it: a limit stands when about 3 of every 4 checkouts idle that long
    # failed (the fault may end inside the incident, and the client measures idle time
    # from its checkin while a middlebox measures it from the last packet).
    "idle_ok_tolerance": 0.34,
    # Latency: a sample is "high" when it exceeds the target's median by more than
    # latency_mad_k robust standard deviations (1.4826 * MAD), and by at least
    # latency_rel_floor times the median and latency_abs_floor_ms milliseconds
    # (a very steady link has a MAD near zero, where any jitter would count; on a
    # busy host a local round trip of 2 ms jumps to 40 ms now and then without
    # breaking anything, so jumps under 50 ms are not network trouble).
    "latency_mad_k": 6.0,
    "latency_rel_floor": 1.0,
    "latency_abs_floor_ms": 50.0,
    # High samples (a lost probe counts as 3) needed in the window for full network
    # evidence: this many, and at least latency_share_full of the window's samples (a
    # busy host's probes jump now and then: on a 2-core machine running test suites
    # beside the lab, 7% of a two-minute window's probes did; a real spike or blackhole
    # hits most of them).
    "latency_samples_full": 3,
    "latency_share_full": 0.2,
    # threads_connected / max_connections at or above this is "at the limit".
    "max_connections_ratio": 0.9,
    # Below this score no cause is named: the incident is "unknown".
    "min_score": 0.5,
    # Server lines inside the span of an application's log, or this close to it, are
    # that log's to explain: they are evidence for its incidents (an application that
    # logged no failure lost nothing).  Further away, or with no application log at all,
    # they make incidents of their own, marked "server log only".
    "client_cover_seconds": 300.0,
    # A server-only incident needs this many refused logins or aborted connections (one
    # refused login, or one idle client closed by wait_timeout, is routine), unless the
    # server stopped, started or refused a connection for want of slots.
    "server_only_min_lines": 3,
    # How many lines of each kind of evidence are stored per incident.
    "evidence_per_kind": 3,
}


def resolve(settings: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS overlaid with ``settings`` (unknown keys are ignored, numbers coerced)."""
    out = dict(DEFAULTS)
    # the application's pool settings ([pool]), when the user gave them: not thresholds,
    # but part of what the verdicts say
    out["pool"] = dict((settings or {}).get("pool") or {})
    for key, value in (settings or {}).items():
        if key in DEFAULTS and value is not None:
            default = DEFAULTS[key]
            out[key] = type(default)(value) if isinstance(default, (int, float)) else value
    return out
