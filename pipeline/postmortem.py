"""Execute the postmortem notebook for one incident and render it to HTML.

``pipeline postmortem INCIDENT_ID --out report.html`` is a thin layer over
:func:`render`: papermill runs ``pipeline/notebooks/postmortem.ipynb`` with the
``db``, ``incident_id`` and ``window`` parameters in a ``python3`` Jupyter
kernel, and nbconvert turns the executed notebook into one self-contained HTML
file (charts stay interactive; the code is hidden unless asked for), for people
who do not run Jupyter.  The executed notebook can be kept too, as the starting
point of the written postmortem.

Cells of a template tagged ``template-note`` (:data:`NOTE_TAG`) are notes for
whoever edits the template: they stay in the notebook and are left out of the
HTML.  The kernel talks to papermill over local (IPC) sockets where the
platform has them, and its own log (its stderr) goes to a file, so the command
prints nothing but its result; the end of that log is added to an error that
the kernel caused.

:func:`appendix` chooses the log lines of the report's appendix: the incident's
own lines (its evidence and its drops) always, then from each source the lines
nearest the incident.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from pipeline.kinds import CLIENT_DROP_KINDS, CLIENT_SOURCES, SERVER_DROP_KINDS, SERVER_SOURCES
from pipeline.store import StoreError

if TYPE_CHECKING:
    from pipeline.api import Incident

ROOT = Path(__file__).resolve().parents[1]  # the folder that holds the package
# the notebooks ship inside the package (package data), so an installed copy finds them
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
TEMPLATE = NOTEBOOKS / "postmortem.ipynb"
EXPLORE = NOTEBOOKS / "explore.ipynb"
KERNEL = "python3"
CELL_TIMEOUT_S = 600
# Cells with this tag are notes for whoever edits a template, not part of the report.
NOTE_TAG = "template-note"
# Longest IPC socket path used (the limit of a Unix socket's path is 104 to 108 bytes).
_IPC_PATH_MAX = 96
# How much of the kernel's log an error quotes.
_KERNEL_LOG_TAIL = 2000

# What the appendix lists: connection errors and server events, from every source.
APPENDIX_KINDS: tuple[str, ...] = tuple(dict.fromkeys((*CLIENT_DROP_KINDS, *SERVER_DROP_KINDS)))
# Context lines from each source, nearest the incident first.
CONTEXT_PER_SOURCE = 20
# Drops of one incident listed at most (the earliest).
MAX_DROPS = 1000
# Characters of a message shown.
MESSAGE_CHARS = 400


class PostmortemError(StoreError):
    """The notebook could not be executed or rendered."""


@dataclass
class Rendered:
    """What :func:`render` produced."""

    incident_id: str
    cause: str
    html: Path | None
    notebook: Path | None


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    """Let the kernel import this very ``pipeline`` package, installed or not."""
    old = os.environ.get("PYTHONPATH")
    parts = [str(ROOT)] + ([old] if old else [])
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _kernel_manager_class(connection_dir: Path, stderr: IO[bytes]) -> type[Any]:
    """A kernel manager whose kernel writes its stderr to ``stderr`` and, where the platform
    has Unix sockets, listens on IPC sockets in ``connection_dir`` rather than on TCP ports."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    connection_file = connection_dir / "kernel.json"
    # ipykernel warns about (unencrypted) TCP; IPC sockets are files only this user can reach
    ipc = os.name == "posix" and bool(zmq.has("ipc")) and len(str(connection_dir / "kernel-ipc-99")) <= _IPC_PATH_MAX

    class KernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            if ipc:
                kwargs.setdefault("transport", "ipc")
                kwargs.setdefault("connection_file", str(connection_file))
            super().__init__(**kwargs)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # async, as in its base
            kw.setdefault("stderr", stderr)
            await super().start_kernel(**kw)

    return KernelManager


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text[-_KERNEL_LOG_TAIL:]


