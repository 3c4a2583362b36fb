"""Grouping, error counting, ids and determinism of correlation."""

from __future__ import annotations

import json

import pytest

from pipeline import store
from pipeline.correlate import correlate_store
from pipeline.correlate.idle import describe_limit
from pipeline.correlate.settings import DEFAULTS, resolve
from pipeline.correlate.synthetic import StoreBuilder, fill_synthetic


@pytest.fixture
def con(tmp_path):
    c = store.connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def _drops(b, times, host=None):
    for t in times:
        b.app_error(t, "lost_connection", 2013, "Lost connection to MySQL server during query", host=host)


def test_gap_splits_incidents(con):
    b = StoreBuilder(con)
    _drops(b, [0, 20, 40, 100, 110])  # 20 s apart stays one, 60 s apart splits (default gap 25 s)
    b.flush()
    assert correlate_store(con)["incidents"] == 2
    assert correlate_store(con, {"gap_seconds": 15})["incidents"] == 4
    assert correlate_store(con, {"gap_seconds": 100})["incidents"] == 1


def test_drops_of_several_hosts_close_in_time_are_one_incident(con):
    b = StoreBuilder(con)
    _drops(b, [0, 10], host="web-1")
    _drops(b, [5, 20], host="web-2")
    b.flush()
    correlate_store(con)
    hosts, errors = con.execute("SELECT hosts, errors FROM incidents").fetchone()
    assert hosts == ["web-1", "web-2"] and errors == 4


def test_errors_count_failures_not_log_lines(con):
    b = StoreBuilder(con)
    for i in range(3):
        t = 100 + i * 10
        b.app_error(t, "server_gone", 2006, "MySQL server has gone away")  # app.log and app.jsonl
        b.pool(t, "pre_ping_fail", f"0x{i}")
        b.pool(t, "invalidate", f"0x{i}")
    b.flush()
    correlate_store(con)
    assert con.execute("SELECT errors FROM incidents").fetchone()[0] == 3
    # evidence shows each failure once even though two files logged it
    n = con.execute("SELECT count(*) FROM incident_evidence WHERE kind = 'server_gone'").fetchone()[0]
    assert n == 3


def test_pool_lines_alone_count_as_failures(con):
    """With pool_pre_ping the application sees nothing; the pool's lines are the drops."""
    b = StoreBuilder(con)
    for i in range(4):
        b.pool(100 + i, "pre_ping_fail", f"0x{i}")
        b.pool(100 + i, "invalidate", f"0x{i}")
    b.flush()
    correlate_store(con)
    assert con.execute("SELECT errors FROM incidents").fetchone()[0] == 4


def test_rebuild_is_deterministic_and_ids_are_stable(con):
    b = StoreBuilder(con)
    _drops(b, [0, 20, 400, 410])
    b.server(405, "server_stop", "Normal shutdown")
    b.ping(5, 0.5)
    b.flush()
    correlate_store(con)
    first = con.execute("SELECT * FROM incidents ORDER BY incident_id").fetchall()
    ev1 = con.execute("SELECT * FROM incident_evidence ORDER BY incident_id, seq").fetchall()
    correlate_store(con)
    assert con.execute("SELECT * FROM incidents ORDER BY incident_id").fetchall() == first
    assert con.execute("SELECT * FROM incident_evidence ORDER BY incident_id, seq").fetchall() == ev1
    ids = [r[0] for r in first]
    assert len(ids) == 2 and all(i.startswith("20261120-02") for i in ids)
    # new drops after the last incident leave the existing ids alone
    _drops(b, [2000])
    b.flush()
    correlate_store(con)
    new_ids = [r[0] for r in con.execute("SELECT incident_id FROM incidents ORDER BY start_ts").fetchall()]
    assert new_ids[:2] == ids and len(new_ids) == 3


def test_empty_store_and_rollback(con):
    assert correlate_store(con)["incidents"] == 0
    assert con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0


def test_failure_leaves_previous_incidents(con, monkeypatch):
    b = StoreBuilder(con)
    _drops(b, [0])
    b.flush()
    correlate_store(con)
    import pipeline.correlate as corr

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(corr, "_write", boom)
    with pytest.raises(RuntimeError):
        correlate_store(con)
    assert con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 1


def test_settings_resolve():
    s = resolve({"gap_seconds": "90", "unknown_key": 1})
    assert s["gap_seconds"] == 90.0 and "unknown_key" not in s
    assert resolve(None) == {**DEFAULTS, "pool": {}}  # the application's [pool] settings ride along


def test_describe_limit():
    lim = {"ok_max_s": 290.0, "fail_min_s": 301.0, "fail_max_s": 360.0}
    assert describe_limit(lim) == (
        "connections idle 301-360 s failed, none idle 290 s or less did: the limit is between 290 s and 301 s"
    )


def test_idle_limit_ignores_busy_failures(con):
    """Failures of connections that were barely idle (a network blip) do not make an idle limit."""
    b = StoreBuilder(con)
    t = 0
    for i in range(30):
        c = f"0x{i}"
        b.pool(t, "checkout", c)
        b.pool(t + 1, "checkin", c)
        b.pool(t + 1.5, "checkout", c)
        if i % 3 == 0:
            b.pool(t + 2, "invalidate", c)
        else:
            b.pool(t + 2, "checkin", c)
        t += 3
    b.flush()
    correlate_store(con)
    for (details,) in con.execute("SELECT details FROM incidents").fetchall():
        assert json.loads(details)["causes"]["idle_timeout"]["idle_limits"] == {}  # typed: present, empty when none


@pytest.mark.slow
def test_one_million_events_correlate_in_seconds(tmp_path):
    import time

    with store.opened(tmp_path / "big.duckdb") as c:
        fill_synthetic(c, 1_000_000, seed_every=300)
        t = time.perf_counter()
        summary = correlate_store(c)
        elapsed = time.perf_counter() - t
    assert summary["incidents"] > 10
    assert elapsed < 20
