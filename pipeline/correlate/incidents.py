"""Grouping: client-side drop signals close in time become one incident.

Everything here is SQL on temporary tables of the open connection, so it scales
with DuckDB rather than with Python:

``c_drops``  every client-side drop event (app and SQLAlchemy sources, kinds in
             ``CLIENT_DROP_KINDS``) with its incident number ``grp``;
``c_inc``    one row per incident: first and last drop, hosts, drop count, stable id,
             and the evidence window ``lo_ms``..``hi_ms``: ``lookback_seconds``
             before the first drop to ``lookahead_seconds`` after the last, but
             never past half-way to the previous or next incident, so a line is
             evidence for the incident it is nearest to.

Drops are ordered by time over all hosts; a drop more than ``gap_seconds`` after
the previous one starts a new incident.  The id is the UTC start time plus a
hash of the first drop (host, kind, time, message: not the file path, so the same
logs ingested from another folder get the same ids), so re-running on the same
data gives the same ids (and an incident that merely grows at its end keeps it).

``errors`` counts failures, not log lines: one failure is typically written to
several files of the same host (the text log, the JSON log, and the pool's
``Invalidate connection`` line, often preceded by a failed pre-ping or a
``Disconnection detected on checkout`` line for the same connection).  Per file
and source (application lines and pool lines are counted apart, even when they
share a file) we count drop lines, pre-ping failures and invalidations within
50 ms of each other once; per host we take the file and source that saw the
most; ``errors`` is the sum over hosts.
"""

from __future__ import annotations

from pipeline.kinds import CLIENT_DROP_KINDS
from pipeline.store import event_id_sql, event_rows_sql, message_sql

CLIENT_SOURCES = ("app", "sqlalchemy")


def _in_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def build_incidents(con, s: dict) -> int:
    """Create ``c_drops`` and ``c_inc``; return the number of incidents."""
    gap = float(s["gap_seconds"])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_drops AS
        WITH d AS (
            SELECT e.rowid AS rid, {event_id_sql()} AS event_id, e.ts, e.source, f.host, f.file, e.line_no, e.kind,
                   e.error_code, e.conn_ref, {message_sql()} AS message, e.raw, epoch_ms(e.ts) AS t_ms
            FROM {event_rows_sql()}
            WHERE e.source IN ({_in_list(CLIENT_SOURCES)})
              AND e.kind IN ({_in_list(CLIENT_DROP_KINDS)})
        ), o AS (
            SELECT *, t_ms - lag(t_ms) OVER (ORDER BY t_ms, event_id) AS dt_ms FROM d
        )
        SELECT *,
               sum(CASE WHEN dt_ms IS NULL OR dt_ms > {gap * 1000.0} THEN 1 ELSE 0 END)
                   OVER (ORDER BY t_ms, event_id ROWS UNBOUNDED PRECEDING) AS grp,
               -- classification of the error text, used by the cause rules
               coalesce(raw, message, '') ILIKE '%refused%' AS is_refused,
               (coalesce(raw, message, '') ILIKE '%timed out%'
                   OR coalesce(raw, message, '') ILIKE '%read timeout%'
                   OR coalesce(raw, message, '') ILIKE '%errno 110%')
                   AND kind <> 'pool_timeout' AS is_timed_out,
               coalesce(raw, message, '') ILIKE '%reset by peer%'
                   OR coalesce(raw, message, '') ILIKE '%errno 104%' AS is_reset,
               coalesce(raw, message, '') ILIKE '%during query%' AS is_during_query
        FROM o
        """
    )
    pre = float(s["lookback_seconds"]) * 1000.0
    post = float(s["lookahead_seconds"]) * 1000.0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_inc AS
        WITH per_file AS (
            SELECT grp, host, file, source,
                   count(*) FILTER (WHERE kind NOT IN ('invalidate', 'pre_ping_fail'))
                   + count(DISTINCT CASE WHEN kind IN ('invalidate', 'pre_ping_fail') THEN t_ms // 50 END) AS n
            FROM c_drops GROUP BY ALL
        ), per_host AS (
            SELECT grp, host, max(n) AS n FROM per_file GROUP BY ALL
        ), errs AS (
            SELECT grp, sum(n)::INTEGER AS errors FROM per_host GROUP BY grp
        ), g AS (
            SELECT grp,
                   min(ts) AS start_ts, max(ts) AS end_ts,
                   min(t_ms) AS start_ms, max(t_ms) AS end_ms,
                   -- the first drop, by what it says rather than where it was read from, so
                   -- the id does not depend on the folder the logs were ingested from
                   first(coalesce(host, '') || '|' || kind || '|' || t_ms::VARCHAR || '|' || coalesce(message, '')
                         ORDER BY t_ms, event_id) AS first_event,
                   list(DISTINCT host ORDER BY host) FILTER (WHERE host IS NOT NULL) AS hosts,
                   count(*) AS n_lines,
                   count(*) FILTER (WHERE source = 'app') AS n_app
            FROM c_drops GROUP BY grp
        )
        SELECT g.*, errs.errors,
               strftime(timezone('UTC', g.start_ts), '%Y%m%d-%H%M%S') || '-'
                   || substr(md5(g.first_event), 1, 6) AS incident_id,
               -- evidence windows stop half-way to the neighbouring incidents
               (lag(g.end_ms) OVER (ORDER BY g.grp) + g.start_ms) / 2 AS prev_mid_ms,
               (lead(g.start_ms) OVER (ORDER BY g.grp) + g.end_ms) / 2 AS next_mid_ms,
               greatest(g.start_ms - {pre}, coalesce(prev_mid_ms, -1e18)) AS lo_ms,
               least(g.end_ms + {post}, coalesce(next_mid_ms, 1e18)) AS hi_ms
        FROM g JOIN errs USING (grp)
        ORDER BY grp
        """
    )
    return con.execute("SELECT count(*) FROM c_inc").fetchone()[0]