def execute(
    template: str | os.PathLike[str],
    output: str | os.PathLike[str],
    parameters: dict[str, Any],
    *,
    kernel: str = KERNEL,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: int = CELL_TIMEOUT_S,
) -> Any:
    """Run a notebook with papermill; return the executed notebook (nbformat node).

    A failing cell raises :class:`PostmortemError` naming the cell's error; the
    partially executed notebook is still written to ``output``.  The kernel listens
    on IPC sockets where the platform has them (see :func:`_kernel_manager_class`)
    and writes its own log to a temporary file: what it says reaches the caller
    only with an error (the end of that log), never the terminal.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    template = Path(template)
    if not template.is_file():
        raise PostmortemError(f"no notebook template at {template}")
    with (
        _kernel_env(),
        tempfile.TemporaryDirectory(prefix="pm-", ignore_cleanup_errors=True) as tmp,
        open(Path(tmp) / "kernel.log", "wb") as kernel_log,
    ):
        try:
            return pm.execute_notebook(
                str(template),
                str(output),
                parameters=parameters,
                kernel_name=kernel,
                cwd=str(cwd) if cwd else None,
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout_s,
                kernel_manager_class=_kernel_manager_class(Path(tmp), kernel_log),
            )
        except PapermillExecutionError as exc:
            raise PostmortemError(
                f"{template.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
            ) from exc
        except Exception as exc:  # kernel missing or dead, papermill internals
            if "No such kernel" in str(exc):
                raise PostmortemError(
                    f"no Jupyter kernel named {kernel!r}: run `python -m ipykernel install --user`"
                ) from exc
            kernel_log.flush()
            tail = _tail(Path(tmp) / "kernel.log")
            said = f"; its log ends with:\n{tail}" if tail else ""
            if isinstance(exc, DeadKernelError):
                raise PostmortemError(f"the {kernel} kernel died while running {template.name}{said}") from exc
            if tail:
                exc.add_note(f"the kernel's log ends with:\n{tail}")
            raise


def to_html(notebook: Any, out: str | os.PathLike[str], *, show_code: bool = False, title: str | None = None) -> Path:
    """Render an executed notebook (node or path) to one HTML file, without the cells
    tagged :data:`NOTE_TAG`."""
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    if not hasattr(notebook, "cells"):
        notebook = nbformat.read(str(notebook), as_version=4)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {NOTE_TAG}
    exporter = HTMLExporter(config=config)
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    resources = {"metadata": {"name": title or "postmortem"}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


# --------------------------------------------------------------------------- the appendix

_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("us", "UTC"),
        "role": pl.Utf8(),
        "source": pl.Utf8(),
        "host": pl.Utf8(),
        "kind": pl.Utf8(),
        "error_code": pl.Int64(),
        "message": pl.Utf8(),
        "file": pl.Utf8(),
        "line_no": pl.Int64(),
    }
)
_LINE_COLUMNS = list(_SCHEMA)
_EVENT_COLUMNS = "ts, source, host, kind, error_code::BIGINT AS error_code, message, file, line_no"
# the keys (file, line_no) of the lines already listed, bound as two lists
_LISTED = "listed AS (SELECT unnest(?::VARCHAR[]) AS file, unnest(?::BIGINT[]) AS line_no)"
_CELL = "text-align:left;vertical-align:top"
_SHORT_CELL = _CELL + ";white-space:nowrap"
_NUMBER_CELL = "text-align:right;vertical-align:top;white-space:nowrap"
_OWN_ROW = "background-color:#fff3d6"


@dataclass
class Appendix:
    """The log lines of a report's appendix (see :func:`appendix`).

    ``lines``: ts, role (``evidence N`` (its number in the evidence table),
    ``drop`` or ``context``), source, host, kind, error_code, message, file,
    line_no; oldest first.
    """

    lines: pl.DataFrame
    window: str
    window_lines: int  # lines of APPENDIX_KINDS within the window
    left_out: int  # of those, how many are not listed
    per_source: int
    drops: int  # the incident's drops, listed or not
    drops_left_out: int = 0

    def note(self) -> str:
        """What was listed and what was left out, in a sentence or three (Markdown)."""
        roles = self.lines["role"]
        evidence = int(roles.str.starts_with("evidence").sum())
        listed_drops = self.drops - self.drops_left_out
        also = listed_drops - int((roles == "drop").sum())  # drops that are evidence lines too
        own = f"{_plural(evidence, 'evidence line')} and {_plural(listed_drops, 'drop')}"
        if also:
            own += f", {also:,} of {'it' if listed_drops == 1 else 'them'} also evidence"
        context = (
            f", then up to {self.per_source} lines from each source nearest the incident" if self.per_source else ""
        )
        parts = [f"{_plural(self.lines.height, 'line')} listed: the incident's own, highlighted ({own}){context}."]
        if self.drops_left_out:
            parts.append(
                f"The incident has {self.drops:,} drops: the first {self.drops - self.drops_left_out:,} are listed, "
                f"{self.drops_left_out:,} more are left out."
            )
        if self.left_out:
            parts.append(
                f"{self.left_out:,} of the {self.window_lines:,} lines of the ±{self.window} window were left out."
            )
        else:
            parts.append(f"Every one of the {self.window_lines:,} lines of the ±{self.window} window is listed.")
        return " ".join(parts)

    def html(self) -> str:
        """The lines as an HTML table: text left-aligned, the error code right-aligned, the
        incident's own lines highlighted."""
        headings = [
            ("time (UTC)", _SHORT_CELL),
            ("role", _SHORT_CELL),
            ("source", _SHORT_CELL),
            ("host", _SHORT_CELL),
            ("kind", _SHORT_CELL),
            ("code", _NUMBER_CELL),
            ("message", _CELL),
            ("where", _SHORT_CELL),
        ]
        out = ["<table><thead><tr>"]
        out += [f'<th style="{style}">{name}</th>' for name, style in headings]
        out.append("</tr></thead><tbody>")
        days = {ts.date() for ts in self.lines["ts"].drop_nulls()}
        fmt = "%Y-%m-%d %H:%M:%S.%f" if len(days) > 1 else "%H:%M:%S.%f"
        for r in self.lines.iter_rows(named=True):
            message = str(r["message"] or "")
            if len(message) > MESSAGE_CHARS:
                message = message[:MESSAGE_CHARS] + "…"
            values = [
                r["ts"].strftime(fmt)[:-3] if r["ts"] is not None else "",
                r["role"],
                r["source"],
                r["host"],
                r["kind"],
                "" if r["error_code"] is None else str(r["error_code"]),
                message,
                f"{_short(r['file'])}:{r['line_no']}" if r["file"] else "",
            ]
            own = "" if r["role"] == "context" else f' style="{_OWN_ROW}"'
            cells = "".join(
                f'<td style="{style}">{_escape(v)}</td>' for (_, style), v in zip(headings, values, strict=True)
            )
            out.append(f"<tr{own}>{cells}</tr>")
        out.append("</tbody></table>")
        return "".join(out)


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=False)


