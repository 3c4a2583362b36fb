"""The dashboard's pages and filters, run headless with Streamlit's AppTest.

Each test runs over the store ingested from ``sample_logs/`` (skipped while that
folder is empty) and over a synthetic store from ``dashboard.demo`` (always
available, with known incidents), plus edge-case stores: missing, empty,
without incidents, without latency, not a store at all.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import demo, views
from pipeline import charts
from pipeline import store as store_mod
from pipeline.api import Store
from pipeline.causes import by_name
from pipeline.kinds import CAUSES
from tests.helpers import generate_logs

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    return demo.make_store(tmp_path_factory.mktemp("demo") / "demo.duckdb")


@pytest.fixture(params=["sample", "demo"])
def any_store(request) -> Path:
    """The sample store (from sample_logs/) and the synthetic one."""
    if request.param == "sample":
        return request.getfixturevalue("sample_store")
    return request.getfixturevalue("demo_store")


def run_app(db: Path, monkeypatch, **params) -> AppTest:
    monkeypatch.setenv(store_mod.ENV_DB, str(db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def assert_clean(at: AppTest) -> None:
    """No exception element and no st.error on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest) -> str:
    parts = []
    for group in (at.title, at.header, at.subheader, at.markdown, at.caption, at.info, at.warning, at.success, at.code):
        parts += [str(el.value) for el in group]
    return "\n".join(parts).replace("\\", "")  # Markdown escapes


def plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def qp(at: AppTest) -> dict:
    return dict(at.query_params)


def first_incident(db: Path) -> dict | None:
    frame = Store(db).incidents()
    return frame.row(0, named=True) if frame.height else None


