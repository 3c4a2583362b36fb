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

Tables fit the width of the output (:func:`output_width`): :func:`print_table` leaves out
the least needed columns and cuts long paths in the middle rather than folding ids and
times over several lines, where a copy and paste would break them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

# rich is imported where something is drawn: `pipeline ingest --json`, or a run whose only
# output is an error line, never draws, and rich is 0.025 s of every start
if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.table import Table
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
    from rich.text import Text

    return Text(printable(text, one_line=True))


def markup(text: str) -> str:
    """``text`` to put inside a rich markup string: printable, its brackets escaped."""
    from rich.markup import escape

    return escape(printable(text, one_line=True))


# --- tables that fit the output ------------------------------------------------------------------

# stdout to a file or a pipe: wide enough that saved output keeps whole paths and summaries
PIPED_WIDTH = 200
ELLIPSIS = "…"
REQUIRED = 1_000_000  # Column.keep of a column never left out (ids, times)
_SEPARATORS = re.compile(r"[/\\]")

Shrink = Literal["never", "path", "wrap"]


@dataclass(frozen=True)
class Column:
    """One column of :func:`print_table`.

    ``keep``: when the table is too wide, columns are left out lowest ``keep`` first
    (``REQUIRED``: never).  ``shrink``: what a narrow column does to a long value:
    ``never`` nothing (the column is as wide as its widest value), ``path`` cut it in the
    middle (:func:`shorten_middle`), ``wrap`` fold it onto more lines.  ``min_width``: the
    narrowest a ``path`` or ``wrap`` column gets before it is left out instead."""

    header: str
    justify: JustifyMethod = "left"
    keep: int = REQUIRED
    shrink: Shrink = "never"
    min_width: int = 0


def cell_len(text: str) -> int:
    """The cells ``text`` takes on a terminal (rich's measure)."""
    from rich.cells import cell_len as measure

    return measure(text)


def output_width() -> int:
    """The width tables fit: $COLUMNS when set, else the terminal's width; ``PIPED_WIDTH``
    when stdout is not a terminal."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return PIPED_WIDTH


def _fit_start(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` cells."""
    from rich.cells import get_character_cell_size

    used = 0
    for i, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > width:
            return text[:i]
    return text


def _fit_end(text: str, width: int) -> str:
    """The longest end of ``text`` that fits ``width`` cells."""
    from rich.cells import get_character_cell_size

    used = 0
    for i in range(len(text) - 1, -1, -1):
        used += get_character_cell_size(text[i])
        if used > width:
            return text[i + 1 :]
    return text


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: a little of its start, ``…``, and as much of
    its end as fits.  The end tells files apart (``…/web1/app.log``); the start of a path
    is kept when it is short (``/``, ``logs/``).  An end that begins inside a folder name
    begins at the next separator instead, unless only the file name would follow it."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    sep = _SEPARATORS.search(text)
    if sep is not None:
        head = text[: sep.end()] if sep.end() <= room // 4 else ""
    else:
        head = _fit_start(text, room // 3)
    tail = _fit_end(text, room - cell_len(head))
    return head + ELLIPSIS + _from_separator(tail)


def _from_separator(tail: str) -> str:
    """``tail`` from its first separator when a folder follows it (``le_logs/web1/app.log``
    becomes ``/web1/app.log``): a scrap of a name reads as noise."""
    seps = [m.start() for m in _SEPARATORS.finditer(tail)]
    if len(seps) >= 2 and seps[0] > 0:
        return tail[seps[0] :]
    return tail


def _natural_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([cell_len(col.header)] + [cell_len(row[i]) for row in rows]) for i, col in enumerate(columns)]


def fit_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int | None]:
    """Each column's width in a table at most ``width`` cells wide, None for a column left
    out.  Columns are taken by ``keep``, each at its narrowest, while they fit; the room
    left then widens the ``path`` and ``wrap`` columns taken, again by ``keep``."""
    natural = _natural_widths(columns, rows)
    floor = [
        n if col.shrink == "never" else min(n, max(col.min_width, cell_len(col.header)))
        for col, n in zip(columns, natural, strict=True)
    ]
    by_need = sorted(range(len(columns)), key=lambda i: -columns[i].keep)
    used = 1  # the left border; each column adds its padding (2) and its right border (1)
    widths: list[int | None] = [None] * len(columns)
    for i in by_need:
        if columns[i].keep >= REQUIRED or used + floor[i] + 3 <= width:
            widths[i] = floor[i]
            used += floor[i] + 3
    spare = width - used
    for i in by_need:
        taken = widths[i]
        if taken is not None and spare > 0:
            grow = min(spare, natural[i] - taken)
            widths[i] = taken + grow
            spare -= grow
    return widths


def table_width(widths: Sequence[int | None]) -> int:
    """The cells a table with these column widths takes, borders and padding included."""
    shown = [w for w in widths if w is not None]
    return sum(shown) + 3 * len(shown) + 1


def _fitted_cell(text: str, column: Column, width: int) -> Text:
    from rich.text import Text

    return Text(shorten_middle(text, width) if column.shrink == "path" else text)


def build_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], widths: Sequence[int | None], title: str | None = None
) -> Table:
    """A rich table of the columns given a width; cells are Text (printed literally)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(printable(title, one_line=True)) if title is not None else None)
    shown = [(i, col, w) for i, (col, w) in enumerate(zip(columns, widths, strict=True)) if w is not None]
    for _, col, w in shown:
        wraps = col.shrink == "wrap"
        table.add_column(
            col.header, justify=col.justify, width=w, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis"
        )
    for row in rows:
        table.add_row(*(_fitted_cell(row[i], col, w) for i, col, w in shown))
    return table


def print_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], *, wide: bool = False, title: str | None = None
) -> list[str]:
    """Print a table that fits :func:`output_width` (every column at its full width when
    ``wide``); gives the headers of the columns left out.  Values are made printable here."""
    from rich.console import Console

    safe = [[printable(value, one_line=True) for value in row] for row in rows]
    width = output_width()
    widths: list[int | None] = list(_natural_widths(columns, safe)) if wide else fit_widths(columns, safe, width)
    # a table wider than the output (--wide, or columns that are never left out) prints
    # whole, as long lines, rather than folded by rich
    console = Console(width=max(width, table_width(widths)))
    console.print(build_table(columns, safe, widths, title))
    return [col.header for col, w in zip(columns, widths, strict=True) if w is None]


def note_left_out(headers: Sequence[str]) -> None:
    """Say which columns a narrow output left out, and how to see them."""
    if headers:
        from rich.console import Console

        width = output_width()
        names = ", ".join(dict.fromkeys(headers))
        Console(width=width).print(
            f"not shown at {width} columns: {names} (--wide shows them)", markup=False, emoji=False
        )