def _short(path: str) -> str:
    """The last two components of a log file's path: enough to find it, short enough to read."""
    return "/".join(Path(path).parts[-2:])


def _member_drops(inc: Incident, limit: int) -> tuple[pl.DataFrame, int]:
    """The incident's drops (the earliest ``limit``) and how many it has.

    Its drops are those of its lane, within its span: client-side drops (application and
    pool), or the server's when only the server's log saw the incident; less the drops of
    other incidents that lie within its span (an episode of idle kills can enclose an
    incident of another cause).
    """

    def lane(sources: tuple[str, ...], kinds: tuple[str, ...]) -> tuple[pl.DataFrame, int]:
        frame = inc.store.sql(
            f"""
            SELECT {_EVENT_COLUMNS}, count(*) OVER () AS n FROM events e
            WHERE ts >= ? AND ts <= ? AND list_contains(?, source) AND list_contains(?, kind)
              AND NOT EXISTS (
                  SELECT 1 FROM incidents o
                  WHERE o.incident_id <> ? AND o.start_ts >= ? AND o.end_ts <= ?
                    AND e.ts >= o.start_ts AND e.ts <= o.end_ts)
            ORDER BY ts, file, line_no LIMIT ?
            """,
            [inc.start, inc.end, list(sources), list(kinds), inc.incident_id, inc.start, inc.end, limit],
        )
        total = int(frame["n"][0]) if frame.height else 0
        return frame.drop("n") if frame.height else frame, total

    client = (CLIENT_SOURCES, CLIENT_DROP_KINDS)
    server = (SERVER_SOURCES, SERVER_DROP_KINDS)
    first, second = (server, client) if inc.details.server_only else (client, server)
    drops, total = lane(*first)
    if not total:
        drops, total = lane(*second)
    return drops, total


