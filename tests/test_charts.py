"""The shared plotly figures (pipeline.charts), from frames shaped like the API's."""

from __future__ import annotations

import datetime as dt
import time

import plotly.graph_objects as go
import polars as pl
import pytest

from pipeline import charts
from pipeline.kinds import CAUSES

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, tzinfo=UTC)


def _counts(n_buckets=60, kinds=(("app", "server_gone"), ("sqlalchemy", "checkout"), ("mysql", "server_stop"))):
    rows = []
    for i in range(n_buckets):
        for source, kind in kinds:
            rows.append({"bucket": T0 + dt.timedelta(seconds=10 * i), "source": source, "kind": kind, "n": i % 4 + 1})
    return pl.DataFrame(rows)


def _latency(n=60):
    return pl.DataFrame(
        {
            "bucket": [T0 + dt.timedelta(seconds=10 * i) for i in range(n)],
            "host": ["web-1"] * n,
            "target": ["db-1"] * n,
            "samples": [10] * n,
            "lost": [2 if i == 30 else 0 for i in range(n)],
            "rtt_min": [0.4] * n,
            "rtt_median": [0.5 if i != 30 else 400.0 for i in range(n)],
            "rtt_max": [0.9 if i != 30 else 800.0 for i in range(n)],
        }
    )


def _metrics(n=60):
    rows = []
    for i in range(n):
        ts = T0 + dt.timedelta(seconds=10 * i)
        rows.append({"bucket": ts, "host": "db-1", "name": "max_connections", "value": 151.0})
        rows.append({"bucket": ts, "host": "db-1", "name": "threads_connected", "value": 20.0 + i})
    return pl.DataFrame(rows)


def _incidents():
    return pl.DataFrame(
        {
            "incident_id": ["a", "b"],
            "start_ts": [T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=6)],
            "end_ts": [T0 + dt.timedelta(minutes=3), T0 + dt.timedelta(minutes=6)],
            "cause": ["network", "idle_timeout"],
            "confidence": [0.8, 0.6],
            "summary": ["latency spike", "idle connections dropped"],
        }
    )


def test_every_cause_has_a_distinct_colour():
    assert set(charts.CAUSE_COLORS) == set(CAUSES)
    assert len(set(charts.CAUSE_COLORS.values())) == len(CAUSES)
    assert charts.cause_color("no-such-cause") == charts.CAUSE_COLORS["unknown"]
    assert charts.kind_color("invented_kind") == charts.kind_color("invented_kind")


def test_timeline_lanes_and_bands():
    fig = charts.timeline(_counts(), _latency(), _metrics(), _incidents(), title="t")
    assert isinstance(fig, go.Figure)
    titles = [a.text for a in fig.layout.annotations]
    for lane in ("app errors", "SQLAlchemy pool", "server log", "latency (ms)", "server connections"):
        assert lane in titles
    # one band per incident per lane, coloured by cause
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 2 * 5
    colours = {s.fillcolor for s in rects}
    assert colours == {charts.CAUSE_COLORS["network"], charts.CAUSE_COLORS["idle_timeout"]}
    # the zero-length incident still gets a visible band
    b = next(s for s in rects if s.fillcolor == charts.CAUSE_COLORS["idle_timeout"])
    assert b.x1 > b.x0
    names = {t.name for t in fig.data}
    assert {
        "server_gone",
        "checkout",
        "server_stop",
        "web-1 → db-1",
        "db-1 max_connections",
        "db-1 threads_connected",
    } <= names
    assert any(t.name and t.name.startswith("lost probes") for t in fig.data)
    assert fig.layout.title.text == "t"


def _legend(fig: go.Figure) -> list[go.Scatter]:
    return [t for t in fig.data if t.showlegend is not False and t.name]


def test_timeline_legend_names_every_cause_colour_first():
    fig = charts.timeline(_counts(), _latency(), _metrics(), _incidents())
    key = [t for t in fig.data if t.legendgroup == charts.CAUSE_KEY_GROUP]
    # every cause of the registry, in its colour, whichever causes the view holds
    assert [t.name for t in key] == list(charts.CAUSE_COLORS) == list(CAUSES)
    assert [t.marker.color for t in key] == list(charts.CAUSE_COLORS.values())
    assert {t.legendgrouptitle.text for t in key} == {charts.CAUSE_KEY_TITLE}
    # ranked before every other entry: the key opens the legend
    others = [t for t in _legend(fig) if t.legendgroup != charts.CAUSE_KEY_GROUP]
    assert max(t.legendrank for t in key) < min(t.legendrank or 1000 for t in others)
    assert fig.layout.legend.traceorder == "grouped"
    # no incidents, no bands: no key either
    quiet = charts.timeline(_counts(), _latency(), _metrics(), None)
    assert not [t for t in quiet.data if t.legendgroup == charts.CAUSE_KEY_GROUP]


