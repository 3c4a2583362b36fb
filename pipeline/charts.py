"""Plotly figures shared by the dashboard, the notebooks and the daily digest.

Every builder takes polars DataFrames shaped like the aggregates
:class:`pipeline.api.Store` returns (never a store, never raw events of a whole
store) and returns a ``plotly.graph_objects.Figure``:

=============================  ===============================================
builder                        input frames (columns)
=============================  ===============================================
:func:`timeline`               ``Store.event_counts`` (bucket, source, kind, n),
                               ``Store.latency`` (bucket, host, target, samples,
                               lost, rtt_min, rtt_median, rtt_max),
                               ``Store.metrics`` (bucket, host, name, value, ...),
                               ``Store.incidents`` (incident_id, start_ts,
                               end_ts, cause, confidence, summary, ...)
:func:`latency_chart`          ``Store.latency``, or raw rows (ts, rtt_ms, lost)
:func:`idle_times_chart`       ``Store.idle_times`` (ts, host, idle_s, failed)
:func:`incidents_by_cause_chart`  ``Store.incident_counts`` (day, cause, n)
=============================  ===============================================

Incidents are drawn as shaded bands coloured by cause, one fixed colour per
cause (:data:`CAUSE_COLORS`), the same everywhere; the timeline's legend opens
with a key naming every cause's colour.  Latency draws the
:data:`LATENCY_TARGETS_SHOWN` worst probe targets one by one and the rest as one
"and K more targets" line, and the timeline grows to fit its legend, so the
legend never needs a scroll bar.  pandas frames are accepted too (converted with
``polars.from_pandas``); ``None`` means "no data".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipeline.causes import CauseTable
from pipeline.kinds import CLIENT_DROP_KINDS

__all__ = [
    "CAUSE_COLORS",
    "KIND_COLORS",
    "LANES",
    "LATENCY_TARGETS_SHOWN",
    "cause_color",
    "fit_legend",
    "idle_times_chart",
    "incidents_by_cause_chart",
    "kind_color",
    "latency_chart",
    "timeline",
]

# One colour per incident cause, everywhere (bands, bars, badges).
# each cause's colour is part of the cause (pipeline/causes/<name>.py)
CAUSE_COLORS: CauseTable = CauseTable("color")  # from the causes' registry, read at each use

# Event kinds: errors in warm colours, pool lifecycle in cool ones.
KIND_COLORS: dict[str, str] = {
    "server_gone": "#d62728",
    "lost_connection": "#ff7f0e",
    "cant_connect": "#8c564b",
    "unknown_host": "#bcbd22",
    "too_many_connections": "#e31a1c",
    "access_denied": "#e377c2",
    "idle_disconnect": "#1f77b4",
    "pool_timeout": "#9467bd",
    "query_error": "#fdbf6f",
    "invalidate": "#fb9a99",
    "pre_ping_fail": "#cab2d6",
    "reset_fail": "#b15928",
    "conn_open": "#a6cee3",
    "conn_close": "#b2df8a",
    "checkout": "#6baed6",
    "checkin": "#74c476",
    "reset": "#c7e9c0",
    "pre_ping": "#c6dbef",
    "recycle": "#9ecae1",
    "aborted_connection": "#ff9896",
    "server_start": "#2ca02c",
    "server_stop": "#8c564b",
    "connection_reset": "#ffbb78",
    "other": "#c7c7c7",
}

_PALETTE = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a", "#c49c94", "#f7b6d2", "#dbdb8d")

# Timeline lanes, top to bottom: (key, title).
LANES: tuple[tuple[str, str], ...] = (
    ("app", "app errors"),
    ("sqlalchemy", "SQLAlchemy pool"),
    ("server", "server log"),
    ("latency", "latency (ms)"),
    ("connections", "server connections"),
)

# Application event kinds left out of the timeline's "app errors" lane.
APP_LANE_HIDDEN: tuple[str, ...] = ("other",)

# Probe targets drawn one by one (the worst first: most lost probes, then the slowest
# round trip); the others are merged into one "and K more targets" line.
LATENCY_TARGETS_SHOWN = 5

# The timeline legend's group of incident colours, first in the legend.
CAUSE_KEY_GROUP = "incidents"
CAUSE_KEY_TITLE = "incident bands (cause)"

# Room one legend entry and one group title take (font size 12), for sizing the figure
# so that the legend fits without a scroll bar.
_LEGEND_ENTRY_PX = 20
_LEGEND_GROUP_PX = 28

_FONT = dict(family="Inter, Helvetica, Arial, sans-serif", size=12)


def cause_color(cause: str | None) -> str:
    """The fixed colour of a cause (grey for anything unknown)."""
    return CAUSE_COLORS.get(cause or "unknown", CAUSE_COLORS["unknown"])


def kind_color(kind: str | None) -> str:
    """The colour of an event kind; stable for kinds outside the vocabulary too."""
    if kind in KIND_COLORS:
        return KIND_COLORS[kind]
    digest = hashlib.md5(str(kind).encode()).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


# --------------------------------------------------------------------------- helpers


def _frame(data: Any) -> pl.DataFrame:
    if data is None:
        return pl.DataFrame()
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    try:
        import pandas as pd  # type: ignore[import-untyped]  # pandas has no types; pandas-stubs is not a dependency

        if isinstance(data, pd.DataFrame):
            return pl.from_pandas(data)
    except ImportError:  # pragma: no cover
        pass
    return pl.DataFrame(data)


def _has(frame: pl.DataFrame, *columns: str) -> bool:
    return frame.height > 0 and all(c in frame.columns for c in columns)


def _bucket_width(frame: pl.DataFrame, column: str = "bucket") -> dt.timedelta | None:
    """The bucket width: the smallest gap between distinct bucket starts, or less when the
    starts say so.  Buckets are aligned to the Unix epoch, so the width divides every start:
    with a few buckets far apart (two bursts of logs days apart) the smallest gap is days
    while a bucket is minutes, and the starts' greatest common divisor is the better bound."""
    if not _has(frame, column):
        return None
    values = frame[column].drop_nulls().unique().sort()
    if values.len() < 2:
        return None
    gaps = values.diff().drop_nulls()
    gap = gaps.min()
    if not isinstance(gap, dt.timedelta) or gap.total_seconds() <= 0:
        return None
    if isinstance(values.dtype, pl.Datetime):
        divisor = 0
        for us in values.dt.epoch("us").to_list():
            divisor = math.gcd(divisor, int(us))
        if dt.timedelta(seconds=1) <= dt.timedelta(microseconds=divisor) < gap:  # buckets are 1 s or more
            return dt.timedelta(microseconds=divisor)
    return gap


