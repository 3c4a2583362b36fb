"""Which family a file belongs to, from its first lines (never from its name)."""

from __future__ import annotations

from pipeline.ingest import files
from pipeline.ingest.families import all_families, by_name
from pipeline.ingest.families.base import LogFamily

MIN_SCORE = 0.5


def scores(head_lines: list[str]) -> dict[str, float]:
    """Every family's sniff score for these lines (a family that raises scores 0)."""
    out = {}
    for family in all_families():
        try:
            out[family.name] = float(family.sniff(head_lines))
        except Exception:  # noqa: BLE001 - a sniffer bug must not stop detection
            out[family.name] = 0.0
    return out


def choose(head: bytes, override: str | None = None) -> tuple[LogFamily | None, str]:
    """The family for a file whose first bytes are ``head``, or None and the reason."""
    if override:
        try:
            return by_name(override), "configured"
        except KeyError as exc:
            return None, str(exc.args[0])
    if not head:
        return None, "empty file"
    if files.looks_binary(head):
        return None, "binary content (NUL or control bytes), not a text log"
    lines = files.head_lines(head)
    if not lines:
        return None, "no text lines"
    ranked = sorted(scores(lines).items(), key=lambda kv: -kv[1])
    order = {f.name: i for i, f in enumerate(all_families())}
    best_score = ranked[0][1]
    if best_score == 0:
        return None, "format not recognized by any log family"
    if best_score < MIN_SCORE:
        return None, f"format not recognized (best guess {ranked[0][0]} at {best_score:.2f})"
    # ties go to the family listed first
    best = min((name for name, score in ranked if score == best_score), key=order.get)
    return by_name(best), f"detected ({best_score:.2f})"
