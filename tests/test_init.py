"""`pipeline init`: what each file of a folder is read as, the host and time zone it would
get, and a commented pipeline.toml that the settings model accepts and `pipeline config` shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import setup_guide
from pipeline.cli import cli
from pipeline.config import Config, SettingsResolver

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs" / "server_wait_timeout"
# an application log, a MariaDB error log and a latency probe, with names that say nothing
UNNAMED = {"a.log": "app.log", "b.log": "mariadb-error.log", "c.log": "latency.csv"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def logs(tmp_path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    for name, sample in UNNAMED.items():
        shutil.copy(SAMPLE / sample, folder / name)
    (folder / "notes.txt").write_text("what the on-call saw\nand nothing else\n")
    return folder


def by_file(shown: dict) -> dict[str, dict]:
    return {f["rel"]: f for f in shown["files"]}


def test_table_shows_what_each_file_is_and_writes_nothing(logs):
    result = run("init", logs)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for word in ("read as", "zone in lines", "python_text", "mariadb", "latency_table", "database server"):
        assert word in out
    assert "logs-db" in out  # the server log's own host
    assert "not a log: no line carries a time stamp" in out  # notes.txt
    assert "nothing written" in out and "--write" in out
    assert not (logs / "pipeline.toml").exists()


def test_json_gives_family_host_zone_and_reason(logs):
    for args in (["--format", "json"], ["--json"]):
        result = run("init", logs, *args)
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        files = by_file(shown)
        assert shown["written"] is None and shown["exists"] is False
        assert files["a.log"]["family"] == "python_text" and files["a.log"]["role"] == "application"
        assert (files["a.log"]["host"], files["a.log"]["host_now"]) == ("logs", "logs")
        assert (files["b.log"]["host"], files["b.log"]["host_now"]) == ("logs-db", "logs")
        assert files["c.log"]["host"] == "logs"
        # MariaDB and Python logging write no zone; the probe writes Z
        assert [files[n]["zone_in_lines"] for n in ("a.log", "b.log", "c.log")] == ["no", "no", "yes"]
        assert files["a.log"]["timezone"] == "UTC" and files["a.log"]["timezone_from"] == "default"
        assert files["notes.txt"]["family"] is None and files["notes.txt"]["read_as"].startswith("not a log: ")


def test_written_file_loads_and_config_shows_its_hosts(logs):
    result = run("init", logs, "--write")
    assert result.exit_code == 0, result.output
    target = logs / "pipeline.toml"
    assert f"wrote {target}" in result.stdout
    text = target.read_text()
    assert "confirm" in text and "pipeline config" in text and "[correlate]" in text
    config = Config.load(target)  # the settings model accepts it
    assert config.correlate == {} and config.ignore == ["notes.txt"]
    assert config.defaults == {"timezone": "UTC"}
    hosts = {rule["glob"]: rule["host"] for rule in config.files}
    assert hosts == {"a.log": "logs", "b.log": "logs-db", "c.log": "logs"}
    resolver = SettingsResolver()
    assert resolver.settings_for(logs / "b.log").host == "logs-db"
    assert resolver.ignored(logs / "notes.txt")

    shown = json.loads(run("config", logs, "--format", "json").stdout)
    hosts = {Path(path).name: item["host"] for path, item in shown["files"].items()}
    assert hosts["a.log"]["value"] == "logs" and hosts["b.log"]["value"] == "logs-db"
    assert hosts["b.log"]["from"] == f"{target} [[files]] glob = 'b.log'"
    assert "notes.txt" not in hosts


def test_refuses_to_overwrite_without_force(logs):
    target = logs / "pipeline.toml"
    target.write_text('[defaults]\nhost = "mine"\n')
    result = run("init", logs, "--write")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {target} exists: edit it, or replace it with --force"]
    assert target.read_text() == '[defaults]\nhost = "mine"\n'
    # a look without --write is fine, and says how to replace it
    look = run("init", logs)
    assert look.exit_code == 0 and "--force replaces it" in look.stdout
    forced = run("init", logs, "--force")
    assert forced.exit_code == 0, forced.output
    assert {rule["glob"]: rule["host"] for rule in Config.load(target).files}["b.log"] == "mine-db"


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_path_that_is_no_readable_folder_is_one_line(tmp_path, make):
    path = tmp_path / "nowhere"
    if make == "file":
        path.write_text("2026-11-25 00:38:02,169 - app - INFO - hello\n")
    result = run("init", path, "--write")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: ")
    assert result.stdout == ""


def test_a_broken_pipeline_toml_above_is_a_configuration_error(tmp_path, logs):
    (tmp_path / "pipeline.toml").write_text("[defaults]\nhostname = 'x'\n")
    result = run("init", logs)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "hostname: unknown setting" in line


def test_sub_folders_keep_their_names_and_a_server_log_beside_an_app_log_moves(tmp_path):
    root = tmp_path / "estate"
    for rel, sample in {
        "web-1/app.log": "app.log",
        "db-1/mariadb.log": "mariadb-error.log",
        "both/app.log": "app.log",
        "both/mariadb.log": "mariadb-error.log",
        "app.log": "app.log",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / sample, root / rel)
    plan = setup_guide.survey(root)
    hosts = {g.rel: g.host for g in plan.files}
    assert hosts == {
        "app.log": "estate",
        "both/app.log": "both",
        "both/mariadb.log": "both-db",
        "db-1/mariadb.log": "db-1",
        "web-1/app.log": "web-1",
    }
    setup_guide.write(plan)
    resolver = SettingsResolver()
    # a rule is also matched against the bare name: deeper files come first in the toml
    assert {rel: resolver.settings_for(root / rel).host for rel in hosts} == hosts


def test_hosts_named_in_the_lines_are_proposed(tmp_path):
    folder = tmp_path / "collected"
    folder.mkdir()
    server = (SAMPLE / "mariadb-error.log").read_text().splitlines()[:20]
    app = (SAMPLE / "app.log").read_text().splitlines()[:20]
    (folder / "db.log").write_text("".join(f"Nov 25 00:38:01 dbhost mariadbd[658]: {ln}\n" for ln in server))
    (folder / "web.log").write_text("".join(f"web-1  | {ln}\n" for ln in app))
    files = {g.rel: g for g in setup_guide.survey(folder).files}
    db = files["db.log"]
    assert (db.family, db.envelopes, db.host, db.host_why) == ("mariadb", ["syslog"], "dbhost", "named in its lines")
    assert (files["web.log"].read_as(), files["web.log"].host) == ("python_text in compose", "web-1")
    # the syslog stamp carries no zone either
    assert db.zone_in_lines == "no"


def test_odd_file_names_get_rules_that_match_only_them(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    names = ['we[i]rd "q".log', "star*.log", "new\nline.log"]
    for name in names:
        shutil.copy(SAMPLE / "mariadb-error.log", folder / name)
    shutil.copy(SAMPLE / "app.log", folder / "stars.log")  # what star*.log would match as a glob
    setup_guide.write(setup_guide.survey(folder))
    text = (folder / "pipeline.toml").read_text()
    assert "\nline.log" not in text  # the newline is escaped in the string and in comments
    resolver = SettingsResolver()
    assert {name: resolver.settings_for(folder / name).host for name in names} == dict.fromkeys(names, "odd-db")
    assert resolver.settings_for(folder / "stars.log").host == "odd"
