"""MySQL server error log: 5.5 (``YYMMDD HH:MM:SS``), 5.7 and 8.0 (``...Z`` stamps, 8.0
with ``[MY-xxxxxx] [Subsystem]``), ``log_timestamps=SYSTEM`` offsets, mysqld_safe lines.

The MariaDB family (``mariadb.py``) shares this parser; only detection and the
family name differ.  Lines without a timestamp (``Version: ...``, InnoDB blocks,
crash reports, blank lines) are folded into the event before them.

conn_ref is the server thread id, except for ``Aborted connection N to db:`` where
the connection id N is used (it matches Id in the processlist; MariaDB 10.0-10.2
write the OS thread id in the thread column).  error_code is the MY- number as an
integer, or a numeric server error code named in the message.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.ingest.families.base import FileContext, Parsed
from pipeline.ingest.families.common import normalize_level, share_score
from pipeline.ingest.families.server_common import classify, fold_records, frame_lines, offset_minutes, without_captures

# the commands of the general query log (its "Command" column)
GENERAL_COMMANDS = (
    "Connect|Query|Quit|Init DB|Prepare|Execute|Close stmt|Reset stmt|Field List|Statistics|Ping"
    "|Change user|Shutdown|Binlog Dump|Long Data|Fetch|Set option|Refresh|Kill|Debug|Processlist"
)
LEVEL_WORDS = r"(?i:note|warning|warn|error|system|info|debug|critical|fatal)"

# 5.7/8.0 ISO stamps and MariaDB 10.x+ "YYYY-MM-DD  H:MM:SS": level in brackets required.
MAIN_RE = (
    r"^(?<date>\d{4}-\d\d-\d\d)[T ] ?(?<hms>\d{1,2}:\d\d:\d\d)(?<frac>\.\d{1,9})?"
    r"(?<off>Z|[+-]\d\d:?\d\d)?"
    r"(?:(?:\s+(?<thread>\d+))?\s+\[(?<level>" + LEVEL_WORDS + r")\]\s*"
    r"(?:\[(?<code>MY-\d+)\]\s*(?:\[(?<subsys>[^\]]+)\]\s*)?|\[(?<tag>[A-Za-z][\w -]*)\]:\s*)?"
    # MySQL 8's crash handler: "2025-08-12T13:40:28Z UTC - mysqld got signal 6 ;" (no level)
    r"|(?<crash> UTC - )"
    # the general query log of 5.7+: "2023-01-01T10:00:00.123456Z\t   12 Connect\troot@localhost on",
    # and mysqld_safe's own lines: "2021-01-15T07:36:41.123456Z mysqld_safe mysqld from pid file ..."
    r"|\s+(?<gthread>\d+)\s(?<gcmd>" + GENERAL_COMMANDS + r")\b\s*|\s+(?<gcmd2>mysqld_safe)\s+)"
)
# 5.5 / MariaDB <= 10.0 / crash reports / mysqld_safe: "YYMMDD HH:MM:SS", level optional.
OLD_RE = (
    r"^(?<ymd>\d{6})\s+(?<hms>\d{1,2}:\d\d:\d\d)"
    r"(?:\s+(?<thread>\d+))?(?:\s+\[(?<level>" + LEVEL_WORDS + r")\])?\s+"
)
# MySQL 5.x's crash handler writes the time without a date: "07:00:44 UTC - mysqld got
# signal 11 ;".  It starts a record dated like the record before it (in the file's order).
TIME_ONLY_CRASH = r"^(?<hms>\d\d:\d\d:\d\d) UTC - "
# The regexes above match the prefix only; the message is what follows it.  Capturing
# only the prefix (and removing it with a capture-free copy) is ~3x faster than
# capturing the message too.
MAIN_PREFIX_NOCAP = without_captures(MAIN_RE)
OLD_PREFIX_NOCAP = without_captures(OLD_RE)

MAIN_PY = re.compile(MAIN_RE.replace("(?<", "(?P<"))
OLD_PY = re.compile(OLD_RE.replace("(?<", "(?P<"))

# kind rules, first match wins, in the order of the kind table (tests/wild/COUNTING.md).
# They read the record's whole text: the message, then its folded lines (a MySQL 8 crash
# report's "10:00:00 UTC - mysqld got signal 11 ;" has no date and is folded into the
# record before it).  Wordings, from the servers' message catalogues and sources:
# - MySQL share/messages_to_error_log.txt: ER_ABORTING_USER_CONNECTION [MY-010914] "Aborted
#   connection %u to db: ..." (8.0 also logs [MY-010914] "Got an error reading communication
#   packets" alone), ER_DEPART_WITH_GRACE "Giving %d client threads a chance to die
#   gracefully", ER_DISCONNECTING_REMAINING_CLIENTS "Forcefully disconnecting %d remaining
#   clients", ER_NORMAL_SERVER_SHUTDOWN [MY-013105] "%s: Normal shutdown.",
#   [MY-013172] "Received SHUTDOWN from user %s. Shutting down mysqld (Version: %s).",
#   ER_SERVER_SHUTDOWN_COMPLETE [MY-010910] "%s: Shutdown complete (mysqld %s)  %s.", InnoDB
#   [MY-013072] "Starting shutdown...", [MY-012980] "Shutdown completed; log sequence number
#   %llu", [MY-012551] "Database was not shutdown normally!" (5.5: "shut down"), [MY-012552] "Starting crash
#   recovery."; signal handler "%s UTC - mysqld got signal %d ;" / "mysqld got exception 0x%x ;";
# - MariaDB sql/mysqld.cc and storage/innobase: "%s (initiated by: %s): Normal shutdown",
#   "Giving %d client threads a chance to die gracefully", "Forcefully disconnecting %d
#   remaining clients", "%s: Shutdown complete", "InnoDB: Starting shutdown...", "InnoDB:
#   Shutdown completed; log sequence number %llu; transaction id %llu", "InnoDB: Starting
#   crash recovery from checkpoint LSN=%llu", "[ERROR] %s got signal %d ;", "Aria engine:
#   starting recovery"; mysqld_safe "mysqld from pid file %s ended";
# - both errmsg-utf8.txt: ER_NET_READ_ERROR "Got an error reading communication packets",
#   ER_NET_READ_INTERRUPTED "Got timeout reading communication packets", ER_NET_ERROR_ON_WRITE
#   "Got an error writing communication packets", ER_NET_WRITE_INTERRUPTED "Got timeout
#   writing communication packets", ER_HOST_IS_BLOCKED "Host '%-.64s' is blocked because of
#   many connection errors; ...".
# Not a stop: "Shutting down slave threads", "Shutting down plugin '...'", "Event Scheduler:
# Purging the queue", "Binlog end" (steps of a shutdown the lines above already mark).
KIND_RULES: list[tuple[str, str]] = [
    (r"(?i)Too many connections", "too_many_connections"),
    (
        r"(?i)Access denied for user|Host '[^']*' is not allowed to connect|is blocked because of many connection errors",
        "access_denied",
    ),
    (r"(?i)disconnected by the server because of inactivity", "idle_disconnect"),
    (
        r"(?i:Aborted connection \d+)|Got (?:an error|timeout) (?:reading|writing) communication packets",
        "aborted_connection",
    ),
    (r"(?i)Connection reset by peer", "connection_reset"),
    (r"^(?:X Plugin|Plugin mysqlx)", "other"),
    # "connect" + spaces + "ions": a line hard-wrapped by a terminal and pasted (the padding kept)
    (r"(?i)ready for connect\s*ions", "server_start"),
    # case as the servers write it: a case-insensitive search of this alternation costs 3x
    (
        r"(?:^|: )Shutdown complete(?:\b|d; log sequence number)|Normal shutdown|Received SHUTDOWN|"
        r"Giving \d+ client threads a chance to die gracefully|Forcefully disconnecting \d+ remaining clients|"
        r"(?:^|InnoDB: )Starting shutdown|got signal \d+|\b(?:mysqld|mariadbd)(?:\.exe)? got exception|"
        r"mysqld from pid file .* ended|Database was not shut ?down normally|Starting crash recovery|"
        r"Aria engine: starting recovery",
        "server_stop",
    ),
]

# server error codes named in a message; vio_errno is the network error of MariaDB's
# "Could not read packet" (1158 read error, 1159 read timeout, 1160/1161 write)
CODE_IN_MESSAGE = r"(?i)(?:Internal (?:MariaDB|MySQL) error code:|Error_code:|vio_errno:)\s*(\d{3,5})"


def _record_text(msg: pl.Expr) -> pl.Expr:
    """The message, then the record's folded lines (``raw`` after its first line)."""
    nl = pl.col("raw").str.find("\n", literal=True)
    return pl.when(nl.is_null()).then(msg).otherwise(msg + pl.col("raw").str.slice(nl))


