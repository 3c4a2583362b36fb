"""MariaDB server error log (5.5-10.0 ``YYMMDD HH:MM:SS``, 10.1+ ``YYYY-MM-DD  H:MM:SS``
in local time without a zone, mysqld_safe lines, multi-line InnoDB blocks and crash
reports folded into one event).

Zone-less stamps are read in the file's configured zone (``ctx.timezone``).  Parsing
is shared with the MySQL family; see ``mysql_error.py``.
"""

from __future__ import annotations

import polars as pl

from pipeline.ingest.families.base import FileContext, Parsed
from pipeline.ingest.families.mysql_error import _score, head_profile, parse_error_log


class MariaDBFamily:
    name = "mariadb"

    def sniff(self, head: list[str]) -> float:
        try:
            nonblank, my, maria, old, hint = head_profile(head)
        except Exception:  # pragma: no cover - sniff must never raise
            return 0.0
        if nonblank == 0:
            return 0.0
        if maria == 0 and not (hint and old):
            return 0.0
        if my > maria and not hint:
            return min(_score((maria + old) / nonblank), 0.45)
        return _score((maria + old + my) / nonblank)

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        return parse_error_log(chunk, ctx, source="mysql")


FAMILY = MariaDBFamily()
