"""Idle limits of the products between an application and its database.

``idle_limits.toml`` beside this module lists, for each product that can end an idle
connection (database servers, proxies and poolers, load balancers, NAT gateways, the
kernel, orchestrators), the setting that does it, its default in seconds, how the
connection ends and where the number comes from.  ``load`` reads and checks it;
``matching`` answers "which products drop connections idle between lo and hi seconds?",
the question an inferred idle limit asks; ``describe`` names a row in one line.

Behaviours: ``silent`` drops the flow without telling either side (the next packet is
lost or answered with a RST), ``reset`` sends a RST when the limit is reached, ``close``
closes the connection itself and logs it.

A default of 0 means the limit is off unless someone sets it; such a row must say so in
its ``note`` (which starts with ``0 = off``), and ``matching`` never returns it.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

KINDS = frozenset({"database", "proxy", "load_balancer", "nat", "firewall", "os", "orchestrator"})
BEHAVIOURS = frozenset({"silent", "reset", "close"})
OFF_NOTE = "0 = off"

_DATA_FILE = "idle_limits.toml"
_REQUIRED_TEXT = ("product", "kind", "setting", "behaviour", "how_to_change", "source", "source_quote")
_OPTIONAL_NUMBERS = ("configurable_min", "configurable_max")
_KNOWN_KEYS = frozenset({*_REQUIRED_TEXT, "seconds", *_OPTIONAL_NUMBERS, "note"})


@dataclass(frozen=True, slots=True)
class IdleLimit:
    """One product's idle limit: the setting, its default and how the connection ends."""

    product: str
    kind: str
    setting: str
    seconds: float
    behaviour: str
    how_to_change: str
    source: str
    source_quote: str
    configurable_min: float | None = None
    configurable_max: float | None = None
    note: str = ""

    @property
    def is_off_by_default(self) -> bool:
        """True for a limit whose default (0) disables it."""
        return self.seconds == 0


