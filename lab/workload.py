"""The lab's application: SQLAlchemy 2.x workers with a real driver and real logging.

Workers run jobs (a small transaction on ``lab.orders``) separated by random
idle gaps.  Workers belong to groups; a *phase* sets, per group, the idle gap,
how long a job holds its connection, and whether the group works at all, so a
scenario can change the application's behaviour while it runs.

Logging is what a real service would have (all timestamps UTC):

- ``app.log``: ``%(asctime)s - %(name)s - %(levelname)s - %(message)s``, with
  tracebacks from ``logger.exception``, and the tutorial-style pool listener
  messages on the ``app.db`` logger;
- ``app.jsonl``: the same events as JSON lines;
- ``sqlalchemy.log``: SQLAlchemy's own ``sqlalchemy.pool`` logging at DEBUG
  (``sqlalchemy.engine`` at WARNING) in SQLAlchemy's echo format.  With
  ``pool_debug=False`` there is no such file, as in a tutorial-style service
  that only writes its own listener lines: SQLAlchemy's loggers are left as
  they are (no handler, no level), so nothing of SQLAlchemy's is recorded.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

APP_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
SQLALCHEMY_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class UTCFormatter(logging.Formatter):
    converter = time.gmtime


class JSONLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out = {
            "timestamp": ts,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class LabLogging:
    """Attaches the log files; ``close()`` detaches them again.

    ``pool_debug=False`` writes no ``sqlalchemy.log`` at all (only ``app.log``
    and ``app.jsonl``), as a service that logs nothing but its own listener
    lines would.
    """

    def __init__(self, out_dir: str | Path, pool_debug: bool = True):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.handlers: list[tuple[logging.Logger, logging.Handler, int, bool]] = []
        text = logging.FileHandler(out / "app.log", encoding="utf-8")
        text.setFormatter(UTCFormatter(APP_FORMAT))
        js = logging.FileHandler(out / "app.jsonl", encoding="utf-8")
        js.setFormatter(JSONLineFormatter())
        self._attach(logging.getLogger("app"), text, logging.INFO)
        self._attach(logging.getLogger("app"), js, logging.INFO)
        if pool_debug:
            sa = logging.FileHandler(out / "sqlalchemy.log", encoding="utf-8")
            sa.setFormatter(UTCFormatter(SQLALCHEMY_FORMAT))
            self._attach(logging.getLogger("sqlalchemy.pool"), sa, logging.DEBUG)
            self._attach(logging.getLogger("sqlalchemy.engine"), sa, logging.WARNING)

    def _attach(self, logger: logging.Logger, handler: logging.Handler, level: int) -> None:
        self.handlers.append((logger, handler, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False

    def close(self) -> None:
        for logger, handler, level, propagate in reversed(self.handlers):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
            handler.close()
        self.handlers = []


@dataclass
class GroupPhase:
    """How a group of workers behaves during one phase."""

    gap: tuple[float, float] = (0.5, 3.0)  # idle seconds between jobs
    hold: tuple[float, float] = (0.0, 0.0)  # seconds a job keeps its connection (SELECT SLEEP)
    active: bool = True


@dataclass
class PoolSettings:
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_recycle: int = -1
    pool_pre_ping: bool = False
    listener_ping: bool = False  # tutorial-style ping in a checkout listener

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def engine_options(self) -> dict:
        """The keyword arguments of SQLAlchemy's ``create_engine`` (``listener_ping`` is the workload's own)."""
        return {k: v for k, v in self.as_dict().items() if k != "listener_ping"}


@dataclass
class WorkerState:
    name: str
    group: str
    jobs: int = 0
    failures: int = 0
    last_start: float = 0.0  # monotonic
    last_end: float = 0.0
    busy: bool = False


def make_engine(url: str, pool: PoolSettings, timeout: float, driver: str):
    """A SQLAlchemy engine with the tutorial-style listeners attached."""
    from sqlalchemy import create_engine, event, exc

    if driver == "mysqlconnector":
        # connection_timeout only covers connecting; reads need read_timeout.
        connect_args = {
            "connection_timeout": int(timeout),
            "read_timeout": int(timeout),
            "write_timeout": int(timeout),
            "use_pure": True,
        }
    else:
        connect_args = {"connect_timeout": int(timeout), "read_timeout": int(timeout), "write_timeout": int(timeout)}
    engine = create_engine(url, **pool.engine_options(), connect_args=connect_args)
    log = logging.getLogger("app.db")

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        log.info("Database connection established.")

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, connection_record, connection_proxy):
        if pool.listener_ping:
            cursor = None
            try:
                cursor = dbapi_connection.cursor()
                cursor.execute("SELECT 1")
                cursor.fetchall()
            except Exception as e:
                log.warning("Connection ping failed during checkout: %s", e)
                raise exc.DisconnectionError() from e
            finally:
                if cursor is not None:
                    try:
                        cursor.close()
                    except Exception:
                        pass
        log.info("Connection checked out from pool.")

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection, connection_record):
        log.info("Connection returned to pool.")

    return engine


class Workload:
    """Worker threads running jobs against ``url``.

    ``groups`` maps a group name to its worker count; ``phases`` maps a phase
    name to ``{group: GroupPhase}``.  With ``engine_per_worker`` every worker
    has its own engine (as separate service processes would), so a worker's
    idle gap is exactly its connection's idle time.
    """

    def __init__(
        self,
        url: str,
        driver: str,
        pool: PoolSettings,
        groups: dict[str, int],
        phases: dict[str, dict[str, GroupPhase]],
        initial_phase: str = "normal",
        engine_per_worker: bool = False,
        timeout: float = 5.0,
        seed: int = 7,
    ):
        self.url = url
        self.driver = driver
        self.pool = pool
        self.groups = groups
        self.phases = phases
        self.phase = initial_phase
        self.engine_per_worker = engine_per_worker
        self.timeout = timeout
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._phase_changed = threading.Condition()
        self.workers: list[WorkerState] = []
        self._threads: list[threading.Thread] = []
        self._engines: list = []
        self.log = logging.getLogger("app.worker")

    # --------------------------------------------------------------- control
    def start(self) -> Workload:
        shared = None if self.engine_per_worker else self._engine()
        n = 0
        for group, count in self.groups.items():
            for i in range(count):
                n += 1
                state = WorkerState(name=f"{group}-{i + 1}", group=group)
                engine = self._engine() if self.engine_per_worker else shared
                rng = random.Random(self._rng.random())
                t = threading.Thread(target=self._loop, args=(state, engine, rng), name=state.name, daemon=True)
                self.workers.append(state)
                self._threads.append(t)
        logging.getLogger("app").info(
            "Service starting with %d workers (%s).", n, ", ".join(f"{g}={c}" for g, c in self.groups.items())
        )
        for t in self._threads:
            t.start()
        return self

    def _engine(self):
        engine = make_engine(self.url, self.pool, self.timeout, self.driver)
        self._engines.append(engine)
        return engine

    def set_phase(self, name: str) -> None:
        if name not in self.phases:
            raise KeyError(name)
        with self._phase_changed:
            self.phase = name
            self._phase_changed.notify_all()

    def settle(self, since: float, timeout: float = 60.0) -> bool:
        """Wait until every active worker has finished a job started after ``since`` (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = [
                w
                for w in self.workers
                if self._spec(w.group).active and not (w.last_start > since and w.last_end >= w.last_start)
            ]
            if not pending:
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        with self._phase_changed:
            self._phase_changed.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        for engine in self._engines:
            try:
                engine.dispose()
            except Exception:
                pass
        logging.getLogger("app").info("Service stopped.")

    # ---------------------------------------------------------------- worker
    def _spec(self, group: str) -> GroupPhase:
        return self.phases[self.phase].get(group, GroupPhase(active=False))

    def _loop(self, state: WorkerState, engine, rng: random.Random) -> None:
        phase = self.phase
        while not self._stop.is_set():
            spec = self._spec(state.group)
            if not spec.active:
                with self._phase_changed:
                    self._phase_changed.wait(0.5)
                continue
            gap = rng.uniform(*spec.gap)
            # Sleep the idle gap, but wake early when the phase changes to a shorter gap.
            deadline = time.monotonic() + gap
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with self._phase_changed:
                    self._phase_changed.wait(min(left, 0.5))
                if self.phase != phase:
                    phase = self.phase
                    new = self._spec(state.group)
                    if not new.active:
                        break
                    deadline = min(deadline, time.monotonic() + rng.uniform(*new.gap))
            if self._stop.is_set():
                break
            spec = self._spec(state.group)
            if spec.active:
                self._job(state, engine, rng, spec)

    def _job(self, state: WorkerState, engine, rng: random.Random, spec: GroupPhase) -> None:
        from sqlalchemy import exc, text

        state.jobs += 1
        job = state.jobs
        state.busy = True
        state.last_start = time.monotonic()
        t0 = time.perf_counter()
        try:
            with engine.connect() as conn:
                amount = round(rng.uniform(1, 500), 2)
                conn.execute(
                    text("INSERT INTO orders (worker, amount) VALUES (:w, :a)"),
                    {"w": state.name, "a": amount},
                )
                total = conn.execute(
                    text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM orders WHERE worker = :w"),
                    {"w": state.name},
                ).one()
                hold = rng.uniform(*spec.hold) if spec.hold[1] > 0 else 0.0
                if hold > 0:
                    conn.execute(text("SELECT SLEEP(:s)"), {"s": round(hold, 2)})
                conn.commit()
            self.log.info(
                "Job %s#%d done in %.1f ms (%d orders)", state.name, job, (time.perf_counter() - t0) * 1000, total[0]
            )
        except exc.TimeoutError:
            state.failures += 1
            self.log.exception("Job %s#%d failed: no database connection available", state.name, job)
        except exc.DBAPIError:
            state.failures += 1
            self.log.exception("Job %s#%d failed: database error", state.name, job)
        except Exception:
            state.failures += 1
            self.log.exception("Job %s#%d failed: unexpected error", state.name, job)
        finally:
            state.last_end = time.monotonic()
            state.busy = False
