"""``python -m lab list | run SCENARIO --out DIR | run-all --out DIR | counts DIR | readme DIR [--realtime]``.

``run-all`` runs the short scenarios (``sample_logs/``); a real-time scenario
(half an hour or more) runs only by name with ``run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="The fault lab.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list scenarios")
    run = sub.add_parser("run", help="run one scenario")
    run.add_argument("scenario")
    run.add_argument("--out", required=True)
    run.add_argument("--json", action="store_true")
    run_all = sub.add_parser("run-all", help="run every scenario into OUT/<scenario>/")
    run_all.add_argument("--out", required=True)
    run_all.add_argument("--only", nargs="*")
    counts = sub.add_parser("counts", help="error signatures per file of a recorded folder")
    counts.add_argument("folder")
    readme = sub.add_parser("readme", help="write FOLDER/README.md from the recordings in it")
    readme.add_argument("folder")
    readme.add_argument("--realtime", action="store_true", help="a folder of real-time recordings")
    args = parser.parse_args(argv)

    from lab import scenarios, signatures

    if args.cmd == "list":
        for s in scenarios.SCENARIOS.values():
            print(f"{s.name:<24} {s.duration:>4.0f}s  {s.summary}")
        for s in scenarios.REALTIME_SCENARIOS.values():
            print(f"{s.name:<24} {s.duration:>4.0f}s  (real-time; run by name) {s.summary}")
        return 0
    if args.cmd == "counts":
        print(signatures.format_counts(signatures.count_folder(args.folder)))
        return 0
    if args.cmd == "readme":
        from lab.samples import write_readme

        print(f"wrote {write_readme(args.folder, realtime=args.realtime)}", file=sys.stderr)
        return 0

    from lab.mariadb import MariaDBMissing, require_mariadb
    from lab.runner import run_scenario

    try:
        require_mariadb()
    except MariaDBMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = [args.scenario] if args.cmd == "run" else (args.only or list(scenarios.SCENARIOS))
    failed = 0
    for name in names:
        try:
            scenario = scenarios.get(name)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        out = Path(args.out) if args.cmd == "run" else Path(args.out) / name
        print(f"{name}: recording {scenario.duration:.0f}s into {out}", file=sys.stderr)
        result = run_scenario(scenario, out, echo=lambda m: print(m, file=sys.stderr))
        if getattr(args, "json", False):
            print(json.dumps(result, indent=2))
        else:
            print(report(result))
        failed += bool(result["problems"])
    if args.cmd == "run-all":
        from lab.samples import write_readme

        print(f"wrote {write_readme(args.out)}", file=sys.stderr)
    return 1 if failed else 0


def report(result: dict) -> str:
    from lab.signatures import format_counts

    lines = [f"{result['scenario']}: {result['seconds']}s -> {result['out']}"]
    for w in result["truth"]:
        lines.append(f"  truth {w['cause']:<16} {w['start']} .. {w['end']}")
    if not result["truth"]:
        lines.append("  truth: no fault")
    lines.append(format_counts(result["counts"]))
    for p in result["problems"]:
        lines.append(f"  PROBLEM: {p}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
