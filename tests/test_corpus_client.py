"""Conformance over real client-side lines in ../shared/corpus (sqlalchemy/, drivers/, app-logs/).

Files with time stamps are ingested and their events checked (time in UTC, level,
kind, code, conn_ref); excerpts without any time stamp (pasted tracebacks) cannot
become events, so their text is classified directly and must name the right
kind and code.  Expectations were derived by reading each line.
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.ingest.classify import classify
from pipeline.ingest.runner import ingest_paths
from tests.store_dump import count

UTC = dt.UTC

SQLITE_CONN = "<sqlite3.Connection object at 0x7f287819ac60>"


def pymysql_at(address: str) -> str:
    """The repr of the pymysql connection at this address."""
    return f"<pymysql.connections.Connection object at 0x{address}>"


# file -> list of (line_no, ts UTC, level, kind, error_code, conn_ref)
TIMESTAMPED = {
    "sqlalchemy/sqla-docs_engines-echo_pool-debug.log": [
        (1, dt.datetime(2020, 10, 24, 12, 54, 57, 701000, UTC), "DEBUG", "conn_open", None, SQLITE_CONN),
        (2, dt.datetime(2020, 10, 24, 12, 54, 57, 701000, UTC), "DEBUG", "checkout", None, SQLITE_CONN),
        (6, dt.datetime(2020, 10, 24, 12, 54, 57, 703000, UTC), "DEBUG", "checkin", None, SQLITE_CONN),
        (7, dt.datetime(2020, 10, 24, 12, 54, 57, 704000, UTC), "DEBUG", "reset", None, SQLITE_CONN),
    ],
    "sqlalchemy/unattributed_loguru-intercepted-pool-invalidation.log": [
        (1, dt.datetime(2024, 9, 27, 10, 35, 14, 777000, UTC), "INFO", "invalidate", None, None),
        (2, dt.datetime(2024, 9, 27, 10, 35, 14, 778000, UTC), "INFO", "invalidate", None, pymysql_at("7f40b22692e8")),
        (3, dt.datetime(2024, 9, 27, 10, 35, 14, 780000, UTC), "INFO", "invalidate", None, pymysql_at("7f40ac52aef0")),
    ],
    "sqlalchemy/gh_steemit-sbds-39_exception-during-reset_docker-ts.log": [
        (9, dt.datetime(2017, 5, 30, 14, 15, 40, 352021, UTC), None, "reset_fail", None, None),
    ],
    "app-logs/gh_celery-2919_celery-unrecoverable.log": [
        (1, dt.datetime(2015, 11, 10, 17, 45, 17, 776000, UTC), "ERROR", "server_gone", 2006, None),
    ],
    "app-logs/gh_django-celery-406_celery-callback.log": [
        (1, dt.datetime(2015, 12, 10, 11, 54, 32, 71000, UTC), "ERROR", "server_gone", 2006, None),
    ],
    "app-logs/gh_django-cereal-1_celery-critical.log": [
        (1, dt.datetime(2015, 6, 26, 8, 42, 56, 326000, UTC), "CRITICAL", "server_gone", 2006, None),
    ],
    "app-logs/gh_WMCore-8436_colon-format-legacy-sqla.log": [
        (2, dt.datetime(2018, 2, 3, 11, 3, 11, 76000, UTC), "ERROR", "server_gone", 2006, None),
    ],
    "app-logs/gh_InvenTree-2410_gunicorn-tz-switch.log": [
        (1, dt.datetime(2021, 12, 2, 18, 27, 10, tzinfo=UTC), "INFO", "other", None, None),
    ],
    "app-logs/gh_dify-on-mysql-42_compose-prefix-traceback.log": [
        (1, dt.datetime(2025, 9, 11, 9, 3, 27, 237000, UTC), "ERROR", "other", None, None),
    ],
}


def expectations() -> dict:
    """What tests/cases/corpus_client.toml expects of the untimed excerpts and the one-liners."""
    with open(Path(__file__).resolve().parent / "cases" / "corpus_client.toml", "rb") as fh:
        return tomllib.load(fh)


# excerpts without time stamps: file -> (kind, code) of the text as a whole
UNTIMED = {rel: (row["kind"], row.get("code")) for rel, row in expectations()["untimed"].items()}
# drivers/issue-oneliners.tsv: (start of the line, kind, code)
ONELINERS = [(row["start"], row["kind"], row.get("code")) for row in expectations()["oneliners"]]


@pytest.fixture(scope="module")
def corpus_store(corpus, tmp_path_factory):
    db = tmp_path_factory.mktemp("corpus") / "c.duckdb"
    paths = [corpus / rel for rel in TIMESTAMPED]
    ingest_paths(paths, db, correlate=False)
    return db


@pytest.mark.parametrize("rel", sorted(TIMESTAMPED))
def test_timestamped_files(rel, corpus, corpus_store):
    import duckdb

    path = str((corpus / rel).absolute())
    con = duckdb.connect(str(corpus_store), read_only=True)
    try:
        got = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT line_no, ts, level, kind, error_code, conn_ref FROM events WHERE file = ?", [path]
            ).fetchall()
        }
    finally:
        con.close()
    for line_no, ts, level, kind, code, conn_ref in TIMESTAMPED[rel]:
        assert line_no in got, f"{rel}:{line_no} produced no event"
        g_ts, g_level, g_kind, g_code, g_ref = got[line_no]
        assert g_ts.astimezone(UTC) == ts
        assert (g_level, g_kind, g_code, g_ref) == (level, kind, code, conn_ref), f"{rel}:{line_no}"


@pytest.mark.parametrize("rel", sorted(UNTIMED))
def test_untimed_excerpts_classify(rel, corpus):
    text = (corpus / rel).read_text(errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    row = classify(pl.DataFrame({"message": [first], "raw": [text]})).to_dicts()[0]
    assert (row["kind"], row["error_code"]) == UNTIMED[rel]


def test_oneliners(corpus):
    with open(corpus / "drivers" / "issue-oneliners.tsv", newline="") as fh:
        lines = [row["line"] for row in csv.DictReader(fh, delimiter="\t")]
    by_prefix = {}
    for prefix, kind, code in ONELINERS:
        matches = [ln for ln in lines if ln.startswith(prefix)]
        assert matches, f"no corpus line starts with {prefix!r}"
        by_prefix[prefix] = (matches[0], kind, code)
    frame = classify(
        pl.DataFrame(
            {
                "message": [m for m, _, _ in by_prefix.values()],
                "raw": [m for m, _, _ in by_prefix.values()],
            }
        )
    )
    for (prefix, (_, kind, code)), row in zip(by_prefix.items(), frame.to_dicts()):
        assert (row["kind"], row["error_code"]) == (kind, code), prefix


# ProxySQL's own log carries a date (cut at its start on the first line) and a level on
# every other line: a time-stamped log with levels is read (a learned layout), not skipped.
TIMED_NON_PYTHON = "drivers/gh_proxysql-1600_proxysql-4031.log"


def test_untimed_excerpts_are_reported_unknown_not_half_parsed(corpus, tmp_path):
    db = tmp_path / "u.duckdb"
    untimed = [corpus / rel for rel in UNTIMED if rel != TIMED_NON_PYTHON]
    summary = ingest_paths(untimed, db, correlate=False)
    assert {f.status for f in summary.files} == {"unknown"}
    assert all("time stamp" in f.warnings[0] for f in summary.files)
    assert count(db, "events") == 0


def test_a_timed_log_with_levels_is_read_whatever_its_layout(corpus, tmp_path):
    db = tmp_path / "p.duckdb"
    [report] = ingest_paths([corpus / TIMED_NON_PYTHON], db, correlate=False).files
    assert report.status == "new" and report.format == "python_text"
    assert report.lines == report.accounted
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = dict(con.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
    assert kinds.get("idle_disconnect", 0) >= 1
