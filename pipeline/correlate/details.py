"""What correlation records about each incident beyond its verdict, as one typed structure.

Stored as JSON in ``incidents.details`` with a ``version``; ``pipeline.api.Incident`` reads it
back into :class:`IncidentDetails`, so nothing downstream guesses keys.  A store written before
the version existed reads as version 0: the same fields, whatever of them it holds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DETAILS_VERSION = 1


@dataclass
class IncidentDetails:
    version: int = DETAILS_VERSION
    scores: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # every cause with evidence: score, explained, parts
    features: dict[str, Any] = field(default_factory=dict)  # the facts the causes were scored from
    # idle connections: the limit inferred per host (ok_max_s, fail_min_s, fail_max_s, failed_over,
    # failed_total, ok_over, ok_total), the one most failures were over, and who closed them
    idle_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    idle_limit: dict[str, Any] | None = None
    wait_timeout: float | None = None  # the server's, from status snapshots
    idle_closed_by_server: bool = False
    server_abort_lines: int = 0  # "Got timeout reading communication packets" aborts
    server_reset_lines: int = 0  # "Got an error reading/writing communication packets" aborts
    # products whose default idle limit fits the inferred one (pipeline/catalogue/idle_limits.toml):
    # product, setting, seconds, behaviour, how_to_change, source
    limit_matches: list[dict[str, Any]] = field(default_factory=list)
    # the application's pool settings that bear on the verdict: from [pool] in pipeline.toml,
    # else what the logs show (pool_pre_ping, pool_recycle, a checkout listener's ping)
    pool_settings: dict[str, Any] = field(default_factory=dict)
    pool_settings_from: str | None = None  # "pipeline.toml", "the logs" or both
    # the application's pools
    pool_size: int | None = None
    max_overflow: int | None = None
    pool_timeout_s: float | None = None
    waiting_peak: int | None = None  # requests left waiting at once for a connection
    demand_peak: int | None = None  # connections wanted at once: the pool's size plus the waiting
    app_connections_peak: int | None = None  # connections the application's pools held at once
    app_hosts_with_pool_lines: int | None = None
    processes: int | None = None
    # the server going away
    restart_at: str | None = None
    crashed: bool = False
    downtime_s: float | None = None
    server_came_back: bool | None = None  # a start after the stop (None: no stop seen)
    server_only: bool = False  # only the server's log saw the incident
    episode_incidents: int | None = None
    # rows of each kind of evidence in the whole store (app, pool_debug, server, latency, metrics)
    sources_in_store: dict[str, int] = field(
        default_factory=dict
    )  # incidents of one cause merged into this one (an episode)

    # an unknown verdict: the nearest server line and the latency around the failures that did
    # not count, each with why (server: ts, kind, host, file, line_no, message,
    # seconds_from_failures, why_not; latency: samples, lost, max_rtt_ms, median_rtt_ms, why_not)
    nearest_unused: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def build(cls, scores: dict[str, Any], features: dict[str, Any], det: dict[str, Any]) -> IncidentDetails:
        """From what correlation computed; a key this class does not know is an error (so the
        stored form cannot drift from what the causes were given)."""
        unknown = set(det) - {f.name for f in fields(cls)}
        if unknown:
            raise KeyError(f"incident details without a field: {sorted(unknown)}")
        return cls(scores=scores, features=features, **det)

    @classmethod
    def from_json(cls, value: str | dict[str, Any] | None) -> IncidentDetails:
        """Read back a stored form (any version); fields it lacks keep their defaults."""
        data = json.loads(value) if isinstance(value, str) else dict(value or {})
        known = {f.name for f in fields(cls)}
        out = cls(**{k: v for k, v in data.items() if k in known})
        if "version" not in data:
            out.version = 0
        return out


__all__ = ["DETAILS_VERSION", "IncidentDetails"]
