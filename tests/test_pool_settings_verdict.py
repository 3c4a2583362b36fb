""" "Why didn't my settings help": the application's pool settings, from [pool] in pipeline.toml
or seen in its logs, and the verdict says which of them let the drops through."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"


def idle_incident(tmp_path: Path, scenario: str | Path, toml: str | None) -> dict:
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / scenario, logs)
    if toml is not None:
        (tmp_path / "pipeline.toml").write_text(toml)
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(logs), "--db", db])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(cli, ["incidents", "--db", db, "--format", "json"]).output)
    idle = [r for r in listed if r["cause"] == "idle_timeout"]
    assert len(idle) == 1, listed
    explained = runner.invoke(cli, ["explain", idle[0]["id"], "--db", db, "--json"])
    assert explained.exit_code == 0, explained.output
    return json.loads(explained.output)


def test_pool_recycle_above_the_measured_limit_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inc = idle_incident(tmp_path, "middlebox_idle_kill", "[pool]\npool_recycle = 3600\nread_timeout = 4\n")
    assert inc["details"]["pool_settings"] == {"pool_recycle": 3600, "read_timeout": 4.0}
    assert inc["details"]["pool_settings_from"] == "pipeline.toml"
    assert inc["advice"][0].startswith("pool_recycle=3600 did not help: it is above the")


def test_the_tutorial_service_hears_which_setting_let_the_drops_through(tmp_path, monkeypatch):
    """One worker, one pooled connection: the listener's lines give idle times, and its
    [pool] (as the lab wrote it: pool_recycle=3600, read_timeout=4) says why nothing helped."""
    monkeypatch.chdir(tmp_path)
    toml = (SAMPLES / "tutorial_idle_silent" / "pipeline.toml").read_text()
    inc = idle_incident(tmp_path, "tutorial_idle_silent", toml)
    assert inc["details"]["pool_settings"]["listener_ping"] is True
    assert inc["details"]["pool_settings"]["pool_recycle"] == 3600
    assert inc["details"]["pool_settings_from"] == "pipeline.toml and the logs"
    assert inc["advice"][0].startswith("pool_recycle=3600 did not help: it is above the")
    advice = " ".join(inc["advice"])
    assert "The checkout listener's ping found the dead connections at checkout" in advice
    assert "(4.0 s)" in advice  # the read timeout each check of a silently cut connection waits
    # nothing the listener already does is advised again
    assert "Set pool_pre_ping=True" not in advice and "DisconnectionError" not in advice


def test_where_no_line_measures_the_limit_common_ones_are_named(tmp_path, monkeypatch):
    """Several workers in one log with listeners that name no connection: the idle times are
    unknown, so the advice names common middlebox limits instead of a measured one."""
    monkeypatch.chdir(tmp_path)
    inc = idle_incident(tmp_path, ROOT / "recordings" / "realtime" / "realtime_idle_tutorial", None)
    assert inc["details"]["pool_settings"] == {"listener_ping": True}
    assert inc["details"]["pool_settings_from"] == "the logs"
    assert "350 s (AWS Network Load Balancer)" in " ".join(inc["advice"])


def test_a_mistyped_pool_setting_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.toml").write_text("[pool]\npool_recyle = 3600\n")
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 2
    assert "[pool] pool_recyle: unknown setting (did you mean pool_recycle?)" in result.output
