"""Incident causes: one module each, all behind one small interface.

A cause module in this package exposes ``CAUSE``, a :class:`Cause`: its name, its one-line
meaning, its colour and place in charts and tables, how it scores an incident from the
evidence gathered for it (:class:`Evidence`), its own evidence queries when the shared ones
(``pipeline.correlate.evidence``) lack a fact it needs (``Cause.gather``), the details it
records about each incident as a typed dataclass (``Cause.details``, a :class:`CauseDetails`),
and its summary and advice.  The registry (:func:`all_causes`) finds the
modules by themselves, so the vocabulary (``pipeline.kinds.CAUSES``), the evidence shown for a
verdict, the charts' and digest's colours and the docs' cause table all come from here:
adding a cause is one new module and its tests.

A cause can also live outside the package (a team's own cause, or a test's): list its module
name or ``.py`` path in the ``PIPELINE_CAUSES`` environment variable (several separated by
``,``) and it joins the registry like a built-in one.

Scoring, the same for every cause: each cause sums up to four independent sources of
evidence, each worth at most 1:

``client``   what the application and its pool logged (error codes, idle times),
``server``   the server's error log,
``network``  latency samples (high or lost probes, against the target's own baseline),
``metrics``  server status snapshots (threads_connected, uptime, wait_timeout).

The sum is scaled by how much of the incident's client errors the cause explains
(``explained``, 0..1): ``score = sum * (0.5 + 0.5 * explained)``; in an incident only the
server's log saw there are no client errors, and ``explained`` is the share of the server's
lines that are the cause's own (:meth:`Evidence.server_share`).  The incident is named
after the best score; below ``min_score`` it is ``unknown``.  Confidence grows with the
number of independent sources that agree and with the share of errors explained, and
shrinks when a second cause scores close to the first.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails
    from pipeline.engines import Engine

# parts (source -> 0..1) and the share of the incident's errors the cause explains
Score = tuple[dict[str, float], float]

# The charts an incident page can draw: "timeline" (events by source, latency, server
# connections and the neighbouring incidents on one time axis), "latency" (round trips
# around the incident) and "idle_times" (how long each pooled connection sat idle before
# checkout, against the idle limit inferred from the failures).
INCIDENT_CHARTS: tuple[str, ...] = ("timeline", "latency", "idle_times")


@dataclass(frozen=True)
class Facts:
    """What a cause's details are built from, for one incident."""

    incident: dict[str, Any]  # grp, incident_id, start_ms, end_ms, hosts, errors, server_only
    features: dict[str, Any]  # the facts the causes score from (shared and the causes' own queries)
    settings: dict[str, Any]  # the effective [correlate] settings
    idle_limits: dict[str, dict[str, Any]]  # per host, the idle limit inferred (pipeline.correlate.idle)


