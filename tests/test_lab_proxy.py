"""The chaos proxy against a real TCP echo server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from lab.proxy import ChaosProxy


class EchoServer:
    """An asyncio echo server in a background thread."""

    def __init__(self):
        self.port = 0
        self.connections = 0
        self.closed_by_peer = 0
        self._ready = threading.Event()
        self._loop = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def handle(reader, writer):
            self.connections += 1
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            self.closed_by_peer += 1
            writer.close()

        server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        server.close()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def echo():
    with EchoServer() as server:
        yield server


@pytest.fixture
def proxy(echo):
    with ChaosProxy("127.0.0.1", echo.port, seed=1) as p:
        yield p


def connect(proxy, timeout=3.0) -> socket.socket:
    s = socket.create_connection(proxy.address, timeout=timeout)
    s.settimeout(timeout)
    return s


def roundtrip(s: socket.socket, payload: bytes = b"ping") -> float:
    t0 = time.monotonic()
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        got += chunk
    assert got == payload
    return time.monotonic() - t0


def test_forwards_both_ways(proxy, echo):
    s = connect(proxy)
    assert roundtrip(s, b"hello") < 0.2
    assert roundtrip(s, b"x" * 200_000) < 2
    s.close()
    assert echo.connections == 1


def test_latency_and_jitter(proxy):
    s = connect(proxy)
    base = roundtrip(s)
    proxy.set_latency(150, jitter_ms=50)
    rtts = [roundtrip(s) for _ in range(5)]
    # Each direction is delayed 100-200 ms.
    assert all(0.19 <= r <= 0.6 for r in rtts), rtts
    proxy.set_latency(0)
    assert roundtrip(s) < base + 0.1
    s.close()


def test_latency_keeps_order(proxy):
    s = connect(proxy)
    proxy.set_latency(50, jitter_ms=45)
    for i in range(20):
        s.sendall(b"%03d" % i)
    got = b""
    while len(got) < 60:
        got += s.recv(1024)
    assert got == b"".join(b"%03d" % i for i in range(20))
    s.close()


def test_blackhole_holds_then_releases(proxy):
    s = connect(proxy, timeout=0.5)
    roundtrip(s)
    proxy.set_blackhole(True)
    s.sendall(b"lost?")
    with pytest.raises(socket.timeout):
        s.recv(100)
    proxy.set_blackhole(False)
    s.settimeout(3)
    assert s.recv(100) == b"lost?"
    s.close()


def test_blackhole_swallows_new_connections(proxy, echo):
    proxy.set_blackhole(True)
    s = connect(proxy, timeout=0.5)
    s.sendall(b"hello")
    with pytest.raises(socket.timeout):
        s.recv(100)
    assert echo.connections == 0
    proxy.set_blackhole(False)
    s.settimeout(3)
    assert s.recv(100) == b"hello"
    s.close()


def test_reset_all(proxy):
    s1, s2 = connect(proxy), connect(proxy)
    roundtrip(s1)
    roundtrip(s2)
    assert proxy.reset_all() == 2
    for s in (s1, s2):
        with pytest.raises(ConnectionResetError):
            s.sendall(b"after reset")
            s.recv(100)
        s.close()
    assert proxy.stats.resets == 2
    # New connections still work.
    s3 = connect(proxy)
    roundtrip(s3)
    s3.close()


def test_idle_kill_silent(proxy, echo):
    proxy.set_idle_kill(0.6, mode="silent")
    busy, idle = connect(proxy, timeout=0.8), connect(proxy, timeout=0.8)
    roundtrip(busy)
    roundtrip(idle)
    for _ in range(8):  # 1.6 s of traffic keeps the busy one alive
        time.sleep(0.2)
        roundtrip(busy)
    assert proxy.stats.idle_kills == 1
    # The idle one gets no answer and no error: the next read just times out.
    idle.sendall(b"anyone?")
    with pytest.raises(socket.timeout):
        idle.recv(100)
    # ...and the server was not told either.
    assert echo.closed_by_peer == 0
    busy.close()
    idle.close()


def test_idle_kill_rst(proxy, echo):
    proxy.set_idle_kill(0.4, mode="rst")
    s = connect(proxy)
    roundtrip(s)
    time.sleep(1.0)
    assert proxy.stats.idle_kills == 1
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        s.sendall(b"after idle")
        if not s.recv(100):
            raise ConnectionResetError("closed")
    s.close()
    time.sleep(0.2)
    assert echo.closed_by_peer == 1


def test_idle_kill_off_keeps_connections(proxy):
    s = connect(proxy)
    roundtrip(s)
    time.sleep(0.8)
    roundtrip(s)
    assert proxy.stats.idle_kills == 0
    s.close()


def test_upstream_refused_resets_client():
    with socket.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        dead_port = tmp.getsockname()[1]
    with ChaosProxy("127.0.0.1", dead_port) as p:
        # the reset may come before connect() returns, on a loaded machine
        with pytest.raises((ConnectionResetError, ConnectionError)):
            s = connect(p)
            try:
                s.sendall(b"x")
                if not s.recv(100):
                    raise ConnectionError("closed")
            finally:
                s.close()
        assert p.stats.upstream_failed == 1
