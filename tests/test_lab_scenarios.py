"""Scenario definitions and the signature counter (no server needed)."""

from __future__ import annotations

import itertools
import json
import logging
from datetime import datetime
from pathlib import Path

import pytest

from lab import signatures
from lab.scenarios import REALTIME_SCENARIOS, RECORDED_FILES, SCENARIOS, all_scenarios
from pipeline.kinds import CAUSES

ACTIONS = {"phase", "idle_kill", "latency", "blackhole", "reset", "burst", "password", "server_stop", "server_start"}
ROOT = Path(__file__).resolve().parents[1]
NEW_RECORDINGS = ["tutorial_idle_silent", "tutorial_idle_reset", *REALTIME_SCENARIOS]


def recording_folder(name: str) -> Path:
    if name in REALTIME_SCENARIOS:
        return ROOT / "recordings" / "realtime" / name
    return ROOT / "sample_logs" / name


@pytest.mark.parametrize("name", list(all_scenarios()))
def test_scenario_is_well_formed(name):
    s = all_scenarios()[name]
    if name in REALTIME_SCENARIOS:
        assert 600 <= s.duration <= 3600
    else:
        assert 30 <= s.duration <= 240
    assert s.driver in ("pymysql", "mysqlconnector")
    open_windows = {}
    last_at = 0.0
    for step in s.steps:
        assert step.action in ACTIONS
        assert step.at >= last_at
        last_at = step.at
        if step.action == "phase":
            assert step.args["name"] in s.phases
        if step.action in ("idle_kill", "latency", "blackhole", "reset"):
            assert s.via_proxy, "network faults need the proxy"
        if step.truth:
            mode, _, cause = step.truth.partition(":")
            assert cause in CAUSES and cause != "unknown"
            if mode == "on":
                assert cause not in open_windows
                open_windows[cause] = step.at
            else:
                assert mode == "off" and cause in open_windows
                open_windows.pop(cause)
    assert not open_windows, "every fault is switched off again"
    if s.steps:
        # quiet, fault-free time before the first fault and after the last
        assert s.steps[0].at >= 10
        assert s.duration - s.steps[-1].at >= 15
    for groups in s.phases.values():
        assert set(groups) <= set(s.groups)
    assert "normal" in s.phases
    assert s.settings()["pool_debug"] is s.pool_debug
    json.dumps(s.settings())


def test_every_cause_but_unknown_is_covered():
    causes = {st.truth.partition(":")[2] for s in SCENARIOS.values() for st in s.steps if st.truth}
    assert causes == set(CAUSES) - {"unknown"}
    assert any(not s.steps for s in SCENARIOS.values()), "a baseline"
    assert any(len({st.truth.partition(":")[2] for st in s.steps if st.truth}) >= 2 for s in SCENARIOS.values())
    assert {s.driver for s in SCENARIOS.values()} == {"pymysql", "mysqlconnector"}


def test_realtime_and_short_scenarios_are_apart():
    assert not set(SCENARIOS) & set(REALTIME_SCENARIOS)
    assert {"realtime_idle_night", "realtime_idle_tutorial"} <= set(REALTIME_SCENARIOS)
    assert {"tutorial_idle_silent", "tutorial_idle_reset"} <= set(SCENARIOS)


def _phase_timeline(s):
    """(phase, idle_timeout window open?) for every stretch of the timeline."""
    phase, idle_open, out = "normal", False, []
    for step in s.steps:
        out.append((phase, idle_open))
        if step.action == "phase":
            phase = step.args["name"]
        if step.truth == "on:idle_timeout":
            idle_open = True
        elif step.truth == "off:idle_timeout":
            idle_open = False
    out.append((phase, idle_open))
    return out


