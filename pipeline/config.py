"""``pipeline.toml``: per-file host, time zone and format override, plus thresholds.

Layout::

    [defaults]
    timezone = "Europe/Berlin"     # zone for timestamps that carry none (default UTC)
    host = "web-1"                 # default host for every file below this folder

    [[files]]
    glob = "mariadb*.log"          # matched against the path relative to this file's folder,
    host = "db-1"                  # and against the bare file name
    timezone = "UTC"
    format = "mariadb"             # skip detection (a family name, see `pipeline formats`)

    [correlate]
    gap_seconds = 120              # thresholds read by pipeline.correlate

    ignore = ["*.md", "truth.json"]  # top level: files below this folder that are not logs

A ``pipeline.toml`` applies to the folder it sits in and everything below it;
the nearest one to a file wins.  ``--config FILE`` is consulted before any of
them.  Without a setting, a file's host is the name of the folder that holds it
(``logs/web-1/app.log`` -> ``web-1``) and its time zone is UTC.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_NAME = "pipeline.toml"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class FileSettings:
    host: str
    timezone: str = "UTC"
    format: str | None = None


@dataclass
class Config:
    """One parsed pipeline.toml."""

    folder: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    correlate: dict[str, Any] = field(default_factory=dict)
    digest: dict[str, Any] = field(default_factory=dict)
    pool: dict[str, Any] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        from pipeline import config_schema  # pydantic: imported when a toml is read

        try:
            model = config_schema.validate(data, path)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        files = [rule.model_dump(exclude_none=True) for rule in model.files]
        for tz in [model.defaults.timezone, model.digest.timezone] + [rule.timezone for rule in model.files]:
            if tz:
                _check_zone(tz, path)
        return cls(
            folder=path.resolve().parent,
            defaults=model.defaults.model_dump(exclude_none=True),
            files=files,
            # only what the file sets: the defaults are added where the thresholds are used
            correlate=model.correlate.model_dump(include=set(data.get("correlate", {}))),
            digest=model.digest.model_dump(exclude_none=True),
            pool=model.pool.model_dump(exclude_none=True),
            ignore=list(model.ignore),
            raw=data,
        )

    def ignores(self, file: Path) -> bool:
        try:
            rel = file.resolve().relative_to(self.folder).as_posix()
        except ValueError:
            rel = file.name
        return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(file.name, g) for g in self.ignore)

    def match(self, file: Path) -> dict[str, Any]:
        """Settings this config gives ``file`` (defaults overlaid by the first matching glob)."""
        out = dict(self.defaults)
        rule = self.rule_for(file)
        if rule is not None:
            out.update({k: v for k, v in rule.items() if k != "glob"})
        return out

    def rule_for(self, file: Path) -> dict[str, Any] | None:
        """The first ``[[files]]`` entry whose glob matches ``file``."""
        try:
            rel = file.resolve().relative_to(self.folder).as_posix()
        except ValueError:
            rel = file.name
        for entry in self.files:
            pattern = entry["glob"]
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(file.name, pattern):
                return entry
        return None


def _check_zone(tz: str, where: Path) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}: unknown time zone {tz!r}") from exc


class SettingsResolver:
    """Finds the settings for each file of an ingest run, caching parsed tomls."""

    def __init__(self, explicit: str | Path | None = None):
        self.explicit = Config.load(explicit) if explicit else None
        self._cache: dict[Path, Config | None] = {}

    def _config_in(self, folder: Path) -> Config | None:
        if folder not in self._cache:
            candidate = folder / CONFIG_NAME
            self._cache[folder] = Config.load(candidate) if candidate.is_file() else None
        return self._cache[folder]

    def nearest(self, file: Path) -> list[Config]:
        """Configs that apply to ``file``, most specific first."""
        found = []
        for folder in file.resolve().parents:
            cfg = self._config_in(folder)
            if cfg is not None:
                found.append(cfg)
        if self.explicit is not None:
            found.insert(0, self.explicit)
        return found

    def ignored(self, file: Path) -> bool:
        """True when any pipeline.toml that applies to ``file`` lists it under ``ignore``."""
        return any(cfg.ignores(file) for cfg in self.nearest(file))

    def settings_for(self, file: Path) -> FileSettings:
        merged: dict[str, Any] = {}
        # least specific first, so nearer configs override
        for cfg in reversed(self.nearest(file)):
            merged.update(cfg.match(file))
        host = merged.get("host") or default_host(file)
        return FileSettings(
            host=str(host),
            timezone=str(merged.get("timezone") or "UTC"),
            format=merged.get("format"),
        )

    def explain(self, file: Path) -> dict[str, tuple[str, str]]:
        """``host``, ``timezone`` and ``format`` of ``file`` with where each comes from
        (a toml's path and table, or the built-in default)."""
        out: dict[str, tuple[str, str]] = {
            "host": (default_host(file), "the folder's name"),
            "timezone": ("UTC", "default"),
            "format": ("detected", "default"),
        }
        for cfg in reversed(self.nearest(file)):
            toml = cfg.folder / CONFIG_NAME
            for key, value in cfg.defaults.items():
                out[key] = (str(value), f"{toml} [defaults]")
            rule = cfg.rule_for(file)
            if rule is not None:
                for key, value in rule.items():
                    if key != "glob":
                        out[key] = (str(value), f"{toml} [[files]] glob = {rule['glob']!r}")
        return out


def default_host(file: Path) -> str:
    """The name of the folder holding the file: ``logs/web-1/app.log`` -> ``web-1`` (a secret
    in it masked, as in file names)."""
    from pipeline.ingest.redact import redact_text

    parent = file.resolve().parent.name
    return redact_text(parent) or "localhost"


def correlate_settings(config_path: str | Path | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """The thresholds set by the user: the ``[correlate]`` table of ``--config`` or
    ``./pipeline.toml``, overridden by ``PIPELINE_CORRELATE_<KEY>`` variables; {} when none."""
    from pipeline.config_env import correlate_from_environment

    if config_path:
        config: Config | None = Config.load(config_path)
    else:
        candidate = (cwd or Path.cwd()) / CONFIG_NAME
        config = Config.load(candidate) if candidate.is_file() else None
    table = config.correlate if config else {}
    out = {**table, **correlate_from_environment()}
    if config and config.pool:
        # the application's pool settings, for the verdicts' "why didn't my settings help"
        out["pool"] = dict(config.pool)
    return out
