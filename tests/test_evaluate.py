"""``pipeline eval``: matching incidents to truth windows, and the command end to end."""

from __future__ import annotations

import json

from click.testing import CliRunner

import pipeline.evaluate as ev
from pipeline.cli import cli
from pipeline.commands.evaluate import passes, render
from pipeline.evaluate import Scenario, score


def inc(start, end, cause):
    return {"id": start, "start": start, "end": end, "cause": cause, "confidence": 0.9, "errors": 1}


def win(start, end, cause):
    return {"start": start, "end": end, "cause": cause}


def test_matching_rules():
    s = Scenario(
        "a",
        None,
        truth=[
            win("2026-01-01T00:10:00Z", "2026-01-01T00:12:00Z", "network"),
            win("2026-01-01T01:00:00Z", "2026-01-01T01:05:00Z", "idle_timeout"),
        ],
    )
    s.incidents = [
        inc("2026-01-01T00:13:30Z", "2026-01-01T00:13:50Z", "network"),  # within the 120 s grace
        inc("2026-01-01T00:30:00Z", "2026-01-01T00:31:00Z", "network"),  # on fault-free time
        inc("2026-01-01T01:01:00Z", "2026-01-01T01:02:00Z", "network"),  # wrong cause
    ]
    base = Scenario("baseline", None, truth=[])
    base.incidents = [inc("2026-01-01T05:00:00Z", "2026-01-01T05:00:01Z", "unknown")]
    r = score([s, base])
    assert r["per_cause"]["network"] == {
        "windows": 1,
        "found": 1,
        "recall": 1.0,
        "incidents": 3,
        "correct": 1,
        "precision": 0.333,
    }
    assert r["per_cause"]["idle_timeout"]["recall"] == 0.0
    assert r["per_cause"]["idle_timeout"]["precision"] is None
    assert r["baseline_incidents"] == 1
    assert r["false_on_fault_free_time"] == 2
    assert not passes(r, 0.9)
    text = render(r)
    assert "| network | 1 | 1 | 1.00 | 3 | 1 | 0.33 |" in text


def test_grace_is_after_the_end_only():
    s = Scenario("a", None, truth=[win("2026-01-01T00:10:00Z", "2026-01-01T00:12:00Z", "network")])
    s.incidents = [inc("2026-01-01T00:08:00Z", "2026-01-01T00:09:59Z", "network")]
    assert score([s])["per_cause"]["network"]["found"] == 0
    s.incidents = [inc("2026-01-01T00:08:00Z", "2026-01-01T00:10:00Z", "network")]
    assert score([s])["per_cause"]["network"]["found"] == 1


def test_perfect_passes():
    s = Scenario("a", None, truth=[win("2026-01-01T00:10:00Z", "2026-01-01T00:12:00Z", "max_connections")])
    s.incidents = [inc("2026-01-01T00:10:05Z", "2026-01-01T00:11:00Z", "max_connections")]
    assert passes(score([s, Scenario("baseline", None, truth=[])]), 0.9)


def test_eval_command_runs_every_scenario(tmp_path, monkeypatch):
    """The command finds folders with truth.json and scores what correlation returns."""
    for name, truth in [
        ("baseline", []),
        ("restart", [win("2026-01-01T00:10:00Z", "2026-01-01T00:11:00Z", "server_restart")]),
    ]:
        d = tmp_path / name
        d.mkdir()
        (d / "truth.json").write_text(json.dumps(truth))
        (d / "pipeline.toml").write_text("[correlate]\ngap_seconds = 60\n")
    (tmp_path / "not-a-scenario").mkdir()
    seen = {}

    def fake_run(folder, root, override=None):
        seen[folder.name] = ev.scenario_settings(folder)
        sc = Scenario(folder.name, folder, ev.load_truth(folder))
        if sc.truth:
            sc.incidents = [inc("2026-01-01T00:10:02Z", "2026-01-01T00:10:40Z", "server_restart")]
        return sc

    monkeypatch.setattr(ev, "run_scenario", fake_run)
    r = CliRunner().invoke(cli, ["eval", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["per_cause"]["server_restart"]["recall"] == 1.0
    assert report["baseline_incidents"] == 0
    assert seen == {"baseline": {"gap_seconds": 60}, "restart": {"gap_seconds": 60}}
    r = CliRunner().invoke(cli, ["eval", str(tmp_path), "--min", "0.9"])
    assert r.exit_code == 0 and "| server_restart | 1 | 1 | 1.00 |" in r.output


def test_eval_without_scenarios(tmp_path):
    r = CliRunner().invoke(cli, ["eval", str(tmp_path)])
    assert r.exit_code == 1


def test_sample_logs_reach_the_bar():
    """The recorded lab scenarios: every cause at precision and recall >= 0.9, a quiet baseline."""
    import pytest

    from pipeline.evaluate import evaluate, find_scenarios
    from tests.conftest import SAMPLE_LOGS

    if not find_scenarios(SAMPLE_LOGS):
        pytest.skip("sample_logs/ holds no recorded scenario")
    report = evaluate(SAMPLE_LOGS)
    assert all(s["error"] is None for s in report["per_scenario"]), report["per_scenario"]
    assert passes(report, 0.9), render(report)
