"""What a ``pipeline.toml`` may hold, as typed models (pydantic).

Every table forbids keys it does not know, so a typo is an error that names the key, the
file and the nearest known key (``gap_second`` -> "did you mean gap_seconds?") instead of
a setting silently left at its default.  Values are checked for their type and range
(``gap_seconds = "sixty"`` or ``-5`` is an error, ``ignore = "*.md"`` must be a list).

The ``[correlate]`` thresholds are generated from ``pipeline.correlate.settings.DEFAULTS``,
where each one is explained: their names, types and defaults live in one place.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic_core import ErrorDetails

from pipeline.correlate.settings import DEFAULTS

STRICT = ConfigDict(extra="forbid", strict=False)


class Defaults(BaseModel):
    """``[defaults]``: what every file below the folder gets unless a ``[[files]]`` rule says otherwise."""

    model_config = STRICT
    timezone: str | None = Field(default=None, description="zone of time stamps that carry none (default UTC)")
    host: str | None = Field(default=None, description="host of the files (default: the folder's name)")


class FileRule(Defaults):
    """``[[files]]``: settings for the files a glob matches (the first matching rule wins)."""

    glob: str = Field(description="matched against the path relative to the toml's folder, and the file name")
    format: str | None = Field(default=None, description="the family that reads the files (skips detection)")


# Bounds of the thresholds: shares and scores lie in 0..1, counts are at least 1, the rest >= 0.
_SHARES = {"idle_ok_tolerance", "latency_share_full", "max_connections_ratio", "min_score"}
_COUNTS = {"latency_samples_full", "evidence_per_kind", "server_only_min_lines"}


def _threshold(name: str, default: Any) -> tuple[type, Any]:
    if name in _COUNTS:
        return int, Field(default, ge=1)
    if name in _SHARES:
        return float, Field(default, ge=0, le=1)
    return float, Field(default, ge=0)


_THRESHOLDS: dict[str, Any] = {name: _threshold(name, default) for name, default in DEFAULTS.items()}

if TYPE_CHECKING:  # mypy cannot see the fields create_model makes: to it, a model without any

    class Correlate(BaseModel): ...

else:
    Correlate = create_model("Correlate", __config__=STRICT, **_THRESHOLDS)
Correlate.__doc__ = "``[correlate]``: the thresholds of correlation (``pipeline/correlate/settings.py``)."


class Digest(BaseModel):
    """``[digest]``: defaults of ``pipeline digest``."""

    model_config = STRICT
    timezone: str | None = Field(default=None, description="the day of --yesterday and the times shown")
    smtp: str | None = Field(default=None, description="smtp://host:port or smtps://host:port")
    smtp_user: str | None = Field(default=None, description="SMTP login; the password only from the environment")
    smtp_password_env: str | None = Field(default=None, description="the variable holding the SMTP password")
    mail_from: str | None = Field(default=None, description="the sender")
    mail_to: list[str] | str | None = Field(default=None, description="recipients of --send")
    webhook: str | None = Field(default=None, description="a Slack-compatible webhook of --send")
    timeout: float | None = Field(default=None, ge=0, description="seconds to wait for the SMTP or webhook server")
    silence_hours: float | None = Field(default=None, ge=0, description="a source silent this long has stopped sending")


class Pool(BaseModel):
    """``[pool]``: the application's SQLAlchemy pool and driver settings, so a verdict can say
    which of them let a drop through (none of them changes what is read or how it is grouped)."""

    model_config = STRICT
    pool_size: int | None = Field(default=None, ge=0, description="create_engine(pool_size=...)")
    max_overflow: int | None = Field(default=None, ge=-1, description="create_engine(max_overflow=...)")
    pool_timeout: float | None = Field(default=None, ge=0, description="seconds a checkout waits for a connection")
    pool_recycle: int | None = Field(
        default=None, ge=-1, description="seconds before a connection is replaced (-1: never)"
    )
    pool_pre_ping: bool | None = Field(default=None, description="test each connection at checkout")
    read_timeout: float | None = Field(default=None, ge=0, description="the driver's read timeout, in seconds")


class PipelineToml(BaseModel):
    """A whole ``pipeline.toml``."""

    model_config = STRICT
    defaults: Defaults = Field(default_factory=Defaults)
    files: list[FileRule] = Field(default_factory=list)
    correlate: Correlate = Field(default_factory=Correlate)
    digest: Digest = Field(default_factory=Digest)
    pool: Pool = Field(default_factory=Pool)
    ignore: list[str] = Field(default_factory=list, description="files below the folder that are not logs")

    @field_validator("ignore", mode="before")
    @classmethod
    def _ignore_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f'must be a list of globs, e.g. ignore = ["{value}"]')
        return value


def validate(data: dict[str, Any], where: Path) -> PipelineToml:
    """The parsed toml as a :class:`PipelineToml`, or a ``ValueError`` with one line per
    problem, each naming the file, the key and what is wrong."""
    try:
        return PipelineToml.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(_describe(error, data, where) for error in exc.errors())) from None


def _describe(error: ErrorDetails, data: dict[str, Any], where: Path) -> str:
    loc = [str(part) for part in error["loc"]]
    key = _key(loc)
    if error["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        guess = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f" (did you mean {guess[0]}?)" if guess else f" (known: {', '.join(sorted(known))})"
        return f"{where}: {key}: unknown setting{hint}"
    value = _value_at(data, error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    shown = f" = {value!r}" if value is not _MISSING else ""
    return f"{where}: {key}{shown}: {message}"


_MISSING = object()


def _value_at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def _key(loc: list[str]) -> str:
    """``['correlate', 'gap_second']`` -> ``[correlate] gap_second``; ``['files', '0', 'glob']``
    -> ``[[files]] #1 glob``."""
    if not loc:
        return "(top level)"
    if loc[0] == "files" and len(loc) >= 2 and loc[1].isdigit():
        rest = " ".join(loc[2:])
        return f"[[files]] #{int(loc[1]) + 1}" + (f" {rest}" if rest else "")
    if len(loc) == 1:
        return loc[0]
    return f"[{loc[0]}] " + " ".join(loc[1:])


