"""The ``pipeline`` command: a thin layer over the library.

Each area's commands live in ``pipeline/commands/<area>.py`` and are listed in
``COMMAND_MODULES``; this file only wires them together and turns library
errors into one-line messages.
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
def cli():
    """Find out why your application's database connections drop."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        cli.add_command(_command)


def main():
    cli()


if __name__ == "__main__":
    main()
