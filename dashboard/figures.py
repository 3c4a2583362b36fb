"""The dashboard's figures, built once per store version and view.

Building a plotly figure from the cached frames costs a few tenths of a second
(plotly checks every trace); the figures are kept with ``st.cache_resource``,
keyed like the loaders of :mod:`dashboard.data` on the store path, the store's
version and the view, and shared read-only by every session: a rerun, a page
switch or a second visitor draws them without building anything.  A figure is
never changed once cached (``st.plotly_chart`` only reads it).

Every builder takes ``(db, ver, ...)`` first, like the loaders, so
``views.load`` calls both alike (including its fall back to the last version
read while an ingest holds the store).
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import data
from pipeline import charts

IDLE_POINTS = 5000  # idle-time points drawn at most


def _padded(start: dt.datetime, end: dt.datetime, bucket: dt.timedelta | None) -> list[dt.datetime]:
    """The x range of a view: its time range, with room for the first and last bucket's bars."""
    pad = max(bucket or dt.timedelta(0), (end - start) / 100)
    return [start - pad, end + pad]


@data._guard
@st.cache_resource(show_spinner=False, max_entries=32)
def overview_timeline(
    db: str,
    ver: tuple,
    start: dt.datetime,
    end: dt.datetime,
    hosts: tuple[str, ...],
    causes: tuple[str, ...],
    sources: tuple[str, ...],
) -> go.Figure:
    """The overview's timeline: every lane with data, incident bands, the cause colour key."""
    series = data.overview(db, ver, start, end, hosts, sources)
    incidents = data.incidents(db, ver, start, end, hosts, causes)
    fig = charts.timeline(series["counts"], series["latency"], series["metrics"], incidents, bucket=series["bucket"])
    fig.update_xaxes(range=_padded(start, end, series["bucket"]))
    return fig


@data._guard
@st.cache_resource(show_spinner=False, max_entries=32)
def incidents_by_cause(
    db: str, ver: tuple, start: dt.datetime, end: dt.datetime, hosts: tuple[str, ...], causes: tuple[str, ...]
) -> go.Figure:
    return charts.incidents_by_cause_chart(data.incidents(db, ver, start, end, hosts, causes))


@data._guard
@st.cache_resource(show_spinner=False, max_entries=32)
def incident_timeline(db: str, ver: tuple, incident_id: str, window_s: float) -> go.Figure | None:
    """The timeline around an incident, its evidence lines as diamonds."""
    found = _series_and_verdict(db, ver, incident_id, window_s)
    if found is None:
        return None
    series, verdict = found
    fig = charts.timeline(
        series["counts"], series["latency"], series["metrics"], series["neighbours"], bucket=series["bucket"]
    )
    mark_evidence(fig, verdict["evidence"])
    charts.fit_legend(fig)
    fig.update_xaxes(range=_padded(*series["window"], series["bucket"]))
    return fig


@data._guard
@st.cache_resource(show_spinner=False, max_entries=32)
def incident_latency(db: str, ver: tuple, incident_id: str, window_s: float) -> go.Figure | None:
    """Latency around an incident; None when no probe covers its time."""
    series = data.incident_series(db, ver, incident_id, window_s)
    latency = series["latency"] if series else None
    if latency is None or latency.height == 0:
        return None
    fig = charts.latency_chart(
        latency, series["incident"], title="Latency around the incident", bucket=series["bucket"]
    )
    return legend_below(fig)


def _series_and_verdict(db: str, ver: tuple, incident_id: str, window_s: float) -> tuple[dict, dict] | None:
    """The series around an incident and its verdict; None when either is missing."""
    series = data.incident_series(db, ver, incident_id, window_s)
    verdict = data.incident(db, ver, incident_id)
    return None if series is None or verdict is None else (series, verdict)


def known_idle(idle: pl.DataFrame | None) -> pl.DataFrame | None:
    """The checkouts whose idle time is known."""
    if idle is None or idle.height == 0:
        return None
    return idle.filter(pl.col("idle_s").is_not_null())


@data._guard
@st.cache_resource(show_spinner=False, max_entries=32)
def incident_idle(db: str, ver: tuple, incident_id: str, window_s: float) -> go.Figure | None:
    """Idle times before checkout around an incident against the inferred limit; None
    when no checkout's idle time is known."""
    found = data.incident_idle(db, ver, incident_id, window_s)
    verdict = data.incident(db, ver, incident_id)
    if found is None or verdict is None:
        return None
    known = known_idle(found["idle"])
    if known is None or known.height == 0:
        return None
    if known.height > IDLE_POINTS:  # keep every failure, thin the rest
        ok = known.filter(~pl.col("failed"))
        known = pl.concat([known.filter(pl.col("failed")), ok.gather_every(max(1, ok.height // IDLE_POINTS))]).sort(
            "ts"
        )
    fig = charts.idle_times_chart(
        known,
        found["limit"],
        incident=verdict["incident"],
        wait_timeout=found["wait_timeout"],
        title="Idle time of connections before checkout",
    )
    return legend_below(fig)


LEGEND_ROW_PX = 24  # one row of a horizontal legend (font size 12)
AXIS_PX = 75  # below a plot: the time axis' two lines of tick labels and its title


def legend_below(fig: go.Figure) -> go.Figure:
    """Half-width charts: the legend under the time axis, not beside the plot, with room
    for every entry (two to a row when the names are short, else one) so that it needs no
    scroll bar."""
    shown = [t for t in fig.data if t.showlegend is not False and t.name]
    groups = {t.legendgroup for t in shown if t.legendgroup}
    per_row = 2 if all(len(t.name) <= 24 for t in shown) else 1
    rows = -(-len(shown) // per_row) + len(groups)  # group titles take a row of their own
    legend_px = LEGEND_ROW_PX * rows + 10
    plot_px, top = 260, 50
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-AXIS_PX / plot_px, x=0, maxheight=legend_px + 20),
        height=top + plot_px + AXIS_PX + legend_px,
        margin=dict(t=top, b=AXIS_PX + legend_px),
    )
    return fig


def mark_evidence(fig: go.Figure, evidence: pl.DataFrame) -> None:
    """Evidence points as diamonds at the foot of the top lane, hover shows the line."""
    if evidence is None or evidence.height == 0 or "ts" not in evidence.columns:
        return
    rows = [r for r in evidence.to_dicts() if r.get("ts") is not None]
    if not rows:
        return
    texts = [
        f"<b>{r['source']}</b> {r.get('kind') or ''}<br>{_short(r.get('line'))}<br><i>{r.get('why') or ''}</i>"
        for r in rows
    ]
    fig.add_trace(
        go.Scatter(
            x=[r["ts"] for r in rows],
            y=[0] * len(rows),
            mode="markers",
            name="evidence",
            marker=dict(symbol="diamond", size=10, color="#000", line=dict(color="#fff", width=1)),
            hovertext=texts,
            hoverinfo="text",
            xaxis="x",
            yaxis="y",
        )
    )


def _short(text, width: int = 120) -> str:
    text = str(text or "").splitlines()[0] if text else ""
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= width else text[: width - 1] + "…"
