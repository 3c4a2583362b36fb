"""The ``pipeline`` command: a thin layer over the library.

Each area's commands live in ``pipeline/commands/<area>.py`` and are listed in
``COMMAND_MODULES`` (imported when one of their commands runs); this file only wires them together and turns the library's
known errors into one-line messages with the exit codes docs/commands.md documents:

0 done; 1 a known error (store, input, delivery): one ``error:`` line; 2 a mistake in how
the tool was asked (unknown option, bad argument, bad configuration); 130 interrupted (Ctrl-C);
143 an ingest stopped by SIGTERM.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click

from pipeline import __version__

# Each command and the module that defines it.  A module is imported only when one of its
# commands runs (or help lists them all): `pipeline ingest` need not load the digest's mail
# and HTTP clients, the dashboard or the lab, which cost a tenth of a second at every start.
COMMAND_MODULES: dict[str, str] = {
    "ingest": "pipeline.commands.ingest",
    "status": "pipeline.commands.ingest",
    "dashboard": "pipeline.commands.dashboard",
    "probe": "pipeline.commands.probe",
    "lab": "pipeline.commands.lab",
    "correlate": "pipeline.commands.correlate",
    "incidents": "pipeline.commands.correlate",
    "explain": "pipeline.commands.correlate",
    "eval": "pipeline.commands.evaluate",
    "digest": "pipeline.commands.digest",
    "postmortem": "pipeline.commands.postmortem",
    "config": "pipeline.commands.config",
    "init": "pipeline.commands.init",
    "export": "pipeline.commands.export",
}


class _CommandsOnDemand(click.Group):
    """A group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is None:
            return None
        commands: list[click.Command] = importlib.import_module(module).COMMANDS
        for command in commands:
            if command.name == cmd_name:
                return command
        raise LookupError(f"{module} does not define the command {cmd_name!r}")


@click.group(cls=_CommandsOnDemand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipeline")
def cli() -> None:
    """Find out why your application's database connections drop."""


def _handle_stop_signals() -> Callable[[], None]:
    """SIGINT and SIGTERM ask a running ingest to stop at its next safe point: it commits
    what it has whole, says what it kept and exits 130 / 143 (see
    :class:`pipeline.ingest.runner.StopRequest`).  Outside an ingest, and for a second
    signal while one stops, SIGINT raises KeyboardInterrupt as Python's own handler does
    and SIGTERM ends the process as its default action does (the store is safe from
    any kill).  Returns what puts the previous handlers back."""
    import os
    import signal

    from pipeline.ingest.runner import STOP

    def on_signal(signum: int, frame: object) -> None:
        if STOP.request(signum):
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    # installed whatever the inherited disposition: a shell script starts its background
    # jobs with SIGINT ignored, and importing polars put its own handler there anyway
    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    STOP.handled_signals = tuple(previous)

    def restore() -> None:
        STOP.handled_signals = ()
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    return restore


def main() -> None:
    import os
    import sys

    # numpy (which ingest uses to find newlines) loads OpenBLAS, which starts a thread per
    # core that spins for about 0.1 s of CPU, though nothing here multiplies matrices: that
    # CPU is taken from the parser's cores.  One BLAS thread, unless the environment says.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    import duckdb

    from pipeline.causes import CauseModuleError, all_causes
    from pipeline.config import ConfigError
    from pipeline.ingest.runner import IngestInterrupted
    from pipeline.store import StoreError
    from pipeline.terminal import printable

    restore_signals = _handle_stop_signals()
    try:
        all_causes()  # a bad PIPELINE_CAUSES module is reported before any work starts
        cli.main(standalone_mode=False)
    except IngestInterrupted as exc:  # stopped at a safe point by SIGINT or SIGTERM
        click.echo(printable(exc.message, one_line=True), err=True)  # it names files
        sys.exit(128 + exc.signum)
    except (ConfigError, CauseModuleError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (MemoryError, duckdb.OutOfMemoryException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
        click.echo(
            f"error: {printable(first, one_line=True)} (the work needs more memory than it may use here)", err=True
        )
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
    else:
        _exit_done()  # (if a thread keeps the process alive, ``finally`` restores the handlers)
    finally:
        restore_signals()


def _exit_done() -> None:
    """End a command that succeeded without the interpreter's teardown.

    Once DuckDB, polars and pyarrow are loaded, tearing their modules and thread pools
    down took about 0.1 s after the last line was printed (a tenth of a small ingest,
    and of every quick command), and nothing in it is needed: the stores are closed
    and the output is flushed here.  Exit handlers (a Parquet store's scratch folder,
    temporary directories) still run.  A thread still at work (none should be) gets the
    ordinary exit, which waits for it."""
    import atexit
    import os
    import sys
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a reader that stopped early (`| head`), a closed stream
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
