"""``pipeline probe`` says why a probe was lost: in the terminal, in latency.jsonl, and by its
exit status.  Real sockets on 127.0.0.1 throughout: a closed port, servers that speak
something else, a missing driver; the MariaDB cases are in test_probe.py."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipeline.ingest.families import latency_table
from pipeline.ingest.runner import ingest_paths
from pipeline.probe import JsonLatencyWriter, Lost, Probe, greeting_problem, lost_summary, tcp_probe
from tests.helpers import accounted, parse_plain

ROOT = Path(__file__).resolve().parents[1]
HTTP_BANNER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# a MariaDB handshake's start: header (length, sequence 0), protocol 10, version
HANDSHAKE = b"\x0a5.5.5-10.11.6-MariaDB\x00" + b"\x00" * 40
TOO_MANY = b"\xff\x10\x04Too many connections"  # error 1040 sent instead of a handshake


def packet(payload: bytes, seq: int = 0) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


@contextlib.contextmanager
def reserved_closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound but never listening, and held so that
    nothing else takes it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.fixture
def closed_port() -> Iterator[int]:
    with reserved_closed_port() as port:
        yield port


class BannerServer:
    """Accepts connections on 127.0.0.1 and sends ``banner`` (None: stays silent; a list: each in
    turn, one a connection), then hangs up after ``hold`` seconds."""

    def __init__(self, banner: bytes | list[bytes | None] | None, hold: float = 1.0):
        self.banners = itertools.cycle(banner if isinstance(banner, list) else [banner])
        self.hold = hold
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            banner = next(self.banners)
            if banner is not None:
                try:
                    conn.sendall(banner)
                except OSError:
                    pass
            threading.Timer(self.hold, conn.close).start()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def banner_server(request):
    server = BannerServer(*request.param) if isinstance(request.param, tuple) else BannerServer(request.param)
    yield server
    server.close()


def run_probe(*args: str, preamble: str = "") -> subprocess.CompletedProcess[str]:
    """``pipeline probe ARGS`` in a fresh interpreter, through the CLI's own error handling
    (``preamble`` runs first, e.g. to make a driver unimportable)."""
    code = f"{preamble}\nimport sys\nfrom pipeline.cli import main\nsys.argv = ['pipeline', 'probe', *sys.argv[1:]]\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def latency_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "latency.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- the reasons themselves


def test_greeting_problem():
    assert greeting_problem(packet(HANDSHAKE)[:5], "h:1") is None
    assert greeting_problem(b"", "h:1") == "closed without a greeting (h:1)"
    assert greeting_problem(packet(TOO_MANY), "h:1") == "server error 1040: Too many connections"
    assert greeting_problem(HTTP_BANNER, "h:1") == "not a MySQL server: it sent 'HTTP/1.1 400 Bad Request' (h:1)"
    assert greeting_problem(b"\x1b[2J\x00\x9b", "h:1") == r"not a MySQL server: it sent '\x1b[2J\x00\x9b' (h:1)"


@pytest.mark.parametrize(
    ("banner_server", "expected"),
    [
        ((packet(TOO_MANY),), "server error 1040: Too many connections"),
        ((HTTP_BANNER,), "not a MySQL server: it sent 'HTTP/1.1 400 Bad Request'"),
        ((None,), "connected, but no reply within 0.3s"),
        ((b"", 0.0), "closed without a greeting"),
    ],
    ids=["too-many-connections", "http", "silent", "hangs-up"],
    indirect=["banner_server"],
)
def test_tcp_probe_reasons(banner_server, expected):
    with pytest.raises(Lost) as lost:
        tcp_probe("127.0.0.1", banner_server.port, 0.3)
    assert lost.value.reason.startswith(expected)


def test_tcp_probe_refused(closed_port):
    port = closed_port
    with pytest.raises(Lost, match=rf"^connection refused \(127\.0\.0\.1:{port}\)$"):
        tcp_probe("127.0.0.1", port, 1.0)


def test_lost_summary():
    assert lost_summary(Counter({"connection refused (h:1)": 4}), 4) == "4 of 4 probes lost: connection refused (h:1)"
    two = Counter({"connection refused (h:1)": 1, "connected, but no reply within 1s (h:1)": 3})
    assert lost_summary(two, 10) == (
        "4 of 10 probes lost: 3 connected, but no reply within 1s (h:1); 1 connection refused (h:1)"
    )


# ---------------------------------------------------------------- the CLI


def test_closed_port_exits_1_with_the_reason(tmp_path, closed_port):
    port = closed_port
    url = f"mysql+pymysql://monitor:s3cret-pw@127.0.0.1:{port}/app"
    proc = run_probe(url, "--out", str(tmp_path), "--interval", "0.05", "--count", "3")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"error: nothing measured: 6 of 6 probes lost: connection refused (127.0.0.1:{port})"
    )
    assert "Traceback" not in proc.stderr
    rows = latency_rows(tmp_path)
    assert [r["target"].split(":")[0] for r in rows] == ["tcp", "select1"] * 3
    assert all(r["rtt_ms"] is None and r["lost"] is True for r in rows)
    assert {r["reason"] for r in rows} == {f"connection refused (127.0.0.1:{port})"}
    assert "s3cret-pw" not in proc.stdout + proc.stderr + (tmp_path / "latency.jsonl").read_text()


@pytest.mark.parametrize("driver", ["pymysql", "mysqlconnector"])
@pytest.mark.parametrize("banner_server", [(HTTP_BANNER, 0.0)], ids=["http"], indirect=True)
def test_not_a_mysql_server_exits_1_with_the_reason(banner_server, tmp_path, driver):
    """An HTTP server answering with a 400 and hanging up.  (mysql.connector waits for the rest
    of a packet from a server that keeps the line open: that one reads as "no reply".)"""
    pytest.importorskip("mysql.connector" if driver == "mysqlconnector" else "pymysql")
    url = f"mysql+{driver}://monitor:pw@127.0.0.1:{banner_server.port}/app"
    proc = run_probe(url, "--out", str(tmp_path), "--interval", "0.05", "--count", "2", "--timeout", "1", "--json")
    assert proc.returncode == 1, proc.stderr
    reason = f"not a MySQL server: it sent 'HTTP/1.1 400 Bad Request' (127.0.0.1:{banner_server.port})"
    assert proc.stderr.splitlines()[-1] == f"error: nothing measured: 4 of 4 probes lost: {reason}"
    summary = json.loads(proc.stdout)
    assert summary["lost_reasons"] == {reason: 4} and summary["probes"] == 4
    assert {r["reason"] for r in latency_rows(tmp_path)} == {reason}


def test_bare_host_port_against_a_non_mysql_server(tmp_path):
    server = BannerServer(b"SSH-2.0-OpenSSH_9.6\r\n")
    try:
        proc = run_probe(f"127.0.0.1:{server.port}", "--out", str(tmp_path), "--interval", "0.05", "--count", "2")
    finally:
        server.close()
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"error: nothing measured: 2 of 2 probes lost: not a MySQL server: it sent 'SSH-2.0-OpenSSH_9.6' "
        f"(127.0.0.1:{server.port})"
    )


def test_missing_driver_is_one_error_line_and_exit_2(tmp_path, closed_port):
    """What a user sees when the driver is not installed: simulated by making it unimportable."""
    out = tmp_path / "out"
    proc = run_probe(
        f"mysql+pymysql://monitor:pw@127.0.0.1:{closed_port}/app",
        "--out",
        str(out),
        "--count",
        "1",
        preamble="import sys; sys.modules['pymysql'] = None",
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: the MySQL driver PyMySQL cannot be imported (")
    assert "pip install PyMySQL (or reinstall: pip install -e .)" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stdout == ""
    assert not out.exists()


def test_missing_optional_driver_names_its_package(tmp_path, closed_port):
    proc = run_probe(
        f"mysql+mysqlconnector://monitor:pw@127.0.0.1:{closed_port}/app",
        "--out",
        str(tmp_path),
        preamble="import sys; sys.modules['mysql'] = sys.modules['mysql.connector'] = None",
    )
    assert proc.returncode == 2
    assert "mysql-connector-python" in proc.stderr and "'.[lab]'" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_bad_url_exits_2(tmp_path):
    proc = run_probe("postgresql://u:p@h/db", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == "error: only MySQL/MariaDB URLs can be probed, not 'postgresql'\n"


def test_without_credentials_no_driver_is_needed(tmp_path):
    server = BannerServer(packet(HANDSHAKE))
    try:
        proc = run_probe(
            f"127.0.0.1:{server.port}",
            *("--out", str(tmp_path), "--interval", "0.05", "--count", "2"),
            preamble="import sys; sys.modules['pymysql'] = None",
        )
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2 samples, 0 lost probes, 0 status snapshots\n"
    assert all(r["rtt_ms"] > 0 and "reason" not in r for r in latency_rows(tmp_path))


def test_some_losses_exit_0_and_list_the_reasons(tmp_path):
    """Every other connection answered by something else: half the probes measured, half lost."""
    server = BannerServer([packet(HANDSHAKE), HTTP_BANNER])
    try:
        proc = run_probe(f"127.0.0.1:{server.port}", "--out", str(tmp_path), "--interval", "0.05", "--count", "4")
    finally:
        server.close()
    reason = f"not a MySQL server: it sent 'HTTP/1.1 400 Bad Request' (127.0.0.1:{server.port})"
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"4 samples, 2 lost probes, 0 status snapshots\n2 of 4 probes lost: {reason}\n"
    assert [r.get("reason") for r in latency_rows(tmp_path)] == [None, reason, None, reason]


# ---------------------------------------------------------------- the file still ingests


def test_jsonl_rows_parse_as_latency_with_losses_counted(tmp_path):
    w = JsonLatencyWriter(tmp_path / "latency.jsonl")
    w.write("2026-11-24T23:50:01.123456Z", "tcp:127.0.0.1:3307", 0.4123)
    w.write("2026-11-24T23:50:02.123456Z", "select1:127.0.0.1:3307", None, "server error 1045: \"x\", \\ 'y'")
    w.close()
    lines = (tmp_path / "latency.jsonl").read_text().splitlines()
    assert lines[0] == '{"ts": "2026-11-24T23:50:01.123456Z", "target": "tcp:127.0.0.1:3307", "rtt_ms": 0.412}'
    assert json.loads(lines[1])["reason"] == "server error 1045: \"x\", \\ 'y'"
    parsed = parse_plain(latency_table.FAMILY, lines, path="latency.jsonl", host="app1", tz="UTC")
    assert parsed.latency["target"].to_list() == ["tcp:127.0.0.1:3307", "select1:127.0.0.1:3307"]
    assert parsed.latency["rtt_ms"].to_list() == [0.412, None]
    assert parsed.latency["lost"].to_list() == [False, True]
    assert accounted(parsed) == 2 and parsed.rejects.height == 0
    assert latency_table.FAMILY.sniff(lines) >= 0.9


def test_probe_output_ingests_as_latency(tmp_path, closed_port):
    """A folder the probe wrote (measured and lost rows, reasons included) goes through the real
    ingest: format detected, every row stored, the lost ones as lost, nothing rejected."""
    out = tmp_path / "probe"
    port = closed_port
    Probe(f"mysql+pymysql://u:pw@127.0.0.1:{port}/db", out, interval=0.05, latency_format="jsonl").run(count=2)
    server = BannerServer(packet(HANDSHAKE))
    try:
        Probe(f"127.0.0.1:{server.port}", out, interval=0.05, latency_format="jsonl").run(count=3)
    finally:
        server.close()
    db = tmp_path / "store.duckdb"
    ingest_paths([out], db, correlate=False)
    with duckdb.connect(str(db), read_only=True) as con:
        files = con.execute("SELECT format, rejects, latency FROM files").fetchall()
        stored = con.execute("SELECT target, lost, rtt_ms IS NULL FROM latency ORDER BY line_no").fetchall()
    assert files == [("latency_table", 0, 7)]
    assert (
        stored
        == [
            (f"tcp:127.0.0.1:{port}", True, True),
            (f"select1:127.0.0.1:{port}", True, True),
            (f"tcp:127.0.0.1:{port}", True, True),
            (f"select1:127.0.0.1:{port}", True, True),
        ]
        + [(f"tcp:127.0.0.1:{server.port}", False, False)] * 3
    )