def _incident_spans(incidents: Any) -> list[dict[str, Any]]:
    """[{id, start, end, cause, confidence, summary}] from a frame, Incident(s) or dicts."""
    if incidents is None:
        return []
    items: list[Any]
    if isinstance(incidents, (pl.DataFrame, pl.LazyFrame)) or type(incidents).__name__ == "DataFrame":
        frame = _frame(incidents)
        if not _has(frame, "start_ts", "end_ts"):
            return []
        items = frame.to_dicts()
    elif isinstance(incidents, Sequence) and not isinstance(incidents, (str, bytes)):
        items = list(incidents)
    else:
        items = [incidents]
    spans = []
    for item in items:
        if isinstance(item, Mapping):
            get = item.get
        else:
            get = lambda key, default=None, _i=item: getattr(_i, key, default)  # noqa: E731
        start = get("start_ts") or get("start")
        end = get("end_ts") or get("end") or start
        if start is None:
            continue
        spans.append(
            {
                "id": get("incident_id") or "",
                "start": start,
                "end": end,
                "cause": get("cause") or "unknown",
                "confidence": get("confidence"),
                "summary": get("summary") or "",
            }
        )
    return spans


def _x_range(
    *frames_and_columns: tuple[pl.DataFrame, str], spans: Sequence[dict[str, Any]] = ()
) -> tuple[Any, Any] | None:
    lo: Any = None
    hi: Any = None
    for frame, column in frames_and_columns:
        if _has(frame, column):
            col = frame[column].drop_nulls()
            if col.len():
                a: Any = col.min()
                b: Any = col.max()
                lo = a if lo is None or a < lo else lo
                hi = b if hi is None or b > hi else hi
    for s in spans:
        lo = s["start"] if lo is None or s["start"] < lo else lo
        hi = s["end"] if hi is None or s["end"] > hi else hi
    if lo is None:
        return None
    return lo, hi


