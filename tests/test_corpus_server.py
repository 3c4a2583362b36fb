"""Conformance of the server and network families over the shared corpus of real logs
(``../shared/corpus``; skipped when absent).

* every file in mysql-error/, mariadb-error/, postgresql/ and ping/ is detected as the
  family we expect (or as nothing, for files that are not logs we read) and parses into
  the counts and kinds we derived by reading its lines (``EXPECTED``, from
  ``tests/cases/corpus_server.toml``);
* where the corpus carries upstream expectations (filebeat ``*-expected.json``, the
  DataDog pipeline samples, jc's ping ``*.expected.json``) timestamp (UTC), level, code,
  thread/pid and message are checked against them;
* no server/network family claims the application, SQLAlchemy or driver samples.

``python tests/test_corpus_server.py`` prints the conformance table of ``docs/real-logs.md``
(``--write`` puts it there).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from pipeline.ingest import detect, envelopes
from pipeline.ingest.families import by_name
from pipeline.ingest.families.base import FileContext

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ROOT = Path(__file__).resolve().parents[1]
UTC = dt.UTC
SERVER_FAMILIES = ("mysql_error", "mariadb", "postgres", "ping", "latency_table", "status")
SERVER_FOLDERS = ("mysql-error", "mariadb-error", "postgresql", "ping")
OTHER_FOLDERS = ("app-logs", "sqlalchemy", "drivers")

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


def expect(family, lines, events, kinds=None, *, latency=0, metrics=0, rejects=0, skipped=0) -> tuple:
    """What a file parses into: (family, lines, events, latency, metrics, rejects, skipped,
    kinds other than "other"); the counts not named are 0."""
    return (family, lines, events, latency, metrics, rejects, skipped, kinds or {})


NOT_READ = (None,)  # detected as no family: not a log we read


def expected_of_corpus() -> dict[str, tuple]:
    """file -> expect(...) or NOT_READ, as tests/cases/corpus_server.toml gives them."""
    with open(ROOT / "tests" / "cases" / "corpus_server.toml", "rb") as fh:
        table = tomllib.load(fh)["expected"]
    return {name: NOT_READ if row == "not read" else expect(**row) for name, row in table.items()}


EXPECTED = expected_of_corpus()

LEVELS = {"Note": "INFO", "Warning": "WARNING", "ERROR": "ERROR", "System": "INFO", "LOG": "INFO", "FATAL": "CRITICAL"}
BEATS_ZONES = {"-02:00": "Etc/GMT+2", "UTC": "UTC"}


def corpus_files(folders=SERVER_FOLDERS) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for folder in folders
        if (CORPUS / folder).is_dir()
        for p in (CORPUS / folder).iterdir()
        if p.is_file() and not p.name.endswith((".expected.json", "-expected.json", ".expected-streaming.json"))
    )


def read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_file(path: Path, family: str, tz: str = "UTC", state: dict | None = None):
    lines = read_lines(path)
    df = pl.DataFrame(
        {"line_no": list(range(1, len(lines) + 1)), "line": lines},
        schema={"line_no": pl.Int64, "line": pl.Utf8},
    )
    ctx = FileContext(path=str(path), host="corpus", timezone=tz, final=True, state=state or {})
    # as ingest reads it: the file's envelope (compose, docker, syslog...) removed first
    ctx.state.setdefault("envelopes", envelopes.detect(lines[:200]))
    return envelopes.parse(by_name(family), df, ctx), lines


def detected(lines: list[str]) -> str | None:
    """The family ingest would choose (envelopes removed first, as ingest does)."""
    family = detect.choose("\n".join(lines).encode("utf-8")).family
    return family.name if family else None


def ids(paths):
    return [p.name for p in paths]


@pytest.mark.parametrize("path", corpus_files(), ids=ids(corpus_files()))
def test_server_corpus_file(path):
    assert path.name in EXPECTED, f"{path.name} is new in the corpus: read it and add its expectations"
    expected = EXPECTED[path.name]
    lines = read_lines(path)
    assert detected(lines) == expected[0]
    if expected[0] is None:
        return
    family, n_lines, n_events, n_latency, n_metrics, n_rejects, n_skipped, kinds = expected
    parsed, _ = parse_file(path, family)
    assert len(lines) == n_lines
    got = (parsed.events.height, parsed.latency.height, parsed.metrics.height, parsed.rejects.height, parsed.skipped)
    assert got == (n_events, n_latency, n_metrics, n_rejects, n_skipped)
    assert dict(Counter(k for k in parsed.events["kind"].to_list() if k != "other")) == kinds
    folded = int(parsed.events["n_lines"].sum() or 0)
    assert folded + parsed.rejects.height + parsed.latency.height + parsed.metrics.height + parsed.skipped == n_lines
    if family in ("mysql_error", "mariadb"):
        assert set(parsed.events["source"].to_list()) <= {"mysql"}
    if family == "postgres":
        assert set(parsed.events["source"].to_list()) == {"postgres"}


@pytest.mark.parametrize("path", corpus_files(OTHER_FOLDERS), ids=ids(corpus_files(OTHER_FOLDERS)))
def test_server_families_do_not_claim_application_samples(path):
    lines = read_lines(path)[:200]
    for name in SERVER_FAMILIES:
        assert by_name(name).sniff(lines) < 0.5, name


def line_of_offsets(lines: list[str]) -> dict[int, int]:
    out, offset = {}, 0
    for i, line in enumerate(lines, start=1):
        out[offset] = i
        offset += len(line.encode("utf-8")) + 1
    return out


BEATS = [
    ("mysql-error/beats_mysql-ubuntu-8.0.15.log", "mysql_error"),
    ("mysql-error/beats_mysql-ubuntu-5.5.53-extented.log", "mysql_error"),
    ("mariadb-error/beats_mariadb-10.4.8.log", "mariadb"),
    ("postgresql/beats_postgresql-13-default.log", "postgres"),
    ("postgresql/beats_postgresql-9.6-new-timestamp.log", "postgres"),
]


@pytest.mark.parametrize("rel,family", BEATS, ids=[b[0].split("/")[1] for b in BEATS])
def test_filebeat_expectations(rel, family):
    path = CORPUS / rel
    expected = json.loads(Path(str(path) + "-expected.json").read_text())
    zone = expected[0].get("event.timezone", "UTC")
    parsed, lines = parse_file(path, family, tz=BEATS_ZONES.get(zone, "UTC"))
    by_line = {r["line_no"]: r for r in parsed.events.iter_rows(named=True)}
    line_at = line_of_offsets(lines)
    for entry in expected:
        line_no = line_at[entry["log.offset"]]
        if line_no not in by_line:
            # a DETAIL/HINT line: folded into the message before it
            assert entry.get("log.level") in ("HINT", "DETAIL", "STATEMENT", "CONTEXT")
            holder = max(n for n in by_line if n < line_no)
            assert lines[line_no - 1] in by_line[holder]["raw"]
            continue
        ev = by_line[line_no]
        want_ts = dt.datetime.fromisoformat(entry["@timestamp"]).astimezone(UTC)
        got_ts = ev["ts"].replace(microsecond=ev["ts"].microsecond // 1000 * 1000)
        if entry.get("event.timezone") == "EST":
            # PostgreSQL reads EST as UTC-05:00; filebeat's expected file put these
            # stamps one hour earlier, so we check against the log's own text.
            stamp = entry["postgresql.log.timestamp"].replace(" EST", "-05:00")
            assert got_ts == dt.datetime.fromisoformat(stamp).astimezone(UTC)
            assert got_ts - want_ts == dt.timedelta(hours=1)
        else:
            assert got_ts == want_ts, entry["log.offset"]
        assert ev["level"] == LEVELS.get(entry.get("log.level"), "INFO")
        if "event.code" in entry and entry["event.code"].startswith("MY-"):
            assert ev["error_code"] == int(entry["event.code"][3:])
        else:
            assert ev["error_code"] is None
        ref = entry.get("mysql.thread_id", entry.get("process.pid"))
        if ref is not None:
            assert ev["conn_ref"] == str(ref)
        assert ev["message"] in entry["message"]


def datadog_samples() -> list[dict]:
    path = CORPUS / "mysql-error" / "datadog_mysql_tests.excerpt.yaml"
    if not path.is_file():
        return []
    import yaml

    return yaml.safe_load(path.read_text())["tests"]


@pytest.mark.parametrize("case", datadog_samples(), ids=lambda c: c["sample"][:40])
def test_datadog_pipeline_samples(case):
    line = case["sample"].rstrip("\n")
    family = max(("mysql_error", "mariadb"), key=lambda n: by_name(n).sniff([line]))
    df = pl.DataFrame({"line_no": [1], "line": [line]}, schema={"line_no": pl.Int64, "line": pl.Utf8})
    parsed = by_name(family).parse(df, FileContext(path="dd", host="h", timezone="UTC"))
    ev = parsed.events.row(0, named=True)
    db = case["result"]["custom"]["db"]
    assert int(ev["ts"].timestamp() * 1000) == db["date"]
    custom = case["result"]["custom"]
    if "thread_id" in custom:
        assert ev["conn_ref"] == str(custom["thread_id"])
    if "severity" in db:
        assert ev["level"] == LEVELS[db["severity"]]
    assert custom["message"].rstrip("\n").endswith(ev["message"].removeprefix("InnoDB: "))


def jc_cases() -> list[Path]:
    return sorted((CORPUS / "ping").glob("jc-*.out")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("path", jc_cases(), ids=ids(jc_cases()))
def test_jc_ping_expectations(path):
    expected = json.loads(path.with_name(path.name[:-4] + ".expected.json").read_text())
    start = "2026-11-24T23:50:00Z"
    parsed, lines = parse_file(path, "ping", state={"start_time": start})
    lat = parsed.latency.sort("line_no")
    responses = expected.get("responses", [])
    replies = [r for r in responses if r["type"] == "reply" and not r.get("duplicate")]
    timeouts = [r for r in responses if r["type"] == "timeout"]
    # jc lists "From X icmp_seq=N Destination Host Unreachable" nowhere; for us it is a lost probe
    unreachable = sum(1 for line in lines if re.match(r"^(?:\[[\d.]+\] )?From \S+ icmp_seq=\d+ Destination", line))
    got_replies = lat.filter(~pl.col("lost"))
    assert got_replies["rtt_ms"].to_list() == [r["time_ms"] for r in replies]
    assert lat.filter(pl.col("lost")).height == len(timeouts) + unreachable
    for want, got in zip(replies, got_replies["ts"].to_list()):
        if want.get("timestamp") is not None:  # -D: the epoch stamp, exact to the microsecond
            assert abs(got.timestamp() - want["timestamp"]) < 2e-6
    got_lost = lat.filter(pl.col("lost"))["ts"].to_list()
    for want, got in zip(timeouts, got_lost):
        if want.get("timestamp") is not None:
            assert abs(got.timestamp() - want["timestamp"]) < 2e-6
    if not any(line.startswith("[") for line in lines):  # no stamps: counted from the start time
        assert lat["ts"].min() == dt.datetime(2026, 11, 24, 23, 50, tzinfo=UTC)
    assert set(lat["target"].to_list()) <= {f"icmp:{expected['destination']}", f"icmp:{expected.get('destination_ip')}"}
    assert parsed.rejects.height == {"jc-centos-7.7_ping-ip-O-unparsedlines.out": 3}.get(path.name, 0)


def conformance_rows() -> list[tuple[str, str, str, str]]:
    """(file, family, result, counts) for the table of docs/real-logs.md."""
    rows = []
    for path in corpus_files():
        lines = read_lines(path)
        family = detected(lines)
        rel = f"{path.parent.name}/{path.name}"
        if family is None:
            rows.append((rel, "-", "not detected (no format we read)", f"{len(lines)} lines"))
            continue
        parsed, _ = parse_file(path, family)
        counts = f"{len(lines)} {'line' if len(lines) == 1 else 'lines'}: "
        parts = []
        if parsed.events.height:
            folded = int(parsed.events["n_lines"].sum())
            parts.append(f"{parsed.events.height} events from {folded} lines")
        if parsed.latency.height:
            parts.append(f"{parsed.latency.height} latency")
        if parsed.metrics.height:
            parts.append(f"{parsed.metrics.height} metrics")
        if parsed.skipped:
            parts.append(f"{parsed.skipped} skipped")
        if parsed.rejects.height:
            parts.append(f"{parsed.rejects.height} rejected")
        result = "full" if parsed.rejects.height == 0 else "partial"
        rows.append((rel, family, result, counts + ", ".join(parts)))
    return rows


DOCS_PAGE = ROOT / "docs" / "real-logs.md"
MARKER = "corpus-conformance"


def conformance_table(rows: list[tuple[str, str, str, str]]) -> str:
    return "\n".join(
        ["| file | family | result | counts |", "|---|---|---|---|", *("| " + " | ".join(r) + " |" for r in rows)]
    )


def test_docs_list_every_server_corpus_file():
    rows = conformance_rows()
    if not rows:
        pytest.skip(f"no corpus at {CORPUS}")
    page = DOCS_PAGE.read_text(encoding="utf-8")
    shown = page.split(f"<!-- {MARKER} -->", 1)[1].split(f"<!-- /{MARKER} -->", 1)[0]
    assert shown.strip() == conformance_table(rows), "run python tests/test_corpus_server.py --write"


if __name__ == "__main__":
    import sys

    table = conformance_table(conformance_rows())
    if "--write" in sys.argv:
        head, rest = DOCS_PAGE.read_text(encoding="utf-8").split(f"<!-- {MARKER} -->", 1)
        _, tail = rest.split(f"<!-- /{MARKER} -->", 1)
        DOCS_PAGE.write_text(f"{head}<!-- {MARKER} -->\n\n{table}\n\n<!-- /{MARKER} -->{tail}", encoding="utf-8")
    print(table)
