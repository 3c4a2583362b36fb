"""``pipeline eval``: precision and recall of correlation on recorded scenarios."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pipeline.commands.common import fail, json_option, print_json


@click.command(name="eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a [correlate] threshold for every scenario (repeatable), e.g. --set gap_seconds=60.",
)
@click.option(
    "--min",
    "minimum",
    type=float,
    default=None,
    help="Exit with status 1 unless every cause reaches this precision and recall "
    "and fault-free time has no incidents.",
)
@json_option
def eval_(directory: str, overrides: tuple[str, ...], minimum: float | None, as_json: bool) -> None:
    """Ingest and correlate every scenario under DIRECTORY (folders with a truth.json)
    and report precision and recall per cause, and false incidents on fault-free time.

    An incident matches a truth window when it names the same cause and overlaps the
    window extended by 120 s after its end.
    """
    from pipeline.evaluate import evaluate, find_excerpts, find_scenarios

    if not find_scenarios(Path(directory)) and not find_excerpts(Path(directory)):
        fail(f"no scenario (folder with a truth.json) or labelled excerpt (.toml with [verdict]) under {directory}")
    settings: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--set {item!r}: expected KEY=VALUE")
        settings[key.strip()] = float(value) if _is_number(value) else value
    report = evaluate(
        directory,
        settings,
        on_scenario=None
        if as_json
        else (
            lambda s: click.echo(
                f"  {s.name}: {len(s.incidents)} incidents in {s.seconds:.1f} s"
                + (f" ERROR {s.error}" if s.error else ""),
                err=True,
            )
        ),
    )
    if as_json:
        print_json(report)
    else:
        click.echo(render(report))
    if minimum is not None and not passes(report, minimum):
        sys.exit(1)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def passes(report: dict[str, Any], minimum: float) -> bool:
    for c, v in report["per_cause"].items():
        if c == "unknown":
            if v["incidents"]:
                return False
            continue
        for key in ("precision", "recall"):
            if v[key] is not None and v[key] < minimum:
                return False
        if v["windows"] and v["precision"] is None:
            return False
    return bool(report["false_on_fault_free_time"] == 0 and report["baseline_incidents"] == 0)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render_causes(report: dict[str, Any]) -> str:
    """The per-cause table: truth windows found (recall) and incidents right (precision)."""
    lines = [
        "| cause | truth windows | found | recall | incidents | correct | precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c, v in report["per_cause"].items():
        lines.append(
            f"| {c} | {v['windows']} | {v['found']} | {_f(v['recall'])} | {v['incidents']} | "
            f"{v['correct']} | {_f(v['precision'])} |"
        )
    return "\n".join(lines)


def render_limits(report: dict[str, Any]) -> str:
    """Idle limits inferred against those the lab set (the estimate the advice acts on)."""
    lines = [
        "| scenario | idle limit set | inferred range | estimate | within 10% |",
        "|---|---:|---:|---:|---|",
    ]
    for lim in report.get("idle_limits", []):
        rng = lim["range_s"]
        shown = "-" if not rng else f"{_f(rng[0]) if rng[0] is not None else '?'}-{_f(rng[1])} s"
        est = "-" if lim["estimate_s"] is None else f"{lim['estimate_s']:.1f} s"
        lines.append(
            f"| {lim['scenario']} | {lim['truth_s']:g} s | {shown} | {est} | {'yes' if lim['within_10pct'] else 'no'} |"
        )
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    lines = [render_causes(report)]
    lines += [
        "",
        "| scenario | truth windows | matched | incidents | false on fault-free time |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in report["per_scenario"]:
        err = f" (error: {s['error']})" if s["error"] else ""
        lines.append(
            f"| {s['scenario']}{err} | {s['windows']} | {s['matched_windows']} | {s['incidents']} | "
            f"{s['false_on_fault_free_time']} |"
        )
    if report.get("idle_limits"):
        lines += ["", render_limits(report)]
    lines += [
        "",
        f"incidents on fault-free baselines: {report['baseline_incidents']}; "
        f"false incidents on fault-free time: {report['false_on_fault_free_time']}",
    ]
    return "\n".join(lines)


COMMANDS = [eval_]
