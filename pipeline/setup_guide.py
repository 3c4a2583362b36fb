"""A first look at a folder of logs, and the ``pipeline.toml`` that sets it up.

For each file below the folder, :func:`survey` says what ingest would read it as (a family
and its envelopes, or why it is not a log), which host it gets now and which one it should
get, the time zone assumed for its time stamps, and whether its lines carry a zone of their
own.  :func:`render_toml` writes that as a commented ``pipeline.toml`` a user can edit, and
:func:`write` puts it in the folder (never over an existing one unless asked).

Hosts are proposed so that application logs and database server logs never share one: the
host a file's lines name (syslog, journald, GELF, docker compose, a JSON ``host`` field),
else the one it gets now (its folder's name, or a configured one); a server log (or its
status snapshots) whose host is also an application log's gets ``<host>-db``.  Without
that, everything in one folder is one host, and incidents, summaries and filters by host
cannot tell the application from its database.

Whether lines carry a zone is not guessed from their look: the first lines are parsed twice,
in two zones 12 hours apart, and the lines whose times come out equal carry their own.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.config import CONFIG_NAME, ConfigError, SettingsResolver
from pipeline.ingest import envelopes, files
from pipeline.ingest.families.base import FileContext, LogFamily
from pipeline.terminal import printable

# What each family's files are, and on which side of the connection they were written.
ROLES = {
    "python_text": "application",
    "json_lines": "application",
    "ping": "network probe",
    "latency_table": "network probe",
    "mysql_error": "database server",
    "mariadb": "database server",
    "postgres": "database server",
    "status": "database status",
}
SERVER_ROLES = ("database server", "database status")
SERVER_SUFFIX = "-db"
# Two zones 12 hours apart: a time stamp read the same in both carries its own zone.
PROBE_ZONES = ("Etc/GMT+6", "Etc/GMT-6")
# A host name as a log may give it (no spaces, no markup, not syslog's "-" for none).
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# Envelopes whose prefix names the host (or the compose service) that wrote the line.
HOST_IN_PREFIX = {
    "syslog": re.compile(rf"^(?:<\d{{1,3}}>)?{envelopes.SYSLOG_TS} (?P<host>\S+) {envelopes.TAG}"),
    "journald_iso": re.compile(rf"^{envelopes.RFC3339} (?P<host>\S+) {envelopes.TAG}"),
    "syslog5424": re.compile(r"^<\d{1,3}>1 \S+ (?P<host>\S+) "),
    "compose": re.compile(r"^(?:\x1b?\[\d+(?:;\d+)*m)?(?P<host>[A-Za-z0-9][\w.\-]*)\s+\|"),
}
# JSON fields naming the host, by envelope (or family, for JSON lines without one).
HOST_FIELDS = {"journald_json": ("_HOSTNAME",), "gelf": ("host",), "json_lines": ("host", "hostname")}
# Reasons for which a file is a log after all, or may become one: it is not ignored.
KEEP_REASONS = ("empty file", "cannot read", 'format = "')


class FolderError(ValueError):
    """The folder cannot be surveyed (missing, not a folder, unreadable)."""


class ConfigExists(FileExistsError):
    """The folder has a pipeline.toml already and replacing it was not asked for."""


@dataclass
class FileGuess:
    """What ingest would make of one file, and what the new pipeline.toml gives it.  Where a
    setting comes from (``*_from``, ``ignored_by``) names a pipeline.toml relative to the folder."""

    path: str
    rel: str
    family: str | None = None
    envelopes: list[str] = field(default_factory=list)
    reason: str = ""
    role: str | None = None
    host: str | None = None
    host_why: str = ""
    host_now: str = ""
    host_now_from: str = ""
    hosts_in_lines: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    timezone_from: str = "default"
    zone_in_lines: str | None = None  # yes | no | some; None when no line was read in time
    ignored_by: str | None = None

    @property
    def is_log(self) -> bool:
        return self.family is not None and self.ignored_by is None

    def read_as(self) -> str:
        """``mariadb in compose``, or ``not a log: <reason>``."""
        if self.ignored_by is not None:
            return f"ignored by {self.ignored_by}"
        if self.family is None:
            return f"not a log: {self.reason}"
        return self.family + "".join(f" in {name}" for name in reversed(self.envelopes))


@dataclass
class Plan:
    """The survey of one folder and where its pipeline.toml goes."""

    folder: Path
    files: list[FileGuess]
    default_timezone: str
    default_timezone_from: str

    @property
    def target(self) -> Path:
        return self.folder / CONFIG_NAME

    def logs(self) -> list[FileGuess]:
        return [g for g in self.files if g.is_log]

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "config": str(self.target),
            "exists": self.target.exists(),
            "default_timezone": {"value": self.default_timezone, "from": self.default_timezone_from},
            "files": [{**asdict(g), "read_as": g.read_as()} for g in self.files],
        }


def survey(folder: str | Path) -> Plan:
    """Every file below ``folder``, with what it is read as and the host and zone proposed.
    Raises :class:`FolderError` for a folder that cannot be read, ``ConfigError`` for a
    pipeline.toml that applies to it and is wrong."""
    root = _checked_folder(Path(folder))
    resolver = SettingsResolver()
    guesses = [_guess(root, found, resolver) for found in files.discover([root])]
    _propose_hosts(guesses)
    zone, zone_from = _default_zone(resolver, root)
    return Plan(root, guesses, zone, zone_from)


def short_source(source: str, root: Path) -> str:
    """Where a setting comes from, its pipeline.toml named relative to ``root``."""
    if not source.startswith(os.sep):
        return source
    path, sep, rest = source.partition(" [")
    return os.path.relpath(path, root) + sep + rest


def _checked_folder(folder: Path) -> Path:
    if not folder.exists():
        raise FolderError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise FolderError(f"{folder}: not a folder (give the folder that holds the logs)")
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as exc:
        raise FolderError(f"{folder}: cannot list folder: {exc.strerror or exc}") from None
    return folder.absolute()


def _default_zone(resolver: SettingsResolver, folder: Path) -> tuple[str, str]:
    """The ``[defaults] timezone`` in force for the folder, and where it comes from."""
    zone, source = "UTC", "default"
    for cfg in reversed(resolver.nearest(folder / CONFIG_NAME)):
        if "timezone" in cfg.defaults:
            zone, source = str(cfg.defaults["timezone"]), f"{cfg.folder / CONFIG_NAME} [defaults]"
    return zone, short_source(source, folder)


def _guess(root: Path, found: files.Discovered, resolver: SettingsResolver) -> FileGuess:
    guess = FileGuess(str(found.path), _relative(found.path, root))
    if found.problem is not None:
        guess.reason = found.problem
        return guess
    guess.ignored_by = _ignored_by(resolver, found.path, root)
    settings = resolver.explain(found.path)
    guess.host_now, guess.host_now_from = settings["host"][0], short_source(settings["host"][1], root)
    guess.timezone, guess.timezone_from = settings["timezone"][0], short_source(settings["timezone"][1], root)
    configured = settings["format"][0] if settings["format"][1] != "default" else None
    if guess.ignored_by is None:
        _read(guess, found.path, configured)
    return guess


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _ignored_by(resolver: SettingsResolver, path: Path, root: Path) -> str | None:
    for cfg in resolver.nearest(path):
        if cfg.ignores(path):
            return short_source(str(cfg.folder / CONFIG_NAME), root)
    return None


def _read(guess: FileGuess, path: Path, configured_format: str | None) -> None:
    """Detection on the file's head, as ingest does it, then its hosts and zone."""
    from pipeline.ingest import detect

    try:
        head, problem = files.read_head(path, files.is_gzip(path))
    except OSError as exc:
        head, problem = b"", f"cannot read: {exc.strerror or exc}"
    if problem is not None:
        guess.reason = problem
        return
    detection = detect.choose(head, configured_format)
    guess.reason, guess.envelopes = detection.reason, list(detection.envelopes)
    if detection.family is None:
        return
    guess.family = detection.family.name
    guess.role = ROLES.get(guess.family, "other")
    lines = files.head_lines(head)
    guess.hosts_in_lines = hosts_in_lines(lines, guess.envelopes, guess.family)
    guess.zone_in_lines = zone_in_lines(detection.family, lines, guess.envelopes)


