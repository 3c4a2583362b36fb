"""``pipeline config``: the settings in force, and where each one comes from."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.common import config_option, exit_code_for, fail, json_option, print_json
from pipeline.config import CONFIG_NAME, Config, ConfigError, SettingsResolver
from pipeline.config_env import correlate_from_environment, variable
from pipeline.terminal import printable


@click.command("config")
@click.argument("paths", nargs=-1, type=click.Path())
@config_option("A pipeline.toml consulted before any other (as for ingest and correlate).")
@json_option
def config_command(paths: tuple[str, ...], config: str | None, as_json: bool) -> None:
    """Show the effective settings: the [correlate] thresholds, and for each log file under
    PATHS its host, time zone and format, each with the file and table it comes from."""
    from pipeline.correlate.settings import DEFAULTS
    from pipeline.ingest import files

    try:
        resolver = SettingsResolver(config)
        source = Path(config) if config else Path.cwd() / CONFIG_NAME
        correlate = Config.load(source).correlate if source.is_file() else {}
        from_env = correlate_from_environment()
        thresholds = {
            key: {
                "value": from_env.get(key, correlate.get(key, default)),
                "from": f"environment {variable(key)}"
                if key in from_env
                else f"{source} [correlate]"
                if key in correlate
                else "default",
            }
            for key, default in DEFAULTS.items()
        }
        logs = {}
        for found in files.discover(list(paths)):
            if found.problem is None and not resolver.ignored(found.path):
                logs[str(found.path)] = {
                    k: {"value": v, "from": f} for k, (v, f) in resolver.explain(found.path).items()
                }
    except ConfigError as exc:
        fail(printable(str(exc)), exit_code_for(exc))  # it may quote a path or a value from the file
    if as_json:
        print_json({"correlate": thresholds, "files": logs})
        return

    def line(text: str) -> None:
        # paths and values (a host name) come from the file system and the config: one line each
        click.echo(printable(text, one_line=True))

    line("[correlate]")
    for key, item in thresholds.items():
        line(f"  {key} = {item['value']}    ({item['from']})")
    for path, settings in logs.items():
        line(path)
        for key, item in settings.items():
            line(f"  {key} = {item['value']}    ({item['from']})")


COMMANDS = [config_command]
