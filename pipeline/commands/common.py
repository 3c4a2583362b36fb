"""Options and helpers shared by every command."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from pipeline.store import DEFAULT_DB, ENV_DB

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """``--db FILE``: the store; defaults to $PIPELINE_DB, else ./pipeline.duckdb."""
    return click.option(
        "--db",
        "db",
        envvar=ENV_DB,
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(),
        help=f"DuckDB store file, or a Parquet export or collection folder to read (or set ${ENV_DB}).",
    )(func)


def config_option(help_text: str) -> Callable[[F], F]:
    """``--config FILE``: a pipeline.toml that must exist; ``help_text`` says what the command takes from it."""
    return click.option("--config", type=click.Path(exists=True, dir_okay=False), help=help_text)


def out_folder_option(help_text: str) -> Callable[[F], F]:
    """``--out FOLDER`` (required), the folder the command writes into: it receives ``out_dir``."""
    return click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help=help_text)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--format table|json`` (the same option name as on every command that prints data),
    and ``--json``, its short form: the command receives ``as_json``."""

    @functools.wraps(func)
    def with_format(*args: Any, output_format: str = "table", json_flag: bool = False, **kwargs: Any) -> Any:
        return func(*args, as_json=json_flag or output_format == "json", **kwargs)

    with_format = click.option("--json", "json_flag", is_flag=True, help="Same as --format json.")(with_format)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table for people, json for scripts.",
    )(with_format)


def wide_option(func: F) -> F:
    """``--wide``: tables at their full width, whatever the terminal's (the command receives ``wide``)."""
    return click.option(
        "--wide",
        is_flag=True,
        help="Print tables whole: no column left out or cut to fit the terminal (lines may be long).",
    )(func)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def exit_code_for(exc: Exception) -> int:
    """2 for a mistake in how the tool was asked (configuration, a cause module), 1 otherwise."""
    from pipeline.causes import CauseModuleError
    from pipeline.config import ConfigError

    return 2 if isinstance(exc, ConfigError | CauseModuleError) else 1


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit with a one-line reason on stderr (control characters from file names or log text
    shown escaped, never sent to the terminal)."""
    from pipeline.terminal import printable

    click.echo(f"error: {printable(message, one_line=True)}", err=True)
    sys.exit(code)
