"""Envelopes: what collectors wrap around a log line, removed once for every family.

A Python service's or a database server's line rarely reaches the user as written: docker
compose puts the service name in front of it, ``docker logs -t`` and Kubernetes a time stamp,
journald and syslog a host and a process tag, docker's json-file driver and GELF a JSON
object around it.  The envelope is found once per file from its first lines
(:func:`detect`), then every chunk is unwrapped (:func:`unwrap`) before the family parses
it, so a family only ever sees its own payload:

* ``line`` becomes the payload; ``_orig`` keeps the line as written (stored as ``raw``);
* ``_env_ts`` is the envelope's time stamp in UTC (null when it has none), which a family
  uses when its payload carries no time of its own;
* ``_env_level`` is the envelope's severity when it has one (journald ``PRIORITY``, GELF
  ``level``); ``_whole`` marks a line that is a whole message (a GELF object), never a
  continuation of the one before;
* Kubernetes CRI ``P`` (partial) lines and docker json-file objects whose ``log`` does not
  end in a newline are joined with the lines after them; ``_nl`` then says how many input
  lines a row stands for, so the line accounting stays exact.

Lines that do not carry the file's envelope (a collector's own message, a line written
before the collector started) pass through unchanged.  Everything is polars expressions
over the chunk: no Python loop per line.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from pipeline.ingest.families.common import to_utc
from pipeline.ingest.families.server_common import iso_or_epoch_to_utc

if TYPE_CHECKING:
    from pipeline.ingest.families.base import FileContext, LogFamily, Parsed

# Time stamps as collectors write them.  RFC 3339 with up to nanoseconds; Z or an offset.
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)"
SYSLOG_TS = r"[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,6})?"
TAG = r"[^\s\[\]:]+(?:\[\d+\])?:"  # "postgres[123]:", "mariadbd:", "app.py[9]:"


@dataclass(frozen=True)
class Envelope:
    """One kind of wrapper.

    ``prefix`` envelopes are a regex at the start of the line (``pattern``, with a ``ts``
    group when they carry a time stamp); the payload is the rest of the line.  ``json``
    envelopes are one JSON object per line: the payload, time and level are fields.
    """

    name: str
    describe: str
    pattern: str  # the prefix regex, or for JSON envelopes a regex every object matches
    kind: str = "prefix"  # prefix | json
    ts: str | None = None  # how the time stamp is written: rfc3339 | syslog | epoch_us | epoch_s
    keep: str = ""  # replacement for the prefix (``$1`` keeps a group: a payload's own date)
    partial: bool = False  # a line may be continued on the next one (joined by unwrap)
    # A regex some payload must match for the envelope to be the file's: a bare time stamp in
    # front of every line is an envelope only when traceback lines carry it too (a logger
    # never stamps those), else it is the logger's own stamp.
    proof: str | None = None
    whole: bool = False  # each object is a whole message (GELF): never a continuation

    def matches(self, line: str) -> bool:
        return _PY[self.name].match(line) is not None


ENVELOPES: list[Envelope] = [
    # Kubernetes CRI (containerd, CRI-O): "<ts> stdout F payload"; P = partial line
    Envelope(
        "cri",
        "Kubernetes CRI container log (`<ts> stdout F ...`)",
        rf"^(?<ts>{RFC3339}) (?:stdout|stderr) (?<tag>[FP]) ?",
        ts="rfc3339",
        partial=True,
    ),
    # docker json-file: {"log":"payload\n","stream":"stderr","time":"..."}
    Envelope(
        "docker_json",
        'docker json-file (`{"log":...,"stream":...,"time":...}`)',
        r'^\{"log":"',
        kind="json",
        ts="rfc3339",
        partial=True,
    ),
    # journalctl -o json: one object per entry
    Envelope(
        "journald_json",
        "journald JSON export (`journalctl -o json`)",
        r'^\{.*"__REALTIME_TIMESTAMP" ?: ?"\d+"',
        kind="json",
        ts="epoch_us",
    ),
    # GELF 1.1: {"version":"1.1","host":...,"short_message":...,"timestamp":...}
    Envelope(
        "gelf",
        "GELF JSON (`short_message`, `timestamp`, `level`)",
        r'^\{.*"short_message" ?:',
        kind="json",
        ts="epoch_s",
        whole=True,
    ),
    # RFC 5424: "<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] payload"
    Envelope(
        "syslog5424",
        "syslog RFC 5424 (`<pri>1 <ts> host app procid msgid [sd] ...`)",
        r"^<\d{1,3}>1 (?<ts>\S+) \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?",
        ts="rfc3339",
    ),
    # journalctl -o short-iso / short-iso-precise: "2024-01-02T03:04:05+0000 host unit[pid]: "
    Envelope(
        "journald_iso",
        "journald `-o short-iso` (`<ts> host unit[pid]: ...`)",
        rf"^(?<ts>{RFC3339}) \S+ {TAG} ",
        ts="rfc3339",
    ),
    # RFC 3164 syslog and journalctl's default output: "Jan  2 03:04:05 host app[pid]: "
    Envelope(
        "syslog",
        "syslog RFC 3164 / `journalctl` (`Jan  2 03:04:05 host app[pid]: ...`)",
        rf"^(?:<\d{{1,3}}>)?(?<ts>{SYSLOG_TS}) \S+ {TAG} ?",
        ts="syslog",
    ),
    # docker logs -t / kubectl logs --timestamps: "<RFC 3339 with 7-9 decimals> payload".
    # Servers write at most 6 decimals, so a 5.7 MySQL line is not taken for an envelope.
    Envelope(
        "docker_ts",
        "`docker logs -t` / `kubectl logs --timestamps` (`<ts> ...`)",
        # (a byte of docker's stream header may stand before it when read without demuxing)
        r"^[^\d\s]?(?<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7,9}(?:Z|[+-]\d\d:\d\d)) ",
        ts="rfc3339",
    ),
    # runit's svlogd -tt (GitLab omnibus, Chef server): "2015-06-04_03:37:04.66270 payload"
    Envelope(
        "svlogd",
        "runit `svlogd -tt` (`2015-06-04_03:37:04.66270 ...`)",
        r"^(?<ts>\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.\d{1,9}) ",
        ts="svlogd",
    ),
    # daemontools / svlogd -t: TAI64N labels, "@400000003b4a39c23294b13c payload"
    Envelope(
        "tai64n",
        "TAI64N labels of daemontools and `svlogd -t` (`@4000000055... ...`)",
        r"^@(?<ts>4[0-9a-f]{23}) ",
        ts="tai64n",
    ),
    # Rancher's log export: "25/9/2021 20:00:33 | "
    Envelope(
        "rancher", "Rancher log export (`25/9/2021 20:00:33 | ...`)", r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d \| "
    ),
    # docker compose v1 "web_1  | ", v2 "web-1  | " (padded to the longest service name)
    # (colour codes around the name, their escape byte sometimes lost in a paste)
    Envelope(
        "compose",
        "docker compose (`service-1  | ...`)",
        r"^(?:\x1b?\[\d+(?:;\d+)*m)?[A-Za-z0-9][\w.\-]*\s+\|(?:\x1b?\[0?m)?(?: |$)",
    ),
    # process-compose / honcho-style process tags: "[postgres       ] "
    Envelope("process_tag", "a padded process name in brackets (`[postgres    ] ...`)", r"^\[[\w.\-]+ +\] "),
    # a docker local-time stamp in front of the payload's own date: keep the payload's
    Envelope(
        "local_ts",
        "a local time stamp in front of the payload's own date",
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\d{4}-\d\d-\d\d[ T])",
        keep="$1",
    ),
    # a viewer's time stamp in front of every line, traceback lines included (Docker
    # Desktop, log UIs): "2024-05-01 02:50:16 payload"
    Envelope(
        "line_stamp",
        "a time stamp on every line, traceback lines too (`2024-05-01 02:50:16 ...`)",
        r"^(?<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?) ",
        ts="local",
        proof=r"^(?:Traceback \(most recent call last\)|\s+File \"|\s+at \S)",
    ),
    # journald's short form without the date: "mariadbd[658]: "
    Envelope("tagged", "a process tag (`mariadbd[658]: ...`)", r"^[\w./-]+\[\d+\]: "),
    # a terminal UI's frame (k9s, tmux): "│ " before every line
    Envelope("box", "a terminal frame (`│ ...`)", r"^[│┃] ?"),
    # quoting a paste: "> " or "- " before every line
    Envelope("quoted", "paste markers (`> ` or `- `)", r"^(?:> |- )"),
]
BY_NAME = {env.name: env for env in ENVELOPES}
_PY = {env.name: re.compile(env.pattern.replace("(?<", "(?P<")) for env in ENVELOPES}

# An envelope is the file's when at least this share of its first non-blank lines has it.
MIN_SHARE = 0.5
MAX_DEPTH = 2  # compose around docker -t: "web-1  | 2024-...Z payload"

# syslog severities (journald PRIORITY, GELF level) as logging levels
SYSLOG_LEVELS = {
    "0": "CRITICAL",
    "1": "CRITICAL",
    "2": "CRITICAL",
    "3": "ERROR",
    "4": "WARNING",
    "5": "INFO",
    "6": "INFO",
    "7": "DEBUG",
}


# Lines pasted with a log that are not log lines: journalctl's own "-- Logs begin at ... --"
# and "-- Reboot --", and the shell prompt the user ran the command at.
NOT_LOG_LINES = re.compile(r"^(?:-- .* --\s*$|(?:\[[^\]]*\]|[\w.@~:/-]*)?[$#] )")


def detect(lines: list[str]) -> list[str]:
    """The envelopes of a file, outermost first, from its first lines ([] for none)."""
    found: list[str] = []
    lines = [ln for ln in lines if ln.strip() and not NOT_LOG_LINES.match(ln)]
    for _ in range(MAX_DEPTH):
        if not lines:
            break
        best = None
        for env in ENVELOPES:
            if env.name in found:
                continue
            matching = [ln for ln in lines if env.matches(ln)]
            if env.proof and not any(re.match(env.proof, strip_py(env, ln)) for ln in matching):
                continue
            if matching and len(matching) >= MIN_SHARE * len(lines) and (best is None or len(matching) > best[1]):
                best = (env, len(matching))
        if best is None:
            break
        env = best[0]
        found.append(env.name)
        if env.kind == "json":  # a JSON payload is decoded, never unwrapped again by prefix
            break
        lines = [strip_py(env, ln) for ln in lines]
    return found


def strip_py(env: Envelope, line: str) -> str:
    """One line without the prefix envelope ``env`` (on the few head lines detection reads)."""
    m = _PY[env.name].match(line)
    if not m:
        return line
    keep = m.group(1) if env.keep and m.re.groups else ""
    return keep + line[m.end() :]


def unwrap_lines(lines: list[str], names: list[str]) -> list[str]:
    """Head lines without their envelopes (for detection of the payload's family)."""
    for name in names:
        env = BY_NAME[name]
        if env.kind == "json":
            if not lines:
                return lines
            frame = pl.DataFrame({"line_no": list(range(1, len(lines) + 1)), "line": lines})
            lines = unwrap(frame, [name])["line"].to_list()
        else:
            lines = [strip_py(env, ln) for ln in lines]
    return lines


def unwrap(chunk: pl.DataFrame, names: list[str], *, tz: str = "UTC") -> pl.DataFrame:
    """The chunk with its envelopes removed (see the module doc for the columns added)."""
    if not names:
        return chunk
    frame = chunk.with_columns(
        pl.col("line").cast(pl.Utf8).fill_null(""),
        _orig=pl.col("line").cast(pl.Utf8).fill_null(""),
        _env_ts=pl.lit(None, pl.Datetime("us", "UTC")),
        _env_level=pl.lit(None, pl.Utf8),
    )
    for name in names:
        env = BY_NAME[name]
        frame = _unwrap_json(frame, env) if env.kind == "json" else _unwrap_prefix(frame, env, tz)
        if env.partial:
            frame = _join_partials(frame)
    return frame


def parse(family: LogFamily, chunk: pl.DataFrame, ctx: FileContext) -> Parsed:
    """``family.parse`` of the chunk's payloads (the envelopes named in ``ctx.state``)."""
    return family.parse(unwrap(chunk, ctx.state.get("envelopes") or [], tz=ctx.timezone or "UTC"), ctx)


def _unwrap_prefix(frame: pl.DataFrame, env: Envelope, tz: str) -> pl.DataFrame:
    line = pl.col("line")
    if env.ts is None:
        return frame.with_columns(line=line.str.replace(env.pattern, env.keep))
    # one pass: the whole prefix is captured too, and cut off the line (timed envelopes keep nothing)
    groups = line.str.extract_groups("^(?<_h>" + env.pattern.removeprefix("^") + ")").struct
    out = [
        pl.coalesce(_read_ts(groups.field("ts"), env.ts, tz), pl.col("_env_ts")).alias("_env_ts"),
        pl.coalesce(line.str.strip_prefix(groups.field("_h")), line).alias("line"),
    ]
    if env.partial:  # CRI: the tag P marks a line continued on the next one
        out.append((groups.field("tag") == "P").fill_null(False).alias("_part"))
    return frame.with_columns(out)


def _unwrap_json(frame: pl.DataFrame, env: Envelope) -> pl.DataFrame:
    line = pl.col("line")
    is_obj = line.str.contains(env.pattern)
    if env.name == "docker_json":
        payload, stamp, level = line.str.json_path_match("$.log"), line.str.json_path_match("$.time"), None
    elif env.name == "journald_json":
        payload = line.str.json_path_match("$.MESSAGE")
        stamp = line.str.json_path_match("$.__REALTIME_TIMESTAMP")
        level = line.str.json_path_match("$.PRIORITY")
    else:  # gelf: the full message (a traceback) when there is one
        payload = pl.coalesce(line.str.json_path_match("$.full_message"), line.str.json_path_match("$.short_message"))
        stamp = line.str.json_path_match("$.timestamp")
        level = line.str.json_path_match("$.level")
    out = []
    if env.partial:  # json-file: a "log" without its newline continues in the next object
        out.append((is_obj & ~payload.str.ends_with("\n")).fill_null(False).alias("_part"))
    payload = payload.str.strip_suffix("\n").str.strip_suffix("\r")
    out += [
        pl.when(is_obj & payload.is_not_null()).then(payload).otherwise(line).alias("line"),
        pl.when(is_obj).then(_read_ts(stamp, env.ts, "UTC")).otherwise(pl.col("_env_ts")).alias("_env_ts"),
    ]
    if env.whole:
        out.append(is_obj.alias("_whole"))
    if level is not None:
        out.append(
            pl.when(is_obj)
            .then(level.replace_strict(SYSLOG_LEVELS, default=None, return_dtype=pl.Utf8))
            .otherwise(pl.col("_env_level"))
            .alias("_env_level")
        )
    return frame.with_columns(out)


def _join_partials(frame: pl.DataFrame) -> pl.DataFrame:
    """Join a partial line (CRI ``P``, a json-file ``log`` without its newline) with the
    lines after it, up to the one that ends it; the row keeps the first line's number."""
    partial = frame["_part"]
    frame = frame.drop("_part")
    if not partial.any():
        return frame
    if "_nl" not in frame.columns:
        frame = frame.with_columns(_nl=pl.lit(1, pl.Int64))
    group = (~partial.shift(1, fill_value=False)).cast(pl.Int64).cum_sum()
    others = [c for c in frame.columns if c not in ("line_no", "line", "_orig", "_nl", "_grp")]
    return (
        frame.with_columns(_grp=group)
        .group_by("_grp", maintain_order=True)
        .agg(
            pl.col("line_no").first(),
            pl.col("line").str.join(""),
            pl.col("_orig").str.join("\n"),
            pl.col("_nl").sum(),
            *[pl.col(c).first() for c in others],
        )
        .drop("_grp")
        .select(frame.columns)
    )


def _read_ts(text: pl.Expr, how: str | None, tz: str) -> pl.Expr:
    """An envelope's time stamp -> UTC."""
    if how == "rfc3339":
        return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_zone="UTC", time_unit="us")
    if how == "epoch_us":
        return text.cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if how == "epoch_s":
        seconds = text.cast(pl.Float64, strict=False)
        return (seconds * 1_000_000).round().cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if how == "syslog":
        return _syslog_ts(text, tz)
    if how == "svlogd":  # svlogd -tt writes UTC
        return text.str.to_datetime("%Y-%m-%d_%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC")
    if how == "tai64n":  # 2**62 + 10 + seconds since the epoch, then nanoseconds
        seconds = text.str.slice(0, 16).str.to_integer(base=16, strict=False) - (2**62 + 10)
        nanos = text.str.slice(16, 8).str.to_integer(base=16, strict=False)
        return (seconds * 1_000_000 + nanos // 1000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if how == "local":  # a zone-less stamp: the file's zone
        return iso_or_epoch_to_utc(text, tz)
    return pl.lit(None, pl.Datetime("us", "UTC"))


def _syslog_ts(text: pl.Expr, tz: str) -> pl.Expr:
    """``Jan  2 03:04:05`` carries neither year nor zone: the zone is the file's, the year
    the current one, or the one before when that would put the line in the future."""
    now = dt.datetime.now(dt.UTC)
    squeezed = text.str.replace(r"^([A-Z][a-z]{2}) +", "$1 ")

    def in_year(year: int) -> pl.Expr:
        naive = (pl.lit(f"{year} ") + squeezed).str.to_datetime("%Y %b %d %H:%M:%S%.f", strict=False, time_unit="us")
        return to_utc(naive, tz)

    this_year = in_year(now.year)
    return pl.when(this_year > pl.lit(now + dt.timedelta(days=2))).then(in_year(now.year - 1)).otherwise(this_year)


__all__ = ["ENVELOPES", "Envelope", "detect", "parse", "unwrap", "unwrap_lines"]
