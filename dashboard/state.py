"""The dashboard's view state, and its round trip through the URL.

Everything that defines a view (page, time range, hosts, causes, sources,
incident) lives in ``st.query_params``, so a link to a view can be shared.
Values from the URL are untrusted: they are parsed and checked against what
the store holds before any widget or query sees them; whatever does reach SQL
goes as a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

PAGES: dict[str, str] = {
    "overview": "Overview",
    "incidents": "Incidents",
    "incident": "Incident",
    "health": "Data health",
}

# Presets are relative to the newest data in the store, not to the wall clock:
# logs are usually looked at after the fact.
RANGES: dict[str, tuple[str, dt.timedelta | None]] = {
    "all": ("Everything", None),
    "1h": ("Last hour of data", dt.timedelta(hours=1)),
    "6h": ("Last 6 hours of data", dt.timedelta(hours=6)),
    "24h": ("Last 24 hours of data", dt.timedelta(hours=24)),
    "7d": ("Last 7 days of data", dt.timedelta(days=7)),
    "30d": ("Last 30 days of data", dt.timedelta(days=30)),
    "custom": ("Custom…", None),
}

SOURCES: dict[str, str] = {
    "app": "Application errors",
    "sqlalchemy": "SQLAlchemy pool",
    "server": "Server log",
    "latency": "Latency",
    "metrics": "Connections",
}

MAX_VALUE_LEN = 200  # longer URL values are cut before anything looks at them


@dataclass
class View:
    page: str = "overview"
    range: str = "all"
    start: dt.datetime | None = None  # custom range, UTC
    end: dt.datetime | None = None
    hosts: list[str] = field(default_factory=list)  # empty: all
    causes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    incident: str | None = None
    ignored: list[str] = field(default_factory=list)  # URL values that were dropped, for a notice

    def to_params(self) -> dict[str, str | list[str]]:
        """The query parameters for this view (defaults left out)."""
        out: dict[str, str | list[str]] = {}
        if self.page != "overview":
            out["page"] = self.page
        if self.range != "all":
            out["range"] = self.range
        if self.range == "custom":
            if self.start:
                out["start"] = format_ts(self.start)
            if self.end:
                out["end"] = format_ts(self.end)
        if self.hosts:
            out["host"] = list(self.hosts)
        if self.causes:
            out["cause"] = list(self.causes)
        if self.sources:
            out["source"] = list(self.sources)
        if self.page == "incident" and self.incident:
            out["incident"] = self.incident
        return out


def format_ts(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str | None) -> dt.datetime | None:
    """An ISO-8601 timestamp (naive means UTC); None when it is not one."""
    if not text:
        return None
    text = text.strip()[:MAX_VALUE_LEN]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        ts = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    if not (1970 <= ts.year <= 9999):
        return None
    return ts.astimezone(dt.UTC)


def _one(params, key: str) -> str | None:
    values = params.get_all(key) if hasattr(params, "get_all") else params.get(key, [])
    if isinstance(values, str):
        values = [values]
    return values[0][:MAX_VALUE_LEN] if values else None


def _many(params, key: str) -> list[str]:
    values = params.get_all(key) if hasattr(params, "get_all") else params.get(key, [])
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        # st.query_params keeps repeated keys; a comma list is accepted too
        for part in str(value).split(","):
            part = part.strip()[:MAX_VALUE_LEN]
            if part and part not in out:
                out.append(part)
    return out


def from_params(params, *, hosts: list[str], causes: list[str]) -> View:
    """Parse the query parameters into a ``View``, dropping what the store does not know."""
    view = View()
    ignored: list[str] = []
    page = _one(params, "page")
    if page in PAGES:
        view.page = page
    elif page:
        ignored.append(f"page={page}")
    rng = _one(params, "range")
    if rng in RANGES:
        view.range = rng
    elif rng:
        ignored.append(f"range={rng}")
    if view.range == "custom":
        for key in ("start", "end"):
            raw = _one(params, key)
            ts = parse_ts(raw)
            if raw and ts is None:
                ignored.append(f"{key}={raw}")
            setattr(view, key, ts)
    for key, attr, allowed in (
        ("host", "hosts", hosts),
        ("cause", "causes", causes),
        ("source", "sources", list(SOURCES)),
    ):
        for value in _many(params, key):
            if value in allowed:
                getattr(view, attr).append(value)
            else:
                ignored.append(f"{key}={value}")
    incident = _one(params, "incident")
    if incident:
        view.incident = incident  # checked against the store by the incident page
    view.ignored = ignored
    return view


def time_window(view: View, first: dt.datetime | None, last: dt.datetime | None):
    """The (start, end) a view covers, given the store's data span; (None, None) when empty."""
    if first is None or last is None:
        return None, None
    if view.range == "custom":
        start = view.start or first
        end = view.end or last
        if end < start:
            start, end = end, start
        return start, end
    delta = RANGES.get(view.range, (None, None))[1]
    if delta is None:
        return first, last
    return max(first, last - delta), last
