"""``pipeline eval``: score correlation against recorded scenarios with known faults.

Every folder under the given directory that holds a ``truth.json`` is a
scenario: a list of ``{"start", "end", "cause"}`` windows (empty for a
fault-free baseline).  Each scenario is ingested into a temporary store and
correlated with the thresholds of its own ``pipeline.toml`` (``[correlate]``).

Real excerpts count too: a ``.log`` with a ``.toml`` beside it holding a ``[verdict]`` table
(``cause``, ``why``, ``excerpt_alone``; see ``tests/wild/VERDICTS.md``) is ingested alone, and
its truth is one window over the excerpt's own time span naming that cause, or none when the
cause is ``"none"`` (no connection dropped: any incident there is false).  Only excerpts whose
own lines are enough (``excerpt_alone = true``) are scored (the tool reads the log, not the
thread), and not those whose cause nobody could tell (``"unknown"``).

Matching: an incident matches a truth window when it overlaps the window
extended by ``MATCH_GRACE_S`` (120 s) after its end *and* names the same cause.

* recall of a cause: truth windows of that cause matched by at least one incident;
* precision of a cause: incidents naming that cause that match a window of it;
* false incidents on fault-free time: incidents overlapping no (extended) truth window.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import store as store_mod
from pipeline.config import CONFIG_NAME, Config

MATCH_GRACE_S = 120.0
TRUTH_NAME = "truth.json"
NOT_LOGS = {TRUTH_NAME, CONFIG_NAME, "scenario.json"}  # the lab's metadata, not logs


def _ts(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Scenario:
    name: str
    path: Path
    truth: list[dict[str, Any]]  # windows: start, end, cause
    incidents: list[dict[str, Any]] = field(default_factory=list)
    idle_limit_s: float | None = None  # the idle limit the lab set (scenario.json), if any
    seconds: float = 0.0
    error: str | None = None

    def matches(self, inc: dict[str, Any], win: dict[str, Any]) -> bool:
        return inc["cause"] == win["cause"] and _overlaps(inc, win)

    def false_on_fault_free(self) -> list[dict[str, Any]]:
        return [i for i in self.incidents if not any(_overlaps(i, w) for w in self.truth)]


def _overlaps(inc: dict[str, Any], win: dict[str, Any]) -> bool:
    start, end = _ts(inc["start"]), _ts(inc["end"])
    w0, w1 = _ts(win["start"]), _ts(win["end"]) + timedelta(seconds=MATCH_GRACE_S)
    return start <= w1 and end >= w0


def find_scenarios(root: Path) -> list[Path]:
    root = Path(root)
    found = sorted({p.parent for p in root.rglob(TRUTH_NAME)})
    return found


def load_truth(folder: Path) -> list[dict[str, Any]]:
    data = json.loads((folder / TRUTH_NAME).read_text(encoding="utf-8"))
    if isinstance(data, dict):  # tolerate {"windows": [...]}
        data = data.get("windows", [])
    return [{"start": w["start"], "end": w["end"], "cause": w["cause"]} for w in data]


def find_excerpts(root: Path) -> list[Path]:
    """Labelled real excerpts below ``root``: ``X.toml`` with a ``[verdict]`` whose own lines
    suffice, beside an ``X.log``."""
    import tomllib

    found = []
    for toml in sorted(Path(root).rglob("*.toml")):
        if toml.name == CONFIG_NAME or not toml.with_suffix(".log").is_file():
            continue
        try:
            verdict = tomllib.loads(toml.read_text(encoding="utf-8")).get("verdict") or {}
        except (OSError, tomllib.TOMLDecodeError):
            continue
        # an excerpt whose cause nobody could tell ("unknown") cannot score a verdict
        if verdict.get("cause") not in (None, "unknown") and verdict.get("excerpt_alone", False):
            found.append(toml)
    return found


def run_excerpt(toml: Path, root: Path, settings_override: dict[str, Any] | None = None) -> Scenario:
    """Ingest one labelled excerpt alone and correlate it."""
    import tomllib

    from pipeline.correlate import rebuild
    from pipeline.ingest.runner import ingest_paths

    meta = tomllib.loads(toml.read_text(encoding="utf-8"))
    cause = meta["verdict"]["cause"]
    log = toml.with_suffix(".log")
    sc = Scenario(name=str(toml.relative_to(root).with_suffix("")), path=log, truth=[])
    with _scratch(sc) as tmp:
        db = tmp / "eval.duckdb"
        config = tmp / CONFIG_NAME
        zone = str(meta.get("timezone", "UTC")).replace('"', "")
        config.write_text(f'[[files]]\nglob = "{log.name}"\ntimezone = "{zone}"\nhost = "excerpt"\n')
        ingest_paths([log], db, config=config, correlate=False)
        with store_mod.opened(db) as con:
            rebuild(con, dict(settings_override or {}), force=True)
            span = con.execute(
                "SELECT strftime(timezone('UTC', min(ts)), '%Y-%m-%dT%H:%M:%S.%gZ'), "
                "strftime(timezone('UTC', max(ts)), '%Y-%m-%dT%H:%M:%S.%gZ') FROM events"
            ).fetchone()
            sc.incidents = _incident_rows(con)
        if cause != "none" and span and span[0]:
            sc.truth = [{"start": span[0], "end": span[1], "cause": cause}]
    return sc


@contextlib.contextmanager
def _scratch(sc: Scenario) -> Iterator[Path]:
    """A temporary folder for one scenario's store, removed afterwards; the time taken and
    any error land on ``sc`` (one broken scenario must not hide the others)."""
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-eval-"))
    try:
        yield tmp
    except Exception as exc:
        sc.error = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        sc.seconds = round(time.perf_counter() - t0, 2)


def _incident_rows(con: Any) -> list[dict[str, Any]]:
    from pipeline.causes.idle_timeout import IdleTimeoutDetails
    from pipeline.correlate.details import IncidentDetails

    rows = con.execute(
        """
        SELECT incident_id, strftime(timezone('UTC', start_ts), '%Y-%m-%dT%H:%M:%S.%gZ'),
               strftime(timezone('UTC', end_ts), '%Y-%m-%dT%H:%M:%S.%gZ'), cause, confidence, errors, details
        FROM incidents ORDER BY start_ts, incident_id
        """
    ).fetchall()
    return [
        {
            "id": r[0],
            "start": r[1],
            "end": r[2],
            "cause": r[3],
            "confidence": r[4],
            "errors": r[5],
            "idle_limit": IncidentDetails.from_json(r[6]).of(IdleTimeoutDetails).idle_limit,
        }
        for r in rows
    ]


def true_idle_limit(folder: Path) -> float | None:
    """The idle limit a lab recording ran with: its middlebox's (the first idle_kill of the
    timeline) or else the server's wait_timeout, from its ``scenario.json``."""
    path = folder / "scenario.json"
    if not path.is_file():
        return None
    settings = json.loads(path.read_text(encoding="utf-8"))
    for step in settings.get("timeline", []):
        if step.get("action") == "idle_kill" and (step.get("args") or {}).get("seconds"):
            return float(step["args"]["seconds"])
    wait = (settings.get("server_options") or {}).get("wait_timeout")
    return float(wait) if wait else None


