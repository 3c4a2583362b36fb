"""The CLI loads a command's module only when the command runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

from pipeline.cli import COMMAND_MODULES


def test_every_command_module_defines_the_commands_listed_for_it():
    """The CLI imports a command's module only when the command runs: the list of commands
    and their modules must match what the modules define."""
    for module in set(COMMAND_MODULES.values()):
        defined = {c.name for c in importlib.import_module(module).COMMANDS}
        assert defined == {name for name, m in COMMAND_MODULES.items() if m == module}, module


def test_ingest_does_not_load_the_other_commands():
    code = (
        "import sys, click; from pipeline.cli import cli; cli.get_command(click.Context(cli), 'ingest'); "
        "print(sorted(m for m in sys.modules if m.startswith('pipeline.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pipeline.commands.common', 'pipeline.commands.ingest']"
