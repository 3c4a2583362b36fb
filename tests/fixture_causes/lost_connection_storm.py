"""A cause that exists only for the tests: it claims every incident with a lost connection
(MySQL 2013), whatever else the evidence says.  ``tests/test_cause_plugin.py`` adds it through
``PIPELINE_CAUSES`` to prove that a cause is one file: nothing else in the tree names it."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score


def score(e: Evidence) -> Score | None:
    if not e("n_2013"):
        return None
    return {"client": 3.0}, 1.0  # above anything a built-in cause can reach


def summarize(inc: dict, f: dict, det: dict, errs: str) -> str:
    return f"{errs}: a lost-connection storm (a cause added by a test)."


def advise(inc: dict, f: dict, det: dict) -> list[str]:
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
)