@dataclass
class CauseDetails:
    """What one cause records about an incident beyond its score: subclass it in the cause's
    module as a dataclass of JSON values, every field with a default (a store written before
    a field existed reads back with the default), and name it in ``Cause.details``.

    Correlation builds it for every incident (:meth:`build`) and stores it in the incident's
    details under the cause's name; ``pipeline.api.Incident.details.of(TheClass)`` reads it
    back as the same type."""

    @classmethod
    def build(cls, facts: Facts) -> Self:
        raise NotImplementedError(f"{cls.__name__}.build")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """From a stored form; keys the class no longer has are dropped, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# The summary and advice of a cause read the incident (``inc``), its facts (``f``) and its
# details (``det``: the common part, and each cause's own through ``det.of(TheDetails)``).
Summarize = Callable[[dict[str, Any], dict[str, Any], "IncidentDetails", str], str]
Advise = Callable[[dict[str, Any], dict[str, Any], "IncidentDetails"], list[str]]
# A cause's own evidence queries, run after the shared ones over the same temporary tables
# (pipeline.correlate.evidence): (engine, settings, facts so far per incident number) ->
# {incident number: {fact: value}}, merged into the facts every cause scores from.
Gather = Callable[["Engine", dict[str, Any], dict[int, dict[str, Any]]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class Cause:
    name: str
    meaning: str  # one line, shown in the docs and the CLI's help
    color: str  # in every chart, the dashboard's legend and the digest's image
    order: int  # place in tables and legends
    tie_rank: int  # on equal scores the lower rank is named (the more specific cause)
    score: Callable[[Evidence], Score | None] | None = None  # None: never scored (unknown)
    # the evidence categories that support it, in the order they are shown (see
    # pipeline.correlate.evidence: "client:<kind>", "srv:<fact>", "latency_high", ...)
    evidence: tuple[str, ...] = ()
    # one sentence on what happened (incident, facts, details, "N connection failures on hosts")
    summarize: Summarize | None = None
    # what to change, as specific as the evidence allows (incident, facts, details)
    advise: Advise | None = None
    # the incident page's charts that bear on this cause (from INCIDENT_CHARTS); the page
    # draws these and leaves the others out
    charts: tuple[str, ...] = INCIDENT_CHARTS
    gather: Gather | None = None  # the cause's own evidence queries, if the shared ones lack a fact
    details: type[CauseDetails] | None = None  # what it records about every incident


def _unknown_summary(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    return f"{errs}: the evidence is too thin to name a cause."


# What each kind of evidence is, and how to collect it when the store has none.
_COLLECT = {
    "pool_debug": (
        "SQLAlchemy's pool log",
        "logging.getLogger('sqlalchemy.pool').setLevel(logging.DEBUG): it says how long each connection sat idle",
    ),
    "server": ("the server's error log", "MariaDB/MySQL log_warnings=2 or more; PostgreSQL log_connections"),
    "latency": ("latency samples", "`pipeline probe URL` from the application's host"),
    "metrics": ("status snapshots", "`pipeline probe URL` records SHOW GLOBAL STATUS every 5 s"),
}


def _unknown_advice(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """Ask only for the evidence the store lacks, and say what the rest showed."""
    present = det.sources_in_store
    missing = [f"{what} ({how})" for key, (what, how) in _COLLECT.items() if not present.get(key)]
    there = [what for key, (what, _) in _COLLECT.items() if present.get(key)]
    out = ["Not enough evidence to name a cause."]
    nearest = det.nearest_unused
    server, latency = nearest.get("server"), nearest.get("latency")
    if server:
        out.append(
            f"Nearest server line ({server['kind']}, {server['host'] or 'no host'}, {server['ts']}, "
            f"line {server['line_no']}): {server['why_not']}. If it belongs to these failures, raise that "
            "window in [correlate] (`pipeline config` shows it)."
        )
    if latency:
        out.append(
            f"Latency around the failures: {latency['samples']} samples, {latency['lost']} lost, "
            f"worst {latency['max_rtt_ms'] or 0:.0f} ms: {latency['why_not']}."
        )
    if there:
        out.append(f"In the store: {', '.join(there)}.")
    if there and not server:
        out.append("The server's log has nothing that bears on a cause within a day of these failures.")
    if missing:
        out.append("Collect what is missing: " + "; ".join(missing) + ".")
    return out


UNKNOWN = Cause(
    "unknown",
    "the evidence is too thin to name a cause",
    "#7f7f7f",
    order=99,
    tie_rank=99,
    summarize=_unknown_summary,
    advise=_unknown_advice,
    charts=INCIDENT_CHARTS,  # with too little evidence, every chart may tell something
)


def share(x: float | None, n: float | None) -> float:
    """x out of n, capped at 1 (0 when n is 0)."""
    return min(1.0, (x or 0) / n) if n else 0.0


class Evidence:
    """The facts gathered for one incident (``f``, from ``pipeline.correlate.evidence``) and
    the thresholds (``s``), with the figures several causes read, computed once."""

    def __init__(self, f: dict[str, Any], s: dict[str, Any]):
        self.f, self.s = f, s
        self.n = f.get("n_base") or 0

    def __call__(self, key: str) -> Any:
        """A fact, 0 when absent (a number, for every key the scores read)."""
        return self.f.get(key) or 0

    @cached_property
    def server_only(self) -> bool:
        """Only the server's log saw this incident (no application log covers its time)."""
        return bool(self.f.get("server_only"))

    @cached_property
    def server_lines(self) -> int:
        """The incident's server lines of every category."""
        cats = ("srv_stop", "srv_start", "srv_tmc", "srv_access", "abort_timeout", "abort_error")
        return sum(self(c) for c in cats)

    def server_share(self, *categories: str) -> float:
        """The share of the incident's server lines in these categories."""
        return share(sum(self(c) for c in categories), self.server_lines)

    @cached_property
    def lat_bad(self) -> float:
        return float(self("lat_high") + 3 * self("lat_lost_excess"))

    @cached_property
    def latency_part(self) -> float:
        needed = max(
            float(self.s["latency_samples_full"]), float(self.s["latency_share_full"]) * self("lat_samples"), 1.0
        )
        return float(min(1.0, self.lat_bad / needed))

    @cached_property
    def network_down(self) -> bool:
        """Latency showed the path broken at the time (two thirds of full network evidence or more)."""
        return self.latency_part >= 0.67

    @cached_property
    def latency_quiet(self) -> bool:
        """Latency was measured and showed no network trouble to speak of."""
        return self("lat_samples") > 0 and self.latency_part < 0.34

    @cached_property
    def disconnect_kinds(self) -> int:
        return int(self("n_2006") + self("n_2013") + self("n_4031") + self("n_pool_drop"))

    @cached_property
    def known_idle(self) -> int:
        """Failures whose connection's idle time is known."""
        return int(self("n_fail_known_idle"))

    @cached_property
    def idle_over(self) -> int:
        """Failures on connections idle past the inferred limit (or the server's wait_timeout)."""
        return int(max(self("n_idle_over_limit"), self("n_idle_over_wait")))

    @cached_property
    def idle_share(self) -> float:
        """The share of the failures the idle pattern explains: failures whose connection's
        idle time is unknown (failed connects, no pool lines) count against it."""
        return share(self.idle_over, max(self.known_idle, self("errors")))

    @cached_property
    def threads_ratio(self) -> float | None:
        return self.f.get("threads_ratio")

    @cached_property
    def ratio_required(self) -> float:
        return float(self.s["max_connections_ratio"])


