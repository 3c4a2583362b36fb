"""Idle time of pooled connections, and the idle limit inferred from it.

From SQLAlchemy pool lines (``conn_ref`` is the DBAPI connection's repr):

* the idle time before a checkout is the checkout time minus the checkin just
  before it, for the same connection in the same file (a file is one consistent
  stream; the same pool lines copied to a second log are followed apart).  When
  the line before the checkout is a ``Created new connection``, a close or an
  invalidation, the repr was reused by a new connection: there is no idle time;
* a checkout *failed* when the next thing that happened to that connection was
  a pre-ping failure or an invalidation rather than a checkin.

From pool event listeners that log no connection identity (the tutorial's
"Connection checked out from pool." / "Connection returned to pool." /
"Connection ping failed during checkout: ..."), one file's lines are one stream:

* in a file whose application never held two connections at once (each checkout
  is returned before the next: one worker, so one pooled connection), a checkout,
  or a failed checkout ping, right after a checkin reuses the connection that
  checkin returned: its idle time is the time since then.  Where checkouts overlap
  (several workers or processes writing one file) the lines cannot say which
  connection came back when, and the idle time is unknown;
* the listener logs its ping failure *instead of* the checkout, so the failed ping
  is itself the failed checkout.  After a silent drop the ping waits for the
  driver's read timeout before it fails, so the idle time read this way is the true
  one plus that wait: an upper bound, which keeps the inferred range true.

Per incident and host, the idle limit is the threshold ``t`` (one of the failed
idle times, at least ``min_idle_limit_seconds``) that best separates the
incident's failures from the successes during it: most failures idle >= t,
fewest successes idle >= t.  It is reported as a range: the longest successful idle
time below ``t`` (``ok_max``) and the shortest failing idle time at or above it
(``fail_min``): "connections idle fail_min-fail_max s failed, none idle ok_max s
or less did: the limit is between ok_max and fail_min".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.engines import Engine

from pipeline.store import event_rows_sql


def build_pool(con: Engine, s: dict[str, Any]) -> None:
    """Create ``c_checkouts``: one row per checkout, with idle time and outcome."""
    # Compact rows (a hash for the connection key, a small code for the kind, the event's
    # rowid in the table behind the events view) keep the sort of millions of pool lines
    # in memory.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_checkouts AS
        WITH p AS (
            SELECT e.rowid AS rid, f.host, hash(e.file_id, e.conn_ref) AS k, epoch_ms(e.ts) AS t_ms, e.line_no,
                   CASE e.kind WHEN 'checkout' THEN 1 WHEN 'checkin' THEN 2
                               WHEN 'invalidate' THEN 3 WHEN 'pre_ping_fail' THEN 4 ELSE 5 END AS kc
            FROM {event_rows_sql()}
            WHERE e.source = 'sqlalchemy' AND e.conn_ref IS NOT NULL
              AND e.kind IN ('checkout', 'checkin', 'invalidate', 'pre_ping_fail', 'conn_open', 'conn_close')
        ), q AS (
            SELECT rid, host, t_ms, line_no, kc,
                   lag(kc) OVER (PARTITION BY k ORDER BY t_ms, line_no) AS prev_kc,
                   lag(t_ms) OVER (PARTITION BY k ORDER BY t_ms, line_no) AS prev_ms,
                   lead(kc) OVER (PARTITION BY k ORDER BY t_ms, line_no) AS next_kc,
                   lead(t_ms) OVER (PARTITION BY k ORDER BY t_ms, line_no) AS next_ms,
                   lead(rid) OVER (PARTITION BY k ORDER BY t_ms, line_no) AS next_rid
            FROM p
        ), lines AS (
            -- pool listener lines without a connection identity: one stream per file
            SELECT e.rowid AS rid, e.file_id, f.host, epoch_ms(e.ts) AS t_ms, e.line_no,
                   CASE e.kind WHEN 'checkout' THEN 1 WHEN 'checkin' THEN 2 WHEN 'pre_ping_fail' THEN 4 ELSE 5 END AS kc
            FROM {event_rows_sql()}
            WHERE e.source = 'sqlalchemy' AND e.conn_ref IS NULL
              AND e.kind IN ('checkout', 'checkin', 'pre_ping_fail', 'conn_open', 'conn_close', 'invalidate')
        ), held AS (
            -- connections held by the application after each line
            SELECT *, lag(kc) OVER (PARTITION BY file_id ORDER BY t_ms, line_no) AS prev_kc,
                   lag(t_ms) OVER (PARTITION BY file_id ORDER BY t_ms, line_no) AS prev_ms,
                   sum(CASE kc WHEN 1 THEN 1 WHEN 2 THEN -1 ELSE 0 END)
                       OVER (PARTITION BY file_id ORDER BY t_ms, line_no ROWS UNBOUNDED PRECEDING) AS out_now
            FROM lines
        ), listener AS (
            SELECT *, max(out_now) OVER (PARTITION BY file_id) AS most_held FROM held
        )
        SELECT rid, host, t_ms, line_no,
               CASE WHEN prev_kc = 2 THEN (t_ms - prev_ms) / 1000.0 END AS idle_s,
               coalesce(next_kc IN (3, 4), false) AS failed,
               CASE WHEN next_kc IN (3, 4) THEN next_ms END AS fail_ms,
               CASE WHEN next_kc IN (3, 4) THEN next_rid END AS fail_rid,
               false AS from_listener
        FROM q WHERE kc = 1
        UNION ALL
        SELECT rid, host, t_ms, line_no,
               CASE WHEN prev_kc = 2 AND most_held <= 1 THEN (t_ms - prev_ms) / 1000.0 END AS idle_s,
               kc = 4 AS failed,
               CASE WHEN kc = 4 THEN t_ms END AS fail_ms,
               CASE WHEN kc = 4 THEN rid END AS fail_rid,
               true AS from_listener
        FROM listener WHERE kc IN (1, 4)
        """
    )


