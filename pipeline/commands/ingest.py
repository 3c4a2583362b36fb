"""``pipeline ingest`` and ``pipeline status``."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from pipeline import status as status_mod
from pipeline.commands.common import config_option, db_option, exit_code_for, fail, json_option, print_json, wide_option
from pipeline.config import ConfigError
from pipeline.ingest import files as files_mod
from pipeline.ingest.runner import Ingest, IngestSummary
from pipeline.parquet_out import OutError, OutResult, ingest_to_parquet
from pipeline.store import StoreError, resolve_db_path
from pipeline.terminal import Column, markup, note_left_out, output_width, print_table, printable

if TYPE_CHECKING:
    from rich.console import Console


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
    help="Megabytes read at a time (shared by the files read at once); bounds memory.",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(64),
    default=files_mod.DEFAULT_MAX_LINE_BYTES,
    show_default=True,
    help="A longer line is stored cut to this many bytes, marked ' …[truncated: N bytes]' (N: its whole length).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    default=None,
    help="The most cores the run uses (default: every core); a file is read at a time for every two, "
    "each with its own parser and store writer.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Add to this Parquet collection instead of a store: one per fleet, each machine writes its own logs.",
)
@click.option("--machine", default=None, help="With --out: this machine's name in the collection (default: hostname).")
@json_option
@wide_option
def ingest(
    paths: tuple[str, ...],
    db: str,
    config: str | None,
    no_correlate: bool,
    no_wait: bool,
    chunk_mb: int,
    max_line_bytes: int,
    jobs: int | None,
    out: str | None,
    machine: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Read log files and folders (recursively; .gz too) into the store.

    Each file's format is detected from its content.  Re-running is
    incremental: unchanged files are skipped, grown files continue where they
    stopped, rotated or truncated files are read again.

    With --out, the rows go to a Parquet collection that many machines add to
    (no correlation: correlate the collection with `pipeline correlate --parquet`).
    """
    if out is not None:
        if _db_option_given():
            fail("--out writes a Parquet collection: --db does not apply", 2)
        if machine is not None and not machine.strip():
            fail("--machine: give a name", 2)
    elif machine is not None:
        fail("--machine names this machine in an --out collection: give --out too", 2)
    if jobs is not None:
        from pipeline import cores

        cores.limit_to(jobs)  # --jobs 1 means one core, not one file with helpers on every core
    db_path = resolve_db_path(db)
    total, n_files = _total_bytes(paths)
    with _RunDisplay(sys.stderr.isatty() and not as_json, total, n_files) as display:
        try:
            runner = Ingest(
                db_path,
                config=config,
                chunk_bytes=chunk_mb * 2**20,
                max_line_bytes=max_line_bytes,
                jobs=jobs,
                on_progress=display.progress,
                on_message=display.message,
                # --no-wait is about another ingest; a reader's moment on the store is always waited out
                wait_for_writer=not no_wait,
            )
            if out is None:
                summary = runner.run(list(paths), correlate=not no_correlate)
            else:
                result = _ingest_out(list(paths), out, machine, runner)
                summary = result.summary
        except (StoreError, ConfigError, OutError) as exc:
            fail(printable(str(exc)), exit_code_for(exc))  # it may quote a path or a config value
    if out is not None:
        if as_json:
            print_json(summary.to_dict() | {"out": _out_dict(result, out)})
        else:
            _print_summary(summary, wide, into=f"{out} (machine {result.machine})")
            from rich.console import Console

            Console().print(
                printable(
                    f"{out}: machine {result.machine}, {result.parts_written} parts written, "
                    f"{result.parts_removed} replaced, {result.parts_cut} cut back, {result.parts_merged} merged"
                ),
                markup=False,
            )
        sys.exit(1 if summary.files and all(f.status == "error" for f in summary.files) else 0)
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary, wide)
        _print_next_steps(db_path, _db_option_given(), summary.correlation is not None)
    if all(f.status == "error" for f in summary.files) and summary.files:
        sys.exit(1)


