"""The real dashboard server, driven in headless Chromium.

Starts ``pipeline dashboard`` on a free port over the sample store (the
synthetic demo store while ``sample_logs/`` is empty), then with Playwright and
Debian's ``/usr/bin/chromium``: measures the first meaningful paint (navigation
to the overview's summary numbers visible, for the server's first visitor and
the next one, each in a fresh browser context; printed and written to
``test-artifacts/dashboard-first-paint.txt``), loads the overview, opens the incidents page,
selects the first incident's row, checks that the incident page shows its
evidence lines, switches incident with the selector, and opens data health.
Screenshots land in ``test-artifacts/`` at the repository root:

* ``dashboard-overview.png``   the overview: timeline lanes with incident bands, counts by cause and host
* ``dashboard-incidents.png``  the incidents table
* ``dashboard-incident.png``   the selected incident: verdict, advice, zoomed timeline, latency and
                               idle-time charts, evidence lines
* ``dashboard-health.png``     data health: coverage per source, formats, rejects with examples
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.screenshots import CHROMIUM_ARGS  # the same browser the README screenshots use
from tests.helpers import start_dashboard, stop_process, wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# generous: CI machines are small and the first render builds plotly figures
TIMEOUT_MS = 90_000
# the overview's summary numbers: the first meaningful paint
SUMMARY = ".st-key-summary h2"
# generous, so that a busy CI machine does not fail the test; the measured figure is reported
FIRST_PAINT_BOUND_S = 10.0

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_store(tmp_path_factory, request) -> Path:
    """A private copy of the sample store when it has incidents to pick, else the synthetic
    demo store (a copy: one test here holds the store's write lock)."""
    from pipeline.api import Store

    try:
        sample = request.getfixturevalue("sample_store")
        if Store(sample).counts()["incidents"]:
            copy = tmp_path_factory.mktemp("browser") / "sample.duckdb"
            shutil.copy(sample, copy)
            return copy
    except pytest.skip.Exception:
        pass
    from dashboard import demo

    return demo.make_store(tmp_path_factory.mktemp("browser") / "demo.duckdb")


@pytest.fixture(scope="module")
def server(browser_store, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "dashboard.log"
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until teardown
    proc = start_dashboard(browser_store, port, log)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, proc, log_path=log_path)
    yield base
    stop_process(proc)
    log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    context.close()


def _settle(pg) -> None:
    """Wait until Streamlit has finished the current run."""
    pg.wait_for_selector("[data-testid=stAppViewContainer]")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        running = pg.locator("[data-testid=stStatusWidget]").count()
        quiet = 0 if running else quiet + 1
        time.sleep(0.3)


def _shot(pg, name: str, height: int = 1000) -> Path:
    """A screenshot of the whole page (Streamlit scrolls inside its own container,
    so the viewport is stretched to the content first)."""
    ARTIFACTS.mkdir(exist_ok=True)
    full = pg.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]') "
        "|| document.querySelector('section.main'); return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    pg.set_viewport_size({"width": 1440, "height": max(height, min(int(full or height) + 40, 6000))})
    time.sleep(1.0)  # let plotly re-layout
    path = ARTIFACTS / name
    pg.screenshot(path=str(path), full_page=True)
    pg.set_viewport_size({"width": 1440, "height": 1000})
    return path


def _first_incident(db: Path):
    from pipeline.api import Store

    store = Store(db)
    frame = store.incidents()
    if frame.height == 0:
        pytest.skip("the store has no incidents to pick")
    return store, frame


def _first_paint(browser, url: str) -> tuple[float, float]:
    """Seconds from navigation to the summary numbers visible, and to the timeline drawn,
    for a new visitor (a fresh browser context: nothing in the browser's cache)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        started = time.monotonic()
        pg.goto(url)
        pg.locator(SUMMARY).first.wait_for(state="visible")
        summary_s = time.monotonic() - started
        pg.wait_for_selector(".js-plotly-plot .main-svg")
        timeline_s = time.monotonic() - started
        assert not pg.locator("[data-testid=stException]").count()
        return summary_s, timeline_s
    finally:
        context.close()


def test_first_paint_shows_the_summary_first(server, browser, record_property):
    """The overview's summary is drawn before the heavy timeline, soon after navigation.
    Runs first in this module: its first visit is the server's first (nothing cached)."""
    first = _first_paint(browser, server + "/")
    again = _first_paint(browser, server + "/")  # the store's queries and figures are cached now
    report = (
        f"first meaningful paint (navigation to the summary visible): {first[0]:.2f} s for the server's "
        f"first visitor, {again[0]:.2f} s for the next; timeline drawn at {first[1]:.2f} s and {again[1]:.2f} s"
    )
    print(report)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard-first-paint.txt").write_text(report + "\n")
    record_property("first_paint_s", round(first[0], 3))
    record_property("first_paint_cached_s", round(again[0], 3))
    assert first[0] < FIRST_PAINT_BOUND_S and again[0] < FIRST_PAINT_BOUND_S, report
    assert first[0] <= first[1] and again[0] <= again[1], report  # the summary does not wait for the chart


