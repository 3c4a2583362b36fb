"""For an incident whose cause stays unknown: the server and latency evidence nearest to
it that did not count, and why, so the advice says what was seen instead of asking for
what the store already holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.engines import Engine

from pipeline.kinds import CLIENT_SOURCES

# server events that would bear on a cause if they were near enough (routine starts of
# connections and "other" lines are not evidence of anything)
TELLING_KINDS = (
    "aborted_connection",
    "connection_reset",
    "server_stop",
    "server_start",
    "too_many_connections",
    "access_denied",
    "idle_disconnect",
)
SEARCH_SECONDS = 86400.0  # how far from the incident to look


def nearest_unused(con: Engine, inc: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The nearest telling server line and the worst latency around the incident, each with
    how far it was from the failures and the window it would have had to fall in."""
    start_ms, end_ms = inc["start_ms"], inc["end_ms"]
    out: dict[str, Any] = {}
    server = _nearest_server(con, start_ms, end_ms)
    if server is not None:
        out["server"] = server | {"why_not": _why_server_not(server, settings)}
    latency = _latency_near(con, start_ms, end_ms, settings)
    if latency is not None:
        out["latency"] = latency
    return out


def _nearest_server(con: Engine, start_ms: int, end_ms: int) -> dict[str, Any] | None:
    row = con.execute(
        f"""
        WITH cand AS (
            SELECT ts, epoch_ms(ts) AS t_ms, kind, host, file, line_no, left(message, 200) AS message
            FROM events
            WHERE source NOT IN {CLIENT_SOURCES} AND kind IN {TELLING_KINDS}
              AND epoch_ms(ts) BETWEEN $start - $search AND $end + $search
        )
        SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), kind, host, file, line_no, message,
               CASE WHEN t_ms < $start THEN (t_ms - $start) / 1000.0
                    WHEN t_ms > $end THEN (t_ms - $end) / 1000.0 ELSE 0 END AS off_s
        FROM cand ORDER BY abs(off_s), t_ms, file, line_no LIMIT 1
        """,
        {"start": start_ms, "end": end_ms, "search": int(SEARCH_SECONDS * 1000)},
    ).fetchone()
    if row is None:
        return None
    ts, kind, host, file, line_no, message, off_s = row
    return {
        "ts": ts,
        "kind": kind,
        "host": host,
        "file": file,
        "line_no": line_no,
        "message": message,
        "seconds_from_failures": float(off_s),
    }


def _why_server_not(server: dict[str, Any], s: dict[str, Any]) -> str:
    off = server["seconds_from_failures"]
    if off < 0 and -off > s["lookback_seconds"]:
        window = f"server lines count from lookback_seconds ({s['lookback_seconds']:g} s) before the first failure"
        if server["kind"] == "aborted_connection":
            window += (
                f"; idle-kill aborts from idle_lookback_seconds ({s['idle_lookback_seconds']:g} s) before, "
                "when the failed connections' idle times are known"
            )
        return f"logged {_ago(-off)} before the first failure: {window}"
    if off > s["lookahead_seconds"]:
        return (
            f"logged {_ago(off)} after the last failure: server lines count up to "
            f"lookahead_seconds ({s['lookahead_seconds']:g} s) after it"
        )
    return "near the failures, but no cause's pattern includes it on its own"


def _latency_near(con: Engine, start_ms: int, end_ms: int, s: dict[str, Any]) -> dict[str, Any] | None:
    row = con.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE lost), max(rtt_ms), median(rtt_ms)
        FROM latency WHERE epoch_ms(ts) BETWEEN $start - 300000 AND $end + 300000
        """,
        {"start": start_ms, "end": end_ms},
    ).fetchone()
    if row is None or not row[0]:
        return None
    samples, lost, worst, typical = row
    return {
        "samples": int(samples),
        "lost": int(lost),
        "max_rtt_ms": worst,
        "median_rtt_ms": typical,
        "why_not": "no loss and no spike in the 5 minutes around the failures"
        if not lost and (worst or 0) < 5 * (typical or 0) + 50
        else "loss or a spike around the failures, but too little to explain them alone",
    }


def _ago(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
