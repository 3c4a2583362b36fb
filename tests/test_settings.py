"""pipeline.toml is validated (typos and wrong types are one-line errors naming the key and
the file), and incidents are never kept from other thresholds than the current ones."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Config, ConfigError

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


@pytest.mark.parametrize(
    "toml,expected",
    [
        ("[correlate]\ngap_second = 3600\n", "[correlate] gap_second: unknown setting (did you mean gap_seconds?)"),
        ('[defaults]\ntimezon = "UTC"\n', "[defaults] timezon: unknown setting (did you mean timezone?)"),
        ('[dijest]\ntimezone = "UTC"\n', "dijest: unknown setting (did you mean digest?)"),
        ('ignore = "*.md"\n', "ignore = '*.md': must be a list of globs, e.g. ignore = [\"*.md\"]"),
        ("[[files]]\nglob = 5\n", "[[files]] #1 glob = 5: Input should be a valid string"),
        ('[[files]]\nhost = "db-1"\n', "[[files]] #1 glob: Field required"),
        ('[correlate]\ngap_seconds = "sixty"\n', "[correlate] gap_seconds = 'sixty': Input should be a valid number"),
        ("[correlate]\ngap_seconds = -5\n", "[correlate] gap_seconds = -5: Input should be greater than or equal to 0"),
        ("[correlate]\nmin_score = 2\n", "[correlate] min_score = 2: Input should be less than or equal to 1"),
        ("[digest]\nsilence_hours = -1\n", "[digest] silence_hours = -1: Input should be greater than or equal to 0"),
    ],
)
def test_mistakes_are_one_line_errors_naming_the_key(tmp_path, toml, expected):
    path = tmp_path / "pipeline.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        Config.load(path)
    assert str(err.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(err.value)


def test_a_valid_toml_keeps_only_what_it_sets(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text('ignore = ["*.md"]\n[correlate]\ngap_seconds = 60\n[[files]]\nglob = "db*.log"\nhost = "db-1"\n')
    cfg = Config.load(path)
    assert cfg.correlate == {"gap_seconds": 60.0}
    assert cfg.files == [{"glob": "db*.log", "host": "db-1"}] and cfg.ignore == ["*.md"]


def test_ingest_with_a_typo_stops_with_the_error_and_exit_2(tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / "network", logs)
    (logs / "pipeline.toml").write_text("[correlate]\ngap_second = 3600\n")
    result = CliRunner().invoke(cli, ["ingest", str(logs), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 2
    assert "gap_second: unknown setting (did you mean gap_seconds?)" in result.output
    assert "Traceback" not in result.output


def test_incidents_built_with_other_thresholds_are_rebuilt(tmp_path, monkeypatch):
    """`pipeline correlate --config big.toml`, then `pipeline ingest` without it: the ingest
    must rebuild the incidents with the thresholds in force, not keep the big-gap ones."""
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / "mixed_burst_then_latency", logs)
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()

    def incidents() -> int:
        out = runner.invoke(cli, ["incidents", "--db", db, "--format", "json"])
        assert out.exit_code == 0, out.output
        return len(json.loads(out.output))

    assert runner.invoke(cli, ["ingest", str(logs), "--db", db]).exit_code == 0
    default_count = incidents()
    assert default_count > 1
    big = tmp_path / "big.toml"
    big.write_text("[correlate]\ngap_seconds = 100000\n")
    result = runner.invoke(cli, ["correlate", "--db", db, "--config", str(big)])
    assert result.exit_code == 0 and "gap_seconds = 100000 (" in result.output
    assert incidents() == 1
    again = runner.invoke(cli, ["ingest", str(logs), "--db", db, "--json"])
    assert json.loads(again.output)["correlation"].get("skipped") is None
    assert incidents() == default_count
    # and with nothing changed at all, the rebuild is skipped
    third = runner.invoke(cli, ["ingest", str(logs), "--db", db, "--json"])
    assert "skipped" in json.loads(third.output)["correlation"]


def test_the_docs_settings_table_is_the_models():
    from pipeline.config_schema import settings_table

    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    shown = page.split("<!-- settings-table -->", 1)[1].split("<!-- /settings-table -->", 1)[0]
    assert shown.strip() == settings_table().strip(), "regenerate it: python tests/test_docs.py --write"


def test_pipeline_config_shows_each_setting_and_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / "network", logs)
    (tmp_path / "pipeline.toml").write_text("[correlate]\ngap_seconds = 60\n")
    result = CliRunner().invoke(cli, ["config", str(logs), "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["correlate"]["gap_seconds"] == {"value": 60.0, "from": f"{tmp_path / 'pipeline.toml'} [correlate]"}
    assert shown["correlate"]["min_score"]["from"] == "default"
    db_log = shown["files"][str((logs / "mariadb-error.log").resolve())]
    assert db_log["host"] == {
        "value": "db-1",
        "from": f"{logs.resolve() / 'pipeline.toml'} [[files]] glob = 'mariadb-error.log'",
    }
    assert db_log["format"]["value"] == "detected"


def test_the_environment_overrides_the_toml_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.toml").write_text("[correlate]\ngap_seconds = 60\nmin_score = 0.4\n")
    monkeypatch.setenv("PIPELINE_CORRELATE_GAP_SECONDS", "600")
    result = CliRunner().invoke(cli, ["config", "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["correlate"]
    assert shown["gap_seconds"] == {"value": 600.0, "from": "environment PIPELINE_CORRELATE_GAP_SECONDS"}
    assert shown["min_score"]["value"] == 0.4

    from pipeline.config import correlate_settings

    assert correlate_settings() == {"gap_seconds": 600.0, "min_score": 0.4}
    for name, value, message in [
        ("PIPELINE_CORRELATE_GAP_SECONDS", "sixty", "PIPELINE_CORRELATE_GAP_SECONDS = 'sixty': not a number"),
        ("PIPELINE_CORRELATE_GAP_SECONDS", "-5", "PIPELINE_CORRELATE_GAP_SECONDS = '-5': Input should be greater"),
        ("PIPELINE_CORRELATE_GAP_SECOND", "5", "unknown setting (did you mean PIPELINE_CORRELATE_GAP_SECONDS?)"),
    ]:
        monkeypatch.delenv("PIPELINE_CORRELATE_GAP_SECONDS", raising=False)
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=re.escape(message)):
            correlate_settings()
        monkeypatch.delenv(name)


def test_an_environment_threshold_counts_in_the_correlation_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / "mixed_burst_then_latency", logs)
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(logs), "--db", db]).exit_code == 0
    monkeypatch.setenv("PIPELINE_CORRELATE_GAP_SECONDS", "100000")
    again = runner.invoke(cli, ["ingest", str(logs), "--db", db, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["correlation"]["incidents"] == 1


def test_pipeline_correlate_names_where_each_threshold_comes_from(sample_store_copy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.toml").write_text("[correlate]\nmin_score = 0.6\n")
    monkeypatch.setenv("PIPELINE_CORRELATE_GAP_SECONDS", "600")
    result = CliRunner().invoke(cli, ["correlate", "--db", str(sample_store_copy)])
    assert result.exit_code == 0, result.output
    assert "gap_seconds = 600 (PIPELINE_CORRELATE_GAP_SECONDS), min_score = 0.6 (./pipeline.toml)" in result.output