def test_overview_pick_incident_and_evidence(server, page, browser_store):
    store, incidents = _first_incident(browser_store)

    # overview: the timeline is drawn with its lanes
    started = time.monotonic()
    page.goto(server + "/")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    first_view_s = time.monotonic() - started
    _settle(page)
    assert page.get_by_role("heading", name="Database connection drops").is_visible()
    svg_text = page.locator(".js-plotly-plot").first.text_content()
    assert "app errors" in svg_text or "SQLAlchemy pool" in svg_text
    assert not page.locator("[data-testid=stException]").count()
    overview = _shot(page, "dashboard-overview.png")
    assert overview.stat().st_size > 10_000
    print(f"first view drawn in {first_view_s:.1f} s")

    # incidents page via the sidebar; select the first row with its checkbox
    page.get_by_text("Incidents", exact=True).first.click()
    page.wait_for_url("**page=incidents**")
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.wait_for()
    _settle(page)
    _shot(page, "dashboard-incidents.png")
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the row-selection checkbox of row 1
    chosen = incidents["incident_id"][0]  # the table is newest first, like Store.incidents()
    page.wait_for_url(f"**incident={chosen}**")
    page.get_by_role("heading", name="Evidence").wait_for()
    _settle(page)

    # the incident page shows the evidence lines (raw text)
    inc = store.incident(chosen)
    assert page.get_by_text(inc.cause).first.is_visible()
    lines = [line for line in inc.evidence["line"].to_list() if line]
    assert lines, "correlation kept no evidence for the incident"
    code_text = "\n".join(page.locator("[data-testid=stCode]").all_text_contents())
    assert lines[0].splitlines()[0].strip() in code_text
    assert not page.locator("[data-testid=stException]").count()
    _shot(page, "dashboard-incident.png")

    # another incident through the selector: the URL and the evidence follow
    if incidents.height > 1:
        other = incidents["incident_id"][1]
        page.locator("[data-testid=stMain]").get_by_role("combobox").first.click()
        page.get_by_role("option", name=other).first.click()
        page.wait_for_url(f"**incident={other}**")
        _settle(page)
        other_lines = [line for line in store.incident(other).evidence["line"].to_list() if line]
        if other_lines:
            page.get_by_text(other_lines[0].splitlines()[0].strip()[:60]).first.wait_for()

    # data health
    page.get_by_text("Data health", exact=True).first.click()
    page.wait_for_url("**page=health**")
    page.get_by_role("heading", name="Coverage per source").wait_for()
    _settle(page)
    assert not page.locator("[data-testid=stException]").count()
    _shot(page, "dashboard-health.png")


def test_shared_link_opens_the_same_view(server, page, browser_store):
    _, incidents = _first_incident(browser_store)
    chosen = incidents["incident_id"][0]
    page.goto(f"{server}/?page=incident&incident={chosen}&range=all")
    page.get_by_role("heading", name="Evidence").wait_for()
    _settle(page)
    assert chosen in page.locator("[data-testid=stMain]").inner_text()
    assert not page.locator("[data-testid=stException]").count()


def test_injection_in_the_url_shows_no_error(server, page, browser_store):
    before = browser_store.read_bytes()
    page.goto(f"{server}/?host=x'%20OR%201=1%20--&cause=idle_timeout;DROP%20TABLE%20events&page=incidents")
    page.get_by_role("heading", name="Incidents").wait_for()
    _settle(page)
    assert not page.locator("[data-testid=stException]").count()
    assert page.get_by_text("Ignored link values").first.is_visible()
    assert browser_store.read_bytes() == before


HOLD = """
import sys, time
from pipeline import store
with store.opened(sys.argv[1]) as con:   # what a long ingest commit looks like to readers
    con.execute("INSERT INTO rejects VALUES ('/held.log', 1, 'held by the test', 'x')")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_locked_store_shows_a_notice_then_loads(server, page, browser_store, tmp_path):
    """While a writer holds the store longer than a read waits, a page that needs new data
    says the store is busy (no error), and loads by itself once the writer lets go."""
    page.goto(server + "/")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    _settle(page)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(browser_store), "12"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        page.get_by_text("Data health", exact=True).first.click()
        page.get_by_text("An ingest is writing to the store").first.wait_for()
        assert not page.locator("[data-testid=stException]").count()
        assert not page.locator("[data-testid=stAlertContentError]").count()
        page.get_by_role("heading", name="Coverage per source").wait_for()  # after the writer is done
        assert holder.wait(timeout=60) == 0
        assert not page.locator("[data-testid=stException]").count()
    finally:
        if holder.poll() is None:
            holder.kill()
