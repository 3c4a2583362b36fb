"""Screenshots of the dashboard for the README (needs playwright and Debian's chromium).

    pipeline ingest sample_logs/ --db /tmp/sample.duckdb
    python -m dashboard.screenshots --db /tmp/sample.duckdb --out docs/img

Starts ``pipeline dashboard`` on a free port, opens the overview and one incident
page (``--incident ID``, else the most confident idle-timeout incident, else the
most confident one) in headless Chromium, and writes ``dashboard-overview.png``
and ``dashboard-incident.png``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1440


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_incident(db: Path) -> str | None:
    from pipeline.api import Store

    frame = Store(db).incidents()
    if frame.height == 0:
        return None
    idle = frame.filter(frame["cause"] == "idle_timeout")
    chosen = (idle if idle.height else frame).sort(["confidence", "errors"], descending=True)
    return chosen["incident_id"][0]


def _wait_idle(page, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while time.monotonic() < deadline and quiet < 4:
        quiet = 0 if page.locator("[data-testid=stStatusWidget]").count() else quiet + 1
        time.sleep(0.3)


def _shoot(page, path: Path, max_height: int) -> None:
    full = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": WIDTH, "height": min(max(int(full) + 40, 900), max_height)})
    time.sleep(1.5)
    page.screenshot(path=str(path))


def take(
    db: Path, out: Path, *, incident: str | None = None, chromium: str = "/usr/bin/chromium", max_height: int = 3600
) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    incident = incident or pick_incident(db)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "dashboard", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    base = f"http://127.0.0.1:{port}"
    written = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the dashboard did not start") from None
                time.sleep(0.25)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(base + "/")
            page.wait_for_selector(".js-plotly-plot .main-svg")
            _wait_idle(page)
            _shoot(page, out / "dashboard-overview.png", max_height)
            written.append(out / "dashboard-overview.png")
            if incident:
                page.set_viewport_size({"width": WIDTH, "height": 1000})
                page.goto(f"{base}/?page=incident&incident={incident}")
                page.get_by_role("heading", name="Evidence").wait_for()
                _wait_idle(page)
                _shoot(page, out / "dashboard-incident.png", max_height)
                written.append(out / "dashboard-incident.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--out", default=Path("docs/img"), type=Path)
    parser.add_argument("--incident")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--max-height", type=int, default=3600)
    args = parser.parse_args(argv)
    for path in take(args.db, args.out, incident=args.incident, chromium=args.chromium, max_height=args.max_height):
        print(path)


if __name__ == "__main__":
    main()
