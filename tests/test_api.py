"""The Python API (pipeline.api): a hand-built store with one incident per cause."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import time
from pathlib import Path

import polars as pl
import pytest

from pipeline import store as store_mod
from pipeline.api import (
    Incident,
    IncidentNotFound,
    Store,
    StoreError,
    choose_bucket,
    parse_duration,
    parse_time,
)
from pipeline.causes.idle_timeout import IdleTimeoutDetails
from pipeline.causes.server_restart import ServerRestartDetails
from pipeline.correlate.details import IncidentDetails
from pipeline.kinds import CAUSES
from tests.helpers import BUILT_IN_CAUSES, generate_logs

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)

# one incident per cause, an hour apart: (cause, start offset in minutes)
INCIDENT_CAUSES = [*BUILT_IN_CAUSES, "unknown"]
IDLE_LIMIT = {
    "ok_max_s": 240.0,
    "fail_min_s": 310.0,
    "fail_max_s": 330.0,
    "failed_over": 3,
    "failed_total": 3,
    "ok_over": 0,
    "ok_total": 5,
}
EVIDENCE_WHY = {
    "idle_timeout": "connection idle 310 s before checkout, then MySQL server has gone away",
    "network": "probe lost and latency 900 ms while the query was running",
    "max_connections": "server refused: Too many connections",
    "pool_exhausted": "QueuePool limit of size 5 overflow 10 reached",
    "server_restart": "mysqld shut down (normal shutdown)",
    "access_denied": "Access denied for user 'app'@'10.0.0.5'",
    "unknown": "a lone lost connection",
}


def _eid(*parts) -> str:
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


def incident_start(cause: str) -> dt.datetime:
    return T0 + dt.timedelta(hours=INCIDENT_CAUSES.index(cause))


def incident_id(cause: str) -> str:
    start = incident_start(cause)
    return f"{start:%Y%m%d-%H%M%S}-{_eid(cause)[:6]}"


def build_store(path: Path) -> Path:
    """A store with events, latency, metrics and one correlated incident per cause."""
    events: list[tuple] = []
    latency: list[tuple] = []
    metrics: list[tuple] = []

    def ev(ts, source, host, kind, message, conn_ref=None, error_code=None, file="app.log"):
        line_no = len(events) + 1
        events.append(
            (_eid(file, line_no), ts, source, host, file, line_no, "INFO", kind, error_code, conn_ref, message, message)
        )
        return events[-1][0]

    def app_errors(start, n, every_s, host, kind, message, error_code=None):
        """``n`` application errors on ``host``, ``every_s`` seconds apart from ``start``."""
        for k in range(n):
            ev(start + dt.timedelta(seconds=every_s * k), "app", host, kind, message, error_code=error_code)

    def pool_ev(ts, kind, message, conn):
        """A line of web-1's SQLAlchemy pool log."""
        ev(ts, "sqlalchemy", "web-1", kind, message, conn, file="pool.log")

    # idle_timeout: connections idle 310-330 s fail, shorter idles work
    start = incident_start("idle_timeout")
    for i, idle in enumerate([60, 120, 180, 240, 200, 310, 320, 330]):
        conn = f"<pymysql.connections.Connection object at 0x7f00{i:02x}>"
        checkin = start - dt.timedelta(seconds=idle - i)
        checkout = checkin + dt.timedelta(seconds=idle)
        pool_ev(checkin - dt.timedelta(seconds=1), "checkout", "checkout", conn)
        pool_ev(checkin, "checkin", "Connection being returned to pool", conn)
        pool_ev(checkout, "checkout", "Connection checked out from pool", conn)
        if idle >= 300:
            gone = "Invalidate connection (reason: OperationalError:(2006, 'MySQL server has gone away'))"
            pool_ev(checkout + dt.timedelta(milliseconds=5), "invalidate", gone, conn)
            ev(
                checkout + dt.timedelta(milliseconds=6),
                "app",
                "web-1",
                "server_gone",
                "OperationalError: (2006, 'MySQL server has gone away')",
                error_code=2006,
            )
        else:
            pool_ev(checkout + dt.timedelta(seconds=1), "checkin", "Connection being returned to pool", conn)
    ev(
        start - dt.timedelta(seconds=20),
        "mysql",
        "db-1",
        "aborted_connection",
        "Aborted connection 42 to db: 'app' user: 'app' host: '10.0.0.5' (Got timeout reading communication packets)",
        file="mysql/error.log",
    )
    metrics.append((start - dt.timedelta(minutes=5), "db-1", "wait_timeout", 300.0, "status.tsv", 1))

    # network: latency spikes and lost probes
    start = incident_start("network")
    for s in range(-600, 600, 10):
        ts = start + dt.timedelta(seconds=s)
        lost = 0 <= s < 60 and s % 20 == 0
        rtt = None if lost else (900.0 if 0 <= s < 60 else 0.5 + (s % 7) / 10)
        latency.append((ts, "web-1", "db-1", rtt, lost, "ping.log", len(latency) + 1))
    timed_out = "OperationalError: (2013, 'Lost connection to MySQL server during query (timed out)')"
    app_errors(start, 3, 10, "web-1", "lost_connection", timed_out, error_code=2013)

    # max_connections: threads_connected reaches max_connections
    start = incident_start("max_connections")
    for s in range(-600, 600, 30):
        ts = start + dt.timedelta(seconds=s)
        metrics.append((ts, "db-1", "max_connections", 151.0, "status.tsv", len(metrics) + 1))
        value = 151.0 if 0 <= s < 120 else 40.0
        metrics.append((ts, "db-1", "threads_connected", value, "status.tsv", len(metrics) + 1))
    refused = "OperationalError: (1040, 'Too many connections')"
    app_errors(start, 4, 15, "web-2", "too_many_connections", refused, error_code=1040)

    # pool_exhausted
    start = incident_start("pool_exhausted")
    timeout = "TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00"
    app_errors(start, 3, 5, "web-1", "pool_timeout", timeout)

    # server_restart
    start = incident_start("server_restart")
    ev(start - dt.timedelta(seconds=2), "mysql", "db-1", "server_stop", "Normal shutdown", file="mysql/error.log")
    ev(
        start + dt.timedelta(seconds=30),
        "mysql",
        "db-1",
        "server_start",
        "ready for connections",
        file="mysql/error.log",
    )
    cant = "OperationalError: (2003, \"Can't connect to MySQL server on 'db-1' ([Errno 111] Connection refused)\")"
    app_errors(start, 3, 5, "web-1", "cant_connect", cant, error_code=2003)

    # access_denied
    start = incident_start("access_denied")
    ev(
        start,
        "app",
        "web-3",
        "access_denied",
        "OperationalError: (1045, \"Access denied for user 'app'@'10.0.0.5' (using password: YES)\")",
        error_code=1045,
    )
    ev(start, "mysql", "db-1", "access_denied", "Access denied for user 'app'@'10.0.0.5'", file="mysql/error.log")

    # unknown
    start = incident_start("unknown")
    ev(start, "app", "web-1", "lost_connection", "OperationalError: (2013, 'Lost connection')", error_code=2013)

    with store_mod.opened(path) as con:
        con.execute("SET TimeZone = 'UTC'")
        store_mod.insert_event_rows(con, events)
        con.executemany("INSERT INTO latency VALUES (?, ?, ?, ?, ?, ?, ?)", latency)
        con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", metrics)
        for cause in INCIDENT_CAUSES:
            start = incident_start(cause)
            iid = incident_id(cause)
            hosts = ["web-2"] if cause == "max_connections" else (["web-3"] if cause == "access_denied" else ["web-1"])
            details = {"idle_limits": {"web-1": IDLE_LIMIT}} if cause == "idle_timeout" else {}
            scores = {cause: {"score": 2.1, "explained": 1.0, "parts": {"client": 1.0}}}
            if cause == "idle_timeout":
                scores["network"] = {"score": 0.3, "explained": 0.0, "parts": {"client": 0.3}}
            con.execute(
                "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    iid,
                    start,
                    start + dt.timedelta(seconds=60),
                    cause,
                    0.8 if cause != "unknown" else 0.2,
                    hosts,
                    3,
                    f"{cause.replace('_', ' ')}: {CAUSES[cause]}",
                    [f"advice for {cause}"],
                    json.dumps(scores),
                    json.dumps(details),
                ],
            )
            con.execute(
                "INSERT INTO incident_evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [iid, 1, "app", start, cause, f"line showing {cause}", EVIDENCE_WHY[cause], None, "app.log", 1],
            )
        store_mod.touch_changed(con)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("api") / "t.duckdb")