def parse_error_log(chunk: pl.DataFrame, ctx: FileContext, source: str = "mysql") -> Parsed:
    """Shared parser for MySQL and MariaDB error logs."""
    tz = ctx.timezone or "UTC"
    df = frame_lines(chunk).with_columns(_p=pl.col("line"))
    m = pl.col("_p").str.extract_groups(MAIN_RE)
    o = pl.col("_p").str.extract_groups(OLD_RE)
    df = df.with_columns(_m=m, _o=o)
    old_date = (
        "20"
        + pl.col("_o").struct.field("ymd").str.slice(0, 2)
        + "-"
        + pl.col("_o").struct.field("ymd").str.slice(2, 2)
        + "-"
        + pl.col("_o").struct.field("ymd").str.slice(4, 2)
    )
    main_ok = pl.col("_m").struct.field("date").is_not_null()
    old_ok = pl.col("_o").struct.field("ymd").is_not_null()
    crash_hms = pl.col("_p").str.extract(TIME_ONLY_CRASH, 1)
    undated = ~main_ok & ~old_ok & crash_hms.is_not_null()

    def pick(field_main: str | None, field_old: str | None) -> pl.Expr:
        a = pl.col("_m").struct.field(field_main) if field_main else pl.lit(None, pl.Utf8)
        b = pl.col("_o").struct.field(field_old) if field_old else pl.lit(None, pl.Utf8)
        return pl.when(main_ok).then(a).otherwise(b)

    # a general-log line keeps its command ("Connect root@localhost on db"), as does mysqld_safe's
    command = pl.coalesce(pl.col("_m").struct.field("gcmd"), pl.col("_m").struct.field("gcmd2"))
    main_message = pl.concat_str(
        command, pl.col("_p").str.replace(MAIN_PREFIX_NOCAP, ""), separator=" ", ignore_nulls=True
    )
    df = df.with_columns(
        _start=main_ok | old_ok | undated,
        _date=pl.when(main_ok).then(pl.col("_m").struct.field("date")).otherwise(old_date),
        _hms=pl.when(undated).then(crash_hms).otherwise(pick("hms", "hms")),
        _frac=pick("frac", None),
        _off=pl.when(undated).then(pl.lit("Z")).otherwise(pick("off", None)),
        _thread=pl.coalesce(pick("thread", "thread"), pl.col("_m").struct.field("gthread")),
        _level=pick("level", "level"),
        _crash=(main_ok & pl.col("_m").struct.field("crash").is_not_null()) | undated,
        _code=pick("code", None),
        message=pl.when(main_ok)
        .then(main_message)
        .when(old_ok)
        .then(pl.col("_p").str.replace(OLD_PREFIX_NOCAP, ""))
        .when(undated)
        .then(pl.col("_p").str.replace(TIME_ONLY_CRASH, "")),
    )
    # an undated crash line takes the date of the record before it (or of the last chunk's)
    last_date = ctx.state.get("last_date")
    df = df.with_columns(_date=pl.col("_date").forward_fill().fill_null(pl.lit(last_date, pl.Utf8)))
    dates = df["_date"].drop_nulls()
    if dates.len():
        ctx.state["last_date"] = dates[-1]
    records = fold_records(df, pl.col("_start"), offset_minutes(pl.col("_off")), final=ctx.final, tz=tz)
    msg = pl.col("message").str.strip_chars_end()
    aborted_id = msg.str.extract(r"Aborted connection (\d+)", 1)
    code_from_msg = msg.str.extract(CODE_IN_MESSAGE, 1)
    # the record's text is built once (each rule would rebuild it)
    events = records.heads.with_columns(_kind_text=_record_text(msg)).with_columns(
        source=pl.lit(source),
        # the crash handler's line has no level: it is an error
        level=normalize_level(
            pl.col("_level").fill_null(pl.when(pl.col("_crash")).then(pl.lit("ERROR")).otherwise(pl.lit("INFO")))
        ),
        kind=classify(pl.col("_kind_text"), KIND_RULES),
        error_code=pl.coalesce(
            pl.col("_code").str.replace("MY-", "").cast(pl.Int32, strict=False),
            code_from_msg.cast(pl.Int32, strict=False),
        ),
        conn_ref=pl.coalesce(aborted_id, pl.col("_thread")),
        message=msg,
    )
    return records.parsed(events, "no MySQL/MariaDB error-log timestamp before this line")


