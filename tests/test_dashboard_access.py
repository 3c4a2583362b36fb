"""Exposure: a dashboard bound beyond loopback warns, and a token keeps out whoever lacks it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from pipeline import store as store_mod
from pipeline.commands import dashboard as dashboard_cmd

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
TOKEN = "s3cret-team-token"


def run(db: Path, monkeypatch, secret: str | None, **params: str) -> AppTest:
    monkeypatch.setenv(store_mod.ENV_DB, str(db))
    if secret:
        monkeypatch.setenv("PIPELINE_DASHBOARD_TOKEN", secret)
    else:
        monkeypatch.delenv("PIPELINE_DASHBOARD_TOKEN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_without_a_token_the_pages_show(sample_store, monkeypatch):
    at = run(sample_store, monkeypatch, None)
    assert not at.exception
    assert not [t for t in at.text_input if t.label == "Access token"]
    assert at.sidebar  # the page navigation is there


def test_a_token_is_asked_for_and_nothing_is_shown_without_it(sample_store, monkeypatch):
    at = run(sample_store, monkeypatch, TOKEN)
    assert [t for t in at.text_input if t.label == "Access token"]
    assert not at.get("plotly_chart") and not at.dataframe
    at.text_input[0].input("wrong").run()
    assert any("Wrong token" in e.value for e in at.error)
    assert not at.get("plotly_chart")
    at.text_input[0].input(TOKEN).run()
    assert not at.exception
    assert not [t for t in at.text_input if t.label == "Access token"]


def test_a_link_may_carry_the_token(sample_store, monkeypatch):
    at = run(sample_store, monkeypatch, TOKEN, token=TOKEN)
    assert not at.exception
    assert not [t for t in at.text_input if t.label == "Access token"]
    assert "token" not in at.query_params  # not left in the address bar


def test_binding_beyond_loopback_warns(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(dashboard_cmd.os, "execve", lambda *args: started.append(args))
    runner = CliRunner()
    db = str(tmp_path / "s.duckdb")
    exposed = runner.invoke(dashboard_cmd.dashboard_command, ["--db", db, "--host", "0.0.0.0"])
    assert "warning: 0.0.0.0 exposes the dashboard" in exposed.output and "with no token" in exposed.output
    with_token = runner.invoke(dashboard_cmd.dashboard_command, ["--db", db, "--host", "0.0.0.0", "--token", TOKEN])
    assert "visitors must give the token" in with_token.output
    assert started[-1][2]["PIPELINE_DASHBOARD_TOKEN"] == TOKEN
    local = runner.invoke(dashboard_cmd.dashboard_command, ["--db", db])
    assert "warning" not in local.output
