"""``pipeline probe``: latency and connection metrics for a database URL."""

from __future__ import annotations

import click

from pipeline.commands.common import fail, json_option, out_folder_option, print_json


@click.command("probe")
@click.argument("url")
@out_folder_option("Folder for latency.csv and status.tsv (appended).")
@click.option("--interval", default=5.0, show_default=True, type=float, help="Seconds between samples.")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--count", type=int, help="Stop after this many samples.")
@click.option("--status-every", type=float, help="Seconds between status snapshots (default: max(interval, 5)).")
@click.option("--timeout", type=float, help="Seconds before a probe counts as lost (default: interval, 1-5).")
@click.option("--all-status", is_flag=True, help="Write every SHOW GLOBAL STATUS row, not only connection counters.")
@json_option
def probe_command(
    url: str,
    out_dir: str,
    interval: float,
    duration: float | None,
    count: int | None,
    status_every: float | None,
    timeout: float | None,
    all_status: bool,
    as_json: bool,
) -> None:
    """Sample TCP connect time and SELECT 1 round trip of URL every --interval seconds.

    URL is SQLAlchemy-style, e.g. mysql+pymysql://user:pass@127.0.0.1:3306/db
    (or just HOST:PORT for TCP only).  Where it can log in it also snapshots
    SHOW GLOBAL STATUS / VARIABLES.  Writes OUT/latency.csv and OUT/status.tsv,
    which `pipeline ingest OUT` reads.  Stop with Ctrl-C, --duration or --count.
    """
    from pipeline.probe import Probe, ProbeError

    try:
        probe = Probe(
            url, out_dir, interval=interval, status_every=status_every, timeout=timeout, all_status=all_status
        )
    except ProbeError as exc:
        fail(str(exc))
    if not as_json:
        click.echo(f"probing {probe.target.redacted()} every {interval:g}s -> {out_dir}", err=True)
    try:
        probe.run(duration=duration, count=count)
    except KeyboardInterrupt:
        probe.close()
    summary = {
        "target": probe.target.redacted(),
        "samples": probe.samples,
        "lost": probe.lost,
        "status_snapshots": probe.status_snapshots,
        "out": str(out_dir),
    }
    if as_json:
        print_json(summary)
    else:
        click.echo(f"{probe.samples} samples, {probe.lost} lost probes, {probe.status_snapshots} status snapshots")


COMMANDS = [probe_command]