# the general query log of 5.5-5.7 ("121226 18:03:51 47216 Connect   user@host on db"):
# its time-stamped lines read like old error-log lines; the command names it
GENERAL_LOG = re.compile(r"^\d{6}\s+\d{1,2}:\d\d:\d\d\s+\d+\s+(?:" + GENERAL_COMMANDS + r")\b")


def line_flavour(line: str) -> str | None:
    """'mysql', 'mariadb', 'old' or None for one line (detection helper)."""
    p = line.rstrip("\r\n")
    m = MAIN_PY.match(p)
    if m:
        if m.group("code") or p[10:11] == "T" or m.group("off"):
            return "mysql"
        return "mariadb"
    if (old := OLD_PY.match(p)) and (
        old.group("level") or re.search(r"\d\s+(?:InnoDB:|mysqld_safe |mysqld )", p) or GENERAL_LOG.search(p)
    ):
        return "old"
    return None


def head_profile(head: list[str]) -> tuple[int, int, int, int, bool]:
    """Counts of (non-blank lines, mysql-style, mariadb-style, old-style) and a MariaDB hint."""
    counts = {"mysql": 0, "mariadb": 0, "old": 0}
    nonblank = 0
    hint = False
    for line in head:
        if not line.strip():
            continue
        nonblank += 1
        flav = line_flavour(line)
        if flav:
            counts[flav] += 1
        if "MariaDB" in line or "mariadbd" in line or "mariadb" in line.lower()[:40]:
            hint = True
    return nonblank, counts["mysql"], counts["mariadb"], counts["old"], hint


