"""Options and helpers shared by every command."""

from __future__ import annotations

import json
import sys

import click

from pipeline.store import ENV_DB, DEFAULT_DB


def db_option(func):
    """``--db FILE``: the store; defaults to $PIPELINE_DB, else ./pipeline.duckdb."""
    return click.option(
        "--db",
        "db",
        envvar=ENV_DB,
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(dir_okay=False),
        help=f"DuckDB store file (or set ${ENV_DB}).",
    )(func)


def json_option(func):
    """``--json``: print machine-readable JSON instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fail(message: str, code: int = 1):
    """Exit with a one-line reason on stderr."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
