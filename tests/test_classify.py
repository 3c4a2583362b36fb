"""Client-side classification: driver error spellings, pool messages, listener messages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest

from pipeline.ingest.classify import classify


def classified(text: str, message: str | None = None) -> dict:
    """The row ``classify`` gives a record: its whole text as ``raw``, its first line (or
    ``message``) as the message."""
    message = text.split("\n")[0] if message is None else message
    return classify(pl.DataFrame({"message": [message], "raw": [text]})).to_dicts()[0]


def kind_and_code(text: str) -> tuple:
    row = classified(text)
    return (row["kind"], row["error_code"])


def assert_the_prefilter_changes_nothing(texts: list[str]) -> None:
    """Rows with an error word but no match of the rules' union skip the rules: the result
    must be what every rule on every row gives."""
    from pipeline.ingest.classify import RESULT_COLUMNS, _classify

    frame = pl.DataFrame({"message": [t.split("\n")[0] for t in texts], "raw": texts})
    assert (
        classify(frame).select(RESULT_COLUMNS).to_dicts()
        == _classify(frame, None, "raw", errors=True).select(RESULT_COLUMNS).to_dicts()
    )


def table(name: str) -> list[tuple]:
    """The (text, kind, code) rows of a table of tests/cases/classify.toml (no code: None)."""
    with open(Path(__file__).resolve().parent / "cases" / "classify.toml", "rb") as fh:
        rows = tomllib.load(fh)[name]
    return [(row["text"], row["kind"], row.get("code")) for row in rows]


# driver error spellings, SQLAlchemy pool messages, listener messages
CASES = table("cases")


@pytest.mark.parametrize("text,kind,code", CASES)
def test_classification(text, kind, code):
    assert kind_and_code(text) == (kind, code)


def test_conn_ref_is_the_connection_repr():
    text = "Connection <pymysql.connections.Connection object at 0x7f3a> checked out from pool"
    row = classified(text)
    assert row["conn_ref"] == "<pymysql.connections.Connection object at 0x7f3a>"
    assert row["source"] == "sqlalchemy"


def test_parameters_tuple_is_not_mistaken_for_an_error_code():
    text = "query failed\n[parameters: (1234, 'abc')]"
    row = classified(text, message="query failed")
    assert row["error_code"] is None and row["kind"] == "other"


def test_the_error_prefilter_gives_what_every_rule_on_every_row_gives():
    """Rows with an error word but no match of the rules' union skip the rules: that
    must change no kind, code or connection, on the spellings above and on noise."""
    noise = [
        "ERROR - GET /api/v1/orders 504 upstream timeout",
        'Traceback (most recent call last):\n  File "x.py", line 3\nTimeoutError: read timed out',
        "Exception in worker: KeyError('id')",
        "error 1234 (HY000) in a message that looks like a code",
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
    ]
    assert_the_prefilter_changes_nothing([text for text, _, _ in CASES] + noise)


# wordings added for the kind table (tests/wild/COUNTING.md), each as the driver prints it
NEW_CASES = table("new_wordings")


@pytest.mark.parametrize("text,kind,code", NEW_CASES)
def test_new_wordings(text, kind, code):
    assert kind_and_code(text) == (kind, code)


@pytest.mark.parametrize("text,kind,code", table("first_row_wins"))
def test_first_row_of_the_table_wins(text, kind, code):
    assert kind_and_code(text) == (kind, code)


# texts that only look like a dropped database connection
PRECISION = table("precision")


@pytest.mark.parametrize("text,kind,code", PRECISION)
def test_precision(text, kind, code):
    assert kind_and_code(text) == (kind, code)


def test_the_error_prefilter_gives_what_every_rule_on_every_row_gives_on_the_new_wordings():
    assert_the_prefilter_changes_nothing([t for t, _, _ in NEW_CASES + PRECISION])