def limit_estimate(idle_limit: dict[str, Any] | None) -> float | None:
    """One number for an inferred limit: the middle of its range (between the longest idle
    that worked and the shortest that failed), or the shortest that failed when nothing long
    worked."""
    if not idle_limit:
        return None
    lo, hi = idle_limit.get("ok_max_s"), float(idle_limit["fail_min_s"])
    return hi if lo is None else (float(lo) + hi) / 2


def scenario_settings(folder: Path) -> dict[str, Any]:
    """The folder's own [correlate] thresholds and [pool] settings (as ``pipeline correlate``
    reads them from ./pipeline.toml)."""
    cfg = folder / CONFIG_NAME
    if not cfg.is_file():
        return {}
    config = Config.load(cfg)
    return {**config.correlate, **({"pool": dict(config.pool)} if config.pool else {})}


def run_scenario(folder: Path, root: Path, settings_override: dict[str, Any] | None = None) -> Scenario:
    from pipeline.correlate import rebuild
    from pipeline.ingest.runner import ingest_paths

    name = str(folder.relative_to(root)) if folder != root else folder.name
    sc = Scenario(name=name, path=folder, truth=load_truth(folder), idle_limit_s=true_idle_limit(folder))
    with _scratch(sc) as tmp:
        db = tmp / "eval.duckdb"
        logs = sorted(p for p in folder.iterdir() if p.name not in NOT_LOGS and not p.name.endswith(".md"))
        ingest_paths(logs, db, correlate=False)
        settings = {**scenario_settings(folder), **(settings_override or {})}
        with store_mod.opened(db) as con:
            rebuild(con, settings, force=True)
            sc.incidents = _incident_rows(con)
    return sc