@pytest.mark.parametrize("name", list(REALTIME_SCENARIOS))
def test_realtime_scenario_design(name):
    """Idle kills can only happen inside the idle_timeout window; a negative control sits just under the limit."""
    s = REALTIME_SCENARIOS[name]
    kills = [st for st in s.steps if st.action == "idle_kill"]
    assert len(kills) == 1 and kills[0].truth is None, "the middlebox is there all the time"
    limit = kills[0].args["seconds"]
    assert 120 <= limit <= 300, "a real idle limit: minutes"
    stretches = _phase_timeline(s)
    for phase, idle_open in stretches:
        longest = max(g.gap[1] for g in s.phases[phase].values() if g.active)
        if not idle_open:
            assert longest < limit, f"{phase}: idles past the limit outside the idle_timeout window"
    night = {phase for phase, idle_open in stretches if idle_open}
    assert any(g.gap[0] > limit for phase in night for g in s.phases[phase].values()), "someone idles past it"
    controls = {phase for phase, idle_open in stretches if not idle_open and phase != "normal"}
    assert controls, "a negative-control phase"
    for phase in controls:
        gaps = [g.gap for g in s.phases[phase].values() if g.active]
        assert all(limit * 0.75 <= lo and hi < limit for lo, hi in gaps), "just under the limit"
    causes = [st.truth for st in s.steps if st.truth]
    assert "on:network" in causes, "a network fault inside the night as well"
    net_on = next(st.at for st in s.steps if st.truth == "on:network")
    idle_on = next(st.at for st in s.steps if st.truth == "on:idle_timeout")
    idle_off = next(st.at for st in s.steps if st.truth == "off:idle_timeout")
    assert idle_on < net_on < idle_off


def test_pool_debug_decides_the_promised_files():
    for s in all_scenarios().values():
        files = s.recorded_files()
        assert ("sqlalchemy.log" in files) is s.pool_debug
        assert set(RECORDED_FILES) - set(files) <= {"sqlalchemy.log"}
    assert not SCENARIOS["tutorial_idle_silent"].pool_debug
    assert not SCENARIOS["tutorial_idle_reset"].pool_debug
    assert SCENARIOS["tutorial_idle_reset"].steps[0].args["mode"] == "rst"
    assert SCENARIOS["tutorial_idle_silent"].steps[0].args["mode"] == "silent"
    assert all(s.pool_debug for n, s in SCENARIOS.items() if not n.startswith("tutorial_"))


@pytest.mark.parametrize("pool_debug", [True, False])
def test_lab_logging_pool_debug(tmp_path, pool_debug):
    from lab.workload import LabLogging

    pool_logger = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    before = logging.getLogger("sqlalchemy.pool").level
    logs = LabLogging(tmp_path, pool_debug=pool_debug)
    try:
        logging.getLogger("app.db").info("Database connection established.")
        pool_logger.debug("Connection <x> checked out from pool")
    finally:
        logs.close()
    assert "Database connection established." in (tmp_path / "app.log").read_text()
    assert (tmp_path / "sqlalchemy.log").exists() is pool_debug
    if pool_debug:
        assert " DEBUG sqlalchemy.pool" in (tmp_path / "sqlalchemy.log").read_text()
    assert "sqlalchemy" not in (tmp_path / "app.log").read_text()
    assert logging.getLogger("sqlalchemy.pool").level == before


def test_check_files(tmp_path):
    from lab.runner import check_files

    s = SCENARIOS["tutorial_idle_silent"]
    for name in s.recorded_files():
        (tmp_path / name).write_text("")
    assert check_files(s, tmp_path) == []
    (tmp_path / "sqlalchemy.log").write_text("")
    assert check_files(s, tmp_path) == ["sqlalchemy.log: written although pool_debug is off"]
    assert check_files(SCENARIOS["baseline"], tmp_path) == []
    (tmp_path / "truth.json").unlink()
    assert check_files(SCENARIOS["baseline"], tmp_path) == ["truth.json: missing"]


