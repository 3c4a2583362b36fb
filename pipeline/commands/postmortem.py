"""``pipeline postmortem``: an incident's postmortem notebook, executed and rendered to HTML."""

from __future__ import annotations

import click

from pipeline.commands.common import db_option, fail
from pipeline.store import StoreError, resolve_db_path


@click.command()
@click.argument("incident_id", required=False)
@db_option
@click.option(
    "--out", type=click.Path(dir_okay=False), help="HTML report to write [default: postmortem-INCIDENT_ID.html]."
)
@click.option(
    "--notebook",
    "notebook_out",
    type=click.Path(dir_okay=False),
    help="Also keep the executed notebook here, to continue the write-up in Jupyter.",
)
@click.option("--window", default="10m", show_default=True, help="Time shown around the incident (e.g. 5m, 1h).")
@click.option("--show-code", is_flag=True, help="Keep the notebook's code cells in the HTML.")
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False),
    help="A notebook to run instead of pipeline/notebooks/postmortem.ipynb (same parameters).",
)
@click.option("--kernel", default="python3", show_default=True, help="Jupyter kernel to execute with.")
def postmortem(
    incident_id: str | None,
    db: str,
    out: str | None,
    notebook_out: str | None,
    window: str,
    show_code: bool,
    template: str | None,
    kernel: str,
) -> None:
    """Execute the postmortem template for INCIDENT_ID (default: the latest) and render it to HTML.

    The report has the verdict, a timeline across sources, the evidence lines,
    idle times or latency (whichever the cause needs), the advice, an empty
    Actions section, and an appendix of log lines: the incident's own (evidence
    and drops), then those of each source nearest the incident, with the count of
    lines of the window left out.  A unique prefix of the id is enough.
    """
    from pipeline import postmortem as pm
    from pipeline.api import Store

    try:
        if out is None:
            resolved = Store.open(resolve_db_path(db)).incident(incident_id).incident_id
            out = f"postmortem-{resolved}.html"
        result = pm.render(
            resolve_db_path(db),
            incident_id,
            out=out,
            notebook_out=notebook_out,
            window=window,
            show_code=show_code,
            template=template,
            kernel=kernel,
        )
    except (StoreError, ValueError) as exc:
        fail(str(exc))
    click.echo(
        f"{result.incident_id} ({result.cause}): wrote {result.html}"
        + (f" and {result.notebook}" if result.notebook else "")
    )


COMMANDS = [postmortem]
