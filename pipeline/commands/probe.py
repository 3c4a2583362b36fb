"""``pipeline probe``: latency and connection metrics for a database URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pipeline.commands.common import fail, json_option, out_folder_option, print_json

if TYPE_CHECKING:
    from pipeline.probe import Probe


@click.command("probe")
@click.argument("url")
@out_folder_option("Folder for latency.jsonl (or latency.csv) and status.tsv (appended).")
@click.option("--interval", default=5.0, show_default=True, type=float, help="Seconds between samples.")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--count", type=int, help="Stop after this many samples.")
@click.option("--status-every", type=float, help="Seconds between status snapshots (default: max(interval, 5)).")
@click.option("--timeout", type=float, help="Seconds before a probe counts as lost (default: interval, 1-5).")
@click.option("--all-status", is_flag=True, help="Write every SHOW GLOBAL STATUS row, not only connection counters.")
@click.option(
    "--latency-format",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="jsonl: latency.jsonl, with the reason of every lost probe; "
    "csv: latency.csv (timestamp,target,rtt_ms), which has no room for it.",
)
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
    latency_format: str,
    as_json: bool,
) -> None:
    """Sample TCP connect time and SELECT 1 round trip of URL every --interval seconds.

    URL is SQLAlchemy-style, e.g. mysql+pymysql://user:pass@127.0.0.1:3306/db
    (or just HOST:PORT for TCP only).  Where it can log in it also snapshots
    SHOW GLOBAL STATUS / VARIABLES.  Writes OUT/latency.jsonl and OUT/status.tsv,
    which `pipeline ingest OUT` reads.  Stop with Ctrl-C, --duration or --count.

    Every lost probe is written with its reason (connection refused, no answer,
    not a MySQL server, the server's error such as access denied) and the reasons
    are summed up at the end.  Exit status: 0 when something was measured, 1 when
    every probe was lost, 2 for a bad URL or setting or a driver that is not installed.
    """
    from pipeline.probe import Probe, ProbeError

    try:
        probe = Probe(
            url,
            out_dir,
            interval=interval,
            status_every=status_every,
            timeout=timeout,
            all_status=all_status,
            latency_format=latency_format,
        )
    except ProbeError as exc:
        fail(str(exc), code=2)  # how the tool was asked, or what is installed
    if not as_json:
        click.echo(f"probing {probe.target.redacted()} every {interval:g}s -> {probe.latency.path}", err=True)
    try:
        probe.run(duration=duration, count=count)
    except KeyboardInterrupt:
        probe.close()
    report(probe, out_dir, as_json)


def summary(probe: Probe, out_dir: str) -> dict[str, Any]:
    return {
        "target": probe.target.redacted(),
        "samples": probe.samples,
        "probes": probe.probes,
        "lost": probe.lost,
        "lost_reasons": dict(probe.lost_reasons.most_common()),
        "status_snapshots": probe.status_snapshots,
        "out": str(out_dir),
        "latency_file": str(probe.latency.path),
    }


def report(probe: Probe, out_dir: str, as_json: bool) -> None:
    """The summary, the reasons of lost probes, and exit 1 when nothing at all was measured."""
    from pipeline.probe import lost_summary
    from pipeline.terminal import printable

    if as_json:
        print_json(summary(probe, out_dir))
    else:
        click.echo(f"{probe.samples} samples, {probe.lost} lost probes, {probe.status_snapshots} status snapshots")
    if not probe.lost:
        return
    losses = lost_summary(probe.lost_reasons, probe.probes)
    if not probe.measured:
        fail(f"nothing measured: {losses}")
    if not as_json:
        # reasons quote what the server sent: escaped before they reach the terminal
        click.echo(printable(losses, one_line=True))


COMMANDS = [probe_command]
