"""The README of a folder of recordings (``sample_logs/README.md``), made from the recordings."""

from __future__ import annotations

import json
from pathlib import Path

from lab import signatures
from lab.scenarios import SCENARIOS

HEADER = """\
# sample_logs: recorded lab runs

Every folder here is one real run of a fault-lab scenario (`lab/`): a private
MariaDB server (Debian's `mariadb-server`, {version}), a chaos TCP proxy between
application and server, a SQLAlchemy 2.x application with PyMySQL or
mysql-connector-python, and `pipeline probe`, all on loopback.  Nothing here was
typed by hand.  The README demo and the dashboard show these folders, and
`pipeline eval` scores verdicts against each folder's `truth.json`.

Each folder holds:

| file | written by | content |
|---|---|---|
| `app.log` | the application (Python logging, UTC) | `%(asctime)s - %(name)s - %(levelname)s - %(message)s`, tracebacks from `logger.exception`, the `app.db` pool-listener messages |
| `app.jsonl` | the application | the same events as JSON lines (`timestamp`, `level`, `logger`, `message`, `exc_info`) |
| `sqlalchemy.log` | SQLAlchemy | `sqlalchemy.pool` at DEBUG (`sqlalchemy.engine` at WARNING), echo format, UTC |
| `mariadb-error.log` | mariadbd | its error log as written (`--log-warnings=4`, server run with `TZ=UTC`) |
| `latency.csv` | `pipeline probe` through the app's path (the proxy) | `timestamp,target,rtt_ms`; empty `rtt_ms` = lost probe |
| `status.tsv` | `pipeline probe` | `SHOW GLOBAL STATUS` / `VARIABLES` snapshots every 5 s |
| `pipeline.toml` | the lab | `mariadb-error.log` and `status.tsv` are host `db-1`, the rest `app-1`; all UTC |
| `truth.json` | the lab | `[{{"start", "end", "cause"}}]`: when a fault was active, stamped by the lab's clock when it was switched on, and closed when it was switched off and every worker had run one more job (errors from connections it already broke surface until then); `[]` for the baseline |
| `scenario.json` | the lab | settings used (pool, timeouts, server options, timeline); no passwords |

## Re-recording

On a machine with `apt-get install mariadb-server` and `pip install -e '.[lab]'`:

```
pipeline lab run-all --out sample_logs          # every scenario, about {total_min} minutes
pipeline lab run network --out sample_logs/network   # one scenario
pipeline lab counts sample_logs/network         # error signatures per file
```

(`python -m lab run-all --out sample_logs` does the same without the `pipeline` command.)
Timestamps, connection ids and counts differ from run to run; the causes and
their order do not.

Things in the recordings that are the lab's, not the fault's: every
`mariadb-error.log` starts with the server starting and ends with its normal
shutdown after the application has stopped (connections a middlebox forgot are
still open then and are logged as `Aborted connection ... (KILLED)`); a
scenario's application starts about a second after the server.  `truth.json`,
`scenario.json` and this README are not logs; `pipeline ingest` lists them as
unknown formats.

## The recordings

"""


def write_readme(folder: str | Path) -> Path:
    folder = Path(folder)
    parts = []
    version = "10.11"
    total = 0.0
    for name, scenario in SCENARIOS.items():
        sub = folder / name
        if not sub.is_dir():
            continue
        total += scenario.duration
        settings = json.loads((sub / "scenario.json").read_text()) if (sub / "scenario.json").exists() else {}
        truth = json.loads((sub / "truth.json").read_text()) if (sub / "truth.json").exists() else []
        log = sub / "mariadb-error.log"
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("Version: '"):
                    version = line.split("'")[1]
                    break
        size = sum(p.stat().st_size for p in sub.iterdir() if p.is_file())
        pool = settings.get("pool", {})
        pool_text = ", ".join(f"{k}={v}" for k, v in pool.items() if v is not False)
        lines = [
            f"### `{name}/` ({scenario.duration:.0f} s, {scenario.driver}, {'via proxy' if scenario.via_proxy else 'direct'}, {size / 1024:.0f} KiB)",
            "",
            scenario.summary,
            "",
            f"- pool: {pool_text}; workers: {settings.get('workers', scenario.groups)}"
            + (f"; server: {settings.get('server_options')}" if settings.get("server_options") else ""),
            f"- recorded {settings.get('recorded_start', '?')} .. {settings.get('recorded_end', '?')}",
        ]
        if truth:
            for w in truth:
                lines.append(f"- truth: `{w['cause']}` {w['start']} .. {w['end']}")
        else:
            lines.append("- truth: `[]` (no fault)")
        lines += ["- error signatures:", ""]
        counts = signatures.count_folder(sub)
        for fname, c in counts.items():
            body = ", ".join(f"{k}: {v}" for k, v in c.items()) or "none"
            lines.append(f"  - `{fname}`: {body}")
        lines.append("")
        parts.append("\n".join(lines))
    text = HEADER.format(version=version, total_min=max(1, round(total / 60 + 0.5 * len(parts) / 6))) + "\n".join(parts)
    out = folder / "README.md"
    out.write_text(text)
    return out
