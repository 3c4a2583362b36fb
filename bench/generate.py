"""Generate a realistic fleet's logs, with drop incidents of every cause planted at known times.

    python bench/generate.py --size 1GiB --seed 7 --out bench/data/1g

writes::

    OUT/logs/pipeline.toml            hosts come from folder names; MariaDB logs in local time
    OUT/logs/web-NN/app.log           Python logging text (``TS - logger - LEVEL - msg``), ~2 % errors
                                      with multi-line tracebacks
    OUT/logs/web-NN/sqlalchemy.log    SQLAlchemy pool debug lines (``TS DEBUG sqlalchemy.pool.impl.QueuePool ...``)
    OUT/logs/web-NN/latency.csv       ``timestamp,target,rtt_ms`` every 10 s (empty rtt = lost probe)
    OUT/logs/db-N/mariadb-error.log   MariaDB error log (Europe/Berlin wall clock, space-padded hour)
    OUT/logs/db-N/status.tsv          ``SHOW GLOBAL STATUS``/``VARIABLES`` snapshots every 60 s
    OUT/truth.json                    planted incidents: [{"start", "end", "cause"}], as the lab writes it
    OUT/manifest.json                 seed, sizes, hosts, files, incidents with their variant and hosts

The output is a pure function of ``--size`` and ``--seed``.  Volume per host and day is
fixed (about 15 MB), so a larger size means more hosts and more days, not denser logs:
the idle times, probe cadence and incident rate look the same at every size.

Planted incidents (one every ~6 h, at least 6, causes in shuffled rounds):

``idle_timeout``     a host goes quiet longer than the server's ``wait_timeout`` (600 s; the
                     server logs ``Got timeout reading communication packets``) or than a
                     firewall's idle limit (350 s; nothing on the server, clients see resets);
                     the next checkouts fail (2013/2006, or pre-ping failures on hosts with
                     ``pool_pre_ping``)
``network``          RTT spikes and lost probes on 1-3 hosts; 2013 ``(timed out)`` after a
                     hung query, 2003 on connect; ``error reading communication packets``
``max_connections``  1040 on several hosts, ``Too many connections`` aborts on the server,
                     ``Threads_connected`` at ``max_connections``
``pool_exhausted``   ``QueuePool limit of size 5 overflow 10 reached`` on one host, server healthy
``server_restart``   ``Normal shutdown`` ... ``ready for connections``; 2013 then 2003 refused;
                     ``Uptime`` resets
``access_denied``    1045 on the clients and ``Access denied for user`` on the server
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)  # no DST change within 35 days in Europe/Berlin
START_MS = int(START.timestamp() * 1000)
DB_ZONE = "Europe/Berlin"
BYTES_PER_HOST_DAY = 15e6
PROBE_EVERY_S = 10
STATUS_EVERY_S = 60
WAIT_TIMEOUT_S = 600
FIREWALL_IDLE_S = 350
MAX_CONNECTIONS = 151
POOL_SIZE = 5
MAX_OVERFLOW = 10
APP_SHARE = 0.84  # of the application hosts' log bytes; the rest is pool debug lines
CAUSES = ("idle_timeout", "network", "max_connections", "pool_exhausted", "server_restart", "access_denied")
UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "K": 2**10,
    "M": 2**20,
    "G": 2**30,
}

SA = "/srv/app/venv/lib/python3.11/site-packages"


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 200MB, 1GiB, 5GiB)")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


# --------------------------------------------------------------------------------------
# message templates: (logger, level, text, weight); {a} and {b} are filled per line


APP_TEMPLATES: list[tuple[str, str, str, float]] = [
    ("app.api", "INFO", "GET /api/v1/orders/{a} 200 {b}ms", 14),
    ("app.api", "INFO", "POST /api/v1/orders 201 {b}ms customer={a}", 6),
    ("app.api", "INFO", "GET /api/v1/customers/{a}/invoices 200 {b}ms", 8),
    ("app.api", "INFO", "GET /healthz 200 {b}ms", 10),
    ("app.api", "WARNING", "slow request GET /api/v1/reports/{a} took {b}ms", 1.5),
    ("app.worker", "INFO", "job {a} finished in {b} ms", 9),
    ("app.worker", "DEBUG", "polling queue 'default': {a} pending, lag {b} ms", 10),
    ("app.worker", "INFO", "scheduled reminder batch {a}: {b} messages queued", 3),
    ("app.cache", "DEBUG", "cache miss for key customer:{a} (loaded in {b} ms)", 8),
    ("app.cache", "DEBUG", "cache hit ratio over last minute: 0.{b} ({a} lookups)", 2),
    ("app.billing", "INFO", "invoice INV-{a} sent to customer {b}", 4),
    ("app.auth", "INFO", "user {a} signed in (session ttl {b} s)", 5),
    ("app.auth", "WARNING", "rate limit reached for api key ...{a} ({b} requests/min)", 0.5),
    ("app.search", "INFO", "query 'sku:{a}' returned {b} hits", 5),
]

TB_KEYERROR = (
    "Exception on /api/v1/orders/{a} [GET]\n"
    "Traceback (most recent call last):\n"
    f'  File "{SA}/flask/app.py", line 1463, in wsgi_app\n'
    "    response = self.full_dispatch_request()\n"
    "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    f'  File "{SA}/flask/app.py", line 872, in full_dispatch_request\n'
    "    rv = self.dispatch_request()\n"
    "         ^^^^^^^^^^^^^^^^^^^^^^^\n"
    '  File "/srv/app/app/api/orders.py", line 88, in get_order\n'
    '    return jsonify(order.to_dict(include=request.args["include"]))\n'
    "                                         ~~~~~~~~~~~~^^^^^^^^^^^\n"
    "KeyError: 'include'"
)
TB_INTEGRITY = (
    "job {a} failed\n"
    "Traceback (most recent call last):\n"
    f'  File "{SA}/sqlalchemy/engine/base.py", line 1967, in _exec_single_context\n'
    "    self.dialect.do_execute(\n"
    f'  File "{SA}/sqlalchemy/engine/default.py", line 924, in do_execute\n'
    "    cursor.execute(statement, parameters)\n"
    f'  File "{SA}/pymysql/err.py", line 150, in raise_mysql_exception\n'
    "    raise errorclass(errno, errval)\n"
    "pymysql.err.IntegrityError: (1062, \"Duplicate entry 'PAY-{b}' for key 'uq_payment_ref'\")\n"
    "\n"
    "The above exception was the direct cause of the following exception:\n"
    "\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/app/app/worker/jobs.py", line 212, in run\n'
    "    session.commit()\n"
    "sqlalchemy.exc.IntegrityError: (pymysql.err.IntegrityError) (1062, \"Duplicate entry 'PAY-{b}' for key "
    "'uq_payment_ref'\")\n"
    "[SQL: INSERT INTO payments (ref, amount, customer_id) VALUES (%(ref)s, %(amount)s, %(customer_id)s)]\n"
    "[parameters: {'ref': 'PAY-{b}', 'amount': 12.5, 'customer_id': {a}}]\n"
    "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
)
TB_READTIMEOUT = (
    "payment provider call failed for invoice INV-{a}\n"
    "Traceback (most recent call last):\n"
    f'  File "{SA}/urllib3/connectionpool.py", line 537, in _make_request\n'
    "    response = conn.getresponse()\n"
    "               ^^^^^^^^^^^^^^^^^^\n"
    "TimeoutError: The read operation timed out\n"
    "\n"
    "During handling of the above exception, another exception occurred:\n"
    "\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/app/app/billing/provider.py", line 64, in charge\n'
    "    resp = self.session.post(url, json=payload, timeout=10)\n"
    "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.payments.example', port=443): "
    "Read timed out. (read timeout=10)"
)
TB_VALUE = (
    "could not parse webhook payload {a}\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/app/app/api/webhooks.py", line 31, in receive\n'
    '    amount = Decimal(body["amount"]) / int(body["units"])\n'
    "                                       ^^^^^^^^^^^^^^^^^^^\n"
    "ValueError: invalid literal for int() with base 10: 'x{b}'"
)
APP_ERRORS: list[tuple[str, str, str, float]] = [
    ("app.api", "ERROR", TB_KEYERROR, 0.7),
    ("app.worker", "ERROR", TB_INTEGRITY, 0.6),
    ("app.billing", "ERROR", TB_READTIMEOUT, 0.4),
    ("app.api", "ERROR", TB_VALUE, 0.3),
]
ERROR_SHARE = 0.02


def _template_table(templates, share: float) -> tuple[pl.DataFrame, np.ndarray]:
    weights = np.array([t[3] for t in templates], dtype=float)
    weights = weights / weights.sum() * share
    prefix = [f" - {lg} - {lv} - " for lg, lv, _, _ in templates]
    return prefix, [t[2] for t in templates], weights


def _app_table():
    p1, t1, w1 = _template_table(APP_TEMPLATES, 1 - ERROR_SHARE)
    p2, t2, w2 = _template_table(APP_ERRORS, ERROR_SHARE)
    return p1 + p2, t1 + t2, np.concatenate([w1, w2])


APP_PREFIX, APP_TEXT, APP_WEIGHTS = _app_table()
APP_CUM = np.cumsum(APP_WEIGHTS)
APP_CUM[-1] = 1.0


# --------------------------------------------------------------------------------------
# plan


@dataclass
class Host:
    name: str
    index: int
    db: str
    ip: str
    pre_ping: bool
    refs: list[str]


@dataclass
class Incident:
    cause: str
    variant: str
    t_ms: int  # first client failure
    hosts: list[str]
    db: str
    truth_start_ms: int = 0
    truth_end_ms: int = 0
    quiet_from_ms: int | None = None  # idle: the host's traffic stops here


@dataclass
class Plan:
    size: int
    seed: int
    span_s: int
    hosts: list[Host]
    dbs: list[str]
    incidents: list[Incident] = field(default_factory=list)
    app_rate: float = 0.0  # app events per second per host
    pool_rate: float = 0.0  # checkouts per second per host


def _ref(rng) -> str:
    return f"<pymysql.connections.Connection object at 0x7f{int(rng.integers(0x100000000, 0xFFFFFFFFFF)):010x}>"


def make_plan(size: int, seed: int, hosts: int | None = None, days: float | None = None) -> Plan:
    """``hosts`` and ``days`` fix the fleet's shape (a scale test: 50 hosts for 30 days);
    without them they follow from the size at about 15 MB per host and day."""
    rng = np.random.default_rng([seed, 1])
    host_days = size / BYTES_PER_HOST_DAY
    n_hosts = hosts or int(min(24, max(2, round(math.sqrt(host_days * 1.4)))))
    span_s = int(max(5 * 3600, host_days / n_hosts * 86400))
    span_s = int(days * 86400) if days else min(span_s, 35 * 86400)
    n_db = max(1, math.ceil(n_hosts / 8))
    dbs = [f"db-{i + 1}" for i in range(n_db)]
    hosts = [
        Host(
            f"web-{i + 1:02d}",
            i,
            dbs[i % n_db],
            f"10.0.1.{11 + i}",
            pre_ping=(i % 2 == 1),
            refs=[_ref(rng) for _ in range(POOL_SIZE)],
        )
        for i in range(n_hosts)
    ]
    plan = Plan(size, seed, span_s, hosts, dbs)
    _plan_incidents(plan, rng)
    _plan_rates(plan)
    return plan


def _plan_incidents(plan: Plan, rng) -> None:
    n = max(6, round(plan.span_s / (6 * 3600)))
    slot = plan.span_s / n
    order: list[str] = []
    while len(order) < n:
        order += list(rng.permutation(CAUSES))
    by_db = {d: [h for h in plan.hosts if h.db == d] for d in plan.dbs}
    for i in range(n):
        cause = order[i]
        db = plan.dbs[int(rng.integers(len(plan.dbs)))]
        pool = by_db[db]
        t = int(START_MS + (i + 0.55 + rng.uniform(-0.1, 0.25)) * slot * 1000)
        if cause == "idle_timeout":
            host = pool[int(rng.integers(len(pool)))]
            variant = "firewall" if rng.random() < 0.3 else "wait_timeout"
            if host.pre_ping:
                variant += "+pre_ping"
            limit = FIREWALL_IDLE_S if variant.startswith("firewall") else WAIT_TIMEOUT_S
            quiet = int((limit + rng.uniform(60, 220 if limit == FIREWALL_IDLE_S else 500)) * 1000)
            inc = Incident(cause, variant, t, [host.name], db, quiet_from_ms=t - quiet)
        elif cause in ("network", "max_connections", "access_denied"):
            k = int(rng.integers(1, min(3, len(pool)) + 1)) if cause != "max_connections" else min(len(pool), 3)
            chosen = sorted(rng.choice(len(pool), size=max(1, k), replace=False))
            inc = Incident(cause, "", t, [pool[j].name for j in chosen], db)
        elif cause == "pool_exhausted":
            host = pool[int(rng.integers(len(pool)))]
            inc = Incident(cause, "", t, [host.name], db)
        else:  # server_restart: every host on that server notices
            inc = Incident(cause, "", t, [h.name for h in pool], db)
        plan.incidents.append(inc)


# --------------------------------------------------------------------------------------
# formatting


def fmt_app_ts(ms: int) -> str:
    d = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S") + f",{ms % 1000:03d}"


_ZONE = ZoneInfo(DB_ZONE)


def fmt_maria_ts(ms: int) -> str:
    d = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone(_ZONE)
    return f"{d:%Y-%m-%d} {d.hour:2d}:{d:%M:%S}"


def iso_us(ms: int, us: int = 0) -> str:
    d = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ms % 1000) * 1000 + us:06d}Z"


def app_line(ms: int, logger: str, level: str, text: str) -> str:
    return f"{fmt_app_ts(ms)} - {logger} - {level} - {text}"


def pool_line(ms: int, text: str, level: str = "DEBUG") -> str:
    return f"{fmt_app_ts(ms)} {level} sqlalchemy.pool.impl.QueuePool {text}"


def maria_line(ms: int, thread: int, level: str, text: str) -> str:
    return f"{fmt_maria_ts(ms)} {thread} [{level}] {text}"


# reasons MariaDB gives for a connection it aborted
TIMEOUT_READING = "Got timeout reading communication packets"
ERROR_READING = "Got an error reading communication packets"


def aborted_text(thread: int, ip: str, reason: str, who: str = "'app' user: 'app'") -> str:
    """MariaDB's warning for a connection it aborted."""
    return f"Aborted connection {thread} to db: {who} host: '{ip}' ({reason})"


