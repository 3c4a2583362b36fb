"""The two fixed vocabularies of the store: event kinds and incident causes.

Every parser maps what it reads onto these names, and everything downstream
(correlation, dashboard, digest) relies on them, so they are defined here once
with a one-line meaning each.  The tables of docs/store.md and docs/incidents.md are
made from these dicts (``python tests/test_docs.py --write``; its tests fail when they differ).
"""

from __future__ import annotations

from pipeline.causes import CauseTable

# Event kinds: what happened, normalized across log families.
EVENT_KINDS: dict[str, str] = {
    # connection lifecycle, as seen by the client pool
    "conn_open": "a new DBAPI connection was created",
    "conn_close": "a connection was closed on purpose",
    "checkout": "a connection was checked out of the pool",
    "checkin": "a connection was returned to the pool",
    "reset": "a connection was reset (rollback) on return to the pool",
    "pre_ping": "the pool pinged a connection before handing it out",
    "pre_ping_fail": "the pool's pre-ping found the connection dead",
    "invalidate": "the pool invalidated a connection (usually after a disconnect error)",
    "recycle": "the pool recycled a connection older than pool_recycle",
    "reset_fail": 'resetting a returned connection failed ("Exception during reset or similar")',
    # client-side errors, by MySQL client error code
    "server_gone": "2006 MySQL server has gone away",
    "lost_connection": "2013/2055/1927 Lost connection to MySQL server (during query), or a PostgreSQL client's dropped connection",
    "cant_connect": "2002/2003/2026 Can't connect to MySQL server (refused, unreachable, socket, SSL), or a PostgreSQL client's failed connect",
    "unknown_host": "2005 Unknown MySQL server host, or PostgreSQL's could not translate host name",
    "too_many_connections": "1040 Too many connections (client or server side)",
    "access_denied": "1045/1129/1130/2059 Access denied / host blocked or not allowed / auth plugin (client or server side)",
    "idle_disconnect": "4031 or PostgreSQL idle-session timeout: disconnected for inactivity",
    "pool_timeout": "SQLAlchemy QueuePool limit reached, connection timed out",
    "query_error": "any other database error",
    # server-side evidence
    "aborted_connection": "server aborted a connection; the reason is kept in the message",
    "server_start": "server is ready for connections",
    "server_stop": "server shut down or crashed (normal shutdown, signal, crash recovery)",
    "connection_reset": "server saw the client reset the connection",
    "other": "anything else worth keeping",
}

# The client-side errors for a connection lost or never made, as a driver reports them (a
# MySQL error code, a PostgreSQL client's words), in the order of the kind table
# (tests/wild/COUNTING.md).  idle_disconnect, which also says why the connection went, is apart.
CLIENT_ERROR_KINDS: tuple[str, ...] = (
    "server_gone",
    "lost_connection",
    "cant_connect",
    "unknown_host",
    "too_many_connections",
    "access_denied",
)

# Kinds that mean "the application lost (or could not get) a database connection".
# Correlation groups these into incidents.
CLIENT_DROP_KINDS: tuple[str, ...] = (
    *CLIENT_ERROR_KINDS,
    "idle_disconnect",
    "pool_timeout",
    "invalidate",
    "pre_ping_fail",
    "reset_fail",
)

# Where events come from: the application's side and the database server's.
CLIENT_SOURCES: tuple[str, ...] = ("app", "sqlalchemy")
SERVER_SOURCES: tuple[str, ...] = ("mysql", "postgres")

# Server lines that can make an incident where no application log covers them: the server
# going away, refusing connections or logins, or aborting connections.
SERVER_DROP_KINDS: tuple[str, ...] = (
    "server_stop",
    "server_start",
    "too_many_connections",
    "access_denied",
    "aborted_connection",
    "idle_disconnect",
    "connection_reset",
)

# Incident causes: the verdict correlation gives.  Each cause is a module of
# pipeline/causes/ (its meaning, scoring and colour); this is their vocabulary, read from
# the registry at each use (so causes added through PIPELINE_CAUSES are in it).
CAUSES: CauseTable = CauseTable("meaning")

# Where an event came from.
SOURCES: dict[str, str] = {
    "app": "application logs (Python logging text or JSON lines)",
    "sqlalchemy": "SQLAlchemy pool/engine logging and pool event listeners",
    "mysql": "MySQL or MariaDB server error log",
    "postgres": "PostgreSQL server log",
}

# MySQL client/server error codes and the kind they map to.
ERROR_CODE_KINDS: dict[int, str] = {
    2006: "server_gone",
    2013: "lost_connection",
    2055: "lost_connection",
    1927: "lost_connection",  # MariaDB: connection was killed
    2003: "cant_connect",
    2002: "cant_connect",  # local socket / server not reachable
    2026: "cant_connect",  # SSL connection error (the TLS handshake failed)
    2005: "unknown_host",
    1040: "too_many_connections",
    1045: "access_denied",
    1129: "access_denied",  # Host '...' is blocked because of many connection errors
    1130: "access_denied",
    2059: "access_denied",  # Authentication plugin '...' cannot be loaded
    4031: "idle_disconnect",
}