def _known_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = PipelineToml
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        inner = field.annotation
        args = getattr(inner, "__args__", ())
        candidates = [inner, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), model)
    return list(model.model_fields)


def settings_table() -> str:
    """The table of every setting in docs/configuration.md, made from the models (a test keeps them equal)."""
    rows = ["| table | key | type | default | what it sets |", "|---|---|---|---|---|"]
    tables: list[tuple[str, type[BaseModel]]] = [
        ("[defaults]", Defaults),
        ("[[files]]", FileRule),
        ("[correlate]", Correlate),
        ("[digest]", Digest),
        ("[pool]", Pool),
    ]
    for table, model in tables:
        for name, field in model.model_fields.items():
            kind = _type_name(field.annotation)
            bounds = "".join(
                f", {op} {getattr(m, attr)}"
                for m in field.metadata
                for attr, op in (("ge", ">="), ("le", "<="))
                if hasattr(m, attr)
            )
            default = "required" if field.is_required() else ("" if field.default is None else f"`{field.default}`")
            what = field.description or ("see `pipeline/correlate/settings.py`" if table == "[correlate]" else "")
            rows.append(f"| `{table}` | `{name}` | {kind}{bounds} | {default} | {what} |")
    rows.append("| (top level) | `ignore` | list of globs |  | files below the folder that are not logs |")
    return "\n".join(rows)


def _type_name(annotation: Any) -> str:
    names = {str: "text", int: "integer", float: "number", list: "list", bool: "true or false"}
    args = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not type(None)]
    return " or ".join(names.get(getattr(a, "__origin__", a), "list of text") for a in args)


__all__ = ["Correlate", "Defaults", "Digest", "FileRule", "PipelineToml", "Pool", "settings_table", "validate"]