def _min_width(x_range: tuple[Any, Any] | None) -> dt.timedelta | None:
    """Bands narrower than this (1/300 of the range) are widened to stay visible."""
    if x_range is None or not isinstance(x_range[0], dt.datetime):
        return None
    width: dt.timedelta = (x_range[1] - x_range[0]) / 300
    return max(width, dt.timedelta(seconds=1))


def _add_cause_key(fig: go.Figure, *, row: int | None = None) -> None:
    """One legend entry per cause of the registry, in its colour, first in the legend:
    what the colour of an incident band means, whichever causes the view holds."""
    for rank, (cause, color) in enumerate(CAUSE_COLORS.items(), start=1):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=cause,
                marker=dict(symbol="square", size=12, color=color, opacity=0.5),
                legendgroup=CAUSE_KEY_GROUP,
                legendgrouptitle_text=CAUSE_KEY_TITLE,
                legendrank=rank,
                showlegend=True,
                hoverinfo="skip",
            ),
            **({} if row is None else {"row": row, "col": 1}),
        )


def _add_bands(
    fig: go.Figure,
    spans: list[dict[str, Any]],
    *,
    rows: int = 1,
    legend: bool = True,
    hover_row: int | None = None,
    min_width: dt.timedelta | None = None,
) -> None:
    """Shaded bands for incidents, one colour per cause, a legend entry per cause present
    (``legend``; the timeline gives the full key instead: :func:`_add_cause_key`).

    ``rows`` is the number of subplot rows the bands span (shapes are built
    directly: ``add_vrect`` is far too slow for many incidents).
    """
    seen: set[str] = set()
    shapes = []
    for s in spans:
        start, end = s["start"], s["end"]
        if min_width is not None and end - start < min_width:
            pad = (min_width - (end - start)) / 2
            start, end = start - pad, end + pad
        color = cause_color(s["cause"])
        for row in range(1, rows + 1):
            suffix = "" if row == 1 else str(row)
            shapes.append(
                dict(
                    type="rect",
                    xref=f"x{suffix}",
                    yref=f"y{suffix} domain",
                    x0=start,
                    x1=end,
                    y0=0,
                    y1=1,
                    fillcolor=color,
                    opacity=0.18,
                    line_width=0,
                    layer="below",
                )
            )
        if legend and s["cause"] not in seen:
            seen.add(s["cause"])
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=f"incident: {s['cause']}",
                    marker=dict(symbol="square", size=12, color=color, opacity=0.5),
                    legendgroup="incidents",
                    legendgrouptitle_text="incidents",
                    showlegend=True,
                    hoverinfo="skip",
                ),
                **({} if hover_row is None else {"row": hover_row, "col": 1}),
            )
    if shapes:
        fig.update_layout(shapes=list(fig.layout.shapes or ()) + shapes)
    if hover_row is not None and spans:
        # invisible markers at each band's middle: hovering shows what the band is
        mids, texts, colors = [], [], []
        for s in spans:
            mids.append(s["start"] + (s["end"] - s["start"]) / 2)
            conf = f" ({s['confidence']:.0%})" if isinstance(s["confidence"], (int, float)) else ""
            texts.append(f"<b>{s['cause']}</b>{conf}<br>{s['id']}<br>{_wrap(s['summary'])}")
            colors.append(cause_color(s["cause"]))
        fig.add_trace(
            go.Scatter(
                x=mids,
                y=[0] * len(mids),
                mode="markers",
                name="incidents",
                marker=dict(symbol="triangle-up", size=11, color=colors),
                hovertext=texts,
                hoverinfo="text",
                showlegend=False,
            ),
            row=hover_row,
            col=1,
        )


def _wrap(text: str, width: int = 70) -> str:
    words, lines, line = str(text).split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "<br>".join(lines[:6])


def _empty(title: str | None, message: str = "no data in this range") -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14, color="#888")
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        font=_FONT,
        height=260,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
    )
    return fig


def _one_panel_layout(
    fig: go.Figure, title: str, *, height: int, x_title: str, y_title: str, **layout: Any
) -> go.Figure:
    """The look the one-panel charts share (template, font, margins for the axis titles)."""
    fig.update_layout(
        title=title,
        template="plotly_white",
        font=_FONT,
        height=height,
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin=dict(l=60, r=20, t=50, b=40),
        **layout,
    )
    return fig


