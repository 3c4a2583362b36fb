"""Rendering and the command's outputs: stdout, --out files, --json, HTML safety, Slack limits,
and the digest of the store ingested from sample_logs/."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import store as store_mod
from pipeline.cli import cli
from pipeline.digest import compute as compute_mod
from pipeline.digest import render
from tests.test_digest_numbers import INCIDENTS, T, make_store

BUSY = "2026-11-23"
QUIET = "2026-11-19"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("render") / "store.duckdb")


def run(*args, env=None):
    return CliRunner().invoke(cli, ["digest", *args], env=env, catch_exceptions=False)


def test_stdout_is_the_markdown(db):
    r = run("--db", str(db), "--date", BUSY)
    assert r.exit_code == 0, r.stderr
    d = compute_mod.compute_from_store(db, compute_mod.day_period(date(2026, 11, 23)))
    assert r.stdout == render.markdown(d)
    assert r.stderr == ""


def test_db_from_environment_and_json(db):
    r = run("--date", BUSY, "--json", env={"PIPELINE_DB": str(db)})
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["incidents"] == 8 and data["drops"] == 79 and data["quiet"] is False
    assert data["new_causes"] == ["max_connections", "unknown"]
    assert data["worst"]["incident_id"] == "busy-m1"


def test_tz_option_moves_the_day(db):
    utc = json.loads(run("--db", str(db), "--date", BUSY, "--json").stdout)
    berlin = json.loads(run("--db", str(db), "--date", BUSY, "--json", "--tz", "Europe/Berlin").stdout)
    assert berlin["period"]["start"] == "2026-11-23T00:00:00+01:00"
    assert utc["incidents"] - berlin["incidents"] == 1  # the 23:30 UTC incident is on the 24th in Berlin
    assert "2026-11-23 13:00:00" in run("--db", str(db), "--date", BUSY, "--tz", "Europe/Berlin").stdout


def test_bad_arguments(db, tmp_path):
    r = run("--db", str(db), "--date", BUSY, "--since", "24h")
    assert r.exit_code == 1 and "only one of" in r.stderr
    r = run("--db", str(db), "--tz", "Nowhere/Land")
    assert r.exit_code == 1 and "unknown time zone" in r.stderr
    r = run("--db", str(db), "--since", "a while")
    assert r.exit_code == 1 and "cannot read duration" in r.stderr
    r = run("--db", str(tmp_path / "missing.duckdb"), "--date", BUSY)
    assert r.exit_code == 1 and "no store at" in r.stderr
    r = run("--db", str(db), "--date", BUSY, "--mail-to", "ops@example.com")
    assert r.exit_code == 1 and "no SMTP server" in r.stderr
    r = run("--db", str(db), "--date", BUSY, "--send")
    assert r.exit_code == 1 and "neither mail_to nor webhook" in r.stderr


def test_out_writes_markdown_and_html_with_the_image(db, tmp_path):
    out = tmp_path / "digests"
    r = run("--db", str(db), "--date", BUSY, "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["digest-2026-11-23.html", "digest-2026-11-23.md"]
    assert (out / "digest-2026-11-23.md").read_text() == run("--db", str(db), "--date", BUSY).stdout
    html = (out / "digest-2026-11-23.html").read_text()
    m = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert m, "the HTML file carries its timeline image"
    assert base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in html.lower()
    # a quiet day: one line, no image
    r = run("--db", str(db), "--date", QUIET, "--out", str(out))
    quiet = (out / "digest-2026-11-19.html").read_text()
    assert "<img" not in quiet and "Quiet day: no connection drops on 2026-11-19" in quiet


def test_since_file_name(db, tmp_path):
    r = run("--db", str(db), "--since", "24h", "--out", str(tmp_path), "--no-image")
    assert r.exit_code == 0, r.stderr
    assert len(list(tmp_path.glob("digest-*T*.md"))) == 1


def test_html_escapes_store_text(tmp_path):
    evil = [("x1", T(23, 10), T(23, 10, 1), "network", ["<img src=x onerror=alert(1)>"], 3)]
    db = make_store(tmp_path / "evil.duckdb", incidents=evil)
    with store_mod.opened(db) as con:
        con.execute(
            "UPDATE incidents SET summary = '<script>alert(1)</script> | pipe', advice = ['<b>raise</b> wait_timeout']"
        )
    d = compute_mod.compute_from_store(db, compute_mod.day_period(date(2026, 11, 23)))
    html = render.html_page(d, "cid:timeline")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "&lt;b&gt;raise&lt;/b&gt;" in html
    md = render.markdown(d)
    assert "\\| pipe" in md  # a pipe cannot break the Markdown table


def test_slack_payload_respects_block_limits(tmp_path):
    many = [
        (
            f"n{i}",
            T(23, 0) + timedelta(minutes=3 * i),
            T(23, 0) + timedelta(minutes=3 * i + 1),
            "network",
            [f"web-{i:03d}.a-very-long-host-name.example.internal"],
            1,
        )
        for i in range(400)
    ]
    db = make_store(tmp_path / "many.duckdb", incidents=many + INCIDENTS[:8])
    payload = render.slack_payload(compute_mod.compute_from_store(db, compute_mod.day_period(date(2026, 11, 23))))
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
        assert all(len(t) <= 3000 for t in texts)
    assert len(payload["blocks"][0]["text"]["text"]) <= 150


def test_errors_only_source_is_not_reported_as_stopped(db):
    d = compute_mod.compute_from_store(db, compute_mod.day_period(date(2026, 11, 24)))
    assert ("events", "app", "web-3") not in {(s.stream, s.source, s.host) for s in d.stopped}
    assert ("events", "mysql", "db-1") in {(s.stream, s.source, s.host) for s in d.stopped}


# --- the store ingested from sample_logs/ -----------------------------------------------------------


def _sample_days(db) -> list[date]:
    with store_mod.opened(db, read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT CAST(timezone('UTC', start_ts) AS DATE) FROM incidents ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_sample_store_digests_match_sql(sample_store):
    days = _sample_days(sample_store)
    if not days:
        pytest.skip("the sample store has no incidents")
    for day in days + [days[0] - timedelta(days=1)]:
        p = compute_mod.day_period(day)
        d = compute_mod.compute_from_store(sample_store, p)
        with store_mod.opened(sample_store, read_only=True) as con:
            n, drops = con.execute(
                "SELECT count(*), coalesce(sum(errors), 0) FROM incidents WHERE start_ts >= ? AND start_ts < ?",
                [p.start, p.end],
            ).fetchone()
            causes = dict(
                con.execute(
                    "SELECT cause, count(*) FROM incidents WHERE start_ts >= ? AND start_ts < ? GROUP BY cause",
                    [p.start, p.end],
                ).fetchall()
            )
        assert (d.incidents, d.drops) == (n, drops)
        assert {r.cause: r.incidents for r in d.by_cause if r.incidents} == causes
        md = render.markdown(d)
        if n:
            assert f"| **total** | **{n:,}** | **{drops:,}** |" in md
        else:
            assert "Quiet day" in md
        assert md == render.markdown(compute_mod.compute_from_store(sample_store, p))


def test_docs_digest_is_the_sample_store_digest(sample_store):
    """The example digest of docs/digest.md is the one the sample logs give (numbers, not wording)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "digest.md").read_text()
    section = page.split("\n## An example\n", 1)[1]  # the digest itself has "## " headings
    m = re.search(r"\$ pipeline digest --date (\d{4}-\d{2}-\d{2})\n(.*?)```", section, re.S)
    assert m, "docs/digest.md shows a digest made from sample_logs/ under 'An example'"
    day, shown = date.fromisoformat(m.group(1)), m.group(2)
    d = compute_mod.compute_from_store(sample_store, compute_mod.day_period(day))
    fresh = render.markdown(d)
    table = "Incidents by cause"
    assert _cause_rows(shown, table) == _cause_rows(fresh, table)
    assert shown.splitlines()[2] == fresh.splitlines()[2]  # the headline


def _cause_rows(md: str, heading: str) -> list[tuple[str, str, str]]:
    block = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in block.splitlines() if r.startswith("| ") and not r.startswith("|---")][1:]
    return [tuple(c.strip(" *") for c in r.strip("|").split("|")[:3]) for r in rows]


def test_incidents_only_image_without_a_store(db):
    from pipeline.digest.image import timeline_png

    d = compute_mod.compute_from_store(db, compute_mod.day_period(date(2026, 11, 23)))
    assert timeline_png(d)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failing_image_does_not_stop_the_digest(db, tmp_path, monkeypatch):
    import pipeline.digest.image as image_mod

    def broken(*args, **kwargs):
        raise RuntimeError("no browser here")

    monkeypatch.setattr(image_mod, "timeline_png", broken)
    r = run("--db", str(db), "--date", BUSY, "--out", str(tmp_path))
    assert r.exit_code == 0
    assert "warning: timeline image unavailable (RuntimeError: no browser here)" in r.stderr
    html = (tmp_path / "digest-2026-11-23.html").read_text()
    assert "<img" not in html and "Incidents by cause" in html
