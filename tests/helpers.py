"""Small helpers for tests: run a family over literal lines."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl

from pipeline.ingest.families.base import FileContext, Parsed

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).resolve().parent / "cases"

# The causes the pipeline names of itself ("unknown" aside), in the order it lists them.
BUILT_IN_CAUSES = ("idle_timeout", "network", "max_connections", "pool_exhausted", "server_restart", "access_denied")


def lines_frame(lines: list[str], start: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_no": list(range(start, start + len(lines))), "line": lines},
        schema={"line_no": pl.Int64, "line": pl.Utf8},
    )


def file_context(*, tz: str = "UTC", final: bool = True, state=None, path: str = "test.log", host: str = "h"):
    """What a family is told of the file it parses (``state`` is shared when given)."""
    return FileContext(path=path, host=host, timezone=tz, final=final, state=state if state is not None else {})


def parse_lines(family, lines: list[str], *, start: int = 1, whole: bool = False, **context) -> Parsed:
    """Parse lines as ingest does: their envelope (docker, journald...) found from the
    lines themselves unless ``state`` names it, removed, then the family parses.
    ``whole``: check that a final parse accounts for every line (see ``each_line_once``).
    ``context``: tz, final, state, path, host (see ``file_context``)."""
    from pipeline.ingest import envelopes

    ctx = file_context(**context)
    ctx.state.setdefault("envelopes", envelopes.detect(lines[:200]))
    parsed = envelopes.parse(family, lines_frame(lines, start), ctx)
    return each_line_once(parsed, lines) if whole and ctx.final else parsed


def parse_plain(family, lines: list[str], *, start: int = 1, whole: bool = False, **context) -> Parsed:
    """Parse lines with the family alone, as they stand: no envelope is looked for.
    ``whole``: check that a final parse accounts for every line (see ``each_line_once``).
    ``context``: tz, final, state, path, host (see ``file_context``)."""
    ctx = file_context(**context)
    parsed = family.parse(lines_frame(lines, start), ctx)
    return each_line_once(parsed, lines) if whole and ctx.final else parsed


def parser_for(family, *, plain: bool = False, **defaults):
    """``parse(lines, **context)`` for ``family`` (a family or its name), checking that every
    line is accounted for: by ``parse_lines`` (envelopes removed first, as ingest does) or,
    with ``plain``, ``parse_plain``. ``defaults``: the context a call does not name
    (start, tz, final, state, path, host)."""
    from pipeline.ingest.families import by_name

    family = by_name(family) if isinstance(family, str) else family
    run = parse_plain if plain else parse_lines

    def parse(lines: list[str], **context) -> Parsed:
        return run(family, lines, whole=True, **{**defaults, **context})

    return parse


def load_cases(name: str, table: str = "case") -> dict[str, dict]:
    """The ``[[table]]`` rows of ``tests/cases/<name>.toml``, by their ``name``."""
    with open(CASES / f"{name}.toml", "rb") as fh:
        rows = tomllib.load(fh)[table]
    by_name = {row["name"]: row for row in rows}
    assert len(by_name) == len(rows), f"{name}.toml repeats a case name"
    return by_name


def case_params(cases: dict[str, dict]) -> list:
    """One ``pytest.param`` a case, its name as the test id."""
    import pytest

    return [pytest.param(case, id=name) for name, case in cases.items()]


def assert_columns(frame: pl.DataFrame, expected: dict, what: str = "") -> None:
    """Check a parse's rows (events, latency, metrics) against a case's table of them: for
    each column it names, the whole column (a list) or the rows at some positions (a table
    from position to value)."""
    for column, want in expected.items():
        assert column in frame.columns, f"{what}: no column {column!r}"
        got = frame[column].to_list()
        if isinstance(want, dict):
            assert {i: got[int(i)] for i in want} == want, f"{what}: {column}"
        else:
            assert got == want, f"{what}: {column}"


def parse_in_chunks(family, lines: list[str], cuts: list[int], **context) -> list[Parsed]:
    """Parse ``lines`` cut before each index of ``cuts``, as ingest reads a large file in
    chunks: one state carried from chunk to chunk, only the last one final."""
    state: dict = {}
    bounds = [0, *cuts, len(lines)]
    return [
        parse_plain(family, lines[lo:hi], final=hi == len(lines), state=state, start=lo + 1, **context)
        for lo, hi in itertools.pairwise(bounds)
    ]


def accounted(parsed: Parsed) -> int:
    """The lines a parse accounts for: folded into events, latency or metric rows,
    rejected, or skipped. Each line of the input counts exactly once."""
    folded = int(parsed.events["n_lines"].sum() or 0)
    return folded + parsed.latency.height + parsed.metrics.height + parsed.rejects.height + parsed.skipped


def each_line_once(parsed: Parsed, lines: list[str]) -> Parsed:
    """``parsed``, once checked to account for each of ``lines`` exactly once."""
    assert accounted(parsed) == len(lines), f"{accounted(parsed)} lines accounted for, of {len(lines)}"
    return parsed


def utc(stamp: str) -> dt.datetime:
    """The time an ISO 8601 stamp ("2026-11-24 23:50:01.123456") names, in UTC; a stamp
    without an offset is read as UTC."""
    when = dt.datetime.fromisoformat(stamp)
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


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


def generate_logs(
    out,
    *,
    size: str = "2MB",
    seed: int = 3,
    hosts: int | None = None,
    days: float | None = None,
    timeout_s: float = 600,
) -> dict:
    """Run the benchmark generator (``bench/generate.py``) into ``out``: a fleet's logs in
    ``out/logs`` (one folder per machine, and the pipeline.toml that reads them) with one
    planted incident of every cause; gives its manifest."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shape = (["--hosts", str(hosts)] if hosts else []) + (["--days", str(days)] if days else [])
    subprocess.run(
        [sys.executable, str(root / "bench" / "generate.py"), "--size", size, "--seed", str(seed)]
        + shape
        + ["--out", str(out), "--quiet"],
        check=True,
        cwd=root,
        timeout=timeout_s,
    )
    return json.loads((Path(out) / "manifest.json").read_text())


