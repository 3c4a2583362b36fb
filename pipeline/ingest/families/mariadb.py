"""MariaDB server error log (5.5-10.0 ``YYMMDD HH:MM:SS``, 10.1+ ``YYYY-MM-DD  H:MM:SS``
in local time without a zone, mysqld_safe lines, multi-line InnoDB blocks and crash
reports folded into one event).

Zone-less stamps are read in the file's configured zone (``ctx.timezone``).  Parsing
is shared with the MySQL family; see ``mysql_error.py``.
"""

from __future__ import annotations

from pipeline.ingest.families.mysql_error import ErrorLogFamily, _score


class MariaDBFamily(ErrorLogFamily):
    name = "mariadb"

    def score(self, nonblank: int, my: int, maria: int, old: int, hint: bool) -> float:
        if maria == 0 and not (hint and old):
            return 0.0
        if my > maria and not hint:
            return min(_score((maria + old) / nonblank), 0.45)
        return _score((maria + old + my) / nonblank)


FAMILY = MariaDBFamily()
