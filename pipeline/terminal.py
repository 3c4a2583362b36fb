"""Text from logs and config, made safe to print on a terminal.

Log lines are hostile input: an escape sequence can write the clipboard (OSC 52), move
the cursor or clear the screen, ``\\r`` can overwrite what came before it, and a bidi
override (U+202E) reorders what the reader sees.  :func:`printable` shows each such
character as its Python escape (``\\x1b``, ``\\r``, ``\\x07``, ``\\u202e``) and keeps every
other character, printable Unicode included, as it is.  Backslashes are left alone, so
normal text (Windows paths, regexes) prints unchanged.

rich interprets ``[bold]`` as markup and ``:name:`` as an emoji: :func:`cell` gives a
:class:`~rich.text.Text`, which rich prints literally, and :func:`markup` text escaped for
a string that carries markup of our own.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls (a terminal may read U+009B as CSI),
# and the bidi controls: ALM, LRM, RLM, LRE..RLO, LRI..PDI
_CONTROLS = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROLS}]")
_UNSAFE_ONE_LINE = re.compile(f"[{_CONTROLS}\t\n]")


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # Python's own spelling: \x1b, \r, \t, \n, \u202e


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character escaped; tab and newline kept unless ``one_line``
    (a file name or a table cell, where a newline could fake another line)."""
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escaped, text)


def cell(text: str) -> Text:
    """One value for a rich table or console: printed as is, never as markup or emoji."""
    return Text(printable(text, one_line=True))


def markup(text: str) -> str:
    """``text`` to put inside a rich markup string: printable, its brackets escaped."""
    return escape(printable(text, one_line=True))
