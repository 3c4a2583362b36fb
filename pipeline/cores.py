"""How many processor cores a command may use, and keeping it to fewer.

``pipeline ingest --jobs N`` means N cores, as a user who asks for one job expects: one file
read at a time would still keep two cores busy (polars and DuckDB run threads of their own
beside the reader, the parser and the writer), so the process itself is kept to N cores.
"""

from __future__ import annotations

import os


def available() -> int:
    """The cores this process may run on (its affinity on Linux, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def limit_to(n: int) -> int:
    """Keep every thread of this process, and those it starts later, on ``n`` of the cores it
    may use now; return how many it may use after.  Nothing changes where affinity cannot
    be set (not Linux) or ``n`` is not fewer than the cores available."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
    if n >= len(allowed):
        return len(allowed)
    keep = set(allowed[:n])
    # affinity is per thread on Linux: threads already started (DuckDB's, polars') each need it,
    # and threads started later inherit it from the thread that starts them
    for tid in _threads():
        try:
            os.sched_setaffinity(tid, keep)
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            continue
    os.sched_setaffinity(0, keep)
    # polars sizes its pool from this when it is first imported
    os.environ.setdefault("POLARS_MAX_THREADS", str(n))
    return n


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return []


__all__ = ["available", "limit_to"]
