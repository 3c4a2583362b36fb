"""Tables fit the output's width ($COLUMNS): ids and times whole, paths cut in the middle,
the least needed columns left out, everything with --wide; the next steps after ingest."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.terminal import Column, fit_widths, shorten_middle, table_width
from tests.conftest import SAMPLE_LOGS

SUFFIXES = {".log", ".jsonl", ".csv", ".tsv"}
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def run(*args: object, columns: int | None = None):
    env = {"COLUMNS": str(columns) if columns else None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_fits(text: str, width: int) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} lines over {width} columns, e.g. {long[0]!r}"


@pytest.fixture(scope="module")
def sample_incidents(sample_store):
    rows = json.loads(run("incidents", "--db", sample_store, "--format", "json").output)
    assert rows, "the sample store has incidents"
    return rows


# --- pipeline incidents ------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 100, 200])
def test_incidents_table_keeps_ids_whole_and_fits(sample_store, sample_incidents, width):
    r = run("incidents", "--db", sample_store, columns=width)
    assert r.exit_code == 0, r.output
    assert_fits(r.output, width)
    for incident in sample_incidents:
        assert incident["id"] in r.output
        assert incident["start"][:19].replace("T", " ") in r.output  # the start, whole


def test_narrow_incidents_table_says_what_it_left_out(sample_store):
    out = run("incidents", "--db", sample_store, columns=80).output
    assert "not shown at 80 columns:" in out and "summary" in out and "--wide" in out
    assert "`pipeline explain ID`" in out


def test_wide_incidents_table_shows_every_column_unabridged(sample_store, sample_incidents):
    out = run("incidents", "--db", sample_store, "--wide", columns=80).output
    for header in ("id", "start (UTC)", "dur", "cause", "conf", "hosts", "errors", "summary"):
        assert header in out
    for incident in sample_incidents:
        assert incident["summary"] in out  # on one line
    assert "not shown" not in out


def test_json_and_csv_ignore_the_width(sample_store):
    wide = run("incidents", "--db", sample_store, "--format", "csv", columns=300).output
    assert run("incidents", "--db", sample_store, "--format", "csv", columns=40).output == wide
    assert (
        run("incidents", "--db", sample_store, "--json", "--wide", columns=40).output
        == run("incidents", "--db", sample_store, "--json").output
    )


# --- pipeline status ---------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 100])
def test_status_fits_with_whole_times(sample_store, width):
    r = run("status", "--db", sample_store, columns=width)
    assert r.exit_code == 0, r.output
    assert_fits(r.output, width)
    assert len(TIME.findall(r.output)) >= 10
    # every file still told apart: the files table's first cells are all different
    files_table = re.split(r"^ +files +$", r.output, flags=re.M)[1]
    shown = [line.split("│")[1].strip() for line in files_table.splitlines() if line.startswith("│")]
    assert len(shown) == len(set(shown)) == sum(1 for p in SAMPLE_LOGS.rglob("*") if p.suffix in SUFFIXES)


def test_status_wide_shows_whole_paths(sample_store):
    out = run("status", "--db", sample_store, "--wide", columns=80).output
    for path in SAMPLE_LOGS.glob("*/app.log"):
        assert str(path) in out


# --- pipeline ingest ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restart_ingest(tmp_path_factory):
    db = tmp_path_factory.mktemp("restart") / "r.duckdb"
    r = run("ingest", SAMPLE_LOGS / "server_restart", "--db", db, columns=80)
    assert r.exit_code == 0, r.output
    return db, r.output


def test_ingest_summary_fits_and_keeps_file_names(restart_ingest):
    table, _, _ = restart_ingest[1].partition("Next:")
    assert_fits(table, 80)
    for name in ("app.log", "app.jsonl", "sqlalchemy.log", "mariadb-error.log", "status.tsv", "latency.csv"):
        assert re.search(rf"[/…]{re.escape(name)} ", table), name


def test_ingest_suggests_the_next_commands(restart_ingest):
    db, out = restart_ingest
    incidents = json.loads(run("incidents", "--db", db, "--json").output)
    latest = max(incidents, key=lambda i: (i["start"], i["id"]))["id"]
    assert f"{len(incidents)} incidents in the store. Next:" in out
    lines = out.splitlines()
    for command in (f"explain {latest}", "incidents", "dashboard", "digest --date 2026-11-25"):
        # whole on its line, ready to copy, with the --db the ingest was given
        assert any(line.startswith(f"  pipeline {command} --db {db}") for line in lines), command


def test_ingest_without_incidents_points_to_status(tmp_path):
    r = run("ingest", SAMPLE_LOGS / "baseline", "--db", tmp_path / "b.duckdb", "--no-correlate")
    assert r.exit_code == 0, r.output
    assert "No incidents in the store. Next:" in r.output
    assert "  pipeline correlate --db " in r.output and "  pipeline status --db " in r.output
    assert "pipeline explain" not in r.output


def test_ingest_json_has_no_hint(tmp_path):
    r = run("ingest", SAMPLE_LOGS / "baseline", "--db", tmp_path / "b.duckdb", "--json")
    assert r.exit_code == 0
    json.loads(r.stdout)  # nothing but the JSON


def test_ingest_wide_shows_every_column(restart_ingest):
    r = run("ingest", SAMPLE_LOGS / "server_restart", "--db", restart_ingest[0], "--wide", columns=80)
    for header in ("latency", "metrics", "rejects", "MB"):
        assert header in r.output
    assert "sample_logs/server_restart/mariadb-error.log" in r.output


# --- the pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [12, 20, 28, 34, 43])
def test_shorten_middle_keeps_the_distinctive_end(width):
    paths = [str(p) for p in sorted(SAMPLE_LOGS.rglob("*")) if p.is_file()]
    shown = {shorten_middle(p, width) for p in paths}
    assert all(len(s) <= width for s in shown)
    for p in paths:
        name = p.rsplit("/", 1)[-1]
        if len(name) < width - 2:
            assert shorten_middle(p, width).endswith("/" + name)


def test_shorten_middle_examples():
    assert shorten_middle("/var/log/fleet/web1/app.log", 16) == "/…/web1/app.log"
    assert shorten_middle("/var/log/app.log", 16) == "/var/log/app.log"
    assert shorten_middle("a-very-long-name-without-separators", 12) == "a-v…parators"
    assert shorten_middle("日本語/日本語/app.log", 12) == "…語/app.log"  # wide characters count double
    assert shorten_middle("anything", 1) == "…"


def test_fit_widths_leaves_out_the_least_needed_first():
    columns = [Column("id"), Column("a", keep=10), Column("b", keep=20), Column("text", keep=30, shrink="wrap")]
    rows = [["x" * 10, "aaaa", "bbbb", "t" * 100]]
    assert fit_widths(columns, rows, 200) == [10, 4, 4, 100]
    widths = fit_widths(columns, rows, 30)
    assert widths == [10, None, 4, 6] and table_width(widths) == 30
    assert fit_widths(columns, rows, 5)[0] == 10  # a required column is never cut
