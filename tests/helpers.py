"""Small helpers for tests: run a family over literal lines."""

from __future__ import annotations

import polars as pl

from pipeline.ingest.families.base import FileContext, Parsed


def lines_frame(lines: list[str], start: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_no": list(range(start, start + len(lines))), "line": lines},
        schema={"line_no": pl.Int64, "line": pl.Utf8},
    )


def parse_lines(family, lines: list[str], *, tz: str = "UTC", final: bool = True, state=None, start: int = 1) -> Parsed:
    """Parse lines as ingest does: their envelope (docker, journald...) found from the
    lines themselves unless ``state`` names it, removed, then the family parses."""
    from pipeline.ingest import envelopes

    ctx = FileContext(path="test.log", host="h", timezone=tz, final=final, state=state if state is not None else {})
    ctx.state.setdefault("envelopes", envelopes.detect(lines[:200]))
    return envelopes.parse(family, lines_frame(lines, start), ctx)


def rows(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()


def wait_until_healthy(base: str, proc, *, timeout_s: float = 60, log_path=None) -> None:
    """Wait for a ``pipeline dashboard`` process to answer Streamlit's health check;
    fail the test (with its log, if given) when it exits or never answers."""
    import time
    import urllib.request

    import pytest

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            log = log_path.read_text() if log_path else ""
            pytest.fail(f"dashboard exited with {proc.returncode}: {log}")
        if time.monotonic() > deadline:
            proc.terminate()
            pytest.fail(f"dashboard did not answer /_stcore/health within {timeout_s:.0f} s")
        time.sleep(0.25)


def stop_process(proc, timeout_s: float = 10) -> None:
    """Terminate a child process, killing it if it does not exit in time."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
