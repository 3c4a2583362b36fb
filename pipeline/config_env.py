"""Correlation thresholds from the environment: ``PIPELINE_CORRELATE_<KEY>``.

For a one-off run or a container, where editing ``pipeline.toml`` is awkward:
``PIPELINE_CORRELATE_GAP_SECONDS=600 pipeline correlate``.  A variable overrides the same key
of the ``[correlate]`` table (the environment is the later, more specific choice), is checked
against the same model as the file (type and bounds), and a misspelt name is an error with a
suggestion, never silently ignored.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

from pipeline.config import ConfigError
from pipeline.correlate.settings import DEFAULTS

PREFIX = "PIPELINE_CORRELATE_"


def variable(key: str) -> str:
    """``gap_seconds`` -> ``PIPELINE_CORRELATE_GAP_SECONDS``."""
    return PREFIX + key.upper()


def correlate_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The thresholds set in the environment, typed and checked; ConfigError otherwise."""
    env = os.environ if environ is None else environ
    names = {variable(key): key for key in DEFAULTS}
    found: dict[str, Any] = {}
    problems = []
    for name, text in sorted(env.items()):
        if not name.startswith(PREFIX):
            continue
        key = names.get(name)
        if key is None:
            guess = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            problems.append(f"environment {name}: unknown setting{hint}")
            continue
        kind = type(DEFAULTS[key])
        try:
            found[key] = int(text) if kind is int else float(text)
        except ValueError:
            problems.append(f"environment {name} = {text!r}: not a number")
    if found and not problems:
        from pydantic import ValidationError  # imported only when something is set

        from pipeline.config_schema import Correlate

        try:
            Correlate.model_validate(found)
        except ValidationError as exc:
            for error in exc.errors():
                key = str(error["loc"][0])
                message = error["msg"].removeprefix("Value error, ")
                problems.append(f"environment {variable(key)} = {env[variable(key)]!r}: {message}")
    if problems:
        raise ConfigError("; ".join(problems))
    return found


__all__ = ["PREFIX", "correlate_from_environment", "variable"]
