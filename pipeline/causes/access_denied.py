"""``access_denied``: the server refused the credentials or the client host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.causes import Cause, Evidence, Score, share

if TYPE_CHECKING:
    from pipeline.correlate.details import IncidentDetails


def score(e: Evidence) -> Score:
    share_acc = share(e("n_access"), e.n)
    if e.server_only:
        explained = e.server_share("srv_access")
    else:
        explained = share_acc if e("n_access") else (0.3 if e("srv_access") else 0.0)
    return {
        "client": (0.5 + 0.5 * share_acc) if e("n_access") else 0.0,
        "server": 1.0 if e("srv_access") else 0.0,
    }, explained


def summarize(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails, errs: str) -> str:
    """One sentence: what happened, from the facts (``f``) and the details (``det``)."""
    return f"{errs}: the server refused the application's login (credentials or host allow-list)."


def advise(inc: dict[str, Any], f: dict[str, Any], det: IncidentDetails) -> list[str]:
    """What to change, as specific as the evidence allows."""
    out: list[str] = []
    out.append(
        "Check the application's credentials and grants: 1045 means wrong user/password, 1130 means the "
        "client host is not allowed (e.g. an IP allow-list or GRANT ... @'host' that no longer matches the application host)."
    )
    out.append("If credentials were rotated, restart or reconfigure every process that still uses the old ones.")
    return out


CAUSE = Cause(
    "access_denied",
    "the server refused the credentials or the client host",
    "#e377c2",  # pink
    order=6,
    tie_rank=3,
    score=score,
    evidence=("client:access_denied", "srv:srv_access"),
    summarize=summarize,
    advise=advise,
    # refused logins show in the server and application lanes; latency and idle times say nothing
    charts=("timeline",),
)
