"""A cause added as one file outside the package (``PIPELINE_CAUSES``) shows up everywhere a
built-in one does: the verdicts, ``incidents`` (and its ``--cause`` filter), ``explain``, the
dashboard's legend and colours, and the digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixture_causes" / "lost_connection_storm.py"
NAME = "lost_connection_storm"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def plugin_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    env = {**os.environ, "PIPELINE_CAUSES": str(FIXTURE)}
    db = tmp_path_factory.mktemp("plugin") / "s.duckdb"
    r = cli("ingest", str(ROOT / "sample_logs" / "network"), "--db", str(db), env=env)
    assert r.returncode == 0, r.stderr
    return db, env


def test_the_cause_names_incidents_and_filters(plugin_store):
    db, env = plugin_store
    r = cli("incidents", "--db", str(db), "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert NAME in {row["cause"] for row in rows}
    r = cli("incidents", "--db", str(db), "--cause", NAME, "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    mine = json.loads(r.stdout)
    assert mine and all(row["cause"] == NAME for row in mine)
    # the summary reads the cause's own details, built from its own query
    assert all("a lost-connection storm of " in row["summary"] for row in mine)
    assert all(" on 1 host(s) " in row["summary"] for row in mine), [row["summary"] for row in mine]
    # the evidence it asked for comes first
    assert mine[0]["evidence"][0]["kind"] == "lost_connection"

    r = cli("explain", mine[0]["id"], "--db", str(db), env=env)
    assert r.returncode == 0, r.stderr
    assert f": {NAME} (confidence" in r.stdout
    assert "Nothing to change: this cause exists for the tests." in r.stdout


def test_its_details_are_stored_typed_and_read_back_as_its_own_type(plugin_store, monkeypatch):
    db, env = plugin_store
    r = cli("incidents", "--db", str(db), "--cause", NAME, "--format", "json", env=env)
    first = json.loads(r.stdout)[0]["id"]
    r = cli("explain", first, "--db", str(db), "--json", env=env)
    assert r.returncode == 0, r.stderr
    stored = json.loads(r.stdout)["details"]
    assert stored["version"] == 2
    assert stored["causes"][NAME]["lost"] >= 1 and stored["causes"][NAME]["hosts_hit"] == 1
    assert stored["features"]["storm_hosts"] == 1  # what its own query found

    monkeypatch.setenv("PIPELINE_CAUSES", str(FIXTURE))
    from pipeline.api import Store
    from pipeline.causes import by_name

    storm_type = by_name(NAME).details
    assert storm_type is not None
    own = Store.open(db).incident(first).details.of(storm_type)
    assert type(own) is storm_type and own.hosts_hit == 1


def test_without_the_variable_the_cause_is_unknown_to_the_cli(plugin_store):
    db, env = plugin_store
    plain = {k: v for k, v in env.items() if k != "PIPELINE_CAUSES"}
    r = cli("incidents", "--db", str(db), "--cause", NAME, env=plain)
    assert r.returncode == 2
    assert f"'{NAME}' is not a cause" in r.stderr


def test_dashboard_legend_and_digest_use_its_colour(plugin_store, monkeypatch):
    db, env = plugin_store
    monkeypatch.setenv("PIPELINE_CAUSES", str(FIXTURE))
    from pipeline import charts
    from pipeline.api import Store
    from pipeline.digest.image import cause_colors
    from pipeline.kinds import CAUSES

    assert CAUSES[NAME].startswith("a cause defined by a test")
    assert charts.cause_color(NAME) == "#123456"
    fig = charts.incidents_by_cause_chart(Store.open(db).incident_counts())
    legend = {trace.name: trace.marker.color for trace in fig.data}
    assert legend[NAME] == "#123456"
    assert cause_colors()[NAME] == "#123456"

    r = cli("digest", "--db", str(db), "--date", "2026-11-25", env=env)
    assert r.returncode == 0, r.stderr
    assert NAME in r.stdout


def test_a_bad_cause_module_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("CAUSE = 5\n")
    env = {**os.environ, "PIPELINE_CAUSES": str(bad)}
    r = cli("incidents", "--db", str(tmp_path / "none.duckdb"), env=env)
    assert r.returncode != 0
    assert "PIPELINE_CAUSES" in r.stderr and "Traceback" not in r.stderr