def build_idle_limits(con: Engine, s: dict[str, Any]) -> None:
    """Create ``c_idle_inc``: the idle limit inferred for each incident and host.

    Failures are the incident's failed checkouts; successes are the checkouts of
    the same host made between the incident's first and last drop (before the
    first failure the limit may not have existed yet: a firewall rule, a changed
    wait_timeout).  An episode (isolated idle kills over hours) also counts the checkouts
    of the ``idle_lookback_seconds`` before it: long idles that still worked then bound the
    limit from below when the episode itself held few.
    """
    min_idle = float(s["min_idle_limit_seconds"])
    lookback = float(s["idle_lookback_seconds"]) * 1000.0
    read_timeout = float((s.get("pool") or {}).get("read_timeout") or 0.0)
    tol = float(s["idle_ok_tolerance"])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_idle_inc AS
        WITH f0 AS (
            SELECT d.grp, c.host, c.idle_s, true AS failed, c.rid, c.t_ms, c.line_no, c.from_listener
            FROM c_checkouts c JOIN c_drops d ON d.rid = c.fail_rid
            WHERE c.failed AND c.idle_s IS NOT NULL
        ), fh AS (
            SELECT DISTINCT grp, host FROM f0
        ), o AS (
            SELECT i.grp, c.host, c.idle_s, false AS failed, c.rid, c.t_ms, c.line_no, c.from_listener
            FROM c_checkouts c JOIN c_inc i
              ON c.t_ms BETWEEN (CASE WHEN i.is_episode THEN i.start_ms - {lookback} ELSE i.start_ms END)
                            AND i.end_ms
            JOIN fh ON fh.grp = i.grp AND fh.host IS NOT DISTINCT FROM c.host
            WHERE NOT c.failed AND c.idle_s IS NOT NULL
        ), hang AS (
            -- a checkout listener logs its ping's failure when the ping gives up: after a
            -- silent drop, the driver's read timeout later.  With that timeout known ([pool]
            -- read_timeout), failed idle times read from listener lines are that much too
            -- long, unless taking it off would make them shorter than the idles that worked
            -- (then the drops were resets, which fail at once)
            SELECT f0.grp, f0.host,
                   bool_and(f0.from_listener) AND min(f0.idle_s) - {read_timeout} > coalesce(max(o.idle_s), 0)
                       AND {read_timeout} > 0 AS silent
            FROM f0 LEFT JOIN o ON o.grp = f0.grp AND o.host IS NOT DISTINCT FROM f0.host
            GROUP BY ALL
        ), f AS (
            SELECT f0.grp, f0.host,
                   f0.idle_s - CASE WHEN h.silent THEN {read_timeout} ELSE 0 END AS idle_s,
                   f0.failed, f0.rid, f0.t_ms, f0.line_no, f0.from_listener
            FROM f0 JOIN hang h ON h.grp = f0.grp AND h.host IS NOT DISTINCT FROM f0.host
        ), u AS (
            SELECT * FROM f UNION ALL SELECT * FROM o
        ), cum AS (
            SELECT grp, host, idle_s, failed,
                   sum(failed::INTEGER) OVER (PARTITION BY grp, host ORDER BY idle_s DESC
                                              RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS f_ge,
                   sum((NOT failed)::INTEGER) OVER (PARTITION BY grp, host ORDER BY idle_s DESC
                                                    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS ok_ge
            FROM u
        ), best AS (
            SELECT grp, host,
                   arg_max(idle_s, (f_ge - 3 * ok_ge) * 1e9 - idle_s) AS t,
                   arg_max(f_ge, (f_ge - 3 * ok_ge) * 1e9 - idle_s) AS f_ge,
                   arg_max(ok_ge, (f_ge - 3 * ok_ge) * 1e9 - idle_s) AS ok_ge
            FROM cum WHERE failed AND idle_s >= {min_idle}
            GROUP BY grp, host
        ), stats AS (
            SELECT u.grp, u.host, b.t, b.f_ge, b.ok_ge,
                   count(*) FILTER (WHERE u.failed) AS f_all,
                   max(u.idle_s) FILTER (WHERE NOT u.failed AND u.idle_s < b.t) AS ok_max,
                   max(u.idle_s) FILTER (WHERE u.failed AND u.idle_s >= b.t) AS fail_max,
                   min(u.idle_s) FILTER (WHERE u.failed AND u.idle_s >= b.t) AS fail_min,
                   count(*) FILTER (WHERE NOT u.failed) AS ok_all
            FROM u JOIN best b ON b.grp = u.grp AND b.host IS NOT DISTINCT FROM u.host
            GROUP BY ALL
        ), ok_pick AS (
            -- the longest idle that worked: the first such checkout (by time, line) if several
            SELECT u.grp, u.host, u.rid,
                   row_number() OVER (PARTITION BY u.grp, u.host ORDER BY u.idle_s DESC, u.t_ms, u.line_no, u.rid) AS rn
            FROM u JOIN best b ON b.grp = u.grp AND b.host IS NOT DISTINCT FROM u.host
            WHERE NOT u.failed AND u.idle_s < b.t
        )
        SELECT s.grp, s.host, s.t, s.f_ge, s.ok_ge, s.f_all, s.ok_max, k.rid AS ok_rid, s.fail_max, s.fail_min,
               s.ok_all, (s.f_ge >= 1 AND s.ok_ge <= {tol} * s.f_ge AND coalesce(s.ok_max, 0) < s.fail_min) AS valid
        FROM stats s LEFT JOIN ok_pick k ON k.grp = s.grp AND k.host IS NOT DISTINCT FROM s.host AND k.rn = 1
        """
    )


def idle_limits(con: Engine) -> dict[int, dict[str, dict[str, Any]]]:
    """Per incident number, per host: the inferred idle limit range (valid ones only)."""
    rows = con.execute(
        "SELECT grp, host, ok_max, fail_min, fail_max, f_ge, f_all, ok_ge, ok_all FROM c_idle_inc "
        "WHERE valid ORDER BY grp, host"
    ).fetchall()
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for grp, host, ok_max, fail_min, fail_max, f_ge, f_all, ok_ge, ok_all in rows:
        out.setdefault(grp, {})[host] = {
            "ok_max_s": None if ok_max is None else round(ok_max, 1),
            "fail_min_s": round(fail_min, 1),
            "fail_max_s": round(fail_max, 1),
            "failed_over": int(f_ge),
            "failed_total": int(f_all),
            "ok_over": int(ok_ge),
            "ok_total": int(ok_all),
        }
    return out


def describe_limit(lim: dict[str, Any]) -> str:
    """'connections idle 301-360 s failed, none idle 290 s or less did: the limit is between 290 s and 301 s'."""
    lo, hi, top = lim["ok_max_s"], lim["fail_min_s"], lim["fail_max_s"]
    # as many decimals as it takes to tell the bounds apart (10.6 and 10.8 s are not "11 and 11")
    digits = _digits_apart([x for x in (lo, hi, top) if x is not None])

    def _fmt(x: float) -> str:
        return f"{x:.{digits}f}"

    span = f"{_fmt(hi)} s" if _fmt(hi) == _fmt(top) else f"{_fmt(hi)}-{_fmt(top)} s"
    n_ok = lim.get("ok_over") or 0
    but = f" ({n_ok} idle that long still worked)" if n_ok else ""
    if lo is None:
        return (
            f"connections idle {span} failed{but}, none worked after as long an idle: the limit is below {_fmt(hi)} s"
        )
    return (
        f"connections idle {span} failed{but}, none idle {_fmt(lo)} s or less did: "
        f"the limit is between {_fmt(lo)} s and {_fmt(hi)} s"
    )


def _digits_apart(values: list[float]) -> int:
    """Decimals to show: none from 10 s up, one below; more while two different values
    would read the same."""
    digits = 0 if min(values, default=10) >= 10 else 1
    while digits < 3 and len({f"{v:.{digits}f}" for v in values}) < len(set(values)):
        digits += 1
    return digits
