"""The docs (README.md and docs/*.md) document every command, option, kind, cause and envelope,
mention no option a command lacks, and show the tables that mirror code as the code makes them.

Each such table sits between ``<!-- NAME -->`` and ``<!-- /NAME -->`` on its page.  The
tables made from code alone are rewritten by::

    python tests/test_docs.py --write

The tables made by runs (accuracy, wild corpus, corpus conformance) by their own tests:
``python tests/test_accuracy_readme.py --write``, ``python tests/test_wild_corpus.py --write``,
``python tests/test_corpus_server.py --write``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
TEXT = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)


# -- tables made from code -------------------------------------------------------------------


def kinds_table() -> str:
    from pipeline.kinds import EVENT_KINDS

    return "\n".join(["| kind | meaning |", "|---|---|", *(f"| `{k}` | {v} |" for k, v in EVENT_KINDS.items())])


def sources_list() -> str:
    from pipeline.kinds import SOURCES

    return "\n".join(["| source | what it is |", "|---|---|", *(f"| `{k}` | {v} |" for k, v in SOURCES.items())])


def traits_table() -> str:
    from pipeline.traits import TRAITS, Trait

    def words(t: Trait) -> str:
        said = ", ".join(f"`{p}`" for p in t.phrases)
        return said + (f" (not on {', '.join(f'`{k}`' for k in t.unless_kinds)})" if t.unless_kinds else "")

    rows = [f"| `{t.name}` | {t.bit} | {t.scope} | {t.meaning} | {words(t)} |" for t in TRAITS]
    return "\n".join(["| trait | bit | read on | meaning | words |", "|---|---:|---|---|---|", *rows])


def causes_table() -> str:
    from pipeline.causes import all_causes

    rows = [f"| `{c.name}` | {c.meaning} |" for c in all_causes()]
    return "\n".join(["| cause | meaning |", "|---|---|", *rows])


def envelopes_table() -> str:
    from pipeline.ingest.envelopes import ENVELOPES

    rows = [f"| `{e.name}` | {e.describe} | {'yes' if e.ts else 'no'} |" for e in ENVELOPES]
    return "\n".join(["| envelope | what it looks like | gives the time |", "|---|---|---|", *rows])


def settings_table() -> str:
    from pipeline.config_schema import settings_table

    return settings_table()


def redaction_table() -> str:
    from pipeline.ingest.redact import catalogue_markdown

    return catalogue_markdown()


# marker: (page, what makes the table)
GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    "envelopes-table": ("formats.md", envelopes_table),
    "settings-table": ("configuration.md", settings_table),
    "sources-table": ("store.md", sources_list),
    "kinds-table": ("store.md", kinds_table),
    "traits-table": ("store.md", traits_table),
    "causes-table": ("incidents.md", causes_table),
    "redaction-table": ("reliability.md", redaction_table),
}


def section(text: str, marker: str) -> str:
    """What stands between ``<!-- marker -->`` and ``<!-- /marker -->``, stripped."""
    parts = text.split(f"<!-- {marker} -->")
    assert len(parts) == 2, f"<!-- {marker} --> must appear once"
    inside = parts[1].split(f"<!-- /{marker} -->")
    assert len(inside) == 2, f"<!-- /{marker} --> must close <!-- {marker} -->"
    return inside[0].strip()


def replace_section(text: str, marker: str, table: str) -> str:
    """``text`` with the section between the markers replaced by ``table`` (blank lines around
    it, so that Markdown reads the table as a table)."""
    head, rest = text.split(f"<!-- {marker} -->", 1)
    _, tail = rest.split(f"<!-- /{marker} -->", 1)
    return f"{head}<!-- {marker} -->\n\n{table.strip()}\n\n<!-- /{marker} -->{tail}"


def write() -> None:
    for marker, (page, make) in GENERATED.items():
        path = DOCS / page
        path.write_text(replace_section(path.read_text(encoding="utf-8"), marker, make()), encoding="utf-8")


# -- the tests ------------------------------------------------------------------------------


def _commands(group: click.Group, prefix: str = "pipeline"):
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def _cli() -> click.Group:
    from pipeline.cli import cli

    return cli


COMMANDS = list(_commands(_cli()))


@pytest.mark.parametrize("marker", sorted(GENERATED))
def test_generated_table_is_what_the_code_makes(marker):
    page, make = GENERATED[marker]
    shown = section((DOCS / page).read_text(encoding="utf-8"), marker)
    assert shown == make().strip(), f"docs/{page}: regenerate with python tests/test_docs.py --write"


def test_every_kind_and_cause_is_documented():
    from pipeline.kinds import CAUSES, EVENT_KINDS

    for name in [*EVENT_KINDS, *CAUSES]:
        assert f"| `{name}` |" in TEXT, name


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path, command):
    """Each option stands in some ``pipeline ...`` code (a synopsis, an example) of its command."""
    shown = set()
    for _, _, text in _mentions():
        name, _, rest = _resolve(text.split())
        if name == path:
            shown |= {m.group(1) for w in rest if (m := re.match(r"\[?(--[a-z][\w-]*)", w))}
    if "--format" in shown:  # --json is "the same as --format json" (docs/commands.md, common options)
        shown.add("--json")
    assert path in TEXT, f"`{path}` is not in the docs"
    options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")}
    missing = sorted(options - shown - {"--help"})
    assert not missing, f"`{path}`: no command line in the docs shows {', '.join(missing)} (docs/commands.md)"


def _mentions() -> list[tuple[str, int, str]]:
    """(page, line, command text) for each ``pipeline ...`` command in code: code spans, and lines of
    fenced blocks (an indented line or one after a ``\\`` goes on the line before)."""
    found = []
    for page in PAGES:
        fence = None
        logical: list[tuple[int, str]] = []
        for n, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
            if line.startswith("```"):
                fence = None if fence is not None else line[3:].strip()
                continue
            if fence is None:
                for span in re.findall(r"`([^`]+)`", line):
                    found += [(page.name, n, m) for m in _commands_in(span, synopsis=False)]
            elif logical and (line[:1].isspace() or logical[-1][1].endswith("\\")) and line.strip():
                logical[-1] = (logical[-1][0], logical[-1][1].rstrip("\\") + " " + line.strip())
            else:
                logical.append((n, line))
            if fence is None and logical:
                found += [(page.name, k, m) for k, text in logical for m in _commands_in(text, synopsis=True)]
                logical = []
        found += [(page.name, k, m) for k, text in logical for m in _commands_in(text, synopsis=True)]
    return found


def _commands_in(text: str, synopsis: bool) -> list[str]:
    """``pipeline ...`` commands in ``text``, each up to a comment, ``;``, ``&&`` or a spaced pipe
    (in a synopsis a ``|`` separates alternatives)."""
    stop = r"#;&" if synopsis else r"#;&`"
    commands = []
    for m in re.finditer(rf"(?<![\w./-])pipeline\s+[a-z][^{stop}]*", text):
        command = m.group()
        if not synopsis:
            command = command.split(" | ", 1)[0]
        commands.append(command)
    return commands


def _resolve(words: list[str]) -> tuple[str, click.Command | None, list[str]]:
    """The command ``words`` name (``pipeline lab run ...``) and the words after it."""
    command: click.Command = _cli()
    path = ["pipeline"]
    rest = words[1:]
    ctx = click.Context(command)
    while isinstance(command, click.Group) and rest and rest[0] in command.list_commands(ctx):
        found = command.get_command(ctx, rest[0])
        assert found is not None
        command = found
        path.append(rest.pop(0))
    if len(path) == 1:
        return " ".join(path + rest[:1]), None, rest
    return " ".join(path), command, rest


def test_the_docs_mention_only_options_commands_have():
    wrong = []
    for page, n, text in _mentions():
        name, command, rest = _resolve(text.split())
        if command is None:
            if not rest or not re.fullmatch(r"[a-z][\w-]*", rest[0]):
                continue
            # prose such as "the pipeline reads ..." is not a command: only flag a word
            # that is followed by an option
            if any(w.startswith("--") for w in rest[1:]):
                wrong.append(f"{page}:{n}: `{name}` is not a command")
            continue
        known = {o for p in command.params for o in getattr(p, "opts", [])} | {"--help"}
        for word in rest:
            opt = re.match(r"\[?(--[a-z][\w-]*)", word)
            if opt and opt.group(1) not in known:
                wrong.append(f"{page}:{n}: `{name}` has no option {opt.group(1)}")
    assert not wrong, "\n".join(wrong)


def test_pages_link_only_to_pages_that_exist():
    """README links into docs/; the site itself is checked by mkdocs build --strict."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


if __name__ == "__main__" and "--write" in sys.argv:
    write()
