"""Conformance of the server and network families over the shared corpus of real logs
(``../shared/corpus``; skipped when absent).

* every file in mysql-error/, mariadb-error/, postgresql/ and ping/ is detected as the
  family we expect (or as nothing, for files that are not logs we read) and parses into
  the counts and kinds we derived by reading its lines (``EXPECTED``);
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

# file -> expect(...) or NOT_READ.
# Derived by reading each file; ping files without -D stamps give no time unless a start
# time is known, so their probes are rejected here (see test_jc_ping_expectations for
# the same files parsed with a start time).
EXPECTED: dict[str, tuple] = {
    # mysql-error/
    "beats_error-5.7.10-brew.log": expect("mysql_error", 9, 8, {"server_start": 1}),
    "beats_mysql-ubuntu-5.5.53-extented.log": expect("mysql_error", 1, 1),
    # server_stop was 8: each shutdown's "InnoDB: Starting shutdown..." and "InnoDB: Shutdown
    # completed; log sequence number" lines now count, as the kind table says
    "beats_mysql-ubuntu-5.5.53.log": expect("mysql_error", 223, 167, {"server_stop": 27, "server_start": 4}),
    "beats_mysql-ubuntu-8.0.15.log": expect(
        "mysql_error", 14, 14, {"server_stop": 2, "server_start": 1, "aborted_connection": 1}
    ),
    "datadog_mysql_tests.excerpt.yaml": NOT_READ,  # YAML test definitions; samples checked below
    "gh_MySqlConnector-1448_mysql-8.2-verbosity3.log": expect("mysql_error", 6, 6, {"aborted_connection": 6}),
    # server_stop 2: "Giving 0 client threads a chance to die gracefully" and "Forcefully
    # disconnecting 0 remaining clients" (kind table), not read as stops before
    "gh_bitnami-mysql-54_5.7-shutdown-quoted.log": expect("mysql_error", 13, 12, {"server_start": 1, "server_stop": 2}),
    "gh_cmangos-5_5.7-dash-prefixed.log": expect("mysql_error", 8, 8, {"aborted_connection": 8}),
    # two mongo JSON lines before the first MySQL line are rejected
    "gh_devilbox-845_mysql-8.0.22-compose-interleaved.log": expect("mysql_error", 10, 8, rejects=2),
    "gh_docker-library-mysql-1003_8.0.34-entrypoint.log": expect("mysql_error", 3, 3),
    "gh_docker-library-mysql-124_5.7-compose-prefix.log": expect("mysql_error", 6, 6, {"aborted_connection": 6}),
    "gh_go-sql-driver-556_5.7-windows.log": expect("mysql_error", 4, 4, {"aborted_connection": 2}),
    "gh_maxwell-1830_rds-no-ts.log": NOT_READ,  # one line without a timestamp: nothing to anchor it
    "gh_proxysql-2090_5.7-system-tz.log": expect("mysql_error", 1, 1, {"aborted_connection": 1}),
    # mariadb-error/
    "beats_mariadb-10.4.8.log": expect("mariadb", 30, 28, {"server_start": 1}),
    "gh_AzuraCast-3613_compose-prefix.log": expect("mariadb", 6, 6, {"aborted_connection": 6}),
    "gh_TeslaLogger-781_mariadb-docker.log": expect("mariadb", 5, 5, {"aborted_connection": 5}),
    "gh_WPN-XM-439_mariadb-10.0-windows-crash-recovery.log": expect("mariadb", 15, 15, {"server_stop": 2}),
    # the file opens with an orphan "Version:" line
    "gh_appwrite-3157_mariadb-10.7-docker.log": expect("mariadb", 12, 11, {"aborted_connection": 3}, rejects=1),
    # the file opens with a bitnami "INFO ==>" line
    "gh_bitnami-mariadb-202_10.3.log": expect("mariadb", 13, 12, rejects=1),
    # two systemd lines before the first mysqld line
    "gh_cacti-3362_syslog-unauthenticated.log": expect("mariadb", 10, 4, {"aborted_connection": 4}, rejects=2),
    "gh_darkweb-search-8_docker-ts-prefix.log": expect("mariadb", 10, 10),
    # server_stop was 2: "InnoDB: Starting shutdown..." and "InnoDB: Shutdown completed; log
    # sequence number" now count, as the kind table says
    "gh_docker-erpnext-16_mariadb-10.6-denied-restart.log": expect(
        "mariadb", 14, 14, {"aborted_connection": 1, "access_denied": 1, "server_stop": 4}
    ),
    "gh_docker-matomo-5_mariadb-10.2-pthread-id.log": expect("mariadb", 8, 8, {"aborted_connection": 8}),
    "gh_frappe_docker-519_rancher-prefix-denied.log": expect("mariadb", 9, 9, {"access_denied": 8}),
    "gh_galera-424_syslog-wrapped.log": expect("mariadb", 10, 10),
    "gh_ha-addons-1468_mariadb-10.4-signal11.log": expect(
        "mariadb", 16, 6, {"server_start": 1, "aborted_connection": 3, "server_stop": 1}
    ),
    # s6 / add-on lines before mysqld_safe starts
    "gh_ha-addons-2404_s6-mysqld_safe-startup.log": expect("mariadb", 15, 5, rejects=10),
    "gh_ha-addons-3584_mariadb-shutdown-threads.log": expect("mariadb", 17, 6, {"server_stop": 1}, rejects=7),
    "gh_ha-core-92682_mariadb-10.6-crash-recovery.log": expect(
        "mariadb", 15, 14, {"server_stop": 1, "server_start": 1}
    ),
    "gh_linuxserver-mariadb-44_compose-db-prefix.log": expect("mariadb", 12, 12, {"access_denied": 12}),
    "gh_loops-server-261_mariadb.log": expect("mariadb", 1, 1, {"aborted_connection": 1}),
    # server_stop was 1: "InnoDB: Starting shutdown..." now counts (kind table)
    "gh_mariadb-docker-483_mariadb-11.4-shutdown.log": expect("mariadb", 16, 15, {"server_start": 1, "server_stop": 2}),
    "gh_seafile-3052_mariadb.log": expect("mariadb", 8, 8, {"aborted_connection": 8}),
    "gh_syncserver-202_mariadb.log": expect("mariadb", 8, 8, {"aborted_connection": 8}),
    # server_stop was 1: "InnoDB: Starting shutdown..." now counts (kind table)
    "gh_truecharts-20418_k8s-rfc3339-prefix.log": expect(
        "mariadb", 11, 7, {"server_start": 1, "access_denied": 1, "server_stop": 2}
    ),
    "gh_volkszaehler-925_journald.log": expect("mariadb", 1, 1, {"aborted_connection": 1}),
    # postgresql/
    "beats_postgresql-11-connection-disconnection.csv.log": expect(
        "postgres", 28, 20, {"server_start": 1, "access_denied": 4}
    ),
    "beats_postgresql-11.4.log": expect("postgres", 29, 14, {"server_stop": 2, "server_start": 1}),
    "beats_postgresql-13-default.log": expect("postgres", 3, 3, {"access_denied": 2}),
    "beats_postgresql-9.6-new-timestamp.log": expect("postgres", 5, 4),
    # first line truncated at its start by the poster ("016-12-20 ...")
    "gh_pgmoon-47_too-many-clients.log": expect("postgres", 5, 4, {"too_many_connections": 4}, rejects=1),
    # its first line is a STATEMENT whose message was cut from the paste: a secondary line is
    # never a record of its own (tests/wild/COUNTING.md), so it is rejected
    "gh_postgresql-k8s-operator-616_custom-prefix.log": expect("postgres", 8, 6, rejects=1),
    "gh_psycopg2-1717_client-reset.log": expect("postgres", 11, 11, {"connection_reset": 11}),
    "gh_texera-3525_too-many-clients-gmt.log": expect("postgres", 4, 2, {"too_many_connections": 2}),
    # ping/: mtr, paping, tcping, tcpping are other tools' formats, not read
    "gh_mtr-249_mtr-0.87-report.txt": NOT_READ,
    "gh_mtr-486_mtr-0.95-report-iso-start.txt": NOT_READ,
    "gh_mtr-92_mtr-report-anonymized.txt": NOT_READ,
    "gh_mtr-exporter-33_mtr-0.95-json.json": NOT_READ,
    "gh_mtr-monitor-10_mtr-0.92-vs-0.95-json-fragments.txt": NOT_READ,
    "gh_paping-22_paping-1.5.5-timeouts.txt": NOT_READ,
    "gh_paping-4_paping-1.5.1.txt": NOT_READ,
    "gh_pouriyajamshidi-tcping-406_reply-noreply.txt": NOT_READ,
    "gh_tcpping-17_deajan-tcpping-with-date.txt": NOT_READ,
    "jc-alpine-linux-3.13_ping-ip.out": expect("ping", 6, 0, rejects=1, skipped=5),
    "jc-centos-7.7_ping-hostname-O.out": expect("ping", 25, 0, rejects=20, skipped=5),
    "jc-centos-7.7_ping-ip-O-D.out": expect("ping", 25, 0, latency=20, skipped=5),
    "jc-centos-7.7_ping-ip-O-unparsedlines.out": expect("ping", 27, 0, rejects=22, skipped=5),
    "jc-centos-7.7_ping-ip-dup.out": expect("ping", 27, 0, rejects=2, skipped=25),
    "jc-fedora32_ping-hostname-O.out": expect("ping", 25, 0, rejects=20, skipped=5),
    "jc-freebsd12_ping-ip.out": expect("ping", 8, 0, rejects=3, skipped=5),
    "jc-osx-10.14.6_ping-ip-unreachable.out": expect("ping", 35, 0, rejects=7, skipped=28),
    "jc-osx-10.14.6_ping-ip.out": expect("ping", 8, 0, rejects=3, skipped=5),
    "jc-pi_ping-ip-O-D.out": expect("ping", 10, 0, latency=4, skipped=6),
    "jc-ubuntu-18.04_ping-hostname-O-D-p-s.out": expect("ping", 26, 0, latency=20, skipped=6),
    "jc-ubuntu-18.04_ping6-ip-O-D-p.out": expect("ping", 26, 0, latency=20, skipped=6),
    "jc-ubuntu-22.04_ping-dest-unreachable.out": expect("ping", 8, 0, rejects=3, skipped=5),
}

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