def _legend_px(fig: go.Figure) -> int:
    """The height the legend needs: its entries and its group titles."""
    shown = [t for t in fig.data if t.showlegend is not False and t.name]
    groups = {t.legendgroup for t in shown if t.legendgroup}
    return _LEGEND_ENTRY_PX * len(shown) + _LEGEND_GROUP_PX * len(groups) + 20


def fit_legend(fig: go.Figure) -> go.Figure:
    """Make a figure with its legend beside the plot tall enough for the whole legend, so
    it needs no scroll bar (for callers that add traces to a :func:`timeline`)."""
    margin = fig.layout.margin
    room = (margin.t or 0) + (margin.b or 0)
    need = _legend_px(fig) + room
    if (fig.layout.height or 0) < need:
        fig.update_layout(height=need)
    return fig


def _count_bars(fig: go.Figure, frame: pl.DataFrame, row: int, lane: str, width: dt.timedelta | None) -> None:
    """Stacked bars of counts per kind in one lane."""
    per_kind = frame.group_by(["bucket", "kind"]).agg(pl.col("n").sum()).sort("bucket")
    # drop kinds first in the legend, then the rest by volume
    totals = per_kind.group_by("kind").agg(pl.col("n").sum()).sort("n", descending=True)
    kinds = sorted(totals["kind"].to_list(), key=lambda k: (k not in CLIENT_DROP_KINDS,))
    offset = width / 2 if width else dt.timedelta(0)
    for kind in kinds:
        part = per_kind.filter(pl.col("kind") == kind)
        fig.add_trace(
            go.Bar(
                x=(part["bucket"] + offset).to_list(),
                y=part["n"].to_list(),
                name=kind,
                marker_color=kind_color(kind),
                marker_line_width=0,
                width=(width.total_seconds() * 1000 * 0.9) if width else None,
                legendgroup=lane,
                legendgrouptitle_text=dict(LANES)[lane],
                hovertemplate=f"{kind}: %{{y}}<br>%{{x}}<extra>{dict(LANES)[lane]}</extra>",
            ),
            row=row,
            col=1,
        )


def _target_label(host: Any, target: Any) -> str:
    return f"{host or '?'} → {target or '?'}"


def _split_targets(lat: pl.DataFrame, shown: int, *, raw: bool) -> tuple[list[tuple[Any, Any]], int]:
    """The (host, target) pairs drawn one by one, worst first (most lost probes, then the
    slowest round trip, then by name), and how many others are merged into one line."""
    if raw:
        lost = pl.col("lost").cast(pl.Int64).sum()
        worst = pl.col("rtt_ms").max()
    else:
        lost = pl.col("lost").sum()
        worst = pl.col("rtt_max").max() if "rtt_max" in lat.columns else pl.col("rtt_median").max()
    ranked = (
        lat.group_by(["host", "target"])
        .agg(lost.fill_null(0).alias("_lost"), worst.fill_null(0.0).alias("_worst"))
        .sort(["_lost", "_worst", "host", "target"], descending=[True, True, False, False], nulls_last=True)
    )
    pairs = list(zip(ranked["host"].to_list(), ranked["target"].to_list()))
    if len(pairs) <= shown + 1:  # merging a single target into a line of its own says nothing
        return pairs, 0
    return pairs[:shown], len(pairs) - shown


def _of_pairs(lat: pl.DataFrame, pairs: list[tuple[Any, Any]], *, keep: bool) -> pl.DataFrame:
    """The rows of ``lat`` whose (host, target) is (``keep``) or is not among ``pairs``."""
    chosen = pl.DataFrame(
        {"host": [h for h, _ in pairs], "target": [t for _, t in pairs]},
        schema={"host": lat.schema["host"], "target": lat.schema["target"]},
    )
    return lat.join(chosen, on=["host", "target"], how="semi" if keep else "anti", nulls_equal=True)


