"""A private MariaDB server for the lab: own datadir, port, socket and error log.

The server comes from Debian's ``mariadb-server`` package.  Each instance is
initialised into a temporary folder with ``mariadb-install-db`` (one template
per process, copied for every instance, because initialisation takes seconds),
started on a free loopback port with ``TZ=UTC`` so its error log's local time
is UTC, and always stopped again (``stop()``, the context manager, or atexit).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

MARIADBD_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/libexec/mariadbd")
INSTALL_DB_CANDIDATES = ("mariadb-install-db", "mysql_install_db")

APP_DB = "lab"
APP_USER = "app"
MONITOR_USER = "monitor"
BATCH_USER = "batch"


class MariaDBMissing(RuntimeError):
    """mariadbd (Debian package ``mariadb-server``) is not installed."""


def find_mariadbd() -> str | None:
    for cand in MARIADBD_CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("mariadbd") or shutil.which("mysqld")


def find_install_db() -> str | None:
    for name in INSTALL_DB_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_mariadb() -> tuple[str, str]:
    mariadbd, install = find_mariadbd(), find_install_db()
    if not mariadbd or not install:
        raise MariaDBMissing("mariadbd not installed: apt-get install mariadb-server")
    return mariadbd, install


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Options shared by initialisation and every start: small, fast, quiet InnoDB.
BASE_OPTIONS = [
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--skip-log-bin",
    "--character-set-server=utf8mb4",
]

_template_lock = threading.Lock()
_template_dir: Path | None = None
_running: set[MariaDBServer] = set()


def _template() -> Path:
    """An initialised datadir, made once per process and copied for each server."""
    global _template_dir
    with _template_lock:
        if _template_dir is not None and _template_dir.exists():
            return _template_dir
        _mariadbd, install = require_mariadb()
        root = Path(tempfile.mkdtemp(prefix="lab-mariadb-template-"))
        atexit.register(shutil.rmtree, root, True)
        datadir = root / "data"
        tmpdir = root / "tmp"
        tmpdir.mkdir()
        cmd = [
            install,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--tmpdir={tmpdir}",
            *_user_option(),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *BASE_OPTIONS,
        ]
        for _attempt in range(2):
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(), timeout=180)
            if proc.returncode == 0:
                break
            shutil.rmtree(datadir, ignore_errors=True)
        if proc.returncode != 0:
            raise RuntimeError("mariadb-install-db failed:\n" + proc.stdout.decode(errors="replace")[-2000:])
        _drop_hostname_accounts(datadir, root)
        _template_dir = datadir
        return datadir


def _drop_hostname_accounts(datadir: Path, root: Path) -> None:
    """Remove the accounts mariadb-install-db made for this machine's host name.

    Under --skip-name-resolve the server warns about each of them at every
    start ("'user' entry 'root@<hostname>' ignored"), noise no real server has.
    """
    import pymysql

    mariadbd, _ = require_mariadb()
    sock = root / "init.sock"
    proc = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            *_user_option(),
            f"--datadir={datadir}",
            f"--tmpdir={root / 'tmp'}",
            f"--socket={sock}",
            "--skip-networking",
            f"--log-error={root / 'init.log'}",
            f"--pid-file={root / 'init.pid'}",
            *BASE_OPTIONS,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = pymysql.connect(unix_socket=str(sock), user="root", password="", autocommit=True)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    return
                time.sleep(0.2)
        local = "('localhost', '127.0.0.1', '::1')"
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM mysql.global_priv WHERE Host NOT IN {local}")
            cur.execute(f"DELETE FROM mysql.proxies_priv WHERE Host NOT IN {local}")
            cur.execute("FLUSH PRIVILEGES")
        conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _user_option() -> list[str]:
    """mariadbd refuses to run as root unless told to; as anyone else it runs as that user."""
    return ["--user=root"] if os.geteuid() == 0 else []


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["TZ"] = "UTC"
    return env


class MariaDBServer:
    """One private mariadbd.

    ``options`` are extra server options (``{"wait_timeout": 5}`` becomes
    ``--wait-timeout=5``).  ``error_log`` is where the server writes its error
    log (appended across restarts).
    """

    def __init__(self, error_log: str | Path, options: dict | None = None, workdir: str | Path | None = None):
        self.mariadbd, _ = require_mariadb()
        self.error_log = Path(error_log).resolve()
        self.options = dict(options or {})
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="lab-mariadb-"))
        self.datadir = self.workdir / "data"
        self.tmpdir = self.workdir / "tmp"
        self.socket = str(self.workdir / "mariadb.sock")
        self.pid_file = str(self.workdir / "mariadb.pid")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    # ----------------------------------------------------------------- lifecycle
    def _command(self) -> list[str]:
        cmd = [
            self.mariadbd,
            "--no-defaults",
            *_user_option(),
            f"--datadir={self.datadir}",
            f"--tmpdir={self.tmpdir}",
            f"--socket={self.socket}",
            f"--pid-file={self.pid_file}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--log-error={self.error_log}",
            "--log-warnings=4",
            "--skip-name-resolve",
            "--skip-networking=0",
            *BASE_OPTIONS,
        ]
        for key, value in self.options.items():
            cmd.append(f"--{key.replace('_', '-')}={value}")
        return cmd

    def start(self, timeout: float = 60.0) -> MariaDBServer:
        if not self.datadir.exists():
            shutil.copytree(_template(), self.datadir, symlinks=True)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.error_log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self._command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
            start_new_session=True,
        )
        _running.add(self)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}; see {self.error_log}")
            try:
                conn = self.admin()
                conn.close()
                return
            except Exception as exc:  # not up yet
                last_exc = exc
                time.sleep(0.2)
        raise TimeoutError(f"mariadbd not ready after {timeout}s: {last_exc}")

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60.0, crash: bool = False) -> None:
        """Normal shutdown (SIGTERM), or ``crash=True`` for SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        _running.discard(self)

    def restart(self, down_seconds: float = 0.0, crash: bool = False) -> None:
        self.stop(crash=crash)
        if down_seconds:
            time.sleep(down_seconds)
        self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ access
    def admin(self):
        """A root connection over the unix socket (PyMySQL)."""
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", password="", autocommit=True, connect_timeout=5)

    def execute(self, *statements: str) -> list:
        conn = self.admin()
        try:
            out = []
            with conn.cursor() as cur:
                for stmt in statements:
                    cur.execute(stmt)
                    out.append(cur.fetchall())
            return out
        finally:
            conn.close()

    def wait_for_clients_to_leave(self, timeout: float = 3.0) -> int:
        """Give clients that just said goodbye time to be gone; returns who is left."""
        deadline = time.monotonic() + timeout
        left = -1
        while time.monotonic() < deadline:
            try:
                rows = self.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")[0]
            except Exception:
                return -1
            left = int(rows[0][1]) - 1  # not counting this session
            if left <= 0:
                break
            time.sleep(0.2)
        return left

    def set_global(self, **variables) -> None:
        self.execute(*(f"SET GLOBAL {k} = {v!r}" for k, v in variables.items()))

    def create_user(self, user: str, password: str, grant: str = "ALL PRIVILEGES", on: str = f"{APP_DB}.*") -> None:
        self.execute(
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'",
            f"ALTER USER '{user}'@'%' IDENTIFIED BY '{password}'",
            f"GRANT {grant} ON {on} TO '{user}'@'%'",
        )

    def set_password(self, user: str, password: str) -> None:
        self.execute(f"ALTER USER '{user}'@'%' IDENTIFIED BY '{password}'")

    def prepare_app(self, app_password: str, monitor_password: str, batch_password: str) -> None:
        """The application's database, its users, and a table to work on."""
        self.execute(
            f"CREATE DATABASE IF NOT EXISTS {APP_DB}",
            f"CREATE TABLE IF NOT EXISTS {APP_DB}.orders ("
            " id BIGINT AUTO_INCREMENT PRIMARY KEY,"
            " worker VARCHAR(32) NOT NULL,"
            " amount DECIMAL(10,2) NOT NULL,"
            " created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
            ") ENGINE=InnoDB",
        )
        self.create_user(APP_USER, app_password)
        self.create_user(MONITOR_USER, monitor_password, grant="SELECT", on=f"{APP_DB}.*")
        self.create_user(BATCH_USER, batch_password, grant="SELECT", on=f"{APP_DB}.*")


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        try:
            server.stop(timeout=20)
        except Exception:
            pass
