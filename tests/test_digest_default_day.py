"""``pipeline digest`` without a date reports the store's last day with data (a day that is
over), says so on stderr, and fails clearly on an empty store."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from pipeline import store as store_mod
from pipeline.cli import cli
from pipeline.digest import compute as compute_mod


def make_store(path, times: list[datetime]):
    """A store whose only data is one latency sample at each of ``times``."""
    con = store_mod.connect(path)
    try:
        for n, ts in enumerate(times, 1):
            con.execute("INSERT INTO latency VALUES (?, 'web-1', 'db-1', 1.5, false, '/logs/ping.log', ?)", [ts, n])
    finally:
        con.close()
    return path


def run(*args: object):
    return CliRunner().invoke(cli, ["digest", *(str(a) for a in args)], catch_exceptions=False)


@pytest.fixture
def old_store(tmp_path):
    # long over whatever the clock says; the last sample is the 5th in Tokyo
    return make_store(
        tmp_path / "old.duckdb", [datetime(2020, 3, 1, 10, tzinfo=UTC), datetime(2020, 3, 4, 23, 30, tzinfo=UTC)]
    )


def test_no_date_reports_the_last_day_with_data(old_store):
    r = run("--db", old_store)
    assert r.exit_code == 0, r.output
    assert r.stderr == "no --date given: the store's last day with data is 2020-03-04\n"
    assert r.stdout == run("--db", old_store, "--date", "2020-03-04").stdout
    assert "2020-03-04" in r.stdout.splitlines()[0]


def test_the_day_is_in_the_time_zone_given(old_store):
    r = run("--db", old_store, "--tz", "Asia/Tokyo", "--json")
    assert r.exit_code == 0, r.output
    assert "last day with data is 2020-03-05" in r.stderr


def test_explicit_dates_say_nothing_more(old_store):
    r = run("--db", old_store, "--date", "2020-03-01")
    assert r.exit_code == 0 and r.stderr == ""
    assert "2020-03-01" in r.stdout.splitlines()[0]
    assert run("--db", old_store, "--since", "24h").stderr == ""


def test_empty_store_fails_with_one_line(tmp_path):
    r = run("--db", make_store(tmp_path / "empty.duckdb", []))
    assert r.exit_code == 1
    assert r.stderr.startswith("error: the store at ") and "holds no data yet" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""


def test_missing_store_fails(tmp_path):
    r = run("--db", tmp_path / "none.duckdb")
    assert r.exit_code == 1 and "no store" in r.stderr


def test_a_day_still_going_on_is_not_the_default(tmp_path):
    times = [datetime(2026, 11, 25, 0, 30, tzinfo=UTC), datetime(2026, 12, 7, 1, 45, tzinfo=UTC)]
    db = make_store(tmp_path / "live.duckdb", times)
    during = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    assert compute_mod.last_data_days(db, now=during) == (date(2026, 11, 25), date(2026, 12, 7))
    after = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    assert compute_mod.last_data_days(db, now=after) == (date(2026, 12, 7), date(2026, 12, 7))
    before = datetime(2026, 11, 1, tzinfo=UTC)  # data from the future: its last day
    assert compute_mod.last_data_days(db, now=before) == (date(2026, 12, 7), date(2026, 12, 7))


def test_data_only_today_reports_today(tmp_path):
    db = make_store(tmp_path / "today.duckdb", [datetime(2026, 12, 7, 1, 45, tzinfo=UTC)])
    now = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    assert compute_mod.last_data_days(db, now=now) == (date(2026, 12, 7), date(2026, 12, 7))
    assert compute_mod.last_data_days(make_store(tmp_path / "empty.duckdb", []), now=now) is None
