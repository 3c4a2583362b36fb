"""Data health: what a store holds per source, and what it cannot judge.

Used by the dashboard's data-health page (and usable from notebooks).  Every
function takes an open connection (read-only is enough) and only aggregates,
so it stays fast on stores with millions of events.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pipeline.store import fetch_dicts, fetch_one

if TYPE_CHECKING:
    import duckdb
    import plotly.graph_objects as go

# The sources a user can have, in display order: event sources plus the two
# numeric tables.  ``what`` says what each one is needed for.
SOURCES: dict[str, str] = {
    "app": "application errors (the drops themselves)",
    "sqlalchemy": "pool events: idle times of connections, invalidations, pool timeouts",
    "mysql": "MySQL/MariaDB server log: aborted connections, restarts",
    "postgres": "PostgreSQL server log: terminated sessions, restarts",
    "latency": "latency probes: round-trip times and lost probes",
    "metrics": "server status: connections against max_connections",
}

# What a missing source means for the verdicts.
MISSING_MEANS: dict[str, str] = {
    "app": "no application log: the drops the application saw are unknown; incidents come from pool events only",
    "sqlalchemy": "no SQLAlchemy pool log: idle times cannot be measured, so `idle_timeout` rests on error "
    "codes alone and no idle limit can be inferred; `pool_exhausted` is seen only in app errors",
    "server": "no server log (MySQL/MariaDB or PostgreSQL): restarts and server-side aborts are invisible, "
    "so `server_restart` cannot be confirmed and `idle_timeout` cannot be told from a firewall",
    "latency": "no latency data: `network` cannot be judged (spikes and lost probes are invisible)",
    "metrics": "no server status snapshots: `max_connections` cannot be checked against connection counts",
}


def source_coverage(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One row per source in ``SOURCES``: rows, hosts, files, first and last timestamp.

    Sources with no data are included with ``rows == 0``.
    """
    found = {
        r["source"]: r
        for r in fetch_dicts(
            con,
            """
            SELECT source, count(*) AS rows, count(DISTINCT host) AS hosts,
                   count(DISTINCT file) AS files, min(ts) AS first, max(ts) AS last
            FROM events GROUP BY source
            UNION ALL
            SELECT 'latency', count(*), count(DISTINCT host), count(DISTINCT file), min(ts), max(ts)
            FROM latency
            UNION ALL
            SELECT 'metrics', count(*), count(DISTINCT host), count(DISTINCT file), min(ts), max(ts)
            FROM metrics
        """,
        )
    }
    out = []
    for source, what in SOURCES.items():
        row = found.pop(source, None) or {"rows": 0, "hosts": 0, "files": 0, "first": None, "last": None}
        out.append({"source": source, "what": what, **{k: row[k] for k in ("rows", "hosts", "files", "first", "last")}})
    for source, row in found.items():  # a source name this module does not know yet
        out.append({"source": source, "what": "", **{k: row[k] for k in ("rows", "hosts", "files", "first", "last")}})
    return out