def load(path: str | os.PathLike[str] | None = None) -> tuple[IdleLimit, ...]:
    """The catalogue's rows, in file order; ``path`` reads another file (tests).

    Raises ``ValueError`` naming the row (its number and, when present, product and
    setting) for a row that is malformed, and for a repeated (product, setting).
    """
    if path is None:
        text = resources.files(__package__ or "pipeline.catalogue").joinpath(_DATA_FILE).read_text("utf-8")
        where = _DATA_FILE
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        where = os.fspath(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML: {exc}") from exc
    tables = doc.get("limit")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{where}: expected one or more [[limit]] tables")
    rows: list[IdleLimit] = []
    seen: dict[tuple[str, str], int] = {}
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ValueError(f"{where}: row {number}: not a table")
        row = _parse_row(table, f"{where}: {_row_name(number, table)}")
        key = (row.product, row.setting)
        if key in seen:
            raise ValueError(f"{where}: {_row_name(number, table)}: repeats row {seen[key]} (same product and setting)")
        seen[key] = number
        rows.append(row)
    return tuple(rows)


def matching(
    lo_s: float | None,
    hi_s: float,
    behaviour: str | None = None,
    slack: float = 0.10,
    *,
    rows: Iterable[IdleLimit] | None = None,
) -> list[IdleLimit]:
    """Rows whose default lies in ``(lo_s, hi_s]`` widened by ``slack`` on each side.

    ``lo_s`` None means 0.  ``slack`` is relative: with 0.10 the interval becomes
    ``(lo_s * 0.9, hi_s * 1.1]``.  ``behaviour`` keeps only rows of that behaviour
    (e.g. ``"silent"`` drops rather than ``"reset"``).  Rows whose limit is off by
    default never match.  The result is ordered by how close each default is to the
    middle of the (unwidened) interval, then by product and setting.  ``rows``
    searches other rows than the catalogue's (tests).
    """
    lo = 0.0 if lo_s is None else float(lo_s)
    hi = float(hi_s)
    if not all(math.isfinite(v) for v in (lo, hi, slack)):
        raise ValueError("matching: bounds and slack must be finite numbers")
    if lo < 0 or hi <= 0 or lo > hi:
        raise ValueError(f"matching: need 0 <= lo_s <= hi_s and hi_s > 0, got lo_s={lo_s!r}, hi_s={hi_s!r}")
    if slack < 0:
        raise ValueError(f"matching: slack must be >= 0, got {slack!r}")
    if behaviour is not None and behaviour not in BEHAVIOURS:
        raise ValueError(f"matching: behaviour must be one of {sorted(BEHAVIOURS)}, got {behaviour!r}")
    low, high = lo * (1 - slack), hi * (1 + slack)
    middle = (lo + hi) / 2
    candidates = _default_rows() if rows is None else tuple(rows)
    found = [
        r
        for r in candidates
        if not r.is_off_by_default and low < r.seconds <= high and (behaviour is None or r.behaviour == behaviour)
    ]
    found.sort(key=lambda r: (abs(r.seconds - middle), r.product, r.setting))
    return found


def describe(row: IdleLimit) -> str:
    """One line, e.g. ``AWS Network Load Balancer (TCP idle timeout 350 s, silent)``."""
    if row.is_off_by_default:
        return f"{row.product} ({row.setting} off by default, {row.behaviour} when set)"
    return f"{row.product} ({row.setting} {_seconds(row.seconds)} s, {row.behaviour})"


@cache
def _default_rows() -> tuple[IdleLimit, ...]:
    return load()


def _row_name(number: int, table: Mapping[str, Any]) -> str:
    product, setting = table.get("product"), table.get("setting")
    if isinstance(product, str) and product:
        return (
            f"row {number} ({product} / {setting})"
            if isinstance(setting, str) and setting
            else f"row {number} ({product})"
        )
    return f"row {number}"


def _parse_row(table: Mapping[str, Any], name: str) -> IdleLimit:
    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{name}: unknown field(s) {', '.join(unknown)}")
    text: dict[str, str] = {}
    for key in _REQUIRED_TEXT:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name}: {key} must be a non-empty string")
        text[key] = value.strip()
    note = table.get("note", "")
    if not isinstance(note, str):
        raise ValueError(f"{name}: note must be a string")
    note = note.strip()
    if text["kind"] not in KINDS:
        raise ValueError(f"{name}: kind {text['kind']!r} is not one of {sorted(KINDS)}")
    if text["behaviour"] not in BEHAVIOURS:
        raise ValueError(f"{name}: behaviour {text['behaviour']!r} is not one of {sorted(BEHAVIOURS)}")
    if not text["source"].startswith("https://"):
        raise ValueError(f"{name}: source must be an https:// URL, got {text['source']!r}")
    if "seconds" not in table:
        raise ValueError(f"{name}: seconds is missing")
    seconds = _number(table["seconds"], name, "seconds")
    if seconds < 0:
        raise ValueError(f"{name}: seconds must not be negative")
    if seconds == 0 and not note.startswith(OFF_NOTE):
        raise ValueError(f"{name}: seconds is 0 but note does not start with {OFF_NOTE!r}")
    bounds: dict[str, float | None] = {}
    for key in _OPTIONAL_NUMBERS:
        bounds[key] = None if key not in table else _number(table[key], name, key)
    lo, hi = bounds["configurable_min"], bounds["configurable_max"]
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: configurable_min {lo:g} is above configurable_max {hi:g}")
    if seconds > 0 and ((lo is not None and seconds < lo) or (hi is not None and seconds > hi)):
        raise ValueError(f"{name}: seconds {seconds:g} lies outside the configurable range")
    return IdleLimit(
        product=text["product"],
        kind=text["kind"],
        setting=text["setting"],
        seconds=seconds,
        behaviour=text["behaviour"],
        how_to_change=text["how_to_change"],
        source=text["source"],
        source_quote=text["source_quote"],
        configurable_min=lo,
        configurable_max=hi,
        note=note,
    )


def _number(value: object, name: str, key: str) -> float:
    # bool is an int subclass: `seconds = true` is a typo, not 1
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: {key} must be a number, got {value!r}")
    return float(value)


def _seconds(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:.0f}"