def plotly_specs(at: AppTest) -> list[dict]:
    """The figures the page sent, as plotly JSON."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def chart_title(spec: dict) -> str | None:
    title = spec.get("layout", {}).get("title")
    return title.get("text") if isinstance(title, dict) else title


def summary(at: AppTest) -> dict[str, str]:
    """The overview's summary numbers, {label: value}: a caption and a header per column of
    the block keyed ``summary``."""
    block = next(b for b in at.main.children.values() if getattr(b.proto, "id", "").endswith("-summary"))
    out = {}
    for column in block.get("column"):
        label, value = column.children.values()
        out[label.value] = value.value.replace("\\", "")  # Markdown escapes
    return out


# ----------------------------------------------------------------------------- pages


def test_overview(any_store, monkeypatch):
    at = run_app(any_store, monkeypatch)
    assert_clean(at)
    assert at.title[0].value == "Database connection drops"
    assert plotly_count(at) >= 1  # the timeline
    n = Store(any_store).incidents().height
    metrics = summary(at)
    assert metrics["Incidents"] == f"{n:,}"
    if n:
        # counts by cause and by host
        assert any(s.value == "By cause" for s in at.subheader)
        assert any(s.value == "By host" for s in at.subheader)


def test_incidents_page(any_store, monkeypatch):
    at = run_app(any_store, monkeypatch, page="incidents")
    assert_clean(at)
    assert at.title[0].value == "Incidents"
    incidents = Store(any_store).incidents()
    if incidents.height == 0:
        assert "No incidents" in texts(at)
        return
    table = at.dataframe[0].value
    assert len(table) == incidents.height
    for col in ("start (UTC)", "duration", "cause", "confidence", "hosts", "errors"):
        assert col in table.columns


def test_selecting_an_incident_opens_its_page(any_store, monkeypatch):
    inc = first_incident(any_store)
    if inc is None:
        pytest.skip("store has no incidents")
    at = run_app(any_store, monkeypatch, page="incidents")
    at.selectbox(key="w_open").set_value(inc["incident_id"]).run()
    assert_clean(at)
    assert at.radio(key="w_page").value == "incident"
    assert at.selectbox(key="w_incident").value == inc["incident_id"]
    assert qp(at)["page"] == "incident"
    assert qp(at)["incident"] == inc["incident_id"]
    assert inc["summary"].split()[0] in texts(at)


def test_incident_page_shows_explanation_advice_evidence(any_store, monkeypatch):
    inc = first_incident(any_store)
    if inc is None:
        pytest.skip("store has no incidents")
    at = run_app(any_store, monkeypatch, page="incident", incident=inc["incident_id"])
    assert_clean(at)
    page = texts(at)
    assert inc["cause"] in page
    assert any(s.value == "Explanation" for s in at.subheader)
    detail = Store(any_store).incident(inc["incident_id"])
    for advice in detail.advice:
        assert advice.split()[0] in page
    # evidence lines, raw text, in code blocks (the first ones; the rest fold into an expander)
    lines = [line for line in detail.evidence["line"].to_list() if line]
    shown = [c.value for c in at.code]
    for line in lines[:3]:
        assert line in shown
    assert plotly_count(at) >= 1  # zoomed timeline


def test_incident_page_switches_incident(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch, page="incident", incident="inc-idle-0001")
    assert_clean(at)
    assert "between 240 s and 300 s" in texts(at)  # idle times against the inferred limit
    assert plotly_count(at) >= 3  # timeline, latency, idle times
    at.selectbox(key="w_incident").set_value("inc-net-0002").run()
    assert_clean(at)
    assert qp(at)["incident"] == "inc-net-0002"
    assert "Round-trip time rose to 850 ms" in texts(at)


def test_unknown_incident_id(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch, page="incident", incident="no-such-incident")
    assert_clean(at)
    assert "no incident with that id" in texts(at)


def test_health_page(any_store, monkeypatch):
    at = run_app(any_store, monkeypatch, page="health")
    assert_clean(at)
    assert at.title[0].value == "Data health"
    metrics = {m.label: m.value for m in at.metric}
    files = Store(any_store).counts()["files"]
    assert metrics["Files ingested"] == f"{files:,}"
    assert any(s.value == "Coverage per source" for s in at.subheader)
    assert any(s.value == "Rejected lines" for s in at.subheader)


def test_health_page_shows_reject_examples(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch, page="health")
    assert_clean(at)
    assert "garbled line without a timestamp" in [c.value for c in at.code]
    assert at.expander  # one per reject reason


# ----------------------------------------------------------------------------- filters


@pytest.mark.parametrize("preset", ["1h", "6h", "24h", "7d", "30d", "all"])
def test_range_presets(any_store, monkeypatch, preset):
    at = run_app(any_store, monkeypatch)
    at.selectbox(key="w_range").set_value(preset).run()
    assert_clean(at)
    if preset == "all":
        assert "range" not in qp(at)
    else:
        assert qp(at)["range"] == preset


def test_custom_range(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch)
    at.selectbox(key="w_range").set_value("custom").run()
    at.text_input(key="w_start").set_value("2026-11-20T02:00:00Z").run()
    at.text_input(key="w_end").set_value("2026-11-20T04:30:00Z").run()
    assert_clean(at)
    assert qp(at)["start"] == "2026-11-20T02:00:00Z"
    assert qp(at)["end"] == "2026-11-20T04:30:00Z"
    metrics = summary(at)
    assert metrics["Incidents"] == "2"  # network at 02:30 and max_connections at 04:00
    at.text_input(key="w_start").set_value("yesterday-ish").run()
    assert_clean(at)
    assert any("Not a time" in w.value for w in at.sidebar.warning)


def test_custom_range_from_url(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch, range="custom", start="2026-11-20T04:30:00Z", end="2026-11-20T06:00:00Z")
    assert_clean(at)
    assert at.selectbox(key="w_range").value == "custom"
    metrics = summary(at)
    assert metrics["Incidents"] == "1"  # the restart at 05:00


def test_cause_filter(any_store, monkeypatch):
    incidents = Store(any_store).incidents()
    cause = incidents["cause"][0] if incidents.height else "idle_timeout"
    expected = incidents.filter(incidents["cause"] == cause).height
    at = run_app(any_store, monkeypatch)
    at.multiselect(key="w_causes").set_value([cause]).run()
    assert_clean(at)
    assert qp(at)["cause"] == cause
    assert summary(at)["Incidents"] == f"{expected:,}"
    at.radio(key="w_page").set_value("incidents").run()
    assert_clean(at)
    if expected:
        assert set(at.dataframe[0].value["cause"]) == {cause}


def test_host_filter(any_store, monkeypatch):
    at = run_app(any_store, monkeypatch)
    hosts = at.multiselect(key="w_hosts").options
    if not hosts:
        pytest.skip("store has no hosts")
    host = hosts[0]
    at.multiselect(key="w_hosts").set_value([host]).run()
    assert_clean(at)
    assert qp(at)["host"] == host
    expected = Store(any_store).incidents(hosts=[host]).height
    assert summary(at)["Incidents"] == f"{expected:,}"


def test_source_filter(any_store, monkeypatch):
    at = run_app(any_store, monkeypatch)
    at.multiselect(key="w_sources").set_value(["latency", "app"]).run()
    assert_clean(at)
    assert at.query_params["source"] == ["latency", "app"] or qp(at)["source"] in ("latency", "app")
    assert plotly_count(at) >= 1


def test_state_round_trips_through_the_url(demo_store, monkeypatch):
    at = run_app(
        demo_store,
        monkeypatch,
        page="incidents",
        range="24h",
        host="app-2",
        cause=["max_connections", "server_restart"],
        source="app",
    )
    assert_clean(at)
    assert at.radio(key="w_page").value == "incidents"
    assert at.selectbox(key="w_range").value == "24h"
    assert at.multiselect(key="w_hosts").value == ["app-2"]
    assert at.multiselect(key="w_causes").value == ["max_connections", "server_restart"]
    assert at.multiselect(key="w_sources").value == ["app"]
    assert set(at.dataframe[0].value["cause"]) == {"max_connections", "server_restart"}


def test_page_radio_covers_every_page(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch)
    for page in ("incidents", "incident", "health", "overview"):
        at.radio(key="w_page").set_value(page).run()
        assert_clean(at)
        assert qp(at).get("page", "overview") == page


# ----------------------------------------------------------------------------- edge cases


def test_missing_store(tmp_path, monkeypatch):
    at = run_app(tmp_path / "nothing-here.duckdb", monkeypatch)
    assert_clean(at)
    assert "There is no store" in texts(at)


def test_not_a_store(tmp_path, monkeypatch):
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("this is not a database\n" * 100)
    monkeypatch.setenv(store_mod.ENV_DB, str(bogus))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error and "Cannot read the store" in at.error[0].value


@pytest.mark.parametrize("page", ["overview", "incidents", "incident", "health"])
def test_empty_store(tmp_path, monkeypatch, page):
    db = tmp_path / "empty.duckdb"
    store_mod.connect(db).close()
    at = run_app(db, monkeypatch, page=page)
    assert_clean(at)
    if page == "health":
        assert "No files ingested yet." in texts(at)
    else:
        assert "The store is empty" in texts(at)


@pytest.mark.parametrize("page", ["overview", "incidents", "incident"])
def test_store_without_incidents(tmp_path, monkeypatch, page):
    db = demo.make_store(tmp_path / "quiet.duckdb", incidents=False)
    at = run_app(db, monkeypatch, page=page)
    assert_clean(at)
    assert "No incidents in this store" in texts(at)


def test_missing_latency_source(tmp_path, monkeypatch):
    db = demo.make_store(tmp_path / "nolat.duckdb")
    with store_mod.opened(db) as con:
        con.execute("DELETE FROM latency")
        con.execute("DELETE FROM files WHERE format = 'latency_csv'")
    at = run_app(db, monkeypatch, page="health")
    assert_clean(at)
    assert "`network` cannot be judged" in texts(at)
    at = run_app(db, monkeypatch, page="incident", incident="inc-net-0002")
    assert_clean(at)
    assert "`network` cannot be judged" in texts(at)
    at = run_app(db, monkeypatch)
    assert_clean(at)
    assert "`network` cannot be judged" in texts(at)


# ----------------------------------------------------------------------------- while ingest writes

WRITER = textwrap.dedent("""
    import sys, time, json
    from pipeline import store
    db, seconds, hold = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    end = time.monotonic() + seconds
    commits = 0
    while time.monotonic() < end:
        # like ingest: open, write one transaction, close; wait as long as a reader has it
        with store.opened(db, wait_s=60) as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("INSERT INTO rejects VALUES ('/logs/x.log', ?, 'test', 'x')", [commits])
            time.sleep(hold)
            con.execute("COMMIT")
            store.touch_changed(con)
        commits += 1
        time.sleep(0.05)
    print(json.dumps({"commits": commits}))
