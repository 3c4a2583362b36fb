"""Scale simulation: a generated fleet ingested machine by machine into one Parquet collection,
then correlated by DuckDB and by Spark in local mode, the two results compared.

    python bench/scale.py                  # 50 application hosts x 30 days (1500 MB of logs)
    python bench/scale.py --quick          # 4 hosts x 2 days (20 MB): a smoke test
    python bench/scale.py --no-spark       # DuckDB only

Steps, each child process timed with the peak RSS of its whole process tree:

1. ``bench/generate.py`` writes the fleet's logs (reused while size, seed, hosts and days match);
2. every machine's folder is ingested on its own, ``--parallel`` at a time, as each machine of a
   fleet would: ``pipeline ingest logs/M --out fleet --machine M``;
3. ``pipeline correlate --engine duckdb --parquet fleet`` (DuckDB reads the partitions in place);
4. ``pipeline correlate --engine spark --parquet fleet`` (Spark ``local[*]``: Python driver + JVM);
5. the engines' incidents and evidence rows are compared, and scored against the planted truth.

Writes ``bench/results/scale-<date>.json`` (``scale-<date>-quick.json`` for ``--quick``) and
prints a markdown table.  Generated logs go to ``bench/data/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import run as bench_run  # noqa: E402

FULL_FLEET = {"size": "1500MB", "hosts": 50, "days": 30.0}
QUICK_FLEET = {"size": "20MB", "hosts": 4, "days": 2.0}
SAMPLE_EVERY_S = 0.2
CORRELATE_TIMEOUT_S = 25 * 60
RESULT_TABLES = ("incidents", "incident_evidence")
EVIDENCE_COLUMNS = ("incident_id", "seq", "source", "kind", "event_id", "file", "line_no")
CONFIDENCE_TOLERANCE = 1e-9
SHOWN_DIFFERENCES = 5


# --------------------------------------------------------------------------------------
# peak RSS of a process tree, sampled from /proc (no psutil here): the Spark driver starts a
# JVM, so the child's own figure (GNU time, wait4) would leave most of the memory out


def _parent_of_every_process() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended between the listing and the read
            continue
        # the command name may hold spaces and parentheses: the fields that follow it start
        # after the last ")" (state, then the parent's pid)
        fields = text[text.rfind(")") + 2 :].split()
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    children = defaultdict(list)
    for pid, parent in _parent_of_every_process().items():
        children[parent].append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0  # ended, or a zombie (no VmRSS line)


def tree_rss_kib(root: int) -> int:
    return sum(rss_kib(pid) for pid in process_tree(root))


def run_sampled(cmd: list[str], *, cwd: Path, timeout: float | None = None) -> dict:
    """Run ``cmd``; its wall seconds, the peak RSS (MB) of its process tree sampled every
    SAMPLE_EVERY_S while it runs, its exit code and output.  Killed after ``timeout`` s."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        # a session of its own, so that a timeout can end the JVM along with its driver
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=_child_env(), start_new_session=True)
        peak_kib, timed_out = 0, False
        while True:
            peak_kib = max(peak_kib, tree_rss_kib(proc.pid))
            try:
                proc.wait(timeout=SAMPLE_EVERY_S)
                break
            except subprocess.TimeoutExpired:
                if timeout is not None and time.perf_counter() - started > timeout:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    timed_out = True
                    break
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {
            "seconds": seconds,
            "rss_mb": peak_kib / 1024,
            "rc": proc.returncode,
            "timed_out": timed_out,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace")[-4000:],
        }


def _child_env() -> dict[str, str]:
    # the children run in the fleet's folder (so no ./pipeline.toml of the checkout sets
    # thresholds): the checkout's package must still be the one imported
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _json_summary(res: dict) -> dict:
    """The JSON a `pipeline ... --json` child printed (a failed ingest prints one too), or {}."""
    text = res["stdout"]
    try:
        return json.loads(text[text.index("{") :])
    except ValueError:  # none printed, or cut short
        return {}


# --------------------------------------------------------------------------------------
# step 1: the fleet's logs


def fleet_folder(data: Path, size: int, hosts: int, days: float, seed: int) -> Path:
    return data / f"scale-{bench_run.generate_label(size)}-h{hosts}-d{days:g}-s{seed}"


