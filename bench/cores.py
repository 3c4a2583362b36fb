"""Cores: how much faster a directory of 8 files ingests on every core than on one.

    python bench/cores.py            # the 8 largest files of the generated 200 MB tree
    python bench/cores.py --pairs 5  # more rounds

The same 8 files are ingested into a new store (no correlation) with ``--jobs 1`` (the run
kept to one core) and with the default (one file per core, every core), in turns, ``--pairs``
times; the figure is the ratio of the medians, with the peak RSS of each.  Results go to
``bench/results/<date>-cores.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench_run

from pipeline.cores import available as available_cores

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.6  # the default against --jobs 1, on two cores or more


def eight_files(tree: Path) -> list[Path]:
    """The 8 largest log files of a generated tree (at 200 MB: its application and pool logs)."""
    logs = (p for p in (tree / "logs").rglob("*") if p.is_file() and p.suffix not in (".toml", ".json"))
    found = sorted(logs, key=lambda p: -p.stat().st_size)
    return found[:8]


def one_run(folder: Path, jobs: int | None, work: Path) -> dict:
    db = work / "cores.duckdb"
    for leftover in work.glob("cores.duckdb*"):
        leftover.unlink()
    args = ["ingest", str(folder), "--db", str(db), "--no-correlate", "--json"]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    res = bench_run.measure(bench_run.pipeline_cmd(*args), cwd=ROOT)
    summary = bench_run._json_out(res)
    return {
        "seconds": res["seconds"],
        "rss_mb": res["rss_mb"],
        "events": summary["totals"]["events"],
        "bytes": summary["totals"]["bytes"],
    }


def measure_cores(folder: Path, pairs: int, work: Path, log=print) -> dict:
    runs: dict[str, list[dict]] = {"jobs_1": [], "default": []}
    for i in range(pairs):
        # in turns, the order swapped each round, so a change in the machine's load falls on both
        order = [("jobs_1", 1), ("default", None)]
        for key, jobs in order if i % 2 == 0 else order[::-1]:
            r = one_run(folder, jobs, work)
            runs[key].append(r)
            log(f"  round {i + 1} {key:8} {r['seconds']:6.2f} s  {r['rss_mb']:6.0f} MB")
    if {r["events"] for r in runs["jobs_1"]} != {r["events"] for r in runs["default"]}:
        raise RuntimeError("the two ways stored different numbers of events")
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    nbytes = runs["default"][0]["bytes"]
    return {
        "files": len(list(folder.iterdir())),
        "bytes": nbytes,
        "events": runs["default"][0]["events"],
        "seconds": med,
        "mb_per_s": {k: nbytes / 1e6 / s for k, s in med.items()},
        "peak_rss_mb": {k: max(r["rss_mb"] for r in v) for k, v in runs.items()},
        "speedup": med["jobs_1"] / med["default"],
        "target": TARGET,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=bench_run.generate.parse_size, default=bench_run.generate.parse_size("200MB"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args(argv)

    bench_run.compile_package()
    tree, _ = bench_run.ensure_data(args.size, args.seed, args.data, print)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-cores-") as tmp:
        work = Path(tmp)
        folder = work / "eight"
        folder.mkdir()
        for i, p in enumerate(eight_files(tree)):
            dst = folder / f"{i:02d}-{p.parent.name}-{p.name}"
            try:
                os.link(p, dst)
            except OSError:
                shutil.copyfile(p, dst)
        print(f"8 files, {sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB; {args.pairs} pairs")
        result = measure_cores(folder, args.pairs, work)
    result.update(
        date=dt.date.today().isoformat(),
        cpu=bench_run._cpu_model(),
        cores=available_cores(),
        load_before=load_before,
        load_after=os.getloadavg()[0],
        command="python bench/cores.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    s = result["seconds"]
    print(
        f"--jobs 1: {s['jobs_1']:.2f} s ({result['mb_per_s']['jobs_1']:.1f} MB/s, "
        f"peak {result['peak_rss_mb']['jobs_1']:.0f} MB); default: {s['default']:.2f} s "
        f"({result['mb_per_s']['default']:.1f} MB/s, peak {result['peak_rss_mb']['default']:.0f} MB); "
        f"speedup {result['speedup']:.2f}x (target {TARGET}x) on {result['cores']} cores, {result['cpu']}"
    )
    out = args.results or ROOT / "bench" / "results" / f"{result['date']}-cores.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