def _db_traceback(endpoint: str, code: int, text: str, quote: str = "'") -> str:
    err = f"({code}, {quote}{text}{quote})"
    return (
        f"Exception on {endpoint} [GET]\n"
        "Traceback (most recent call last):\n"
        f'  File "{SA}/sqlalchemy/engine/base.py", line 1967, in _exec_single_context\n'
        "    self.dialect.do_execute(\n"
        f'  File "{SA}/sqlalchemy/engine/default.py", line 924, in do_execute\n'
        "    cursor.execute(statement, parameters)\n"
        f'  File "{SA}/pymysql/connections.py", line 732, in _read_bytes\n'
        "    raise err.OperationalError(\n"
        f"pymysql.err.OperationalError: {err}\n"
        "\n"
        "The above exception was the direct cause of the following exception:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/app/app/api/orders.py", line 41, in get_order\n'
        "    order = session.execute(select(Order).where(Order.id == order_id)).scalar_one()\n"
        "            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        f"sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) {err}\n"
        "[SQL: SELECT orders.id, orders.customer_id, orders.status, orders.total FROM orders "
        "WHERE orders.id = %(id_1)s]\n"
        "[parameters: {'id_1': " + endpoint.rsplit("/", 1)[-1] + "}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)"
    )


def _pool_timeout_traceback(endpoint: str) -> str:
    return (
        f"Exception on {endpoint} [GET]\n"
        "Traceback (most recent call last):\n"
        f'  File "{SA}/sqlalchemy/pool/impl.py", line 157, in _do_get\n'
        "    raise exc.TimeoutError(\n"
        f"sqlalchemy.exc.TimeoutError: QueuePool limit of size {POOL_SIZE} overflow {MAX_OVERFLOW} reached, "
        "connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)"
    )


