"""Freed memory goes back to the system after commits (pipeline.ingest.heap)."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from pathlib import Path

import pytest

from pipeline.ingest import heap
from pipeline.ingest.runner import ingest_paths

ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_a_ragged_heap_is_given_back():
    """Blocks freed below one still in use stay in the heap (free() only trims its top)
    until the trim returns their pages."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    size, count = 64 * 1024 - 64, 3200  # below the mmap threshold: from the heap; 200 MB
    blocks = [libc.malloc(size) for _ in range(count)]
    for b in blocks:
        libc.memset(b, 1, size)  # touched: resident
    keep = blocks.pop()  # the heap's top stays in use
    for b in blocks:
        libc.free(b)
    before = _rss_mb()
    assert heap.release_free_memory() is True
    after = _rss_mb()
    libc.free(keep)
    assert before - after > 100, (before, after)


def test_the_trim_waits_for_enough_written(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: calls.append(1) or True)
    trimmer = heap.Trimmer(every=100)
    trimmer.wrote(60)
    assert trimmer.after_commit() is False
    trimmer.wrote(60)
    assert trimmer.after_commit() is True
    assert trimmer.after_commit() is False  # counted again from nothing
    assert len(calls) == 1


def test_an_ingest_trims_after_its_commits(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(heap, "TRIM_EVERY_BYTES", 1)
    summary = ingest_paths([ROOT / "sample_logs" / "network"], db=tmp_path / "s.duckdb", correlate=False)
    assert summary.totals()["events"] > 0
    assert calls  # at least once per commit that wrote rows


_CHUNK_BUFFERS = """
import ctypes, ctypes.util, sys
from pipeline.ingest import heap
if sys.argv[1] == "fixed":
    assert heap.keep_large_blocks_mapped() is True
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
first = libc.malloc(8 << 20)  # a chunk's buffer, freed: glibc may raise its threshold to it
libc.memset(first, 1, 8 << 20)
libc.free(first)
blocks = [libc.malloc(2 << 20) for _ in range(60)]  # the next chunks' buffers, 120 MB
for b in blocks:
    libc.memset(b, 1, 2 << 20)
keep = blocks.pop()  # one still in use above the others
before = rss()
for b in blocks:
    libc.free(b)
print(before - rss())
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_chunk_sized_buffers_go_back_when_freed():
    """With glibc's moving threshold, buffers of a chunk's size come from the heap once one
    was freed, and stay there when freed (RSS crept by 100 MB over a 5 GiB ingest); with the
    threshold fixed at 1 MB each is mapped on its own and unmapped when freed."""
    import subprocess
    import sys

    def given_back(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _CHUNK_BUFFERS, mode], capture_output=True, text=True, check=True, cwd=ROOT
        )
        return float(out.stdout)

    assert given_back("fixed") > 100
    assert given_back("moving") < 20  # what the fix is for


def test_an_ingest_fixes_the_threshold(tmp_path, monkeypatch):
    from pipeline.ingest import runner

    calls = []
    monkeypatch.setattr(runner, "keep_large_blocks_mapped", lambda: calls.append(1) or True)
    (tmp_path / "app.log").write_text("2026-11-20 10:00:00,000 - app - INFO - hello\n")
    ingest_paths([tmp_path / "app.log"], tmp_path / "s.duckdb", correlate=False)
    assert calls == [1]
