"""Client-side classification: event text -> kind, error_code, conn_ref, source.

Shared by the application families (Python text logs, JSON lines): whatever the
layout, the message and the traceback say the same things.  Everything is a
polars expression over the chunk.

Rules, in the order of the kind table in ``tests/wild/COUNTING.md``:
1. SQLAlchemy pool messages (``Created new connection <...>``, ``Connection <...>
   checked out from pool``, ``Invalidate connection <...> (reason: ...)`` ...) and
   the messages popular tutorials' pool listeners log.  SQLAlchemy's carry the
   connection's repr, kept in ``conn_ref``.
2. ``QueuePool limit of size N overflow M reached`` -> ``pool_timeout``.
3. The connection-loss kinds, the table's first matching row winning (``idle_disconnect``,
   ``server_gone``, ``lost_connection``, ``cant_connect``, ``unknown_host``,
   ``too_many_connections``, ``access_denied``): from a MySQL error code as the drivers print
   it (PyMySQL/mysqlclient/aiomysql/asyncmy ``(2013, 'Lost connection ...')``,
   mysql-connector ``2013 (HY000): Lost connection ...``, ``2055: Lost connection ...``;
   ``pipeline.kinds.ERROR_CODE_KINDS``), from the MySQL server's words without a code
   (``MySQL server has gone away`` ...), or from PostgreSQL clients' words (libpq via
   psycopg2/psycopg 3, asyncpg, pg8000: ``server closed the connection unexpectedly``,
   ``sorry, too many clients already`` ...).  A record naming two (a traceback chain)
   gets the earlier row; ``error_code`` is the code of that row, if any.
4. Any other MySQL code, or any other database exception -> ``query_error``;
   everything else ``other``.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.kinds import CLIENT_ERROR_KINDS, ERROR_CODE_KINDS

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

# The client kinds, in the order of the kind table (tests/wild/COUNTING.md): when a record
# names two (a traceback chain), the earlier one is its kind.  query_error (any other code)
# comes last.
KIND_ORDER: list[str] = [
    # idle_disconnect first: it names why the connection went ("terminating connection due
    # to idle-session timeout" is followed by libpq's "server closed the connection
    # unexpectedly", MySQL's 4031 by a 2013 in the same chain)
    "idle_disconnect",
    *CLIENT_ERROR_KINDS,
    "query_error",
]
KIND_RANK: dict[str, int] = {kind: rank for rank, kind in enumerate(KIND_ORDER)}

# The MySQL/MariaDB words, for text that carries no numeric code (a log line that quotes
# only the message).  Wordings: libmysqlclient's and mysql-connector's client messages
# (mysql-connector-python lib/mysql/connector/locales/eng/client_error.py: CR_CONNECTION_ERROR
# "Can't connect to local MySQL server through socket '%-.100s' (%s)", CR_CONN_HOST_ERROR,
# CR_UNKNOWN_HOST, CR_SERVER_GONE_ERROR, CR_SERVER_LOST), PyMySQL/aiomysql/asyncmy's copies
# of them (pymysql/connections.py: "Can't connect to MySQL server on %r (%s)", "Lost
# connection to MySQL server during query (%s)", "MySQL server has gone away (%r)"), and the
# server's errmsg-utf8.txt (ER_CON_COUNT_ERROR, ER_ACCESS_DENIED_ERROR, ER_HOST_IS_BLOCKED
# "Host '%-.64s' is blocked because of many connection errors; unblock with 'mysqladmin
# flush-hosts'", ER_HOST_NOT_PRIVILEGED, ER_CLIENT_INTERACTION_TIMEOUT).
TEXT_CODES: list[tuple[str, int]] = [
    (r"disconnected by the server because of inactivity", 4031),
    (r"MySQL server has gone away", 2006),
    (r"Lost connection to (?:MySQL|MariaDB) server", 2013),
    (r"Can't connect to local (?:MySQL |MariaDB )?server through socket", 2002),
    (r"Can't connect to (?:MySQL|MariaDB) server", 2003),
    (r"Unknown (?:MySQL|MariaDB) server host", 2005),
    (r"Too many connections", 1040),
    (r"Access denied for user", 1045),
    (r"is blocked because of many connection errors", 1129),
    (r"is not allowed to connect to this (?:MySQL|MariaDB) server", 1130),
]

# PostgreSQL clients give no numeric code; their words map to kinds, in KIND_ORDER.
# Where the words come from:
# - libpq (psycopg2, psycopg 3 and any libpq client print its message as is):
#   fe-misc.c/fe-secure.c "server closed the connection unexpectedly", "could not receive
#   data from server: %s"; fe-secure-openssl.c "SSL SYSCALL error: EOF detected", "SSL
#   connection has been closed unexpectedly"; fe-connect.c "could not connect to server: %s"
#   (libpq < 14), "connection to server at \"%s\" (%s), port %s failed: " and "connection to
#   server on socket \"%s\" failed: " (libpq 14+), "could not translate host name \"%s\" to
#   address: %s";
# - the server's FATAL messages relayed to the client (postmaster.c / postgres.c):
#   "terminating connection due to administrator command", "the database system is starting
#   up", "the database system is shutting down", "sorry, too many clients already",
#   "remaining connection slots are reserved ...", "password authentication failed for user",
#   "no pg_hba.conf entry", "terminating connection due to idle-session timeout" /
#   "idle-in-transaction timeout";
# - psycopg2 psycopg/connection.h EXC_IF_CONN_CLOSED: InterfaceError "connection already
#   closed"; psycopg 3 psycopg/errors.py, pq/pq_ctypes.py: OperationalError "the connection is
#   closed", "consuming input failed: %s";
# - asyncpg asyncpg/exceptions/__init__.py ConnectionDoesNotExistError, raised by
#   protocol/protocol.pyx with "connection was closed in the middle of operation".
TEXT_KINDS: list[tuple[str, str]] = [
    (r"terminating connection due to idle(?:-in-transaction|-session) timeout", "idle_disconnect"),
    (
        r"server closed the connection unexpectedly|SSL SYSCALL error: EOF detected"
        r"|SSL connection has been closed unexpectedly|could not receive data from server"
        r"|terminating connection due to administrator command|connection already closed"
        r"|the connection is closed|consuming input failed|ConnectionDoesNotExistError"
        r"|connection was closed in the middle of operation",
        "lost_connection",
    ),
    (
        r"could not connect to server|connection to server (?:at \"[^\"]*\"(?: \([^)]*\))?, port \d+|on socket \"[^\"]*\") failed"
        r"|the database system is (?:starting up|shutting down)|Connection refused\s+Is the server running",
        "cant_connect",
    ),
    (r"could not translate host name", "unknown_host"),
    # mysql-connector (errors.py ReadTimeoutError, raised when read_timeout expires mid-query,
    # printed as "ReadTimeoutError: 3024: " with no message): the connection is given up,
    # as PyMySQL's 2013 "Lost connection ... (timed out)"
    (r"errors\.ReadTimeoutError", "lost_connection"),
    (r"sorry, too many clients already|remaining connection slots are reserved", "too_many_connections"),
    (r"password authentication failed for user|no pg_hba\.conf entry", "access_denied"),
]
# A bare "Connection refused" is anybody's (an HTTP call, a broker): it is cant_connect only
# in a PostgreSQL client's or ORM's record (pg8000 chains ConnectionRefusedError "[Errno 111]
# Connection refused" to "Can't create a connection to host ... and port 5432").  MySQL
# drivers say it inside a 2003 message, which has its code.
REFUSED = r"Connection refused"
REFUSED_CONTEXT = r"psycopg|asyncpg|pg8000|[Pp]ostgres|sqlalchemy\.exc|django\.db|peewee|\b5432\b"

# Driver spellings of an error code, most specific first.
CODE_PATTERNS = [
    # PyMySQL / mysqlclient / aiomysql / asyncmy and the wrappers that print their args
    # (Django's django.db.utils.OperationalError, peewee.OperationalError, SQLAlchemy's
    # "(pymysql.err.OperationalError) (2013, 'Lost ...')", repr "OperationalError(2006, '...')")
    r"Error\)?:?\s*\((\d{4}),\s*[\"']",
    r"\b(\d{4}) \([0-9A-Z]{5}\)",  # mysql-connector with a SQLSTATE: 2013 (HY000): Lost ...
    # mysql-connector's client errors raised without SQLSTATE ("{errno}: {msg}", errors.py):
    # 2055: Lost connection to MySQL server at '...', system error: ...; 2026: SSL connection
    # error; 2059: Authentication plugin '...' cannot be loaded.  Listed, not \d{4}, so that
    # "port 5432: ..." is no code.
    r"\b(2055|2013|2006|2003|2002|2005|2026|2059|1040|1045|1130|4031): ",
]

DB_EXCEPTION = (
    r"(?:OperationalError|InterfaceError|DatabaseError|InternalError|ProgrammingError"
    r"|IntegrityError|DisconnectionError|sqlalchemy\.exc\.)"
)
QUEUEPOOL = r"QueuePool limit of size \d+ overflow -?\d+ reached"

_CODE_RANK = {code: KIND_RANK[kind] for code, kind in ERROR_CODE_KINDS.items()}
# one pass finds every spelling (a traceback chain may name several codes)
ANY_CODE = "|".join(f"(?:{p})" for p in CODE_PATTERNS)


def _with_code(frame: pl.DataFrame, text: pl.Expr) -> pl.DataFrame:
    """Add ``_code``, the MySQL code the text names whose kind comes first in KIND_ORDER
    (a driver's spelling, else the words without a code), and ``_code_rank``, that kind's
    rank; nulls without one.  Built in steps: an eager frame computes a shared
    subexpression once per use."""
    frame = frame.with_columns(
        _spelled=text.str.extract_all(ANY_CODE).list.eval(
            pl.element().str.extract(r"(\d{4})", 1).cast(pl.Int32, strict=False)
        ),
        _worded=_worded_code(text),
    )
    frame = frame.with_columns(
        _ranks=pl.col("_spelled").list.eval(
            pl.element().replace_strict(_CODE_RANK, default=KIND_RANK["query_error"], return_dtype=pl.Int8)
        ),
        _wrank=pl.col("_worded").replace_strict(_CODE_RANK, default=None, return_dtype=pl.Int8),
    )
    srank = pl.col("_ranks").list.min()
    scode = pl.col("_spelled").list.get(pl.col("_ranks").list.arg_min(), null_on_oob=True)
    spelled_wins = srank.is_not_null() & (pl.col("_wrank").is_null() | (srank <= pl.col("_wrank")))
    return (
        frame.with_columns(_spelled_wins=spelled_wins)
        .with_columns(
            _code=pl.when(pl.col("_spelled_wins")).then(scode).otherwise(pl.col("_worded")),
            _code_rank=pl.when(pl.col("_spelled_wins")).then(srank).otherwise(pl.col("_wrank")),
        )
        .drop("_spelled", "_worded", "_ranks", "_wrank", "_spelled_wins")
    )


def _worded_code(text: pl.Expr) -> pl.Expr:
    """TEXT_CODES are in KIND_ORDER: the first match has the best rank."""
    worded = pl.lit(None, pl.Int32)
    for pattern, code in reversed(TEXT_CODES):
        worded = pl.when(text.str.contains(pattern)).then(pl.lit(code, pl.Int32)).otherwise(worded)
    return worded


def _text_kind(text: pl.Expr) -> pl.Expr:
    """The PostgreSQL clients' words: the kind earliest in KIND_ORDER, or null."""
    expr = pl.lit(None, pl.Utf8)
    for pattern, kind_name in reversed(TEXT_KINDS):
        if kind_name == "cant_connect":
            expr = (
                pl.when(text.str.contains(REFUSED) & text.str.contains(REFUSED_CONTEXT))
                .then(pl.lit(kind_name))
                .otherwise(expr)
            )
        expr = pl.when(text.str.contains(pattern)).then(pl.lit(kind_name)).otherwise(expr)
    return expr


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
        "rror",
        "ERROR",
        "xception",
        "HY000",
        "gone away",
        "Lost connection",
        "Too many",
        "denied",
        "not allowed",
        "inactivity",
        "QueuePool limit",
        "clients",
        "terminating connection",
        "efused",
        "connect to",
        "Unknown MySQL",
        "pg_hba",
        "authentication failed",
        "slots are reserved",
        "closed",
        "could not",
        "consuming input",
        "connection to server",
        "database system is",
    ]
)