# --------------------------------------------------------------------------------------
# incidents -> lines per file


class Lines:
    """Planted lines per file: {file key: [(ms, seq, text)]}."""

    def __init__(self):
        self.by_file: dict[str, list[tuple[int, int, str]]] = {}
        self.seq = 0

    def add(self, key: str, ms: int, text: str) -> None:
        self.seq += 1
        self.by_file.setdefault(key, []).append((int(ms), self.seq, text))


def plant(plan: Plan) -> tuple[Lines, dict]:
    """Lines for every incident, plus per-host/per-db overrides (quiet windows, latency, status)."""
    rng = np.random.default_rng([plan.seed, 2])
    out = Lines()
    hosts = {h.name: h for h in plan.hosts}
    thread = dict.fromkeys(plan.dbs, 1000)
    effects = {"quiet": [], "latency": [], "status": [], "down": []}

    def next_thread(db):
        thread[db] += int(rng.integers(1, 40))
        return thread[db]

    def oid():
        return int(rng.integers(10000, 99999))

    def fail_checkout(h: Host, ref: str, t: int, hang_ms: int, code: int, text: str, quote="'"):
        """A checkout whose statement fails ``hang_ms`` later; invalidation; a new connection."""
        key = h.name
        out.add(f"{key}/sqlalchemy.log", t - hang_ms, f"Connection {ref} checked out from pool")
        reason = f"OperationalError:({code}, {quote}{text}{quote})"
        out.add(f"{key}/sqlalchemy.log", t, f"Invalidate connection {ref} (reason: {reason})")
        out.add(
            f"{key}/app.log",
            t + 2,
            app_line(t + 2, "app.api", "ERROR", _db_traceback(f"/api/v1/orders/{oid()}", code, text, quote)),
        )
        out.add(f"{key}/sqlalchemy.log", t + 40, f"Created new connection {ref}")

    def db_line(db: str, ms: int, thread: int, level: str, text: str):
        """A line of ``db``'s MariaDB error log."""
        out.add(f"{db}/mariadb-error.log", ms, maria_line(ms, thread, level, text))

    def app_error(h: Host, t: int, code: int, text: str, quote="'"):
        out.add(
            f"{h.name}/app.log",
            t,
            app_line(t, "app.api", "ERROR", _db_traceback(f"/api/v1/orders/{oid()}", code, text, quote)),
        )

    for inc in plan.incidents:
        t = inc.t_ms
        db = inc.db
        if inc.cause == "idle_timeout":
            h = hosts[inc.hosts[0]]
            effects["quiet"].append((h.name, inc.quiet_from_ms, t + 3000))
            n_fail = int(rng.integers(2, POOL_SIZE + 1))
            refs = h.refs[:n_fail]
            first_abort = None
            if inc.variant.startswith("wait_timeout"):
                for _ in h.refs:
                    ms = inc.quiet_from_ms - int(rng.integers(0, 60_000)) + WAIT_TIMEOUT_S * 1000
                    first_abort = ms if first_abort is None else min(first_abort, ms)
                    tid = next_thread(db)
                    db_line(db, ms, tid, "Warning", aborted_text(tid, h.ip, TIMEOUT_READING))
                code, text = (2013, "Lost connection to MySQL server during query")
            else:
                code, text = (
                    2013,
                    "Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)",
                )
            last = t
            for j, ref in enumerate(refs):
                tf = t + j * int(rng.integers(300, 4000))
                last = tf
                if h.pre_ping:
                    out.add(f"{h.name}/sqlalchemy.log", tf - 1, f"Connection {ref} checked out from pool")
                    out.add(
                        f"{h.name}/sqlalchemy.log",
                        tf,
                        f"Pool pre-ping on connection {ref} failed, will invalidate pool",
                    )
                    gone = (
                        "(2006, \"MySQL server has gone away (ConnectionResetError(104, 'Connection reset by peer'))\")"
                    )
                    out.add(
                        f"{h.name}/sqlalchemy.log",
                        tf + 1,
                        f"Invalidate connection {ref} (reason: OperationalError:{gone})",
                    )
                    out.add(f"{h.name}/sqlalchemy.log", tf + 30, f"Created new connection {ref}")
                else:
                    fail_checkout(h, ref, tf, int(rng.integers(2, 30)), code, text)
            inc.truth_start_ms = first_abort if first_abort is not None else inc.quiet_from_ms + FIREWALL_IDLE_S * 1000
            inc.truth_end_ms = last + 30_000
        elif inc.cause == "network":
            dur = int(rng.integers(60, 240)) * 1000
            last = t
            for name in inc.hosts:
                h = hosts[name]
                effects["latency"].append((name, t - 20_000, t + dur))
                tt = t + int(rng.integers(0, 5000))
                k = 0
                while tt < t + dur:
                    ref = _ref(rng)
                    if k % 3 == 2:
                        app_error(h, tt, 2003, f"Can't connect to MySQL server on '{db}' (timed out)", quote='"')
                    else:
                        out.add(f"{name}/sqlalchemy.log", tt - 10_000 - 50, f"Created new connection {ref}")
                        fail_checkout(
                            h, ref, tt, 10_000, 2013, "Lost connection to MySQL server during query (timed out)"
                        )
                    last = max(last, tt)
                    tt += int(rng.integers(8000, 30000))
                    k += 1
                for _ in range(int(rng.integers(1, 4))):
                    ms = t + int(rng.integers(0, dur))
                    tid = next_thread(db)
                    db_line(db, ms, tid, "Warning", aborted_text(tid, h.ip, ERROR_READING))
            inc.truth_start_ms, inc.truth_end_ms = t - 20_000, last + 30_000
        elif inc.cause == "max_connections":
            dur = int(rng.integers(60, 180)) * 1000
            effects["status"].append((db, t - 30_000, t + dur + 30_000))
            last = t
            for name in inc.hosts:
                h = hosts[name]
                tt = t + int(rng.integers(0, 8000))
                while tt < t + dur:
                    app_error(h, tt, 1040, "Too many connections")
                    refused = aborted_text(0, h.ip, "Too many connections", who="'unconnected' user: 'unauthenticated'")
                    db_line(db, tt - 3, 0, "Warning", refused)
                    last = max(last, tt)
                    tt += int(rng.integers(3000, 20000))
            inc.truth_start_ms, inc.truth_end_ms = t - 30_000, last + 30_000
        elif inc.cause == "pool_exhausted":
            h = hosts[inc.hosts[0]]
            dur = int(rng.integers(60, 150)) * 1000
            extra = [_ref(rng) for _ in range(MAX_OVERFLOW)]
            held_from = t - 30_000 - 2000
            for j, ref in enumerate(extra):
                ms = held_from + j * 150
                out.add(f"{h.name}/sqlalchemy.log", ms, f"Created new connection {ref}")
                out.add(f"{h.name}/sqlalchemy.log", ms + 1, f"Connection {ref} checked out from pool")
            tt = t
            last = t
            while tt < t + dur:
                out.add(
                    f"{h.name}/app.log",
                    tt,
                    app_line(tt, "app.api", "ERROR", _pool_timeout_traceback(f"/api/v1/reports/{oid()}")),
                )
                last = tt
                tt += int(rng.integers(1000, 9000))
            for j, ref in enumerate(extra):
                ms = last + 2000 + j * 200
                out.add(f"{h.name}/sqlalchemy.log", ms, f"Connection {ref} being returned to pool")
                out.add(f"{h.name}/sqlalchemy.log", ms + 1, f"Connection {ref} rollback-on-return")
                out.add(f"{h.name}/sqlalchemy.log", ms + 2, f"Closing connection {ref}")
            inc.truth_start_ms, inc.truth_end_ms = held_from, last + 30_000
        elif inc.cause == "server_restart":
            down = int(rng.integers(10, 60)) * 1000
            stop = t - 500
            effects["down"].append((db, stop, stop + down + 5000))
            for k, text in enumerate(
                [
                    "/usr/sbin/mariadbd (initiated by: unknown): Normal shutdown",
                    "InnoDB: FTS optimize thread exiting.",
                    "InnoDB: Starting shutdown...",
                    "InnoDB: Dumping buffer pool(s) to /var/lib/mysql/ib_buffer_pool",
                    "InnoDB: Buffer pool(s) dump completed",
                    "InnoDB: Shutdown completed; log sequence number 5439871; transaction id 91823",
                    "/usr/sbin/mariadbd: Shutdown complete",
                ]
            ):
                db_line(db, stop + k * 300, 0, "Note", text)
            up = stop + down
            _startup(out, f"{db}/mariadb-error.log", up)
            last = t
            for name in inc.hosts:
                h = hosts[name]
                fail_checkout(
                    h,
                    _ref(rng),
                    t + int(rng.integers(0, 400)),
                    int(rng.integers(5, 800)),
                    2013,
                    "Lost connection to MySQL server during query",
                )
                tt = t + int(rng.integers(1500, 4000))
                while tt < up:
                    app_error(
                        h,
                        tt,
                        2003,
                        f"Can't connect to MySQL server on '{db}' ([Errno 111] Connection refused)",
                        quote='"',
                    )
                    last = max(last, tt)
                    tt += int(rng.integers(2000, 12000))
            inc.truth_start_ms, inc.truth_end_ms = stop, max(last, up) + 30_000
        elif inc.cause == "access_denied":
            dur = int(rng.integers(60, 300)) * 1000
            last = t
            for name in inc.hosts:
                h = hosts[name]
                tt = t + int(rng.integers(0, 5000))
                while tt < t + dur:
                    msg = f"Access denied for user 'app'@'{h.ip}' (using password: YES)"
                    app_error(h, tt, 1045, msg, quote='"')
                    tid = next_thread(db)
                    db_line(db, tt - 2, tid, "Warning", msg)
                    last = max(last, tt)
                    tt += int(rng.integers(4000, 25000))
            inc.truth_start_ms, inc.truth_end_ms = t - 10_000, last + 30_000
    return out, effects


