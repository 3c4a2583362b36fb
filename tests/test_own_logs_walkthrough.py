"""One's own logs, from a folder of files with names that say nothing to the right cause,
by the documented steps alone: `pipeline init`, check the written pipeline.toml, `pipeline
config`, `pipeline ingest`, `pipeline incidents`, `pipeline explain`.

The files are one lab run's application log, MariaDB error log and latency probe
(``sample_logs/server_wait_timeout``: the server's wait_timeout closed idle pooled
connections), copied side by side as ``a.log``, ``b.log`` and ``c.log``.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs" / "server_wait_timeout"
UNNAMED = {"a.log": "app.log", "b.log": "mariadb-error.log", "c.log": "latency.csv"}
APP_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", re.MULTILINE)


def run(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def run_json(*args):
    return json.loads(run(*args, "--format", "json"))


@pytest.fixture
def logs(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no ./pipeline.toml but the ones the steps write
    folder = tmp_path / "logs"
    folder.mkdir()
    for name, sample in UNNAMED.items():
        shutil.copy(SAMPLE / sample, folder / name)
    return folder


def hosts_in_force(folder: Path) -> dict[str, str]:
    shown = run_json("config", folder)["files"]
    return {Path(path).name: item["host"]["value"] for path, item in shown.items()}


def incidents(db: Path) -> list[dict]:
    return [{k: r[k] for k in ("id", "cause", "hosts", "start", "end")} for r in run_json("incidents", "--db", db)]


def test_unnamed_logs_in_one_folder_reach_the_right_cause(logs, tmp_path):
    # before: every file is host "logs", the folder's name, the database server's too
    assert hosts_in_force(logs) == dict.fromkeys(UNNAMED, "logs")

    # 1. look: what each file is read as, the host it would get, the zone assumed
    look = run("init", logs)
    for expected in ("python_text", "mariadb", "latency_table", "logs-db", "UTC (default)"):
        assert expected in look

    # 2. write the pipeline.toml; 3. check it: the server log has a host of its own
    assert "wrote" in run("init", logs, "--write")
    assert hosts_in_force(logs) == {"a.log": "logs", "b.log": "logs-db", "c.log": "logs"}

    # 4. read the logs in
    db = tmp_path / "own.duckdb"
    summary = run_json("ingest", logs, "--db", db)
    assert {Path(f["path"]).name: (f["format"], f["host"]) for f in summary["files"]} == {
        "a.log": ("python_text", "logs"),
        "b.log": ("mariadb", "logs-db"),
        "c.log": ("latency_table", "logs"),
    }

    # 5. the incidents, and the story of the one found
    [truth] = json.loads((SAMPLE / "truth.json").read_text())
    [incident] = incidents(db)
    assert incident["cause"] == truth["cause"] == "idle_timeout"
    assert incident["hosts"] == ["logs"]  # the application's host: the server's lines are evidence
    assert incident["start"] <= truth["end"] and incident["end"] >= truth["start"]
    story = run("explain", incident["id"], "--db", db)
    assert story.startswith(f"Incident {incident['id']}: idle_timeout")
    assert "Aborted connection" in story  # the server's own lines, on the same clock


def shift_app_log_to_berlin(path: Path) -> None:
    """The application's clock writes Berlin time (UTC+1 in November), without a zone."""

    def later(match: re.Match[str]) -> str:
        stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S") + timedelta(hours=1)
        return stamp.strftime("%Y-%m-%d %H:%M:%S")

    path.write_text(APP_STAMP.sub(later, path.read_text()))


def test_the_zone_confirmed_in_the_written_file_puts_the_logs_on_one_clock(logs, tmp_path):
    shift_app_log_to_berlin(logs / "a.log")
    files = {f["rel"]: f for f in run_json("init", logs)["files"]}
    assert files["a.log"]["zone_in_lines"] == "no" and files["a.log"]["timezone"] == "UTC"
    run("init", logs, "--write")
    toml = logs / "pipeline.toml"

    # left as assumed, the application's drops are an hour away from the server's lines
    wrong = tmp_path / "assumed.duckdb"
    run("ingest", logs, "--db", wrong)
    assert "idle_timeout" not in {i["cause"] for i in incidents(wrong)}

    # the user answers the "confirm" line of a.log's rule
    rule = re.compile(r'(glob = "a\.log"\nhost = "logs"[^\n]*\ntimezone = )"UTC"')
    assert rule.search(toml.read_text()), toml.read_text()
    toml.write_text(rule.sub(r'\1"Europe/Berlin"', toml.read_text()))
    assert run_json("config", logs)["files"][str(logs / "a.log")]["timezone"]["value"] == "Europe/Berlin"

    right = tmp_path / "confirmed.duckdb"
    run("ingest", logs, "--db", right)
    [incident] = incidents(right)
    assert incident["cause"] == "idle_timeout" and incident["hosts"] == ["logs"]