@pytest.fixture
def store(built) -> Store:
    return Store.open(built)


# --------------------------------------------------------------------------- parsing


def test_parse_duration():
    assert parse_duration("10m") == dt.timedelta(minutes=10)
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("7d") == dt.timedelta(days=7)
    assert parse_duration(45) == dt.timedelta(seconds=45)
    assert parse_duration("2.5s") == dt.timedelta(seconds=2.5)
    with pytest.raises(ValueError):
        parse_duration("ten minutes")
    with pytest.raises(ValueError):
        parse_duration("10x")


def test_parse_time():
    now = dt.datetime(2025, 1, 2, tzinfo=UTC)
    assert parse_time("24h", now=now) == dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_time("2025-01-01T10:00:00Z") == dt.datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert parse_time("2025-01-01 10:00") == dt.datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert parse_time(dt.datetime(2025, 1, 1, 10)) == dt.datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert parse_time(None) is None
    with pytest.raises(ValueError):
        parse_time("yesterday-ish")


def test_choose_bucket_bounds_points():
    start = T0
    for span in (dt.timedelta(seconds=30), dt.timedelta(hours=3), dt.timedelta(days=400)):
        bucket = choose_bucket(start, start + span, 2000)
        assert span / bucket <= 2000
    assert choose_bucket(start, start + dt.timedelta(minutes=10), 2000) == dt.timedelta(seconds=1)


