"""Conformance over the wild corpus: real excerpts from public issue threads
(``tests/wild/<kind>/<name>.log``), each with its source and hand counts in ``<name>.toml``
(see ``tests/wild/COUNTING.md``).

All fixtures are ingested in one run, as a user would (envelopes, detection, parsing,
the store), and each file's family, event count and kinds are compared with the hand
counts.  ``python tests/test_wild_corpus.py`` prints the table of ``docs/real-logs.md``
(``--write`` puts its summary there).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from pipeline.ingest.runner import ingest_paths
from pipeline.kinds import CLIENT_DROP_KINDS

WILD = Path(__file__).resolve().parent / "wild"
# The kinds judged for recall and precision: the client's drops and the server's evidence.
JUDGED_KINDS = frozenset(CLIENT_DROP_KINDS) | {"aborted_connection", "server_start", "server_stop", "connection_reset"}
# MySQL and MariaDB logs share one parser and one source; a MySQL fork read as MariaDB
# (or the reverse) is read right.
SAME_PARSER = {"mysql_error": "mysql", "mariadb": "mysql"}

# What the corpus must show (issue "Read the logs users actually have").
MIN_FAMILY_RIGHT = 0.95
MIN_COUNTS_EQUAL = 0.90
MIN_RECALL = 0.95
MIN_PRECISION = 0.98


@dataclass
class Fixture:
    path: Path
    meta: dict

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"

    @property
    def family(self) -> str | None:
        family = self.meta["family"]
        return None if family == "none" else family

    @property
    def kinds(self) -> dict[str, int]:
        return {k: v for k, v in self.meta.get("kinds", {}).items() if v}


@dataclass
class Outcome:
    fixture: Fixture
    format: str
    status: str
    events: int
    rejects: int
    lines: int
    accounted: int
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def family_right(self) -> bool:
        want = self.fixture.family
        if want is None:
            return self.status == "unknown"
        return SAME_PARSER.get(self.format, self.format) == SAME_PARSER.get(want, want)

    @property
    def counts_equal(self) -> bool:
        return self.events == self.fixture.meta["records"]

    def judged(self) -> tuple[int, int, int]:
        """(true positives, false positives, false negatives) over the judged kinds."""
        want = {k: v for k, v in self.fixture.kinds.items() if k in JUDGED_KINDS}
        got = {k: v for k, v in self.kinds.items() if k in JUDGED_KINDS}
        tp = sum(min(want.get(k, 0), got.get(k, 0)) for k in set(want) | set(got))
        return tp, sum(got.values()) - tp, sum(want.values()) - tp


def fixtures() -> list[Fixture]:
    return [Fixture(log, tomllib.loads(log.with_suffix(".toml").read_text())) for log in sorted(WILD.glob("*/*.log"))]


def run(tmp: Path) -> list[Outcome]:
    """Ingest every fixture in one run (each file with its zone) and read back the results."""
    found = fixtures()
    config = tmp / "wild.toml"
    config.write_text(
        "".join(
            f'[[files]]\nglob = "{f.path.name}"\ntimezone = "{f.meta.get("timezone", "UTC")}"\nhost = "wild"\n\n'
            for f in found
        )
    )
    db = tmp / "wild.duckdb"
    summary = ingest_paths([f.path for f in found], db, config=config, correlate=False)
    reports = {Path(r.path).resolve(): r for r in summary.files}
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT file, kind, count(*) FROM events WHERE kind <> 'other' GROUP BY ALL").fetchall()
    kinds: dict[Path, dict[str, int]] = {}
    for file, kind, n in rows:
        kinds.setdefault(Path(file).resolve(), {})[kind] = n
    out = []
    for f in found:
        r = reports[f.path.resolve()]
        out.append(
            Outcome(f, r.format, r.status, r.events, r.rejects, r.lines, r.accounted, kinds.get(f.path.resolve(), {}))
        )
    return out


def summary(outcomes: list[Outcome]) -> dict:
    timed = [o for o in outcomes if o.fixture.family is not None]
    tp = fp = fn = 0
    for o in outcomes:
        a, b, c = o.judged()
        tp, fp, fn = tp + a, fp + b, fn + c
    return {
        "fixtures": len(outcomes),
        "projects": len({o.fixture.meta["project"].lower() for o in outcomes}),
        "timed": len(timed),
        "family_right": sum(o.family_right for o in timed) / len(timed),
        "untimed_right": sum(o.family_right for o in outcomes if o.fixture.family is None),
        "untimed": len(outcomes) - len(timed),
        "counts_equal": sum(o.counts_equal for o in timed) / len(timed),
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "judged_kinds": tp + fn,
        "unaccounted": [o.fixture.name for o in outcomes if o.lines != o.accounted],
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[Outcome]:
    return run(tmp_path_factory.mktemp("wild"))


def test_every_fixture_has_its_source_and_hand_counts():
    found = fixtures()
    assert len(found) >= 60
    assert len({f.meta["project"].lower() for f in found}) >= 25
    for f in found:
        assert f.meta["source"].startswith("https://github.com/"), f.name
        assert f.meta["family"] in ("python_text", "json_lines", "mysql_error", "mariadb", "postgres", "none"), f.name
        text = f.path.read_bytes()
        assert f.meta["lines"] == text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1), f.name
        assert f.meta["records"] >= sum(f.kinds.values()), f.name


def test_no_line_is_unaccounted(outcomes):
    assert summary(outcomes)["unaccounted"] == []


def test_the_corpus_is_read_as_users_need(outcomes):
    s = summary(outcomes)
    assert s["family_right"] >= MIN_FAMILY_RIGHT, table(outcomes)
    assert s["counts_equal"] >= MIN_COUNTS_EQUAL, table(outcomes)
    assert s["recall"] >= MIN_RECALL and s["precision"] >= MIN_PRECISION, table(outcomes)


DOCS_PAGE = WILD.parents[1] / "docs" / "real-logs.md"


def test_docs_show_the_summary_of_this_run(outcomes):
    page = DOCS_PAGE.read_text(encoding="utf-8")
    shown = page.split("<!-- wild-corpus-summary -->", 1)[1].split("<!-- /wild-corpus-summary -->", 1)[0]
    assert shown.strip() == summary_table(outcomes).strip(), "run python tests/test_wild_corpus.py --write"


def summary_table(outcomes: list[Outcome]) -> str:
    return "\n".join(table(outcomes).split("\n")[:10])


def table(outcomes: list[Outcome]) -> str:
    s = summary(outcomes)
    lines = [
        f"{s['fixtures']} excerpts from {s['projects']} projects; {s['timed']} time-stamped.",
        "",
        "| | result |",
        "|---|---:|",
        f"| time-stamped files read by the right family | {s['family_right']:.0%} |",
        f"| untimed excerpts reported unknown | {s['untimed_right']}/{s['untimed']} |",
        f"| event count equal to the hand count | {s['counts_equal']:.0%} |",
        f"| drop and server kinds: recall | {s['recall']:.2f} ({s['judged_kinds']} counted by hand) |",
        f"| drop and server kinds: precision | {s['precision']:.2f} |",
        f"| files with lines unaccounted for | {len(s['unaccounted'])} |",
        "",
        "| fixture | family (hand / read) | records (hand / read) | kinds differing |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        want, got = o.fixture.kinds, o.kinds
        diff = {k: (want.get(k, 0), got.get(k, 0)) for k in set(want) | set(got) if want.get(k, 0) != got.get(k, 0)}
        mark = "" if o.family_right and o.counts_equal and not diff else " ✗"
        lines.append(
            f"| {o.fixture.name}{mark} | {o.fixture.meta['family']} / {o.format if o.status != 'unknown' else 'unknown'}"
            f" | {o.fixture.meta['records']} / {o.events} | "
            + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(diff.items()))
            + " |"
        )
    return "\n".join(lines)


def write_docs(outcomes: list[Outcome]) -> None:
    head, rest = DOCS_PAGE.read_text(encoding="utf-8").split("<!-- wild-corpus-summary -->", 1)
    _, tail = rest.split("<!-- /wild-corpus-summary -->", 1)
    DOCS_PAGE.write_text(
        f"{head}<!-- wild-corpus-summary -->\n\n{summary_table(outcomes)}\n\n<!-- /wild-corpus-summary -->{tail}",
        encoding="utf-8",
    )


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        results = run(Path(tmp))
        if "--write" in sys.argv:
            write_docs(results)
        print(table(results))