def test_timeline_is_tall_enough_for_its_whole_legend():
    kinds = tuple(("sqlalchemy", k) for k in list(charts.KIND_COLORS)) + (("app", "server_gone"),)
    fig = charts.timeline(_counts(20, kinds), _latency(), _metrics(), _incidents())
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    groups = {t.legendgroup for t in _legend(fig)}
    assert plot_px >= 19 * len(_legend(fig)) + 25 * len(groups)  # room for every entry: no scroll bar
    small = charts.timeline(_counts(kinds=(("app", "server_gone"),)), None, None, None)
    assert small.layout.height == 300  # a short legend leaves the height alone


def _many_targets(n_targets=20, n=30, worst=17):
    rows = []
    for k in range(n_targets):
        for i in range(n):
            rows.append(
                {
                    "bucket": T0 + dt.timedelta(seconds=10 * i),
                    "host": "web-1",
                    "target": f"db-{k:02d}",
                    "samples": 10,
                    "lost": 3 if (k == worst and i == 5) else 0,
                    "rtt_min": 0.4,
                    "rtt_median": 1.0 + k,
                    "rtt_max": 2.0 + k,
                }
            )
    return pl.DataFrame(rows)


def test_latency_draws_the_worst_targets_and_merges_the_rest():
    lat = _many_targets()
    fig = charts.timeline(None, lat, None, None)
    lines = [t for t in fig.data if t.mode == "lines" and t.showlegend is not False and t.name]
    shown = charts.LATENCY_TARGETS_SHOWN
    assert len(lines) == shown + 1
    # the target with lost probes first, then the slowest round trips
    assert [t.name for t in lines[:shown]] == ["web-1 → db-17", "web-1 → db-19", "web-1 → db-18"] + [
        "web-1 → db-16",
        "web-1 → db-15",
    ]
    merged = lines[-1]
    assert merged.name == f"and {20 - shown} more targets"
    # per bucket: their probes added up, the median of their medians, the highest maximum
    rest = lat.filter(~pl.col("target").is_in(["db-17", "db-19", "db-18", "db-16", "db-15"]))
    assert [c[2] for c in merged.customdata] == [10 * rest["target"].n_unique()] * 30
    assert merged.y[0] == rest.filter(pl.col("bucket") == T0)["rtt_median"].median()
    assert max(c[1] for c in merged.customdata) == rest["rtt_max"].max()
    # one legend entry for the lost probes of every target
    assert [t.name for t in fig.data if t.name and t.name.startswith("lost")] == ["lost probes"]
    # a single extra target is drawn, not merged
    few = charts.latency_chart(_many_targets(shown + 1, worst=0))
    assert not [t for t in few.data if t.name and t.name.startswith("and ")]
    assert len([t for t in few.data if t.mode == "lines" and t.showlegend is not False]) == shown + 1


def test_latency_raw_probes_merge_the_rest_too():
    rows = [
        {
            "ts": T0 + dt.timedelta(seconds=i),
            "host": "h",
            "target": f"t{k}",
            "rtt_ms": float(k),
            "lost": i == 0 and k == 3,
        }
        for k in range(9)
        for i in range(4)
    ]
    fig = charts.latency_chart(pl.DataFrame(rows))
    names = [t.name for t in fig.data if t.showlegend is not False and t.name]
    assert names[0] == "h → t3"  # the one with a lost probe
    assert f"and {9 - charts.LATENCY_TARGETS_SHOWN} more targets" in names
    assert "lost probes" in names


def test_bucket_width_of_bursts_days_apart():
    """Two bursts of logs days apart: each lane has two buckets, and a bar is a bucket wide,
    not the gap between the bursts (which put latency lines days away from their data)."""
    starts = [T0, T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(days=12, minutes=5)]
    counts = pl.DataFrame({"bucket": starts, "source": ["app"] * 3, "kind": ["server_gone"] * 3, "n": [1, 2, 3]})
    fig = charts.timeline(counts.filter(pl.col("bucket") != starts[1]), None, None, None)
    assert fig.data[0].width == pytest.approx(60_000 * 0.9 * 5)  # T0 and T0+12d5m: both multiples of 5 min
    fig = charts.timeline(counts, None, None, None)
    assert fig.data[0].width == pytest.approx(60_000 * 0.9)
    lat = _latency(2).with_columns(pl.Series("bucket", [T0, T0 + dt.timedelta(days=12)]))
    known = charts.timeline(None, lat, None, None, bucket=dt.timedelta(seconds=10))
    line = next(t for t in known.data if t.name == "web-1 → db-1")
    assert list(line.x) == [T0 + dt.timedelta(seconds=5), T0 + dt.timedelta(days=12, seconds=5)]


def test_timeline_app_lane_shows_errors_only():
    fig = charts.timeline(_counts(kinds=(("app", "server_gone"), ("app", "other"))), None, None, None)
    assert {t.name for t in fig.data} == {"server_gone"}