def _reusable(out: Path, size: int, hosts: int, days: float, seed: int) -> dict | None:
    path = out / "manifest.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    same_fleet = (
        m.get("seed") == seed
        and m.get("size_requested") == size
        and len(m.get("hosts", [])) == hosts
        and m.get("span_days") == round(days, 2)
    )
    return m if same_fleet and bench_run._tree_intact(out, m) else None


def ensure_fleet_logs(out: Path, args, log) -> tuple[dict, float | None]:
    """The fleet's manifest, and the seconds generating it took (None when reused)."""
    size = generate.parse_size(args.size)
    manifest = _reusable(out, size, args.hosts, args.days, args.seed)
    if manifest:
        log(f"reusing {out} ({manifest['bytes'] / 1e6:,.0f} MB)")
        return manifest, None
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(HERE / "generate.py"), "--size", args.size, "--hosts", str(args.hosts)]
    cmd += ["--days", f"{args.days:g}", "--seed", str(args.seed), "--out", str(out), "--quiet"]
    log("generating: " + shlex.join(cmd))
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads((out / "manifest.json").read_text()), time.perf_counter() - started


def fleet_machines(manifest: dict) -> list[str]:
    return [*manifest["hosts"], *manifest["dbs"]]


# --------------------------------------------------------------------------------------
# step 2: every machine ingests its own logs into the shared collection


def ingest_machine(logs: Path, fleet: Path, machine: str) -> dict:
    # no --config: the generator's logs/pipeline.toml (MariaDB logs in Berlin time) sits above
    # every machine's folder, and ingest applies the nearest one above each file
    cmd = bench_run.pipeline_cmd("ingest", str(logs / machine), "--out", str(fleet), "--machine", machine, "--json")
    res = run_sampled(cmd, cwd=fleet.parent)
    summary = _json_summary(res)
    totals = summary.get("totals", {})
    return {
        "machine": machine,
        "seconds": res["seconds"],
        "rss_mb": res["rss_mb"],
        "ok": res["rc"] == 0 and bool(summary) and not totals.get("errors"),
        "error": None if res["rc"] == 0 and not totals.get("errors") else _ingest_error(res, summary),
        "bytes": totals.get("bytes", 0),
        "events": totals.get("events", 0),
        "latency": totals.get("latency", 0),
        "metrics": totals.get("metrics", 0),
        "rejects": totals.get("rejects", 0),
        "parts_written": summary.get("out", {}).get("parts_written", 0),
    }


def _ingest_error(res: dict, summary: dict) -> str:
    unread = [f"{f['path']}: {f['error']}" for f in summary.get("files", []) if f.get("error")]
    return "; ".join(unread) or res["stderr"][-1000:].strip() or f"exit code {res['rc']}"


def ingest_machine_retrying_once(logs: Path, fleet: Path, machine: str) -> dict:
    first = ingest_machine(logs, fleet, machine)
    if first["ok"]:
        return first
    # machines whose first runs start together on an empty folder can fail while the collection
    # is being created ("not empty and not a collection"): a fleet's next cron run would succeed,
    # so the machine runs once more, and the first attempt is kept in the results
    again = ingest_machine(logs, fleet, machine)
    again["first_attempt"] = {key: first[key] for key in ("seconds", "rss_mb", "error")}
    return again


def ingest_fleet(logs: Path, fleet: Path, machines: list[str], parallel: int, log) -> dict:
    shutil.rmtree(fleet, ignore_errors=True)  # a first ingest of every machine, not a re-run
    fleet.mkdir(parents=True)
    done: list[dict] = []

    def one(machine: str) -> dict:
        r = ingest_machine_retrying_once(logs, fleet, machine)
        done.append(r)
        status = "ok" if r["ok"] else f"FAILED: {r['error']}"
        if "first_attempt" in r:
            status += f" (second attempt; the first: {r['first_attempt']['error']})"
        log(f"  [{len(done)}/{len(machines)}] {machine}: {r['seconds']:.1f} s, {r['rss_mb']:.0f} MB, {status}")
        return r

    started = time.perf_counter()
    # threads only wait: each machine's ingest is a process of its own, like a machine of a fleet
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        per_machine = list(pool.map(one, machines))
    wall = time.perf_counter() - started
    return summarise_ingest(per_machine, wall, parallel, fleet)


