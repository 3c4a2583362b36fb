"""An inferred idle limit is named: the catalogue's products whose default fits it appear in
the incident's details, its summary and its advice."""

from __future__ import annotations

from pipeline.causes import by_name
from pipeline.causes.idle_timeout import IdleTimeoutDetails, _limit_matches
from pipeline.correlate.details import IncidentDetails


def limit(lo: float | None, hi: float) -> dict:
    return {
        "ok_max_s": lo,
        "fail_min_s": hi,
        "fail_max_s": hi + 20,
        "failed_over": 5,
        "failed_total": 5,
        "ok_over": 0,
        "ok_total": 40,
    }


def test_a_middlebox_limit_names_the_products_that_fit():
    found = _limit_matches(limit(330, 360), by_server=False)
    assert {"AWS Network Load Balancer", "AWS Gateway Load Balancer"} <= {m["product"] for m in found}
    assert all(m["seconds"] == 350 for m in found[:2])
    assert all(m["source"].startswith("https://") for m in found)
    # the server did not close them: no database setting is offered
    assert not [m for m in found if "wait_timeout" in m["setting"]]


def test_a_server_limit_names_database_settings_only():
    found = _limit_matches(limit(28000, 28900), by_server=True)
    assert {m["setting"] for m in found} <= {"wait_timeout", "interactive_timeout", "mysql-wait_timeout (28800000 ms)"}
    assert found
    # a proxy with the same default closes them without the server's knowledge
    assert [m["product"] for m in _limit_matches(limit(28000, 28900), by_server=False)] == ["ProxySQL"]


def test_no_product_fits_a_lab_scale_limit():
    assert _limit_matches(limit(2.4, 5.8), by_server=False) == []


def test_summary_and_advice_name_the_match():
    cause = by_name("idle_timeout")
    own = IdleTimeoutDetails(idle_limit=limit(1150, 1250), wait_timeout=28800, idle_closed_by_server=False)
    own.limit_matches = _limit_matches(limit(1150, 1250), by_server=False)
    det = IncidentDetails(causes={"idle_timeout": own})
    summary = cause.summarize({}, {}, det, "7 connection failures on app-1")
    assert "the limit is between 1150 s and 1250 s" in summary
    assert "GCP Cloud NAT's TCP established connection idle timeout (1200 s)" in summary
    advice = " ".join(cause.advise({}, {}, det))
    assert "pool_recycle=" in advice
    assert "If the path goes through GCP Cloud NAT" in advice