def _startup(out: Lines, key: str, ms: int) -> None:
    for k, (level, text) in enumerate(
        [
            (
                "Note",
                "Starting MariaDB 10.11.6-MariaDB-0+deb12u1 source revision fecd78b83785d5ae96f2c6ff340375be803cd299 "
                "as process 712",
            ),
            ("Note", "InnoDB: Compressed tables use zlib 1.2.13"),
            ("Note", "InnoDB: Number of transaction pools: 1"),
            ("Note", "InnoDB: Using crc32 + pclmulqdq instructions"),
            ("Note", "InnoDB: Initializing buffer pool, total size = 128.000MiB, chunk size = 2.000MiB"),
            ("Note", "InnoDB: Completed initialization of buffer pool"),
            ("Note", "InnoDB: 128 rollback segments are active."),
            ("Note", "InnoDB: log sequence number 5439871; transaction id 91825"),
            ("Note", "Plugin 'FEEDBACK' is disabled."),
            ("Note", "Server socket created on IP: '0.0.0.0'."),
            (
                "Note",
                "/usr/sbin/mariadbd: ready for connections.\n"
                "Version: '10.11.6-MariaDB-0+deb12u1'  socket: '/run/mysqld/mysqld.sock'  port: 3306  Debian 12",
            ),
        ]
    ):
        out.add(key, ms + k * 40, maria_line(ms + k * 40, 0, level, text))


