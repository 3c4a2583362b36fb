"""Faults that are not the network: a connection burst from another client."""

from __future__ import annotations

import threading
import time


class ConnectionBurst:
    """Another client (a batch job) grabbing every free connection slot.

    While on, it opens connections to the server until it is refused with
    1040, holds them, and keeps trying to top up, so that any slot the
    application gives back is taken.  ``stop()`` closes them all politely.
    """

    def __init__(self, host: str, port: int, user: str, password: str, limit: int = 500):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.limit = limit
        self.conns: list = []
        self.refused = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ConnectionBurst:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="burst", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import pymysql

        while not self._stop.is_set():
            while len(self.conns) < self.limit and not self._stop.is_set():
                try:
                    self.conns.append(
                        pymysql.connect(
                            host=self.host, port=self.port, user=self.user, password=self.password, connect_timeout=3
                        )
                    )
                    self.peak = max(self.peak, len(self.conns))
                except pymysql.err.OperationalError:
                    self.refused += 1
                    break
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        for conn in self.conns:
            try:
                conn.close()
            except Exception:
                pass
        self.conns = []
        time.sleep(0.1)
