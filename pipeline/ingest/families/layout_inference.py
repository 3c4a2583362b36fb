"""Learn a text log's line layout from its first lines.

Python services log in more layouts than any list can hold: ``logging`` formats put the
time, the level, the logger, the thread, ``file:line`` and padding in any order, in
brackets or not.  Instead of guessing from a list, each of a file's first lines is read as
a sequence of tokens: a **time stamp** (any of :data:`STAMPS`), a **level** word in any of
its usual spellings, bracketed fields (``[MainThread]``, ``(Recorder)``,
``{taskinstance.py:1234}``), words, padding and separators.  The *header* is everything up
to the first token that is message text; it becomes one regex (a :class:`Inferred`
layout), so the file is then read by one compiled pattern per chunk, never a Python loop
per line.  A header must hold a level, and a time stamp unless an envelope gives the time.

Examples of headers this reads::

    [2023-05-02 10:01:02,123] {taskinstance.py:1234} ERROR - ...     (Airflow)
    2023-05-02 10:01:02.123 ERROR (Recorder) [homeassistant.components.recorder] ...
    [2023-05-02 10:01:02.123456] ERROR: app.db: ...                   (logbook)
    2023-05-02 10:01:02,123: ERROR\tpgadmin:\t...                     (pgAdmin)
    ERROR 2023-05-02 10:01:02,123 models 1234 ...                     (time second)
    2023-05-02T10:01:02.123+0000 | ERROR    | app.db:connect:12 | ...
    ERROR:sqlalchemy.pool.impl.QueuePool:...                          (with an envelope's time)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.ingest.families.server_common import ZONE_ABBREV_MINUTES

# Zone names a stamp may end with (a closed list: "INFO" after a stamp is a level).
ZONE_NAMES = sorted(
    {*ZONE_ABBREV_MINUTES, "IST", "BRT", "BRST", "ART", "CAT", "EAT", "WAT", "SAST", "PHT", "ICT", "WIB", "PKT"},
    key=lambda z: (-len(z), z),
)
ZONE_RX = "(?:" + "|".join(ZONE_NAMES) + ")"

# Time stamps: (name, regex).  Each name has a reader in python_text._read_stamps.
STAMPS: list[tuple[str, str]] = [
    # ISO-8601 date and time, "T" or a space, optional fraction (. or ,), optional zone
    # (Airflow writes "2022-03-07, 12:19:30 IST"; zone names other than UTC/GMT are ambiguous
    # and read in the file's zone)
    ("iso", r"\d{4}-\d\d-\d\d(?:T|,? )\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d\d:?\d\d)\b| " + ZONE_RX + r"\b)?"),
    ("slash", r"\d{4}/\d\d/\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?"),  # 2023/05/02 10:01:02
    ("clf", r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d ?[+-]\d{4}"),  # 02/May/2023:10:01:02 +0000
    ("dmy", r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d(?:[.,]\d{1,9})?"),  # 02.05.2023 10:01:02
    ("yymmdd", r"\d{6} \d\d:\d\d:\d\d(?:[.,]\d{1,6})?"),  # 230502 10:01:02
    ("ymd2", r"\d\d-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d{1,6})?"),  # 23-05-02 10:01:02 (Home Assistant 0.4x)
    # seconds since the epoch, logging's %(created)f: only opening a line, before ":" or a space
    ("epoch", r"1\d{9}(?:\.\d{1,6})?"),
]
STAMP_RES = {name: re.compile(rx) for name, rx in STAMPS}

# Level words as loggers spell them.  Single letters (tornado's "E") are too ambiguous
# for inference; the named tornado layout reads them.
LEVEL_NAMES = [
    "DEBUG",
    "INFO",
    "INFORMATION",
    "NOTICE",
    "WARNING",
    "WARN",
    "ERROR",
    "ERR",
    "CRITICAL",
    "CRIT",
    "FATAL",
    "ALERT",
    "EMERGENCY",
    "EMERG",
    "TRACE",
    "SEVERE",
    "WARNI",
    "CRITI",  # %(levelname)-5.5s (Paste, Pylons, CKAN) cuts them to five letters
]
LEVEL_SPELLINGS = sorted({s for w in LEVEL_NAMES for s in (w, w.lower(), w.capitalize())}, key=lambda s: (-len(s), s))
LEVEL_RX = "(?:" + "|".join(LEVEL_SPELLINGS) + ")"
_LEVEL = re.compile(LEVEL_RX + r"(?![A-Za-z0-9_])")
# an upper-case level word standing alone a little further on: "TS file.py[line:141] ERROR msg"
_LEVEL_AHEAD = re.compile(
    r"(?<![A-Za-z0-9_])(?:" + "|".join(w for w in LEVEL_SPELLINGS if w.isupper()) + r")(?![A-Za-z0-9_])"
)
LEVEL_AHEAD_CHARS = 48
# a level's initial glued to the logger by a slash (Airflow 2.6's "E/LocalTaskJob")
LETTER_RX = "[DIWEFC]"
_LETTER = re.compile(LETTER_RX + r"(?=/[A-Za-z])")

OPEN_CLOSE = {"[": "]", "(": ")", "{": "}", "<": ">"}
SEPARATORS = set("-|:,;=>/#*~")
_WORD = re.compile(r"[^\s\[\](){}<>|:,;=]+")
_WS = re.compile(r"[ \t]+")
MAX_TOKENS = 14  # a header is short; a time and a level found later are message text
MAX_FIELD = 160  # a bracketed field longer than this is message text


@dataclass(frozen=True)
class Inferred:
    """A layout learned from a file: ``header`` is a regex matching a record's header with
    the groups ``ts`` (unless the time comes from an envelope), ``level`` and maybe
    ``logger``; ``stamp`` names how the time stamp is written (:data:`STAMPS`)."""

    header: str
    stamp: str | None

    def to_state(self) -> dict[str, str | None]:
        return {"header": self.header, "stamp": self.stamp}


def tokens(line: str, *, need_ts: bool = True) -> list[tuple[str, str]] | None:
    """The header tokens of one line as (type, text), or None when the line has no header.

    Types: ``TS:<stamp>``, ``LVL``, ``LETTER`` (a level's initial), ``FIELD`` (bracketed), ``WORD``, ``WS``, ``LIT``.
    """
    out: list[tuple[str, str]] = []
    pos, seen_ts, seen_lvl = 0, False, False
    while pos < len(line) and len(out) < MAX_TOKENS:
        # a level still to come (upper case, a few fields on) keeps the header going
        level_next = not seen_lvl and (
            _LEVEL.match(line, pos + (line[pos] in SEPARATORS)) is not None or _level_ahead(line, pos)
        )
        if (
            (seen_lvl or _stamp_leads(out))
            and (seen_ts or not need_ts)
            and not level_next
            and _message_starts(line, pos, out)
        ):
            if line[pos] == ":" and out and out[-1][0] == "WORD":  # "name:msg": the colon ends the header
                out.append(("LIT", ":"))
            break
        found = None
        if not seen_ts:
            for name, rx in STAMP_RES.items():
                m = rx.match(line, pos)
                if m and name == "epoch" and (pos > 0 or line[m.end() : m.end() + 1] not in (":", " ", "\t")):
                    continue
                if m:
                    found = (f"TS:{name}", m.group(0))
                    seen_ts = True
                    break
        if found is None and not seen_lvl:
            m = _LEVEL.match(line, pos)
            if m and (pos == 0 or not line[pos - 1].isalnum()) and (need_ts or _plainly_a_level(line, m)):
                found, seen_lvl = ("LVL", m.group(0)), True
            elif seen_ts and (m := _LETTER.match(line, pos)) and not line[pos - 1].isalnum():
                found, seen_lvl = ("LETTER", m.group(0)), True
        if found is None:
            c = line[pos]
            if c in OPEN_CLOSE:
                close = line.find(OPEN_CLOSE[c], pos + 1, pos + MAX_FIELD)
                inner_start = pos + 1 + (len(line[pos + 1 :]) - len(line[pos + 1 :].lstrip(" ")))
                opens_value = any(rx.match(line, inner_start) for rx in STAMP_RES.values()) or (
                    _LEVEL.match(line, inner_start) is not None
                )
                if opens_value or close < 0:
                    found = ("LIT", c)  # "[2023-..." or "[ERROR]": the value is read next
                else:
                    found = ("FIELD", line[pos : close + 1])
            elif c in " \t":
                blank = _WS.match(line, pos)
                assert blank is not None  # c is a blank
                found = ("WS", blank.group(0))
            elif c in SEPARATORS or c in ")]}>":
                found = ("LIT", c)
            else:
                found = ("WORD", word.group(0) if (word := _WORD.match(line, pos)) else c)
        out.append(found)
        pos += len(found[1])
    if need_ts and not seen_ts:
        return None
    if not seen_lvl and not _stamp_leads(out):
        return None
    while out and out[-1][0] == "WORD":  # a header ends at a separator or a field, not in words
        out.pop()
    return out


def _level_ahead(line: str, pos: int) -> bool:
    """An upper-case level word after at most two more fields (``file.py[line:141] ERROR``)."""
    m = _LEVEL_AHEAD.search(line, pos, pos + LEVEL_AHEAD_CHARS)
    return m is not None and len(line[pos : m.start()].split()) <= 2


def _stamp_leads(out: list[tuple[str, str]]) -> bool:
    """A header without a level still starts a record when the line begins with its time
    stamp (bare or bracketed): Twisted's ``2016-06-22T13:08:40-0700 [system] msg``."""
    kinds = [k for k, _ in out[:2]]
    return bool(kinds) and (
        kinds[0].startswith("TS:") or (kinds[0] == "LIT" and len(kinds) > 1 and kinds[1].startswith("TS:"))
    )


def _plainly_a_level(line: str, m: re.Match[str]) -> bool:
    """Without a time stamp beside it, a level word must look like one: upper case,
    bracketed, or followed by a colon ("Error connecting..." is a message)."""
    before = line[m.start() - 1 : m.start()]
    return m.group(0).isupper() or before in ("[", "(", "<") or line[m.end() : m.end() + 1] == ":"


def _message_starts(line: str, pos: int, out: list[tuple[str, str]]) -> bool:
    """Whether the message begins at ``pos``, the time and level having been read.

    The header goes on through separators, padding, bracketed fields and words that are
    fields (``name:``, ``name -``, ``name |``, a word followed by a tab or padding)."""
    c = line[pos]
    if c in " \t":
        return False
    if c == ":" and out and out[-1][0] in ("LVL", "LETTER"):  # basicConfig's "ERROR:name:msg"
        return False
    if c in SEPARATORS or c in ")]}>":
        # "ERROR - msg", "name: msg": a separator belongs to the header when followed by space
        nxt = line[pos + 1 : pos + 2]
        return not (nxt in ("", " ", "\t") or c in ")]}>")
    if c in OPEN_CLOSE:
        return line.find(OPEN_CLOSE[c], pos + 1, pos + MAX_FIELD) < 0
    m = _WORD.match(line, pos)
    if not m:
        return True
    after = line[m.end() : m.end() + 3]
    if after.startswith(("\t", "  ", " - ", " | ")) or after[:1] in (":", "|", "]", ")", "}"):
        # "name: msg" is a field, "Error: something" in a message looks the same: a field
        # only right after the level/time (the last token read was not a word)
        return bool(out) and out[-1][0] == "WORD"
    return True


def to_regex(toks: list[tuple[str, str]]) -> str:
    """A header regex from one line's tokens (the ``logger`` group on its likeliest field)."""
    logger_at = _logger_index(toks)
    parts = []
    for i, (kind, text) in enumerate(toks):
        if kind.startswith("TS:"):
            parts.append(f"(?P<ts>{dict(STAMPS)[kind[3:]]})")
        elif kind == "LVL":
            parts.append(f"(?P<level>{LEVEL_RX})\\b")  # "Trace" is not the start of "Traceback"
        elif kind == "LETTER":
            parts.append(f"(?P<level>{LETTER_RX})")
        elif kind == "WS":
            parts.append(r"[ \t]+")
        elif kind == "LIT":
            parts.append(re.escape(text))
        elif kind == "FIELD":
            o, c = re.escape(text[0]), re.escape(OPEN_CLOSE[text[0]])
            body = f"[^{c}]*"
            parts.append(f"{o}(?P<logger>{body}){c}" if i == logger_at else f"{o}{body}{c}")
        else:  # WORD
            body = r"[^\s\[\](){}<>|:,;=]+"
            parts.append(f"(?P<logger>{body})" if i == logger_at else body)
    return "".join(parts)


_NAME = re.compile(r"^[A-Za-z_][\w\-]*(?:\.[\w\-]+)*$")


def _logger_index(toks: list[tuple[str, str]]) -> int | None:
    """The token most likely to be the logger's name: a dotted name first, then any name."""
    names = []
    for i, (kind, text) in enumerate(toks):
        body = text[1:-1].strip() if kind == "FIELD" else text
        if kind in ("FIELD", "WORD") and _NAME.match(body) and body not in LEVEL_SPELLINGS:
            names.append((i, "." in body))
    dotted = [i for i, d in names if d]
    if dotted:
        return dotted[0]
    return names[0][0] if names else None


def infer(lines: list[str], *, need_ts: bool = True, limit: int = 3) -> list[Inferred]:
    """Candidate layouts for these lines: one per distinct header shape, most common first."""
    shapes: dict[str, tuple[int, str | None]] = {}
    for line in lines:
        toks = tokens(line, need_ts=need_ts)
        if not toks:
            continue
        rx = to_regex(toks)
        stamp = next((k[3:] for k, _ in toks if k.startswith("TS:")), None)
        count, _ = shapes.get(rx, (0, stamp))
        shapes[rx] = (count + 1, stamp)
    ranked = sorted(shapes.items(), key=lambda kv: -kv[1][0])[: limit * 3]
    return [Inferred(rx, stamp) for rx, (_, stamp) in ranked]


__all__ = ["LEVEL_RX", "STAMPS", "Inferred", "infer", "to_regex", "tokens"]
