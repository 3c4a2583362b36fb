"""A chaos TCP proxy (asyncio) that plays the network between application and server.

It runs its own event loop in a background thread and is controlled from any
thread while it runs:

- ``set_latency(ms, jitter_ms)``: delay every chunk, each direction, by
  ``ms`` +/- ``jitter_ms`` (order is kept, as TCP would);
- ``set_blackhole(True)``: forward nothing, silently.  Data is held, not lost
  (TCP would retransmit it), and delivered when the blackhole lifts, by which
  time a client with a read timeout has usually given up.  New connections are
  accepted but not connected upstream until it lifts;
- ``reset_all()``: send RST to both ends of every open connection;
- ``set_idle_kill(seconds, mode)``: drop a connection idle for more than
  ``seconds``, as cloud firewalls and load balancers do.  ``mode="silent"``
  forgets the connection without telling anyone (later packets go nowhere; the
  server side is left as it is), ``mode="rst"`` answers both ends with RST.

``stats`` counts connections, kills and resets.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

CHUNK = 65536


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST instead of FIN (SO_LINGER on, timeout 0)."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


@dataclass
class ProxyStats:
    accepted: int = 0
    upstream_failed: int = 0
    idle_kills: int = 0
    resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class _Conn:
    cid: int
    client_r: asyncio.StreamReader
    client_w: asyncio.StreamWriter
    up_r: asyncio.StreamReader | None = None
    up_w: asyncio.StreamWriter | None = None
    last_activity: float = field(default_factory=time.monotonic)
    dead: bool = False  # silently dropped: nothing is forwarded any more
    closed: bool = False
    tasks: list = field(default_factory=list)


class ChaosProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        seed: int | None = None,
    ):
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.latency_ms = 0.0
        self.jitter_ms = 0.0
        self.blackhole = False
        self.idle_kill_s: float | None = None
        self.idle_kill_mode = "silent"
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._conns: dict[int, _Conn] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._blackhole_lifted: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopping = False

    # ------------------------------------------------------------ public API
    @property
    def address(self) -> tuple[str, int]:
        return self.listen_host, self.listen_port

    def start(self) -> ChaosProxy:
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            fut.result(10)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> ChaosProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_latency(self, ms: float, jitter_ms: float = 0.0) -> None:
        self.latency_ms, self.jitter_ms = float(ms), float(jitter_ms)

    def set_blackhole(self, on: bool) -> None:
        self._call(self._set_blackhole, bool(on))

    def set_idle_kill(self, seconds: float | None, mode: str = "silent") -> None:
        if mode not in ("silent", "rst"):
            raise ValueError("idle kill mode is 'silent' or 'rst'")
        self.idle_kill_mode = mode
        self.idle_kill_s = seconds

    def reset_all(self) -> int:
        """RST every open connection (both ends); returns how many."""
        return self._call(self._reset_all, wait=True)

    def open_connections(self) -> int:
        return sum(1 for c in self._conns.values() if not c.closed and not c.dead)

    # ------------------------------------------------------------- internals
    def _call(self, fn, *args, wait: bool = False):
        if self._loop is None:
            raise RuntimeError("proxy not running")

        async def _do():
            return fn(*args)

        fut = asyncio.run_coroutine_threadsafe(_do(), self._loop)
        return fut.result(10) if wait else None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._blackhole_lifted = asyncio.Event()
        self._blackhole_lifted.set()
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.listen_host, self.listen_port))
        self.listen_port = self._server.sockets[0].getsockname()[1]
        watchdog = loop.create_task(self._watchdog())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            watchdog.cancel()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _shutdown(self) -> None:
        self._stopping = True
        if self._server:
            self._server.close()
        for conn in list(self._conns.values()):
            self._close(conn)

    def _set_blackhole(self, on: bool) -> None:
        self.blackhole = on
        if on:
            self._blackhole_lifted.clear()
        else:
            self._blackhole_lifted.set()

    def _reset_all(self) -> int:
        n = 0
        for conn in list(self._conns.values()):
            if not conn.closed:
                self._close(conn, rst=True)
                n += 1
        self.stats.resets += n
        return n

    def _close(self, conn: _Conn, rst: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        for w in (conn.client_w, conn.up_w):
            if w is None:
                continue
            if rst:
                _rst(w)
            else:
                try:
                    w.close()
                except Exception:
                    pass
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._conns.pop(conn.cid, None)

    def _kill_idle(self, conn: _Conn) -> None:
        self.stats.idle_kills += 1
        if self.idle_kill_mode == "rst":
            self._close(conn, rst=True)
        else:
            # Forget it: keep both sockets open, forward nothing, answer nothing.
            conn.dead = True

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            limit = self.idle_kill_s
            if not limit:
                continue
            now = time.monotonic()
            for conn in list(self._conns.values()):
                if not conn.closed and not conn.dead and now - conn.last_activity > limit:
                    self._kill_idle(conn)

    def _delay(self) -> float:
        if not self.latency_ms and not self.jitter_ms:
            return 0.0
        ms = self.latency_ms + self._rng.uniform(-self.jitter_ms, self.jitter_ms)
        return max(0.0, ms) / 1000.0

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._next_id += 1
        conn = _Conn(self._next_id, client_r, client_w)
        self._conns[conn.cid] = conn
        self.stats.accepted += 1
        conn.tasks.append(asyncio.current_task())
        try:
            # A blackhole also swallows the handshake with the server.
            while self.blackhole:
                await self._blackhole_lifted.wait()
            if conn.closed or client_r.at_eof():
                self._close(conn)
                return
            try:
                conn.up_r, conn.up_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                # As an L4 balancer does when its backend refuses: reset the client.
                self.stats.upstream_failed += 1
                self._close(conn, rst=True)
                return
            conn.last_activity = time.monotonic()
            q_up: asyncio.Queue = asyncio.Queue()
            q_down: asyncio.Queue = asyncio.Queue()
            conn.tasks += [
                asyncio.ensure_future(self._pump(conn, client_r, q_up, "up")),
                asyncio.ensure_future(self._pump(conn, conn.up_r, q_down, "down")),
                asyncio.ensure_future(self._deliver(conn, q_up, conn.up_w)),
                asyncio.ensure_future(self._deliver(conn, q_down, client_w)),
            ]
            await asyncio.gather(*conn.tasks[1:], return_exceptions=True)
        except asyncio.CancelledError:
            pass
        finally:
            if not conn.dead:
                self._close(conn)

    async def _pump(self, conn: _Conn, reader: asyncio.StreamReader, queue: asyncio.Queue, direction: str) -> None:
        last_due = 0.0
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            if conn.dead:
                if not data:
                    # Whoever hangs up on a forgotten connection is not told anything.
                    return
                continue
            if not data:
                await queue.put((0.0, None))
                return
            conn.last_activity = time.monotonic()
            if direction == "up":
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)
            due = max(time.monotonic() + self._delay(), last_due)
            last_due = due
            await queue.put((due, data))

    async def _deliver(self, conn: _Conn, queue: asyncio.Queue, writer: asyncio.StreamWriter) -> None:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            while self.blackhole:
                await self._blackhole_lifted.wait()
            if conn.dead:
                continue
            if data is None:
                # One side hung up: pass the FIN on and close the pair.
                self._close(conn)
                return
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                self._close(conn)
                return