# --------------------------------------------------------------------------- opening


def test_open_missing_file(tmp_path):
    with pytest.raises(StoreError):
        Store.open(tmp_path / "absent.duckdb")


def test_open_not_a_store(tmp_path):
    import duckdb

    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(StoreError, match="not a pipeline store"):
        Store.open(path)


def test_open_read_write_creates(tmp_path):
    path = tmp_path / "new.duckdb"
    store = Store.open(path, read_only=False)
    assert path.exists()
    assert store.counts()["events"] == 0
    assert store.incidents().height == 0
    assert store.span() is None


def test_open_uses_env(built, monkeypatch):
    monkeypatch.setenv("PIPELINE_DB", str(built))
    assert Store.open().path == built


def test_no_connection_kept(built):
    """Between calls the file is free: a writer in this process can open it."""
    store = Store.open(built)
    store.incidents()
    store.incident(incident_id("network")).latency()
    import duckdb

    con = duckdb.connect(str(built))  # read-write: fails if any connection were still open read-only
    con.close()


def _hold_write_lock(path, seconds, ready):
    import duckdb

    con = duckdb.connect(str(path))
    ready.set()
    time.sleep(seconds)
    con.close()


def test_waits_for_writer_in_other_process(built):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_write_lock, args=(str(built), 1.5, ready))
    proc.start()
    try:
        assert ready.wait(30)
        t = time.monotonic()
        frame = Store(built, wait_s=30).incidents()
        assert frame.height == len(INCIDENT_CAUSES)
        assert time.monotonic() - t > 0.5  # it had to wait for the writer
    finally:
        proc.join(30)