def hosts_in_lines(lines: list[str], wrapped: list[str], family: str) -> list[str]:
    """The host names the lines give (their envelope's host or service, or a JSON field),
    most frequent first; [] when they name none."""
    outer = wrapped[0] if wrapped else family
    if outer in HOST_IN_PREFIX:
        pattern = HOST_IN_PREFIX[outer]
        names = [m.group("host") for m in map(pattern.match, lines) if m]
    elif outer in HOST_FIELDS:
        names = [name for line in lines for name in _json_fields(line, HOST_FIELDS[outer])]
    else:
        names = []
    counts = Counter(name for name in names if HOST_NAME.fullmatch(name))
    return [name for name, _ in counts.most_common()]


def _json_fields(line: str, keys: tuple[str, ...]) -> Iterator[str]:
    try:
        obj = json.loads(line)
    except ValueError:
        return
    if not isinstance(obj, dict):
        return
    for key in keys:
        value = obj.get(key)
        if isinstance(value, dict):  # Elastic's {"host": {"name": ...}}
            value = value.get("name")
        if isinstance(value, str):
            yield value
            return


def zone_in_lines(family: LogFamily, lines: list[str], wrapped: list[str]) -> str | None:
    """``yes`` when every time read from ``lines`` carries its zone, ``no`` when none does,
    ``some`` otherwise; None when no time could be read."""
    first, second = (_times(family, lines, wrapped, zone) for zone in PROBE_ZONES)
    if not first or len(first) != len(second):
        return None
    same = sum(1 for a, b in zip(first, second) if a == b)
    return "yes" if same == len(first) else "no" if same == 0 else "some"


