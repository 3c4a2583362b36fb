"""A cause that exists only for the tests: it claims every incident with a lost connection
(MySQL 2013), whatever else the evidence says.  ``tests/test_cause_plugin.py`` adds it through
``PIPELINE_CAUSES`` to prove that a cause is one file: nothing else in the tree names it.
It has everything a cause can have: its own evidence query, its own typed details, a
summary and advice that read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, CauseDetails, Evidence, Facts, Score

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails
    from pipeline.engines import Engine


def gather(con: Engine, s: dict[str, Any], features: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Its own query over the incidents' drops: how many hosts lost connections."""
    rows = con.execute(
        "SELECT grp, count(DISTINCT host) FROM c_drops WHERE kind = 'lost_connection' GROUP BY grp"
    ).fetchall()
    return {grp: {"storm_hosts": int(hosts)} for grp, hosts in rows}


@dataclass
class StormDetails(CauseDetails):
    lost: int = 0
    hosts_hit: int = 0

    @classmethod
    def build(cls, facts: Facts) -> StormDetails:
        return cls(lost=facts.features.get("n_2013") or 0, hosts_hit=facts.features.get("storm_hosts") or 0)


def score(e: Evidence) -> Score | None:
    if not e("n_2013"):
        return None
    return {"client": 3.0}, 1.0  # above anything a built-in cause can reach


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    own = det.of(StormDetails)
    return f"{errs}: a lost-connection storm of {own.lost} on {own.hosts_hit} host(s) (a cause added by a test)."


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    return ["Nothing to change: this cause exists for the tests."]


CAUSE = Cause(
    "lost_connection_storm",
    "a cause defined by a test, to prove that adding a cause is one file",
    "#123456",
    order=50,
    tie_rank=0,
    score=score,
    evidence=("client:lost_connection",),
    summarize=summarize,
    advise=advise,
    gather=gather,
    details=StormDetails,
)
