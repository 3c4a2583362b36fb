"""Log families: one module each, all behind the interface in ``base.py``.

Adding a family is one new module exposing ``FAMILY`` plus its name in
``FAMILY_MODULES`` (order breaks ties in detection: earlier wins).
"""

from __future__ import annotations

import importlib
from functools import cache

from pipeline.ingest.families.base import LogFamily

FAMILY_MODULES: list[str] = [
    # server and network formats first: their layouts are strict (a bracketed level and
    # thread id, a pid, a ping reply), so on a tie they are the more specific claim
    "mysql_error",
    "mariadb",
    "postgres",
    "ping",
    "latency_table",
    "status",
    "python_text",
    "json_lines",
]


@cache
def all_families() -> tuple[LogFamily, ...]:
    return tuple(importlib.import_module(f"{__name__}.{module}").FAMILY for module in FAMILY_MODULES)


def by_name(name: str) -> LogFamily:
    for family in all_families():
        if family.name == name:
            return family
    known = ", ".join(f.name for f in all_families())
    raise KeyError(f"unknown format {name!r} (known: {known})")