# --------------------------------------------------------------------------- incidents


def test_incidents_frame(store):
    frame = store.incidents()
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == len(INCIDENT_CAUSES)
    assert set(frame["cause"]) == set(INCIDENT_CAUSES)
    assert frame["start_ts"].dtype == pl.Datetime("us", "UTC")
    # newest first
    assert frame["start_ts"].to_list() == sorted(frame["start_ts"].to_list(), reverse=True)
    assert frame["duration_s"][0] == pytest.approx(60.0)
    assert frame.to_pandas().shape[0] == len(INCIDENT_CAUSES)


def test_incidents_filters(store):
    assert store.incidents(cause="idle_timeout")["incident_id"].to_list() == [incident_id("idle_timeout")]
    assert store.incidents(cause=["network", "unknown"]).height == 2
    assert store.incidents(hosts="web-2")["cause"].to_list() == ["max_connections"]
    assert store.incidents(since=incident_start("unknown")).height == 1
    assert store.incidents(until=incident_start("idle_timeout")).height == 1
    assert store.incidents(min_confidence=0.5).height == len(INCIDENT_CAUSES) - 1
    assert store.incidents(limit=2).height == 2
    # relative to now: these incidents are long past
    assert store.incidents(since="24h").height == 0


def test_filters_are_parameters_not_sql(store):
    evil = "idle_timeout' OR '1'='1"
    assert store.incidents(cause=evil).height == 0
    assert store.event_counts(hosts=["x'; DROP TABLE events; --"]).height == 0
    assert store.counts()["events"] > 0


def test_incident(store):
    iid = incident_id("idle_timeout")
    inc = store.incident(iid)
    assert isinstance(inc, Incident)
    assert inc.cause == "idle_timeout"
    assert inc.confidence == pytest.approx(0.8)
    assert inc.hosts == ["web-1"]
    assert inc.advice == ["advice for idle_timeout"]
    assert inc.start == incident_start("idle_timeout")
    assert inc.duration == dt.timedelta(seconds=60)
    assert inc.ranked_causes()[0][0] == "idle_timeout"
    assert inc.evidence.height == 1
    assert inc.evidence["why"][0] == EVIDENCE_WHY["idle_timeout"]
    assert "idle_timeout" in inc._repr_markdown_()
    assert inc.as_dict()["details"]["causes"]["idle_timeout"]["idle_limits"]["web-1"]["fail_min_s"] == 310.0


def test_incident_prefix_latest_and_missing(store):
    iid = incident_id("network")
    assert store.incident(iid[:20]).incident_id == iid
    assert store.incident().cause == INCIDENT_CAUSES[-1]
    assert store.latest_incident_id() == incident_id(INCIDENT_CAUSES[-1])
    assert store.latest_incident_id(cause="network") == iid
    with pytest.raises(IncidentNotFound):
        store.incident("nope")
    with pytest.raises(IncidentNotFound, match="several"):
        store.incident("2025")


def test_incident_counts(store):
    counts = store.incident_counts()
    assert set(counts.columns) >= {"day", "cause", "n"}
    assert counts["n"].sum() == len(INCIDENT_CAUSES)
    assert counts["day"].n_unique() == 1


# --------------------------------------------------------------------------- series


def test_event_counts(store):
    counts = store.event_counts()
    assert set(counts.columns) == {"bucket", "source", "kind", "n"}
    assert counts["n"].sum() == store.counts()["events"]
    assert counts["bucket"].n_unique() <= 2000
    app = store.event_counts(sources="app", kinds=["server_gone"])
    assert app["n"].sum() == 3
    assert store.event_counts(hosts=["db-1"])["source"].unique().to_list() == ["mysql"]
    wide = store.event_counts(bucket="1h")
    assert wide["bucket"].n_unique() <= 8


