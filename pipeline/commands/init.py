"""``pipeline init``: what each file of a folder is read as, and a pipeline.toml to start from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.commands.common import exit_code_for, fail, json_option, print_json
from pipeline.config import ConfigError
from pipeline.terminal import cell, printable

if TYPE_CHECKING:  # the guide reads logs with polars: imported when the command runs
    from pipeline.setup_guide import Plan


@click.command("init")
@click.argument("folder", type=click.Path())
@click.option("--write", is_flag=True, help="Write FOLDER/pipeline.toml (without it, only show what it would say).")
@click.option("--force", is_flag=True, help="Replace an existing FOLDER/pipeline.toml (implies --write).")
@json_option
def init_command(folder: str, write: bool, force: bool, as_json: bool) -> None:
    """Look at the logs in FOLDER: what each file is read as, the host it would get (an
    application log and a database server log never share one) and the time zone assumed
    for it (and whether its lines carry one).  With --write, put that in a commented
    FOLDER/pipeline.toml to check and edit; an existing one is kept unless --force.
    """
    from pipeline import setup_guide

    write = write or force
    try:
        if write and not force:
            setup_guide.refuse_existing(folder)
        plan = setup_guide.survey(folder)
        written = setup_guide.write(plan, force=force) if write else None
    except setup_guide.FolderError as exc:
        fail(str(exc), 1)
    except setup_guide.ConfigExists as exc:
        fail(str(exc), 2)
    except (ConfigError, OSError) as exc:  # a pipeline.toml above that is wrong; a folder not writable
        fail(str(exc), exit_code_for(exc))
    if as_json:
        print_json({**plan.to_dict(), "written": str(written) if written else None})
        return
    _print_table(plan, before=written is not None)
    _print_next(plan, written)


def _print_table(plan: Plan, *, before: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    # names come from the file system and the logs: Text cells print them literally
    table = Table(title=cell(f"pipeline init {plan.folder}"), show_lines=False)
    host_now = "host before" if before else "host now"
    for col in ("file", "read as", "role", "host", host_now, "time zone", "zone in lines"):
        table.add_column(col, overflow="fold")
    for g in plan.files:
        table.add_row(
            cell(g.rel),
            cell(g.read_as()),
            cell(g.role or ""),
            cell(g.host or ""),
            cell(g.host_now if g.is_log else ""),
            cell(f"{g.timezone} ({g.timezone_from})" if g.is_log and g.zone_in_lines != "yes" else ""),
            cell(g.zone_in_lines or ("-" if g.is_log else "")),
        )
    console.print(table)


def _print_next(plan: Plan, written: Path | None) -> None:
    def line(text: str) -> None:
        click.echo(printable(text, one_line=True))

    for g in plan.logs():
        if g.host != g.host_now:
            line(f"{g.rel}: host {g.host} instead of {g.host_now}: {g.host_why}")
    assumed = sorted({g.timezone for g in plan.logs() if g.zone_in_lines != "yes"})
    if assumed:
        zones = ", ".join(assumed)
        line(f"time stamps without a zone are taken as {zones}: the pipeline.toml asks you to confirm it")
    if written is None:
        exists = " (one exists: --force replaces it)" if plan.target.exists() else ""
        line(f"nothing written: `pipeline init {plan.folder} --write` writes {plan.target}{exists}")
        return
    line(f"wrote {written}: check each host and time zone in it, then")
    line(f"  pipeline config {plan.folder}    # what each file gets, and from where")
    line(f"  pipeline ingest {plan.folder}    # read the logs")


COMMANDS = [init_command]
