"""Client-side classification: event text -> kind, error_code, conn_ref, source.

Shared by the application families (Python text logs, JSON lines): whatever the
layout, the message and the traceback say the same things.  Everything is a
polars expression over the chunk.

Rules, first match wins:
1. SQLAlchemy pool messages (``Created new connection <...>``, ``Connection <...>
   checked out from pool``, ``Invalidate connection <...> (reason: ...)`` ...) and
   the messages popular tutorials' pool listeners log.  SQLAlchemy's carry the
   connection's repr, kept in ``conn_ref``.
2. ``QueuePool limit of size N overflow M reached`` -> ``pool_timeout``.
3. A MySQL error code in the text, as the drivers print it:
   PyMySQL/mysqlclient ``(2013, 'Lost connection ...')``, mysql-connector
   ``2013 (HY000): Lost connection ...``, ``2055: Lost connection ...`` ->
   ``pipeline.kinds.ERROR_CODE_KINDS``, other codes -> ``query_error``.
4. The server's words without a code (``MySQL server has gone away`` ...), and
   PostgreSQL clients' messages (``sorry, too many clients already`` ...).
5. Any other database exception -> ``query_error``; everything else ``other``.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.kinds import ERROR_CODE_KINDS

# SQLAlchemy logs the DBAPI connection's repr, e.g. <pymysql.connections.Connection
# object at 0x7f...> or <_mysql.connection open to 'x' at 0x...>: that "<...>", right
# after one of these wordings, is conn_ref.
CONN_REF_PREFIX = (
    r"^(?:Created new connection|Connection|Pool pre-ping on connection|(?:Soft )?Invalidate connection"
    r"|(?:Hard )?[Cc]losing connection|Exception closing connection) <"
)

# (literal phrase in the message's first line, kind), first match wins.  Literal
# searches are far cheaper than regexes and these phrases are unambiguous.
POOL_MESSAGES: list[tuple[str, str]] = [
    ("Created new connection <", "conn_open"),
    ("> checked out from pool", "checkout"),
    ("> being returned to pool", "checkin"),
    ("> rollback-on-return", "reset"),
    ("> commit-on-return", "reset"),
    ("Pool pre-ping on connection", "pre_ping"),  # refined below when it "failed"
    ("nvalidate connection <", "invalidate"),
    ("invalidated due to pool invalidation", "invalidate"),
    ("Disconnection detected on checkout", "invalidate"),
    ("exceeded timeout; recycling", "recycle"),
    ("invalidated due to local soft invalidation; recycling", "recycle"),
    ("Exception during reset or similar", "reset_fail"),
    ("Exception closing connection <", "reset_fail"),
    ("losing connection <", "conn_close"),
    # tutorial-style pool event listener messages
    ("Database connection established", "conn_open"),
    ("Connection checked out from pool", "checkout"),
    ("Connection returned to pool", "checkin"),
    ("Connection ping failed during checkout", "pre_ping_fail"),
    ("Connection invalidated", "invalidate"),
    ("Connection closed", "conn_close"),
]

# The server's words, for text that carries no numeric code.
TEXT_CODES: list[tuple[str, int]] = [
    (r"MySQL server has gone away", 2006),
    (r"Lost connection to (?:MySQL|MariaDB) server", 2013),
    (r"Can't connect to (?:MySQL|MariaDB) server", 2003),
    (r"Unknown (?:MySQL|MariaDB) server host", 2005),
    (r"Too many connections", 1040),
    (r"Access denied for user", 1045),
    (r"is not allowed to connect to this (?:MySQL|MariaDB) server", 1130),
    (r"disconnected by the server because of inactivity", 4031),
]

# PostgreSQL clients (psycopg2, asyncpg...) give no numeric code; their words map to kinds.
TEXT_KINDS: list[tuple[str, str]] = [
    (r"sorry, too many clients already|remaining connection slots are reserved", "too_many_connections"),
    (r"terminating connection due to idle(?:-in-transaction|-session) timeout", "idle_disconnect"),
    (r"server closed the connection unexpectedly|terminating connection due to administrator command",
     "lost_connection"),
    (r"password authentication failed for user|no pg_hba\.conf entry", "access_denied"),
    (r"could not connect to server|Connection refused\s+Is the server running", "cant_connect"),
]

# Driver spellings of an error code, most specific first.
CODE_PATTERNS = [
    r"Error\)?:?\s*\((\d{4}),\s*[\"']",  # PyMySQL / mysqlclient: OperationalError) (2013, 'Lost ...')
    r"\b(\d{4}) \([0-9A-Z]{5}\)",  # mysql-connector: 2013 (HY000): Lost ...
    r"\b(2055|2013|2006|2003|2005|1040|1045|1130|4031): ",  # mysql-connector 2055: Lost ...
]

DB_EXCEPTION = (
    r"(?:OperationalError|InterfaceError|DatabaseError|InternalError|ProgrammingError"
    r"|IntegrityError|DisconnectionError|sqlalchemy\.exc\.)"
)
QUEUEPOOL = r"QueuePool limit of size \d+ overflow -?\d+ reached"


def _first_code(text: pl.Expr) -> pl.Expr:
    found = [text.str.extract(p, 1).cast(pl.Int32, strict=False) for p in CODE_PATTERNS]
    return pl.coalesce(found)


def _text_code(text: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, pl.Int32)
    for pattern, code in reversed(TEXT_CODES):
        expr = pl.when(text.str.contains(pattern)).then(pl.lit(code, pl.Int32)).otherwise(expr)
    return expr


def _code_kind(code: pl.Expr) -> pl.Expr:
    mapping = {k: v for k, v in ERROR_CODE_KINDS.items()}
    return (
        pl.when(code.is_null())
        .then(pl.lit(None, pl.Utf8))
        .otherwise(code.replace_strict(mapping, default="query_error", return_dtype=pl.Utf8))
    )


# Cheap pre-filters (regex alternations of literals run on SIMD substring search):
# a row can only get a pool kind if its message has a pool phrase, and can only get
# an error kind if its text has one of these words.  Most lines of a busy log have
# neither and skip the thirty-odd rule passes; pool chatter skips the error rules.
POOL_HINT = "|".join(re.escape(phrase) for phrase, _ in POOL_MESSAGES)
POOL_PHRASES = [phrase for phrase, _ in POOL_MESSAGES]
POOL_KIND_OF = dict(POOL_MESSAGES)
ERROR_HINT = "|".join(
    re.escape(word)
    for word in [
        "rror", "ERROR", "xception", "HY000", "gone away", "Lost connection", "Too many",
        "denied", "not allowed", "inactivity", "QueuePool limit", "clients", "closed the connection",
        "terminating connection", "efused", "connect to", "Unknown MySQL", "pg_hba",
        "authentication failed", "slots are reserved",
    ]
)


# Any text an error rule can match matches this union of their patterns.  Most lines with
# an error word are not database errors (a traceback of an HTTP timeout): one pass of the
# union spares them the rules' twenty passes and gives the same kinds.
ERROR_RULES_ANY = "|".join(
    f"(?:{pattern})"
    for pattern in [QUEUEPOOL, DB_EXCEPTION, *CODE_PATTERNS, *(p for p, _ in TEXT_CODES), *(p for p, _ in TEXT_KINDS)]
)


def classify(frame: pl.DataFrame, logger_col: str | None = None, text_col: str = "raw") -> pl.DataFrame:
    """Add ``kind``, ``error_code``, ``conn_ref`` and ``source`` (see the module doc).

    ``logger_col`` names a column with the logger name, when the layout has one:
    ``sqlalchemy.*`` loggers make the event's source ``sqlalchemy``.  ``text_col``
    is the full text searched for error codes (the traceback included).

    The rules run only on the rows a pre-filter lets through, on just the columns
    they read; their four small result columns are scattered back by position, so
    the wide text columns of the frame are never copied or re-sorted.
    """
    if frame.height == 0:
        return _classify(frame, logger_col, text_col, errors=True)
    hints = frame.select(
        _pool=pl.col("message").fill_null("").str.contains(POOL_HINT),
        _err=pl.col(text_col).fill_null("").str.contains(ERROR_HINT),
    )
    logger = [logger_col] if logger_col and logger_col in frame.columns else []
    narrow = frame.select(["message", *([text_col] if text_col != "message" else []), *logger])
    if hints["_err"].any():  # keep only the error hints an error rule can match
        index = hints["_err"].arg_true()
        ruled = narrow[index].select(pl.col(text_col).fill_null("").str.contains(ERROR_RULES_ANY)).to_series()
        hints = hints.with_columns(_err=hints["_err"].scatter(index, ruled))
    out = _plain(narrow, logger_col).select(RESULT_COLUMNS)
    for rows, errors in (
        (hints["_err"], True),
        (hints["_pool"] & ~hints["_err"], False),
    ):
        if not rows.any():
            continue
        index = rows.arg_true()
        found = _classify(narrow[index], logger_col, text_col, errors=errors).select(RESULT_COLUMNS)
        out = out.with_columns([out[c].scatter(index, found[c].cast(out[c].dtype)) for c in RESULT_COLUMNS])
    return frame.with_columns(out)


RESULT_COLUMNS = ["kind", "error_code", "conn_ref", "source"]


def _source(logger_col: str | None, frame: pl.DataFrame, pool_kind: pl.Expr) -> pl.Expr:
    if logger_col and logger_col in frame.columns:
        logger = pl.col(logger_col).fill_null("")
        from_sqlalchemy = (logger == "sqlalchemy") | logger.str.starts_with("sqlalchemy.")
    else:
        from_sqlalchemy = pl.lit(False)
    return pl.when(from_sqlalchemy | pool_kind.is_not_null()).then(pl.lit("sqlalchemy")).otherwise(pl.lit("app"))


def _plain(frame: pl.DataFrame, logger_col: str | None) -> pl.DataFrame:
    """Rows no rule can match: kind ``other``."""
    return frame.with_columns(
        kind=pl.lit("other"),
        error_code=pl.lit(None, pl.Int32),
        conn_ref=pl.lit(None, pl.Utf8),
        source=_source(logger_col, frame, pl.lit(None, pl.Utf8)),
    )


def _classify(frame: pl.DataFrame, logger_col: str | None, text_col: str, *, errors: bool) -> pl.DataFrame:
    """The rules proper; ``errors=False`` skips the error-code rules (no hint of an error)."""
    if frame.height == 0:
        return frame.with_columns(
            kind=pl.lit(None, pl.Utf8),
            error_code=pl.lit(None, pl.Int32),
            conn_ref=pl.lit(None, pl.Utf8),
            source=pl.lit(None, pl.Utf8),
        )
    msg = pl.col("message").fill_null("")
    raw = pl.col(text_col).fill_null("")

    # one Aho-Corasick pass finds the phrase (the leftmost, should a message hold two)
    phrase_kind = (
        msg.str.extract_many(POOL_PHRASES).list.first()
        .replace_strict(POOL_KIND_OF, default=None, return_dtype=pl.Utf8)
    )
    pre_ping_failed = (phrase_kind == "pre_ping") & msg.str.contains(" failed", literal=True)
    # computed once, then read by the rules below (eager frames do not share subexpressions)
    frame = frame.with_columns(
        _pool_kind=pl.when(pre_ping_failed).then(pl.lit("pre_ping_fail")).otherwise(phrase_kind)
    )
    pool_kind = pl.col("_pool_kind")
    # the "<...>" right after the pool's wording (found by position: far cheaper than a capture)
    ref_start, ref_end = msg.str.find("<", literal=True), msg.str.find(">", literal=True)
    pool_ref = pl.when(
        pool_kind.is_not_null() & msg.str.contains(CONN_REF_PREFIX) & (ref_end > ref_start)
    ).then(msg.str.slice(ref_start, ref_end - ref_start + 1))

    if errors:
        code = pl.coalesce(_first_code(raw), _text_code(raw))
        text_kind = pl.lit(None, pl.Utf8)
        for pattern, kind_name in reversed(TEXT_KINDS):
            text_kind = pl.when(raw.str.contains(pattern)).then(pl.lit(kind_name)).otherwise(text_kind)
        kind = (
            pl.when(pool_kind.is_not_null())
            .then(pool_kind)
            .when(raw.str.contains(QUEUEPOOL))
            .then(pl.lit("pool_timeout"))
            .when(code.is_not_null())
            .then(_code_kind(code))
            .when(text_kind.is_not_null())
            .then(text_kind)
            .when(raw.str.contains(DB_EXCEPTION))
            .then(pl.lit("query_error"))
            .otherwise(pl.lit("other"))
        )
    else:
        code = pl.lit(None, pl.Int32)
        kind = pool_kind.fill_null("other")
    source = _source(logger_col, frame, pool_kind)
    return frame.with_columns(
        kind=kind,
        error_code=pl.when(pl.col("message").is_not_null()).then(code),
        conn_ref=pool_ref,
        source=source,
    ).drop("_pool_kind")