def test_event_counts_bucket_limit(store):
    start, end = store.span()
    counts = store.event_counts(start, end, max_points=50)
    assert counts["bucket"].n_unique() <= 51


def test_latency(store):
    inc = store.incident(incident_id("network"))
    lat = inc.latency(window="10m")
    assert set(lat.columns) >= {"bucket", "host", "target", "samples", "lost", "rtt_min", "rtt_median", "rtt_max"}
    assert lat["lost"].sum() == 3
    assert lat["rtt_max"].max() == pytest.approx(900.0)
    assert lat["samples"].sum() == 120


def test_metrics(store):
    inc = store.incident(incident_id("max_connections"))
    m = inc.metrics()
    assert set(m["name"].unique()) == {"threads_connected", "max_connections"}
    tc = m.filter(pl.col("name") == "threads_connected")
    assert tc["value"].max() == 151.0
    everything = store.metrics(names=None)
    assert "wait_timeout" in everything["name"].to_list()


def test_events_around_incident(store):
    inc = store.incident(incident_id("server_restart"))
    ev = inc.events(window="1m")
    assert {"mysql", "app"} <= set(ev["source"])
    assert ev["ts"].is_sorted()
    assert "server_stop" in ev["kind"].to_list()
    assert inc.events(window="1m", limit=2).height == 2
    with pytest.raises(ValueError):
        store.events(None, None)


def test_idle_times(store):
    inc = store.incident(incident_id("idle_timeout"))
    idle = inc.idle_times()
    assert {"ts", "host", "conn_ref", "idle_s", "failed", "conn_failed", "drop_followed"} <= set(idle.columns)
    known = idle.filter(pl.col("idle_s").is_not_null())
    failed = sorted(known.filter(pl.col("failed"))["idle_s"].to_list())
    ok = sorted(known.filter(~pl.col("failed"))["idle_s"].to_list())
    assert failed == pytest.approx([310, 320, 330])
    assert ok == pytest.approx([60, 120, 180, 200, 240])
    assert known.filter(pl.col("failed"))["drop_followed"].all()
    assert inc.limit_range() == (240.0, 310.0)
    assert inc.idle_limits()["web-1"]["fail_min_s"] == 310.0


def test_limit_range_falls_back_to_wait_timeout(store):
    inc = store.incident(incident_id("idle_timeout"))
    bare = Incident(**{**inc.__dict__, "details": IncidentDetails()})
    assert bare.limit_range() == (300.0, 300.0)
    assert inc.wait_timeout() == 300.0
    waited = IncidentDetails(causes={"idle_timeout": IdleTimeoutDetails(wait_timeout=120)})
    assert Incident(**{**inc.__dict__, "details": waited}).wait_timeout() == 120.0
    limited = IncidentDetails(causes={"idle_timeout": IdleTimeoutDetails(idle_limits={"web-1": {"fail_min_s": 50.0}})})
    assert Incident(**{**inc.__dict__, "details": limited}).limit_range() == (None, 50.0)
    other = store.incident(incident_id("pool_exhausted"))
    assert other.idle_limits() == {}


def test_sql_with_params(store):
    frame = store.sql("SELECT kind, count(*) AS n FROM events WHERE host = ? GROUP BY kind ORDER BY kind", ["db-1"])
    assert "server_stop" in frame["kind"].to_list()
    named = store.sql("SELECT count(*) AS n FROM incidents WHERE cause = $c", {"c": "network"})
    assert named["n"][0] == 1
    with pytest.raises(Exception, match=r"(?i)read.only"):
        store.sql("DELETE FROM incidents")
    # intervals, which polars cannot take from Arrow directly
    span = store.sql("SELECT max(end_ts) - min(start_ts) AS span FROM incidents")
    assert span["span"][0] == dt.timedelta(hours=len(INCIDENT_CAUSES) - 1, minutes=1)