def _latency_traces(
    fig: go.Figure,
    lat: pl.DataFrame,
    *,
    row: int | None,
    legendgroup: str | None,
    band: bool = True,
    shown: int = LATENCY_TARGETS_SHOWN,
    width: dt.timedelta | None = None,
) -> None:
    """Median line with min-max band per host/target; lost probes as red crosses (one
    legend entry for all targets, the target in the hover).

    The ``shown`` worst targets get a line each; the others one grey line together
    ("and K more targets": per bucket the median of their medians, their lowest minimum
    and highest maximum, their probes and lost probes added up)."""
    kw = {} if row is None else {"row": row, "col": 1}
    group_title = dict(LANES).get("latency") if legendgroup else None
    for column in ("host", "target"):
        if column not in lat.columns:
            lat = lat.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    if "rtt_median" not in lat.columns and "rtt_ms" in lat.columns:
        # raw probes
        ts_col = "ts" if "ts" in lat.columns else "bucket"
        pairs, more = _split_targets(lat, shown, raw=True)
        lost_x: list[Any] = []
        lost_y: list[Any] = []
        lost_text: list[str] = []
        series = [(_target_label(h, t), _of_pairs(lat, [(h, t)], keep=True), False) for h, t in pairs]
        if more:
            series.append((f"and {more} more targets", _of_pairs(lat, pairs, keep=False), True))
        for label, part, merged in series:
            part = part.sort(ts_col)
            ok = part.filter(~pl.col("lost"))
            fig.add_trace(
                go.Scatter(
                    x=ok[ts_col].to_list(),
                    y=ok["rtt_ms"].to_list(),
                    mode="markers" if merged else "lines+markers",
                    marker=dict(size=4, color="#9e9e9e") if merged else dict(size=4),
                    name=label,
                    legendgroup=legendgroup,
                    legendgrouptitle_text=group_title,
                ),
                **kw,
            )
            lost = part.filter(pl.col("lost"))
            if lost.height:
                top: Any = ok["rtt_ms"].max() or 1.0
                lost_x += lost[ts_col].to_list()
                lost_y += [top * 1.05] * lost.height
                lost_text += [f"lost probe<br>{label}"] * lost.height
        _lost_trace(fig, lost_x, lost_y, lost_text, legendgroup, kw)
        return
    width = width or _bucket_width(lat)
    offset = width / 2 if width else dt.timedelta(0)
    top_value: Any = lat["rtt_max"].max() if "rtt_max" in lat.columns else None
    top = float(top_value) if top_value is not None else 1.0
    pairs, more = _split_targets(lat, shown, raw=False)
    lost_x, lost_y, lost_text = [], [], []
    series = [(_target_label(h, t), _of_pairs(lat, [(h, t)], keep=True), False) for h, t in pairs]
    if more:
        rest = _of_pairs(lat, pairs, keep=False)
        merged_rows = rest.group_by("bucket").agg(
            pl.col("samples").sum(),
            pl.col("lost").sum(),
            pl.col("rtt_min").min(),
            pl.col("rtt_median").median(),
            pl.col("rtt_max").max(),
        )
        series.append((f"and {more} more targets", merged_rows, True))
    for label, part, merged in series:
        part = part.sort("bucket")
        x = (part["bucket"] + offset).to_list()
        if band and not merged and "rtt_min" in part.columns:
            both = part.filter(pl.col("rtt_min").is_not_null() & pl.col("rtt_max").is_not_null())
            if both.height > 1:
                bx = (both["bucket"] + offset).to_list()
                fig.add_trace(
                    go.Scatter(
                        x=bx + bx[::-1],
                        y=both["rtt_max"].to_list() + both["rtt_min"].to_list()[::-1],
                        mode="lines",
                        line=dict(width=0),
                        fill="toself",
                        fillcolor="rgba(31,119,180,0.15)",
                        showlegend=False,
                        hoverinfo="skip",
                        legendgroup=legendgroup,
                    ),
                    **kw,
                )
        what = f"median of {more} targets' medians" if merged else "median"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["rtt_median"].to_list(),
                mode="lines",
                name=label,
                line=dict(width=1.2, color="#9e9e9e", dash="dot") if merged else dict(width=1.5),
                legendgroup=legendgroup,
                legendgrouptitle_text=group_title,
                customdata=list(
                    zip(
                        part["rtt_min"].to_list(),
                        part["rtt_max"].to_list(),
                        part["samples"].to_list(),
                        part["lost"].to_list(),
                    )
                ),
                hovertemplate=(
                    what + " %{y:.1f} ms (min %{customdata[0]:.1f}, max %{customdata[1]:.1f})"
                    "<br>%{customdata[2]} probes, %{customdata[3]} lost<br>%{x}<extra>" + label + "</extra>"
                ),
            ),
            **kw,
        )
        lost = part.filter(pl.col("lost") > 0)
        if lost.height:
            lost_x += (lost["bucket"] + offset).to_list()
            lost_y += [top * 1.05] * lost.height
            lost_text += [f"{n} lost probes<br>{label}" for n in lost["lost"].to_list()]
    _lost_trace(fig, lost_x, lost_y, lost_text, legendgroup, kw)


