"""The lab's scenarios: settings, application behaviour and a timeline of faults.

A timeline step is ``Step(at, action, args, truth)``: at ``at`` seconds after
the workload starts the runner performs ``action``.  ``truth="on:CAUSE"`` opens
a truth window at that moment; ``truth="off:CAUSE"`` closes it once the action
is done and every active worker has finished a job started afterwards (errors
from connections the fault already broke surface until then).

Every fault has quiet, fault-free time before and after it.

``SCENARIOS`` are the short ones (at most a few minutes), recorded into
``sample_logs/``.  ``REALTIME_SCENARIOS`` play faults at the scale real
services see them (idle limits of minutes, isolated failures spread over a
quiet night) and take half an hour or more each; they are recorded into
``recordings/realtime/`` and run only by name (``python -m lab run NAME``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.workload import GroupPhase, PoolSettings

# Every file a recording holds; ``sqlalchemy.log`` only with ``pool_debug``.
RECORDED_FILES = (
    "app.log",
    "app.jsonl",
    "sqlalchemy.log",
    "mariadb-error.log",
    "latency.csv",
    "status.tsv",
    "pipeline.toml",
    "truth.json",
    "scenario.json",
)


@dataclass(frozen=True)
class Step:
    at: float
    action: str
    args: dict = field(default_factory=dict)
    truth: str | None = None


@dataclass
class Scenario:
    name: str
    summary: str
    duration: float
    driver: str  # pymysql | mysqlconnector
    pool: PoolSettings
    groups: dict[str, int]
    phases: dict[str, dict[str, GroupPhase]]
    steps: list[Step] = field(default_factory=list)
    server: dict = field(default_factory=dict)  # mariadbd options
    via_proxy: bool = True
    engine_per_worker: bool = False
    client_timeout: float = 5.0  # driver connect/read/write timeout
    expect: dict[str, list[str]] = field(default_factory=dict)  # file -> signatures that must appear
    # SQLAlchemy's pool DEBUG log (sqlalchemy.log).  False: no sqlalchemy.log at
    # all, as in a tutorial-style service that writes only its own listener lines.
    pool_debug: bool = True

    def recorded_files(self) -> tuple[str, ...]:
        """The files a recording of this scenario holds."""
        return tuple(f for f in RECORDED_FILES if self.pool_debug or f != "sqlalchemy.log")

    def settings(self) -> dict:
        return {
            "name": self.name,
            "summary": self.summary,
            "duration_s": self.duration,
            "driver": self.driver,
            "via_proxy": self.via_proxy,
            "engine_per_worker": self.engine_per_worker,
            "client_timeout_s": self.client_timeout,
            "pool_debug": self.pool_debug,
            "pool": self.pool.as_dict(),
            "workers": self.groups,
            "phases": {
                p: {g: {"gap_s": list(s.gap), "hold_s": list(s.hold), "active": s.active} for g, s in gs.items()}
                for p, gs in self.phases.items()
            },
            "server_options": self.server,
            "timeline": [{"at_s": s.at, "action": s.action, "args": s.args, "truth": s.truth} for s in self.steps],
        }


def _web(gap=(0.3, 2.5), hold=(0.0, 0.05)) -> GroupPhase:
    return GroupPhase(gap=gap, hold=hold)


SCENARIOS: dict[str, Scenario] = {}
REALTIME_SCENARIOS: dict[str, Scenario] = {}


def _add(s: Scenario, registry: dict[str, Scenario] = SCENARIOS) -> Scenario:
    assert s.name not in SCENARIOS and s.name not in REALTIME_SCENARIOS, s.name
    registry[s.name] = s
    return s


_add(
    Scenario(
        name="baseline",
        summary="No fault: a pooled web service through the proxy. Must produce no client drop errors.",
        duration=60,
        driver="pymysql",
        pool=PoolSettings(pool_size=5, max_overflow=5, pool_timeout=10),
        groups={"web": 4},
        phases={"normal": {"web": _web()}},
        expect={},
    )
)

_add(
    Scenario(
        name="server_wait_timeout",
        summary=(
            "Server wait_timeout=6 s kills idle pooled connections: two of four workers (own engine, "
            "pool_size=1) go quiet for 4-12 s between jobs during the window; after more than 6 s the next "
            "statement on the killed connection fails, below it succeeds. The fast workers (0.5-2.5 s) "
            "never reach the limit."
        ),
        duration=60,
        driver="pymysql",
        pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=10),
        groups={"fast": 2, "slow": 2},
        phases={
            "normal": {"fast": _web((0.5, 2.5)), "slow": _web((1.0, 3.0))},
            "quiet": {"fast": _web((0.5, 2.5)), "slow": _web((4.0, 12.0))},
        },
        steps=[
            Step(10, "phase", {"name": "quiet"}, truth="on:idle_timeout"),
            Step(44, "phase", {"name": "normal"}, truth="off:idle_timeout"),
        ],
        server={"wait_timeout": 6},
        engine_per_worker=True,
        expect={
            "app.log": ["2013 lost connection|2006 server gone away"],
            "mariadb-error.log": ["aborted: timeout reading"],
        },
    )
)

_add(
    Scenario(
        name="middlebox_idle_kill",
        summary=(
            "A firewall in the path (the proxy) silently forgets connections idle for more than 5 s "
            "during the window; server wait_timeout stays at 8 h, so the server logs nothing. Slow "
            "workers (3-11 s gaps) hang until their 4 s read timeout when they idled past 5 s; fast ones "
            "(0.5-2.5 s) are fine."
        ),
        duration=90,
        driver="pymysql",
        pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=10),
        groups={"fast": 2, "slow": 2},
        phases={"normal": {"fast": _web((0.5, 2.5)), "slow": _web((3.0, 11.0))}},
        steps=[
            Step(20, "idle_kill", {"seconds": 5, "mode": "silent"}, truth="on:idle_timeout"),
            Step(60, "idle_kill", {"seconds": None}, truth="off:idle_timeout"),
        ],
        engine_per_worker=True,
        client_timeout=4,
        expect={"app.log": ["2013 lost connection"]},
    )
)

_add(
    Scenario(
        name="network",
        summary=(
            "Network trouble between app and server: 20 s of latency spikes (1000 +/- 800 ms each way) "
            "with a 3 s client read timeout, then quiet, then a 12 s blackhole (nothing forwarded)."
        ),
        duration=105,
        driver="pymysql",
        pool=PoolSettings(pool_size=4, max_overflow=4, pool_timeout=10),
        groups={"web": 4},
        phases={"normal": {"web": _web((0.3, 2.0))}},
        steps=[
            Step(20, "latency", {"ms": 1000, "jitter_ms": 800}, truth="on:network"),
            Step(40, "latency", {"ms": 0, "jitter_ms": 0}, truth="off:network"),
            Step(65, "blackhole", {"on": True}, truth="on:network"),
            Step(77, "blackhole", {"on": False}, truth="off:network"),
        ],
        client_timeout=3,
        expect={"app.log": ["2013 lost connection"], "latency.csv": ["select1 lost"]},
    )
)

_add(
    Scenario(
        name="max_connections",
        summary=(
            "A batch client grabs every free connection slot (server max_connections=16) for 30 s; "
            "the web service's overflow connections are refused with 1040."
        ),
        duration=90,
        driver="pymysql",
        pool=PoolSettings(pool_size=2, max_overflow=6, pool_timeout=10),
        groups={"web": 6},
        phases={"normal": {"web": _web((0.2, 1.5), hold=(0.1, 0.6))}},
        steps=[
            Step(25, "burst", {"on": True}, truth="on:max_connections"),
            Step(55, "burst", {"on": False}, truth="off:max_connections"),
        ],
        server={"max_connections": 16},
        expect={
            "app.log": ["1040 too many connections"],
            "mariadb-error.log": ["aborted: too many connections|too many connections"],
        },
    )
)

_add(
    Scenario(
        name="pool_exhaustion",
        summary=(
            "A report job (4 workers holding connections 2.5-4 s) starts for 30 s next to the web "
            "workers; the shared pool (pool_size=3, max_overflow=0, pool_timeout=2) runs dry."
        ),
        duration=90,
        driver="mysqlconnector",
        pool=PoolSettings(pool_size=3, max_overflow=0, pool_timeout=2, pool_pre_ping=True),
        groups={"web": 3, "report": 4},
        phases={
            "normal": {"web": _web((0.3, 1.5), hold=(0.0, 0.1)), "report": GroupPhase(active=False)},
            "busy": {"web": _web((0.3, 1.5), hold=(0.0, 0.1)), "report": GroupPhase(gap=(0.1, 0.5), hold=(2.5, 4.0))},
        },
        steps=[
            Step(25, "phase", {"name": "busy"}, truth="on:pool_exhausted"),
            Step(55, "phase", {"name": "normal"}, truth="off:pool_exhausted"),
        ],
        expect={"app.log": ["pool timeout (QueuePool limit)"]},
    )
)

_add(
    Scenario(
        name="server_restart",
        summary=(
            "The server is shut down normally (SIGTERM) and started again 10 s later; the app connects "
            "directly (no proxy) with pool_pre_ping, so it sees 2003 Connection refused while it is down."
        ),
        duration=70,
        driver="pymysql",
        pool=PoolSettings(pool_size=4, max_overflow=4, pool_timeout=10, pool_pre_ping=True),
        groups={"web": 4},
        phases={"normal": {"web": _web((0.3, 2.0))}},
        steps=[
            Step(25, "server_stop", {}, truth="on:server_restart"),
            Step(35, "server_start", {}, truth="off:server_restart"),
        ],
        via_proxy=False,
        expect={"app.log": ["2003 can't connect"], "mariadb-error.log": ["normal shutdown"]},
    )
)

_add(
    Scenario(
        name="access_denied",
        summary=(
            "The application user's password is rotated on the server but not in the app for 20 s; "
            "with pool_recycle=3 the pool reconnects often and gets 1045."
        ),
        duration=65,
        driver="pymysql",
        pool=PoolSettings(pool_size=4, max_overflow=4, pool_timeout=10, pool_recycle=3),
        groups={"web": 4},
        phases={"normal": {"web": _web((0.5, 2.5))}},
        steps=[
            Step(20, "password", {"rotate": True}, truth="on:access_denied"),
            Step(40, "password", {"rotate": False}, truth="off:access_denied"),
        ],
        expect={"app.log": ["1045 access denied"], "mariadb-error.log": ["access denied"]},
    )
)

_add(
    Scenario(
        name="mixed_idle_then_crash",
        summary=(
            "Two causes at different times: a load balancer (the proxy) resets connections idle for more "
            "than 5 s (both ends get RST) for 30 s, then later the server crashes (SIGKILL) and comes back "
            "8 s later with crash recovery. mysql-connector with a tutorial-style ping in a checkout listener."
        ),
        duration=120,
        driver="mysqlconnector",
        pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=10, listener_ping=True),
        groups={"fast": 2, "slow": 2},
        phases={"normal": {"fast": _web((0.5, 2.5)), "slow": _web((7.0, 11.0))}},
        steps=[
            Step(15, "idle_kill", {"seconds": 5, "mode": "rst"}, truth="on:idle_timeout"),
            Step(45, "idle_kill", {"seconds": None}, truth="off:idle_timeout"),
            Step(75, "server_stop", {"crash": True}, truth="on:server_restart"),
            Step(83, "server_start", {}, truth="off:server_restart"),
        ],
        engine_per_worker=True,
        client_timeout=4,
        expect={
            "app.log": ["listener ping failed"],
            "mariadb-error.log": ["aborted: error reading", "ready for connections"],
        },
    )
)

_add(
    Scenario(
        name="mixed_burst_then_latency",
        summary=(
            "Two causes at different times: a batch client takes every free connection slot "
            "(max_connections=16) for 25 s, and after a quiet minute the network turns slow "
            "(latency 1200 +/- 900 ms each way, 3 s read timeout) for 20 s."
        ),
        duration=120,
        driver="pymysql",
        pool=PoolSettings(pool_size=2, max_overflow=6, pool_timeout=10, pool_pre_ping=True),
        groups={"web": 5},
        phases={"normal": {"web": _web((0.2, 1.5), hold=(0.1, 0.5))}},
        steps=[
            Step(15, "burst", {"on": True}, truth="on:max_connections"),
            Step(40, "burst", {"on": False}, truth="off:max_connections"),
            Step(80, "latency", {"ms": 1200, "jitter_ms": 900}, truth="on:network"),
            Step(100, "latency", {"ms": 0, "jitter_ms": 0}, truth="off:network"),
        ],
        server={"max_connections": 16},
        client_timeout=3,
        expect={"app.log": ["1040 too many connections", "2013 lost connection"]},
    )
)


# A tutorial-style service: mysql-connector, one connection per process, an
# hourly pool_recycle and a SELECT 1 in a checkout listener (no pool_pre_ping).
TUTORIAL_POOL = PoolSettings(pool_size=1, max_overflow=0, pool_timeout=10, pool_recycle=3600, listener_ping=True)


def _tutorial(name: str, mode: str, summary: str, expect: dict[str, list[str]]) -> Scenario:
    """The tutorial-style service (one worker, one pooled connection, 3-9 s between jobs)
    behind something that cuts connections idle for more than 6 s, in ``mode``."""
    return Scenario(
        name=name,
        summary=summary,
        duration=240,
        driver="mysqlconnector",
        pool=TUTORIAL_POOL,
        groups={"svc": 1},
        phases={"normal": {"svc": _web((3.0, 9.0))}},
        steps=[
            Step(20, "idle_kill", {"seconds": 6, "mode": mode}, truth="on:idle_timeout"),
            Step(210, "idle_kill", {"seconds": None}, truth="off:idle_timeout"),
        ],
        engine_per_worker=True,
        client_timeout=4,
        pool_debug=False,
        expect=expect,
    )


_add(
    _tutorial(
        "tutorial_idle_silent",
        "silent",
        (
            "A firewall in the path (the proxy) silently forgets connections idle for more than 6 s during "
            "the window; server wait_timeout stays at 8 h, so the server logs nothing. A tutorial-style "
            "service (mysql-connector, pool_recycle=3600, SELECT 1 in a checkout listener, no SQLAlchemy "
            "pool log) with one worker and one pooled connection, 3-9 s between jobs: after an idle past 6 s "
            "the listener's ping hangs for the 4 s read timeout, logs 'Connection ping failed during checkout: "
            "MySQL Connection not available', reconnects and runs the job (which so takes about 4 s); no "
            "ERROR. The server logs the forgotten connections only at its shutdown (KILLED)."
        ),
        {"app.log": ["listener ping failed"]},
    )
)

_add(
    _tutorial(
        "tutorial_idle_reset",
        "rst",
        (
            "A load balancer in the path (the proxy) resets connections idle for more than 6 s (RST to both "
            "ends) during the window; server wait_timeout stays at 8 h. The same tutorial-style service as "
            "tutorial_idle_silent (mysql-connector, pool_recycle=3600, SELECT 1 in a checkout listener, no "
            "SQLAlchemy pool log, one worker, 3-9 s between jobs): after an idle past 6 s the listener's ping "
            "fails at once, logs 'Connection ping failed during checkout: MySQL Connection not available', "
            "reconnects and runs the job; no ERROR. The server logs each reset when it happens (Got an error "
            "reading communication packets)."
        ),
        {"app.log": ["listener ping failed"], "mariadb-error.log": ["aborted: error reading"]},
    )
)


# ------------------------------------------------------------ real-time scale
# Busy hours: every worker runs a job every few seconds, far below any idle limit.
_BUSY = {"web": _web((1.5, 6.0)), "sync": _web((2.0, 10.0))}

_add(
    Scenario(
        name="realtime_idle_night",
        summary=(
            "Real-time scale: a firewall in the path (the proxy) silently forgets connections idle for more "
            "than 180 s, all the time; server wait_timeout stays at 8 h. Busy hours (jobs every 1.5-10 s) "
            "never reach the limit. A 10-minute negative control has every worker idle 150-170 s, just under "
            "it: no failures, no truth window. During a 15-minute quiet night the two sync workers idle "
            "200-420 s, so each of their jobs hangs for the 5 s read timeout and fails with 2013, isolated "
            "failures minutes apart (and the stale ones fail when the morning traffic starts), while the web "
            "workers keep a job every 10-40 s; inside the night a 20 s blackhole (its own network window) "
            "fails the web workers' jobs."
        ),
        duration=2220,
        driver="pymysql",
        pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=10),
        groups={"web": 3, "sync": 2},
        phases={
            "normal": _BUSY,
            "control": {"web": _web((150.0, 170.0)), "sync": _web((150.0, 170.0))},
            "night": {"web": _web((10.0, 40.0)), "sync": _web((200.0, 420.0))},
        },
        steps=[
            Step(10, "idle_kill", {"seconds": 180, "mode": "silent"}),
            Step(300, "phase", {"name": "control"}),
            Step(900, "phase", {"name": "normal"}),
            Step(1080, "phase", {"name": "night"}, truth="on:idle_timeout"),
            Step(1500, "blackhole", {"on": True}, truth="on:network"),
            Step(1520, "blackhole", {"on": False}, truth="off:network"),
            Step(1980, "phase", {"name": "normal"}, truth="off:idle_timeout"),
        ],
        engine_per_worker=True,
        client_timeout=5,
        expect={"app.log": ["2013 lost connection"], "latency.csv": ["select1 lost"]},
    ),
    REALTIME_SCENARIOS,
)

_add(
    Scenario(
        name="realtime_idle_tutorial",
        summary=(
            "Real-time scale, tutorial-style service (mysql-connector, pool_recycle=3600, SELECT 1 in a "
            "checkout listener, no SQLAlchemy pool log): a load balancer in the path (the proxy) resets "
            "connections idle for more than 240 s (RST to both ends, so the server logs each reset when it "
            "happens), all the time; server wait_timeout stays at 8 h. Busy hours never reach the limit. "
            "During a 13-minute quiet night the two sync workers idle 260-480 s: their next checkout's ping "
            "fails at once, the listener logs it and the pool reconnects, minutes apart; the web workers keep "
            "a job every 10-40 s, and inside the night 25 s of latency spikes (1500 +/- 1000 ms each way, 4 s "
            "read timeout) have their own network window. Later an 8-minute negative control has every worker "
            "idle 200-230 s, just under the limit: no failures, no truth window."
        ),
        duration=1800,
        driver="mysqlconnector",
        pool=TUTORIAL_POOL,
        groups={"web": 3, "sync": 2},
        phases={
            "normal": _BUSY,
            "night": {"web": _web((10.0, 40.0)), "sync": _web((260.0, 480.0))},
            "control": {"web": _web((200.0, 230.0)), "sync": _web((200.0, 230.0))},
        },
        steps=[
            Step(10, "idle_kill", {"seconds": 240, "mode": "rst"}),
            Step(240, "phase", {"name": "night"}, truth="on:idle_timeout"),
            Step(600, "latency", {"ms": 1500, "jitter_ms": 1000}, truth="on:network"),
            Step(625, "latency", {"ms": 0, "jitter_ms": 0}, truth="off:network"),
            Step(1020, "phase", {"name": "normal"}, truth="off:idle_timeout"),
            Step(1200, "phase", {"name": "control"}),
            Step(1680, "phase", {"name": "normal"}),
        ],
        engine_per_worker=True,
        client_timeout=4,
        pool_debug=False,
        expect={"app.log": ["listener ping failed"], "mariadb-error.log": ["aborted: error reading"]},
    ),
    REALTIME_SCENARIOS,
)


def all_scenarios() -> dict[str, Scenario]:
    """The short scenarios and the real-time ones."""
    return {**SCENARIOS, **REALTIME_SCENARIOS}


def get(name: str) -> Scenario:
    try:
        return all_scenarios()[name]
    except KeyError:
        known = ", ".join(all_scenarios())
        raise KeyError(f"unknown scenario {name!r}; known: {known}") from None