def _times(family: LogFamily, lines: list[str], wrapped: list[str], zone: str) -> list[datetime]:
    """The times of the events, samples and metrics ``family`` reads from ``lines`` when
    time stamps without a zone are in ``zone``."""
    frame = pl.DataFrame(
        {"line_no": range(1, len(lines) + 1), "line": lines}, schema={"line_no": pl.Int64, "line": pl.Utf8}
    )
    ctx = FileContext(path="", host=None, timezone=zone, final=True, state={"envelopes": list(wrapped)})
    try:
        parsed = envelopes.parse(family, frame, ctx)
    except Exception:  # a family that cannot read its own head tells nothing about zones
        return []
    frames = (parsed.events, parsed.latency, parsed.metrics)
    return [ts for part in frames for ts in part["ts"].drop_nulls().to_list()]


def _propose_hosts(guesses: list[FileGuess]) -> None:
    """Each log's host: the one its lines name, else the one it has now; a server log on an
    application log's host moves to ``<host>-db``."""
    logs = [g for g in guesses if g.is_log]
    for g in logs:
        g.host, g.host_why = _base_host(g)
    app_hosts: dict[str | None, str] = {}
    for g in logs:
        if g.role not in SERVER_ROLES:
            app_hosts.setdefault(g.host, f"{g.rel} ({g.role})")
    for g in logs:
        if g.role in SERVER_ROLES and g.host in app_hosts:
            g.host_why = f"{app_hosts[g.host]} has host {g.host}"
            g.host = f"{g.host}{SERVER_SUFFIX}"


def _base_host(g: FileGuess) -> tuple[str, str]:
    if len(g.hosts_in_lines) == 1:
        return g.hosts_in_lines[0], "named in its lines"
    why = "its folder's name" if g.host_now_from == "the folder's name" else f"from {g.host_now_from}"
    if g.hosts_in_lines:  # a file is one host's: a collector's file of several is not split
        why += f"; its lines name several hosts ({', '.join(g.hosts_in_lines[:3])})"
    return g.host_now, why


# ---- the pipeline.toml


def render_toml(plan: Plan, when: datetime | None = None) -> str:
    """The commented ``pipeline.toml`` for ``plan`` (checked against the settings model)."""
    parts = [
        _header(plan, when or datetime.now(UTC)),
        _ignore_block(plan),
        _defaults_block(plan),
        *(_file_block(g) for g in _rule_order(plan.logs())),
        _others_block(plan),
        _correlate_block(plan),
    ]
    text = "\n".join(part for part in parts if part)
    _check(text, plan.target)
    return text


def _comment(text: str) -> str:
    """A comment line: a file name or a reason from a log may hold any character."""
    return f"# {printable(text, one_line=True)}".rstrip()


