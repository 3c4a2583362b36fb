"""Summaries, the "why" of each evidence line, and advice specific to what was found.

Advice is written for SQLAlchemy 2.x: ``pool_recycle`` acts at checkout only,
``pool_pre_ping=True`` tests a connection at checkout (it does not protect a
query already running), and there is no ``disconnect`` pool event: a custom
liveness check raises ``sqlalchemy.exc.DisconnectionError`` from a ``checkout``
event listener, which makes the pool discard that connection and retry.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from pipeline.correlate.idle import describe_limit


def iso(t_ms) -> str | None:
    if t_ms is None:
        return None
    return datetime.fromtimestamp(t_ms / 1000.0, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _hhmmss(t_ms) -> str:
    return datetime.fromtimestamp(t_ms / 1000.0, timezone.utc).strftime("%H:%M:%S")


def _n(x) -> str:
    return "?" if x is None else (f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}")


def recycle_for(limit_s: float) -> int:
    """A pool_recycle comfortably below an idle limit: 80% of it, rounded down."""
    value = limit_s * 0.8
    step = 10 if value >= 100 else (5 if value >= 20 else 1)
    return max(1, int(math.floor(value / step) * step))


def why(row: dict, f: dict) -> str:
    cat, v, ref = row["category"], row.get("value"), row.get("ref")
    if cat == "idle_fail":
        text = f"connection checked out after {_n(v)} s idle"
        if ref is not None:
            text += f"; it failed {ref:.1f} s later"
        return text
    if cat == "idle_ok":
        return f"connection checked out after {_n(v)} s idle and worked: the limit is above this"
    if cat == "latency_high":
        return f"round trip {_n(v)} ms against this target's median of {_n(ref)} ms"
    if cat == "latency_lost":
        return "probe lost: no answer from the target"
    if cat == "threads_connected":
        pct = f" ({100 * v / ref:.0f}%)" if ref else ""
        return f"threads_connected {_n(v)} of max_connections {_n(ref)}{pct}: the server was at its limit"
    if cat == "uptime_reset":
        return f"server uptime fell from {_n(ref)} s to {_n(v)} s: it restarted"
    if cat == "metric:wait_timeout":
        return f"the server closes connections idle longer than wait_timeout = {_n(v)} s"
    if cat.startswith("srv:"):
        return {
            "srv:srv_stop": "the server shut down (or crashed)",
            "srv:srv_start": "the server was ready for connections again",
            "srv:srv_tmc": "the server refused a connection: Too many connections",
            "srv:srv_access": "the server refused the login",
            "srv:abort_timeout": "the server closed a connection left idle longer than its timeout",
            "srv:abort_error": "the server saw a connection break in the middle (error reading/writing packets)",
        }.get(cat, "server line")
    kind = row.get("kind")
    if kind == "too_many_connections":
        return "1040: the server refused a new connection, max_connections reached"
    if kind == "pool_timeout":
        return "the application's pool had no free connection within pool_timeout"
    if kind == "access_denied":
        return "the server refused the login (1045 bad credentials / 1130 host not allowed)"
    if kind == "cant_connect":
        if row.get("is_refused"):
            return "connection refused: nothing was listening on the server port"
        if row.get("is_timed_out"):
            return "connect timed out: the server did not answer"
        return "the application could not connect to the server"
    if kind == "lost_connection":
        if row.get("is_timed_out"):
            return "connection lost in the middle of a query after a read timeout"
        return "connection lost (2013): the other end closed or reset it"
    if kind == "server_gone":
        return "2006: the connection had already been closed by the other end when it was used"
    if kind == "idle_disconnect":
        return "the server disconnected the client for inactivity"
    if kind == "pre_ping_fail":
        return "the pool's pre-ping found the connection dead at checkout"
    if kind == "invalidate":
        return "the pool discarded a dead connection"
    return kind or "evidence"


def summarize(cause: str, inc: dict, f: dict, det: dict) -> str:
    hosts = ", ".join(inc["hosts"]) or "unknown host"
    n = inc["errors"]
    errs = f"{n} connection failure{'s' if n != 1 else ''} on {hosts}"
    if cause == "idle_timeout":
        lim = det.get("idle_limit")
        wt = det.get("wait_timeout")
        if det.get("idle_closed_by_server"):
            who = f"the server (wait_timeout = {_n(wt)} s)" if wt else "the server"
        else:
            saw = ("the server only saw the connections break ('error reading communication packets')"
                   if det.get("server_reset_lines") else "the server logged nothing")
            who = (f"something between application and server ({saw}"
                   + (f" and its wait_timeout is {_n(wt)} s)" if wt else ")"))
        if lim:
            return f"{errs}: pooled connections left idle too long were closed by {who}; {describe_limit(lim)}."
        return f"{errs}: pooled connections left idle too long were closed by {who}."
    if cause == "network":
        parts = []
        if f.get("lat_high"):
            parts.append(f"round trips up to {_n(f.get('lat_max'))} ms against a median of {_n(f.get('lat_med'))} ms")
        if f.get("lat_lost"):
            parts.append(f"{f['lat_lost']} lost probes")
        extra = " and ".join(parts) or "queries timing out in flight"
        return f"{errs} while the network to the server degraded: {extra}."
    if cause == "max_connections":
        peak = ""
        if f.get("threads_peak") is not None and f.get("max_connections"):
            peak = f" (threads_connected peaked at {_n(f['threads_peak'])} of {_n(f['max_connections'])})"
        return f"{errs}: the server refused new connections because max_connections was reached{peak}."
    if cause == "pool_exhausted":
        return (
            f"{errs}: the application's connection pool ran out of connections "
            f"(pool_size {det.get('pool_size', '?')} + max_overflow {det.get('max_overflow', '?')}) "
            "while the server was healthy."
        )
    if cause == "server_restart":
        down = det.get("downtime_s")
        d = f", down for about {_n(down)} s" if down is not None else ""
        how = "crashed and restarted" if det.get("crashed") else "restarted"
        return f"{errs}: the database server {how}{d}."
    if cause == "access_denied":
        return f"{errs}: the server refused the application's login (credentials or host allow-list)."
    return f"{errs}: the evidence is too thin to name a cause."


def advise(cause: str, inc: dict, f: dict, det: dict) -> list[str]:
    out: list[str] = []
    if cause == "idle_timeout":
        lim = det.get("idle_limit")
        wt = det.get("wait_timeout")
        bound, what = None, ""
        if lim:
            lo, hi = lim["ok_max_s"], lim["fail_min_s"]
            if wt and (lo or 0) <= wt <= hi:
                bound, what = wt, f"the server's wait_timeout of {_n(wt)} s, which the failures agree with"
            elif lo:
                bound, what = lo, f"the idle limit, somewhere between {_n(lo)} s and {_n(hi)} s"
            else:
                bound, what = hi, f"the idle limit, below {_n(hi)} s"
        elif wt:
            bound, what = wt, f"the server's wait_timeout of {_n(wt)} s"
        if bound:
            out.append(
                f"Set pool_recycle={recycle_for(bound)} on create_engine (below {what}), so the pool "
                "replaces a connection before anything in between kills it."
            )
        else:
            out.append("Set pool_recycle below the server's wait_timeout (and below any firewall or load balancer idle limit).")
        out.append(
            "Set pool_pre_ping=True so each checkout tests the connection and transparently replaces a dead one "
            "(it does not protect a query already running)."
        )
        if det.get("idle_closed_by_server"):
            out.append(
                f"Or raise the server's wait_timeout{f' (now {_n(wt)} s)' if wt else ''} above the longest idle time "
                "your pool sees"
                + ("; the server logged these kills as 'Got timeout reading communication packets'."
                   if det.get("server_abort_lines") else ".")
            )
        else:
            out.append(
                ("The server did not close these connections" if det.get("server_reset_lines")
                 else "The server logged nothing")
                + ": look for a firewall, NAT or load balancer idle timeout between the "
                "application and the database, and raise it or enable TCP keepalives shorter than it."
            )
        out.append(
            "For a custom liveness check, raise sqlalchemy.exc.DisconnectionError from a 'checkout' pool event "
            "listener: the pool discards that connection and retries with a fresh one (there is no 'disconnect' event)."
        )
    elif cause == "network":
        targets = ", ".join(f.get("lat_targets") or []) or "the database server"
        a, b = f.get("lat_first_ms") or inc["start_ms"], f.get("lat_last_ms") or inc["end_ms"]
        out.append(
            f"The network to {targets} degraded between {_hhmmss(min(a, inc['start_ms']))} and "
            f"{_hhmmss(max(b, inc['end_ms']))} UTC: check that path (links, NAT, proxies, cloud network events) in that window."
        )
        out.append(
            "Set connect_timeout and read_timeout/write_timeout on the driver so a stalled query fails fast, and "
            "retry idempotent transactions on 2006/2013 with backoff."
        )
        out.append("pool_pre_ping=True replaces connections broken while idle, but cannot save a query in flight.")
    elif cause == "max_connections":
        mx = f.get("max_connections")
        peak = f.get("threads_peak")
        size, over = det.get("pool_size"), det.get("max_overflow")
        per = (size + over) if size is not None and over is not None else None
        procs = det.get("processes")
        if mx:
            line = f"The server allows max_connections={_n(mx)}"
            if peak is not None:
                line += f" and threads_connected peaked at {_n(peak)}"
            app = det.get("app_connections_peak")
            if app is not None:
                line += (f"; the application's pools on {', '.join(inc['hosts'])} held at most {app} of them "
                         "(pool lines)")
                if peak is not None and peak - app > 0:
                    line += f", so about {_n(peak - app)} came from other clients (batch jobs, admin sessions, other services)"
            out.append(line + ".")
        if per is not None:
            out.append(
                f"Each process can open pool_size + max_overflow = {size} + {over} = {per} connections; "
                f"processes x {per} (plus batch jobs and admin sessions) must stay below "
                f"{_n(mx) if mx else 'max_connections'}"
                + (f": at most {int((mx * 0.9) // per)} such processes" if mx and per else "")
                + "."
            )
        else:
            out.append(
                "Make (connections per process = pool_size + max_overflow) x (number of processes on all hosts"
                f"{', ' + str(procs) + ' seen' if procs else ''}) stay below max_connections, with headroom for admin and batch sessions."
            )
        out.append("Either lower pool_size/max_overflow (or put a connection proxy in front), or raise max_connections on the server.")
    elif cause == "pool_exhausted":
        size, over = det.get("pool_size"), det.get("max_overflow")
        cap = (size + over) if size is not None and over is not None else None
        demand = det.get("demand_peak")
        if demand is not None and cap is not None:
            out.append(f"Observed peak demand of about {demand} connections at once (all {cap} in use plus "
                       f"{demand - cap} requests waiting) versus pool_size + max_overflow = {size} + {over} = {cap}.")
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
            out.append(f"pool_timeout is {_n(det['pool_timeout_s'])} s: requests waited that long before failing.")
    elif cause == "server_restart":
        when = det.get("restart_at")
        if det.get("crashed"):
            out.append(
                "The database server crashed"
                + (f" around {when}" if when else "")
                + " (it ran crash recovery when it came back): look for the reason before it (OOM killer in the "
                "kernel log, 'got signal' in the error log, the host's or the container's restarts)."
            )
        else:
            out.append(
                "The database server restarted"
                + (f" around {when}" if when else "")
                + ": find out why in its error log and the host's logs (planned maintenance, OOM kill, deploy)."
            )
        out.append("Set pool_pre_ping=True so connections broken by the restart are replaced at checkout instead of failing a request.")
        out.append("Retry connects with backoff while the server is down, and schedule maintenance restarts outside busy hours.")
    elif cause == "access_denied":
        out.append(
            "Check the application's credentials and grants: 1045 means wrong user/password, 1130 means the "
            "client host is not allowed (e.g. an IP allow-list or GRANT ... @'host' that no longer matches the application host)."
        )
        out.append("If credentials were rotated, restart or reconfigure every process that still uses the old ones.")
    else:
        out.append(
            "Not enough evidence to name a cause. Collect more: SQLAlchemy pool logging at DEBUG "
            "(logging.getLogger('sqlalchemy.pool').setLevel(logging.DEBUG)), the server error log "
            "(MariaDB log_warnings=2 or more), latency samples to the server and SHOW GLOBAL STATUS snapshots."
        )
    return out