# --------------------------------------------------------------------------------------
# background, vectorized


def _fmt_ms(ms: pl.Expr) -> pl.Expr:
    return ms.cast(pl.Datetime("ms")).dt.strftime("%Y-%m-%d %H:%M:%S,%3f")


def _mask_windows(t: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
    keep = np.ones(len(t), dtype=bool)
    for lo, hi in windows:
        keep &= ~((t >= lo) & (t < hi))
    return keep


def app_block(rng, t: np.ndarray) -> pl.DataFrame:
    """Background application lines for sorted times ``t`` (ms): columns ms, line."""
    n = len(t)
    tid = np.searchsorted(APP_CUM, rng.random(n), side="right").astype(np.int32)
    a = rng.integers(1000, 999_999, n)
    b = rng.integers(2, 900, n)
    prefix = dict(enumerate(APP_PREFIX))
    text = dict(enumerate(APP_TEXT))
    df = pl.DataFrame({"ms": t, "tid": tid, "a": a, "b": b})
    line = pl.concat_str(
        [
            _fmt_ms(pl.col("ms")),
            pl.col("tid").replace_strict(prefix, return_dtype=pl.Utf8),
            pl.col("tid")
            .replace_strict(text, return_dtype=pl.Utf8)
            .str.replace_all("{a}", pl.col("a").cast(pl.Utf8), literal=True)
            .str.replace_all("{b}", pl.col("b").cast(pl.Utf8), literal=True),
        ]
    )
    return df.select("ms", line.alias("line"))


def pool_block(rng, t: np.ndarray, first_index: int, host: Host) -> pl.DataFrame:
    """Background pool lines: round-robin checkouts (the QueuePool is FIFO) and their returns."""
    n = len(t)
    conn = (np.arange(first_index, first_index + n) % POOL_SIZE).astype(np.int32)
    hold = rng.integers(3, 400, n)
    refs = dict(enumerate(host.refs))
    base = pl.DataFrame({"ms": t, "conn": conn, "hold": hold}).with_columns(
        ref=pl.col("conn").replace_strict(refs, return_dtype=pl.Utf8)
    )
    parts = []
    if host.pre_ping:
        parts.append(
            base.select(
                pl.col("ms") - 1, pl.lit(0).alias("k"), pl.format("Pool pre-ping on connection {}", "ref").alias("msg")
            )
        )
    parts += [
        base.select("ms", pl.lit(1).alias("k"), pl.format("Connection {} checked out from pool", "ref").alias("msg")),
        base.select(
            pl.col("ms") + pl.col("hold"),
            pl.lit(2).alias("k"),
            pl.format("Connection {} being returned to pool", "ref").alias("msg"),
        ),
        base.select(
            pl.col("ms") + pl.col("hold") + 1,
            pl.lit(3).alias("k"),
            pl.format("Connection {} rollback-on-return", "ref").alias("msg"),
        ),
    ]
    df = pl.concat(parts).sort("ms", "k")
    return df.select(
        "ms",
        pl.concat_str([_fmt_ms(pl.col("ms")), pl.lit(" DEBUG sqlalchemy.pool.impl.QueuePool "), pl.col("msg")]).alias(
            "line"
        ),
    )


def _write(fh, df: pl.DataFrame) -> int:
    if df.height == 0:
        return 0
    data = (df["line"].str.join("\n").item() + "\n").encode("utf-8")
    fh.write(data)
    return len(data)


def _merge(bg: pl.DataFrame, planted: list[tuple[int, int, str]], lo: int, hi: int) -> pl.DataFrame:
    rows = [p for p in planted if lo <= p[0] < hi]
    if not rows:
        return bg
    rows.sort()
    extra = pl.DataFrame(
        {"ms": [r[0] for r in rows], "line": [r[2] for r in rows]}, schema={"ms": pl.Int64, "line": pl.Utf8}
    )
    return pl.concat([bg.with_columns(pl.col("ms").cast(pl.Int64)), extra]).sort("ms", maintain_order=True)


def _poisson_times(rng, lo: int, hi: int, rate_per_s: float) -> np.ndarray:
    n = int(rng.poisson(rate_per_s * (hi - lo) / 1000))
    return np.sort(rng.integers(lo, hi, n))


def calibrate() -> tuple[float, float, float]:
    """Average bytes per app event, per pool checkout (with and without pre-ping lines)."""
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(START_MS, START_MS + 86_400_000, 40_000))
    app = app_block(rng, t)["line"].str.len_bytes().sum() / len(t) + 1
    h = Host("x", 0, "db-1", "", False, [_ref(rng) for _ in range(POOL_SIZE)])
    pool = pool_block(rng, t, 0, h)["line"].str.len_bytes().sum() / len(t) + 3
    h.pre_ping = True
    pool_pp = pool_block(rng, t, 0, h)["line"].str.len_bytes().sum() / len(t) + 4
    return float(app), float(pool), float(pool_pp)


