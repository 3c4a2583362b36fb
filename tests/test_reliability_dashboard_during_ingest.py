"""A real Streamlit server, polled in headless Chromium while `pipeline ingest` writes to
the same store: zero errors on both sides."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import start_dashboard, stop_process, wait_until_healthy
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _settle
from tests.treegen import make_tree

pytestmark = pytest.mark.slow


def test_dashboard_keeps_answering_during_a_long_ingest(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    db = tmp_path / "s.duckdb"
    first = make_tree(tmp_path / "first", scale=2)
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "ingest", str(first), "--db", str(db)], check=True, capture_output=True
    )
    more = make_tree(tmp_path / "more", scale=12)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "dashboard.log", "w")  # noqa: SIM115 - the server writes to it until the end
    server = start_dashboard(db, port, log)
    try:
        wait_until_healthy(base, server)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(90_000)
            page.goto(base + "/")
            page.wait_for_selector(".js-plotly-plot .main-svg")
            ingest = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "ingest", str(more), "--db", str(db), "--chunk-mb", "1"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            loads = errors = 0
            problems = []
            while ingest.poll() is None or loads < 3:
                page.goto(base + ("/" if loads % 2 == 0 else "/?page=health"))
                page.wait_for_selector("[data-testid=stAppViewContainer]")
                _settle(page)
                loads += 1
                exceptions = page.locator("[data-testid=stException]")
                if exceptions.count():
                    errors += 1
                    problems.append(exceptions.first.text_content()[:300])
            _out, err = ingest.communicate(timeout=600)
            browser.close()
        assert ingest.returncode == 0, err
        assert errors == 0, problems
        assert loads >= 3
    finally:
        stop_process(server)
        log.close()
