"""Secrets out before anything is stored.

Applied to every text column of every frame on its way to the store (events'
``message`` and ``raw``, rejects' ``raw``, latency targets, metric names), and by
:func:`redact_text` to single strings.  What is redacted is :data:`CATALOGUE`: a table
of named patterns, each with what it redacts and an example (the table of what is
redacted in docs/reliability.md is made from it, and a test checks every example), read at
import from ``redaction_catalogue.toml`` beside this module.

How it stays fast (it sees every byte that is ingested):

1. :data:`TRIGGER`, one regex alternation of every pattern's cheap ``trigger``, is
   run over the whole column (a literal-led alternation: the regex engine's literal
   prefilter skips most of each line).  Rows without a match -- nearly all of them --
   are not touched again.
2. On the few rows left, one Aho-Corasick pass (``extract_many``) finds which of the
   patterns' ``words`` each row holds; each pattern then runs only on the rows that
   hold one of its words, and its results are scattered back by position.

Add a pattern: add a ``[[pattern]]`` table to ``redaction_catalogue.toml`` (its regex in
the syntax of polars' Rust regex engine: no look-around, no back-references; groups are
put back with ``${n}``), with a ``trigger`` and ``words`` that every text it matches
contains, and an ``example`` whose ``secret`` it must remove (the file's header lists the
fields).  Then ``python tests/test_docs.py --write`` rewrites the table in docs/reliability.md
(``python -m pipeline.ingest.redact`` prints it; a test checks that they agree).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where rows are redacted: a run that stores nothing never loads polars
    import polars as pl

MASK = "***"


@dataclass(frozen=True)
class Pattern:
    """One row of the catalogue."""

    name: str
    #: what it finds, in polars' (Rust) regex syntax; for a ``function`` pattern, documentation only
    regex: str
    #: what a match becomes: ``${n}`` puts group n back, MASK stands where the secret was
    replacement: str
    #: a cheap regex every match satisfies (part of the pre-filter; case-insensitive unless ``(?-i:``)
    trigger: str
    #: lower-case literals, one of which every match contains (found case-insensitively)
    words: tuple[str, ...]
    #: what it redacts, for people (the table in docs/reliability.md)
    redacts: str
    #: a line that holds a secret ...
    example: str
    #: ... and the part of it that must go: redact_text(example) == example.replace(secret, MASK)
    secret: str
    #: replaces regex/replacement when a regex cannot say it (e.g. every string inside a span):
    #: the column of texts to redact -> the column redacted
    function: Callable[[pl.Series], pl.Series] | None = None
    #: its trigger is met by many ordinary lines (SQLAlchemy echoes the parameters of every
    #: failed statement): rows are checked for it alone, and rows that hold nothing else skip
    #: the search for the other patterns' words
    common: bool = False


# -- SQLAlchemy's parameter echo ---------------------------------------------------------

# "[parameters: ...]" after an error, and the echo of engine logging ("[generated in 0.001s] (...)")
_PARAMS_START = re.compile(
    r"\[parameters: |\[(?:generated in|cached since|no key|raw sql|dialect|insertmanyvalues)[^\]\n]*\] (?=[(\[{])"
)
# the rest of the line: in plain text up to the newline; in a JSON line up to "\n" or the string's end
_PARAMS_BODY_TEXT = re.compile(r"[^\n]*")
_PARAMS_BODY_JSON = re.compile(r"[^\"\\\n]*(?:\\[^n][^\"\\\n]*)*")
# a Python string literal: a dict's key (a colon follows) is kept, a value is masked; a JSON
# line escapes the double quotes
_IN_SQ, _IN_DQ = r"[^'\\\n]*(?:\\.[^'\\\n]*)*", r"[^\"\\\n]*(?:\\.[^\"\\\n]*)*"
_IN_SQ_JSON, _IN_DQ_JSON = r"[^'\\]*(?:\\.[^'\\]*)*", r"[^\"\\]*(?:\\[^\"][^\"\\]*)*"
_COLON = r"[ \t\r\f\v]*:"
_PY_STRING_TEXT = re.compile(
    rf"([bBuU]?[rR]?'{_IN_SQ}'{_COLON}|[bBuU]?[rR]?\"{_IN_DQ}\"{_COLON})"
    rf"|([bBuU]?[rR]?')(?:{_IN_SQ})('|$)|([bBuU]?[rR]?\")(?:{_IN_DQ})(\"|$)"
)
_PY_STRING_JSON = re.compile(
    rf"([bBuU]?[rR]?'{_IN_SQ_JSON}'{_COLON}|[bBuU]?[rR]?\\\"{_IN_DQ_JSON}\\\"{_COLON})"
    rf"|([bBuU]?[rR]?')(?:{_IN_SQ_JSON})('|$)|([bBuU]?[rR]?\\\")(?:{_IN_DQ_JSON})(\\\"|$)"
)


def _mask_string(match: re.Match[str]) -> str:
    key, open1, close1, open2, close2 = match.groups()
    if key is not None:  # a dict's key: its name, not data
        return key
    if open1 is not None:
        return open1 + MASK + close1
    return open2 + MASK + close2


def redact_parameters(text: str) -> str:
    """Every string value in SQLAlchemy's parameter echo becomes '***'; numbers, None,
    booleans and dict keys stay (they show the shape of the call, not its data)."""
    json_line = text.lstrip().startswith('{"')
    body_re, string_re = (_PARAMS_BODY_JSON, _PY_STRING_JSON) if json_line else (_PARAMS_BODY_TEXT, _PY_STRING_TEXT)
    out: list[str] = []
    pos = 0
    for start in _PARAMS_START.finditer(text):
        if start.start() < pos:
            continue
        body = body_re.match(text, start.end())
        assert body is not None  # both bodies match the empty string
        out.append(text[pos : body.start()])
        out.append(string_re.sub(_mask_string, body.group(0)))
        pos = body.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def redact_parameters_series(texts: pl.Series) -> pl.Series:
    """:func:`redact_parameters` over a column.  (Done in polars -- split at the echo, three
    regex passes, joined again -- it took twice as long: each pass copies whole events,
    where Python only looks at the echo's line.)"""
    import polars as pl

    return pl.Series(texts.name, [None if t is None else redact_parameters(t) for t in texts.to_list()], pl.String)


# -- the catalogue ---------------------------------------------------------------------------

# The mark a NotSecret's replacement inserts where it breaks a pattern's match; it goes again
# after the catalogue.
_MARK = "\ue000"


@dataclass(frozen=True)
class NotSecret:
    """Not a secret, though a pattern would take it for one: its example must come out unchanged."""

    name: str
    words: tuple[str, ...]
    regex: str
    replacement: str  # the text with _MARK inserted
    example: str


_DATA_FILE = "redaction_catalogue.toml"
#: what {NAME} may stand for in the data file besides its own [pieces]
_CODE_PIECES = {"MASK": MASK, "MARK": _MARK, "PARAMS_START": _PARAMS_START.pattern}
#: the functions a pattern of the data file may name
_FUNCTIONS: dict[str, Callable[[pl.Series], pl.Series]] = {"redact_parameters_series": redact_parameters_series}
_PIECE = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


def _load() -> tuple[list[Pattern], list[NotSecret]]:
    """The patterns and the not-secrets of redaction_catalogue.toml, in file order."""
    doc = tomllib.loads(resources.files(__package__ or "pipeline.ingest").joinpath(_DATA_FILE).read_text("utf-8"))
    pieces = dict(_CODE_PIECES)

    def expand(text: str, where: str) -> str:
        def piece(match: re.Match[str]) -> str:
            if match.group(1) not in pieces:
                raise ValueError(f"{_DATA_FILE}: {where}: no piece {match.group(0)}")
            return pieces[match.group(1)]

        return _PIECE.sub(piece, text)

    for name, text in doc["pieces"].items():  # a piece may use the pieces before it
        pieces[name] = expand(text, f"piece {name}")
    word_lists = {name: tuple(words) for name, words in doc["word_lists"].items()}

    def fields(row: dict[str, Any], kind: type[Any]) -> dict[str, Any]:
        where = str(row.get("name", "?"))
        unknown = set(row) - {f.name for f in dataclasses.fields(kind)}
        if unknown:
            raise ValueError(f"{_DATA_FILE}: {where}: unknown field(s) {', '.join(sorted(unknown))}")
        values = dict(row)
        for key in ("regex", "replacement", "trigger"):
            if key in values:
                values[key] = expand(values[key], where)
        words = values["words"]
        values["words"] = word_lists[words] if isinstance(words, str) else tuple(words)
        if "function" in values:
            values["function"] = _FUNCTIONS[values["function"]]
        return values

    return (
        [Pattern(**fields(row, Pattern)) for row in doc["pattern"]],
        [NotSecret(**fields(row, NotSecret)) for row in doc["not_secret"]],
    )


#: what is redacted, in order
CATALOGUE: list[Pattern]
#: what is not, though a pattern would take it for a secret
NOT_SECRETS: list[NotSecret]
CATALOGUE, NOT_SECRETS = _load()


#: the pre-filter: rows without a match skip the catalogue
TRIGGER = "(?i)" + "|".join(f"(?:{t})" for t in dict.fromkeys(p.trigger for p in CATALOGUE))
_TEXT_TRIGGER = re.compile(TRIGGER)

_TRIGGERS = ["(?i)" + p.trigger for p in CATALOGUE]
_COMMON = [i for i, p in enumerate(CATALOGUE) if p.common]
# the triggers of every other pattern and of NOT_SECRETS (their words must be searched for)
_RARE_TRIGGER = "(?i)" + "|".join(f"(?:{t})" for t in dict.fromkeys(p.trigger for p in CATALOGUE if not p.common))
# word -> the catalogue rows (by position) that need it; NOT_SECRETS' rows are -1, -2, ...
_WORDS: list[str] = sorted({w for p in CATALOGUE for w in p.words} | {w for n in NOT_SECRETS for w in n.words})
_ROWS_OF_WORD: dict[str, list[int]] = {}
for _row, _words in [(i, p.words) for i, p in enumerate(CATALOGUE)] + [
    (-1 - i, n.words) for i, n in enumerate(NOT_SECRETS)
]:
    for _word in _words:
        _ROWS_OF_WORD.setdefault(_word, []).append(_row)


def _apply(pattern: Pattern, texts: pl.Series) -> pl.Series:
    if pattern.function is not None:
        return pattern.function(texts)
    return texts.str.replace_all(pattern.regex, pattern.replacement)


def redact_series(texts: pl.Series) -> pl.Series:
    """``texts`` redacted (meant for the rows that passed :data:`TRIGGER`: any others
    cost time but come out unchanged).  Each pattern runs only on the rows that hold one
    of its words and match its trigger."""
    import polars as pl

    if texts.len() == 0:
        return texts
    rows_of: dict[int, list[int]] = {}
    checked: set[int] = set()  # rows_of[row] already holds only the texts that match its trigger
    for row in _COMMON:
        matching: list[int] = texts.str.contains(_TRIGGERS[row]).arg_true().to_list()
        if matching:
            rows_of[row] = matching
        checked.add(row)
    # which of the other patterns each row may need: one Aho-Corasick pass over the rows that
    # match any of their triggers, then a dict per word
    rare = texts.str.contains(_RARE_TRIGGER).arg_true()
    if rare.len():
        found = texts.gather(rare).str.extract_many(_WORDS, ascii_case_insensitive=True, overlapping=True)
        for i, words in zip(rare.to_list(), found.to_list()):
            if words:
                for row in {row for word in words for row in _ROWS_OF_WORD[word.lower()]} - checked:
                    rows_of.setdefault(row, []).append(i)
    texts = texts.clone()  # scatter writes in place
    hidden: set[int] = set()
    for i, not_secret in enumerate(NOT_SECRETS):
        at = rows_of.get(-1 - i)
        if at:
            texts = texts.scatter(at, texts.gather(at).str.replace_all(not_secret.regex, not_secret.replacement))
            hidden.update(at)
    for row, pattern in enumerate(CATALOGUE):
        at = rows_of.get(row)
        if not at:
            continue
        part = texts.gather(at)
        keep = part.str.contains(_TRIGGERS[row]) if row not in checked else None
        if keep is not None and not keep.all():
            if not keep.any():
                continue
            at = pl.Series(at).filter(keep).to_list()
            part = part.filter(keep)
        texts = texts.scatter(at, _apply(pattern, part))
    if hidden:
        at = sorted(hidden)
        texts = texts.scatter(at, texts.gather(at).str.replace_all(_MARK, "", literal=True))
    return texts


def redact_expr(expr: pl.Expr) -> pl.Expr:
    """The catalogue as an expression (every row goes through the pre-filter first)."""
    import polars as pl

    def batch(texts: pl.Series) -> pl.Series:
        mask = texts.fill_null("").str.contains(TRIGGER)
        if not mask.any():
            return texts
        rows = mask.arg_true()
        return texts.scatter(rows, redact_series(texts.gather(rows)))

    return expr.map_batches(batch, return_dtype=pl.String)


def redact_columns(frame: pl.DataFrame, columns: list[str], *, mask_column: str | None = None) -> pl.DataFrame:
    """Redact ``columns``.  ``mask_column`` names one column whose text contains all the
    others (an event's ``raw`` holds its ``message``), so only it is scanned for triggers.

    Only the few rows with a trigger are rewritten; their new values are scattered
    back by position, so the other rows' text is never copied."""
    import polars as pl

    present = [c for c in columns if c in frame.columns]
    if not present or frame.height == 0:
        return frame
    scanned = [mask_column] if mask_column in frame.columns else present
    mask = frame.select(pl.any_horizontal([pl.col(c).fill_null("").str.contains(TRIGGER) for c in scanned])).to_series()
    if not mask.any():
        return frame
    rows = mask.arg_true()
    return frame.with_columns(
        [frame[c].clone().scatter(rows, redact_series(frame[c].gather(rows))).alias(c) for c in present]
    )


def redact_text(text: str) -> str:
    """Redact one string (for messages printed outside the store, file names)."""
    if not text or not _TEXT_TRIGGER.search(text):  # Python's re reads the trigger alike
        return text
    import polars as pl

    redacted: str = pl.select(redact_expr(pl.lit(text, pl.String))).item()
    return redacted


def catalogue_markdown() -> str:
    """The table of what is redacted, in docs/reliability.md between the <!-- redaction-table --> markers."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def prose(text: str) -> str:  # outside a code span, <password> would be read as HTML
        return cell(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    lines = ["| pattern | redacts | example | becomes |", "|---|---|---|---|"]
    for p in CATALOGUE:
        lines.append(
            f"| `{p.name}` | {prose(p.redacts)} | `{cell(p.example)}` | `{cell(p.example.replace(p.secret, MASK))}` |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