def start_dashboard(db, port: int, log):
    """``pipeline dashboard`` over ``db`` on ``port`` in another process, its output
    (unbuffered) written to the open file ``log``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "dashboard", "--db", str(db), "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def run_python(*args, cwd=ROOT, env=None, timeout_s: float = 600) -> subprocess.CompletedProcess:
    """Run this Python on ``args`` (a script or ``-m module``, then its arguments) in ``cwd``,
    its output captured as text; fail the test, with that output, unless it exits 0."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def write_log(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (text or bytes) to ``path``, gzipped when its name ends in ``.gz``."""
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def fleet_collection(out: Path, *, size: str = "20MB", hosts: int = 4, days: float = 2) -> Path:
    """A generated fleet's logs (``out/logs``) ingested machine by machine, as each machine
    would, into one Parquet collection (``out/fleet``); gives the collection."""
    from pipeline.parquet_out import ingest_to_parquet

    generate_logs(out, size=size, seed=7, hosts=hosts, days=days)
    logs = out / "logs"
    for machine in sorted(p for p in logs.iterdir() if p.is_dir()):
        ingest_to_parquet([machine], out / "fleet", machine=machine.name, config=logs / "pipeline.toml")
    return out / "fleet"


# --- comparing two correlations' results


def incident_rows(con, source: str = "incidents") -> list[dict]:
    cur = con.execute(f"SELECT * FROM {source} ORDER BY start_ts, incident_id")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def evidence_rows(con, source: str = "incident_evidence") -> list[tuple]:
    return con.execute(f"SELECT * FROM {source} ORDER BY incident_id, seq").fetchall()


def assert_close(a, b, path: str = "") -> None:
    """Equal, floats within 1e-9 (sums may be added up in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) < 1e-9, f"{path}: {a} != {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def assert_same_incidents(want_con, got_con, incidents: str = "incidents", evidence: str = "incident_evidence") -> int:
    """``got_con``'s incidents (from ``incidents``/``evidence``, tables or Parquet reads) are
    ``want_con``'s store's: ids, causes, times, hosts, summaries, advice, confidence, scores
    and details (floats within 1e-9), evidence rows; gives how many."""
    import json

    want, got = incident_rows(want_con), incident_rows(got_con, incidents)
    assert [i["incident_id"] for i in got] == [i["incident_id"] for i in want]
    for w, g in zip(want, got):
        where = w["incident_id"]
        for col in ("cause", "start_ts", "end_ts", "hosts", "errors", "summary", "advice"):
            assert g[col] == w[col], f"{where} {col}"
        assert abs(g["confidence"] - w["confidence"]) < 1e-9, where
        assert_close(json.loads(w["scores"]), json.loads(g["scores"]), f"{where} scores")
        assert_close(json.loads(w["details"]), json.loads(g["details"]), f"{where} details")
    assert evidence_rows(got_con, evidence) == evidence_rows(want_con)
    return len(want)
