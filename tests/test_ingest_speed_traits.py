"""Ingest stages an event's traits (pipeline.traits.event_traits) instead of having
DuckDB compute ``traits_sql`` in every chunk's INSERT: the two must agree on every row,
the case rules of DuckDB's ILIKE included."""

from __future__ import annotations

import random

import duckdb
import polars as pl
import pytest

from pipeline import store
from pipeline.ingest.writer import storable_events
from pipeline.kinds import SERVER_SOURCES
from pipeline.traits import CLIENT_TRAIT_KINDS, TRAITS, event_traits, ilike_regex, traits_sql

KINDS = [*CLIENT_TRAIT_KINDS, "other", "query_error", "checkout"]
SOURCES = [*SERVER_SOURCES, "app", "sqlalchemy"]
# look-alikes of the phrases' letters: DuckDB lowercases U+0130 to i and U+212A to k, not
# the long s, the dotless i or the Turkish lower-case forms
ODD_LETTERS = {"i": ["I", "\u0130", "\u0131"], "k": ["K", "\u212a"], "s": ["S", "\u017f"]}
FILLERS = ["", " ", "x", "\n", "é", "🙂", "-", "_", "%"]


def _spelled(phrase: str, rng: random.Random) -> str:
    """The phrase as a log may write it: capitals, look-alike letters, any character where
    the phrase has ``_`` (a LIKE wildcard), or one letter dropped."""
    out = []
    for char in phrase:
        roll = rng.random()
        if char == "_" and roll < 0.5:
            out.append(rng.choice(["-", " ", "\n", "é", "🙂", ""]))
        elif char in ODD_LETTERS and roll < 0.3:
            out.append(rng.choice(ODD_LETTERS[char]))
        elif roll < 0.3:
            out.append(char.upper())
        elif roll < 0.32:
            continue
        else:
            out.append(char)
    return "".join(out)


def _text(rng: random.Random) -> str:
    phrases = [p for t in TRAITS for p in t.phrases]
    parts = [rng.choice(FILLERS)]
    for _ in range(rng.randint(0, 3)):
        parts += [_spelled(rng.choice(phrases), rng), rng.choice(FILLERS)]
    return "".join(parts)


def _events(n: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        message = _text(rng) if rng.random() < 0.9 else None
        raw_head = "2026-11-24 10:00:00,000 - app - ERROR - "
        if message is not None and rng.random() < 0.5:  # a one-line event: the message ends raw
            raw = raw_head + message
        else:
            raw = raw_head + (message or "") + "\n" + _text(rng)
        rows.append((rng.choice(KINDS), rng.choice(SOURCES), message, raw))
    return pl.DataFrame(rows, schema=["kind", "source", "message", "raw"], orient="row")


def _duckdb_traits(stored: pl.DataFrame) -> list[int]:
    """traits_sql over the stored columns, as the INSERT computed it before."""
    con = duckdb.connect()
    con.register("rows", stored.drop("traits").to_arrow())
    sql = f"SELECT {traits_sql(message=store.MESSAGE_OF_ROW)} FROM rows"
    return [row[0] for row in con.execute(sql).fetchall()]


@pytest.mark.parametrize("seed", range(4))
def test_staged_traits_are_those_of_the_sql(seed):
    stored = storable_events(_events(1500, seed))
    assert stored["traits"].dtype == pl.UInt16
    expected = _duckdb_traits(stored)
    assert any(expected), "the sample should hold traits"
    assert stored["traits"].to_list() == expected


def test_missing_values_give_the_traits_of_the_sql():
    """Null kinds, sources, messages and raw texts, as the SQL's IN, coalesce and CASE read them."""
    events = pl.DataFrame(
        {
            "kind": [None, None, "lost_connection", "lost_connection", "other", "pool_timeout"],
            "source": ["mysql", None, None, "app", "postgres", "app"],
            "message": ["Too many connections", "refused", "timed out", None, None, "timed out"],
            "raw": ["x", "refused", None, "reset by peer", "got signal 9", "timed out"],
        },
        schema={"kind": pl.Utf8, "source": pl.Utf8, "message": pl.Utf8, "raw": pl.Utf8},
    )
    stored = events.with_columns(message_text=pl.col("message"), msg_at=pl.lit(None, pl.Int32)).drop("message")
    assert event_traits(events).to_list() == _duckdb_traits(stored.with_columns(traits=pl.lit(0)))


def test_rows_of_other_kinds_and_sources_are_not_searched():
    events = pl.DataFrame(
        {"kind": ["other", "lost_connection"], "source": ["app", "app"], "message": ["refused", "refused"]}
    ).with_columns(raw=pl.col("message"))
    assert event_traits(events).to_list() == [0, 1]


@pytest.mark.parametrize(
    "phrase, text, found",
    [
        ("timed out", "TİMED OUT", True),  # DuckDB's lower('İ') is 'i'
        ("timed out", "tımed out", False),  # the dotless i is no i
        ("crash", "CRAſH", False),  # nor is the long s an s
        ("crash", "\u212aCRASH", True),
        ("idle_session_timeout", "idle\nsession🙂timeout", True),  # _ is any one character
        ("idle_session_timeout", "idlesession_timeout", False),
        ("no pg_hba.conf entry", "no pg_hbaXconf entry", False),  # . is a dot
        ("a%b", "xa\nzzbq", True),  # % is any run of characters
        ("a%b", "ba", False),
        ("Timed Out", "TİMED OUT", True),  # the pattern is lowercased too
        ("x\\y", "x\\y", True),  # a backslash is itself
        ("x\\y", "xy", False),
    ],
)
def test_ilike_regex_agrees_with_duckdb(phrase, text, found):
    assert duckdb.connect().execute("SELECT ? ILIKE ?", [text, f"%{phrase}%"]).fetchone()[0] is found
    assert pl.Series([text]).str.contains("(?s)" + ilike_regex(phrase)).item() is found
