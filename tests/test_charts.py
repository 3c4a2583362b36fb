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
        "incident: network",
    } <= names
    assert any(t.name and t.name.startswith("lost probes") for t in fig.data)
    assert fig.layout.title.text == "t"


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
    assert any(t.name == "lost h → t" for t in fig.data)
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
