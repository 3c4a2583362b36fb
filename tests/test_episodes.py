"""Idle kills at real time scales: isolated failures minutes apart are one episode, and
incidents of other causes in between stay their own."""

from __future__ import annotations

from pipeline.correlate.incidents import episode_map
from pipeline.correlate.settings import resolve

MIN = 60_000


def inc(grp: int, start_min: float, end_min: float | None = None, hosts=("app-1",)) -> dict:
    return {"grp": grp, "start_ms": start_min * MIN, "end_ms": (end_min or start_min) * MIN, "hosts": list(hosts)}


def test_a_night_of_isolated_idle_kills_is_one_episode_around_a_network_spike():
    incidents = [inc(1, 0), inc(2, 7), inc(3, 15), inc(4, 20, 20.5), inc(5, 31), inc(6, 52)]
    causes = {
        1: "idle_timeout",
        2: "idle_timeout",
        3: "idle_timeout",
        4: "network",
        5: "idle_timeout",
        6: "idle_timeout",
    }
    merged = episode_map(incidents, causes, resolve({}))
    assert merged == {1: 1, 2: 1, 3: 1, 5: 1, 6: 1}  # the network incident (4) stays itself


def test_episodes_break_at_the_gap_and_between_hosts():
    s = resolve({"episode_gap_seconds": 600})
    incidents = [inc(1, 0), inc(2, 5), inc(3, 30), inc(4, 32, hosts=("other",)), inc(5, 34)]
    causes = dict.fromkeys(range(1, 6), "idle_timeout")
    assert episode_map(incidents, causes, s) == {1: 1, 2: 1, 3: 3, 5: 3}


def test_other_causes_and_lone_incidents_are_left_alone():
    incidents = [inc(1, 0), inc(2, 3), inc(3, 6)]
    assert episode_map(incidents, {1: "network", 2: "network", 3: "idle_timeout"}, resolve({})) == {}
