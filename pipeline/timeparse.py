"""The one reader of durations (``"10m"``, ``"1h30m"``, ``"7d"``) and of points in time
(an ISO time, or a duration before now), for the library, the commands and the digest."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

UTC = dt.UTC

_DURATION_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(value: str | float | int | dt.timedelta) -> dt.timedelta:
    """``"10m"``, ``"1h30m"``, ``"7d"``, ``"45s"``, a number of seconds, or a timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.timedelta(seconds=float(value))
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("empty duration")
    try:
        return dt.timedelta(seconds=float(text))
    except ValueError:
        pass
    total = 0.0
    pos = 0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos or m.group(2) not in _DURATION_UNITS:
            raise ValueError(f"not a duration: {value!r} (try '10m', '24h', '7d')")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"not a duration: {value!r} (try '10m', '24h', '7d')")
    return dt.timedelta(seconds=total)


def parse_time(value: Any, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """A UTC-aware datetime from a datetime, date, ISO string, or a duration before ``now``."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (dt.timedelta, int, float)) and not isinstance(value, bool):
        return (now or dt.datetime.now(UTC)) - parse_duration(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            try:
                delta = parse_duration(text)
            except ValueError:
                raise ValueError(
                    f"not a time: {value!r} (an ISO time like '2025-01-31T12:00', or a duration like '24h')"
                ) from None
            return (now or dt.datetime.now(UTC)) - delta
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"not a time: {value!r}")


__all__ = ["parse_duration", "parse_time"]
