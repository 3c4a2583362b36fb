"""Evidence around each incident, gathered set-wise in SQL.

``gather`` returns, per incident number (``grp``):

* ``features``: counts the cause rules score (client error kinds, server lines by
  category, high/lost latency samples, metric peaks, idle failures);
* ``rows``: a bounded number of candidate evidence lines per category, each with
  the file and line number it came from.

These are the facts several causes score from.  A fact only one cause needs is gathered by
that cause's own queries (``gather`` in ``pipeline/causes/<name>.py``), over the same
temporary tables, after these.

Windows: server lines, latency samples and metrics count for an incident when
they fall between ``lookback_seconds`` before its first drop and
``lookahead_seconds`` after its last.  "timeout reading" aborts (idle kills) are
looked for further back: as far as the longest idle time of a connection that
failed in the incident (the server logs the kill when the connection expires,
the client notices at its next checkout), capped by ``idle_lookback_seconds``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.engines import Engine

from collections import defaultdict

from pipeline.store import event_id_sql, event_rows_sql, message_sql
from pipeline.traits import has_trait

# Server-side line categories (events from mysql/postgres sources), from their kind and
# what their text said (pipeline/traits.py).
SERVER_CATEGORY_SQL = f"""
    CASE
        WHEN kind = 'server_stop' THEN 'srv_stop'
        WHEN kind = 'server_start' THEN 'srv_start'
        WHEN kind = 'too_many_connections' OR {has_trait("server_too_many")} THEN 'srv_tmc'
        WHEN kind = 'access_denied' OR {has_trait("server_access")} THEN 'srv_access'
        WHEN kind = 'idle_disconnect' OR {has_trait("server_idle_abort")} THEN 'abort_timeout'
        WHEN kind = 'connection_reset' OR {has_trait("server_abort_error")} THEN 'abort_error'
    END
"""


def _rows(con: Engine, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _add_features(features: dict[int, dict[str, Any]], con: Engine, sql: str) -> None:
    """Add each incident's facts from a query with a ``grp`` column and one row per incident."""
    for r in _rows(con, sql):
        features[r.pop("grp")].update(r)


