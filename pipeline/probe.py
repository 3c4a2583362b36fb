"""``pipeline probe``: sample a MySQL/MariaDB server's latency and connection metrics.

Every ``interval`` seconds the probe measures

- ``tcp:HOST:PORT``: the time to open a connection.  With credentials this is
  a full connect and login, closed politely with COM_QUIT (a bare TCP connect
  that hangs up before logging in is itself logged as an aborted connection by
  MariaDB at ``log_warnings>=4``); without credentials, TCP connect plus the
  server's greeting.  A server that accepts but never answers, or a
  blackholed path, counts as lost;
- ``select1:HOST:PORT``: the round trip of ``SELECT 1`` on a kept-open session
  (reconnected after a failure; a failed or timed-out query counts as lost);

and writes them to ``latency.csv`` (``timestamp,target,rtt_ms``; an empty
``rtt_ms`` is a lost probe).  Every ``status_every`` seconds, where it can log
in, it appends a snapshot of ``SHOW GLOBAL STATUS`` (connection counters) and
selected ``SHOW GLOBAL VARIABLES`` to ``status.tsv`` in ``mysql -B`` form::

    # 2026-11-24T23:50:00.000000Z
    Variable_name<TAB>Value
    Threads_connected<TAB>4
    ...
    <blank line>

Both files are appended to and read by ``pipeline ingest``.  The password in
the URL is never printed or written.
"""

from __future__ import annotations

import csv
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LATENCY_FILE = "latency.csv"
STATUS_FILE = "status.tsv"
LATENCY_HEADER = ["timestamp", "target", "rtt_ms"]

# SHOW GLOBAL STATUS rows kept (exact names or prefixes ending in "*").
STATUS_NAMES = (
    "Aborted_clients",
    "Aborted_connects",
    "Aborted_connects_preauth",
    "Connection_errors_*",
    "Connections",
    "Max_used_connections",
    "Threads_cached",
    "Threads_connected",
    "Threads_created",
    "Threads_running",
    "Uptime",
    "Questions",
)
VARIABLE_NAMES = (
    "max_connections",
    "max_user_connections",
    "extra_max_connections",
    "wait_timeout",
    "interactive_timeout",
    "net_read_timeout",
    "net_write_timeout",
    "connect_timeout",
    "max_allowed_packet",
    "thread_handling",
)


class ProbeError(ValueError):
    pass


def utc_stamp(when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Target:
    driver: str  # "pymysql" or "mysqlconnector"
    host: str
    port: int
    user: str | None
    password: str | None
    database: str | None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"

    def redacted(self) -> str:
        auth = f"{self.user}:***@" if self.user else ""
        db = f"/{self.database}" if self.database else ""
        return f"mysql+{self.driver}://{auth}{self.label}{db}"


def parse_url(url: str) -> Target:
    """A SQLAlchemy-style URL (``mysql+pymysql://user:pass@host:port/db``) or ``host:port``."""
    if "://" not in url:
        host, _, port = url.rpartition(":")
        if not host:
            host, port = url, "3306"
        try:
            return Target("pymysql", host, int(port), None, None, None)
        except ValueError as exc:
            raise ProbeError(f"not a URL or host:port: {url!r}") from exc
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    dialect, _, driver = scheme.partition("+")
    if dialect not in ("mysql", "mariadb", "tcp"):
        raise ProbeError(f"only MySQL/MariaDB URLs can be probed, not {dialect!r}")
    driver = {"": "pymysql", "mysqldb": "pymysql", "mariadbconnector": "pymysql"}.get(driver, driver)
    if driver not in ("pymysql", "mysqlconnector"):
        driver = "pymysql"
    try:
        port_number = parts.port or 3306
    except ValueError as exc:
        raise ProbeError("bad port in URL") from exc
    database = parts.path.lstrip("/") or None
    return Target(
        driver=driver,
        host=parts.hostname or "127.0.0.1",
        port=port_number,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database.split("?")[0] if database else None,
    )


def tcp_probe(host: str, port: int, timeout: float) -> float | None:
    """Milliseconds to connect and receive the server's first bytes; None if lost."""
    t0 = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(max(0.05, timeout - (time.perf_counter() - t0)))
            if not s.recv(1):
                return None
            return (time.perf_counter() - t0) * 1000.0
    except OSError:
        return None


def _connect(target: Target, timeout: float) -> Any:
    """A DB-API connection (pymysql or mysql.connector, neither typed)."""
    if target.driver == "mysqlconnector":
        import mysql.connector

        return mysql.connector.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password or "",
            database=target.database,
            connection_timeout=max(1, round(timeout)),
            autocommit=True,
            use_pure=True,
        )
    import pymysql

    return pymysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password or "",
        database=target.database,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        autocommit=True,
    )


def _wanted_status(name: str) -> bool:
    return any((pat.endswith("*") and name.startswith(pat[:-1])) or name == pat for pat in STATUS_NAMES)