def _plan_rates(plan: Plan) -> None:
    app_b, pool_b, pool_pp_b = calibrate()
    n_h = len(plan.hosts)
    fixed = n_h * plan.span_s / PROBE_EVERY_S * 46 + len(plan.dbs) * plan.span_s / STATUS_EVERY_S * 300
    per_host_s = max(1.0, (plan.size - fixed)) / (n_h * plan.span_s)
    pool_avg = (pool_b + pool_pp_b) / 2
    plan.app_rate = per_host_s * APP_SHARE / app_b
    plan.pool_rate = per_host_s * (1 - APP_SHARE) / pool_avg


BLOCK_EVENTS = 400_000


def write_web_host(plan: Plan, h: Host, logs: Path, planted: Lines, effects: dict) -> dict[str, int]:
    rng = np.random.default_rng([plan.seed, 10, h.index])
    folder = logs / h.name
    folder.mkdir(parents=True, exist_ok=True)
    quiet = [(lo, hi) for name, lo, hi in effects["quiet"] if name == h.name]
    end_ms = START_MS + plan.span_s * 1000
    sizes = {}
    # application log
    step = int(BLOCK_EVENTS / max(plan.app_rate, 1e-6) * 1000)
    with open(folder / "app.log", "wb") as fh:
        total = 0
        for lo in range(START_MS, end_ms, step):
            hi = min(lo + step, end_ms)
            t = _poisson_times(rng, lo, hi, plan.app_rate)
            t = t[_mask_windows(t, quiet)]
            bg = app_block(rng, t)
            total += _write(fh, _merge(bg, planted.by_file.get(f"{h.name}/app.log", []), lo, hi))
        sizes["app.log"] = total
    # pool log
    step = int(BLOCK_EVENTS / max(plan.pool_rate, 1e-6) * 1000)
    index = 0
    with open(folder / "sqlalchemy.log", "wb") as fh:
        total = 0
        first = [(START_MS - 5000 + j * 20, 0, f"Created new connection {ref}") for j, ref in enumerate(h.refs)]
        total += _write(fh, pl.DataFrame({"line": [pool_line(ms, m) for ms, _, m in first]}))
        for lo in range(START_MS, end_ms, step):
            hi = min(lo + step, end_ms)
            t = _poisson_times(rng, lo, hi, plan.pool_rate)
            t = t[_mask_windows(t, quiet)]
            bg = pool_block(rng, t, index, h)
            index += len(t)
            planted_rows = [
                (ms, s, pool_line(ms, m, "INFO" if "pre-ping" in m and "failed" in m else "DEBUG"))
                for ms, s, m in planted.by_file.get(f"{h.name}/sqlalchemy.log", [])
            ]
            total += _write(fh, _merge(bg, planted_rows, lo, hi))
        sizes["sqlalchemy.log"] = total
    # latency probes
    t = np.arange(START_MS + int(rng.integers(0, 10_000)), end_ms, PROBE_EVERY_S * 1000, dtype=np.int64)
    t = t + rng.integers(0, 300, len(t))
    rtt = np.round(rng.lognormal(math.log(0.42), 0.25, len(t)), 3)
    lost = rng.random(len(t)) < 0.0003
    for name, lo, hi in effects["latency"]:
        if name != h.name:
            continue
        w = (t >= lo) & (t < hi)
        lost |= w & (rng.random(len(t)) < 0.35)
        rtt = np.where(w, np.round(rng.uniform(150, 2500, len(t)), 3), rtt)
    us = rng.integers(0, 1000, len(t))
    target = f"tcp:{h.db}:3306"
    df = pl.DataFrame({"us": t * 1000 + us, "rtt": rtt, "lost": lost}).select(
        pl.concat_str(
            [
                pl.col("us").cast(pl.Datetime("us")).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
                pl.lit("," + target + ","),
                pl.when(pl.col("lost")).then(pl.lit("")).otherwise(pl.col("rtt").cast(pl.Utf8)),
            ]
        ).alias("line")
    )
    with open(folder / "latency.csv", "wb") as fh:
        fh.write(b"timestamp,target,rtt_ms\n")
        sizes["latency.csv"] = _write(fh, df) + 24
    return sizes