def _lost_trace(
    fig: go.Figure, x: list[Any], y: list[Any], text: list[str], legendgroup: str | None, kw: dict[str, Any]
) -> None:
    """Lost probes of every target as red crosses: one trace, one legend entry."""
    if not x:
        return
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers",
            marker=dict(symbol="x", size=9, color="#d62728"),
            name="lost probes",
            legendgroup=legendgroup,
            customdata=text,
            hovertemplate="%{customdata}<br>%{x}<extra></extra>",
        ),
        **kw,
    )


# --------------------------------------------------------------------------- figures


def timeline(
    events_counts: Any,
    latency: Any,
    metrics: Any,
    incidents: Any,
    *,
    title: str | None = None,
    lanes: Sequence[str] | None = None,
    height_per_lane: int = 150,
    bucket: dt.timedelta | None = None,
) -> go.Figure:
    """One lane per source, on a shared time axis, with incidents as coloured bands.

    Lanes (top to bottom, only those with data unless ``lanes`` names them):
    app errors by kind (kinds in :data:`APP_LANE_HIDDEN` left out), SQLAlchemy pool events by kind, server log events by
    kind (stacked bars of ``events_counts``); latency (median line, min-max
    band, lost probes as red crosses); server threads_connected against
    max_connections (``metrics``).  Hovering the triangle at the foot of a
    band tells the incident's cause and summary; the legend opens with the colour
    of every cause.  ``bucket`` is the frames' bucket width when the caller knows
    it (else it is inferred from the bucket starts).
    """
    ev = _frame(events_counts)
    lat = _frame(latency)
    met = _frame(metrics)
    spans = _incident_spans(incidents)

    parts: dict[str, pl.DataFrame] = {}
    if _has(ev, "bucket", "source", "kind", "n"):
        # the app lane shows errors, not every routine line the application logged
        parts["app"] = ev.filter((pl.col("source") == "app") & ~pl.col("kind").is_in(list(APP_LANE_HIDDEN)))
        parts["sqlalchemy"] = ev.filter(pl.col("source") == "sqlalchemy")
        parts["server"] = ev.filter(~pl.col("source").is_in(["app", "sqlalchemy"]))
    if _has(lat, "bucket") or _has(lat, "ts"):
        parts["latency"] = lat
    if _has(met, "bucket", "name", "value"):
        parts["connections"] = met.filter(pl.col("name").is_in(["threads_connected", "max_connections"]))

    if lanes is None:
        chosen = [key for key, _ in LANES if key in parts and parts[key].height > 0]
    else:
        unknown = set(lanes) - {k for k, _ in LANES}
        if unknown:
            raise ValueError(f"unknown lanes {sorted(unknown)}; choose from {[k for k, _ in LANES]}")
        chosen = [key for key, _ in LANES if key in lanes]
    if not chosen:
        if spans:
            chosen = ["app"]
        else:
            return _empty(title)

    titles = [dict(LANES)[k] for k in chosen]
    if len(chosen) == 1 and title:
        titles = [""]  # the figure's title says it
    fig = make_subplots(rows=len(chosen), cols=1, shared_xaxes=True, vertical_spacing=0.045, subplot_titles=titles)
    width = bucket or _bucket_width(ev)
    for row, lane in enumerate(chosen, start=1):
        frame = parts.get(lane, pl.DataFrame())
        if lane in ("app", "sqlalchemy", "server"):
            if frame.height:
                _count_bars(fig, frame, row, lane, width)
            fig.update_yaxes(title_text="events", row=row, col=1, rangemode="tozero")
        elif lane == "latency":
            if frame.height:
                _latency_traces(fig, frame, row=row, legendgroup="latency", width=bucket)
            fig.update_yaxes(title_text="ms", row=row, col=1, rangemode="tozero")
        elif lane == "connections":
            if frame.height:
                mw = bucket or _bucket_width(frame)
                offset = mw / 2 if mw else dt.timedelta(0)
                for key, part in frame.sort("bucket").group_by(["host", "name"], maintain_order=True):
                    host, name = key
                    is_max = name == "max_connections"
                    fig.add_trace(
                        go.Scatter(
                            x=(part["bucket"] + offset).to_list(),
                            y=part["value"].to_list(),
                            mode="lines",
                            name=f"{host or '?'} {name}",
                            line=dict(
                                dash="dash" if is_max else "solid",
                                width=1.5,
                                color="#d62728" if is_max else None,
                                shape="hv" if is_max else "linear",
                            ),
                            legendgroup="connections",
                            legendgrouptitle_text="server connections",
                            hovertemplate=f"{name}: %{{y:.0f}}<br>%{{x}}<extra>{host or ''}</extra>",
                        ),
                        row=row,
                        col=1,
                    )
            fig.update_yaxes(title_text="threads", row=row, col=1, rangemode="tozero")

    min_width = _min_width(_x_range((ev, "bucket"), (lat, "bucket"), (met, "bucket"), spans=spans))
    _add_bands(fig, spans, rows=len(chosen), legend=False, hover_row=1, min_width=min_width)
    if spans:
        _add_cause_key(fig, row=1)

    fig.update_layout(
        title=title,
        template="plotly_white",
        font=_FONT,
        barmode="stack",
        bargap=0,
        height=max(300, 90 + height_per_lane * len(chosen)),
        margin=dict(l=60, r=20, t=60 if title else 30, b=40),
        legend=dict(groupclick="toggleitem", tracegroupgap=8, traceorder="grouped"),
        hovermode="closest",
    )
    fit_legend(fig)  # tall enough for the whole legend: no scroll bar, nothing cut off
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_xaxes(title_text="time (UTC)", row=len(chosen), col=1)
    return fig