# --------------------------------------------------------- the recordings
@pytest.mark.parametrize("name", NEW_RECORDINGS)
def test_recording_has_the_promised_files(name):
    s = all_scenarios()[name]
    folder = recording_folder(name)
    assert folder.is_dir(), f"{folder} is not recorded"
    files = {p.name for p in folder.iterdir() if p.is_file()}
    assert files == set(s.recorded_files())
    settings = json.loads((folder / "scenario.json").read_text())
    assert settings["name"] == name and settings["pool_debug"] is s.pool_debug
    assert settings["timeline"] == s.settings()["timeline"]
    truth = json.loads((folder / "truth.json").read_text())
    assert sorted(w["cause"] for w in truth) == sorted(
        st.truth.partition(":")[2] for st in s.steps if st.truth and st.truth.startswith("on:")
    )
    assert sum(p.stat().st_size for p in folder.iterdir()) < 5 * 2**20, "keep recordings small"
    from lab.runner import check_expectations

    assert check_expectations(s, signatures.count_folder(folder)) == []


@pytest.mark.parametrize("name", [n for n in NEW_RECORDINGS if not all_scenarios()[n].pool_debug])
def test_no_pool_debug_means_no_pool_lines(name):
    folder = recording_folder(name)
    assert not (folder / "sqlalchemy.log").exists()
    for fname in ("app.log", "app.jsonl"):
        text = (folder / fname).read_text()
        assert " DEBUG " not in text and '"level": "DEBUG"' not in text
        assert "sqlalchemy.pool" not in text
    assert "Connection ping failed during checkout" in (folder / "app.log").read_text()


def _drops_outside_truth(folder: Path) -> list[str]:
    """app.jsonl ERROR records and listener ping warnings outside every truth window."""
    windows = [(w["start"], w["end"]) for w in json.loads((folder / "truth.json").read_text())]
    out = []
    for line in (folder / "app.jsonl").read_text().splitlines():
        rec = json.loads(line)
        drop = rec["level"] in ("ERROR", "CRITICAL") or "Connection ping failed" in rec["message"]
        if drop and not any(a <= rec["timestamp"] <= b for a, b in windows):
            out.append(f"{rec['timestamp']} {rec['message']}")
    return out


@pytest.mark.parametrize("name", NEW_RECORDINGS)
def test_recording_drops_fall_inside_truth(name):
    """No failure on fault-free time: the busy hours and the negative control are clean."""
    assert _drops_outside_truth(recording_folder(name)) == []


@pytest.mark.parametrize("name", list(REALTIME_SCENARIOS))
def test_realtime_recording_has_isolated_idle_failures(name):
    """Idle failures in the night are minutes apart, and the negative control really ran."""
    folder = recording_folder(name)
    truth = json.loads((folder / "truth.json").read_text())
    idle = next(w for w in truth if w["cause"] == "idle_timeout")
    net = next(w for w in truth if w["cause"] == "network")
    assert idle["start"] < net["start"] < net["end"] < idle["end"]
    stamps = []
    for line in (folder / "app.jsonl").read_text().splitlines():
        rec = json.loads(line)
        drop = rec["level"] == "ERROR" or "Connection ping failed" in rec["message"]
        if (
            drop
            and idle["start"] <= rec["timestamp"] <= idle["end"]
            and not net["start"] <= rec["timestamp"] <= net["end"]
        ):
            stamps.append(rec["timestamp"])
    assert len(stamps) >= 3, stamps
    times = [datetime.fromisoformat(t) for t in stamps]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert sum(g >= 60 for g in gaps) >= 2, gaps
    events = json.loads((folder / "scenario.json").read_text())["events"]
    assert any(e["action"] == "phase" and e["args"]["name"] == "control" for e in events)


def test_realtime_readme():
    readme = ROOT / "recordings" / "realtime" / "README.md"
    text = readme.read_text()
    assert "pipeline eval recordings/realtime" in text
    for name in REALTIME_SCENARIOS:
        assert f"`{name}/`" in text


