"""The digest's numbers against plain SQL over hand-made stores.

``make_store`` builds a store whose content is known exactly:

* 2026-11-16 .. 2026-11-22 (the week before the busy day): one idle_timeout
  incident on web-1 every day except the 19th (the quiet day), two network
  incidents on web-2;
* 2026-11-23, the busy day: network, idle_timeout, a new cause
  (max_connections), an incident with no host, one ending after midnight, and
  one starting at 23:30 UTC (the next day in Europe/Berlin); the mysql server
  log of db-1 stops at 03:00;
* 2026-11-24, the mixed day: one incident of each of four causes;
* events, latency and metrics every hour, and rejected lines in two files.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline import store as store_mod
from pipeline.digest import compute as compute_mod
from pipeline.digest import render

UTC = UTC
BUSY = date(2026, 11, 23)
QUIET = date(2026, 11, 19)
MIXED = date(2026, 11, 24)


def T(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


# (id, start, end, cause, hosts, errors)
INCIDENTS = [
    # the week before
    *[(f"idle-{d}", T(d, 4, 10), T(d, 4, 12), "idle_timeout", ["web-1"], 2) for d in (16, 17, 18, 20, 21, 22)],
    ("net-a", T(17, 9), T(17, 9, 5), "network", ["web-2"], 5),
    ("net-b", T(21, 13), T(21, 13, 1), "network", ["web-2"], 3),
    # before the baseline: never counted for the busy day
    ("old-1", T(15, 23, 59, 59), T(16, 0, 1), "server_restart", ["db-1"], 9),
    # the busy day
    ("busy-n1", T(23, 0, 0, 0), T(23, 0, 4), "network", ["web-1", "web-2"], 12),
    ("busy-n2", T(23, 8), T(23, 8, 15), "network", ["web-2"], 25),
    ("busy-n3", T(23, 9), T(23, 9, 10), "network", ["web-1"], 7),
    ("busy-i1", T(23, 4, 10), T(23, 4, 11), "idle_timeout", ["web-1"], 2),
    ("busy-i2", T(23, 16, 10), T(23, 16, 12), "idle_timeout", ["web-1"], 3),
    ("busy-m1", T(23, 12), T(23, 12, 20), "max_connections", ["web-1", "web-2", "web-3"], 25),
    ("busy-u1", T(23, 18), T(23, 18, 0, 30), "unknown", [], 1),
    ("busy-late", T(23, 23, 30), T(24, 0, 15), "network", ["web-3"], 4),
    # the mixed day
    ("mix-1", T(24, 1), T(24, 1, 2), "pool_exhausted", ["web-1"], 40),
    ("mix-2", T(24, 6), T(24, 6, 9), "server_restart", ["db-1", "web-1"], 11),
    ("mix-3", T(24, 10), T(24, 10, 1), "access_denied", ["web-2"], 3),
    ("mix-4", T(24, 20), T(24, 20, 3), "idle_timeout", ["web-2"], 2),
]

ADVICE = {
    "network": ["Check the network path between web and db.", "Compare ping RTT with the baseline."],
    "max_connections": ["Raise max_connections or shrink the pools."],
}


def make_store(path, incidents=INCIDENTS):
    """Create a store at ``path`` with the content described in the module docstring."""
    con = store_mod.connect(path)
    try:
        con.execute("BEGIN TRANSACTION")
        for iid, start, end, cause, hosts, errors in incidents:
            con.execute(
                "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    iid,
                    start,
                    end,
                    cause,
                    0.8,
                    hosts,
                    errors,
                    f"{errors} drops on {', '.join(hosts) or 'an unknown host'}: {cause}.",
                    ADVICE.get(cause, [f"Look into {cause}."]),
                    json.dumps({cause: 0.8}),
                    "{}",
                ],
            )
        # a row every hour from the 15th to the end of the 24th
        con.execute(
            "CREATE TEMP TABLE hours AS SELECT row_number() OVER (ORDER BY t) AS n, t "
            "FROM range(?::TIMESTAMPTZ, ?::TIMESTAMPTZ, INTERVAL 1 HOUR) r(t)",
            [T(15, 0), T(25, 0)],
        )
        store_mod.insert_events(
            con,
            "SELECT 'a' || n, t, 'app', 'web-1', '/logs/web-1/app.log', n, 'INFO', "
            "'other', NULL, NULL, 'tick', 'tick' FROM hours",
        )
        store_mod.insert_events(
            con,
            "SELECT 's' || n, t, 'sqlalchemy', 'web-2', '/logs/web-2/app.log', n, "
            "'DEBUG', 'checkout', NULL, 'c1', 'checkout', 'checkout' FROM hours",
        )
        con.execute("INSERT INTO latency SELECT t, 'web-1', 'db-1', 1.5, false, '/logs/web-1/ping.log', n FROM hours")
        # the mysql log of db-1 stops at 03:00 on the busy day
        store_mod.insert_events(
            con,
            "SELECT 'm' || n, t, 'mysql', 'db-1', '/logs/db-1/mysql.log', n, 'Note', "
            "'other', NULL, NULL, 'note', 'note' FROM hours WHERE t < ?",
            [T(23, 3)],
        )
        # status snapshots stop at noon on the 22nd
        con.execute(
            "INSERT INTO metrics SELECT t, 'db-1', 'threads_connected', 10, '/logs/db-1/status.tsv', n "
            "FROM hours WHERE t < ?",
            [T(22, 12)],
        )
        # a file that only has data on the 24th
        store_mod.insert_event_rows(
            con,
            [
                (
                    "z1",
                    T(24, 5),
                    "app",
                    "web-3",
                    "/logs/web-3/app.log",
                    1,
                    "ERROR",
                    "server_gone",
                    2006,
                    None,
                    "gone",
                    "gone",
                )
            ],
        )
        rejects = (
            [("/logs/web-1/app.log", "no timestamp")] * 3
            + [("/logs/web-1/app.log", "binary")] * 3
            + [("/logs/web-1/app.log", "too long")]
            + [("/logs/web-3/app.log", "no timestamp")] * 5
        )
        for i, (f, reason) in enumerate(rejects):
            con.execute("INSERT INTO rejects VALUES (?, ?, ?, 'junk')", [f, i + 1, reason])
        con.execute("COMMIT")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("digest") / "digest.duckdb")


def sql(path, query, params=()):
    with store_mod.opened(path, read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


def causes_between(path, start, end) -> dict[str, tuple[int, int]]:
    """cause -> (incidents, drops) of the incidents starting in [start, end), in plain SQL."""
    query = """
        SELECT cause, count(*), sum(errors) FROM incidents WHERE start_ts >= ? AND start_ts < ?
        GROUP BY cause"""
    return {c: (k, e) for c, k, e in sql(path, query, [start, end])}


def day_bounds(day: date, tz: str = "UTC"):
    p = compute_mod.day_period(day, tz)
    return p.start, p.end


# --- the numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("day", [BUSY, QUIET, MIXED])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_totals_and_causes_match_sql(store_path, day, tz):
    start, end = day_bounds(day, tz)
    d = compute_mod.compute_from_store(store_path, compute_mod.day_period(day, tz))
    ((n, drops, dur),) = sql(
        store_path,
        """
        SELECT count(*), coalesce(sum(errors), 0), coalesce(sum(epoch(end_ts) - epoch(start_ts)), 0)
        FROM incidents WHERE start_ts >= ? AND start_ts < ?""",
        [start, end],
    )
    assert (d.incidents, d.drops) == (n, drops)
    assert d.duration_s == pytest.approx(dur)
    assert d.quiet == (n == 0)

    per_cause = causes_between(store_path, start, end)
    base = causes_between(store_path, start - timedelta(days=7), start)
    assert {r.cause: (r.incidents, r.drops) for r in d.by_cause if r.incidents} == per_cause
    assert {r.cause: (r.baseline_incidents, r.baseline_drops) for r in d.by_cause if r.baseline_incidents} == base
    assert d.baseline_drops == sum(e for _, e in base.values())
    assert d.new_causes == sorted(set(per_cause) - set(base))

    per_host = {
        h: (k, e)
        for h, k, e in sql(
            store_path,
            """
        SELECT coalesce(h, '(no host)'), count(*), sum(errors) FROM (
            SELECT errors, unnest(CASE WHEN len(hosts) = 0 THEN [NULL] ELSE hosts END) AS h
            FROM incidents WHERE start_ts >= ? AND start_ts < ?) GROUP BY 1""",
            [start, end],
        )
    }
    assert {h.host: (h.incidents, h.drops) for h in d.by_host} == per_host


def test_busy_day_known_values(store_path):
    d = compute_mod.compute_from_store(store_path, compute_mod.day_period(BUSY))
    assert d.incidents == 8
    assert d.drops == 12 + 25 + 7 + 2 + 3 + 25 + 1 + 4
    rows = {r.cause: r for r in d.by_cause}
    assert (rows["network"].incidents, rows["network"].drops) == (4, 48)
    assert rows["network"].baseline_avg_drops == round(8 / 7, 2)
    assert rows["idle_timeout"].baseline_incidents == 6
    assert d.new_causes == ["max_connections", "unknown"]
    # the worst: most drops (25, a tie), then the longest: max_connections lasted 20 minutes
    assert d.worst.incident_id == "busy-m1"
    assert d.worst.advice == ADVICE["max_connections"]
    assert [h.host for h in d.by_host][:2] == ["web-2", "web-1"]  # ordered by drops
    assert {h.host for h in d.by_host} == {"web-1", "web-2", "web-3", "(no host)"}
    # the incident crossing midnight counts on the day it started, with its whole duration
    assert rows["network"].duration_s == 4 * 60 + 15 * 60 + 10 * 60 + 45 * 60
    # mysql of db-1 stopped at 03:00; status metrics the day before; app and ping kept sending
    stopped = {(s.stream, s.source, s.host): s.last_seen for s in d.stopped}
    assert stopped == {("events", "mysql", "db-1"): T(23, 2), ("metrics", "metrics", "db-1"): T(22, 11)}
    assert [(r.file, r.rejects, r.top_reason) for r in d.rejects] == [("/logs/web-1/app.log", 7, "binary")]


def test_busy_day_in_berlin_moves_the_late_incident(store_path):
    utc = compute_mod.compute_from_store(store_path, compute_mod.day_period(BUSY, "UTC"))
    berlin = compute_mod.compute_from_store(store_path, compute_mod.day_period(BUSY, "Europe/Berlin"))
    ids_utc = {i["incident_id"] for i in utc.timeline}
    ids_berlin = {i["incident_id"] for i in berlin.timeline}
    assert "busy-late" in ids_utc and "busy-late" not in ids_berlin  # 00:30 on the 24th in Berlin
    assert berlin.worst.start.utcoffset() == timedelta(hours=1)


def test_quiet_day(store_path):
    d = compute_mod.compute_from_store(store_path, compute_mod.day_period(QUIET))
    assert d.quiet and d.incidents == 0 and d.worst is None and d.by_host == []
    md = render.markdown(d)
    # the title and one line (no data-health problems that day)
    assert md.strip().splitlines()[1:] == ["", render.headline(d)]
    assert render.headline(d).startswith("Quiet day: no connection drops on 2026-11-19 (UTC)")
    (baseline,) = sql(
        store_path, "SELECT count(*) FROM incidents WHERE start_ts >= ? AND start_ts < ?", [T(12, 0), T(19, 0)]
    )
    assert f"average {baseline[0] / 7:.2f} incidents" in md


def test_mixed_day(store_path):
    d = compute_mod.compute_from_store(store_path, compute_mod.day_period(MIXED))
    assert [r.cause for r in d.by_cause if r.incidents] == [
        "pool_exhausted",
        "server_restart",
        "access_denied",
        "idle_timeout",
    ]
    assert d.new_causes == ["access_denied", "pool_exhausted", "server_restart"]
    # network had drops in the week before and none today: listed as fewer
    net = next(r for r in d.by_cause if r.cause == "network")
    assert net.incidents == 0 and net.baseline_drops == 8 + 48
    # web-3's file only has data on the 24th, so its rejects count today and not on the 23rd
    assert {r.file: r.rejects for r in d.rejects} == {"/logs/web-1/app.log": 7, "/logs/web-3/app.log": 5}
    assert d.reject_total == 12


def test_since_period_uses_equal_length_baseline(store_path):
    now = T(23, 12, 30)
    p = compute_mod.since_period("6h", "UTC", now=now)
    d = compute_mod.compute_from_store(store_path, p)
    assert (p.start, p.end) == (T(23, 6, 30), now)
    assert {i["incident_id"] for i in d.timeline} == {"busy-n2", "busy-n3", "busy-m1"}
    ((base,),) = sql(
        store_path,
        "SELECT count(*) FROM incidents WHERE start_ts >= ? AND start_ts < ?",
        [p.start - 7 * timedelta(hours=6), p.start],
    )
    assert d.baseline_incidents == base


def test_yesterday_is_the_last_complete_day():
    assert compute_mod.yesterday_period("UTC", now=T(24, 0, 30)).day == date(2026, 11, 23)
    # 23:30 UTC on the 23rd is already the 24th in Berlin
    assert compute_mod.yesterday_period("Europe/Berlin", now=T(23, 23, 30)).day == date(2026, 11, 23)
    assert compute_mod.yesterday_period("UTC", now=T(23, 23, 30)).day == date(2026, 11, 22)
    with pytest.raises(compute_mod.DigestError):
        compute_mod.day_period(BUSY, "Mars/Olympus")
    with pytest.raises(compute_mod.DigestError):
        compute_mod.parse_duration("yesterday")


# --- the numbers as rendered --------------------------------------------------------------------


def _table(md: str, heading: str) -> dict[str, list[str]]:
    block = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    return {
        cells[0].strip("* "): [c.strip("* ") for c in cells[1:]]
        for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows[1:])
    }


@pytest.mark.parametrize("day", [BUSY, MIXED])
def test_markdown_numbers_match_sql(store_path, day):
    start, end = day_bounds(day)
    d = compute_mod.compute_from_store(store_path, compute_mod.day_period(day))
    md = render.markdown(d)
    table = _table(md, "Incidents by cause")
    for cause, n, drops, dur in sql(
        store_path,
        """
            SELECT cause, count(*), sum(errors), sum(epoch(end_ts) - epoch(start_ts)) FROM incidents
            WHERE start_ts >= ? AND start_ts < ? GROUP BY cause""",
        [start, end],
    ):
        assert table[cause][:3] == [str(n), f"{drops:,}", render.fmt_duration(dur)]
    ((n, drops),) = sql(
        store_path, "SELECT count(*), sum(errors) FROM incidents WHERE start_ts >= ? AND start_ts < ?", [start, end]
    )
    assert table["total"][:2] == [str(n), str(drops)]
    ((base_drops,),) = sql(
        store_path,
        "SELECT coalesce(sum(errors), 0) FROM incidents WHERE start_ts >= ? AND start_ts < ?",
        [start - timedelta(days=7), start],
    )
    assert table["total"][5] == f"{base_drops / 7:.2f}"
    hosts = _table(md, "Incidents by host")
    for host, k, e in sql(
        store_path,
        """
            SELECT h, count(*), sum(errors) FROM (SELECT errors, unnest(hosts) AS h FROM incidents
            WHERE start_ts >= ? AND start_ts < ?) GROUP BY h""",
        [start, end],
    ):
        assert hosts[host][:2] == [str(k), str(e)]
    assert f"{n} incidents, {drops} drops," in md
    (worst_id,) = sql(
        store_path,
        """SELECT incident_id FROM incidents WHERE start_ts >= ? AND start_ts < ?
                    ORDER BY errors DESC, end_ts - start_ts DESC LIMIT 1""",
        [start, end],
    )[0]
    assert f"`{worst_id}`" in md.split("## Worst incident", 1)[1]


def test_same_store_and_date_give_the_same_digest(store_path, tmp_path):
    p = compute_mod.day_period(BUSY)
    first = render.markdown(compute_mod.compute_from_store(store_path, p))
    assert first == render.markdown(compute_mod.compute_from_store(store_path, p))
    # a store built again from the same rows gives the same text, and the same HTML and Slack payload
    other = make_store(tmp_path / "again.duckdb")
    d2 = compute_mod.compute_from_store(other, p)
    assert render.markdown(d2) == first
    d1 = compute_mod.compute_from_store(store_path, p)
    assert render.html_page(d1) == render.html_page(d2)
    assert render.slack_payload(d1) == render.slack_payload(d2)
    assert d1.to_dict() == d2.to_dict()


def test_json_is_plain_data(store_path):
    out = compute_mod.compute_from_store(store_path, compute_mod.day_period(BUSY)).to_dict()
    assert json.loads(json.dumps(out)) == out
    assert out["period"]["label"] == "2026-11-23" and out["incidents"] == 8
    assert re.match(r"2026-11-23T12:00:00\+00:00", out["worst"]["start"])