def _evidence_lines(inc: Incident) -> pl.DataFrame:
    """The evidence lines, as events where they are events of the store (a latency or metrics
    line is not: then its own text, and its file's host)."""
    ev = inc.evidence
    if ev.height == 0:
        return pl.DataFrame(schema=_SCHEMA)
    located = ev.filter(pl.col("file").is_not_null())
    times = ev["ts"].drop_nulls()
    lo = min([inc.start, *times]) - dt.timedelta(seconds=1)
    hi = max([inc.end, *times]) + dt.timedelta(seconds=1)
    events = inc.store.sql(
        f"""
        WITH {_LISTED}
        SELECT {_EVENT_COLUMNS} FROM events e
        WHERE ts >= ? AND ts <= ? AND EXISTS (SELECT 1 FROM listed k WHERE k.file = e.file AND k.line_no = e.line_no)
        """,
        [located["file"].to_list(), located["line_no"].to_list(), lo, hi],
    )
    hosts = inc.store.sql(
        "SELECT path AS file, host AS file_host FROM files WHERE list_contains(?, path)",
        [located["file"].unique().to_list()],
    )
    return (
        ev.select(
            "seq",
            pl.col("ts").dt.convert_time_zone("UTC").cast(_SCHEMA["ts"]).alias("ev_ts"),
            pl.col("source").alias("ev_source"),
            pl.col("kind").alias("ev_kind"),
            pl.col("line"),
            pl.col("file").cast(pl.Utf8),
            pl.col("line_no").cast(pl.Int64),
        )
        .join(events.unique(["file", "line_no"]), on=["file", "line_no"], how="left")
        .join(hosts.unique("file"), on="file", how="left")
        .group_by(
            # one row per line, numbered by every evidence row that names it
            pl.when(pl.col("file").is_null()).then(pl.format("#{}", "seq")).otherwise(pl.col("file")).alias("key"),
            "line_no",
        )
        .agg(
            pl.col("seq").sort().cast(pl.Utf8).str.join(", ").alias("seqs"),
            pl.all().sort_by("seq").first(),
        )
        .select(
            pl.coalesce("ts", "ev_ts").alias("ts"),
            pl.format("evidence {}", "seqs").alias("role"),
            pl.coalesce("source", "ev_source").alias("source"),
            pl.coalesce("host", "file_host").alias("host"),
            pl.coalesce("kind", "ev_kind").alias("kind"),
            "error_code",
            pl.coalesce("message", "line").alias("message"),
            "file",
            "line_no",
        )
    )