def write_db_host(plan: Plan, db: str, logs: Path, planted: Lines, effects: dict) -> dict[str, int]:
    rng = np.random.default_rng([plan.seed, 20, plan.dbs.index(db)])
    folder = logs / db
    folder.mkdir(parents=True, exist_ok=True)
    end_ms = START_MS + plan.span_s * 1000
    n_web = sum(1 for h in plan.hosts if h.db == db)
    # error log: start-up, rare "error reading" aborts from normal pool disposal, planted lines
    log = Lines()
    _startup(log, "x", START_MS - 3_600_000)
    t = START_MS
    while True:
        t += int(rng.exponential(3 * 3600 * 1000))
        if t >= end_ms:
            break
        near = any(abs(t - inc.t_ms) < 30 * 60_000 for inc in plan.incidents)
        if near:
            continue
        ip = f"10.0.1.{11 + int(rng.integers(0, len(plan.hosts)))}"
        tid = int(rng.integers(100, 90000))
        log.add("x", t, maria_line(t, tid, "Warning", aborted_text(tid, ip, ERROR_READING)))
    rows = sorted(log.by_file["x"] + planted.by_file.get(f"{db}/mariadb-error.log", []))
    data = "\n".join(r[2] for r in rows) + "\n"
    (folder / "mariadb-error.log").write_text(data, encoding="utf-8")
    sizes = {"mariadb-error.log": len(data.encode())}
    # status snapshots
    down = [(lo, hi) for name, lo, hi in effects["down"] if name == db]
    full = [(lo, hi) for name, lo, hi in effects["status"] if name == db]
    started = START_MS - 3_600_000
    counters = {
        "Aborted_clients": 12,
        "Aborted_connects": 3,
        "Connections": 4000,
        "Questions": 900_000,
        "Threads_created": 80,
    }
    max_used = 0
    chunks = []
    ts = START_MS + int(rng.integers(0, 60_000))
    restarts = sorted(down)
    while ts < end_ms:
        if any(lo <= ts < hi for lo, hi in down):
            ts += STATUS_EVERY_S * 1000
            continue
        for _lo, hi in restarts:
            if hi <= ts and started < hi - 5000:
                started = hi - 5000
                max_used = 0
        at_limit = any(lo <= ts < hi for lo, hi in full)
        threads = MAX_CONNECTIONS if at_limit else int(n_web * 3 + rng.integers(2, 12))
        max_used = max(max_used, threads)
        counters["Connections"] += int(rng.integers(0, 30))
        counters["Questions"] += int(rng.integers(5000, 40000))
        rows = [
            ("Aborted_clients", counters["Aborted_clients"]),
            ("Aborted_connects", counters["Aborted_connects"]),
            ("Connections", counters["Connections"]),
            ("Max_used_connections", max_used),
            ("Threads_cached", int(rng.integers(0, 8))),
            ("Threads_connected", threads),
            ("Threads_created", counters["Threads_created"]),
            ("Threads_running", int(rng.integers(1, 6))),
            ("Uptime", (ts - started) // 1000),
            ("Questions", counters["Questions"]),
            ("max_connections", MAX_CONNECTIONS),
            ("wait_timeout", WAIT_TIMEOUT_S),
            ("interactive_timeout", 28800),
            ("net_read_timeout", 30),
            ("connect_timeout", 10),
        ]
        chunks.append(
            f"# {iso_us(ts, int(rng.integers(0, 1000)))}\nVariable_name\tValue\n"
            + "".join(f"{k}\t{v}\n" for k, v in rows)
            + "\n"
        )
        ts += STATUS_EVERY_S * 1000 + int(rng.integers(-200, 200))
    data = "".join(chunks)
    (folder / "status.tsv").write_text(data, encoding="utf-8")
    sizes["status.tsv"] = len(data.encode())
    return sizes


PIPELINE_TOML = f"""\
# Hosts are the folder names (web-NN, db-N).  Application hosts log in UTC;
# the MariaDB servers write their error log in local time.
[defaults]
timezone = "UTC"

[[files]]
glob = "db-*/mariadb-error.log"
timezone = "{DB_ZONE}"
"""


def generate(
    size: int, seed: int, out: str | Path, quiet: bool = False, hosts: int | None = None, days: float | None = None
) -> dict:
    started = time.perf_counter()
    out = Path(out)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    plan = make_plan(size, seed, hosts, days)
    planted, effects = plant(plan)
    (logs / "pipeline.toml").write_text(PIPELINE_TOML, encoding="utf-8")
    files: dict[str, int] = {}
    for h in plan.hosts:
        for name, n in write_web_host(plan, h, logs, planted, effects).items():
            files[f"{h.name}/{name}"] = n
        if not quiet:
            print(
                f"  {h.name}: {sum(v for k, v in files.items() if k.startswith(h.name)) / 1e6:.1f} MB", file=sys.stderr
            )
    for db in plan.dbs:
        for name, n in write_db_host(plan, db, logs, planted, effects).items():
            files[f"{db}/{name}"] = n
    truth = [
        {"start": iso_us(i.truth_start_ms), "end": iso_us(i.truth_end_ms), "cause": i.cause}
        for i in sorted(plan.incidents, key=lambda i: i.truth_start_ms)
    ]
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    manifest = {
        "generator": "bench/generate.py",
        "seed": seed,
        "size_requested": size,
        "bytes": sum(files.values()),
        "start": iso_us(START_MS),
        "end": iso_us(START_MS + plan.span_s * 1000),
        "span_days": round(plan.span_s / 86400, 2),
        "hosts": [h.name for h in plan.hosts],
        "dbs": plan.dbs,
        "logs": "logs",
        "files": files,
        "app_logs": [k for k in files if k.endswith("/app.log")],
        "incidents": [
            {
                "cause": i.cause,
                "variant": i.variant,
                "first_failure": iso_us(i.t_ms),
                "hosts": i.hosts,
                "db": i.db,
                "start": iso_us(i.truth_start_ms),
                "end": iso_us(i.truth_end_ms),
            }
            for i in plan.incidents
        ],
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def append_app_lines(path: str | Path, nbytes: int, seed: int = 0) -> int:
    """Append about ``nbytes`` of background application lines after the file's last time stamp.

    Used by the incremental benchmark ("a log grew by 10 MB").
    """
    path = Path(path)
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65536))
        tail = fh.read().decode("utf-8", errors="replace")
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) - ", tail, re.M)
    last = dt.datetime.strptime(stamps[-1][0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    lo = int(last.timestamp() * 1000) + int(stamps[-1][1]) + 1
    app_b, _, _ = calibrate()
    n = int(nbytes / app_b)
    rng = np.random.default_rng([seed, 99])
    t = np.sort(rng.integers(lo, lo + n * 800, n))
    with open(path, "ab") as fh:
        return _write(fh, app_block(rng, t))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=parse_size, required=True, help="total bytes: 4MB, 200MB, 1GiB, 5GiB ...")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="output folder (logs/ and truth.json go there)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--hosts", type=int, help="application hosts (default: from --size)")
    ap.add_argument("--days", type=float, help="days the logs span (default: from --size, 35 at most)")
    args = ap.parse_args(argv)
    m = generate(args.size, args.seed, args.out, quiet=args.quiet, hosts=args.hosts, days=args.days)
    print(
        f"{m['bytes'] / 1e6:.1f} MB in {len(m['files'])} files, {len(m['hosts'])} hosts, "
        f"{m['span_days']} days, {len(m['incidents'])} incidents, {m['seconds']} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
