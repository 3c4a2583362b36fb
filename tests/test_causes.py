"""The cause registry: every cause module is found, has what the surfaces need, and scores
alike whatever the order the modules are found in."""

from __future__ import annotations

from pipeline import charts
from pipeline.causes import UNKNOWN, Evidence, all_causes, by_name, score_causes, verdict
from pipeline.correlate.settings import DEFAULTS
from pipeline.kinds import CAUSES


def test_every_cause_module_is_registered_with_what_surfaces_need():
    causes = all_causes()
    assert causes[-1] is UNKNOWN
    assert [c.name for c in causes] == list(CAUSES) == list(charts.CAUSE_COLORS)
    assert len({c.color for c in causes}) == len(causes) and len({c.tie_rank for c in causes}) == len(causes)
    for cause in causes[:-1]:
        assert cause.meaning and cause.score is not None and by_name(cause.name) is cause


def test_a_restart_outranks_a_network_cause_on_equal_evidence():
    # refused connections while the server logged a stop and a start; latency calm
    facts = {"n_base": 4, "errors": 4, "n_refused": 4, "srv_stop": 1, "srv_start": 1, "lat_samples": 20}
    scores = score_causes(facts, DEFAULTS)
    assert max(scores, key=lambda c: scores[c]["score"]) == "server_restart"
    assert verdict(scores, DEFAULTS)[0] == "server_restart"


def test_evidence_figures_are_computed_once_and_default_to_zero():
    e = Evidence({"n_base": 2, "lat_high": 3, "lat_samples": 10}, DEFAULTS)
    assert e("missing") == 0 and e.lat_bad == 3 and e.latency_part == 1.0 and not e.latency_quiet


def test_every_cause_details_type_reads_back_what_it_stores():
    """A cause's details dataclass can be made with no arguments (a store correlated before the
    cause or a field existed reads back with the defaults) and its stored form round-trips."""
    from dataclasses import fields

    from pipeline.causes import CauseDetails
    from pipeline.correlate.details import IncidentDetails

    typed = [c for c in all_causes() if c.details is not None]
    assert {c.name for c in typed} >= {"idle_timeout", "pool_exhausted", "max_connections", "server_restart"}
    for cause in typed:
        assert cause.details is not None and issubclass(cause.details, CauseDetails)
        blank = cause.details()
        assert cause.details.from_dict(blank.as_dict()) == blank
        # a value in every field survives the JSON round trip through the incident's details
        filled = cause.details.from_dict({f.name: f"x-{f.name}" for f in fields(cause.details)})
        back = IncidentDetails.from_json(IncidentDetails(causes={cause.name: filled}).to_json())
        assert back.of(cause.details) == filled, cause.name