def latency_chart(
    latency: Any, incident: Any = None, *, title: str | None = None, bucket: dt.timedelta | None = None
) -> go.Figure:
    """Latency over time: per host → target, median with min-max band and lost probes.

    ``latency`` is a ``Store.latency`` frame, or raw rows (ts, host, target,
    rtt_ms, lost).  ``incident`` (an ``Incident``, a mapping or an incidents
    frame) is drawn as a band.  The :data:`LATENCY_TARGETS_SHOWN` worst targets
    get a line each, the others one line together; ``bucket`` as for :func:`timeline`.
    """
    lat = _frame(latency)
    spans = _incident_spans(incident)
    if not (_has(lat, "bucket") or _has(lat, "ts")):
        return _empty(title or "latency", "no latency probes in this range")
    fig = go.Figure()
    _latency_traces(fig, lat, row=None, legendgroup=None, width=bucket)
    _add_bands(fig, spans, legend=True, min_width=_min_width(_x_range((lat, "bucket"), (lat, "ts"), spans=spans)))
    return _one_panel_layout(
        fig, title or "latency", height=340, x_title="time (UTC)", y_title="round trip (ms)", yaxis_rangemode="tozero"
    )


def idle_times_chart(
    idle: Any,
    limit_range: tuple[float | None, float] | None = None,
    *,
    title: str | None = None,
    incident: Any = None,
    wait_timeout: float | None = None,
) -> go.Figure:
    """How long each connection sat idle before checkout; failed checkouts in red.

    ``idle`` is a ``Store.idle_times`` frame (ts, host, idle_s, failed).
    ``limit_range`` = (low, high) seconds draws the inferred idle limit as a
    band (a line when low is None or equal to high): checkouts above it failed.
    ``wait_timeout`` (seconds) adds the server's setting as a dotted line, unless it
    is more than three times the longest idle time shown.
    """
    frame = _frame(idle)
    if not _has(frame, "ts", "idle_s"):
        return _empty(title or "idle time before checkout", "no pooled checkouts with a known idle time")
    frame = frame.filter(pl.col("idle_s").is_not_null())
    if frame.height == 0:
        return _empty(title or "idle time before checkout", "no pooled checkouts with a known idle time")
    if "failed" not in frame.columns:
        frame = frame.with_columns(pl.lit(False).alias("failed"))
    fig = go.Figure()
    for failed, name, color, symbol in (
        (False, "checkout worked", "#2ca02c", "circle"),
        (True, "checkout failed", "#d62728", "x"),
    ):
        part = frame.filter(pl.col("failed") == failed)
        if not part.height:
            continue
        hosts = part["host"].to_list() if "host" in part.columns else [""] * part.height
        conns = part["conn_ref"].to_list() if "conn_ref" in part.columns else [""] * part.height
        fig.add_trace(
            go.Scatter(
                x=part["ts"].to_list(),
                y=part["idle_s"].to_list(),
                mode="markers",
                name=name,
                marker=dict(color=color, symbol=symbol, size=8 if failed else 6, opacity=0.85),
                customdata=list(zip(hosts, conns)),
                hovertemplate="idle %{y:.1f} s<br>%{x}<br>%{customdata[0]} %{customdata[1]}<extra>" + name + "</extra>",
            )
        )
    if limit_range is not None:
        lo, hi = limit_range
        if hi is not None:
            if lo is None or lo == hi:
                label = f"idle limit ≈ {hi:g} s" if lo == hi else f"checkouts idle ≥ {hi:g} s failed"
                fig.add_hline(
                    y=hi, line=dict(color="#d62728", dash="dash"), annotation_text=label, annotation_position="top left"
                )
            else:
                fig.add_hrect(
                    y0=lo,
                    y1=hi,
                    fillcolor="#d62728",
                    opacity=0.15,
                    line_width=0,
                    annotation_text=f"inferred idle limit: {lo:g}-{hi:g} s",
                    annotation_position="top left",
                )
    # the server's setting, unless it is far above anything seen (it would flatten the points)
    idle_max: Any = frame["idle_s"].max()
    seen_max = max([float(idle_max or 0)] + [float(v) for v in (limit_range or ()) if v is not None])
    if (
        wait_timeout is not None
        and 0 < wait_timeout <= 3 * max(seen_max, 1.0)
        and (limit_range is None or limit_range[1] != wait_timeout)
    ):
        fig.add_hline(
            y=wait_timeout,
            line=dict(color="#555", dash="dot"),
            annotation_text=f"server wait_timeout {wait_timeout:g} s",
            annotation_position="bottom right",
        )
    spans = _incident_spans(incident)
    _add_bands(fig, spans, legend=False, min_width=_min_width(_x_range((frame, "ts"), spans=spans)))
    return _one_panel_layout(
        fig,
        title or "idle time before checkout",
        height=360,
        x_title="checkout time (UTC)",
        y_title="idle before checkout (s)",
        yaxis_rangemode="tozero",
    )


