"""``pipeline probe``: file formats, URL handling, and real runs against the lab's MariaDB
(the reasons of lost probes without a server: test_probe_reasons.py)."""

from __future__ import annotations

import csv
import json
import re
import socket
import threading

import pytest
from click.testing import CliRunner

from pipeline import probe as probe_mod
from pipeline.probe import LatencyWriter, Lost, Probe, ProbeError, format_status, parse_url, tcp_probe
from tests.test_probe_reasons import HANDSHAKE, packet, reserved_closed_port, run_probe

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_parse_url():
    t = parse_url("mysql+pymysql://app:s%40cret@127.0.0.1:3307/shop?charset=utf8mb4")
    assert (t.driver, t.host, t.port, t.user, t.password, t.database) == (
        "pymysql",
        "127.0.0.1",
        3307,
        "app",
        "s@cret",
        "shop",
    )
    assert "s@cret" not in t.redacted() and "***" in t.redacted()
    assert parse_url("mysql+mysqlconnector://u:p@db:3306/x").driver == "mysqlconnector"
    assert parse_url("mysql://u:p@db/x").port == 3306
    bare = parse_url("db.internal:3310")
    assert (bare.host, bare.port, bare.user) == ("db.internal", 3310, None)
    with pytest.raises(ProbeError):
        parse_url("postgresql://u:p@h/db")


def test_latency_csv_format(tmp_path):
    w = LatencyWriter(tmp_path / "latency.csv")
    w.write("2026-11-24T23:50:01.123456Z", "tcp:127.0.0.1:3307", 0.4123)
    w.write("2026-11-24T23:50:01.223456Z", "select1:127.0.0.1:3307", None)
    w.close()
    # Appending later keeps a single header.
    w = LatencyWriter(tmp_path / "latency.csv")
    w.write("2026-11-24T23:50:02.123456Z", "select1:127.0.0.1:3307", 1.02)
    w.close()
    assert (tmp_path / "latency.csv").read_text() == (
        "timestamp,target,rtt_ms\n"
        "2026-11-24T23:50:01.123456Z,tcp:127.0.0.1:3307,0.412\n"
        "2026-11-24T23:50:01.223456Z,select1:127.0.0.1:3307,\n"
        "2026-11-24T23:50:02.123456Z,select1:127.0.0.1:3307,1.020\n"
    )


def test_status_format():
    text = format_status("2026-11-24T23:50:00.000000Z", [("Threads_connected", "4"), ("max_connections", "151")])
    assert text == (
        "# 2026-11-24T23:50:00.000000Z\nVariable_name\tValue\nThreads_connected\t4\nmax_connections\t151\n\n"
    )


def test_status_filter():
    assert probe_mod._wanted_status("Threads_connected")
    assert probe_mod._wanted_status("Connection_errors_max_connections")
    assert not probe_mod._wanted_status("Com_select")


def test_tcp_probe_without_credentials(tmp_path):
    """A bare host:port target: TCP connect plus the greeting; a silent server is lost."""
    greeter = socket.socket()
    greeter.bind(("127.0.0.1", 0))
    greeter.listen(8)
    port = greeter.getsockname()[1]
    silent_mode = {"on": False}

    def serve():
        while True:
            try:
                c, _ = greeter.accept()
            except OSError:
                return
            if not silent_mode["on"]:
                c.sendall(packet(HANDSHAKE))
            threading.Timer(1.0, c.close).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        assert tcp_probe("127.0.0.1", port, 1.0) > 0
        silent_mode["on"] = True
        with pytest.raises(Lost, match=r"^connected, but no reply within 0\.3s"):
            tcp_probe("127.0.0.1", port, 0.3)
        silent_mode["on"] = False
        p = Probe(f"127.0.0.1:{port}", tmp_path, interval=0.1)
        p.run(count=3)
        rows = list(csv.DictReader((tmp_path / "latency.csv").open()))
        assert len(rows) == 3 and all(r["target"] == f"tcp:127.0.0.1:{port}" for r in rows)
        assert not (tmp_path / "status.tsv").exists()
    finally:
        greeter.close()


def test_refused_is_lost(tmp_path):
    with reserved_closed_port() as port:
        p = Probe(f"mysql+pymysql://u:pw@127.0.0.1:{port}/db", tmp_path, interval=0.1, timeout=0.5)
        p.run(count=2)
    rows = list(csv.DictReader((tmp_path / "latency.csv").open()))
    assert len(rows) == 4 and all(r["rtt_ms"] == "" for r in rows)
    assert p.lost == 4 and p.measured == 0
    assert p.lost_reasons == {f"connection refused (127.0.0.1:{port})": 4}


# ---------------------------------------------------------------- real MariaDB


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    from lab.mariadb import MariaDBServer, find_install_db, find_mariadbd

    if not find_mariadbd() or not find_install_db():
        pytest.skip("mariadbd not installed: apt-get install mariadb-server")
    pytest.importorskip("pymysql")
    folder = tmp_path_factory.mktemp("probe-db")
    server = MariaDBServer(folder / "mariadb-error.log", {"max_connections": 20})
    server.start()
    server.prepare_app("app-pw", "monitor-pw-XYZ", "batch-pw")
    yield server
    server.cleanup()


def probe_cli(*args: str):
    from pipeline.commands.probe import probe_command

    return CliRunner().invoke(probe_command, list(args))