def _toml_string(text: str) -> str:
    """A TOML basic string (quotes, backslashes and control characters escaped)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def glob_for(rel: str) -> str:
    """A glob that matches exactly the file at ``rel`` (a name that is not valid text, as a
    file system may hold, has its undecodable characters matched by ``?``)."""
    escaped = glob.escape(rel)
    return "".join("?" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in escaped)


def _header(plan: Plan, when: datetime) -> str:
    folder = printable(str(plan.folder), one_line=True)
    lines = [
        f"pipeline.toml for {folder}, written by `pipeline init` on {when:%Y-%m-%d %H:%M} UTC.",
        "",
        "It says, for each log below this folder, the host that wrote it and the time zone of",
        "its time stamps when they carry none.  Application logs and database server logs must",
        "not share a host, or incidents cannot tell them apart.  Check every host and every",
        'line marked "confirm", edit what is wrong (the comments say where each value comes from),',
        "then see what each file gets and read the logs in:",
        "",
        f"    pipeline config {folder}",
        f"    pipeline ingest {folder}",
    ]
    return "\n".join(_comment(line) for line in lines) + "\n"


def _ignore_block(plan: Plan) -> str:
    """``ignore``: top level, so before any table.  Files that are not logs, with why."""
    skipped = [g for g in plan.files if _ignorable(g, plan)]
    if not skipped:
        return ""
    lines = ["# Files below this folder that are not logs: ingest skips them."]
    lines.append("ignore = [")
    for g in skipped:
        why = g.read_as() if g.ignored_by is None else "ignored by the pipeline.toml this one replaces"
        lines.append(f"    {_toml_string(glob_for(g.rel))},  {_comment(why)}")
    lines.append("]")
    return "\n".join(lines) + "\n"


def _ignorable(g: FileGuess, plan: Plan) -> bool:
    if g.ignored_by is not None:  # kept when the file that ignored it is the one replaced
        return g.ignored_by == CONFIG_NAME
    return g.family is None and not any(mark in g.reason for mark in KEEP_REASONS)


def _defaults_block(plan: Plan) -> str:
    lines = [
        "[defaults]",
        "# The zone of time stamps that carry none, for files added later.",
        f"timezone = {_toml_string(plan.default_timezone)}  {_comment(_zone_source(plan.default_timezone_from))}",
    ]
    return "\n".join(lines) + "\n"


def _zone_source(source: str) -> str:
    if source == "default":
        return "confirm: UTC is assumed, the default"
    return f"from {source}"


def _rule_order(logs: list[FileGuess]) -> list[FileGuess]:
    """Deepest files first: the first matching rule wins, and a rule is also matched against
    the bare file name, so ``a.log`` must not come before ``sub/a.log``."""
    return sorted(logs, key=lambda g: (-g.rel.count("/"), g.rel))


def _file_block(g: FileGuess) -> str:
    lines = [
        _comment(f"{g.rel}: {g.role} log, read as {g.read_as()}; {_zone_words(g)}"),
        "[[files]]",
        f"glob = {_toml_string(glob_for(g.rel))}",
        f"host = {_toml_string(g.host or g.host_now)}  {_comment(g.host_why)}",
    ]
    if g.zone_in_lines != "yes":
        lines.append(f"timezone = {_toml_string(g.timezone)}  {_comment(_zone_confirm(g))}")
    return "\n".join(lines) + "\n"


def _zone_words(g: FileGuess) -> str:
    return {
        "yes": "its lines carry their time zone",
        "no": "its lines carry no time zone",
        "some": "some of its lines carry no time zone",
    }.get(g.zone_in_lines or "", "no time read from its first lines")


def _zone_confirm(g: FileGuess) -> str:
    if g.timezone_from == "default":
        return f"confirm: the zone its clock writes in ({g.timezone} is assumed, the default)"
    return f"confirm: the zone its clock writes in (from {g.timezone_from})"


def _others_block(plan: Plan) -> str:
    """Files left out of the rules: unreadable, empty, or close to a known format."""
    others = [g for g in plan.files if not g.is_log and not _ignorable(g, plan) and g.ignored_by is None]
    if not others:
        return ""
    lines = ["Not read as logs, and not ignored (ingest lists them as unknown):"]
    lines += [f"  {g.rel}: {g.read_as()}" for g in others]
    return "\n".join(_comment(line) for line in lines) + "\n"


def _correlate_block(plan: Plan) -> str:
    folder = printable(str(plan.folder), one_line=True)
    lines = [
        "[correlate] thresholds are left at their defaults: `pipeline config` lists each one, its",
        "value and where it comes from.  They are read from the pipeline.toml of the folder a",
        "command runs in, or from --config: to change one, add a [correlate] table here and run",
        f"    pipeline correlate --config {folder}/{CONFIG_NAME}",
        "A [pool] table (pool_size, pool_recycle, pool_pre_ping, ...) lets a verdict say which of",
        "your application's pool settings let a drop through.",
    ]
    return "\n".join(_comment(line) for line in lines) + "\n"


def _check(text: str, where: Path) -> None:
    """The text is a pipeline.toml the settings model accepts (else a bug here)."""
    from pipeline import config_schema

    try:
        config_schema.validate(tomllib.loads(text), where)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"pipeline init made an invalid {where}: {exc}") from exc


# ---- writing


def refuse_existing(folder: str | Path) -> None:
    """Raise :class:`ConfigExists` when ``folder`` has a pipeline.toml (before any work)."""
    target = Path(folder) / CONFIG_NAME
    if target.exists():
        raise ConfigExists(_exists(target))


def _exists(target: Path) -> str:
    return f"{target} exists: edit it, or replace it with --force"


def write(plan: Plan, *, force: bool = False, when: datetime | None = None) -> Path:
    """Write the plan's pipeline.toml into its folder; raises :class:`ConfigExists` when one
    is there and ``force`` is not set."""
    text = render_toml(plan, when)
    target = plan.target
    if not force:
        try:
            with open(target, "x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            raise ConfigExists(_exists(target)) from None
        return target
    staging = target.with_name(f".{CONFIG_NAME}.{os.getpid()}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, target)
    return target


__all__ = [
    "ConfigExists",
    "FileGuess",
    "FolderError",
    "Plan",
    "glob_for",
    "hosts_in_lines",
    "refuse_existing",
    "render_toml",
    "survey",
    "write",
    "zone_in_lines",
]
