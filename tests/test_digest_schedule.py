"""The scheduling files in contrib/: valid, and their command lines really work.

The systemd units go through ``systemd-analyze verify`` when it is installed;
both the cron line and the service's ExecStart are run, with the install paths
pointed at a temporary folder, against a temporary store and a webhook server on
127.0.0.1: the first run delivers yesterday's digest, the second delivers
nothing more.
"""

from __future__ import annotations

import configparser
import http.server
import json
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = ROOT / "contrib"
SERVICE = CONTRIB / "systemd" / "dropout-pipeline-digest.service"
TIMER = CONTRIB / "systemd" / "dropout-pipeline-digest.timer"
CRON = CONTRIB / "cron" / "dropout-pipeline-digest"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def cron_job(path: Path) -> tuple[dict[str, str], list[str], str, str]:
    """(variables, the five time fields, user, command) of a cron.d file with one job."""
    env, jobs = {}, []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Z_]+)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
            continue
        jobs.append(line.split(None, 6))
    assert len(jobs) == 1, jobs
    fields = jobs[0]
    return env, fields[:5], fields[5], fields[6]


def _check_cron_field(value: str, lo: int, hi: int) -> None:
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step:
            assert step.isdigit() and int(step) > 0
        if base == "*":
            continue
        bounds = [int(x) for x in base.split("-")]
        assert all(lo <= b <= hi for b in bounds), value


# --- static checks ------------------------------------------------------------------------------


def test_units_parse_and_run_ingest_then_digest():
    service = unit(SERVICE)
    assert service["Service"]["Type"] == "oneshot"
    cmd = shlex.split(service["Service"]["ExecStart"])
    assert cmd[:2] == ["/bin/sh", "-c"]
    script = cmd[2]
    assert re.search(r"pipeline ingest \S+.*&& pipeline digest --yesterday", script)
    assert "PASSWORD" not in SERVICE.read_text().replace("PIPELINE_SMTP_PASSWORD", "")
    timer = unit(TIMER)
    assert timer["Timer"]["OnCalendar"] == "*-*-* 06:15:00 UTC"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path):
    for f in (SERVICE, TIMER):
        shutil.copy(f, tmp_path / f.name)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # anything systemd did not like about our files (it may also mention unrelated system units)
    assert not [line for line in (proc.stdout + proc.stderr).splitlines() if "dropout-pipeline" in line]
    cal = subprocess.run(
        ["systemd-analyze", "calendar", unit(TIMER)["Timer"]["OnCalendar"]], capture_output=True, text=True, timeout=30
    )
    assert cal.returncode == 0 and "Next elapse" in cal.stdout


def test_cron_file_is_valid():
    env, fields, user, command = cron_job(CRON)
    for value, (lo, hi) in zip(fields, [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]):
        _check_cron_field(value, lo, hi)
    assert fields[2:] == ["*", "*", "*"]  # daily
    assert user == "dropout"
    assert "%" not in command  # cron turns % into newlines
    assert re.search(r"pipeline ingest \S+.*&& pipeline digest --yesterday", command)
    assert env["SHELL"] == "/bin/sh" and "PIPELINE_DB" in env
    assert "PASSWORD" not in CRON.read_text().replace("PIPELINE_SMTP_PASSWORD", "")


# --- the command lines, run -----------------------------------------------------------------------


@pytest.fixture
def install(tmp_path):
    """A fake install: logs dated yesterday, config, env file, `pipeline` on PATH, a webhook server."""
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    logs = tmp_path / "log" / "web-1"
    logs.mkdir(parents=True)
    (logs / "app.log").write_text(
        f"{yesterday} 10:00:00,123 INFO app: request ok\n"
        f"{yesterday} 10:00:05,456 ERROR app: (pymysql.err.OperationalError) "
        "(2013, 'Lost connection to MySQL server during query')\n"
        f"{yesterday} 10:00:06,456 ERROR app: (pymysql.err.OperationalError) (2006, 'MySQL server has gone away')\n"
        f"{yesterday} 10:05:00,000 INFO app: request ok\n"
    )
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pipeline.toml").write_text('[digest]\ntimezone = "UTC"\n')
    (etc / "digest.env").write_text(
        f"PIPELINE_DIGEST_WEBHOOK=http://127.0.0.1:{server.server_address[1]}/hook/secret\n"
    )
    (etc / "digest.env").chmod(0o600)
    lib = tmp_path / "lib"
    lib.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "pipeline"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pipeline.cli "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)

    paths = {
        "/var/lib/dropout-pipeline": str(lib),
        "/var/log/dropout": str(tmp_path / "log"),
        "/etc/dropout-pipeline": str(etc),
    }

    def localize(text: str) -> str:
        for old, new in paths.items():
            text = text.replace(old, new)
        return text

    base_env = {"HOME": str(tmp_path), "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT)}
    yield {
        "received": received,
        "localize": localize,
        "bin": bin_dir,
        "lib": lib,
        "etc": etc,
        "env": base_env,
        "day": yesterday.isoformat(),
    }
    server.shutdown()
    server.server_close()


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def _check_runs(install, run_once):
    first = run_once()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "webhook: delivered" in first.stdout
    assert len(install["received"]) == 1
    text = install["received"][0]["text"]
    assert re.match(rf"Connection drops digest {install['day']} \(UTC\): \d+ incidents?, \d+ drops?", text)
    second = run_once()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already delivered" in second.stdout
    assert len(install["received"]) == 1
    assert "secret" not in first.stdout + first.stderr + second.stdout + second.stderr


def test_systemd_execstart_runs(install):
    service = unit(SERVICE)["Service"]
    env = dict(install["env"])
    key, _, value = service["Environment"].partition("=")
    env[key] = install["localize"](value)
    env_file = install["localize"](service["EnvironmentFile"].lstrip("-"))
    env.update(_env_file(Path(env_file)))
    env["PATH"] = f"{install['bin']}:/usr/local/bin:/usr/bin:/bin"
    cmd = shlex.split(install["localize"](service["ExecStart"]))
    cwd = install["localize"](service["WorkingDirectory"])

    def run_once():
        return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)

    _check_runs(install, run_once)
    assert Path(env["PIPELINE_DB"]).parent == install["lib"]


def test_cron_line_runs(install):
    variables, _, _, command = cron_job(CRON)
    env = dict(install["env"])
    env.update({k: install["localize"](v) for k, v in variables.items() if k not in ("MAILTO",)})
    env["PATH"] = f"{install['bin']}:{variables['PATH']}"
    script = install["localize"](command)

    def run_once():
        return subprocess.run(
            [variables["SHELL"], "-c", script], env=env, cwd="/", capture_output=True, text=True, timeout=180
        )

    _check_runs(install, run_once)