def appendix(
    inc: Incident,
    window: str | dt.timedelta = "10m",
    *,
    per_source: int = CONTEXT_PER_SOURCE,
    max_drops: int = MAX_DROPS,
) -> Appendix:
    """The log lines a report lists around an incident, and what it left out.

    Always the incident's own lines: its evidence lines and its drops (the earliest
    ``max_drops``), wherever they lie.  Then context: from each source, the
    ``per_source`` connection errors and server events (:data:`APPENDIX_KINDS`) of
    the ``window`` before and after the incident that lie nearest to it, so that a
    busy source cannot crowd the others out.
    """
    from pipeline.api import parse_duration

    lo, hi = inc.around(window)
    evidence = _evidence_lines(inc)
    drops, n_drops = _member_drops(inc, max_drops)
    own = evidence.filter(pl.col("file").is_not_null()).select("file", "line_no")
    drops = drops.join(own, on=["file", "line_no"], how="anti").with_columns(role=pl.lit("drop"))
    listed = pl.concat([own, drops.select("file", "line_no")]).unique()
    keys = [listed["file"].to_list(), listed["line_no"].to_list()]
    kinds = list(APPENDIX_KINDS)
    context = inc.store.sql(
        f"""
        WITH {_LISTED}, w AS (
            SELECT {_EVENT_COLUMNS},
                   greatest(epoch_ms(?::TIMESTAMPTZ) - epoch_ms(ts), epoch_ms(ts) - epoch_ms(?::TIMESTAMPTZ), 0) AS dist
            FROM events e
            WHERE ts >= ? AND ts <= ? AND list_contains(?, kind)
              AND NOT EXISTS (SELECT 1 FROM listed k WHERE k.file = e.file AND k.line_no = e.line_no)
        )
        SELECT * EXCLUDE (dist), 'context' AS role FROM w
        QUALIFY row_number() OVER (PARTITION BY source ORDER BY dist, ts, file, line_no) <= ?
        """,
        [*keys, inc.start, inc.end, lo, hi, kinds, max(0, int(per_source))],
    )
    counts = inc.store.sql(
        f"""
        WITH {_LISTED}
        SELECT count(*) AS n,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM listed k WHERE k.file = e.file AND k.line_no = e.line_no)) AS n_listed
        FROM events e WHERE ts >= ? AND ts <= ? AND list_contains(?, kind)
        """,
        [*keys, lo, hi, kinds],
    ).row(0, named=True)
    lines = pl.concat([frame.select(_LINE_COLUMNS).cast(_SCHEMA) for frame in (evidence, drops, context)]).sort(
        ["ts", "file", "line_no"], nulls_last=True
    )
    window_lines = int(counts["n"])
    window_text = window if isinstance(window, str) else _duration_text(parse_duration(window))
    return Appendix(
        lines=lines,
        window=window_text,
        window_lines=window_lines,
        left_out=window_lines - int(counts["n_listed"]) - context.height,
        per_source=max(0, int(per_source)),
        drops=n_drops,
        drops_left_out=max(0, n_drops - max_drops),
    )


def _duration_text(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{value.total_seconds():g}s"


def render(
    db: str | os.PathLike[str] | None,
    incident_id: str | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    notebook_out: str | os.PathLike[str] | None = None,
    window: str = "10m",
    show_code: bool = False,
    template: str | os.PathLike[str] | None = None,
    kernel: str = KERNEL,
) -> Rendered:
    """Execute the postmortem template for an incident (default the latest) and write HTML.

    Resolves the incident first (so a wrong id fails fast with a clear message),
    then executes the template with absolute paths, writes the executed
    notebook to ``notebook_out`` if given and the HTML report to ``out`` if
    given.
    """
    from pipeline.api import Store, parse_duration

    parse_duration(window)  # fail before starting a kernel
    store = Store.open(db)
    inc = store.incident(incident_id)
    params = {"db": str(store.path.resolve()), "incident_id": inc.incident_id, "window": str(window)}
    with tempfile.TemporaryDirectory(prefix="postmortem-") as tmp:
        executed_path = Path(notebook_out) if notebook_out else Path(tmp) / "postmortem.ipynb"
        executed_path.parent.mkdir(parents=True, exist_ok=True)
        executed = execute(template or TEMPLATE, executed_path, params, kernel=kernel, cwd=Path.cwd())
        html = None
        if out is not None:
            html = to_html(executed, out, show_code=show_code, title=f"Postmortem {inc.incident_id} ({inc.cause})")
    return Rendered(
        incident_id=inc.incident_id,
        cause=inc.cause,
        html=html,
        notebook=Path(notebook_out) if notebook_out else None,
    )


def strip_outputs(path: str | os.PathLike[str]) -> bool:
    """Clear a notebook's outputs and execution counts in place; True if it changed.

    Notebooks are committed without outputs: ``python -m pipeline.postmortem strip pipeline/notebooks/*.ipynb``.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            cell.outputs = []
            cell.execution_count = None
            changed = True
        for key in ("execution", "papermill"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    if "papermill" in nb.metadata:
        del nb.metadata["papermill"]
        changed = True
    if changed:
        nbformat.write(nb, str(path))
    return changed


def _main(argv: list[str] | None = None) -> int:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "strip" or len(args) < 2:
        print("usage: python -m pipeline.postmortem strip NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for name in args[1:]:
        if strip_outputs(name):
            print(f"cleared outputs of {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
