"""Counts of error signatures per file of a recorded folder.

Used to check that a scenario really produced its errors (and the baseline
none).  Client errors are counted once per logged event: in ``app.log`` by the
last line of each traceback, in ``app.jsonl`` per record.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

_CODE = re.compile(r"\b(1040|1045|1130|2003|2005|2006|2013|2055|3024|4031)\b")
CODE_NAMES = {
    "1040": "1040 too many connections",
    "1045": "1045 access denied",
    "1130": "1130 host not allowed",
    "2003": "2003 can't connect",
    "2005": "2005 unknown host",
    "2006": "2006 server gone away",
    "2013": "2013 lost connection",
    "2055": "2055 lost connection",
    "3024": "3024 read timeout",  # mysql-connector's ReadTimeoutError
    "4031": "4031 idle disconnect",
}
# Client-side signatures that mean a dropped or refused connection.
CLIENT_DROP = set(CODE_NAMES.values()) | {"pool timeout (QueuePool limit)", "listener ping failed"}


def classify_client(text: str) -> str:
    if "QueuePool limit" in text:
        return "pool timeout (QueuePool limit)"
    m = _CODE.search(text)
    if m:
        return CODE_NAMES[m.group(1)]
    return "other error"


_EXC_LINE = re.compile(r"^(?:[\w.]+\.)?(?:[A-Z]\w*(?:Error|Exception|Timeout))(?::|$)")
_TS_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - ")


def count_app_log(path: Path) -> Counter:
    """One count per ERROR event (by its traceback's last exception line)."""
    counts: Counter = Counter()
    last_exc: str | None = None
    in_error = False
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if _TS_LINE.match(line):
                if in_error:
                    counts[classify_client(last_exc or "")] += 1
                in_error = " - ERROR - " in line or " - CRITICAL - " in line
                last_exc = None
                if " - WARNING - " in line and "Connection ping failed during checkout" in line:
                    counts["listener ping failed"] += 1
            elif in_error and _EXC_LINE.match(line):
                last_exc = line
    if in_error:
        counts[classify_client(last_exc or "")] += 1
    return counts


def _json_records(path: Path) -> Iterator[dict]:
    """The records of a JSON-lines log; a line cut off or garbled (the app killed mid-write) is skipped."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def count_app_jsonl(path: Path) -> Counter:
    counts: Counter = Counter()
    for rec in _json_records(path):
        if rec.get("level") in ("ERROR", "CRITICAL"):
            exc = [ln for ln in (rec.get("exc_info") or "").splitlines() if _EXC_LINE.match(ln)]
            counts[classify_client(exc[-1] if exc else rec.get("message", ""))] += 1
        elif rec.get("level") == "WARNING" and "Connection ping failed" in rec.get("message", ""):
            counts["listener ping failed"] += 1
    return counts


SQLALCHEMY_PATTERNS = [
    ("invalidate", re.compile(r"Invalidate connection")),
    ("pre-ping failed", re.compile(r"Pool pre-ping on connection .* failed")),
    ("reset failed", re.compile(r"Exception during reset or similar")),
    ("recycle", re.compile(r"exceeded timeout; recycling")),
]

MARIADB_PATTERNS = [
    ("aborted: timeout reading", re.compile(r"Aborted connection .*Got timeout reading communication packets")),
    ("aborted: error reading", re.compile(r"Aborted connection .*Got an error reading communication packets")),
    ("aborted: too many connections", re.compile(r"Aborted connection .*Too many connections")),
    ("aborted: killed", re.compile(r"Aborted connection .*\(KILLED\)")),
    (
        "aborted: other",
        re.compile(
            r"Aborted connection (?!.*(Got timeout reading|Got an error reading|Too many connections|\(KILLED\)))"
        ),
    ),
    ("access denied", re.compile(r"Access denied for user")),
    ("too many connections", re.compile(r"\[\w+\] (?!Aborted).*Too many connections")),
    ("normal shutdown", re.compile(r"Normal shutdown")),
    ("ready for connections", re.compile(r"ready for connections")),
    ("crash recovery", re.compile(r"crash recovery|Starting crash recovery|InnoDB: Starting final batch to recover")),
]


def _count_patterns(path: Path, patterns) -> Counter:
    counts: Counter = Counter()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            for name, rx in patterns:
                if rx.search(line):
                    counts[name] += 1
    return counts


def count_latency(path: Path) -> Counter:
    counts: Counter = Counter()
    with path.open(encoding="utf-8") as fh:
        next(fh, None)
        for line in fh:
            parts = line.rstrip("\n").split(",")
            if len(parts) != 3:
                continue
            kind = parts[1].split(":", 1)[0]
            counts[f"{kind} samples"] += 1
            if parts[2] == "":
                counts[f"{kind} lost"] += 1
            else:
                try:
                    if float(parts[2]) >= 500:
                        counts[f"{kind} >= 500 ms"] += 1
                except ValueError:
                    pass
    return counts


def count_status(path: Path) -> Counter:
    counts: Counter = Counter()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("# "):
                counts["snapshots"] += 1
    return counts


COUNTERS = {
    "app.log": count_app_log,
    "app.jsonl": count_app_jsonl,
    "sqlalchemy.log": lambda p: _count_patterns(p, SQLALCHEMY_PATTERNS),
    "mariadb-error.log": lambda p: _count_patterns(p, MARIADB_PATTERNS),
    "latency.csv": count_latency,
    "status.tsv": count_status,
}


def count_folder(folder: str | Path) -> dict[str, dict[str, int]]:
    folder = Path(folder)
    out = {}
    for name, fn in COUNTERS.items():
        path = folder / name
        if path.exists():
            out[name] = dict(sorted(fn(path).items()))
    return out


def client_drops(counts: dict[str, dict[str, int]]) -> int:
    """Client-side drop errors in app.log."""
    return sum(v for k, v in counts.get("app.log", {}).items() if k in CLIENT_DROP)


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    lines = []
    for name, c in counts.items():
        body = ", ".join(f"{k}: {v}" for k, v in c.items()) or "(none)"
        lines.append(f"  {name:<18} {body}")
    return "\n".join(lines)


def errors_outside_truth(folder: str | Path) -> list[str]:
    """Timestamps of app.jsonl ERROR records that fall outside every truth window."""
    folder = Path(folder)
    truth_path, app = folder / "truth.json", folder / "app.jsonl"
    if not truth_path.exists() or not app.exists():
        return []
    windows = [(w["start"], w["end"]) for w in json.loads(truth_path.read_text())]
    out = []
    for rec in _json_records(app):
        if rec.get("level") in ("ERROR", "CRITICAL"):
            ts = rec.get("timestamp", "")
            if not any(a <= ts <= b for a, b in windows):
                out.append(ts)
    return out
