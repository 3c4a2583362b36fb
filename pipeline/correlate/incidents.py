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
50 ms of each other once; per host we take the application's file that saw the
most (the application logs one line per failed request; the pool adds its retries
and reconnects), or the pool's when the application logged none; ``errors`` is the
sum over hosts.

Server lines make incidents only where no application log covers their time
(``client_cover_seconds``): then the server's log is all there is, and its
refusals, aborted connections and restarts are grouped apart from each other
("server log only").  Idle kills that come one at a time over hours are merged
into episodes after a first verdict (:func:`episode_map`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.engines import Engine

from pipeline.correlate.evidence import SERVER_CATEGORY_SQL
from pipeline.kinds import CLIENT_DROP_KINDS, CLIENT_SOURCES, SERVER_DROP_KINDS, SERVER_SOURCES
from pipeline.store import event_id_sql, event_rows_sql, message_sql
from pipeline.traits import has_trait

# Causes whose failures come one at a time, minutes or hours apart: their incidents merge
# into episodes.
EPISODE_CAUSES = ("idle_timeout",)


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def build_incidents(con: Engine, s: dict[str, Any]) -> int:
    """Create ``c_drops`` and ``c_inc``; return the number of incidents."""
    gap = float(s["gap_seconds"])
    cover = float(s["client_cover_seconds"]) * 1000.0
    slack = float(s["restart_slack_seconds"]) * 1000.0
    episode_gap = float(s["episode_gap_seconds"]) * 1000.0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_drops AS
        WITH client AS (
            SELECT e.rowid AS rid, {event_id_sql()} AS event_id, e.ts, e.source, f.host, f.file, e.line_no, e.kind,
                   e.error_code, e.conn_ref, {message_sql()} AS message, e.raw, e.traits, epoch_ms(e.ts) AS t_ms
            FROM {event_rows_sql()}
            WHERE e.source IN ({_in_list(CLIENT_SOURCES)})
              AND e.kind IN ({_in_list(CLIENT_DROP_KINDS)})
        ), covered AS (
            -- the span of each application log, widened: its server lines are its to explain
            SELECT min(epoch_ms(ts)) - {cover} AS lo_ms, max(epoch_ms(ts)) + {cover} AS hi_ms
            FROM event_rows WHERE source IN ({_in_list(CLIENT_SOURCES)}) GROUP BY file_id
        ), server AS (
            SELECT e.rowid AS rid, {event_id_sql()} AS event_id, e.ts, e.source, f.host, f.file, e.line_no, e.kind,
                   e.error_code, e.conn_ref, {message_sql()} AS message, e.raw, e.traits, epoch_ms(e.ts) AS t_ms
            FROM {event_rows_sql()}
            WHERE e.source IN ({_in_list(SERVER_SOURCES)})
              AND e.kind IN ({_in_list(SERVER_DROP_KINDS)})
              AND NOT EXISTS (SELECT 1 FROM covered c WHERE epoch_ms(e.ts) BETWEEN c.lo_ms AND c.hi_ms)
        ), d AS (
            -- lanes grouped apart: client drops; the server going away; the server refusing
            -- or aborting connections (only where no application log covers the time)
            SELECT *, 'client' AS lane FROM client
            UNION ALL
            SELECT *, CASE WHEN kind IN ('server_stop', 'server_start') THEN 'restart'
                           -- the server closing idle clients: kills come one at a time
                           WHEN ({SERVER_CATEGORY_SQL}) = 'abort_timeout'
                           THEN 'idle' ELSE 'conn' END
            FROM server
        ), o AS (
            SELECT *, t_ms - lag(t_ms) OVER (PARTITION BY lane ORDER BY t_ms, event_id) AS dt_ms FROM d
        ), l AS (
            SELECT *, sum(CASE WHEN dt_ms IS NULL OR dt_ms > (CASE WHEN lane = 'idle' THEN {episode_gap} ELSE {gap * 1000.0} END)
                               THEN 1 ELSE 0 END)
                          OVER (PARTITION BY lane ORDER BY t_ms, event_id ROWS UNBOUNDED PRECEDING) AS lane_grp
            FROM o
        ), spans AS (
            SELECT lane, lane_grp, min(t_ms) AS lo_ms, max(t_ms) AS hi_ms FROM l GROUP BY ALL
        ), owner AS (
            -- connections refused or aborted while the server went down and came back belong
            -- to that restart
            SELECT c.lane, c.lane_grp, min(r.lane_grp) AS restart_grp
            FROM spans c LEFT JOIN spans r
              ON c.lane IN ('conn', 'idle') AND r.lane = 'restart'
             AND c.lo_ms <= r.hi_ms + {slack} AND c.hi_ms >= r.lo_ms - {slack}
            GROUP BY ALL
        ), keyed AS (
            SELECT l.*, CASE WHEN w.restart_grp IS NULL THEN l.lane ELSE 'restart' END AS k_lane,
                   coalesce(w.restart_grp, l.lane_grp) AS k_grp
            FROM l JOIN owner w USING (lane, lane_grp)
        ), starts AS (
            SELECT *, min(t_ms) OVER (PARTITION BY k_lane, k_grp) AS group_start_ms FROM keyed
        )
        SELECT rid, event_id, ts, source, host, file, line_no, kind, error_code, conn_ref, message, raw, t_ms,
               dense_rank() OVER (ORDER BY group_start_ms, k_lane, k_grp) AS grp,
               -- what the error text said (decided at ingest: pipeline/traits.py)
               {has_trait("refused")} AS is_refused,
               {has_trait("timed_out")} AS is_timed_out,
               {has_trait("reset")} AS is_reset,
               {has_trait("during_query")} AS is_during_query,
               -- the server told the client it was going away (PostgreSQL's fast shutdown ends
               -- sessions "due to administrator command"; MySQL's 1053)
               {has_trait("told_shutdown")} AS is_shutdown
        FROM starts
        """
    )
    # a server-only group is an incident when the server stopped or started, refused a
    # connection for want of slots, or refused or aborted enough connections otherwise to be
    # more than routine (a mistyped password, a client idle past wait_timeout)
    con.execute(
        f"""
        DELETE FROM c_drops WHERE grp IN (
            SELECT grp FROM c_drops GROUP BY grp
            HAVING bool_and(source IN ({_in_list(SERVER_SOURCES)}))
               AND ((NOT bool_or(kind IN ('server_stop', 'server_start', 'too_many_connections'))
                     AND count(*) < {int(s["server_only_min_lines"])})
                    -- a start with nothing before it: the log (or the server's life) begins there
                    OR bool_and(kind = 'server_start'))
        )
        """
    )
    return build_groups(con, s)


def build_groups(con: Engine, s: dict[str, Any], episodes: frozenset[int] = frozenset()) -> int:
    """Create ``c_inc`` from ``c_drops``: one row per group (``grp``); return how many.

    ``episodes`` are groups merged from several incidents of one cause (see
    :func:`episode_map`): their idle limits are read from a longer span.
    """
    pre = float(s["lookback_seconds"]) * 1000.0
    post = float(s["lookahead_seconds"]) * 1000.0
    episode_list = ", ".join(str(int(g)) for g in sorted(episodes))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_inc AS
        WITH per_file AS (
            -- per minute, so that files of one host that follow each other (a rotated log, the
            -- logs of an episode's hours) add up while copies of the same lines do not
            SELECT grp, host, file, source, t_ms // 60000 AS minute,
                   count(*) FILTER (WHERE kind NOT IN ('invalidate', 'pre_ping_fail', 'server_stop', 'server_start'))
                   + count(DISTINCT CASE WHEN kind IN ('invalidate', 'pre_ping_fail') THEN t_ms // 50 END) AS n
            FROM c_drops GROUP BY ALL
        ), per_host AS (
            -- the application's own lines say which requests failed; the pool's lines (retries,
            -- reconnects, invalidations) count only on a host whose application logged none
            SELECT grp, host, minute,
                   coalesce(max(n) FILTER (WHERE source = 'app'), max(n)) AS n
            FROM per_file GROUP BY ALL
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
                   count(*) FILTER (WHERE source = 'app') AS n_app,
                   bool_and(source IN ({_in_list(SERVER_SOURCES)})) AS server_only
            FROM c_drops GROUP BY grp
        ), mids AS (
            SELECT g.*, errs.errors,
                   strftime(timezone('UTC', g.start_ts), '%Y%m%d-%H%M%S') || '-'
                       || substr(md5(g.first_event), 1, 6) AS incident_id,
                   -- evidence windows stop half-way to the neighbouring incidents
                   (lag(g.end_ms) OVER (ORDER BY g.grp) + g.start_ms) / 2 AS prev_mid_ms,
                   (lead(g.start_ms) OVER (ORDER BY g.grp) + g.end_ms) / 2 AS next_mid_ms
            FROM g JOIN errs USING (grp)
        )
        SELECT *,
               -- (an episode can span a shorter incident of another cause: each window
               -- still covers its own incident)
               least(start_ms, greatest(start_ms - {pre}, coalesce(prev_mid_ms, -1e18))) AS lo_ms,
               greatest(end_ms, least(end_ms + {post}, coalesce(next_mid_ms, 1e18))) AS hi_ms,
               {f"grp IN ({episode_list})" if episode_list else "false"} AS is_episode
        FROM mids
        ORDER BY grp
        """
    )
    row = con.execute("SELECT count(*) FROM c_inc").fetchone()
    return int(row[0]) if row else 0


def episode_map(incidents: list[dict[str, Any]], causes: dict[int, str], s: dict[str, Any]) -> dict[int, int]:
    """Incidents to merge into episodes: {grp: the episode's first grp}.

    Real idle limits are minutes to hours, so an idle kill is an isolated failure, and a quiet
    night of them is a string of one-drop incidents minutes apart.  Consecutive incidents
    named ``idle_timeout`` that share a host and lie less than ``episode_gap_seconds`` apart
    are one finding (with more evidence for the limit than any of them alone).  Incidents of
    other causes in between stay incidents of their own.
    """
    gap = float(s["episode_gap_seconds"]) * 1000.0
    out: dict[int, int] = {}
    open_episodes: list[dict[str, Any]] = []  # each: first grp, end, hosts
    for inc in sorted(incidents, key=lambda i: (i["start_ms"], i["grp"])):
        if causes.get(inc["grp"]) not in EPISODE_CAUSES:
            continue
        hosts = set(inc["hosts"])
        open_episodes = [e for e in open_episodes if inc["start_ms"] - e["end_ms"] <= gap]
        episode = next((e for e in open_episodes if e["hosts"] & hosts or not (e["hosts"] and hosts)), None)
        if episode is None:
            open_episodes.append({"grp": inc["grp"], "end_ms": inc["end_ms"], "hosts": hosts})
            continue
        out[inc["grp"]] = episode["grp"]
        out.setdefault(episode["grp"], episode["grp"])
        episode["end_ms"] = max(episode["end_ms"], inc["end_ms"])
        episode["hosts"] |= hosts
    return out


def merge_groups(con: Engine, mapping: dict[int, int]) -> None:
    """Renumber ``c_drops`` so each merged incident's drops carry its episode's ``grp``."""
    if not mapping:
        return
    pairs = ", ".join(f"({int(a)}, {int(b)})" for a, b in sorted(mapping.items()))
    con.execute(
        f"""
        UPDATE c_drops SET grp = m.to_grp
        FROM (VALUES {pairs}) AS m(from_grp, to_grp)
        WHERE c_drops.grp = m.from_grp
        """
    )


def aborts_claimed_by_clients(incidents: list[dict[str, Any]], causes: dict[int, str], s: dict[str, Any]) -> list[int]:
    """Server-only idle kills that a later client incident explains: {server-only grp}.

    The server logs an idle kill when the connection expires ("Got timeout reading
    communication packets" at wait_timeout); the application finds out at its next use of
    that connection, minutes or hours later.  Idle-kill aborts followed, within
    ``idle_lookback_seconds``, by client failures are those failures' evidence, not an incident
    of their own: the client incident and the server-only one describe the same event.
    """
    lookback = float(s["idle_lookback_seconds"]) * 1000.0
    clients = [i for i in incidents if not i["server_only"] and i["errors"]]
    claimed = []
    for inc in incidents:
        if not inc["server_only"] or causes.get(inc["grp"]) != "idle_timeout":
            continue
        if any(0 <= c["start_ms"] - inc["end_ms"] <= lookback for c in clients):
            claimed.append(inc["grp"])
    return claimed