def test_timeline_skips_empty_lanes():
    fig = charts.timeline(_counts(kinds=(("app", "server_gone"),)), None, pl.DataFrame(), None)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["app errors"]
    forced = charts.timeline(_counts(kinds=(("app", "server_gone"),)), None, None, None, lanes=["app", "latency"])
    assert [a.text for a in forced.layout.annotations] == ["app errors", "latency (ms)"]
    with pytest.raises(ValueError):
        charts.timeline(None, None, None, None, lanes=["nope"])


def test_timeline_empty():
    fig = charts.timeline(None, pl.DataFrame(), None, None)
    assert not fig.data
    assert "no data" in fig.layout.annotations[0].text


def test_timeline_accepts_pandas():
    fig = charts.timeline(
        _counts().to_pandas(), _latency().to_pandas(), _metrics().to_pandas(), _incidents().to_pandas()
    )
    assert len(fig.data) > 5


def test_timeline_is_fast_at_2000_buckets():
    kinds = (
        tuple(("app", k) for k in ("server_gone", "lost_connection", "cant_connect"))
        + tuple(("sqlalchemy", k) for k in ("checkout", "checkin", "invalidate"))
        + (("mysql", "aborted_connection"),)
    )
    counts, lat, met = _counts(2000, kinds), _latency(2000), _metrics(2000)
    incidents = pl.DataFrame(
        {
            "incident_id": [str(i) for i in range(50)],
            "start_ts": [T0 + dt.timedelta(minutes=6 * i) for i in range(50)],
            "end_ts": [T0 + dt.timedelta(minutes=6 * i + 1) for i in range(50)],
            "cause": [list(CAUSES)[i % len(CAUSES)] for i in range(50)],
            "confidence": [0.5] * 50,
            "summary": ["s"] * 50,
        }
    )
    charts.timeline(counts, lat, met, incidents)  # warm-up (imports)
    t = time.process_time()  # CPU time: wall time on a loaded CI machine says little
    fig = charts.timeline(counts, lat, met, incidents)
    assert time.process_time() - t < 2.0
    assert len(fig.layout.shapes) == 50 * 5


def test_latency_chart_bucketed_and_raw():
    inc = {"start_ts": T0 + dt.timedelta(minutes=5), "end_ts": T0 + dt.timedelta(minutes=6), "cause": "network"}
    fig = charts.latency_chart(_latency(), inc)
    assert any(t.name == "web-1 → db-1" for t in fig.data)
    assert len(fig.layout.shapes) == 1
    raw = pl.DataFrame(
        {
            "ts": [T0, T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(seconds=2)],
            "host": ["h"] * 3,
            "target": ["t"] * 3,
            "rtt_ms": [1.0, None, 2.0],
            "lost": [False, True, False],
        }
    )
    fig = charts.latency_chart(raw)
    lost = next(t for t in fig.data if t.name == "lost probes")
    assert list(lost.x) == [T0 + dt.timedelta(seconds=1)] and "h → t" in lost.customdata[0]
    assert "no latency" in charts.latency_chart(None).layout.annotations[0].text


def test_idle_times_chart():
    idle = pl.DataFrame(
        {
            "ts": [T0 + dt.timedelta(seconds=i) for i in range(6)],
            "host": ["web-1"] * 6,
            "conn_ref": ["c"] * 6,
            "idle_s": [10.0, 50.0, 200.0, 310.0, 320.0, None],
            "failed": [False, False, False, True, True, False],
        }
    )
    fig = charts.idle_times_chart(idle, (200.0, 310.0))
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["checkout failed"].y) == [310.0, 320.0]
    assert len(by_name["checkout worked"].y) == 3
    assert any(s.type == "rect" and s.y0 == 200.0 and s.y1 == 310.0 for s in fig.layout.shapes)
    line = charts.idle_times_chart(idle, (None, 300.0), wait_timeout=250.0)
    assert [s.y0 for s in line.layout.shapes if s.type == "line"] == [300.0, 250.0]
    texts = [a.text for a in line.layout.annotations]
    assert "checkouts idle ≥ 300 s failed" in texts and "server wait_timeout 250 s" in texts
    far = charts.idle_times_chart(idle, (200.0, 310.0), wait_timeout=28800.0)
    assert not [s for s in far.layout.shapes if s.type == "line"]
    assert "no pooled" in charts.idle_times_chart(idle.head(0)).layout.annotations[0].text


def test_incidents_by_cause_chart():
    counts = pl.DataFrame(
        {"day": [T0, T0, T0 + dt.timedelta(days=1)], "cause": ["network", "idle_timeout", "network"], "n": [2, 1, 3]}
    )
    fig = charts.incidents_by_cause_chart(counts)
    assert [t.name for t in fig.data] == ["idle_timeout", "network"]  # CAUSE_COLORS order
    assert fig.data[1].marker.color == charts.CAUSE_COLORS["network"]
    from_incidents = charts.incidents_by_cause_chart(_incidents())
    assert sum(sum(t.y) for t in from_incidents.data) == 2
    assert "no incidents" in charts.incidents_by_cause_chart(None).layout.annotations[0].text