def missing_sources(coverage: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The sources with no rows, each with what its absence means."""
    rows = {r["source"]: r["rows"] for r in coverage}
    missing = []
    for source in ("app", "sqlalchemy", "latency", "metrics"):
        if not rows.get(source):
            missing.append({"source": source, "means": MISSING_MEANS[source]})
    if not rows.get("mysql") and not rows.get("postgres"):
        missing.append({"source": "mysql/postgres", "means": MISSING_MEANS["server"]})
    return missing


def coverage_buckets(con: duckdb.DuckDBPyConnection, buckets: int = 120) -> list[dict[str, Any]]:
    """Rows per source in ``buckets`` equal time slices of the store's span (for a coverage chart).

    Returns ``{"source", "bucket_start", "bucket_end", "rows"}`` rows; empty slices are absent.
    """
    span = con.execute("""
        SELECT min(t0), max(t1) FROM (
            SELECT min(ts) AS t0, max(ts) AS t1 FROM events
            UNION ALL SELECT min(ts), max(ts) FROM latency
            UNION ALL SELECT min(ts), max(ts) FROM metrics)
    """).fetchone()
    if not span or span[0] is None:
        return []
    first, last = span
    width_s = max((last - first).total_seconds() / max(buckets, 1), 1.0)
    rows = fetch_dicts(
        con,
        """
        WITH t AS (
            SELECT source, epoch(ts) AS s FROM events
            UNION ALL SELECT 'latency', epoch(ts) FROM latency
            UNION ALL SELECT 'metrics', epoch(ts) FROM metrics
        )
        SELECT source, floor((s - epoch(?::TIMESTAMPTZ)) / ?)::BIGINT AS b, count(*) AS rows
        FROM t GROUP BY ALL ORDER BY source, b
    """,
        [first, width_s],
    )
    out = []
    for r in rows:
        start = first + dt.timedelta(seconds=r["b"] * width_s)
        out.append(
            {
                "source": r["source"],
                "bucket_start": start,
                "bucket_end": start + dt.timedelta(seconds=width_s),
                "rows": r["rows"],
            }
        )
    return out


def files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every ingested file with its format, host and counts."""
    return fetch_dicts(
        con,
        """
        SELECT path, format, host, timezone, compressed, size, bytes_done, lines_done,
               events, latency, metrics, rejects, ingested_at
        FROM files ORDER BY format, path""",
    )


def formats(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Files and rows per detected format."""
    return fetch_dicts(
        con,
        """
        SELECT format, count(*) AS files, sum(events) AS events, sum(latency) AS latency,
               sum(metrics) AS metrics, sum(rejects) AS rejects, sum(bytes_done) AS bytes
        FROM files GROUP BY format ORDER BY files DESC, format""",
    )


def reject_examples(con: duckdb.DuckDBPyConnection, per_reason: int = 3, reasons: int = 20) -> list[dict[str, Any]]:
    """Rejected lines by reason: count and up to ``per_reason`` examples with file, line and text."""
    return fetch_dicts(
        con,
        """
        WITH r AS (
            SELECT reason, file, line_no, raw,
                   row_number() OVER (PARTITION BY reason ORDER BY file, line_no) AS n,
                   count(*) OVER (PARTITION BY reason) AS lines
            FROM rejects
        )
        SELECT reason, lines, file, line_no, raw FROM r
        WHERE n <= ? AND reason IN (
            SELECT reason FROM rejects GROUP BY reason ORDER BY count(*) DESC LIMIT ?)
        ORDER BY lines DESC, reason, n""",
        [per_reason, reasons],
    )


def health_report(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Everything the data-health page shows, in one pass over the store."""
    coverage = source_coverage(con)
    return {
        "coverage": coverage,
        "missing": missing_sources(coverage),
        "buckets": coverage_buckets(con),
        "files": files(con),
        "formats": formats(con),
        "rejects": reject_examples(con),
        "rejected_lines": fetch_one(con, "SELECT count(*) FROM rejects")[0],
        "incidents": fetch_one(con, "SELECT count(*) FROM incidents")[0],
    }


def coverage_chart(buckets: list[dict[str, Any]], *, title: str | None = None) -> go.Figure:
    """Rows per source over time as a heat strip: gaps show when a source is missing."""
    import plotly.graph_objects as go

    if not buckets:
        fig = go.Figure()
        fig.add_annotation(text="no data", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(height=200, template="plotly_white", xaxis_visible=False, yaxis_visible=False)
        return fig
    order = [s for s in SOURCES if any(b["source"] == s for b in buckets)]
    order += sorted({b["source"] for b in buckets} - set(order))
    fig = go.Figure()
    for source in order:
        part = [b for b in buckets if b["source"] == source]
        fig.add_trace(
            go.Bar(
                x=[b["bucket_start"] + (b["bucket_end"] - b["bucket_start"]) / 2 for b in part],
                y=[0.8] * len(part),
                base=[order.index(source) - 0.4] * len(part),
                width=[(b["bucket_end"] - b["bucket_start"]).total_seconds() * 1000 for b in part],
                customdata=[b["rows"] for b in part],
                name=source,
                showlegend=False,
                marker=dict(opacity=0.85),
                hovertemplate=f"{source}: %{{customdata:,}} rows<br>%{{x}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title or "data per source over time (gaps: no data)",
        template="plotly_white",
        height=120 + 40 * len(order),
        barmode="overlay",
        bargap=0,
        yaxis=dict(
            tickmode="array",
            tickvals=list(range(len(order))),
            ticktext=order,
            range=[len(order) - 0.4, -0.6],
            showgrid=False,
        ),
        xaxis=dict(
            title="time (UTC)", range=[min(b["bucket_start"] for b in buckets), max(b["bucket_end"] for b in buckets)]
        ),
        margin=dict(l=90, r=20, t=50, b=40),
    )
    return fig