def gather(
    con: Engine, s: dict[str, Any]
) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]], dict[str, Any]]:
    pre = float(s["lookback_seconds"]) * 1000.0
    post = float(s["lookahead_seconds"]) * 1000.0
    idle_back = float(s["idle_lookback_seconds"]) * 1000.0
    restart_slack = float(s["restart_slack_seconds"]) * 1000.0
    n_per = int(s["evidence_per_kind"])
    features: dict[int, dict[str, Any]] = defaultdict(dict)
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)

    # --- the server's wait_timeout in force at each incident: per host the last sample
    # before the incident ends, and the smallest over hosts (it is the one that kills)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_wt AS
        WITH w AS (
            SELECT host, epoch_ms(ts) AS t_ms, value, file, line_no FROM metrics WHERE name = 'wait_timeout'
        ), last AS (
            -- per incident and host, the last sample at or before the incident's end
            SELECT i.grp, w.host, w.t_ms, w.value, w.file, w.line_no,
                   row_number() OVER (PARTITION BY i.grp, w.host
                                      ORDER BY w.t_ms DESC, w.value, w.file, w.line_no) AS rn
            FROM c_inc i JOIN w ON i.end_ms >= w.t_ms
        ), ranked AS (
            SELECT grp, host, t_ms, value, file, line_no,
                   row_number() OVER (PARTITION BY grp ORDER BY value, t_ms, file, line_no) AS rn
            FROM last WHERE rn = 1
        )
        SELECT grp, host, t_ms, value, file, line_no FROM ranked WHERE rn = 1
        """
    )
    # --- client-side features
    _add_features(
        features,
        con,
        """
        WITH base AS (
            SELECT d.*, i.n_app FROM c_drops d JOIN c_inc i USING (grp)
            WHERE (i.n_app > 0 AND d.source = 'app') OR (i.n_app = 0 AND d.source = 'sqlalchemy')
        )
        SELECT grp,
               count(*) AS n_base,
               count(*) FILTER (WHERE kind = 'too_many_connections') AS n_1040,
               count(*) FILTER (WHERE kind = 'pool_timeout') AS n_pool_timeout,
               count(*) FILTER (WHERE kind = 'access_denied') AS n_access,
               count(*) FILTER (WHERE kind IN ('cant_connect', 'unknown_host')) AS n_cant_connect,
               count(*) FILTER (WHERE kind = 'cant_connect' AND is_refused) AS n_refused,
               count(*) FILTER (WHERE kind = 'server_gone') AS n_2006,
               count(*) FILTER (WHERE kind = 'lost_connection') AS n_2013,
               count(*) FILTER (WHERE kind = 'idle_disconnect') AS n_4031,
               count(*) FILTER (WHERE kind IN ('invalidate', 'pre_ping_fail', 'reset_fail')) AS n_pool_drop,
               count(*) FILTER (WHERE is_timed_out) AS n_timed_out,
               count(*) FILTER (WHERE is_reset) AS n_reset,
               count(*) FILTER (WHERE is_during_query AND kind = 'lost_connection') AS n_during_query,
               count(*) FILTER (WHERE is_shutdown) AS n_told_shutdown,
               max(TRY_CAST(regexp_extract(coalesce(raw, message), 'QueuePool limit of size (\\d+)', 1) AS INTEGER)) AS pool_size,
               max(TRY_CAST(regexp_extract(coalesce(raw, message), 'overflow (\\d+) reached', 1) AS INTEGER)) AS max_overflow,
               max(TRY_CAST(regexp_extract(coalesce(raw, message), 'timeout (\\d+(?:\\.\\d+)?)', 1) AS DOUBLE))
                   FILTER (WHERE kind = 'pool_timeout') AS pool_timeout_s
        FROM base GROUP BY grp
        """,
    )

    # --- idle time of the connections that failed in each incident
    _add_features(
        features,
        con,
        """
        SELECT d.grp,
               count(*) AS n_fail_checkouts,
               count(*) FILTER (WHERE c.idle_s IS NOT NULL) AS n_fail_known_idle,
               count(*) FILTER (WHERE c.idle_s >= l.fail_min) AS n_idle_over_limit,
               count(*) FILTER (WHERE c.idle_s >= wt.value) AS n_idle_over_wait,
               max(c.idle_s) AS max_fail_idle,
               min(c.idle_s) AS min_fail_idle,
               count(*) FILTER (WHERE (c.fail_ms - c.t_ms) > 1000.0 AND coalesce(c.idle_s < l.fail_min, true))
                   AS n_mid_use
        FROM c_checkouts c
        JOIN c_drops d ON d.rid = c.fail_rid
        LEFT JOIN c_idle_inc l ON l.grp = d.grp AND l.host IS NOT DISTINCT FROM c.host AND l.valid
        LEFT JOIN c_wt wt ON wt.grp = d.grp
        WHERE c.failed
        GROUP BY d.grp
        """,
    )

    # --- server lines
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_srv AS
        SELECT *,
               -- when the server was next ready again after this line
               min(CASE WHEN cat = 'srv_start' THEN t_ms END) OVER (
                   PARTITION BY host ORDER BY t_ms, file, line_no
                   ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_start_ms
        FROM (
            SELECT event_id, epoch_ms(ts) AS t_ms, source, host, file, line_no, kind, raw, traits,
                   msg, {SERVER_CATEGORY_SQL} AS cat
            FROM (SELECT *, coalesce(message, '') AS msg FROM events
                  WHERE source IN ('mysql', 'postgres'))
        ) WHERE cat IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_srv_inc AS
        WITH idle_back AS (
            SELECT i.grp, i.start_ms, i.end_ms, i.hi_ms,
                   -- as far back as the longest idle of a connection that failed; where no line
                   -- says how long they idled, the whole idle_lookback_seconds
                   greatest(i.start_ms - least({idle_back}, greatest({pre}, coalesce(f.max_idle * 1000.0 + 30000.0, {idle_back}))),
                            coalesce(i.prev_mid_ms, -1e18)) AS lo_ms
            FROM c_inc i LEFT JOIN (
                SELECT d.grp, max(c.idle_s) AS max_idle FROM c_checkouts c
                JOIN c_drops d ON d.rid = c.fail_rid WHERE c.failed GROUP BY d.grp
            ) f USING (grp)
        )
        SELECT i.grp, s.* FROM c_srv s JOIN c_inc i
          ON s.t_ms BETWEEN i.lo_ms AND i.hi_ms
        WHERE s.cat <> 'abort_timeout'
          -- an episode is idle kills one at a time: a restart inside its hours is an incident
          -- of its own (if it dropped anything), not evidence about the kills
          AND NOT (i.is_episode AND s.cat IN ('srv_stop', 'srv_start'))
          AND (NOT i.is_episode OR (
              EXISTS (SELECT 1 FROM c_drops d
                      WHERE d.grp = i.grp AND s.t_ms BETWEEN d.t_ms - {pre} AND d.t_ms + {post})
              AND NOT EXISTS (
                  SELECT 1 FROM c_inc o
                  WHERE o.grp <> i.grp AND o.start_ms >= i.start_ms AND o.end_ms <= i.end_ms
                    AND s.t_ms BETWEEN o.lo_ms AND o.hi_ms)))
          -- a server that came up before the first failure, or went down after the
          -- last one, did not cause them
          AND NOT (s.cat = 'srv_start' AND s.t_ms < i.start_ms - {restart_slack})
          AND NOT (s.cat = 'srv_stop' AND s.t_ms > i.end_ms)
          -- nor did a shutdown the server had recovered from before the first failure
          -- (a shutdown never followed by a start has no next_start_ms: it stays)
          AND NOT coalesce(s.cat = 'srv_stop' AND s.next_start_ms < i.start_ms - {restart_slack}, false)
        UNION ALL
        SELECT b.grp, s.* FROM c_srv s JOIN idle_back b
          ON s.t_ms BETWEEN b.lo_ms AND b.hi_ms
        WHERE s.cat = 'abort_timeout'
        """
    )
    _add_features(
        features,
        con,
        f"""
        SELECT grp,
               count(*) FILTER (WHERE cat = 'srv_stop') AS srv_stop,
               count(*) FILTER (WHERE cat = 'srv_start') AS srv_start,
               count(*) FILTER (WHERE cat = 'srv_tmc') AS srv_tmc,
               count(*) FILTER (WHERE cat = 'srv_access') AS srv_access,
               count(*) FILTER (WHERE cat = 'abort_timeout') AS abort_timeout,
               count(*) FILTER (WHERE cat = 'abort_error') AS abort_error,
               count(*) FILTER (WHERE cat = 'srv_stop' AND {has_trait("server_crash")})
                   AS srv_crash,
               min(t_ms) FILTER (WHERE cat = 'srv_stop') AS stop_ms,
               min(t_ms) FILTER (WHERE cat = 'abort_timeout') AS abort_timeout_first_ms,
               max(t_ms) FILTER (WHERE cat = 'srv_start') AS start_ms_srv
        FROM c_srv_inc GROUP BY grp
        """,
    )
    rows_srv = _rows(
        con,
        f"""
        SELECT grp, 'srv:' || cat AS category, source, t_ms, kind, raw, msg AS line, file, line_no, event_id,
               NULL::DOUBLE AS value, NULL::DOUBLE AS ref
        FROM (SELECT *, row_number() OVER (PARTITION BY grp, cat ORDER BY t_ms, file, line_no) AS rn
              FROM c_srv_inc) WHERE rn <= {n_per}
        ORDER BY grp, category, t_ms, file, line_no
        """,
    )

    # --- latency: per-target robust baseline, then high / lost samples near incidents
    k = float(s["latency_mad_k"])
    rel = float(s["latency_rel_floor"])
    floor_ms = float(s["latency_abs_floor_ms"])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_lat AS
        WITH med AS (
            SELECT host, target, median(rtt_ms) AS med FROM latency GROUP BY host, target
        ), base AS (
            -- mad(): the median absolute deviation from the median
            SELECT l.host, l.target, m.med, median(abs(l.rtt_ms - m.med)) AS mad,
                   avg(l.lost::INTEGER) AS loss_rate, count(*) AS n
            FROM latency l JOIN med m ON l.host IS NOT DISTINCT FROM m.host AND l.target IS NOT DISTINCT FROM m.target
            GROUP BY l.host, l.target, m.med
        )
        SELECT epoch_ms(l.ts) AS t_ms, l.host, l.target, l.rtt_ms, l.lost, l.file, l.line_no,
               b.med, b.loss_rate,
               b.med + greatest({k} * 1.4826 * coalesce(b.mad, 0), {rel} * coalesce(b.med, 0), {floor_ms}) AS limit_ms
        FROM latency l JOIN base b
          ON l.host IS NOT DISTINCT FROM b.host AND l.target IS NOT DISTINCT FROM b.target
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_lat_inc AS
        SELECT i.grp, l.* FROM c_lat l JOIN c_inc i
          ON l.t_ms BETWEEN i.lo_ms AND i.hi_ms
        -- an episode spans hours: only the samples around its own failures are its evidence
        -- (and not those of another incident inside it)
        WHERE NOT i.is_episode OR (
            EXISTS (SELECT 1 FROM c_drops d
                    WHERE d.grp = i.grp AND l.t_ms BETWEEN d.t_ms - {pre} AND d.t_ms + {post})
            AND NOT EXISTS (
                SELECT 1 FROM c_inc o
                WHERE o.grp <> i.grp AND o.start_ms >= i.start_ms AND o.end_ms <= i.end_ms
                  AND l.t_ms BETWEEN o.lo_ms AND o.hi_ms))
        """
    )
    _add_features(
        features,
        con,
        """
        SELECT grp, count(*) AS lat_samples,
               count(*) FILTER (WHERE NOT lost AND rtt_ms > limit_ms) AS lat_high,
               count(*) FILTER (WHERE lost) AS lat_lost,
               -- lost probes beyond what the target loses anyway
               greatest(0, count(*) FILTER (WHERE lost) - sum(loss_rate)) AS lat_lost_excess,
               max(rtt_ms) AS lat_max, median(med) AS lat_med,
               list(DISTINCT target ORDER BY target) FILTER (WHERE lost OR rtt_ms > limit_ms) AS lat_targets,
               min(t_ms) FILTER (WHERE lost OR rtt_ms > limit_ms) AS lat_first_ms,
               max(t_ms) FILTER (WHERE lost OR rtt_ms > limit_ms) AS lat_last_ms
        FROM c_lat_inc GROUP BY grp
        """,
    )
    rows_lat = _rows(
        con,
        f"""
        SELECT grp, category, 'latency' AS source, t_ms, category AS kind, NULL AS raw,
               coalesce(target, '?') || CASE WHEN lost THEN ' probe lost'
                   ELSE ' rtt=' || round(rtt_ms, 1) || ' ms' END AS line,
               file, line_no, NULL AS event_id, rtt_ms AS value, med AS ref
        FROM (
            SELECT *, CASE WHEN lost THEN 'latency_lost' ELSE 'latency_high' END AS category,
                   row_number() OVER (PARTITION BY grp, lost ORDER BY
                       CASE WHEN lost THEN t_ms ELSE -rtt_ms END, file, line_no) AS rn
            FROM c_lat_inc WHERE lost OR rtt_ms > limit_ms
        ) WHERE rn <= {n_per}
        ORDER BY grp, category, t_ms, file, line_no
        """,
    )

    # --- metrics: threads_connected against max_connections, uptime resets, wait_timeout
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_met AS
        WITH both_ AS (
            -- threads_connected and max_connections samples in time order, each limit before
            -- the samples of its instant: a sample's limit is the last one at or before it
            SELECT ts, host, name, value, file, line_no,
                   sum(CASE WHEN name = 'max_connections' THEN 1 ELSE 0 END) OVER (
                       PARTITION BY host ORDER BY ts, CASE WHEN name = 'max_connections' THEN 0 ELSE 1 END,
                                                  file, line_no
                       ROWS UNBOUNDED PRECEDING) AS mc_seq
            FROM metrics WHERE name IN ('threads_connected', 'max_connections')
        ), tc AS (
            SELECT *, max(CASE WHEN name = 'max_connections' THEN value END) OVER (PARTITION BY host, mc_seq) AS mc_value
            FROM both_
        ), mcl AS (
            -- the latest limit of the host, for samples older than any
            SELECT host, max(CASE WHEN rn = 1 THEN value END) AS value FROM (
                SELECT host, value, row_number() OVER (PARTITION BY host ORDER BY ts DESC, file DESC, line_no DESC) AS rn
                FROM metrics WHERE name = 'max_connections'
            ) GROUP BY host
        ), up AS (
            SELECT ts, host, value, file, line_no,
                   lag(value) OVER (PARTITION BY host ORDER BY ts, file, line_no) AS prev
            FROM metrics WHERE name = 'uptime'
        )
        SELECT epoch_ms(tc.ts) AS t_ms, tc.host, 'threads_connected' AS category, tc.value,
               coalesce(tc.mc_value, mcl.value) AS ref, tc.file, tc.line_no
        FROM tc LEFT JOIN mcl ON tc.host IS NOT DISTINCT FROM mcl.host
        WHERE tc.name = 'threads_connected'
        UNION ALL
        -- a restart happened ``uptime`` seconds before the sample that shows it
        SELECT epoch_ms(ts) - round(value * 1000)::BIGINT, host, 'uptime_reset', value, prev, file, line_no
        FROM up WHERE prev IS NOT NULL AND value < prev
        """
    )
    ratio = float(s["max_connections_ratio"])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_met_inc AS
        SELECT i.grp, m.* FROM c_met m JOIN c_inc i
          ON m.t_ms BETWEEN i.lo_ms AND i.hi_ms
        -- like a 'ready for connections' line: a server back up before the first failure
        -- did not cause it
        WHERE NOT (m.category = 'uptime_reset' AND m.t_ms < i.start_ms - {restart_slack})
          -- an episode: only the snapshots around its own failures, and no restarts (above)
          AND NOT (i.is_episode AND m.category = 'uptime_reset')
          AND (NOT i.is_episode OR EXISTS (
              SELECT 1 FROM c_drops d
              WHERE d.grp = i.grp AND m.t_ms BETWEEN d.t_ms - {pre} AND d.t_ms + {post}))
        """
    )
    _add_features(
        features,
        con,
        """
        SELECT grp,
               max(value) FILTER (WHERE category = 'threads_connected') AS threads_peak,
               -- the limit in force when the server was fullest (it may change at run time)
               arg_max(ref, value / ref) FILTER (WHERE category = 'threads_connected' AND ref > 0)
                   AS max_connections,
               max(value / ref) FILTER (WHERE category = 'threads_connected' AND ref > 0) AS threads_ratio,
               count(*) FILTER (WHERE category = 'threads_connected') AS threads_samples,
               count(*) FILTER (WHERE category = 'uptime_reset') AS uptime_resets
        FROM c_met_inc GROUP BY grp
        """,
    )
    rows_met = _rows(
        con,
        f"""
        SELECT grp, category, 'metrics' AS source, t_ms, category AS kind, NULL AS raw,
               CASE WHEN category = 'uptime_reset'
                    THEN 'uptime ' || round(value)::BIGINT || ' (was ' || round(ref)::BIGINT || ')'
                    ELSE 'threads_connected ' || round(value)::BIGINT
                         || coalesce(' of max_connections ' || round(ref)::BIGINT, '')
               END AS line, file, line_no, NULL AS event_id, value, ref
        FROM (
            SELECT *, row_number() OVER (PARTITION BY grp, category ORDER BY
                CASE WHEN category = 'threads_connected' THEN -value ELSE t_ms END, t_ms, file, line_no) AS rn
            FROM c_met_inc WHERE category = 'uptime_reset' OR (ref > 0 AND value / ref >= {ratio})
        ) WHERE rn <= 1
        ORDER BY grp, category, t_ms, file, line_no
        """,
    )
    rows_wait = _rows(
        con,
        """
        SELECT grp, 'metric:wait_timeout' AS category, 'metrics' AS source, t_ms, 'wait_timeout' AS kind,
               NULL AS raw, 'wait_timeout ' || round(value)::BIGINT AS line, file, line_no, NULL AS event_id, value,
               NULL::DOUBLE AS ref
        FROM c_wt
        """,
    )
    for grp, value in con.execute("SELECT grp, value FROM c_wt").fetchall():
        features[grp]["wait_timeout"] = value

    # --- client lines: one per failure (the same failure logged by several files of a
    # host shows once), the first and last few of each kind
    rows_cli = _rows(
        con,
        f"""
        WITH d AS (
            SELECT *, row_number() OVER (
                       PARTITION BY grp, host, kind, t_ms // 1000
                       ORDER BY CASE WHEN file ILIKE '%.json%' THEN 1 ELSE 0 END, file, line_no) AS dup
            FROM c_drops
        ), r AS (
            SELECT *, row_number() OVER (PARTITION BY grp, kind ORDER BY t_ms, file, line_no) AS rn_first,
                      row_number() OVER (PARTITION BY grp, kind ORDER BY t_ms DESC, file, line_no) AS rn_last
            FROM d WHERE dup = 1
        )
        SELECT grp, 'client:' || kind AS category, source, t_ms, kind, raw, message AS line,
               file, line_no, event_id, NULL::DOUBLE AS value, NULL::DOUBLE AS ref,
               is_refused, is_timed_out, is_reset, is_during_query
        FROM r WHERE rn_first <= {max(1, n_per - 1)} OR rn_last = 1
        ORDER BY grp, category, t_ms, file, line_no
        """,
    )
    # --- idle connections that failed, and the longest idle that worked (per host)
    rows_idle = _rows(
        con,
        f"""
        WITH pick AS (
            SELECT * FROM (
                SELECT d.grp, c.*,
                       row_number() OVER (PARTITION BY d.grp ORDER BY c.idle_s DESC, c.t_ms, c.line_no, c.rid) AS rn_hi,
                       row_number() OVER (PARTITION BY d.grp ORDER BY c.idle_s, c.t_ms, c.line_no, c.rid) AS rn_lo
                FROM c_checkouts c JOIN c_drops d ON d.rid = c.fail_rid
                WHERE c.failed AND c.idle_s IS NOT NULL
            ) WHERE rn_hi <= {max(1, n_per - 1)} OR rn_lo = 1
        )
        SELECT p.grp, 'idle_fail' AS category, 'sqlalchemy' AS source, p.t_ms, 'checkout' AS kind, e.raw,
               {message_sql()} AS line, f.file, e.line_no, {event_id_sql()} AS event_id, p.idle_s AS value,
               (p.fail_ms - p.t_ms) / 1000.0 AS ref, p.host
        FROM pick p JOIN ({event_rows_sql()}) ON e.rowid = p.rid
        ORDER BY p.grp, p.t_ms, f.file, e.line_no
        """,
    )
    rows_ok = _rows(
        con,
        f"""
        SELECT l.grp, 'idle_ok' AS category, 'sqlalchemy' AS source, epoch_ms(e.ts) AS t_ms, 'checkout' AS kind,
               e.raw, {message_sql()} AS line, f.file, e.line_no, {event_id_sql()} AS event_id,
               l.ok_max AS value, NULL::DOUBLE AS ref
        FROM c_idle_inc l JOIN ({event_rows_sql()}) ON e.rowid = l.ok_rid
        WHERE l.valid
        ORDER BY l.grp, t_ms, f.file, e.line_no
        """,
    )
    for r in rows_srv + rows_lat + rows_met + rows_cli + rows_idle + rows_ok:
        rows[r.pop("grp")].append(r)
    ctx = {"wait_rows": {r.pop("grp"): r for r in rows_wait}}
    return features, rows, ctx
