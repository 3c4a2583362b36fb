"""Scenario definitions and the signature counter (no server needed)."""

from __future__ import annotations

import json

import pytest

from lab import signatures
from lab.scenarios import SCENARIOS
from pipeline.kinds import CAUSES

ACTIONS = {"phase", "idle_kill", "latency", "blackhole", "reset", "burst", "password", "server_stop", "server_start"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_is_well_formed(name):
    s = SCENARIOS[name]
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
    json.dumps(s.settings())


def test_every_cause_but_unknown_is_covered():
    causes = {st.truth.partition(":")[2] for s in SCENARIOS.values() for st in s.steps if st.truth}
    assert causes == set(CAUSES) - {"unknown"}
    assert any(not s.steps for s in SCENARIOS.values()), "a baseline"
    assert any(len({st.truth.partition(":")[2] for st in s.steps if st.truth}) >= 2 for s in SCENARIOS.values())
    assert {s.driver for s in SCENARIOS.values()} == {"pymysql", "mysqlconnector"}


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
