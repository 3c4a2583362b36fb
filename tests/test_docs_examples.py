"""Every shell example in README.md and docs/*.md runs, and prints what the page shows.

What is read: fenced ```bash and ```console blocks, and ```pycon blocks (Python sessions).

* ```bash: one command a line (a line ending in ``\\`` goes on); each ``pipeline ...``
  command runs and must exit 0.  Other commands (``pip``, ``python3 -m venv``) are not
  run: in a chain (``pip install -e . && pipeline ingest ...``) only its ``pipeline`` part is.
* ```console: ``$ command`` lines, each followed by what it prints (stdout and stderr).
  The lines shown must be the whole output, or, when the last one is ``...``, its first lines.
* ```pycon: ``>>>`` statements run in one namespace; their output must be what is shown.

Every block starts in a fresh copy of one folder: ``sample_logs/`` (a copy), ``logs/``
(``sample_logs/server_restart`` laid out one folder per host, as the README's five steps
describe) and ``pipeline.duckdb``, made there by ``pipeline ingest sample_logs/`` once per
session.  HTML comments right before a block change that:

* ``<!-- not-run: REASON -->``: the block is skipped with REASON (it needs a server, or takes minutes);
* ``<!-- exit: N -->``: its commands exit with N (a documented error) instead of 0;
* ``<!-- store: empty -->``: it starts without ``pipeline.duckdb``.

Incident ids: ``test_incident_ids_are_the_sample_stores`` checks that every id the pages
name (``20261125-003008-82f985``) is one ``pipeline incidents`` prints for the sample store.
When ids or outputs change, regenerate what the pages show::

    python tests/test_docs_examples.py --update

It builds the sample store, replaces each id the store no longer has by the store's
incident that starts in the same second, runs every block and writes the output shown.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# how incident ids are written: the start in UTC, then a hash
ID_RE = re.compile(r"\b(\d{8})-(\d{6})-[0-9a-f]{6}\b")
DIRECTIVE = re.compile(r"^<!-- (not-run|exit|store): (.+?) -->$")
ENV_ASSIGN = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
TIMEOUT = 600


@dataclass
class Command:
    text: str  # as written (continuation lines joined)
    shown: list[str] | None = None  # console: the output lines shown under it
    first: int = 0  # console: index of the block line where its output starts
    end: int = 0  # console: index after its last output line


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    body: list[str]
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").split("\n")
    found, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        directives, k = {}, i - 1
        while k >= 0 and (not lines[k].strip() or DIRECTIVE.match(lines[k])):
            if d := DIRECTIVE.match(lines[k]):
                directives[d.group(1)] = d.group(2)
            k -= 1
        if m.group(1) in ("bash", "console", "pycon"):
            found.append(Block(page, i + 1, m.group(1), lines[i + 1 : end], directives))
        i = end + 1
    return found


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    if block.lang == "bash":
        pending = ""
        for line in block.body:
            pending += line
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            if pending.strip() and not pending.lstrip().startswith("#"):
                out.append(Command(pending.strip()))
            pending = ""
        return out
    i = 0
    while i < len(block.body):
        line = block.body[i]
        if not line.startswith("$ "):
            raise AssertionError(f"{block.id}: output before the first `$ ` command: {line!r}")
        text = line[2:]
        while text.endswith("\\"):
            i += 1
            text = text[:-1] + " " + block.body[i].strip()
        j = i + 1
        while j < len(block.body) and not block.body[j].startswith("$ "):
            j += 1
        out.append(Command(text.strip(), block.body[i + 1 : j], i + 1, j))
        i = j
    return out


def runnable(text: str) -> str | None:
    """The ``pipeline`` part of a command line, or None when it has none."""
    parts = [p.strip() for p in text.split("&&")]
    while parts and not _is_pipeline(parts[0]):
        parts.pop(0)
    return " && ".join(parts) if parts else None


def _is_pipeline(part: str) -> bool:
    words = part.split()
    while words and ENV_ASSIGN.match(words[0]):
        words.pop(0)
    return bool(words) and words[0] == "pipeline"


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]


# -- the sample folder ------------------------------------------------------------------


class Sample:
    """``work/``: where every block runs, restored from ``pristine/`` before each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / "work"
        self.pristine = root / "pristine"
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        shim = self.bin / "pipeline"
        shim.write_text(f"#!{sys.executable}\nimport sys\nfrom pipeline.cli import main\nsys.exit(main())\n")
        shim.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        self.env |= {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "COLUMNS": "100",
            "TZ": "UTC",
        }
        self.work.mkdir()
        shutil.copytree(ROOT / "sample_logs", self.work / "sample_logs")
        restart = ROOT / "sample_logs" / "server_restart"
        for host, names in {
            "app-1": ["app.log", "sqlalchemy.log", "latency.csv"],
            "db-1": ["mariadb-error.log", "status.tsv"],
        }.items():
            (self.work / "logs" / host).mkdir(parents=True)
            for name in names:
                shutil.copy2(restart / name, self.work / "logs" / host / name)
        built = self.run("pipeline ingest sample_logs/ --json")
        assert built.returncode == 0, built.stdout
        listed = self.run("pipeline incidents --format json")
        assert listed.returncode == 0, listed.stdout
        self.incidents: list[dict] = json.loads(listed.stdout)
        shutil.copytree(self.work, self.pristine, symlinks=True)

    def restore(self) -> None:
        shutil.rmtree(self.work)
        shutil.copytree(self.pristine, self.work, symlinks=True)

    def run(self, text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", text],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
        )

    def output(self, proc: subprocess.CompletedProcess[str]) -> list[str]:
        """The lines printed, paths inside the work folder shown relative to it (a title centred
        over such a path, indented by 8 spaces or more, is moved to the left margin: its indent
        depends on the length of the folder's path)."""
        lines = []
        for line in proc.stdout.rstrip("\n").split("\n"):
            if str(self.work) in line:
                line = line.replace(f"{self.work}/", "").replace(str(self.work), ".")
                line = line.lstrip(" ") if line.startswith(" " * 8) else line
            lines.append(line.rstrip())
        return lines if lines != [""] else []


