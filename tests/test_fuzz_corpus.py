"""Fuzzing with real lines: mutate corpus files of every family and run every parser
and the detector over them.  Nothing may raise, and lines that parsed before a
mutation elsewhere in the file still parse after it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest import detect, files
from pipeline.ingest.families import all_families
from tests.helpers import parse_lines

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _corpus_files() -> list[tuple[str, list[str]]]:
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and not path.name.endswith((".json", ".md", ".yaml")):
            lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")[:120]
            if any(line.strip() for line in lines):
                out.append((str(path.relative_to(CORPUS)), lines))
    return out


FILES = _corpus_files()
pytestmark = pytest.mark.skipif(not FILES, reason="../shared/corpus is absent")

mutation = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=40).map(lambda b: b.decode("utf-8", errors="replace")),
    st.sampled_from(["", " ", "\t", "{", "[", "2026-13-45 99:99:99", "#", "Variable_name\tValue", "\ufffd" * 5]),
)


def _mutate(lines: list[str], index: int, how: int, junk: str) -> list[str]:
    out = list(lines)
    i = index % len(out)
    if how == 0:
        out[i] = junk  # replace
    elif how == 1:
        out.insert(i, junk)  # insert
    else:
        out[i] = out[i][: len(out[i]) // 2]  # cut
    return out


fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.sampled_from(FILES or [("none", [""])]), st.integers(0, 10_000), st.integers(0, 2), mutation)
def test_every_parser_and_the_detector_survive_mutated_real_lines(item, index, how, junk):
    _, lines = item
    mutated = _mutate(lines, index, how, junk)
    detect.choose("\n".join(mutated).encode("utf-8", errors="replace"))
    for family in all_families():
        family.sniff([ln for ln in mutated if ln.strip()][: files.SNIFF_LINES])
        for final in (True, False):
            parsed = parse_lines(family, mutated, final=final)
            assert parsed.events["line_no"].is_between(1, len(mutated)).all()


@fuzz
@given(st.sampled_from(FILES or [("none", [""])]), st.integers(0, 10_000), mutation)
def test_lines_elsewhere_keep_parsing_after_a_mutation(item, index, junk):
    _, lines = item
    family = detect.choose("\n".join(lines).encode()).family
    if family is None:
        return
    before = parse_lines(family, lines)
    i = index % len(lines)
    mutated = list(lines)
    mutated[i] = junk
    if detect.choose("\n".join(mutated).encode()).family is not family:
        return  # the mutation changed what the file is; nothing to compare
    after = parse_lines(family, mutated)
    lost = set(before.events["line_no"].to_list()) - set(after.events["line_no"].to_list()) - {i + 1}
    assert not lost, f"{family.name}: lines {sorted(lost)[:5]} stopped parsing after line {i + 1} changed"
