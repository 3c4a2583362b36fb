"""The committed recordings in sample_logs/ keep the file contract the parsers rely on."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from lab.scenarios import SCENARIOS
from pipeline.config import Config
from pipeline.kinds import CAUSES

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
FOLDERS = sorted(p for p in SAMPLES.iterdir() if p.is_dir()) if SAMPLES.is_dir() else []

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
APP_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [\w.]+ - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")
SA_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) sqlalchemy\.[\w.]+ ")
MARIADB_LINE = re.compile(r"^\d{4}-\d\d-\d\d [ \d]\d:\d\d:\d\d \d+ \[(Note|Warning|ERROR)\] ")


def test_every_scenario_is_recorded():
    assert {p.name for p in FOLDERS} == set(SCENARIOS)
    assert (SAMPLES / "README.md").is_file()
    total = sum(f.stat().st_size for f in SAMPLES.rglob("*") if f.is_file())
    assert total < 20 * 2**20


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_recording_contract(folder):
    truth = json.loads((folder / "truth.json").read_text())
    assert isinstance(truth, list)
    for w in truth:
        assert set(w) == {"start", "end", "cause"}
        assert STAMP.match(w["start"]) and STAMP.match(w["end"]) and w["start"] < w["end"]
        assert w["cause"] in CAUSES
    expected = {st.truth.partition(":")[2] for st in SCENARIOS[folder.name].steps if st.truth}
    assert {w["cause"] for w in truth} == expected

    app = (folder / "app.log").read_text().splitlines()
    assert APP_LINE.match(app[0])
    assert all(APP_LINE.match(line) for line in app if line[:4].isdigit() and line[4] == "-")
    for line in (folder / "app.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert (
            {"timestamp", "level", "logger", "message"}
            <= set(rec)
            <= {"timestamp", "level", "logger", "message", "exc_info"}
        )
        assert STAMP.match(rec["timestamp"])
    if SCENARIOS[folder.name].pool_debug:
        sa = (folder / "sqlalchemy.log").read_text().splitlines()
        assert sa and SA_LINE.match(sa[0])
    else:
        assert not (folder / "sqlalchemy.log").exists()
    maria = (folder / "mariadb-error.log").read_text().splitlines()
    assert MARIADB_LINE.match(maria[0])

    rows = list(csv.reader((folder / "latency.csv").open()))
    assert rows[0] == ["timestamp", "target", "rtt_ms"]
    for ts, target, rtt in rows[1:]:
        assert STAMP.match(ts) and re.match(r"^(tcp|select1):127\.0\.0\.1:\d+$", target)
        assert rtt == "" or float(rtt) >= 0

    status = (folder / "status.tsv").read_text()
    blocks = [b for b in status.split("\n\n") if b.strip()]
    assert blocks
    for block in blocks:
        lines = block.splitlines()
        assert lines[0].startswith("# ") and STAMP.match(lines[0][2:])
        assert lines[1] == "Variable_name\tValue"
        assert all(len(line.split("\t")) == 2 for line in lines[2:])

    config = Config.load(folder / "pipeline.toml")
    assert config.match(folder / "mariadb-error.log")["host"] == "db-1"
    assert config.match(folder / "app.log")["host"] == "app-1"
    assert config.defaults["timezone"] == "UTC"


def test_baseline_is_clean():
    text = (SAMPLES / "baseline" / "app.log").read_text()
    assert " - ERROR - " not in text and " - WARNING - " not in text
