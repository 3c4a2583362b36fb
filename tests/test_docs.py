"""The README documents every command, every option and both vocabularies."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from pipeline.cli import cli
from pipeline.kinds import CAUSES, EVENT_KINDS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "pipeline"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_every_kind_is_in_the_readme_table(kind):
    assert f"| `{kind}` |" in README


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_every_cause_is_in_the_readme_table(cause):
    assert f"| `{cause}` |" in README


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path, command):
    assert path in README, f"`{path}` is not in README.md"
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--"):
                    assert re.search(re.escape(opt) + r"\b", README), f"`{path} {opt}` is not in README.md"


def test_every_envelope_is_in_the_readme_table():
    from pipeline.ingest.envelopes import ENVELOPES

    for envelope in ENVELOPES:
        assert f"| `{envelope.name}` | {envelope.describe} |" in README, envelope.name


def test_the_cause_table_is_the_registrys():
    from pipeline.causes import all_causes

    rows = "\n".join(f"| `{c.name}` | {c.meaning} |" for c in all_causes())
    assert "| cause | meaning |\n|---|---|\n" + rows + "\n" in README
