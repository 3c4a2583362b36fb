"""The setup the tool was designed around: a service on mysql-connector with the tutorial's pool
listeners (a SELECT 1 ping in a checkout listener, no SQLAlchemy pool log), pool_recycle=3600,
behind something that kills idle connections silently or with a reset, the server saying
nothing about it.  Recorded by the lab (`sample_logs/tutorial_idle_*`): the verdict must be
idle_timeout, with the limit inferred within 10% of the one the lab set."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.evaluate import run_scenario, score

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


@pytest.mark.parametrize("scenario", ["tutorial_idle_silent", "tutorial_idle_reset"])
def test_tutorial_listener_idle_kill_is_named_with_its_limit(scenario):
    result = score([run_scenario(SAMPLES / scenario, SAMPLES)])
    assert result["per_cause"]["idle_timeout"]["recall"] == 1.0
    assert result["per_cause"]["idle_timeout"]["precision"] == 1.0
    assert set(result["per_cause"]) == {"idle_timeout"}
    (limit,) = result["idle_limits"]
    assert limit["truth_s"] == 6.0
    assert limit["within_10pct"], limit
