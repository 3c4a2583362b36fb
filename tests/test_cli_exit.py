"""A command that succeeded ends without the interpreter's teardown (pipeline.cli._exit_done),
and loses nothing by it: the whole output, exit handlers, a thread still at work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_main(tmp_path: Path, before: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    db = tmp_path / "s.duckdb"
    code = textwrap.dedent(
        f"""
        import sys
        sys.argv = ["pipeline", "ingest", {str(ROOT / "sample_logs" / "network")!r}, "--db", {str(db)!r},
                    "--no-correlate", "--json"]
        {textwrap.indent(textwrap.dedent(before), " " * 8).strip()}
        from pipeline.cli import main
        main()
        raise SystemExit("main() returned instead of ending the process")
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_a_command_that_succeeded_ends_with_its_whole_output_and_its_exit_handlers(tmp_path):
    marker = tmp_path / "atexit-ran"
    result = run_main(
        tmp_path,
        f"""
        import atexit, pathlib
        atexit.register(pathlib.Path({str(marker)!r}).write_text, "yes")
        """,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # the JSON is whole: nothing was cut at the end
    assert summary["totals"]["events"] == 2323
    assert marker.read_text() == "yes"
    assert "returned instead" not in result.stderr


def test_a_thread_still_at_work_gets_the_ordinary_exit(tmp_path):
    marker = tmp_path / "thread-done"
    result = run_main(
        tmp_path,
        f"""
        import pathlib, threading
        import pipeline.cli as cli_module
        release = threading.Event()
        def late():  # still at work when the command is done, whatever the command took
            release.wait(60)
            pathlib.Path({str(marker)!r}).write_text("done")
        threading.Thread(target=late).start()
        exit_done = cli_module._exit_done
        def exit_done_then_release():
            exit_done()  # must return: the thread is alive
            release.set()
        cli_module._exit_done = exit_done_then_release
        """,
    )
    # main() returned (no fast exit), so the script's own SystemExit ended it, after the thread
    assert "returned instead" in result.stderr
    assert marker.read_text() == "done"
    assert json.loads(result.stdout)["totals"]["events"] == 2323


def test_an_ingest_does_not_build_pyarrows_compute_functions(tmp_path):
    """Lines reach polars through the Arrow C data interface (files._ArrowInterface): given
    the pyarrow array, polars imported pyarrow.compute, 0.04 s of every ingest's start."""
    result = run_main(
        tmp_path,
        """
        import atexit
        atexit.register(lambda: print("compute imported:", "pyarrow.compute" in sys.modules, file=sys.stderr))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["events"] == 2323
    assert "compute imported: False" in result.stderr


BLAS_REPORT = """
import atexit, os
def report():
    import numpy  # already imported by the ingest: the value it saw is the one it kept
    print("blas threads:", os.environ.get("OPENBLAS_NUM_THREADS"), file=sys.stderr)
atexit.register(report)
"""


def test_numpys_blas_gets_one_thread_unless_the_environment_says(tmp_path):
    """OpenBLAS, loaded with numpy, starts a thread per core that spins for about 0.1 s of
    CPU, though nothing in the pipeline multiplies matrices (pipeline.cli.main)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    result = run_main(tmp_path, BLAS_REPORT, env=env)
    assert result.returncode == 0, result.stderr
    assert "blas threads: 1" in result.stderr
    (tmp_path / "s.duckdb").unlink()
    result = run_main(tmp_path, BLAS_REPORT, env={**env, "OPENBLAS_NUM_THREADS": "2"})
    assert result.returncode == 0, result.stderr
    assert "blas threads: 2" in result.stderr
