"""``access_denied``: the server refused the credentials or the client host."""

from __future__ import annotations

from pipeline.causes import Cause, Evidence, Score, share


def score(e: Evidence) -> Score:
    share_acc = share(e("n_access"), e.n)
    return {
        "client": (0.5 + 0.5 * share_acc) if e("n_access") else 0.0,
        "server": 1.0 if e("srv_access") else 0.0,
    }, share_acc if e("n_access") else (0.3 if e("srv_access") else 0.0)


CAUSE = Cause(
    "access_denied",
    "the server refused the credentials or the client host",
    "#e377c2",  # pink
    order=6,
    tie_rank=3,
    score=score,
)
