"""``pipeline dashboard``: the Streamlit app in ``dashboard/`` over a store."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click

from pipeline.commands.common import db_option, fail
from pipeline.store import ENV_DB, resolve_db_path


def app_path() -> Path:
    """Where ``dashboard/app.py`` is: the installed ``dashboard`` package, else the source tree."""
    candidates = []
    try:
        spec = importlib.util.find_spec("dashboard")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "app.py" for p in spec.submodule_search_locations]
    candidates.append(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("dashboard/app.py not found (reinstall the package: pip install -e .)")


def streamlit_command(db: Path, *, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.runOnSave",
        "false",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--",
        "--db",
        str(db),
    ]


@click.command("dashboard")
@db_option
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="TCP port.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 exposes the dashboard to the network.",
)
@click.option(
    "--token",
    envvar="PIPELINE_DASHBOARD_TOKEN",
    help="Ask every visitor for this token first (or $PIPELINE_DASHBOARD_TOKEN); links may carry it as ?token=... .",
)
def dashboard_command(db: str, port: int, host: str, token: str | None) -> None:
    """Browse incidents, evidence and data health in the browser (read-only).

    Starts Streamlit at http://HOST:PORT over the store.  The dashboard opens
    the store read-only for each query, so `pipeline ingest` can keep writing
    to it meanwhile.
    """
    db_path = resolve_db_path(db).resolve()
    try:
        cmd = streamlit_command(db_path, host=host, port=port)
    except FileNotFoundError as exc:
        fail(str(exc))
    if not db_path.exists():
        click.echo(f"note: no store at {db_path} yet; run `pipeline ingest DIR --db {db_path}`", err=True)
    if not _loopback(host):
        click.echo(
            f"warning: {host} exposes the dashboard (log lines, host names, advice) to the network"
            + ("; visitors must give the token" if token else " with no token: anyone who reaches the port can read it")
            + ". Put it behind a reverse proxy with authentication and TLS for anything beyond a private network.",
            err=True,
        )
    click.echo(f"dashboard for {db_path} at http://{host}:{port}  (Ctrl-C to stop)", err=True)
    env = dict(os.environ, **{ENV_DB: str(db_path)})
    if token:
        env["PIPELINE_DASHBOARD_TOKEN"] = token
    sys.stdout.flush()
    sys.stderr.flush()
    # become the server: signals (Ctrl-C, a service manager's SIGTERM) reach Streamlit itself
    # and no server is left running when this process is stopped
    os.execve(cmd[0], cmd, env)


def _loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only localhost is known to stay on this machine
        return False


COMMANDS = [dashboard_command]
