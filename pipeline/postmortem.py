"""Execute the postmortem notebook for one incident and render it to HTML.

``pipeline postmortem INCIDENT_ID --out report.html`` is a thin layer over
:func:`render`: papermill runs ``notebooks/postmortem.ipynb`` with the
``db``, ``incident_id`` and ``window`` parameters in a ``python3`` Jupyter
kernel, and nbconvert turns the executed notebook into one self-contained HTML
file (charts stay interactive; the code is hidden unless asked for), for people
who do not run Jupyter.  The executed notebook can be kept too, as the starting
point of the written postmortem.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.store import StoreError

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "notebooks" / "postmortem.ipynb"
EXPLORE = ROOT / "notebooks" / "explore.ipynb"
KERNEL = "python3"
CELL_TIMEOUT_S = 600


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
    partially executed notebook is still written to ``output``.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    template = Path(template)
    if not template.is_file():
        raise PostmortemError(f"no notebook template at {template}")
    with _kernel_env():
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
            )
        except PapermillExecutionError as exc:
            raise PostmortemError(
                f"{template.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
            ) from exc
        except Exception as exc:  # kernel missing, papermill internals
            if "No such kernel" in str(exc):
                raise PostmortemError(
                    f"no Jupyter kernel named {kernel!r}: run `python -m ipykernel install --user`"
                ) from exc
            raise


def to_html(notebook: Any, out: str | os.PathLike[str], *, show_code: bool = False, title: str | None = None) -> Path:
    """Render an executed notebook (node or path) to one HTML file."""
    import nbformat
    from nbconvert import HTMLExporter

    if not hasattr(notebook, "cells"):
        notebook = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter()
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    resources = {"metadata": {"name": title or "postmortem"}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


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

    Notebooks are committed without outputs: ``python -m pipeline.postmortem strip notebooks/*.ipynb``.
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