def shown_matches(shown: list[str], got: list[str]) -> bool:
    shown = [line.rstrip() for line in shown]
    if shown and shown[-1] == "...":
        return got[: len(shown) - 1] == shown[:-1]
    return got == shown


def run_block(sample: Sample, block: Block) -> tuple[list[str], dict[int, list[str]]]:
    """Run ``block``; returns its failures and, for console blocks, the output of each command
    (by the index of its first output line)."""
    sample.restore()
    if block.directives.get("store") == "empty":
        for path in sample.work.glob("pipeline.duckdb*"):
            path.unlink()
    if block.lang == "pycon":
        return run_pycon(sample, block)
    expected_rc = int(block.directives.get("exit", "0"))
    failures, outputs = [], {}
    for cmd in commands(block):
        text = runnable(cmd.text)
        if text is None:
            continue
        proc = sample.run(text)
        got = sample.output(proc)
        if proc.returncode != expected_rc:
            failures.append(f"`{text}` exited {proc.returncode}, not {expected_rc}:\n" + "\n".join(got[-30:]))
        if cmd.shown is not None:
            outputs[cmd.first] = got
            if not shown_matches(cmd.shown, got):
                failures.append(f"`{text}` printed other lines than shown:\n" + _diff(cmd.shown, got))
    return failures, outputs


def _diff(shown: list[str], got: list[str]) -> str:
    import difflib

    if shown and shown[-1].rstrip() == "...":
        shown, got = shown[:-1], got[: len(shown) - 1]
    return "\n".join(difflib.unified_diff(shown, got, "shown", "printed", lineterm="", n=1))


def run_pycon(sample: Sample, block: Block) -> tuple[list[str], dict[int, list[str]]]:
    examples = doctest.DocTestParser().get_examples("\n".join(block.body))
    namespace: dict[str, object] = {}
    failures, outputs = [], {}
    cwd = os.getcwd()
    os.chdir(sample.work)
    try:
        for n, ex in enumerate(examples):
            got = io.StringIO()
            with contextlib.redirect_stdout(got):
                try:
                    exec(compile(ex.source, f"<{block.id}>", "single"), namespace)
                except Exception as exc:  # shown as the session would show it
                    print(f"{type(exc).__name__}: {exc}")
            lines = sample.output(subprocess.CompletedProcess([], 0, got.getvalue()))
            outputs[n] = lines
            want = [line.rstrip() for line in ex.want.rstrip("\n").split("\n")] if ex.want else []
            if lines != want:
                failures.append(f"`{ex.source.strip()}` printed other lines than shown:\n" + _diff(want, lines))
    finally:
        os.chdir(cwd)
    return failures, outputs


# -- the tests --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample():
    with sample_folder() as made:
        yield made