def incidents_by_cause_chart(counts: Any, *, title: str | None = None) -> go.Figure:
    """Incidents per day, stacked by cause in the cause colours.

    ``counts`` is a ``Store.incident_counts`` frame (day, cause, n); an
    incidents frame (start_ts, cause) is counted per day here.
    """
    frame = _frame(counts)
    if _has(frame, "start_ts", "cause") and "n" not in frame.columns:
        frame = (
            frame.with_columns(pl.col("start_ts").dt.truncate("1d").alias("day"))
            .group_by(["day", "cause"])
            .agg(pl.len().alias("n"))
        )
    if not _has(frame, "day", "cause", "n"):
        return _empty(title or "incidents by cause", "no incidents")
    frame = frame.sort("day")
    fig = go.Figure()
    order = [c for c in CAUSE_COLORS if c in set(frame["cause"])] + sorted(set(frame["cause"]) - set(CAUSE_COLORS))
    for cause in order:
        part = frame.filter(pl.col("cause") == cause)
        fig.add_trace(
            go.Bar(
                x=part["day"].to_list(),
                y=part["n"].to_list(),
                name=cause,
                marker_color=cause_color(cause),
                hovertemplate=f"{cause}: %{{y}}<br>%{{x|%Y-%m-%d}}<extra></extra>",
            )
        )
    return _one_panel_layout(
        fig,
        title or "incidents by cause",
        height=320,
        x_title="day (UTC)",
        y_title="incidents",
        barmode="stack",
        legend_title_text="cause",
    )
