"""The ``pipeline`` command: a thin layer over the library.

Each area's commands live in ``pipeline/commands/<area>.py`` and are listed in
``COMMAND_MODULES``; this file only wires them together and turns the library's
known errors into one-line messages with the exit codes the README documents:

0 done; 1 a known error (store, input, delivery): one ``error:`` line; 2 a mistake in how
the tool was asked (unknown option, bad argument, bad configuration); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import importlib

import click

from pipeline import __version__

COMMAND_MODULES = [
    "pipeline.commands.ingest",
    "pipeline.commands.dashboard",
    "pipeline.commands.probe",
    "pipeline.commands.lab",
    "pipeline.commands.correlate",
    "pipeline.commands.evaluate",
    "pipeline.commands.digest",
    "pipeline.commands.postmortem",
    "pipeline.commands.config",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipeline")
def cli() -> None:
    """Find out why your application's database connections drop."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        cli.add_command(_command)


def main() -> None:
    import sys

    from pipeline.causes import CauseModuleError, all_causes
    from pipeline.config import ConfigError
    from pipeline.store import StoreError

    try:
        all_causes()  # a bad PIPELINE_CAUSES module is reported before any work starts
        cli.main(standalone_mode=False)
    except (ConfigError, CauseModuleError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:  # Ctrl-C (click turns KeyboardInterrupt into Abort)
        click.echo("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