def score(scenarios: list[Scenario]) -> dict[str, Any]:
    causes = sorted(
        {w["cause"] for s in scenarios for w in s.truth} | {i["cause"] for s in scenarios for i in s.incidents}
    )
    per_cause: dict[str, dict[str, Any]] = {}
    for c in causes:
        windows = [(s, w) for s in scenarios for w in s.truth if w["cause"] == c]
        named = [(s, i) for s in scenarios for i in s.incidents if i["cause"] == c]
        found = sum(1 for s, w in windows if any(s.matches(i, w) for i in s.incidents))
        correct = sum(1 for s, i in named if any(s.matches(i, w) for w in s.truth))
        per_cause[c] = {
            "windows": len(windows),
            "found": found,
            "recall": round(found / len(windows), 3) if windows else None,
            "incidents": len(named),
            "correct": correct,
            "precision": round(correct / len(named), 3) if named else None,
        }
    per_scenario: list[dict[str, Any]] = []
    for s in scenarios:
        false = s.false_on_fault_free()
        per_scenario.append(
            {
                "scenario": s.name,
                "windows": len(s.truth),
                "incidents": len(s.incidents),
                "matched_windows": sum(1 for w in s.truth if any(s.matches(i, w) for i in s.incidents)),
                "false_on_fault_free_time": len(false),
                "false_incidents": false,
                "incident_list": s.incidents,
                "seconds": s.seconds,
                "error": s.error,
            }
        )
    limits = []
    for sc in scenarios:
        if sc.idle_limit_s is None:
            continue
        idle_named = [i for i in sc.incidents if i["cause"] == "idle_timeout" and i.get("idle_limit")]
        idle_right = [i for i in idle_named if any(sc.matches(i, w) for w in sc.truth)]
        estimate = limit_estimate(idle_right[0]["idle_limit"]) if idle_right else None
        limits.append(
            {
                "scenario": sc.name,
                "truth_s": sc.idle_limit_s,
                "estimate_s": estimate,
                "range_s": [idle_right[0]["idle_limit"].get("ok_max_s"), idle_right[0]["idle_limit"]["fail_min_s"]]
                if idle_right
                else None,
                "within_10pct": estimate is not None and abs(estimate - sc.idle_limit_s) <= 0.1 * sc.idle_limit_s,
            }
        )
    baseline_false = sum(p["incidents"] for p in per_scenario if p["windows"] == 0)
    return {
        "match_grace_seconds": MATCH_GRACE_S,
        "per_cause": per_cause,
        "per_scenario": per_scenario,
        "baseline_incidents": baseline_false,
        "false_on_fault_free_time": sum(p["false_on_fault_free_time"] for p in per_scenario),
        # the idle limit inferred against the one the lab set, where the lab set one
        "idle_limits": limits,
    }


def evaluate(
    root: str | Path,
    settings_override: dict[str, Any] | None = None,
    on_scenario: Callable[[Scenario], object] | None = None,
) -> dict[str, Any]:
    root = Path(root)
    scenarios = []
    for folder in find_scenarios(root):
        sc = run_scenario(folder, root, settings_override)
        if on_scenario:
            on_scenario(sc)
        scenarios.append(sc)
    for toml in find_excerpts(root):
        sc = run_excerpt(toml, root, settings_override)
        if on_scenario:
            on_scenario(sc)
        scenarios.append(sc)
    return score(scenarios)
