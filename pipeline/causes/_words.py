"""Small helpers for the sentences causes write (summaries and advice)."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def n(x: float | None) -> str:
    """A figure as people read it: no decimals from 10 on, one below."""
    return "?" if x is None else (f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}")


def iso(t_ms: float | None) -> str | None:
    """A time in ms since the epoch as ISO 8601 UTC, to the second."""
    if t_ms is None:
        return None
    return datetime.fromtimestamp(t_ms / 1000.0, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def hhmmss(t_ms: float) -> str:
    return datetime.fromtimestamp(t_ms / 1000.0, UTC).strftime("%H:%M:%S")


def recycle_for(limit_s: float) -> int:
    """A pool_recycle comfortably below an idle limit: 80% of it, rounded down."""
    value = limit_s * 0.8
    step = 10 if value >= 100 else (5 if value >= 20 else 1)
    return max(1, int(math.floor(value / step) * step))
