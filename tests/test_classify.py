"""Client-side classification: driver error spellings, pool messages, listener messages."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.ingest.classify import classify

CASES = [
    # (text, kind, code)
    ("sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')", "lost_connection", 2013),
    ("pymysql.err.OperationalError: (2006, \"MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))\")", "server_gone", 2006),
    ("MySQLdb.OperationalError: (2006, 'MySQL server has gone away')", "server_gone", 2006),
    ("MySQLdb.OperationalError: (4031, 'The client was disconnected by the server because of inactivity.')", "idle_disconnect", 4031),
    ("mysql.connector.errors.OperationalError: 2013 (HY000): Lost connection to MySQL server during query", "lost_connection", 2013),
    ("mysql.connector.errors.OperationalError: 2055: Lost connection to MySQL server at 'db:3306', system error: 32 Broken pipe", "lost_connection", 2055),
    ("mysql.connector.errors.DatabaseError: 2003 (HY000): Can't connect to MySQL server on 'db:3306' (111)", "cant_connect", 2003),
    ("pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on 'db' ([Errno 111] Connection refused)\")", "cant_connect", 2003),
    ("pymysql.err.OperationalError: (1040, 'Too many connections')", "too_many_connections", 1040),
    ("pymysql.err.OperationalError: (1045, \"Access denied for user 'app'@'10.0.0.5' (using password: YES)\")", "access_denied", 1045),
    ("pymysql.err.OperationalError: (1130, \"Host '10.0.0.9' is not allowed to connect to this MariaDB server\")", "access_denied", 1130),
    ("mysql.connector.errors.ProgrammingError: 1045 (28000): Access denied for user 'app'@'localhost'", "access_denied", 1045),
    ("pymysql.err.OperationalError: (2005, \"Unknown MySQL server host 'nope' (-2)\")", "unknown_host", 2005),
    ("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)", "pool_timeout", None),
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
    ("Pool pre-ping on connection <pymysql.connections.Connection object at 0x1> failed, will invalidate pool", "pre_ping_fail", None),
    ("Invalidate connection <pymysql.connections.Connection object at 0x1> (reason: OperationalError:(2013, 'Lost connection to MySQL server during query'))", "invalidate", 2013),
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
    frame = classify(pl.DataFrame({"message": [text], "raw": [text]}))
    row = frame.to_dicts()[0]
    assert (row["kind"], row["error_code"]) == (kind, code)


def test_conn_ref_is_the_connection_repr():
    text = "Connection <pymysql.connections.Connection object at 0x7f3a> checked out from pool"
    row = classify(pl.DataFrame({"message": [text], "raw": [text]})).to_dicts()[0]
    assert row["conn_ref"] == "<pymysql.connections.Connection object at 0x7f3a>"
    assert row["source"] == "sqlalchemy"


def test_parameters_tuple_is_not_mistaken_for_an_error_code():
    text = "query failed\n[parameters: (1234, 'abc')]"
    row = classify(pl.DataFrame({"message": ["query failed"], "raw": [text]})).to_dicts()[0]
    assert row["error_code"] is None and row["kind"] == "other"


def test_the_error_prefilter_gives_what_every_rule_on_every_row_gives():
    """Rows with an error word but no match of the rules' union skip the rules: that
    must change no kind, code or connection, on the spellings above and on noise."""
    from pipeline.ingest.classify import RESULT_COLUMNS, _classify

    noise = [
        "ERROR - GET /api/v1/orders 504 upstream timeout",
        "Traceback (most recent call last):\n  File \"x.py\", line 3\nTimeoutError: read timed out",
        "Exception in worker: KeyError('id')",
        "error 1234 (HY000) in a message that looks like a code",
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
    ]
    texts = [text for text, _, _ in CASES] + noise
    frame = pl.DataFrame({"message": [t.split("\n")[0] for t in texts], "raw": texts})
    assert classify(frame).select(RESULT_COLUMNS).to_dicts() == \
        _classify(frame, None, "raw", errors=True).select(RESULT_COLUMNS).to_dicts()