def summarise_ingest(per_machine: list[dict], wall: float, parallel: int, fleet: Path) -> dict:
    seconds = [r["seconds"] for r in per_machine]
    log_bytes = sum(r["bytes"] for r in per_machine)
    return {
        "parallel": parallel,
        "machines": len(per_machine),
        "ok": sum(r["ok"] for r in per_machine),
        "failed": [r["machine"] for r in per_machine if not r["ok"]],
        "retried": [r["machine"] for r in per_machine if "first_attempt" in r],
        "wall_s": wall,
        "per_machine_median_s": statistics.median(seconds),
        "per_machine_max_s": max(seconds),
        "peak_rss_mb": max(r["rss_mb"] for r in per_machine),
        "log_mb": log_bytes / 1e6,
        "mb_per_s": log_bytes / 1e6 / wall,
        "events": sum(r["events"] for r in per_machine),
        "latency_rows": sum(r["latency"] for r in per_machine),
        "metrics_rows": sum(r["metrics"] for r in per_machine),
        "rejects": sum(r["rejects"] for r in per_machine),
        "parquet": parquet_footprint(fleet),
        "per_machine": per_machine,
    }


def parquet_footprint(fleet: Path) -> dict:
    """Files and bytes per table of the collection (``_progress`` is the machines' bookkeeping)."""
    tables: dict[str, dict] = {}
    for f in fleet.rglob("*.parquet"):
        table = f.relative_to(fleet).parts[0]
        t = tables.setdefault(table, {"files": 0, "bytes": 0, "partitions": set()})
        t["files"] += 1
        t["bytes"] += f.stat().st_size
        t["partitions"].add(f.parent)
    for t in tables.values():
        t["partitions"] = len(t["partitions"])
        t["mean_file_kb"] = t["bytes"] / t["files"] / 1024
    data = [t for name, t in tables.items() if not name.startswith("_")]
    return {
        "files": sum(t["files"] for t in data),
        "bytes": sum(t["bytes"] for t in data),
        "by_table": dict(sorted(tables.items())),
    }


