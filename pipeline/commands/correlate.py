"""``pipeline correlate``, ``pipeline incidents`` and ``pipeline explain``."""

from __future__ import annotations

import csv
import os
import sys
import textwrap
from datetime import datetime
from typing import Any

import click

from pipeline import store as store_mod
from pipeline.commands.common import config_option, db_option, exit_code_for, fail, json_option, print_json, wide_option
from pipeline.config import ConfigError, correlate_settings
from pipeline.kinds import CAUSES
from pipeline.store import StoreError, resolve_db_path
from pipeline.terminal import Column, note_left_out, print_table, printable


@click.command()
@db_option
@config_option("pipeline.toml whose [correlate] table sets the thresholds (default: ./pipeline.toml).")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where correlation runs: DuckDB (the store, or a --parquet folder read in place) or Spark (a --parquet folder).",
)
@click.option(
    "--parquet",
    "parquet",
    type=click.Path(file_okay=False),
    help="Correlate this Parquet folder (from `pipeline export --parquet` or `pipeline ingest --out`) instead of a store; "
    "the incidents are written into it.",
)
@click.option(
    "--master",
    help="With --engine spark: the Spark master (default $SPARK_MASTER, else local[*]; spark-submit's own wins).",
)
@json_option
def correlate(db: str, config: str | None, engine: str, parquet: str | None, master: str | None, as_json: bool) -> None:
    """Rebuild incidents from everything in the store (e.g. after changing thresholds),
    or from a Parquet folder (--parquet), in DuckDB or on Spark (--engine spark)."""
    if master and engine != "spark":
        fail("--master goes with --engine spark", 2)
    if engine == "spark" or parquet:
        # the default store name is no request to write one: only a named store gets the incidents
        source = click.get_current_context().get_parameter_source("db")
        named = source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
        summary = _correlate_folder(engine, db if named else None, config, parquet, master)
    else:
        summary = _correlate_store(db, config)
    settings = summary.pop("_settings")
    from pipeline.config_env import correlate_from_environment, variable

    from_env = correlate_from_environment()
    file = config or "./pipeline.toml"
    # where each threshold set comes from: its PIPELINE_CORRELATE_* variable, else the file
    sources = {key: variable(key) if key in from_env else file for key in settings if key != "pool"}
    summary["settings"] = {"from": sources, "set": settings}
    if as_json:
        print_json(summary)
        return
    by = ", ".join(f"{c} {n}" for c, n in summary["by_cause"].items()) or "none"
    where = f" on Spark ({summary['master']})" if summary.get("engine") == "spark" else ""
    if summary.get("engine") == "duckdb":
        where = " in DuckDB, reading the Parquet in place"
    click.echo(f"{summary['incidents']} incidents ({by}) in {summary['seconds']:.2f} s{where}")
    if summary.get("written"):
        click.echo("written to " + " and ".join(summary["written"]))
    thresholds = {key: value for key, value in settings.items() if key != "pool"}
    if thresholds:
        chosen = ", ".join(
            (f"{key} = {value:g}" if isinstance(value, float) else f"{key} = {value}") + f" ({sources[key]})"
            for key, value in sorted(thresholds.items())
        )
        click.echo(f"thresholds: {chosen}; the others at their defaults")
    else:
        click.echo("thresholds: the defaults (no [correlate] table in --config or ./pipeline.toml)")
    if settings.get("pool"):
        pool = ", ".join(f"{key} = {value}" for key, value in sorted(settings["pool"].items()))
        click.echo(f"the application's pool, as [pool] in {file} gives it: {pool}")


def _correlate_store(db: str, config: str | None) -> dict[str, Any]:
    from pipeline.correlate import rebuild

    db_path = resolve_db_path(db)
    if not db_path.exists():
        fail(f"no store at {db_path} (run `pipeline ingest` first, or pass --db)")
    try:
        settings = correlate_settings(config)
        with (
            store_mod.writer_lock(db_path, on_wait=lambda m: click.echo(m, err=True)),
            store_mod.opened(db_path, on_wait=lambda m: click.echo(m, err=True)) as con,
        ):
            summary = rebuild(con, settings, force=True)
    except (StoreError, ConfigError) as exc:
        fail(str(exc), exit_code_for(exc))
    return {**summary, "_settings": settings}