# Any text an error rule can match matches this union of their patterns.  Most lines with
# an error word are not database errors (a traceback of an HTTP timeout): one pass of the
# union spares them the rules' twenty passes and gives the same kinds.
ERROR_RULES_ANY = "|".join(
    f"(?:{pattern})"
    for pattern in [
        QUEUEPOOL,
        DB_EXCEPTION,
        *CODE_PATTERNS,
        *(p for p, _ in TEXT_CODES),
        *(p for p, _ in TEXT_KINDS),
        REFUSED,
    ]
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
        msg.str.extract_many(POOL_PHRASES).list.first().replace_strict(POOL_KIND_OF, default=None, return_dtype=pl.Utf8)
    )
    pre_ping_failed = (phrase_kind == "pre_ping") & msg.str.contains(" failed", literal=True)
    # computed once, then read by the rules below (eager frames do not share subexpressions)
    frame = frame.with_columns(_pool_kind=pl.when(pre_ping_failed).then(pl.lit("pre_ping_fail")).otherwise(phrase_kind))
    pool_kind = pl.col("_pool_kind")
    # the "<...>" right after the pool's wording (found by position: far cheaper than a capture)
    ref_start, ref_end = msg.str.find("<", literal=True), msg.str.find(">", literal=True)
    pool_ref = pl.when(pool_kind.is_not_null() & msg.str.contains(CONN_REF_PREFIX) & (ref_end > ref_start)).then(
        msg.str.slice(ref_start, ref_end - ref_start + 1)
    )

    if errors:
        frame = _with_code(frame, raw).with_columns(_text_kind=_text_kind(raw))
        code, code_rank, text_kind = pl.col("_code"), pl.col("_code_rank"), pl.col("_text_kind")
        text_rank = text_kind.replace_strict(KIND_RANK, default=None, return_dtype=pl.Int8)
        code_kind = code_rank.replace_strict(dict(enumerate(KIND_ORDER)), return_dtype=pl.Utf8)
        kind = (
            pl.when(pool_kind.is_not_null())
            .then(pool_kind)
            .when(raw.str.contains(QUEUEPOOL))
            .then(pl.lit("pool_timeout"))
            .when(code_rank.is_not_null() & (text_rank.is_null() | (code_rank <= text_rank)))
            .then(code_kind)
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
    ).drop("_pool_kind", "_code", "_code_rank", "_text_kind", strict=False)