""")


def switch_pages(at: AppTest, pages: list[str], go_on) -> int:
    """Rerun ``at`` on each of ``pages`` in turn while ``go_on(runs so far)``, every run
    clean; gives the number of runs."""
    runs = 0
    while go_on(runs):
        at.radio(key="w_page").set_value(pages[runs % len(pages)]).run()
        assert_clean(at)
        runs += 1
    return runs


def start_writer(db: Path, seconds: float, hold: float) -> subprocess.Popen:
    """WRITER in another process: commits to ``db`` for ``seconds``, each held ``hold`` s."""
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(seconds), str(hold)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_dashboard_while_the_store_is_written(tmp_path, monkeypatch):
    """Short commits in another process (as ingest makes them): the dashboard keeps
    answering without an error, and the writer never fails because of the dashboard."""
    db = demo.make_store(tmp_path / "busy.duckdb")
    at = run_app(db, monkeypatch)  # a first view, read before the writer starts
    assert_clean(at)
    writer = start_writer(db, 8, 0.2)
    try:
        deadline = time.monotonic() + 7
        pages = ["overview", "incidents", "incident", "health"]
        runs = switch_pages(at, pages, lambda runs: time.monotonic() < deadline)
    finally:
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert json.loads(out)["commits"] > 5
    assert runs >= 2


def test_dashboard_while_a_writer_holds_the_store(tmp_path, monkeypatch):
    """A commit longer than the dashboard waits: it shows the last data it read (or a
    notice on a first visit), never an error."""
    db = demo.make_store(tmp_path / "held.duckdb")
    at = run_app(db, monkeypatch)
    assert_clean(at)
    writer = start_writer(db, 0.1, 12)
    try:
        time.sleep(1.5)  # the writer has the store now (and has changed its version)
        at.run()
        assert_clean(at)
        assert at.title[0].value == "Database connection drops"  # the cached view
        fresh = run_app(db, monkeypatch, page="health")  # a new visitor, nothing cached for it
        assert_clean(fresh)
    finally:
        _out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err


def test_dashboard_during_a_real_ingest(tmp_path, monkeypatch):
    """`pipeline ingest` of a generated fleet into the store the dashboard shows: the
    ingest succeeds, every rerun meanwhile is clean, and the new data appears after."""
    if not (ROOT / "bench" / "generate.py").exists():
        pytest.skip("bench/generate.py is absent")
    logs = tmp_path / "gen"
    generate_logs(logs, size="20MB", seed=5)
    db = tmp_path / "live.duckdb"
    store_mod.connect(db).close()
    at = run_app(db, monkeypatch)
    assert_clean(at)
    assert "The store is empty" in texts(at)
    ingest = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "ingest", str(logs / "logs"), "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pages = ["overview", "incidents", "health", "incident"]
        runs = switch_pages(at, pages, lambda runs: ingest.poll() is None and runs < 200)
    finally:
        _out, err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, err
    assert runs >= 1
    at = run_app(db, monkeypatch)
    assert_clean(at)
    assert summary(at)["Incidents"] != "0"


def test_incident_page_remembers_the_last_incident(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch, page="incident", incident="inc-net-0002")
    at.radio(key="w_page").set_value("overview").run()
    at.radio(key="w_page").set_value("incident").run()
    assert_clean(at)
    assert at.selectbox(key="w_incident").value == "inc-net-0002"
    assert qp(at)["incident"] == "inc-net-0002"


# ----------------------------------------------------------------------------- what the pages say


def test_overview_timeline_names_every_cause_colour(any_store, monkeypatch):
    if Store(any_store).incidents().height == 0:
        pytest.skip("store has no incidents")
    at = run_app(any_store, monkeypatch)
    assert_clean(at)
    timeline = plotly_specs(at)[0]
    key = [t for t in timeline["data"] if t.get("legendgroup") == charts.CAUSE_KEY_GROUP]
    assert [t["name"] for t in key] == list(CAUSES)
    assert [t["marker"]["color"] for t in key] == [charts.cause_color(c) for c in CAUSES]
    assert key[0]["legendgrouptitle"]["text"] == charts.CAUSE_KEY_TITLE


def test_overview_legend_fits_without_a_scroll_bar(any_store, monkeypatch):
    at = run_app(any_store, monkeypatch)
    assert_clean(at)
    timeline = plotly_specs(at)[0]
    entries = [t for t in timeline["data"] if t.get("showlegend", True) and t.get("name")]
    layout = timeline["layout"]
    plot_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    assert plot_px >= 19 * len(entries)
    targets = [t for t in entries if t.get("legendgroup") == "latency" and "→" in t["name"]]
    assert len(targets) <= charts.LATENCY_TARGETS_SHOWN  # the rest are one "and K more targets" line


def test_most_frequent_cause_shows_every_tie(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch)
    assert_clean(at)
    incidents = Store(demo_store).incidents()
    assert incidents.group_by("cause").len()["len"].to_list() == [1] * incidents.height  # one of each
    shown = summary(at)
    assert "Most frequent cause" not in shown
    assert shown["Most frequent causes (tied)"] == ", ".join(c for c in CAUSES if c in set(incidents["cause"]))
    # one cause: no tie
    at.multiselect(key="w_causes").set_value(["network"]).run()
    assert_clean(at)
    assert summary(at)["Most frequent cause"] == "network"


def test_most_frequent_causes_ranks_ties_in_registry_order():
    frame = pl.DataFrame({"cause": ["server_restart", "network", "idle_timeout", "network", "server_restart"]})
    assert views.most_frequent_causes(frame) == (["network", "server_restart"], 2)
    assert views.most_frequent_causes(frame.head(1)) == (["server_restart"], 1)
    assert views.most_frequent_causes(frame.head(0)) == ([], 0)


SECTION_OF = {  # chart -> (title of its figure, subheader shown instead when there is no data)
    "latency": ("Latency around the incident", "Latency"),
    "idle_times": ("Idle time of connections before checkout", "Idle times"),
}


def test_incident_page_draws_the_charts_its_cause_declares(any_store, monkeypatch):
    incidents = Store(any_store).incidents()
    if incidents.height == 0:
        pytest.skip("store has no incidents")
    for row in incidents.select("incident_id", "cause").to_dicts():
        at = run_app(any_store, monkeypatch, page="incident", incident=row["incident_id"])
        assert_clean(at)
        declared = by_name(row["cause"]).charts
        titles = [chart_title(spec) for spec in plotly_specs(at)]
        subheaders = [s.value for s in at.subheader]
        assert ("Timeline around the incident" in subheaders) == ("timeline" in declared), row
        for chart, (title, subheader) in SECTION_OF.items():
            present = title in titles or subheader in subheaders
            assert present == (chart in declared), (row, chart, titles, subheaders)


def test_pool_exhausted_page_shows_no_idle_chart(sample_store, monkeypatch):
    incidents = Store(sample_store).incidents().filter(pl.col("cause") == "pool_exhausted")
    if incidents.height == 0:
        pytest.skip("the sample store has no pool_exhausted incident")
    assert "idle_times" not in by_name("pool_exhausted").charts
    at = run_app(sample_store, monkeypatch, page="incident", incident=incidents["incident_id"][0])
    assert_clean(at)
    page = texts(at)
    assert "idle limit" not in page.lower() and "28800" not in page
    assert "Idle time of connections before checkout" not in [chart_title(s) for s in plotly_specs(at)]


def test_charts_of_a_cause_the_registry_does_not_know():
    from pipeline.causes import INCIDENT_CHARTS

    assert views.charts_for("no-such-cause") == INCIDENT_CHARTS
    assert by_name("unknown").charts == INCIDENT_CHARTS  # too little evidence: every chart


def test_incident_numbers_say_what_they_count(demo_store, monkeypatch):
    at = run_app(demo_store, monkeypatch, page="incident", incident="inc-idle-0001")
    assert_clean(at)
    page = texts(at)
    inc = Store(demo_store).incident("inc-idle-0001")
    assert f"{inc.errors} connection failures on" in page  # the header
    notes = page.replace("**", "")
    assert f"{inc.errors} connection failures in the incident: requests the application logged as failed" in notes
    assert "failed checkout" in notes and "The chart covers" in notes
    assert " errors on " not in page  # no bare "errors" beside "checkouts failed"


def _idle(ts_failed: list[tuple[int, bool]]) -> pl.DataFrame:
    t0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    return pl.DataFrame(
        {
            "ts": [t0 + dt.timedelta(seconds=s) for s, _ in ts_failed],
            "idle_s": [30.0] * len(ts_failed),
            "failed": [f for _, f in ts_failed],
        }
    )


def test_idle_notes_tell_failed_checkouts_from_connection_failures():
    t0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    inc = {"start_ts": t0 + dt.timedelta(seconds=100), "end_ts": t0 + dt.timedelta(seconds=200), "errors": 5}
    # 9 failed checkouts in the incident (one 3 s before its first failure), 2 outside it
    checkouts = [(97, True)] + [(110 + i, True) for i in range(8)] + [(20, True), (300, True), (150, False)]
    found = {
        "window": (t0, t0 + dt.timedelta(seconds=400)),
        "limit": None,
        "wait_timeout": 28800.0,
        "drop_within_s": 5.0,
    }
    notes = views.idle_notes(inc, _idle(checkouts), found)
    assert "**5 connection failures** in the incident" in notes
    assert "**9 failed checkouts** in the same time (more than the failures" in notes
    assert "The chart covers 12 checkouts" in notes and "11 of them failed" in notes
    # a wait_timeout is not presented as a limit the failures showed
    assert "Idle limit inferred" not in notes
    assert "No idle limit could be inferred from these checkouts (the server's wait_timeout is 28800 s" in notes
    inferred = views.idle_notes(inc, _idle(checkouts), {**found, "limit": (240.0, 300.0)})
    assert "Idle limit inferred from the failures: between 240 s and 300 s." in inferred
    fewer = views.idle_notes({**inc, "errors": 20}, _idle(checkouts), found)
    assert "(fewer than the failures" in fewer


# ----------------------------------------------------------------------------- caching


def test_figures_are_built_once_per_store_version(tmp_path, monkeypatch):
    db = demo.make_store(tmp_path / "cached.duckdb", events=2000)
    built = []
    real = charts.timeline

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(charts, "timeline", counting)
    at = run_app(db, monkeypatch)
    assert_clean(at)
    assert len(built) == 1
    run_app(db, monkeypatch)  # another visitor, same view, same store version: nothing rebuilt
    at.run()  # a rerun
    assert len(built) == 1
    with store_mod.opened(db) as con:  # a commit changes the version: the next run reads anew
        con.execute("INSERT INTO rejects VALUES ('/x.log', 1, 'test', 'x')")
        store_mod.touch_changed(con)
    at.run()
    assert_clean(at)
    assert len(built) == 2


def test_summary_is_drawn_before_the_timeline(demo_store, monkeypatch):
    """The summary goes out first, in plain text elements, and the timeline after it."""
    at = run_app(demo_store, monkeypatch)
    assert_clean(at)
    order = [getattr(el.proto, "id", "") for el in at.main.children.values()]
    summary_at = next(i for i, el_id in enumerate(order) if el_id.endswith("-summary"))
    timeline_at = next(i for i, el_id in enumerate(order) if el_id.endswith("-timeline"))
    assert summary_at < timeline_at
    assert not at.metric  # no st.metric: its component would be loaded before the numbers show
