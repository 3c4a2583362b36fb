"""Giving the memory a run has freed back to the system, and keeping the C heaps from
growing ragged in the first place.

glibc's allocator keeps the pages of freed blocks in its heaps for the next
allocations; with several threads allocating chunks' buffers in turn (reader, parser,
stager, DuckDB's writer) the heaps grow ragged and keep more than they reuse.  On a
5 GiB tree's 22 application logs of 198 MB (8 MB chunks) peak RSS crept from 575 to
673 MB over the run; trimming the heaps after each commit kept it near 600 MB.
Elsewhere (musl, macOS) there is nothing to trim and this does nothing.

Trimming after commits was not enough once chunks grew to 8 MB again: glibc raises its
mmap threshold to the size of each large block freed (up to 32 MB), so after the first
chunk every chunk-sized buffer came from the heaps, and peak RSS crept from 584 to 692
MB over the 22 logs.  :func:`keep_large_blocks_mapped` fixes the threshold at 1 MB: a
buffer that large is mapped on its own and unmapped when freed, and the same run stayed
at 570-595 MB, in the same time (53.7 against 54.8 s).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any

# At most one trim per this much written: a trim walks every heap (a few ms), which a
# run of thousands of small files would otherwise pay at every commit.
TRIM_EVERY_BYTES = 32 * 1024 * 1024


def _glibc(name: str) -> Any | None:
    """The C library's function ``name``, or None where it has none (not glibc)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


# Blocks at least this large are mapped on their own (see the module doc).
MMAP_THRESHOLD_BYTES = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def keep_large_blocks_mapped() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES`` for the rest of the process
    (once); False where the C library has no ``mallopt``.  A process that ingests keeps
    it: glibc cannot go back to a moving threshold, and a fixed one costs nothing
    measurable elsewhere."""
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_free_memory() -> bool:
    """Return the free pages of the C heaps to the system; False where that cannot be done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class Trimmer:
    """Calls :func:`release_free_memory` once at least ``every`` bytes were written since the last call."""

    def __init__(self, every: int | None = None):
        self.every = TRIM_EVERY_BYTES if every is None else every
        self.written = 0

    def wrote(self, nbytes: int) -> None:
        self.written += nbytes

    def after_commit(self) -> bool:
        """Trim if enough was written; whether it trimmed."""
        if self.written < self.every:
            return False
        self.written = 0
        return release_free_memory()
