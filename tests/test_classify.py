"""Client-side classification: driver error spellings, pool messages, listener messages."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.ingest.classify import classify


def classified(text: str, message: str | None = None) -> dict:
    """The row ``classify`` gives a record: its whole text as ``raw``, its first line (or
    ``message``) as the message."""
    message = text.split("\n")[0] if message is None else message
    return classify(pl.DataFrame({"message": [message], "raw": [text]})).to_dicts()[0]


def kind_and_code(text: str) -> tuple:
    row = classified(text)
    return (row["kind"], row["error_code"])


def assert_the_prefilter_changes_nothing(texts: list[str]) -> None:
    """Rows with an error word but no match of the rules' union skip the rules: the result
    must be what every rule on every row gives."""
    from pipeline.ingest.classify import RESULT_COLUMNS, _classify

    frame = pl.DataFrame({"message": [t.split("\n")[0] for t in texts], "raw": texts})
    assert (
        classify(frame).select(RESULT_COLUMNS).to_dicts()
        == _classify(frame, None, "raw", errors=True).select(RESULT_COLUMNS).to_dicts()
    )


CASES = [
    # (text, kind, code)
    (
        "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')",
        "lost_connection",
        2013,
    ),
    (
        "pymysql.err.OperationalError: (2006, \"MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))\")",
        "server_gone",
        2006,
    ),
    ("MySQLdb.OperationalError: (2006, 'MySQL server has gone away')", "server_gone", 2006),
    (
        "MySQLdb.OperationalError: (4031, 'The client was disconnected by the server because of inactivity.')",
        "idle_disconnect",
        4031,
    ),
    (
        "mysql.connector.errors.OperationalError: 2013 (HY000): Lost connection to MySQL server during query",
        "lost_connection",
        2013,
    ),
    (
        "mysql.connector.errors.OperationalError: 2055: Lost connection to MySQL server at 'db:3306', system error: 32 Broken pipe",
        "lost_connection",
        2055,
    ),
    (
        "mysql.connector.errors.DatabaseError: 2003 (HY000): Can't connect to MySQL server on 'db:3306' (111)",
        "cant_connect",
        2003,
    ),
    (
        "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on 'db' ([Errno 111] Connection refused)\")",
        "cant_connect",
        2003,
    ),
    ("pymysql.err.OperationalError: (1040, 'Too many connections')", "too_many_connections", 1040),
    (
        "pymysql.err.OperationalError: (1045, \"Access denied for user 'app'@'10.0.0.5' (using password: YES)\")",
        "access_denied",
        1045,
    ),
    (
        "pymysql.err.OperationalError: (1130, \"Host '10.0.0.9' is not allowed to connect to this MariaDB server\")",
        "access_denied",
        1130,
    ),
    (
        "mysql.connector.errors.ProgrammingError: 1045 (28000): Access denied for user 'app'@'localhost'",
        "access_denied",
        1045,
    ),
    ("pymysql.err.OperationalError: (2005, \"Unknown MySQL server host 'nope' (-2)\")", "unknown_host", 2005),
    (
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)",
        "pool_timeout",
        None,
    ),
    ("pymysql.err.ProgrammingError: (1146, \"Table 'app.nope' doesn't exist\")", "query_error", 1146),
    ("Unrecoverable error: OperationalError(2006, 'MySQL server has gone away')", "server_gone", 2006),
    ("Lost connection to MySQL server during query", "lost_connection", 2013),
    ("GET /health 200", "other", None),
    # SQLAlchemy pool messages
    ("Created new connection <pymysql.connections.Connection object at 0x1>", "conn_open", None),
    ("Connection <pymysql.connections.Connection object at 0x1> checked out from pool", "checkout", None),
    ("Connection <pymysql.connections.Connection object at 0x1> being returned to pool", "checkin", None),
    ("Connection <pymysql.connections.Connection object at 0x1> rollback-on-return", "reset", None),
    ("Pool pre-ping on connection <pymysql.connections.Connection object at 0x1>", "pre_ping", None),
    (
        "Pool pre-ping on connection <pymysql.connections.Connection object at 0x1> failed, will invalidate pool",
        "pre_ping_fail",
        None,
    ),
    (
        "Invalidate connection <pymysql.connections.Connection object at 0x1> (reason: OperationalError:(2013, 'Lost connection to MySQL server during query'))",
        "invalidate",
        2013,
    ),
    ("Soft Invalidate connection <pymysql.connections.Connection object at 0x1> (reason: X)", "invalidate", None),
    ("Connection <pymysql.connections.Connection object at 0x1> exceeded timeout; recycling", "recycle", None),
    ("Exception during reset or similar", "reset_fail", None),
    ("Closing connection <pymysql.connections.Connection object at 0x1>", "conn_close", None),
    # tutorial-style listener messages
    ("Database connection established.", "conn_open", None),
    ("Connection checked out from pool.", "checkout", None),
    ("Connection returned to pool.", "checkin", None),
    ("Connection ping failed during checkout: (2006, 'MySQL server has gone away')", "pre_ping_fail", 2006),
]


@pytest.mark.parametrize("text,kind,code", CASES)
def test_classification(text, kind, code):
    assert kind_and_code(text) == (kind, code)


def test_conn_ref_is_the_connection_repr():
    text = "Connection <pymysql.connections.Connection object at 0x7f3a> checked out from pool"
    row = classified(text)
    assert row["conn_ref"] == "<pymysql.connections.Connection object at 0x7f3a>"
    assert row["source"] == "sqlalchemy"


def test_parameters_tuple_is_not_mistaken_for_an_error_code():
    text = "query failed\n[parameters: (1234, 'abc')]"
    row = classified(text, message="query failed")
    assert row["error_code"] is None and row["kind"] == "other"


def test_the_error_prefilter_gives_what_every_rule_on_every_row_gives():
    """Rows with an error word but no match of the rules' union skip the rules: that
    must change no kind, code or connection, on the spellings above and on noise."""
    noise = [
        "ERROR - GET /api/v1/orders 504 upstream timeout",
        'Traceback (most recent call last):\n  File "x.py", line 3\nTimeoutError: read timed out',
        "Exception in worker: KeyError('id')",
        "error 1234 (HY000) in a message that looks like a code",
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
    ]
    assert_the_prefilter_changes_nothing([text for text, _, _ in CASES] + noise)


# Wordings added for the kind table (tests/wild/COUNTING.md), each as the driver prints it.
# Sources: libpq (fe-misc.c, fe-secure.c, fe-secure-openssl.c, fe-connect.c) for psycopg2 and
# psycopg 3; psycopg2 psycopg/connection.h; psycopg psycopg/errors.py, pq/pq_ctypes.py;
# asyncpg protocol/protocol.pyx; pg8000 src/pg8000/core.py; PyMySQL pymysql/connections.py;
# mysql-connector-python errors.py ("{errno}: {msg}") and locales/eng/client_error.py;
# MySQL/MariaDB errmsg-utf8.txt (ER_HOST_IS_BLOCKED, ER_CONNECTION_KILLED).
LIBPQ_HINT = "\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request."
NEW_CASES = [
    # PostgreSQL clients: lost_connection
    ("psycopg2.OperationalError: SSL SYSCALL error: EOF detected", "lost_connection", None),
    (
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) SSL SYSCALL error: EOF detected\n"
        "(Background on this error at: https://sqlalche.me/e/14/e3q8)",
        "lost_connection",
        None,
    ),
    ("psycopg2.OperationalError: SSL connection has been closed unexpectedly", "lost_connection", None),
    ("psycopg2.OperationalError: could not receive data from server: Connection timed out", "lost_connection", None),
    ("psycopg2.InterfaceError: connection already closed", "lost_connection", None),
    ("psycopg.OperationalError: the connection is closed", "lost_connection", None),
    (
        "psycopg.OperationalError: consuming input failed: server closed the connection unexpectedly" + LIBPQ_HINT,
        "lost_connection",
        None,
    ),
    (
        "asyncpg.exceptions.ConnectionDoesNotExistError: connection was closed in the middle of operation",
        "lost_connection",
        None,
    ),
    (
        "sqlalchemy.exc.InterfaceError: (sqlalchemy.dialects.postgresql.asyncpg.InterfaceError) "
        "<class 'asyncpg.exceptions.ConnectionDoesNotExistError'>: connection was closed in the middle of operation",
        "lost_connection",
        None,
    ),
    (
        "psycopg2.errors.AdminShutdown: terminating connection due to administrator command\n"
        "server closed the connection unexpectedly" + LIBPQ_HINT,
        "lost_connection",
        None,
    ),
    ("psycopg2.OperationalError: server closed the connection unexpectedly" + LIBPQ_HINT, "lost_connection", None),
    # PostgreSQL clients: cant_connect
    (
        'psycopg2.OperationalError: connection to server at "db.internal" (10.0.0.5), port 5432 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        "cant_connect",
        None,
    ),
    (
        'psycopg.OperationalError: connection failed: connection to server at "2001:1488:fffe:20::229", port 5432 '
        "failed: Connection timed out",
        "cant_connect",
        None,
    ),
    (
        'psycopg2.OperationalError: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
        "No such file or directory\n\tIs the server running locally and accepting connections on that socket?",
        "cant_connect",
        None,
    ),
    (
        "psycopg2.OperationalError: could not connect to server: Connection refused\n\tIs the server running on host "
        '"localhost" (127.0.0.1) and accepting\n\tTCP/IP connections on port 5432?',
        "cant_connect",
        None,
    ),
    ("psycopg2.OperationalError: FATAL:  the database system is starting up", "cant_connect", None),
    ("psycopg2.OperationalError: FATAL:  the database system is shutting down", "cant_connect", None),
    (
        "Traceback (most recent call last):\nConnectionRefusedError: [Errno 111] Connection refused\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "pg8000.exceptions.InterfaceError: Can't create a connection to host localhost and port 5432 "
        "(timeout is None and source_address is None).",
        "cant_connect",
        None,
    ),
    # PostgreSQL clients: unknown_host
    (
        'psycopg2.OperationalError: could not translate host name "db" to address: Name or service not known',
        "unknown_host",
        None,
    ),
    # MySQL: every driver spelling of a code
    (
        "pymysql.err.OperationalError: (1129, \"Host '172.17.0.1' is blocked because of many connection errors; "
        "unblock with 'mysqladmin flush-hosts'\")",
        "access_denied",
        1129,
    ),
    (
        "MySQLdb.OperationalError: (2002, \"Can't connect to local MySQL server through socket "
        "'/var/run/mysqld/mysqld.sock' (2)\")",
        "cant_connect",
        2002,
    ),
    (
        "mysql.connector.errors.InterfaceError: 2002: Can't connect to local MySQL server through socket "
        "'/var/run/mysqld/mysqld.sock' (2 No such file or directory)",
        "cant_connect",
        2002,
    ),
    ("Can't connect to local MySQL server through socket '/tmp/mysql.sock' (2)", "cant_connect", 2002),
    (
        "MySQLdb.OperationalError: (2026, 'SSL connection error: error:00000000:lib(0):func(0):reason(0)')",
        "cant_connect",
        2026,
    ),
    ("mysql.connector.errors.InterfaceError: 2026: SSL connection error: unsupported protocol", "cant_connect", 2026),
    (
        "django.db.utils.OperationalError: (2059, \"Authentication plugin 'caching_sha2_password' cannot be loaded: "
        "/usr/lib/x86_64-linux-gnu/mariadb19/plugin/caching_sha2_password.so: cannot open shared object file: "
        'No such file or directory")',
        "access_denied",
        2059,
    ),
    (
        "pymysql.err.OperationalError: (2059, \"Authentication plugin 'b'auth_gssapi_client'' not configured\")",
        "access_denied",
        2059,
    ),
    ("pymysql.err.OperationalError: (1927, 'Connection was killed')", "lost_connection", 1927),
    ("django.db.utils.OperationalError: (2006, 'MySQL server has gone away')", "server_gone", 2006),
    ("peewee.OperationalError: (2013, 'Lost connection to MySQL server during query')", "lost_connection", 2013),
    (
        "asyncmy.errors.OperationalError: (2013, 'Lost connection to MySQL server during query "
        "([Errno 104] Connection reset by peer)')",
        "lost_connection",
        2013,
    ),
    ("pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on 'localhost'\")", "cant_connect", 2003),
    (
        "mysql.connector.errors.InterfaceError: 2003: Can't connect to MySQL server on 'db:3306' (111 Connection refused)",
        "cant_connect",
        2003,
    ),
    (
        "mysql.connector.errors.OperationalError: 2013 (HY000): Lost connection to MySQL server at "
        "'reading initial communication packet', system error: 0",
        "lost_connection",
        2013,
    ),
    ("Can't connect to MySQL server on 'x' ([Errno 111] Connection refused)", "cant_connect", 2003),
    ("MySQL server has gone away", "server_gone", 2006),
    # 2014 stays query_error (the table names no kind for it)
    ('MySQLdb.ProgrammingError: (2014, "Commands out of sync; you can\'t run this command now")', "query_error", 2014),
]


@pytest.mark.parametrize("text,kind,code", NEW_CASES)
def test_new_wordings(text, kind, code):
    assert kind_and_code(text) == (kind, code)


@pytest.mark.parametrize(
    "text,kind,code",
    [
        # the table's first matching row wins: idle_disconnect (the reason) before lost_connection
        (
            "psycopg2.OperationalError: FATAL:  terminating connection due to idle-session timeout\n"
            "server closed the connection unexpectedly" + LIBPQ_HINT,
            "idle_disconnect",
            None,
        ),
        (
            "MySQLdb.OperationalError: (4031, 'The client was disconnected by the server because of inactivity.')\n"
            "MySQLdb.OperationalError: (2013, 'Lost connection to MySQL server during query')",
            "idle_disconnect",
            4031,
        ),
        # a traceback chain naming two codes: the earlier row (lost_connection before query_error)
        (
            "pymysql.err.OperationalError: (1205, 'Lock wait timeout exceeded; try restarting transaction')\n\n"
            "During handling of the above exception, another exception occurred:\n\n"
            "pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')",
            "lost_connection",
            2013,
        ),
        (
            "MySQLdb.OperationalError: (2013, 'Lost connection to MySQL server during query')\n"
            "MySQLdb.OperationalError: (2006, 'MySQL server has gone away')",
            "server_gone",
            2006,
        ),
    ],
)
def test_first_row_of_the_table_wins(text, kind, code):
    assert kind_and_code(text) == (kind, code)


PRECISION = [
    # "Connection refused" outside a database driver's record is not a database's
    (
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='api', port=80): Max retries exceeded "
        "with url: / (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))",
        "other",
        None,
    ),
    ("redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.", "other", None),
    # "closed" words that are not a dropped database connection
    ("ERROR worker: websocket connection closed by client", "other", None),
    ("sqlalchemy.exc.ResourceClosedError: This Connection is closed", "query_error", None),
    ('ERROR could not open file "/etc/app.yml": permission denied', "other", None),
    ("ERROR scheduler is shutting down", "other", None),
    ("ERROR listening on port 5432: address already in use", "other", None),
]


@pytest.mark.parametrize("text,kind,code", PRECISION)
def test_precision(text, kind, code):
    assert kind_and_code(text) == (kind, code)


def test_the_error_prefilter_gives_what_every_rule_on_every_row_gives_on_the_new_wordings():
    assert_the_prefilter_changes_nothing([t for t, _, _ in NEW_CASES + PRECISION])