APP_LOG = """\
2026-11-24 23:50:01,123 - app.worker - INFO - Job web-1#1 done in 3.0 ms (1 orders)
2026-11-24 23:50:02,123 - app.worker - ERROR - Job web-1#2 failed: database error
Traceback (most recent call last):
  File "x.py", line 1, in <module>
pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "x.py", line 2, in <module>
sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')
[SQL: SELECT 1]
(Background on this error at: https://sqlalche.me/e/20/e3q8)
2026-11-24 23:50:03,123 - app.worker - ERROR - Job web-2#2 failed: no database connection available
Traceback (most recent call last):
sqlalchemy.exc.TimeoutError: QueuePool limit of size 2 overflow 0 reached, connection timed out, timeout 2.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)
2026-11-24 23:50:04,123 - app.db - WARNING - Connection ping failed during checkout: (2006, 'MySQL server has gone away')
2026-11-24 23:50:05,123 - app.worker - ERROR - Job web-3#2 failed: database error
Traceback (most recent call last):
sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")
"""

MARIADB_LOG = """\
2026-11-24 23:50:00 0 [Note] /usr/sbin/mariadbd: ready for connections.
2026-11-24 23:50:09 9 [Warning] Aborted connection 9 to db: 'lab' user: 'app' host: '127.0.0.1' (Got timeout reading communication packets)
2026-11-24 23:50:10 0 [Warning] Aborted connection 0 to db: 'unconnected' user: 'unauthenticated' host: 'connecting host' (Too many connections)
2026-11-24 23:50:11 10 [Warning] Access denied for user 'app'@'127.0.0.1' (using password: YES)
2026-11-24 23:50:12 0 [Note] /usr/sbin/mariadbd (initiated by: unknown): Normal shutdown
"""


def test_counts(tmp_path):
    (tmp_path / "app.log").write_text(APP_LOG)
    (tmp_path / "mariadb-error.log").write_text(MARIADB_LOG)
    (tmp_path / "latency.csv").write_text(
        "timestamp,target,rtt_ms\n2026-11-24T23:50:01.000000Z,tcp:h:1,0.5\n2026-11-24T23:50:02.000000Z,tcp:h:1,\n"
    )
    counts = signatures.count_folder(tmp_path)
    assert counts["app.log"] == {
        "2013 lost connection": 1,
        "pool timeout (QueuePool limit)": 1,
        "listener ping failed": 1,
        "2003 can't connect": 1,
    }
    assert (
        counts["mariadb-error.log"]
        == {
            "ready for connections": 1,
            "aborted: timeout reading": 1,
            "aborted: too many connections": 1,
            "access denied": 1,
            "normal shutdown": 1,
        }
        | {}
    )
    assert counts["latency.csv"] == {"tcp samples": 2, "tcp lost": 1}
    assert signatures.client_drops(counts) == 4


def test_errors_outside_truth(tmp_path):
    (tmp_path / "truth.json").write_text(
        json.dumps([{"start": "2026-11-24T23:50:00.000000Z", "end": "2026-11-24T23:50:10.000000Z", "cause": "network"}])
    )
    lines = [
        {"timestamp": "2026-11-24T23:50:05.000000Z", "level": "ERROR", "logger": "a", "message": "x"},
        {"timestamp": "2026-11-24T23:50:15.000000Z", "level": "ERROR", "logger": "a", "message": "y"},
        {"timestamp": "2026-11-24T23:50:16.000000Z", "level": "INFO", "logger": "a", "message": "z"},
    ]
    (tmp_path / "app.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert signatures.errors_outside_truth(tmp_path) == ["2026-11-24T23:50:15.000000Z"]


def test_lab_run_without_mariadbd_fails_cleanly(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import lab.mariadb as mariadb
    from pipeline.commands.lab import lab_group

    monkeypatch.setattr(mariadb, "find_mariadbd", lambda: None)
    result = CliRunner().invoke(lab_group, ["run", "baseline", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "mariadbd not installed: apt-get install mariadb-server" in result.output
    assert not (tmp_path / "x").exists()


def test_lab_list_command():
    from click.testing import CliRunner

    from pipeline.commands.lab import lab_group

    result = CliRunner().invoke(lab_group, ["list", "--json"])
    assert result.exit_code == 0
    assert {s["name"] for s in json.loads(result.output)} == set(SCENARIOS)