class LatencyWriter:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        self._fh = path.open("a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._csv.writerow(LATENCY_HEADER)

    def write(self, ts: str, target: str, rtt_ms: float | None) -> None:
        self._csv.writerow([ts, target, "" if rtt_ms is None else f"{rtt_ms:.3f}"])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def format_status(ts: str, rows: list[tuple[str, str]]) -> str:
    lines = [f"# {ts}", "Variable_name\tValue"]
    lines += [f"{name}\t{value}" for name, value in rows]
    return "\n".join(lines) + "\n\n"


class Probe:
    """Samples one target; ``run()`` loops, ``sample()`` takes one round."""

    def __init__(
        self,
        url: str,
        out_dir: str | Path,
        interval: float = 5.0,
        status_every: float | None = None,
        timeout: float | None = None,
        all_status: bool = False,
    ):
        self.target = parse_url(url)
        self.out_dir = Path(out_dir)
        self.interval = float(interval)
        if self.interval <= 0:
            raise ProbeError("interval must be positive")
        self.status_every = float(status_every) if status_every else max(self.interval, 5.0)
        self.timeout = float(timeout) if timeout else min(max(self.interval, 1.0), 5.0)
        self.all_status = all_status
        self.latency = LatencyWriter(self.out_dir / LATENCY_FILE)
        self.status_path = self.out_dir / STATUS_FILE
        self._conn: Any = None  # DB-API connection of select1 and the status queries
        self._last_status = -1e18
        self.samples = 0
        self.lost = 0
        self.status_snapshots = 0
        self.can_login = self.target.user is not None

    # ---------------------------------------------------------------- pieces
    def _session(self) -> Any:
        if self._conn is None:
            self._conn = _connect(self.target, self.timeout)
        return self._conn

    def _drop_session(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self._session()
        cur = conn.cursor()
        try:
            cur.execute(sql)
            return list(cur.fetchall())
        finally:
            cur.close()

    def connect_probe(self) -> float | None:
        """Milliseconds to connect and log in; None if it failed or timed out."""
        t0 = time.perf_counter()
        try:
            conn = _connect(self.target, self.timeout)
        except Exception:
            return None
        elapsed = (time.perf_counter() - t0) * 1000.0
        try:
            conn.close()
        except Exception:
            pass
        return elapsed

    def select1(self) -> float | None:
        try:
            self._session()
        except Exception:
            self._drop_session()
            return None
        t0 = time.perf_counter()
        try:
            self._query("SELECT 1")
        except Exception:
            self._drop_session()
            return None
        return (time.perf_counter() - t0) * 1000.0

    def status_rows(self) -> list[tuple[str, str]]:
        status = self._query("SHOW GLOBAL STATUS")
        names = ",".join(f"'{n}'" for n in VARIABLE_NAMES)
        variables = self._query(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")
        rows = [(str(n), str(v)) for n, v in status if self.all_status or _wanted_status(str(n))]
        rows += [(str(n), str(v)) for n, v in variables]
        return rows

    def sample(self) -> dict[str, float | None]:
        """One round: TCP, SELECT 1 and (when due) a status snapshot."""
        t = self.target
        out: dict[str, float | None] = {}
        ts = utc_stamp()
        rtt = self.connect_probe() if self.can_login else tcp_probe(t.host, t.port, self.timeout)
        self.latency.write(ts, f"tcp:{t.label}", rtt)
        out["tcp"] = rtt
        if self.can_login:
            ts = utc_stamp()
            rtt = self.select1()
            self.latency.write(ts, f"select1:{t.label}", rtt)
            out["select1"] = rtt
            now = time.monotonic()
            if rtt is not None and now - self._last_status >= self.status_every - 1e-6:
                ts = utc_stamp()
                try:
                    rows = self.status_rows()
                except Exception:
                    self._drop_session()
                else:
                    with self.status_path.open("a", encoding="utf-8") as fh:
                        fh.write(format_status(ts, rows))
                    self._last_status = now
                    self.status_snapshots += 1
                    out["status"] = len(rows)
        self.samples += 1
        self.lost += sum(1 for k in ("tcp", "select1") if k in out and out[k] is None)
        return out

    def run(self, duration: float | None = None, count: int | None = None, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        start = time.monotonic()
        next_at = start
        n = 0
        try:
            while not stop.is_set():
                if count is not None and n >= count:
                    break
                if duration is not None and time.monotonic() - start >= duration:
                    break
                self.sample()
                n += 1
                next_at += self.interval
                now = time.monotonic()
                if next_at < now:  # a slow round: keep the cadence, skip the missed ticks
                    next_at = now + (self.interval - (now - next_at) % self.interval)
                if count is not None and n >= count:
                    break
                if duration is not None and next_at - start > duration:
                    break
                stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            self.close()

    def close(self) -> None:
        self._drop_session()
        self.latency.close()


def probe_in_thread(url: str, out_dir: str | Path, **kwargs: Any) -> tuple[Probe, threading.Thread, threading.Event]:
    """Start a probe in a daemon thread; set the returned event to stop it."""
    probe = Probe(url, out_dir, **kwargs)
    stop = threading.Event()
    thread = threading.Thread(target=probe.run, kwargs={"stop": stop}, name="probe", daemon=True)
    thread.start()
    return probe, thread, stop
