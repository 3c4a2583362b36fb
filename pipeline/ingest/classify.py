"""Client-side classification: event text -> kind, error_code, conn_ref, source.

Shared by the application families (Python text logs, JSON lines): whatever the
layout, the message and the traceback say the same things.  Everything is a
polars expression over the chunk.

Rules, first match wins:
1. SQLAlchemy pool messages (``Created new connection <...>``, ``Connection <...>
   checked out from pool``, ``Invalidate connection <...> (reason: ...)`` ...) and
   the messages popular tutorials' pool listeners log.  These carry the
   connection's identity, kept in ``conn_ref``.
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

import polars as pl

from pipeline.kinds import ERROR_CODE_KINDS

# conn_ref group: SQLAlchemy prints the DBAPI connection repr, e.g.
# <pymysql.connections.Connection object at 0x7f...> or <_mysql.connection open to 'x' at 0x..>
_REF = r"(<[^>]*>|\S+)"

# (regex on the message's first line, kind); group 1 when present is conn_ref.
POOL_MESSAGES: list[tuple[str, str]] = [
    (r"^Created new connection " + _REF, "conn_open"),
    (r"^Connection " + _REF + r" checked out from pool", "checkout"),
    (r"^Connection " + _REF + r" being returned to pool", "checkin"),
    (r"^Connection " + _REF + r" (?:rollback|commit)-on-return", "reset"),
    (r"^Connection " + _REF + r" reset", "reset"),
    (r"^Pool pre-ping on connection " + _REF + r" failed", "pre_ping_fail"),
    (r"^Pool pre-ping on connection " + _REF, "pre_ping"),
    (r"^(?:Soft )?Invalidate connection " + _REF, "invalidate"),
    (r"^Connection " + _REF + r" invalidated due to pool invalidation", "invalidate"),
    (r"^Disconnection detected on checkout", "invalidate"),
    (r"^Connection " + _REF + r" exceeded timeout; recycling", "recycle"),
    (r"^Connection " + _REF + r" invalidated due to local soft invalidation; recycling", "recycle"),
    (r"^Exception during reset or similar", "reset_fail"),
    (r"^Exception closing connection " + _REF, "reset_fail"),
    (r"^(?:Hard )?[Cc]losing connection " + _REF, "conn_close"),
    (r"^Connection " + _REF + r" (?:closed|detached)", "conn_close"),
    # tutorial-style listener messages
    (r"^Database connection established", "conn_open"),
    (r"^Connection checked out from pool", "checkout"),
    (r"^Connection returned to pool", "checkin"),
    (r"^Connection ping failed during checkout", "pre_ping_fail"),
    (r"^Connection invalidated", "invalidate"),
    (r"^Connection closed", "conn_close"),
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
SQLALCHEMY_LOGGER = r"^sqlalchemy\b"


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


def classify(frame: pl.DataFrame, logger_col: str | None = None, text_col: str = "raw") -> pl.DataFrame:
    """Add ``kind``, ``error_code``, ``conn_ref`` and ``source`` from ``message`` and ``raw``.

    ``logger_col`` names a column with the logger name, when the layout has one:
    ``sqlalchemy.*`` loggers make the event's source ``sqlalchemy``.  ``text_col``
    is the full text searched for error codes (the traceback included).
    """
    if frame.height == 0:
        return frame.with_columns(
            kind=pl.lit(None, pl.Utf8),
            error_code=pl.lit(None, pl.Int32),
            conn_ref=pl.lit(None, pl.Utf8),
            source=pl.lit(None, pl.Utf8),
        )
    msg = pl.col("message").fill_null("")
    raw = pl.col(text_col).fill_null("")

    pool_kind = pl.lit(None, pl.Utf8)
    pool_ref = pl.lit(None, pl.Utf8)
    for pattern, kind in reversed(POOL_MESSAGES):
        hit = msg.str.contains(pattern)
        pool_kind = pl.when(hit).then(pl.lit(kind)).otherwise(pool_kind)
        if "(" in pattern and _REF in pattern:
            pool_ref = pl.when(hit).then(msg.str.extract(pattern, 1)).otherwise(pool_ref)
        else:
            pool_ref = pl.when(hit).then(pl.lit(None, pl.Utf8)).otherwise(pool_ref)

    code = pl.coalesce(_first_code(raw), _text_code(raw))
    text_kind = pl.lit(None, pl.Utf8)
    for pattern, kind_name in reversed(TEXT_KINDS):
        text_kind = pl.when(raw.str.contains(pattern)).then(pl.lit(kind_name)).otherwise(text_kind)
    is_db_error = raw.str.contains(DB_EXCEPTION)
    kind = (
        pl.when(pool_kind.is_not_null())
        .then(pool_kind)
        .when(raw.str.contains(QUEUEPOOL))
        .then(pl.lit("pool_timeout"))
        .when(code.is_not_null())
        .then(_code_kind(code))
        .when(text_kind.is_not_null())
        .then(text_kind)
        .when(is_db_error)
        .then(pl.lit("query_error"))
        .otherwise(pl.lit("other"))
    )
    if logger_col and logger_col in frame.columns:
        from_sqlalchemy = pl.col(logger_col).fill_null("").str.contains(SQLALCHEMY_LOGGER)
    else:
        from_sqlalchemy = pl.lit(False)
    source = (
        pl.when(from_sqlalchemy | pool_kind.is_not_null()).then(pl.lit("sqlalchemy")).otherwise(pl.lit("app"))
    )
    return frame.with_columns(
        kind=kind,
        error_code=pl.when(pl.col("message").is_not_null()).then(code),
        conn_ref=pool_ref,
        source=source,
    )
