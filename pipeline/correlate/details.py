"""What correlation records about each incident beyond its verdict, as typed structures.

Stored as JSON in ``incidents.details`` with a ``version``.  :class:`IncidentDetails` holds
what is common to every incident (the scores, the facts scored from, what the store holds,
the application's pool settings); each cause records its own details in a dataclass of its
module (``pipeline.causes.CauseDetails``), kept under the cause's name in ``causes``.
``pipeline.api.Incident`` reads all of it back into the same types, so nothing downstream
guesses keys: ``incident.details.of(IdleTimeoutDetails).wait_timeout``.

Versions: 2 nests each cause's details under ``causes``; 1 and 0 (a store written before
the version existed) kept every field flat at the top, and read back the same way: each
cause's fields taken from the flat keys.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from pipeline.causes import CauseDetails, all_causes

DETAILS_VERSION = 2

D = TypeVar("D", bound=CauseDetails)


@dataclass
class IncidentDetails:
    version: int = DETAILS_VERSION
    scores: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # every cause with evidence: score, explained, parts
    features: dict[str, Any] = field(default_factory=dict)  # the facts the causes were scored from
    server_only: bool = False  # only the server's log saw the incident
    episode_incidents: int | None = None  # incidents of one cause merged into this one (an episode)
    # rows of each kind of evidence in the whole store (app, pool_debug, server, latency, metrics)
    sources_in_store: dict[str, int] = field(default_factory=dict)
    # the application's pool settings that bear on the verdict: from [pool] in pipeline.toml,
    # else what the logs show (pool_pre_ping, pool_recycle, a checkout listener's ping)
    pool_settings: dict[str, Any] = field(default_factory=dict)
    pool_settings_from: str | None = None  # "pipeline.toml", "the logs" or both
    # an unknown verdict: the nearest server line and the latency around the failures that did
    # not count, each with why (server: ts, kind, host, file, line_no, message,
    # seconds_from_failures, why_not; latency: samples, lost, max_rtt_ms, median_rtt_ms, why_not)
    nearest_unused: dict[str, Any] = field(default_factory=dict)
    # each cause's own details (its CauseDetails dataclass), by cause name
    causes: dict[str, CauseDetails] = field(default_factory=dict)

    def of(self, kind: type[D]) -> D:
        """The details of the cause whose dataclass is ``kind`` (its defaults when the
        incident has none: a store correlated before that cause existed)."""
        for value in self.causes.values():
            if isinstance(value, kind):
                return value
        return kind()

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, default=str)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: str | dict[str, Any] | None) -> IncidentDetails:
        """Read back a stored form (any version); fields it lacks keep their defaults, and a
        cause the registry no longer has is left out."""
        data = json.loads(value) if isinstance(value, str) else dict(value or {})
        version = int(data.get("version") or 0)
        common = {f.name for f in fields(cls)} - {"causes", "version"}
        out = cls(version=version, **{k: v for k, v in data.items() if k in common})
        for cause in all_causes():
            if cause.details is None:
                continue
            if version >= 2:
                stored = (data.get("causes") or {}).get(cause.name)
                if stored is not None:
                    out.causes[cause.name] = cause.details.from_dict(stored)
            else:  # flat: every cause's fields at the top
                out.causes[cause.name] = cause.details.from_dict(data)
        return out


__all__ = ["DETAILS_VERSION", "IncidentDetails"]
