"""The static timeline image of the HTML digest (mail clients run no JavaScript).

One row per cause, one bar per incident from its start to its end (at least a
few minutes wide so short incidents stay visible), labelled with its drops.
Rendered to PNG with kaleido, which drives the system's Chromium.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta

import plotly.graph_objects as go

from pipeline.causes import all_causes
from pipeline.digest.compute import Digest


def cause_colors() -> dict[str, str]:
    """The causes' colours, from their registry: the same as the dashboard's and the charts'."""
    return {cause.name: cause.color for cause in all_causes()}


def timeline_figure(d: Digest) -> go.Figure:
    colors = cause_colors()
    min_width = max(d.period.length / 200, timedelta(minutes=1))
    causes = sorted({i["cause"] for i in d.timeline})
    fig = go.Figure()
    for cause in causes:
        rows = [i for i in d.timeline if i["cause"] == cause]
        fig.add_trace(
            go.Bar(
                name=cause,
                orientation="h",
                y=[cause] * len(rows),
                base=[i["start"].replace(tzinfo=None).isoformat() for i in rows],
                x=[max((i["end"] - i["start"]), min_width).total_seconds() * 1000 for i in rows],
                text=[str(i["drops"]) for i in rows],
                textposition="outside",
                marker_color=colors.get(cause, "#7F7F7F"),
                width=0.6,
                cliponaxis=False,
            )
        )
    start = d.period.start.replace(tzinfo=None)
    end = d.period.end.replace(tzinfo=None)
    fig.update_layout(
        title=f"Incidents {d.period.label} ({d.period.tz}); labels are drops",
        barmode="overlay",
        width=900,
        height=160 + 50 * max(len(causes), 1),
        margin=dict(l=130, r=30, t=50, b=40),
        showlegend=False,
        plot_bgcolor="white",
        xaxis=dict(type="date", range=[start.isoformat(), end.isoformat()], gridcolor="#e5e5e5"),
        yaxis=dict(categoryorder="array", categoryarray=list(reversed(causes))),
    )
    return fig


_server_lock = threading.Lock()
_server_started = False


def _ensure_server() -> None:
    """Keep one browser for all images of this process (about 0.25 s per image instead of 3 s)."""
    global _server_started
    with _server_lock:
        if _server_started:
            return
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        _server_started = True


def store_timeline_figure(d: Digest, db: str | os.PathLike[str]) -> go.Figure:
    """The dashboard's multi-lane timeline (events, latency, connections, incident bands) for the period."""
    from pipeline import charts
    from pipeline.api import Store

    store = Store.open(db)
    start, end = _active_span(d, db)
    bucket = max((end - start) / 144, timedelta(seconds=1))  # 10 minutes for a whole day
    fig = charts.timeline(
        store.event_counts(start, end, bucket=bucket),
        store.latency(start, end, bucket=bucket),
        store.metrics(start, end, bucket=bucket),
        store.incidents(start, end),
        title=f"{d.period.label} ({d.period.tz}): events, latency, connections; incidents shaded by cause",
        height_per_lane=130,
    )
    fig.update_layout(width=900)
    fig.update_xaxes(range=[start, end])
    return fig


_SPAN = """
    SELECT min(ts), max(ts) FROM (
        SELECT ts FROM events WHERE ts >= ? AND ts < ?
        UNION ALL SELECT ts FROM latency WHERE ts >= ? AND ts < ?
        UNION ALL SELECT ts FROM metrics WHERE ts >= ? AND ts < ?
        UNION ALL SELECT start_ts FROM incidents WHERE start_ts >= ? AND start_ts < ?)
"""


def _active_span(d: Digest, db: str | os.PathLike[str]) -> tuple[datetime, datetime]:
    """The part of the period that has data, a little padded: a whole day when the logs cover it,
    the few minutes that matter when they do not."""
    from pipeline import store as store_mod

    start, end = d.period.start, d.period.end
    with store_mod.opened(db, read_only=True) as con:
        row = con.execute(_SPAN, [start, end] * 4).fetchone()
    assert row is not None  # min() and max() always give a row
    first, last = row
    if first is None:
        return start, end
    pad = max((last - first) / 20, timedelta(minutes=1))
    return max(start, first - pad), min(end, last + pad)


def timeline_png(
    d: Digest, db: str | os.PathLike[str] | None = None, on_warning: Callable[[str], object] | None = None
) -> bytes:
    """PNG bytes of the period's timeline; raises on a missing browser or kaleido.

    With ``db`` the dashboard's multi-lane timeline is drawn; should that fail,
    the incidents-only chart above (``on_warning`` is told why).
    """
    fig = None
    if db is not None:
        try:
            fig = store_timeline_figure(d, db)
        except Exception as exc:  # the incidents-only chart still tells the story
            if on_warning:
                on_warning(
                    f"multi-lane timeline unavailable ({exc.__class__.__name__}: {str(exc)[:200]}); "
                    "drawing incidents only"
                )
    if fig is None:
        fig = timeline_figure(d)
    try:
        _ensure_server()
    except Exception:  # a one-off render still works without the shared server
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plotly notes that per-call browser options do not apply to a server
        png: bytes = fig.to_image(format="png", width=900, height=fig.layout.height or 500, scale=1)
        return png
