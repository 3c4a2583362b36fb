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
``rtt_ms`` is a lost probe) or, with ``latency_format="jsonl"``, to
``latency.jsonl`` (``{"ts", "target", "rtt_ms"}``, a lost probe as
``"rtt_ms": null, "lost": true, "reason": "connection refused (HOST:PORT)"``).
Both forms are read by the ``latency_table`` ingest family; only the JSON one has
room for the reason (the CSV form takes a ``true``/``false`` lost flag at most).

Every ``status_every`` seconds, where it can log
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
import importlib
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

LATENCY_FILE = "latency.csv"
LATENCY_FILES = {"csv": LATENCY_FILE, "jsonl": "latency.jsonl"}
STATUS_FILE = "status.tsv"
LATENCY_HEADER = ["timestamp", "target", "rtt_ms"]

# driver name in the URL -> (module to import, package that provides it)
DRIVERS = {"pymysql": ("pymysql", "PyMySQL"), "mysqlconnector": ("mysql.connector", "mysql-connector-python")}

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
    """A probe that cannot start: a bad URL or setting, or a driver that is not installed."""


class Lost(Exception):
    """A probe that measured nothing; ``reason`` says why in one short line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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


def check_driver(driver: str) -> None:
    """Import the driver now, so that a missing one stops the probe with a hint instead of
    turning every login into a lost sample."""
    module, package = DRIVERS[driver]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if driver == "pymysql":  # a default dependency: the install is incomplete
            hint = f"pip install {package} (or reinstall: pip install -e .)"
        else:
            hint = f"pip install {package} (or pip install -e '.[lab]'), or use a mysql+pymysql:// URL"
        raise ProbeError(f"the MySQL driver {package} cannot be imported ({exc}): {hint}") from exc


# --- why a probe was lost ---------------------------------------------------------------------

MAX_REASON = 200
CANNOT_CONNECT = 2003
# bytes read at most from a server that may not speak the MySQL protocol
MAX_GREETING = 512


def _one_line(text: str) -> str:
    """Driver and server messages can span lines (mysql.connector's timeout text does)."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: PyMySQL keeps a socket error in ``original_exception``."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        original = getattr(current, "original_exception", None)
        current = original if isinstance(original, BaseException) else current.__cause__ or current.__context__
    return chain


def socket_reason(exc: OSError, label: str, timeout: float, connected: bool = False) -> str:
    if isinstance(exc, TimeoutError):
        if connected:  # TCP works: the far end (or a middlebox) stays silent
            return f"connected, but no reply within {timeout:g}s ({label})"
        return f"connect timed out after {timeout:g}s ({label})"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused ({label})"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({label})"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset ({label})"
    return f"{_one_line(exc.strerror or str(exc))} ({label})"


def driver_error(exc: BaseException) -> tuple[int, str] | None:
    """(code, message) of a MySQL error from either driver."""
    code = getattr(exc, "errno", None)
    message = getattr(exc, "msg", None)  # mysql.connector
    if isinstance(code, int) and isinstance(message, str):
        return code, message
    if len(exc.args) >= 2 and isinstance(exc.args[0], int) and isinstance(exc.args[1], str):  # PyMySQL
        return exc.args[0], exc.args[1]
    return None


def known_reason(exc: BaseException, label: str, timeout: float) -> str | None:
    """The reason when the error itself tells it: a socket error, or an error the server sent
    (codes 1000-1999: access denied, unknown database, too many connections ...)."""
    causes = _causes(exc)
    codes = [error[0] for error in map(driver_error, causes) if error]
    for cause in causes:
        if isinstance(cause, OSError):
            # 2003 is both drivers' "can't connect": the TCP connect itself failed
            return socket_reason(cause, label, timeout, connected=CANNOT_CONNECT not in codes)
    for cause in causes:
        error = driver_error(cause)
        if error and 1000 <= error[0] < 2000:
            return f"server error {error[0]}: {_one_line(error[1])}"
    return None


def _shown(data: bytes) -> str:
    """The start of what a non-MySQL server sent, quoted (its first line, escaped)."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r") or data
    return repr(first[:40].decode("latin-1"))


def greeting_problem(data: bytes, label: str) -> str | None:
    """None when ``data`` starts a MySQL/MariaDB handshake, else what is wrong with it."""
    if not data:
        return f"closed without a greeting ({label})"
    if len(data) >= 5 and data[3] == 0 and data[4] == 10:
        return None
    if len(data) >= 7 and data[3] == 0 and data[4] == 0xFF:  # refused before the handshake
        code = int.from_bytes(data[5:7], "little")
        return f"server error {code}: {_one_line(data[7:].decode('utf-8', 'replace'))}"
    return f"not a MySQL server: it sent {_shown(data)} ({label})"


def _wanted(data: bytes) -> int:
    """Bytes needed to judge the first packet: its header and first byte, or a whole error packet."""
    if len(data) < 5 or data[3] != 0 or data[4] != 0xFF:
        return 5
    return min(4 + int.from_bytes(data[:3], "little"), MAX_GREETING)


def read_greeting(sock: socket.socket, deadline: float) -> bytes:
    """The server's first bytes, enough to tell a MySQL handshake; b"" if it hung up."""
    data = b""
    while len(data) < _wanted(data):
        sock.settimeout(max(0.01, deadline - time.perf_counter()))
        try:
            chunk = sock.recv(MAX_GREETING - len(data))
        except TimeoutError:
            if data:  # some bytes, then silence: judge what came
                break
            raise
        if not chunk:
            break
        data += chunk
    return data


def tcp_probe(host: str, port: int, timeout: float) -> float:
    """Milliseconds to connect and receive a MySQL greeting; raises :class:`Lost` with the reason."""
    label = f"{host}:{port}"
    t0 = time.perf_counter()
    connected = False
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            connected = True
            data = read_greeting(s, t0 + timeout)
    except OSError as exc:
        raise Lost(socket_reason(exc, label, timeout, connected)) from exc
    problem = greeting_problem(data, label)
    if problem:
        raise Lost(problem)
    return (time.perf_counter() - t0) * 1000.0


def login_reason(exc: BaseException, target: Target, timeout: float) -> str:
    """Why a connect-and-login failed.  When the driver's error does not say (PyMySQL reports a
    non-MySQL server as a packet sequence error), a second look at the greeting names it."""
    reason = known_reason(exc, target.label, timeout)
    if reason is None:
        try:
            tcp_probe(target.host, target.port, timeout)
        except Lost as lost:
            reason = lost.reason
    if reason is None:
        error = driver_error(exc)
        reason = f"login failed: {_one_line(error[1] if error else str(exc) or type(exc).__name__)}"
    return _without_password(reason, target)


def query_reason(exc: BaseException, target: Target, timeout: float) -> str:
    reason = known_reason(exc, target.label, timeout)
    if reason is None:
        error = driver_error(exc)
        text = _one_line(error[1] if error else str(exc) or type(exc).__name__)
        reason = f"SELECT 1 failed: {text} ({target.label})"
    return _without_password(reason, target)


def _without_password(reason: str, target: Target) -> str:
    """Reasons are printed and written; a driver message must not carry the password there."""
    return reason.replace(target.password, "***") if target.password else reason


def lost_summary(reasons: Counter[str], probes: int) -> str:
    """``12 of 12 probes lost: connection refused (127.0.0.1:1)``, several reasons most common first."""
    lost = sum(reasons.values())
    ranked = reasons.most_common()
    if len(ranked) == 1:
        why = ranked[0][0]
    else:
        why = "; ".join(f"{count} {reason}" for reason, count in ranked)
    return f"{lost} of {probes} probes lost: {why}"


# --- the driver ---------------------------------------------------------------------------------


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


class LatencySink(Protocol):
    path: Path

    def write(self, ts: str, target: str, rtt_ms: float | None, reason: str | None = None) -> None: ...

    def close(self) -> None: ...


class LatencyWriter:
    """``latency.csv``: ``timestamp,target,rtt_ms``; the reason of a lost probe is not kept."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        self._fh = path.open("a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._csv.writerow(LATENCY_HEADER)

    def write(self, ts: str, target: str, rtt_ms: float | None, reason: str | None = None) -> None:
        self._csv.writerow([ts, target, "" if rtt_ms is None else f"{rtt_ms:.3f}"])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class JsonLatencyWriter:
    """``latency.jsonl``: one object a line, a lost probe with ``"lost": true`` and its ``reason``."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, ts: str, target: str, rtt_ms: float | None, reason: str | None = None) -> None:
        row: dict[str, Any] = {"ts": ts, "target": target, "rtt_ms": None if rtt_ms is None else round(rtt_ms, 3)}
        if rtt_ms is None:
            # last: the ingest family takes the first ts/target/rtt_ms keys of a line, never server text
            row.update(lost=True, reason=reason or "unknown")
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def latency_writer(out_dir: Path, latency_format: str) -> LatencySink:
    if latency_format not in LATENCY_FILES:
        raise ProbeError(f"latency format must be one of {', '.join(LATENCY_FILES)}, not {latency_format!r}")
    path = out_dir / LATENCY_FILES[latency_format]
    return JsonLatencyWriter(path) if latency_format == "jsonl" else LatencyWriter(path)


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
        latency_format: str = "csv",
    ):
        self.target = parse_url(url)
        self.out_dir = Path(out_dir)
        self.interval = float(interval)
        if self.interval <= 0:
            raise ProbeError("interval must be positive")
        self.status_every = float(status_every) if status_every else max(self.interval, 5.0)
        self.timeout = float(timeout) if timeout else min(max(self.interval, 1.0), 5.0)
        self.all_status = all_status
        self.can_login = self.target.user is not None
        if self.can_login:
            check_driver(self.target.driver)
        self.latency = latency_writer(self.out_dir, latency_format)
        self.status_path = self.out_dir / STATUS_FILE
        self._conn: Any = None  # DB-API connection of select1 and the status queries
        self._last_status = -1e18
        self.samples = 0
        self.lost = 0
        self.measured = 0
        self.lost_reasons: Counter[str] = Counter()
        self.status_snapshots = 0

    @property
    def probes(self) -> int:
        """Rows written: one per probe (``tcp`` and, with credentials, ``select1``) and round."""
        return self.measured + self.lost

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

    def connect_probe(self) -> float:
        """Milliseconds to connect and log in; raises :class:`Lost` with the reason."""
        t0 = time.perf_counter()
        try:
            conn = _connect(self.target, self.timeout)
        except Exception as exc:
            raise Lost(login_reason(exc, self.target, self.timeout)) from exc
        elapsed = (time.perf_counter() - t0) * 1000.0
        try:
            conn.close()
        except Exception:
            pass
        return elapsed

    def select1(self) -> float:
        """Milliseconds of ``SELECT 1`` on the kept-open session; raises :class:`Lost` with the reason."""
        try:
            self._session()
        except Exception as exc:
            self._drop_session()
            raise Lost(login_reason(exc, self.target, self.timeout)) from exc
        t0 = time.perf_counter()
        try:
            self._query("SELECT 1")
        except Exception as exc:
            self._drop_session()
            raise Lost(query_reason(exc, self.target, self.timeout)) from exc
        return (time.perf_counter() - t0) * 1000.0

    def status_rows(self) -> list[tuple[str, str]]:
        status = self._query("SHOW GLOBAL STATUS")
        names = ",".join(f"'{n}'" for n in VARIABLE_NAMES)
        variables = self._query(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")
        rows = [(str(n), str(v)) for n, v in status if self.all_status or _wanted_status(str(n))]
        rows += [(str(n), str(v)) for n, v in variables]
        return rows

    def _tcp(self) -> float:
        t = self.target
        return self.connect_probe() if self.can_login else tcp_probe(t.host, t.port, self.timeout)

    def _measure(self, kind: str, probe: Callable[[], float]) -> float | None:
        """Run one probe and write its row: the round trip, or nothing and the reason."""
        ts = utc_stamp()
        try:
            rtt: float | None = probe()
            reason = None
        except Lost as lost:
            rtt, reason = None, lost.reason
        self.latency.write(ts, f"{kind}:{self.target.label}", rtt, reason)
        if reason is None:
            self.measured += 1
        else:
            self.lost += 1
            self.lost_reasons[reason] += 1
        return rtt

    def _snapshot_status(self) -> int | None:
        """Append a status snapshot when one is due; the number of rows written."""
        now = time.monotonic()
        if now - self._last_status < self.status_every - 1e-6:
            return None
        ts = utc_stamp()
        try:
            rows = self.status_rows()
        except Exception:
            self._drop_session()
            return None
        with self.status_path.open("a", encoding="utf-8") as fh:
            fh.write(format_status(ts, rows))
        self._last_status = now
        self.status_snapshots += 1
        return len(rows)

    def sample(self) -> dict[str, float | None]:
        """One round: TCP, SELECT 1 and (when due) a status snapshot."""
        out: dict[str, float | None] = {"tcp": self._measure("tcp", self._tcp)}
        if self.can_login:
            out["select1"] = self._measure("select1", self.select1)
            if out["select1"] is not None:
                rows = self._snapshot_status()
                if rows is not None:
                    out["status"] = rows
        self.samples += 1
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