def _score(ratio: float) -> float:
    if ratio <= 0:
        return 0.0
    return share_score(ratio, confident_from=0.2, slope_below=2)


class ErrorLogFamily:
    """What the MySQL and MariaDB families share: the parser, and the profile of the head
    (:func:`head_profile`) that each scores its own way in ``score``."""

    name: str

    def sniff(self, head: list[str]) -> float:
        try:
            nonblank, my, maria, old, hint = head_profile(head)
        except Exception:  # pragma: no cover - sniff must never raise
            return 0.0
        if nonblank == 0:
            return 0.0
        return self.score(nonblank, my, maria, old, hint)

    def score(self, nonblank: int, my: int, maria: int, old: int, hint: bool) -> float:
        raise NotImplementedError

    def parse(self, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
        return parse_error_log(chunk, ctx, source="mysql")


class MySQLErrorFamily(ErrorLogFamily):
    name = "mysql_error"

    def score(self, nonblank: int, my: int, maria: int, old: int, hint: bool) -> float:
        # ISO/Z and MY- codes are MySQL; YYMMDD-only logs without MariaDB hints too
        score = _score((my + (0 if hint else old)) / nonblank)
        if maria > my or hint:
            score = min(score, 0.45)
        return score


FAMILY = MySQLErrorFamily()
