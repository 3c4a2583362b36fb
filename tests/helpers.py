"""Small helpers for tests: run a family over literal lines."""

from __future__ import annotations

import polars as pl

from pipeline.ingest.families.base import FileContext, Parsed


def lines_frame(lines: list[str], start: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_no": list(range(start, start + len(lines))), "line": lines},
        schema={"line_no": pl.Int64, "line": pl.Utf8},
    )


def parse_lines(family, lines: list[str], *, tz: str = "UTC", final: bool = True, state=None) -> Parsed:
    ctx = FileContext(path="test.log", host="h", timezone=tz, final=final, state=state if state is not None else {})
    return family.parse(lines_frame(lines), ctx)


def rows(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()
