"""``pipeline lab``: record real connection drops with the fault lab (``lab`` package)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from pipeline.commands.common import fail, json_option, out_folder_option, print_json


@click.group("lab")
def lab_group() -> None:
    """Make real connection drops happen and record every log, plus truth.json.

    Needs mariadbd (apt-get install mariadb-server) and the `lab` extras
    (sqlalchemy, pymysql, mysql-connector-python).
    """


def _lab() -> tuple[ModuleType, type[Exception], Callable[[], object], Callable[..., dict[str, Any]]]:
    """The lab's scenarios module, MariaDBMissing, require_mariadb and run_scenario."""
    try:
        from lab import scenarios
        from lab.mariadb import MariaDBMissing, require_mariadb
        from lab.runner import run_scenario
    except ImportError as exc:
        fail(f"the lab needs its extras: pip install 'dropout-pipeline[lab]' ({exc})")
    return scenarios, MariaDBMissing, require_mariadb, run_scenario


@lab_group.command("list")
@json_option
def lab_list(as_json: bool) -> None:
    """List the scenarios."""
    scenarios, *_ = _lab()
    if as_json:
        print_json(
            [{"name": s.name, "duration_s": s.duration, "summary": s.summary} for s in scenarios.SCENARIOS.values()]
        )
        return
    for s in scenarios.SCENARIOS.values():
        click.echo(f"{s.name:<24} {s.duration:>4.0f}s  {s.summary}")


def _record(names: list[str], out_for: Callable[[str], Path], as_json: bool) -> None:
    scenarios, MariaDBMissing, require_mariadb, run_scenario = _lab()
    from lab.__main__ import report

    try:
        require_mariadb()
    except MariaDBMissing as exc:
        fail(str(exc))
    for name in names:
        if name not in scenarios.SCENARIOS:
            fail(f"unknown scenario {name!r}; see `pipeline lab list`")
    results: list[dict[str, Any]] = []
    for name in names:
        scenario = scenarios.SCENARIOS[name]
        out = out_for(name)
        click.echo(f"{name}: recording {scenario.duration:.0f}s into {out}", err=True)
        result = run_scenario(scenario, out, echo=lambda m: click.echo(m, err=True))
        results.append(result)
        if not as_json:
            click.echo(report(result))
    if as_json:
        print_json(results if len(results) > 1 else results[0])
    bad = [r["scenario"] for r in results if r["problems"]]
    if bad:
        fail(f"did not produce the expected errors: {', '.join(bad)}")


@lab_group.command("run")
@click.argument("scenario")
@out_folder_option("Folder for the recording.")
@json_option
def lab_run(scenario: str, out_dir: str, as_json: bool) -> None:
    """Run SCENARIO and record its logs, truth.json and error-signature counts into --out."""
    _record([scenario], lambda name: Path(out_dir), as_json)


@lab_group.command("run-all")
@out_folder_option("Parent folder: one sub-folder per scenario.")
@click.option("--only", multiple=True, help="Only these scenarios (repeatable).")
@json_option
def lab_run_all(out_dir: str, only: tuple[str, ...], as_json: bool) -> None:
    """Run every scenario into OUT/<scenario>/ (this is how sample_logs/ is made)."""
    scenarios, *_ = _lab()
    names = list(only) or list(scenarios.SCENARIOS)
    try:
        _record(names, lambda name: Path(out_dir) / name, as_json)
    finally:
        from lab.samples import write_readme

        click.echo(f"wrote {write_readme(out_dir)}", err=True)


@lab_group.command("counts")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@json_option
def lab_counts(folder: str, as_json: bool) -> None:
    """Count error signatures per file of a recorded folder."""
    from lab import signatures

    counts = signatures.count_folder(folder)
    if as_json:
        print_json(counts)
    else:
        click.echo(signatures.format_counts(counts))


COMMANDS = [lab_group]
