"""Property tests: the detector and the application parsers never raise, whatever the input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest import detect
from pipeline.ingest.families import all_families, json_lines, python_text
from pipeline.ingest.files import _lines_frame
from tests.helpers import parse_lines

SEEDS = [
    "2026-11-20 13:45:01,123 - app.db - ERROR - boom",
    "2026-11-20 13:45:01,123 DEBUG sqlalchemy.pool.impl.QueuePool Connection <x> checked out from pool",
    "[2026-11-20 13:45:01 +0000] [42] [ERROR] Error handling request",
    '{"timestamp": "2026-11-20T13:45:01Z", "level": "ERROR", "message": "x", "exc_info": "(2013, \'Lost\')"}',
    "Traceback (most recent call last):",
    "pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')",
    "",
]

line_text = st.one_of(
    st.sampled_from(SEEDS),
    st.text(max_size=200),
    st.builds(lambda s, i, t: s[:i] + t + s[i:], st.sampled_from(SEEDS), st.integers(0, 60), st.text(max_size=20)),
)

fuzz_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz_settings
@given(st.lists(line_text, min_size=1, max_size=30), st.booleans())
def test_application_parsers_never_raise(lines, final):
    for family in (python_text.FAMILY, json_lines.FAMILY):
        parsed = parse_lines(family, lines, final=final)
        # every row points at a line of the input
        for frame in (parsed.events, parsed.rejects):
            assert frame["line_no"].is_between(1, len(lines)).all()


@fuzz_settings
@given(st.binary(max_size=2000))
def test_detector_and_every_family_survive_arbitrary_bytes(data):
    found = detect.choose(data)
    _family, reason = found.family, found.reason
    assert reason
    frame, _, _ = _lines_frame(data or b"\n", 1)
    for fam in all_families():
        fam.sniff(frame["line"].to_list())
        fam.parse(frame, _ctx())


@fuzz_settings
@given(st.lists(st.sampled_from(SEEDS[:3]), min_size=1, max_size=10), st.integers(0, 9), st.text(max_size=30))
def test_well_formed_lines_keep_parsing_after_a_mutation_elsewhere(lines, index, junk):
    index = index % len(lines)
    mutated = list(lines)
    mutated[index] = junk
    parsed = parse_lines(python_text.FAMILY, mutated, state={})
    parsed_lines = set(parsed.events["line_no"].to_list())
    for i, line in enumerate(mutated, start=1):
        if line in SEEDS[:3]:
            assert i in parsed_lines or _layout_differs(line, mutated)


def _layout_differs(line, lines) -> bool:
    # a file mixing layouts parses with the majority layout; lines of another layout fold
    layout, _ = python_text._best_layout([ln for ln in lines if ln.strip()])
    import re

    return layout is None or not re.match(layout.pattern, line)


def _ctx():
    from pipeline.ingest.families.base import FileContext

    return FileContext(path="fuzz", host="h", timezone="UTC", final=True, state={})
