"""``pipeline ingest`` and ``pipeline status``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from pipeline import status as status_mod
from pipeline.commands.common import config_option, db_option, exit_code_for, fail, json_option, print_json
from pipeline.config import ConfigError
from pipeline.ingest import files as files_mod
from pipeline.ingest.runner import Ingest, IngestSummary
from pipeline.store import StoreError, resolve_db_path
from pipeline.terminal import cell, markup, printable


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
@config_option("A pipeline.toml consulted before the ones found beside the logs.")
@click.option("--no-correlate", is_flag=True, help="Skip correlation at the end of the run.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another ingest is writing to the store.")
@click.option(
    "--chunk-mb",
    type=click.IntRange(1, 1024),
    default=files_mod.DEFAULT_CHUNK_BYTES // 2**20,
    show_default=True,
    help="Megabytes read per chunk; bounds memory.",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(64),
    default=files_mod.DEFAULT_MAX_LINE_BYTES,
    show_default=True,
    help="A longer line is stored cut to this many bytes, marked ' …[truncated: N bytes]' (N: its whole length).",
)
@json_option
def ingest(
    paths: tuple[str, ...],
    db: str,
    config: str | None,
    no_correlate: bool,
    no_wait: bool,
    chunk_mb: int,
    max_line_bytes: int,
    as_json: bool,
) -> None:
    """Read log files and folders (recursively; .gz too) into the store.

    Each file's format is detected from its content.  Re-running is
    incremental: unchanged files are skipped, grown files continue where they
    stopped, rotated or truncated files are read again.
    """
    err = Console(stderr=True)
    db_path = resolve_db_path(db)
    total, n_files = _total_bytes(paths)
    show_progress = sys.stderr.isatty() and not as_json
    progress = Progress(
        TextColumn("[bold]ingest[/] file {task.fields[done]}/{task.fields[files]} {task.fields[name]}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("ingest", total=total or None, name="", done=0, files=n_files)
        seen: set[str] = set()

        def on_progress(nbytes: int, name: str) -> None:
            seen.add(name)
            # the progress line is rich markup: a file name is text in it
            progress.update(task, advance=nbytes, name=markup(name), done=len(seen))

        try:
            runner = Ingest(
                db_path,
                config=config,
                chunk_bytes=chunk_mb * 2**20,
                max_line_bytes=max_line_bytes,
                on_progress=on_progress,
                on_message=lambda msg: err.print(printable(msg), markup=False, emoji=False),
                # --no-wait is about another ingest; a reader's moment on the store is always waited out
                wait_for_writer=not no_wait,
            )
            summary = runner.run(list(paths), correlate=not no_correlate)
        except (StoreError, ConfigError) as exc:
            fail(printable(str(exc)), exit_code_for(exc))  # it may quote a path or a config value
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if all(f.status == "error" for f in summary.files) and summary.files:
        sys.exit(1)


def _total_bytes(paths: Sequence[str]) -> tuple[int, int]:
    """Bytes and files below ``paths``, for the progress bar."""
    total = count = 0
    for found in files_mod.discover(list(paths)):
        if not found.problem:
            try:
                total += found.path.stat().st_size
                count += 1
            except OSError:
                pass
    return total, count


def _console() -> Console:
    # piped output keeps full paths readable instead of folding them at 80 columns
    return Console() if sys.stdout.isatty() else Console(width=200)


def _print_summary(summary: IngestSummary) -> None:
    console = _console()
    # every name here comes from the file system or the config: Text cells print it literally
    table = Table(title=cell(f"ingest into {summary.db}"), show_lines=False)
    columns: list[tuple[str, JustifyMethod]] = [
        ("file", "left"),
        ("format", "left"),
        ("host", "left"),
        ("status", "left"),
        ("events", "right"),
        ("latency", "right"),
        ("metrics", "right"),
        ("rejects", "right"),
        ("MB", "right"),
    ]
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for f in summary.files:
        # "postgres in compose": the envelopes removed before the family read the lines
        fmt = f.format + "".join(f" in {name}" for name in reversed(f.envelopes))
        table.add_row(
            cell(_short(f.path)),
            cell(fmt),
            cell(f.host or ""),
            cell(f.status + (f" ({f.error})" if f.error else "")),
            f"{f.events:,}",
            f"{f.latency:,}",
            f"{f.metrics:,}",
            f"{f.rejects:,}",
            f"{f.bytes / 1e6:.1f}",
        )
    console.print(table)
    totals = summary.totals()
    console.print(
        f"{totals['files']} files, {totals['events']:,} events, {totals['latency']:,} latency samples, "
        f"{totals['metrics']:,} metrics, {totals['rejects']:,} rejects; "
        f"{totals['bytes'] / 1e6:.1f} MB in {summary.ingest_seconds:.2f} s ({summary.mb_per_s:.1f} MB/s)"
    )
    for f in summary.files:
        for warning in f.warnings:
            console.print(f"[yellow]warning[/] {markup(_short(f.path))}: {markup(warning)}", emoji=False)
    if summary.correlation is not None and "skipped" in summary.correlation:
        skipped = printable(f"correlation: skipped, {summary.correlation['skipped']}")
        console.print(skipped, markup=False, emoji=False)
    elif summary.correlation is not None:
        c = summary.correlation
        console.print(
            f"correlated: {c.get('incidents', 0)} incidents in {summary.seconds - summary.ingest_seconds:.2f} s"
        )


def _short(path: str) -> str:
    from pathlib import Path

    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@click.command()
@db_option
@json_option
def status(db: str, as_json: bool) -> None:
    """What is in the store: files, formats, events per source and kind, rejects, time spans."""
    try:
        report = status_mod.store_status(resolve_db_path(db))
    except StoreError as exc:
        fail(printable(str(exc)))
    if as_json:
        print_json(report)
        return
    status_mod.print_status(report, _console())


COMMANDS = [ingest, status]
