"""``pipeline export``: the store's tables as Hive-partitioned Parquet."""

from __future__ import annotations

import click

from pipeline import export as export_mod
from pipeline.commands.common import db_option, fail, json_option, print_json
from pipeline.store import StoreError, resolve_db_path


@click.command()
@click.option(
    "--parquet",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="The folder to write: events/source=/date=/host=, latency/, metrics/, rejects/, files/.",
)
@click.option("--force", is_flag=True, help="Replace the folder if it exists.")
@db_option
@json_option
def export(out: str, force: bool, db: str, as_json: bool) -> None:
    """Write the store as Parquet that DuckDB, Spark or pandas read; `pipeline ingest DIR` loads it back."""
    path = resolve_db_path(db)
    if not path.exists():
        fail(f"no store at {path}: run `pipeline ingest` first")
    try:
        manifest = export_mod.export_parquet(path, out, force=force)
    except export_mod.ExportError as exc:
        fail(str(exc), 2)
    except (OSError, StoreError) as exc:
        fail(f"cannot export: {exc}")
    if as_json:
        print_json({"folder": out, **manifest})
        return
    rows = ", ".join(f"{n:,} {table}" for table, n in manifest["rows"].items())
    click.echo(f"wrote {out}: {rows}")


COMMANDS = [export]