@contextlib.contextmanager
def sample_folder():
    """A Sample in a new temporary folder whose path has the same length in every run (tables
    that show a path are as wide as it is)."""
    root = Path(tempfile.mkdtemp(prefix="docs-examples-"))
    try:
        yield Sample(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _skip_reason(block: Block) -> str | None:
    if "not-run" in block.directives:
        return f"not run: {block.directives['not-run']}"
    if block.lang == "pycon":
        return None
    if not any(runnable(c.text) for c in commands(block)):
        return "no pipeline command in this block"
    return None


# the blocks that run; the others (a reason in the page, or no pipeline command) are not
# test cases at all, so that a run where every component is installed skips nothing
RUN_BLOCKS = [b for b in ALL_BLOCKS if not _skip_reason(b)]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_example_runs_and_prints_what_is_shown(block, sample):
    failures, _ = run_block(sample, block)
    assert not failures, f"{block.id}: " + "\n\n".join(failures) + "\n\n(python tests/test_docs_examples.py --update)"


def test_every_block_is_a_known_kind():
    """A shell example in another fence (```sh, ```shell) would escape these tests."""
    for page in PAGES:
        for n, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
            assert not re.match(r"^\s*```(sh|shell|zsh|console-session)\s*$", line), f"{page.name}:{n}: use ```bash"


def test_not_run_blocks_are_few_and_say_why():
    skipped = [b for b in ALL_BLOCKS if "not-run" in b.directives]
    assert len(skipped) <= 15, [b.id for b in skipped]
    assert all(b.directives["not-run"].strip() for b in skipped)


def test_incident_ids_are_the_sample_stores(sample):
    """Ids in prose and in commands; the ids a block prints are checked by running it."""
    known = {inc["id"] for inc in sample.incidents}
    for page in PAGES:
        shown = output_lines(page)
        for n, line in enumerate(page.read_text(encoding="utf-8").split("\n")):
            for m in ID_RE.finditer(line):
                assert n in shown or m.group() in known, (
                    f"{page.relative_to(ROOT)}:{n + 1}: {m.group()} is not an incident of the sample store "
                    "(python tests/test_docs_examples.py --update)"
                )


def output_lines(page: Path) -> set[int]:
    """Indices of the page's lines that show what a command or a statement printed."""
    found: set[int] = set()
    for block in blocks(page):
        if block.lang == "console":
            for cmd in commands(block):
                found |= set(range(block.line + cmd.first, block.line + cmd.end))
        elif block.lang == "pycon":
            found |= {block.line + i for i, line in enumerate(block.body) if not line.startswith((">>>", "..."))}
    return found


# -- regeneration -------------------------------------------------------------------------


def fresh_id(old: str, page: Path, known: set[str], by_second: dict[str, str]) -> str:
    if old in known:
        return old
    if old[:15] not in by_second:
        print(f"{page.relative_to(ROOT)}: {old}: no incident of the sample store starts in that second")
        return old
    return by_second[old[:15]]


def update() -> None:
    with sample_folder() as sample:
        by_second = {inc["id"][:15]: inc["id"] for inc in sample.incidents}
        known = {inc["id"] for inc in sample.incidents}
        for page in PAGES:
            text = page.read_text(encoding="utf-8")

            shown = output_lines(page)
            lines = text.split("\n")
            for n, line in enumerate(lines):
                if n not in shown:
                    lines[n] = ID_RE.sub(lambda m, page=page: fresh_id(m.group(), page, known, by_second), line)
            text = "\n".join(lines)
            page.write_text(text, encoding="utf-8")
            lines = text.split("\n")
            for block in reversed(blocks(page)):
                if _skip_reason(block) or block.lang == "bash":
                    continue
                failures, outputs = run_block(sample, block)
                start = block.line  # index of the block's first body line
                if block.lang == "pycon":
                    examples = doctest.DocTestParser().get_examples("\n".join(block.body))
                    body = []
                    for n, ex in enumerate(examples):
                        src = ex.source.rstrip("\n").split("\n")
                        body += [">>> " + src[0], *("... " + s for s in src[1:]), *outputs[n]]
                    lines[start : start + len(block.body)] = body
                    continue
                for cmd in reversed(commands(block)):
                    if cmd.shown is None or cmd.first not in outputs:
                        continue
                    got = outputs[cmd.first]
                    if cmd.shown and cmd.shown[-1].rstrip() == "...":
                        got = [*got[: len(cmd.shown) - 1], "..."]
                    lines[start + cmd.first : start + cmd.end] = got
                for f in failures:
                    if "exited" in f:
                        print(f"{block.id}: {f.splitlines()[0]}")
            page.write_text("\n".join(lines), encoding="utf-8")
            print(f"{page.relative_to(ROOT)}: updated")


if __name__ == "__main__":
    if "--update" in sys.argv:
        update()
    else:
        sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