@pytest.mark.parametrize("driver", ["pymysql", "mysqlconnector"])
def test_probe_against_mariadb(mariadb, tmp_path, driver):
    pytest.importorskip("mysql.connector" if driver == "mysqlconnector" else "pymysql")
    url = f"mysql+{driver}://monitor:monitor-pw-XYZ@127.0.0.1:{mariadb.port}/lab"
    result = probe_cli(
        url, "--out", str(tmp_path), "--interval", "0.2", "--count", "4", "--status-every", "0.3", "--json"
    )
    assert result.exit_code == 0, result.output
    assert "monitor-pw-XYZ" not in result.output
    summary = json.loads(result.stdout)
    assert (summary["samples"], summary["probes"], summary["lost"], summary["lost_reasons"]) == (4, 8, 0, {})
    rows = [json.loads(line) for line in (tmp_path / "latency.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    assert {r["target"] for r in rows} == {f"tcp:127.0.0.1:{mariadb.port}", f"select1:127.0.0.1:{mariadb.port}"}
    assert all(STAMP.match(r["ts"]) and r["rtt_ms"] > 0 and set(r) == {"ts", "target", "rtt_ms"} for r in rows)
    status = (tmp_path / "status.tsv").read_text()
    snapshots = [b for b in status.split("\n\n") if b.strip()]
    assert len(snapshots) >= 2
    first = snapshots[0].splitlines()
    assert first[0].startswith("# ") and STAMP.match(first[0][2:])
    assert first[1] == "Variable_name\tValue"
    values = dict(line.split("\t") for line in first[2:])
    for name in (
        "Threads_connected",
        "Aborted_clients",
        "Aborted_connects",
        "Uptime",
        "Connection_errors_max_connections",
        "max_connections",
        "wait_timeout",
    ):
        assert name in values
    assert values["max_connections"] == "20"
    for path in tmp_path.iterdir():
        assert "monitor-pw-XYZ" not in path.read_text()


def test_right_password_measures_and_exits_0(mariadb, tmp_path):
    url = f"mysql+pymysql://monitor:monitor-pw-XYZ@127.0.0.1:{mariadb.port}/lab"
    proc = run_probe(url, "--out", str(tmp_path), "--interval", "0.1", "--count", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "3 samples, 0 lost probes, 1 status snapshots\n"
    assert (
        proc.stderr
        == f"probing mysql+pymysql://monitor:***@127.0.0.1:{mariadb.port}/lab every 0.1s -> {tmp_path}/latency.jsonl\n"
    )


def test_csv_latency_format_keeps_the_three_columns(mariadb, tmp_path):
    url = f"mysql+pymysql://monitor:monitor-pw-XYZ@127.0.0.1:{mariadb.port}/lab"
    result = probe_cli(url, "--out", str(tmp_path), "--interval", "0.1", "--count", "2", "--latency-format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader((tmp_path / "latency.csv").open()))
    assert rows[0] == ["timestamp", "target", "rtt_ms"] and len(rows) == 5
    assert all(len(r) == 3 and float(r[2]) > 0 for r in rows[1:])
    assert not (tmp_path / "latency.jsonl").exists()


@pytest.mark.parametrize("driver", ["pymysql", "mysqlconnector"])
def test_wrong_password_exits_1_with_the_reason(mariadb, tmp_path, driver):
    pytest.importorskip("mysql.connector" if driver == "mysqlconnector" else "pymysql")
    url = f"mysql+{driver}://monitor:not-the-PW-123@127.0.0.1:{mariadb.port}/lab"
    proc = run_probe(url, "--out", str(tmp_path), "--interval", "0.1", "--count", "2")
    assert proc.returncode == 1, proc.stderr
    # the server names the client host as it sees it ('localhost' or '127.0.0.1')
    denied = r"server error 1045: Access denied for user 'monitor'@'[\w.]+' \(using password: YES\)"
    assert re.fullmatch(f"error: nothing measured: 4 of 4 probes lost: {denied}", proc.stderr.splitlines()[-1])
    rows = [json.loads(line) for line in (tmp_path / "latency.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(re.fullmatch(denied, r["reason"]) for r in rows)
    assert "not-the-PW-123" not in proc.stdout + proc.stderr + (tmp_path / "latency.jsonl").read_text()


def test_unknown_database_is_the_servers_reason(mariadb, tmp_path):
    url = f"mysql+pymysql://monitor:monitor-pw-XYZ@127.0.0.1:{mariadb.port}/no_such_db"
    p = Probe(url, tmp_path, interval=0.1)
    p.run(count=1)
    [reason] = p.lost_reasons
    assert re.fullmatch(
        r"server error 1044: Access denied for user 'monitor'@'[%\w.]+' to database 'no_such_db'", reason
    )


def test_probe_logs_no_aborted_connections(mariadb, tmp_path):
    """Probing with credentials leaves the server's error log clean."""
    before = mariadb.error_log.read_text().count("Aborted connection")
    Probe(f"mysql+pymysql://monitor:monitor-pw-XYZ@127.0.0.1:{mariadb.port}/lab", tmp_path, interval=0.1).run(count=5)
    assert mariadb.error_log.read_text().count("Aborted connection") == before


def test_probe_loses_samples_while_server_is_down(mariadb, tmp_path):
    url = f"mysql+pymysql://monitor:monitor-pw-XYZ@127.0.0.1:{mariadb.port}/lab"
    p = Probe(url, tmp_path, interval=0.1, timeout=0.5)
    p.sample()
    mariadb.stop()
    try:
        out = p.sample()
        assert out["tcp"] is None and out["select1"] is None
    finally:
        mariadb.start()
    refused = f"connection refused (127.0.0.1:{mariadb.port})"
    assert p.lost_reasons[refused] >= 1 and sum(p.lost_reasons.values()) == 2
    assert all(reason.endswith(f"(127.0.0.1:{mariadb.port})") for reason in p.lost_reasons)
    out = p.sample()
    assert out["tcp"] is not None and out["select1"] is not None
    p.close()