def _correlate_folder(
    engine: str, db: str | None, config: str | None, parquet: str | None, master: str | None
) -> dict[str, Any]:
    """Correlate a Parquet folder; the incidents go into the folder, and into the store
    when --db (or $PIPELINE_DB) names one explicitly."""
    import shutil

    from pipeline.export import ExportError

    if not parquet:
        fail(
            "--engine spark needs --parquet DIR (a folder from `pipeline export --parquet` or `pipeline ingest --out`)"
        )
    if engine == "spark":
        try:
            import pyspark  # noqa: F401
            import sqlglot  # noqa: F401
        except ImportError:
            fail("--engine spark needs pyspark and sqlglot: pip install 'dropout-pipeline[spark]'")
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            fail("--engine spark needs a Java runtime (17 or later) on PATH, or JAVA_HOME")
    from pipeline.correlate.on_parquet import correlate_parquet

    try:
        settings = correlate_settings(config)
        summary = correlate_parquet(parquet, settings, engine=engine, master=master, db=db)
    except (StoreError, ConfigError, ExportError) as exc:
        fail(str(exc), exit_code_for(exc))
    summary["written"] = [parquet] + ([db] if db else [])
    return {**summary, "_settings": settings}


def _known_cause(name: str | None) -> str | None:
    """A cause from the registry (read when the command runs, so added causes count too)."""
    if name is not None and name not in CAUSES:
        raise click.BadParameter(f"{name!r} is not a cause; one of: {', '.join(sorted(CAUSES))}")
    return name


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``24h``/``30m``/``7d``/``90s``/``2w`` ago, or an ISO-8601 time (UTC unless it has a zone)."""
    from pipeline.timeparse import parse_time

    try:
        when = parse_time(text, now=now)
    except ValueError:
        when = None
    if when is None:
        raise click.BadParameter(f"{text!r}: use a duration like 24h, 30m, 7d, or an ISO-8601 time")
    return when


@click.command()
@db_option
@click.option("--since", help="Only incidents still going on after this: a duration ago (24h, 30m, 7d) or an ISO time.")
@click.option("--until", help="Only incidents that started before this: a duration ago or an ISO time.")
@click.option("--cause", callback=lambda ctx, param, value: _known_cause(value), help="Only incidents with this cause.")
@click.option("--host", help="Only incidents that involve this host.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--json", "json_flag", is_flag=True, help="Same as --format json.")
@wide_option
def incidents(
    db: str,
    since: str | None,
    until: str | None,
    cause: str | None,
    host: str | None,
    fmt: str,
    json_flag: bool,
    wide: bool,
) -> None:
    """List incidents: when, cause, confidence, hosts, errors, summary."""
    fmt = "json" if json_flag else fmt
    since_dt = parse_when(since) if since else None
    until_dt = parse_when(until) if until else None
    from pipeline.api import Store

    try:
        rows = Store.open(db).incident_records(since_dt, until_dt, cause=cause, hosts=host)
    except StoreError as exc:
        fail(str(exc))
    if fmt == "json":
        for r in rows:
            r.pop("details", None)
            for e in r["evidence"]:
                e.pop("file", None)
                e.pop("line_no", None)
        print_json(rows)
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["id", "start", "end", "cause", "confidence", "hosts", "errors", "summary", "advice"])
        for r in rows:
            w.writerow(
                [
                    r["id"],
                    r["start"],
                    r["end"],
                    r["cause"],
                    r["confidence"],
                    " ".join(r["hosts"]),
                    r["errors"],
                    r["summary"],
                    " | ".join(r["advice"]),
                ]
            )
    else:
        _print_table(rows, wide)


# the id and the start are never cut (a copy and paste of the id must work); the summary
# folds; the rest is left out, least needed first, when the output is narrow
INCIDENT_COLUMNS = [
    Column("id"),
    Column("start (UTC)"),
    Column("dur", "right", keep=60),
    Column("cause", keep=100),
    Column("conf", "right", keep=40),
    Column("hosts", keep=45, shrink="wrap", min_width=8),
    Column("errors", "right", keep=50),
    Column("summary", keep=80, shrink="wrap", min_width=30),
]


def _print_table(rows: list[dict[str, Any]], wide: bool = False) -> None:
    if not rows:
        click.echo("no incidents")
        return
    cells = [
        [
            r["id"],
            r["start"][:19].replace("T", " "),
            _duration(r),
            r["cause"],
            f"{r['confidence']:.2f}",
            ", ".join(r["hosts"]),
            str(r["errors"]),
            r["summary"],
        ]
        for r in rows
    ]
    left_out = print_table(INCIDENT_COLUMNS, cells, wide=wide)
    note_left_out(left_out)
    if "summary" in left_out:
        click.echo("`pipeline explain ID` tells one incident's story.")


def _duration(r: dict[str, Any]) -> str:
    a = datetime.fromisoformat(r["start"].replace("Z", "+00:00"))
    b = datetime.fromisoformat(r["end"].replace("Z", "+00:00"))
    return f"{(b - a).total_seconds():.0f}s"


@click.command()
@click.argument("incident_id")
@db_option
@json_option
def explain(incident_id: str, db: str, as_json: bool) -> None:
    """Tell the story of one incident: cause, the lines that prove it, what to change.

    INCIDENT_ID is an id from `pipeline incidents` (a unique prefix is enough).
    """
    from pipeline.api import IncidentNotFound, Store

    try:
        store = Store.open(db)
        found = store.incident(incident_id)
        inc = store.incident_records(incident_id=found.incident_id)[0]
    except IncidentNotFound as exc:
        fail(f"{exc} (see `pipeline incidents`)")
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json(inc)
        return
    click.echo(render_explain(inc))


def render_explain(inc: dict[str, Any], width: int = 100) -> str:
    """Plain-text story of one incident; text from the logs or the config is made
    printable (pipeline.terminal) before it is wrapped, so widths count the escapes."""

    def wrap(text: str, indent: str = "") -> str:
        return textwrap.fill(printable(text), width=width, initial_indent=indent, subsequent_indent=" " * len(indent))

    def one(text: str) -> str:  # a field that must stay on its line (host names, file names)
        return printable(text, one_line=True)

    out = [
        f"Incident {inc['id']}: {inc['cause']} (confidence {inc['confidence']:.2f})",
        f"{inc['start'][:19].replace('T', ' ')} -> {inc['end'][11:19]} UTC ({_duration(inc)}), "
        f"hosts: {one(', '.join(inc['hosts'])) or '-'}, {inc['errors']} client errors",
        "",
        wrap(inc["summary"]),
    ]
    other_scores = {c: v for c, v in inc["scores"].items() if c != inc["cause"]}
    top = inc["scores"].get(inc["cause"])
    if top is not None or other_scores:
        ranked = sorted(inc["scores"].items(), key=lambda kv: -kv[1])
        out += ["", "Scores: " + ", ".join(f"{c} {v:.2f}" for c, v in ranked)]
    from pipeline.causes.idle_timeout import IdleTimeoutDetails
    from pipeline.correlate.details import IncidentDetails
    from pipeline.correlate.idle import describe_limit

    idle = IncidentDetails.from_json(inc.get("details")).of(IdleTimeoutDetails)
    for host, lim in sorted(idle.idle_limits.items()):
        out.append(one(f"Idle limit on {host}: {describe_limit(lim)}"))
    out += ["", "Evidence:"]
    others: list[str] = []
    for e in inc["evidence"]:
        ts = (e["ts"] or "")[11:23]
        head = f"  {ts}  {one(e['source']):<10} {one(str(e['why']))}"
        if (e["why"] or "").endswith("]") and " [" in e["why"]:
            others.append(head)
            continue
        out.append(head)
        parts = textwrap.wrap(printable(e["line"] or ""), width=width - 6, break_on_hyphens=False) or [""]
        if len(parts) > 3:
            parts = parts[:3]
            parts[-1] = parts[-1][: width - 9] + "..."
        out.extend(f"      {p}" for p in parts)
        if e.get("file"):
            out.append(f"      ({one(_short(e['file']))}:{e['line_no']})")
    if others:
        out += ["", "Evidence for the other causes considered (lines with --json):"] + others
    out += ["", "What to change:"]
    for n, a in enumerate(inc["advice"], 1):
        out.append(wrap(a, f"  {n}. "))
    # the id, cause and score names come from the store too: one last pass catches them
    return printable("\n".join(out))


def _short(path: str) -> str:
    from pathlib import Path

    p = Path(path)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        parts = p.parts
        return str(Path(*parts[-3:])) if len(parts) > 3 else path


COMMANDS = [correlate, incidents, explain]