class _RunDisplay:
    """What a run shows on stderr while it goes: a progress bar on a terminal (not with
    --json), and the run's messages (waiting for a lock, ...).  rich is imported only when
    something is shown: 0.025 s of every start."""

    def __init__(self, show_progress: bool, total: int, n_files: int):
        self._console: Console | None = None
        self._bar: Any = None
        self._task: Any = None
        self._seen: set[str] = set()
        if show_progress:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._bar = Progress(
                TextColumn("[bold]ingest[/] file {task.fields[done]}/{task.fields[files]} {task.fields[name]}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=self.console(),  # messages print above the bar
                transient=True,
            )
            self._task = self._bar.add_task("ingest", total=total or None, name="", done=0, files=n_files)

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    def __enter__(self) -> _RunDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def progress(self, nbytes: int, name: str) -> None:
        if self._bar is not None:
            self._seen.add(name)
            # the progress line is rich markup: a file name is text in it
            self._bar.update(self._task, advance=nbytes, name=markup(name), done=len(self._seen))

    def message(self, msg: str) -> None:
        self.console().print(printable(msg), markup=False, emoji=False)


def _ingest_out(paths: list[str], out: str, machine: str | None, runner: Ingest) -> OutResult:
    """The same reading as into a store (the options given), into the collection ``out``."""
    return ingest_to_parquet(
        paths,
        out,
        machine=machine,
        config=runner.config_path,
        chunk_bytes=runner.chunk_bytes,
        max_line_bytes=runner.max_line_bytes,
        jobs=runner.jobs,
        on_progress=runner.on_progress,
        on_message=runner.on_message,
        wait_for_writer=runner.wait_for_writer,
    )


def _out_dict(result: OutResult, out: str) -> dict[str, Any]:
    return {
        "folder": out,
        "machine": result.machine,
        "parts_written": result.parts_written,
        "parts_replaced": result.parts_removed,
        "parts_cut": result.parts_cut,
        "parts_merged": result.parts_merged,
    }


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


# the file is always shown, cut in the middle when the output is narrow; the counts
# least looked at go first
SUMMARY_COLUMNS = [
    Column("file", shrink="path", min_width=32),
    Column("format", keep=90),
    Column("host", keep=85, shrink="wrap", min_width=8),
    Column("status", keep=80, shrink="wrap", min_width=9),
    Column("events", "right", keep=70),
    Column("latency", "right", keep=40),
    Column("metrics", "right", keep=40),
    Column("rejects", "right", keep=60),
    Column("MB", "right", keep=50),
]


def _console() -> Console:
    from rich.console import Console

    return Console(width=output_width())


def _print_summary(summary: IngestSummary, wide: bool = False, into: str | None = None) -> None:
    rows = [
        [
            _short(f.path),
            # "postgres in compose": the envelopes removed before the family read the lines
            f.format + "".join(f" in {name}" for name in reversed(f.envelopes)),
            f.host or "",
            f.status + (f" ({f.error})" if f.error else ""),
            f"{f.events:,}",
            f"{f.latency:,}",
            f"{f.metrics:,}",
            f"{f.rejects:,}",
            f"{f.bytes / 1e6:.1f}",
        ]
        for f in summary.files
    ]
    left_out = print_table(SUMMARY_COLUMNS, rows, wide=wide, title=f"ingest into {into or summary.db}")
    console = _console()
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
    note_left_out(left_out)


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _db_option_given() -> bool:
    """Whether --db was on the command line: the next commands then need it too."""
    ctx = click.get_current_context()
    return ctx.get_parameter_source("db") == ParameterSource.COMMANDLINE


def _store_overview(db_path: Path) -> tuple[int, str | None, str | None]:
    """The store's incident count, its most recent incident and the day a digest would report."""
    from pipeline.api import Store
    from pipeline.digest.compute import last_data_days

    store = Store.open(db_path)
    count, latest = store.incident_total(), store.latest_incident_id()
    days = last_data_days(db_path)
    return count, latest, days[0].isoformat() if days else None


def _print_next_steps(db_path: Path, db_given: bool, correlated: bool) -> None:
    """What to run next, one command a line, ready to copy (with --db when it was given)."""
    try:
        count, latest, day = _store_overview(db_path)
    except StoreError:
        return  # nothing to suggest about a store that cannot be read now
    steps: list[tuple[str, str]] = []
    if not correlated:
        steps.append(("pipeline correlate", "find the incidents"))
    if latest is not None:
        steps.append((f"pipeline explain {latest}", "the latest incident, explained"))
        steps.append(("pipeline incidents", "the list"))
    else:
        steps.append(("pipeline status", "what was read"))
    steps.append(("pipeline dashboard", "charts in the browser"))
    if day is not None:
        steps.append((f"pipeline digest --date {day}", "the last day with data"))
    suffix = f" --db {shlex.quote(str(db_path))}" if db_given else ""
    head = f"{count} incidents in the store. Next:" if count else "No incidents in the store. Next:"
    click.echo("\n" + head)
    for line in _aligned([(command + suffix, why) for command, why in steps]):
        click.echo(printable(line, one_line=True))


def _aligned(steps: list[tuple[str, str]]) -> list[str]:
    """``  command   # why``, the comments aligned; left out when a line would not fit the
    output, so that each command stays whole on its line."""
    pad = max(len(command) for command, _ in steps) + 3
    lines = [f"  {command:<{pad}}# {why}" for command, why in steps]
    if max(len(line) for line in lines) > output_width():
        return [f"  {command}" for command, _ in steps]
    return lines


@click.command()
@db_option
@json_option
@wide_option
def status(db: str, as_json: bool, wide: bool) -> None:
    """What is in the store: files, formats, events per source and kind, rejects, time spans."""
    try:
        report = status_mod.store_status(resolve_db_path(db))
    except StoreError as exc:
        fail(printable(str(exc)))
    if as_json:
        print_json(report)
        return
    _print_status(report, wide)


FORMAT_COLUMNS = [
    Column("format"),
    Column("files", "right", keep=50),
    Column("events", "right", keep=80),
    Column("latency", "right", keep=40),
    Column("metrics", "right", keep=40),
    Column("rejects", "right", keep=70),
    Column("first (UTC)", keep=90),
    Column("last (UTC)", keep=90),
]
KIND_COLUMNS = [
    Column("source"),
    Column("kind"),
    Column("events", "right", keep=80),
    Column("first (UTC)", keep=60),
    Column("last (UTC)", keep=70),
]
FILE_COLUMNS = [
    Column("file", shrink="path", min_width=32),
    Column("format", keep=90),
    Column("host", keep=85, shrink="wrap", min_width=8),
    Column("events", "right", keep=70),
    Column("rejects", "right", keep=60),
    Column("MB read", "right", keep=50),
]
REJECT_COLUMNS = [
    Column("reason", shrink="wrap", min_width=20),
    Column("lines", "right"),
    Column("example", keep=50, shrink="path", min_width=24),
]


def _time(iso: str | None, wide: bool) -> str:
    """A time of the status report: to the second in UTC, or as stored with --wide."""
    if iso is None:
        return "-"
    if wide:
        return iso
    when = datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print_status(report: dict[str, Any], wide: bool) -> None:
    """The report as tables that fit the output; names from the store (paths, hosts,
    formats, reasons) are printed literally (pipeline.terminal)."""
    _console().print(
        f"[bold]{markup(report['db'])}[/] schema v{report['schema_version']}, "
        f"data from {_time(report['first'], wide)} to {_time(report['last'], wide)} (UTC), "
        f"{report['incidents']} incidents",
        emoji=False,
    )
    left_out = print_table(FORMAT_COLUMNS, _format_rows(report, wide), wide=wide, title="formats")
    kinds = [
        [r["source"], r["kind"], f"{r['events']:,}", _time(r["first"], wide), _time(r["last"], wide)]
        for r in report["events_by_kind"]
    ]
    left_out += print_table(KIND_COLUMNS, kinds, wide=wide, title="events by source and kind")
    left_out += print_table(FILE_COLUMNS, _file_rows(report), wide=wide, title="files")
    if report["rejects"]:
        rejects = [
            [r["reason"], f"{r['lines']:,}", f"{r['example_file']}:{r['example_line']}"] for r in report["rejects"]
        ]
        left_out += print_table(REJECT_COLUMNS, rejects, wide=wide, title="rejects by reason")
    note_left_out(left_out)


def _format_rows(report: dict[str, Any], wide: bool) -> list[list[str]]:
    return [
        [
            r["format"],
            str(r["files"]),
            f"{r['events'] or 0:,}",
            f"{r['latency'] or 0:,}",
            f"{r['metrics'] or 0:,}",
            f"{r['rejects'] or 0:,}",
            _time(r["first"], wide),
            _time(r["last"], wide),
        ]
        for r in report["formats"]
    ]


def _file_rows(report: dict[str, Any]) -> list[list[str]]:
    return [
        [
            r["path"],
            r["format"],
            r["host"] or "",
            f"{r['events']:,}",
            f"{r['rejects']:,}",
            f"{r['bytes_done'] / 1e6:.2f}",
        ]
        for r in report["files"]
    ]


COMMANDS = [ingest, status]
