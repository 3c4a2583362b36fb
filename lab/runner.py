"""Runs one scenario end to end and records everything into a folder.

Server, proxy, probe and workload are started, the scenario's timeline is
played, truth windows are stamped with the lab's own clock at the moments the
faults are switched on and off, everything is stopped again (always), and the
folder gets ``truth.json``, ``scenario.json`` and ``pipeline.toml`` next to the
logs.  The result includes the counts of error signatures per file and whether
the scenario produced what it is meant to.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from lab import signatures
from lab.faults import ConnectionBurst
from lab.mariadb import APP_DB, APP_USER, BATCH_USER, MONITOR_USER, MariaDBServer
from lab.proxy import ChaosProxy
from lab.scenarios import RECORDED_FILES, Scenario
from lab.workload import LabLogging, Workload

PIPELINE_TOML = """\
# Written by the fault lab: which host each file comes from.
[defaults]
timezone = "UTC"
host = "app-1"

[[files]]
glob = "mariadb-error.log"
host = "db-1"

[[files]]
glob = "status.tsv"
host = "db-1"
"""

SETTLE_TIMEOUT_S = 30.0


def pipeline_toml(scenario: Scenario) -> str:
    """The recording's pipeline.toml: hosts, and the application's pool as it ran ([pool]),
    so a verdict can say which setting let the drops through."""
    pool = scenario.pool
    return PIPELINE_TOML + (
        "\n# How the lab's application ran (create_engine arguments and the driver's read timeout).\n"
        "[pool]\n"
        f"pool_size = {pool.pool_size}\n"
        f"max_overflow = {pool.max_overflow}\n"
        f"pool_timeout = {float(pool.pool_timeout)}\n"
        f"pool_recycle = {pool.pool_recycle}\n"
        f"pool_pre_ping = {'true' if pool.pool_pre_ping else 'false'}\n"
        f"read_timeout = {float(scenario.client_timeout)}\n"
    )


def utc_iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_utc() -> datetime:
    return datetime.now(UTC)


class ScenarioRun:
    def __init__(self, scenario: Scenario, out_dir: str | Path, echo=print, probe_interval: float = 1.0):
        self.s = scenario
        self.out = Path(out_dir)
        self.echo = echo
        self.probe_interval = probe_interval
        self.passwords = {u: secrets.token_urlsafe(12) for u in (APP_USER, MONITOR_USER, BATCH_USER)}
        self.server: MariaDBServer | None = None
        self.proxy: ChaosProxy | None = None
        self.workload: Workload | None = None
        self.burst: ConnectionBurst | None = None
        self.probe = None
        self.truth: list[dict] = []
        self.events: list[dict] = []
        self._open: dict[str, datetime] = {}

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        _exit_on_sigterm()
        self.out.mkdir(parents=True, exist_ok=True)
        for name in RECORDED_FILES:
            (self.out / name).unlink(missing_ok=True)
        logs = LabLogging(self.out, pool_debug=self.s.pool_debug)
        started = now_utc()
        probe_thread = probe_stop = None
        try:
            self.server = MariaDBServer(self.out / "mariadb-error.log", self.s.server)
            self.server.start()
            self.server.prepare_app(self.passwords[APP_USER], self.passwords[MONITOR_USER], self.passwords[BATCH_USER])
            host, port = self.server.host, self.server.port
            if self.s.via_proxy:
                self.proxy = ChaosProxy(host, port).start()
                host, port = self.proxy.address
            from pipeline.probe import probe_in_thread

            probe_url = f"mysql+pymysql://{MONITOR_USER}:{self.passwords[MONITOR_USER]}@{host}:{port}/{APP_DB}"
            self.probe, probe_thread, probe_stop = probe_in_thread(
                probe_url, self.out, interval=self.probe_interval, status_every=5.0, timeout=2.0
            )
            app_url = f"mysql+{self.s.driver}://{APP_USER}:{self.passwords[APP_USER]}@{host}:{port}/{APP_DB}"
            self.workload = Workload(
                app_url,
                self.s.driver,
                self.s.pool,
                self.s.groups,
                self.s.phases,
                engine_per_worker=self.s.engine_per_worker,
                timeout=self.s.client_timeout,
            ).start()
            self._timeline()
        finally:
            self._teardown(probe_thread, probe_stop)
            logs.close()
        finished = now_utc()
        for cause, start in self._open.items():  # a window never closed lasts to the end
            self.truth.append({"start": utc_iso(start), "end": utc_iso(finished), "cause": cause})
        self.truth.sort(key=lambda w: w["start"])
        (self.out / "truth.json").write_text(json.dumps(self.truth, indent=2) + "\n")
        settings = self.s.settings()
        settings.update(
            {
                "recorded_start": utc_iso(started),
                "recorded_end": utc_iso(finished),
                "events": self.events,
                "hosts": {"app": "app-1", "db": "db-1"},
                "mariadbd": self.server.mariadbd if self.server else None,
            }
        )
        (self.out / "scenario.json").write_text(json.dumps(settings, indent=2) + "\n")
        (self.out / "pipeline.toml").write_text(pipeline_toml(self.s))
        counts = signatures.count_folder(self.out)
        problems = check_expectations(self.s, counts) + check_files(self.s, self.out)
        return {
            "scenario": self.s.name,
            "out": str(self.out),
            "seconds": round((finished - started).total_seconds(), 1),
            "truth": self.truth,
            "counts": counts,
            "problems": problems,
        }

    def _timeline(self) -> None:
        t0 = time.monotonic()
        for step in self.s.steps:
            wait = t0 + step.at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            mode, _, cause = (step.truth or "").partition(":")
            if mode == "on":
                self._open[cause] = now_utc()
            at = now_utc()
            self._do(step.action, dict(step.args))
            self.events.append({"at": utc_iso(at), "action": step.action, "args": step.args})
            self.echo(f"  {utc_iso(at)}  {step.action} {step.args}")
            if mode == "off":
                self.workload.settle(time.monotonic(), timeout=SETTLE_TIMEOUT_S)
                start = self._open.pop(cause, at)
                self.truth.append({"start": utc_iso(start), "end": utc_iso(now_utc()), "cause": cause})
        wait = t0 + self.s.duration - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _do(self, action: str, args: dict) -> None:
        if action == "phase":
            self.workload.set_phase(args["name"])
        elif action == "idle_kill":
            self.proxy.set_idle_kill(args.get("seconds"), args.get("mode", "silent"))
        elif action == "latency":
            self.proxy.set_latency(args.get("ms", 0), args.get("jitter_ms", 0))
        elif action == "blackhole":
            self.proxy.set_blackhole(args["on"])
        elif action == "reset":
            self.proxy.reset_all()
        elif action == "burst":
            if args["on"]:
                self.burst = ConnectionBurst(
                    self.server.host, self.server.port, BATCH_USER, self.passwords[BATCH_USER]
                ).start()
            elif self.burst:
                self.burst.stop()
        elif action == "password":
            pw = secrets.token_urlsafe(12) if args["rotate"] else self.passwords[APP_USER]
            self.server.set_password(APP_USER, pw)
        elif action == "server_stop":
            self.server.stop(crash=bool(args.get("crash")))
        elif action == "server_start":
            self.server.start()
        else:
            raise ValueError(f"unknown lab action {action!r}")

    def _teardown(self, probe_thread, probe_stop) -> None:
        # The application first (it closes its pool politely), then the probe,
        # the server (while the proxy still holds any connections it dropped
        # silently), and the proxy last.
        if self.workload:
            try:
                self.workload.stop()
            except Exception:
                pass
        if probe_stop is not None:
            probe_stop.set()
            probe_thread.join(15)
        if self.burst:
            self.burst.stop()
        if self.server:
            try:
                if self.server.is_running():
                    self.server.wait_for_clients_to_leave()
                self.server.cleanup()
            except Exception:
                pass
        if self.proxy:
            self.proxy.stop()


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the server and proxy are always stopped."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):

        def _handler(signum, frame):
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _handler)


def check_expectations(scenario: Scenario, counts: dict) -> list[str]:
    """What the recording lacks: expected signatures, or (baseline) any client drop."""
    problems = []
    for fname, wanted in scenario.expect.items():
        got = counts.get(fname, {})
        for alternatives in wanted:
            if not any(got.get(a, 0) > 0 for a in alternatives.split("|")):
                problems.append(f"{fname}: no {alternatives}")
    if not scenario.steps:
        drops = signatures.client_drops(counts)
        errors = sum(counts.get("app.log", {}).values())
        if drops or errors:
            problems.append(f"app.log: {errors} errors in a fault-free scenario")
    return problems


def check_files(scenario: Scenario, folder: str | Path) -> list[str]:
    """Files the scenario promises but the folder lacks, and a pool log it must not have."""
    folder = Path(folder)
    problems = [f"{name}: missing" for name in scenario.recorded_files() if not (folder / name).is_file()]
    if not scenario.pool_debug and (folder / "sqlalchemy.log").exists():
        problems.append("sqlalchemy.log: written although pool_debug is off")
    return problems


def run_scenario(scenario: Scenario, out_dir: str | Path, echo=print) -> dict:
    return ScenarioRun(scenario, out_dir, echo=echo).run()