def test_meta(store):
    assert store.last_change() is not None
    assert "db-1" in store.hosts()
    span = store.span()
    assert span[0] < span[1]


def test_timeline_for_incident(store):
    fig = store.incident(incident_id("max_connections")).timeline()
    assert fig.data


def test_sample_store(sample_store):
    """Over the recorded scenarios: every incident loads with its series."""
    store = Store.open(sample_store)
    incidents = store.incidents()
    if incidents.height == 0:
        pytest.skip("sample store has no incidents yet")
    assert set(incidents["cause"]) <= set(CAUSES)
    for iid in incidents["incident_id"].to_list():
        inc = store.incident(iid)
        assert inc.events(window="2m").height > 0
        inc.latency()
        inc.metrics()
        inc.idle_times()


@pytest.mark.slow
def test_reads_while_ingest_runs(tmp_path):
    """A real `pipeline ingest` in another process, and the API answering between its commits."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    generate_logs(tmp_path / "gen", seed=5)
    db = tmp_path / "live.duckdb"
    # The writer lets go of the store after every file here, and holds off 0.3 s before
    # the next one: a real ingest on a tree this small is otherwise over before a reader
    # gets in (the test then depended on timing).
    ingest = (
        "import sys, time\n"
        "from pipeline.ingest import writer\n"
        "from pipeline.cli import cli\n"
        "writer.RELEASE_FILES = 1\n"
        "close = writer.StoreWriter._close\n"
        "def close_and_pause(self):\n"
        "    was_open = self._con is not None\n"
        "    close(self)\n"
        "    if was_open:\n"
        "        time.sleep(0.3)\n"
        "writer.StoreWriter._close = close_and_pause\n"
        "cli(sys.argv[1:])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", ingest, "ingest", str(tmp_path / "gen" / "logs"), "--db", str(db), "--json"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    reads_during = 0
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if db.exists():
                try:
                    store = Store.open(db, wait_s=120)
                except StoreError as exc:  # created but not yet migrated
                    if "not a pipeline store" not in str(exc):
                        raise
                    continue
                store.counts()
                store.event_counts()
                store.incidents()
                if proc.poll() is None:
                    reads_during += 1
            time.sleep(0.05)
        assert proc.wait(300) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert reads_during > 0
    store = Store.open(db)
    assert store.counts()["events"] > 0
    assert store.incidents().height > 0


def test_details_are_read_back_into_their_type(store):
    inc = store.incident(incident_id("idle_timeout"))
    assert isinstance(inc.details, IncidentDetails)
    # each cause's details come back as that cause's own dataclass
    assert type(inc.details.causes["idle_timeout"]) is IdleTimeoutDetails
    assert inc.details.of(IdleTimeoutDetails).idle_limits["web-1"]["fail_min_s"] == 310.0
    # a store written before details had a version reads as version 0, and before each cause
    # had its own (version 1) every field was flat: each cause takes its own from the top
    old = IncidentDetails.from_json(
        '{"wait_timeout": 300, "idle_limits": {"h": {"fail_min_s": 9}}, "crashed": true, "gone": 1}'
    )
    assert old.version == 0
    assert old.of(IdleTimeoutDetails).wait_timeout == 300
    assert old.of(IdleTimeoutDetails).idle_limits == {"h": {"fail_min_s": 9}}
    assert old.of(ServerRestartDetails).crashed is True
    v1 = IncidentDetails.from_json('{"version": 1, "server_only": true, "downtime_s": 12.5}')
    assert v1.server_only is True and v1.of(ServerRestartDetails).downtime_s == 12.5
    # and the current form round-trips
    now = IncidentDetails(causes={"server_restart": ServerRestartDetails(crashed=True)})
    assert IncidentDetails.from_json(now.to_json()).of(ServerRestartDetails).crashed is True
    # a cause with no details in the store reads as its defaults
    assert IncidentDetails().of(ServerRestartDetails) == ServerRestartDetails()