# --------------------------------------------------------------------------------------
# steps 3 and 4: correlate the collection


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    for module in ("pyspark", "sqlglot"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime on PATH (Spark needs Java 17 or later)"
    return None


def correlate(engine: str, fleet: Path, timeout: float) -> dict:
    cmd = bench_run.pipeline_cmd("correlate", "--engine", engine, "--parquet", str(fleet), "--format", "json")
    res = run_sampled(cmd, cwd=fleet.parent, timeout=timeout)
    summary = _json_summary(res) if res["rc"] == 0 else {}
    row = {
        "command": "pipeline " + shlex.join(cmd[3:]),
        "seconds": res["seconds"],
        "rss_mb": res["rss_mb"],
        "ok": bool(summary),
        "incidents": summary.get("incidents"),
        "by_cause": summary.get("by_cause"),
        "inner_seconds": summary.get("seconds"),
    }
    if engine == "spark":
        row["master"] = summary.get("master")
    if res["timed_out"]:
        row["error"] = f"stopped after {timeout:.0f} s"
    elif not summary:
        row["error"] = res["stderr"][-2000:]
    return row


def keep_result(fleet: Path, dest: Path) -> Path:
    """Copy an engine's incidents aside: the next engine's run replaces them in the folder."""
    shutil.rmtree(dest, ignore_errors=True)
    for table in RESULT_TABLES:
        shutil.copytree(fleet / table, dest / table)
    return dest


# --------------------------------------------------------------------------------------
# step 5: the engines agree, and find what was planted


def _rows(result: Path, table: str, columns: tuple[str, ...]) -> list[tuple]:
    return duckdb.execute(
        f"SELECT {', '.join(columns)} FROM read_parquet(?)", [str(result / table / "*.parquet")]
    ).fetchall()


def _differing_incidents(a: dict, b: dict, a_name: str, b_name: str) -> dict:
    diff = {}
    if only := sorted(a.keys() - b.keys()):
        diff[f"incidents_only_{a_name}"] = only
    if only := sorted(b.keys() - a.keys()):
        diff[f"incidents_only_{b_name}"] = only
    changed = [
        {"incident_id": i, a_name: a[i], b_name: b[i]}
        for i in sorted(a.keys() & b.keys())
        if a[i][0] != b[i][0] or abs((a[i][1] or 0) - (b[i][1] or 0)) > CONFIDENCE_TOLERANCE
    ]
    if changed:
        diff["cause_or_confidence_differs"] = changed
    return diff


def _differing_evidence(a: Counter, b: Counter, a_name: str, b_name: str) -> dict:
    diff = {}
    for name, extra in ((a_name, a - b), (b_name, b - a)):
        if extra:
            rows = sorted(extra.elements(), key=str)
            diff[f"evidence_only_{name}"] = {"rows": len(rows), "first": rows[:SHOWN_DIFFERENCES]}
    return diff


def compare_results(a: Path, b: Path, a_name: str = "duckdb", b_name: str = "spark") -> str | dict:
    """ "same", or what differs: incident ids, cause, confidence (within 1e-9), evidence rows."""
    incidents = [
        {i: (cause, conf) for i, cause, conf in _rows(r, "incidents", ("incident_id", "cause", "confidence"))}
        for r in (a, b)
    ]
    evidence = [Counter(_rows(r, "incident_evidence", EVIDENCE_COLUMNS)) for r in (a, b)]
    diff = _differing_incidents(*incidents, a_name, b_name) | _differing_evidence(*evidence, a_name, b_name)
    return diff or "same"


def score_against_truth(result: Path, truth_dir: Path) -> dict:
    """Planted incidents found and named right: bench/run.py's accuracy() (pipeline.evaluate's
    matching), which reads a store's ``incidents`` table; a small DuckDB file holding the
    engine's incidents is that store."""
    db = result / "incidents.duckdb"
    db.unlink(missing_ok=True)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE incidents AS SELECT * FROM read_parquet(?)", [str(result / "incidents/*.parquet")])
    return bench_run.accuracy(db, truth_dir)


# --------------------------------------------------------------------------------------
# report


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e6:,.1f} MB"


def _ingest_row(ing: dict) -> str:
    pq = ing["parquet"]
    failed = f"; FAILED: {', '.join(ing['failed'])}" if ing["failed"] else ""
    if ing["retried"]:
        failed += f"; failed once, then ingested: {', '.join(ing['retried'])} (see JSON)"
    notes = (
        f"{ing['machines']} machines, {ing['parallel']} at a time; {ing['log_mb']:,.0f} MB of logs at "
        f"{ing['mb_per_s']:.1f} MB/s; {ing['events']:,} events; per machine median "
        f"{ing['per_machine_median_s']:.1f} s, max {ing['per_machine_max_s']:.1f} s; "
        f"{pq['files']:,} .parquet files, {_mb(pq['bytes'])}{failed}"
    )
    return f"| per-machine ingest (all machines) | {ing['wall_s']:.1f} | {ing['peak_rss_mb']:.0f} (per machine, max) | {notes} |"


def _correlate_row(what: str, row: dict, events: int, agree: str | dict | None = None) -> str:
    if "skipped" in row:
        return f"| {what} | | | skipped: {row['skipped']} |"
    if not row["ok"]:
        error = row.get("error", "").strip().splitlines()[-1:] or ["failed"]
        return f"| {what} | {row['seconds']:.1f} | {row['rss_mb']:.0f} | {error[0]} |"
    notes = f"{row['incidents']:,} incidents; {events / row['seconds']:,.0f} events/s"
    if agree is not None:
        notes += "; engines: " + (agree if isinstance(agree, str) else "DIFFER (see JSON)")
    return f"| {what} | {row['seconds']:.1f} | {row['rss_mb']:.0f} | {notes} |"


def _truth_line(result: dict) -> str:
    parts = []
    for engine, acc in result["truth"].items():
        if "planted" in acc:
            parts.append(
                f"{engine}: {acc['found']}/{acc['planted']} planted incidents found, "
                f"{acc['correct']} of {acc['incidents']} incidents named right"
            )
    return "Against the planted truth: " + ("; ".join(parts) or "not scored")


def report(result: dict) -> str:
    m, ing, corr, fleet = result["machine"], result["ingest"], result["correlate"], result["fleet"]
    lines = [
        "| what | seconds | peak RSS MB | notes |",
        "|---|---:|---:|---|",
        _ingest_row(ing),
        _correlate_row("correlate DuckDB over the partitions", corr["duckdb"], ing["events"]),
        _correlate_row("correlate Spark local[*]", corr["spark"], ing["events"], result.get("engines_agree")),
        "",
        _truth_line(result),
        f"Command: {result['command']}",
        f"Processor: {m['cpu'] or 'unknown'} ({m['cpus']} cores); load average "
        f"{m['load_avg_before'][0]:.2f} before, {m['load_avg_after'][0]:.2f} after",
        f"Fleet: {len(fleet['hosts'])} application hosts, database servers: {len(fleet['dbs'])}; "
        f"{fleet['span_days']:g} days, {fleet['log_mb']:,.0f} MB of logs in {fleet['files']} files",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", help=f"total log bytes (default {FULL_FLEET['size']}; --quick {QUICK_FLEET['size']})")
    ap.add_argument("--hosts", type=int, help=f"application hosts (default {FULL_FLEET['hosts']})")
    ap.add_argument("--days", type=float, help=f"days the logs span (default {FULL_FLEET['days']:g})")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=str(HERE / "data"), help="where the fleet's folder goes (default bench/data)")
    ap.add_argument("--parallel", type=int, default=os.cpu_count() or 1, help="machines ingesting at once")
    ap.add_argument("--no-spark", action="store_true", help="skip the Spark row")
    ap.add_argument("--quick", action="store_true", help="a small fleet (4 hosts x 2 days, 20 MB): a smoke test")
    ap.add_argument("--keep", action="store_true", help="keep the Parquet collection (the logs are always kept)")
    ap.add_argument(
        "--correlate-timeout", type=float, default=CORRELATE_TIMEOUT_S, help="seconds allowed for each correlation"
    )
    ap.add_argument("--results", help="result JSON (default bench/results/scale-<date>[-quick].json)")
    args = ap.parse_args(argv)
    defaults = QUICK_FLEET if args.quick else FULL_FLEET
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.parallel < 1:
        ap.error("--parallel must be at least 1")
    return args


def results_path(args) -> Path:
    if args.results:
        return Path(args.results)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return HERE / "results" / f"scale-{date}{'-quick' if args.quick else ''}.json"


def machine_info() -> dict:
    return {
        "cpu": bench_run._cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # other work shares the machine: the load around the run says how much
        "load_avg_before": list(os.getloadavg()),
        "rss_by": f"VmRSS of the process and its descendants, sampled every {SAMPLE_EVERY_S} s",
    }


def correlate_both(fleet: Path, out: Path, args, log) -> tuple[dict, dict]:
    """Each engine's row, and where each kept its incidents."""
    rows, kept = {}, {}
    for engine in ("duckdb", "spark"):
        why_not = "--no-spark" if args.no_spark else spark_missing()
        if engine == "spark" and why_not:
            rows[engine] = {"skipped": why_not}
            continue
        log(f"correlating with {engine}")
        rows[engine] = correlate(engine, fleet, args.correlate_timeout)
        log(
            f"  {rows[engine]['seconds']:.1f} s, {rows[engine]['rss_mb']:.0f} MB, {rows[engine]['incidents']} incidents"
        )
        if rows[engine]["ok"]:
            kept[engine] = keep_result(fleet, out / f"incidents-{engine}")
    return rows, kept


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/scale.py", *(sys.argv[1:] if argv is None else argv)])

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    result: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "machine": machine_info(),
    }
    out = fleet_folder(Path(args.data), generate.parse_size(args.size), args.hosts, args.days, args.seed)
    manifest, generate_s = ensure_fleet_logs(out, args, log)
    result["fleet"] = {
        "folder": str(out),
        "hosts": manifest["hosts"],
        "dbs": manifest["dbs"],
        "span_days": manifest["span_days"],
        "log_mb": manifest["bytes"] / 1e6,
        "files": len(manifest["files"]),
        "planted_incidents": len(manifest["incidents"]),
        "generate_seconds": generate_s,
    }
    machines = fleet_machines(manifest)
    fleet = out / "fleet"
    log(f"ingesting {len(machines)} machines, {args.parallel} at a time, into {fleet}")
    result["ingest"] = ingest_fleet(out / manifest["logs"], fleet, machines, args.parallel, log)
    try:
        result["correlate"], kept = correlate_both(fleet, out, args, log)
    finally:
        if not args.keep:
            shutil.rmtree(fleet, ignore_errors=True)
    if len(kept) == 2:
        result["engines_agree"] = compare_results(kept["duckdb"], kept["spark"])
    result["truth"] = {engine: score_against_truth(folder, out) for engine, folder in kept.items()}
    result["machine"]["load_avg_after"] = list(os.getloadavg())
    result["seconds"] = time.perf_counter() - started

    path = results_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bench_run._round(result), indent=2, default=str) + "\n", encoding="utf-8")
    print(report(result))
    print(f"\nrun: {result['seconds']:.0f} s; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