EXTRA_CAUSES_ENV = "PIPELINE_CAUSES"


class CauseModuleError(ValueError):
    """A cause module named in ``PIPELINE_CAUSES`` cannot be used (one line, for the CLI)."""


def all_causes() -> tuple[Cause, ...]:
    """Every cause module's ``CAUSE`` (the package's and those named in ``PIPELINE_CAUSES``),
    then ``unknown``, in their display order."""
    return _registry(os.environ.get(EXTRA_CAUSES_ENV, ""))


@cache
def _registry(extra: str) -> tuple[Cause, ...]:
    found = [
        importlib.import_module(f"{__name__}.{info.name}").CAUSE
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    found += [_load_extra(ref.strip()) for ref in extra.split(",") if ref.strip()]
    names = [c.name for c in found]
    clash = sorted({n for n in names if names.count(n) > 1} | ({UNKNOWN.name} & set(names)))
    if clash:
        raise CauseModuleError(f"{EXTRA_CAUSES_ENV}: more than one cause named {', '.join(clash)}")
    return tuple(sorted(found, key=lambda c: c.order)) + (UNKNOWN,)


def _load_extra(ref: str) -> Cause:
    """A cause module named by import path (``team.causes.dns``) or file (``./dns.py``)."""
    try:
        if ref.endswith(".py"):
            name = f"pipeline_extra_cause_{abs(hash(ref))}"
            spec = importlib.util.spec_from_file_location(name, ref)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {ref}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(ref)
    except (ImportError, OSError, SyntaxError) as exc:
        raise CauseModuleError(f"{EXTRA_CAUSES_ENV}: cannot load cause module {ref!r}: {exc}") from exc
    cause = getattr(module, "CAUSE", None)
    if not isinstance(cause, Cause):
        raise CauseModuleError(f"{EXTRA_CAUSES_ENV}: {ref!r} has no CAUSE = Cause(...)")
    return cause


class CauseTable(Mapping[str, str]):
    """A read-only ``{cause name: attribute}`` view of the registry, read at each use, so a
    cause added through ``PIPELINE_CAUSES`` shows wherever the table is used."""

    def __init__(self, attribute: str):
        self.attribute = attribute

    def _table(self) -> dict[str, str]:
        return {c.name: getattr(c, self.attribute) for c in all_causes()}

    def __getitem__(self, name: str) -> str:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(all_causes())

    def __repr__(self) -> str:
        return f"CauseTable({self._table()!r})"


def by_name(name: str) -> Cause:
    for cause in all_causes():
        if cause.name == name:
            return cause
    raise KeyError(name)


def gather_own(con: Engine, s: dict[str, Any], features: dict[int, dict[str, Any]]) -> None:
    """Run each cause's own evidence queries and add what they find to ``features``."""
    for cause in all_causes():
        if cause.gather is not None:
            for grp, found in cause.gather(con, s, features).items():
                features.setdefault(grp, {}).update(found)


def build_details(facts: Facts) -> dict[str, CauseDetails]:
    """Every cause's own details of one incident, by cause name."""
    return {c.name: c.details.build(facts) for c in all_causes() if c.details is not None}


def score_causes(f: dict[str, Any], s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{cause: {"score", "explained", "parts": {source: value}}} for every cause with evidence."""
    evidence = Evidence(f, s)
    out: dict[str, dict[str, Any]] = {}
    for cause in all_causes():
        result = cause.score(evidence) if cause.score else None
        if result is None:
            continue
        parts, explained = result
        parts = {k: round(v, 3) for k, v in parts.items() if v > 0}
        total = sum(parts.values())
        if total <= 0:
            continue
        out[cause.name] = {
            "score": round(total * (0.5 + 0.5 * explained), 3),
            "explained": round(explained, 3),
            "parts": parts,
        }
    return out


def verdict(scores: dict[str, dict[str, Any]], s: dict[str, Any]) -> tuple[str, float]:
    """The named cause and the confidence in it."""
    rank = {c.name: c.tie_rank for c in all_causes()}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1]["score"], rank[kv[0]]))
    if not ranked or ranked[0][1]["score"] < float(s["min_score"]):
        best = ranked[0][1]["score"] if ranked else 0.0
        return "unknown", round(min(0.3, 0.1 + best * 0.2), 2)
    cause, top = ranked[0]
    second = ranked[1][1]["score"] if len(ranked) > 1 else 0.0
    sources = len(top["parts"])
    base = min(0.98, 0.25 + 0.17 * sources + 0.25 * top["explained"])
    margin = min(1.0, 0.5 + (top["score"] - second) / top["score"])
    return cause, round(base * margin, 2)


__all__ = [
    "INCIDENT_CHARTS",
    "UNKNOWN",
    "Cause",
    "CauseDetails",
    "CauseModuleError",
    "CauseTable",
    "Evidence",
    "Facts",
    "all_causes",
    "build_details",
    "by_name",
    "gather_own",
    "score_causes",
    "share",
    "verdict",
]
