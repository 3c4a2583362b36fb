"""Secrets out before anything is stored.

Applied to every text column of every frame on its way to the store (events'
``message`` and ``raw``, rejects' ``raw``), as polars regex replacements over the
whole chunk.  What is redacted:

- passwords in URLs and DSNs: ``mysql+pymysql://app:SECRET@db/x`` -> ``app:***@``
- ``password=...``, ``passwd: ...``, ``pwd=...``, ``PWD=...`` and similar pairs
  (also quoted, as in ``password='x'`` or ``"password": "x"``)
- ``IDENTIFIED BY 'secret'`` in SQL
- ``--password=secret`` / ``-psecret`` on command lines
"""

from __future__ import annotations

import polars as pl

MASK = "***"

_KEYS = r"(?:password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?key|auth)"

# (pattern, replacement); polars uses ${n} for groups.
RULES: list[tuple[str, str]] = [
    # scheme://user:password@host
    (r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)[^\s@'\"/]*(@)", "${1}" + MASK + "${2}"),
    # the same inside JSON that escapes slashes: scheme:\/\/user:password@host
    (r"([A-Za-z][A-Za-z0-9+.\-]*:\\/\\/[^\s:/@'\"\\]*:)[^\s@'\"/\\]*(@)", "${1}" + MASK + "${2}"),
    # "password": "x"  (JSON) and 'password': 'x' (a Python dict's repr)
    (r'(?i)("' + _KEYS + r'"\s*:\s*")[^"]*(")', "${1}" + MASK + "${2}"),
    (r"(?i)('" + _KEYS + r"'\s*:\s*')[^']*(')", "${1}" + MASK + "${2}"),
    # password='x' / password="x"
    (r"(?i)(\b" + _KEYS + r"\s*[=:]\s*)'[^']*'", "${1}'" + MASK + "'"),
    (r"(?i)(\b" + _KEYS + r'\s*[=:]\s*)"[^"]*"', '${1}"' + MASK + '"'),
    # password=x (unquoted, up to a separator)
    (r"(?i)(\b" + _KEYS + r"\s*=\s*)[^\s'\",;&)}\]*][^\s'\",;&)}\]]*", "${1}" + MASK),
    # SQL
    (r"(?i)(IDENTIFIED\s+(?:BY|WITH\s+\S+\s+(?:BY|AS))\s+)'[^']*'", "${1}'" + MASK + "'"),
    # mysql -psecret / mysqladmin ... -psecret (only after a mysql client command)
    (r"(\b(?:mysql|mariadb|mysqladmin|mysqldump|mariadb-admin|mariadb-dump)\b[^\n]*?\s-p)[^\s-][^\s]*", "${1}" + MASK),
]


# "password: x" (unquoted, colon).  MySQL's own "(using password: YES)" is not a
# secret and tells whether a password was sent, so lines carrying it skip this rule
# (the regex engine has no look-around to express that inside one pattern).
COLON_RULE = (r"(?i)(\b" + _KEYS + r"\s*:\s*)[^\s'\",;&)}\]*][^\s'\",;&)}\]]*", "${1}" + MASK)
MYSQL_USING_PASSWORD = r"using password: (?:YES|NO)\)"


def redact_expr(expr: pl.Expr) -> pl.Expr:
    for pattern, replacement in RULES:
        expr = expr.str.replace_all(pattern, replacement)
    return pl.when(expr.str.contains(MYSQL_USING_PASSWORD)).then(expr).otherwise(expr.str.replace_all(*COLON_RULE))


# Every rule needs one of these; rows without any skip the regexes entirely.  A key
# only counts when a separator follows it, so "app.auth" or "cache key" lines (common)
# do not pay for the full set of rules.
# A URL only counts with a user and a colon before its "@" (most URLs in logs carry no
# credentials: SQLAlchemy links every error to its docs).
TRIGGER = (
    r"(?i)(?:" + _KEYS + r")[\"']?\s*[=:]"
    r"|://[^\s:/@'\"]*:[^\s@'\"/]*@|:\\/\\/[^\s:/@'\"\\]*:[^\s@'\"/\\]*@"
    r"|identified\s|\s-p\S"
)


def redact_columns(frame: pl.DataFrame, columns: list[str], *, mask_column: str | None = None) -> pl.DataFrame:
    """Redact ``columns``.  ``mask_column`` names one column whose text contains all the
    others (an event's ``raw`` holds its ``message``), so only it is scanned for triggers.

    Only the few rows with a trigger are rewritten; their new values are scattered
    back by position, so the other rows' text is never copied."""
    present = [c for c in columns if c in frame.columns]
    if not present or frame.height == 0:
        return frame
    scanned = [mask_column] if mask_column in frame.columns else present
    mask = frame.select(pl.any_horizontal([pl.col(c).fill_null("").str.contains(TRIGGER) for c in scanned])).to_series()
    if not mask.any():
        return frame
    rows = mask.arg_true()
    redacted = frame[rows].select([redact_expr(pl.col(c)).alias(c) for c in present])
    return frame.with_columns([frame[c].clone().scatter(rows, redacted[c]) for c in present])


def redact_text(text: str) -> str:
    """Redact one string (for messages printed outside the store)."""
    redacted: str = pl.select(redact_expr(pl.lit(text, pl.Utf8))).item()
    return redacted
