"""The README of a folder of recordings, made from the recordings.

``sample_logs/README.md`` for the short scenarios, ``recordings/realtime/README.md``
(``realtime=True``) for the real-time ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from lab import signatures
from lab.scenarios import REALTIME_SCENARIOS, SCENARIOS

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
| `sqlalchemy.log` | SQLAlchemy | `sqlalchemy.pool` at DEBUG (`sqlalchemy.engine` at WARNING), echo format, UTC; absent when the scenario has `pool_debug=False` (a tutorial-style service that logs only its own listener lines) |
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

`tutorial_idle_silent/` and `tutorial_idle_reset/` are a tutorial-style
service (mysql-connector, `pool_recycle=3600`, a `SELECT 1` ping in a checkout
listener, `pool_debug=False`): they have no `sqlalchemy.log`, and an idle kill
shows in `app.log` only as the listener's WARNING `Connection ping failed
during checkout: MySQL Connection not available` followed by `Database
connection established.` and the job succeeding; no ERROR.  The warning reads
the same for a silent drop and a reset (mysql-connector's `cursor()` pings the
server first and reports a failed ping that way, without an error code); only
the job's duration (about the 4 s read timeout when silent) and the server log
(a reset is logged when it happens, a silent drop only at shutdown) differ.

Faults at the scale real services see them (idle limits of minutes, isolated
failures spread over a quiet night, a negative control just under the limit)
take half an hour each and live in `../recordings/realtime/` (its README says
how they are recorded); `pipeline eval recordings/realtime` scores them.

## The recordings

"""

REALTIME_HEADER = """\
# recordings/realtime: lab runs at real-time scale

The scenarios in `sample_logs/` squeeze a fault into a minute or two: idle
limits of 5-6 s, failures seconds apart.  Real idle limits are minutes (cloud
firewalls, load balancers, NAT gateways), and their failures are isolated
events spread over quiet time: one job fails at 02:13, the next at 02:17.
Every folder here is one real run of a real-time fault-lab scenario
(`lab/scenarios.py`, `REALTIME_SCENARIOS`), recorded in real time with the
same lab as `sample_logs/` (a private MariaDB server, Debian's `mariadb-server`
{version}, the chaos TCP proxy, a SQLAlchemy 2.x application, `pipeline probe`,
all on loopback).  Nothing here was typed by hand.

Each folder holds the same files as a `sample_logs/` folder (see
`sample_logs/README.md` for the table), except that a scenario with
`pool_debug=False` has no `sqlalchemy.log`.  Things to know:

- the middlebox (the proxy's idle kill) is there for the whole run, as a real
  firewall is; it only bites when a worker idles past its limit, so the
  `idle_timeout` truth window covers the quiet night (opened when the night
  phase starts, closed when busy traffic is back and every worker has run one
  more job), not the whole run;
- the **negative control** phase has every worker idle just under the limit:
  no failure may happen there, and it has no truth window (so any incident
  there counts as a false incident on fault-free time);
- a short network fault inside the night has its own `network` window, which
  lies inside the `idle_timeout` window: the two causes must stay apart;
- the timeline below gives each step as the lab's clock stamped it
  (`scenario.json` `events`); the phase names are the scenario's.

## Recording and scoring

```
python -m lab run realtime_idle_night --out recordings/realtime/realtime_idle_night        # {night_min} min
python -m lab run realtime_idle_tutorial --out recordings/realtime/realtime_idle_tutorial  # {tutorial_min} min
python -m lab readme recordings/realtime --realtime                                       # this README
pipeline eval recordings/realtime                                                         # score verdicts against truth.json
```

They are not part of `run-all` (and `pipeline lab run` does not know them);
`python -m lab list` shows them.  Each run has its own server (free port, own
datadir) and proxy (free port), so both can be recorded at the same time.
Timestamps, connection ids and counts differ from run to run; the causes,
their order and the clean negative control do not.

## The recordings

"""


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def write_readme(folder: str | Path, realtime: bool = False) -> Path:
    folder = Path(folder)
    parts = []
    version = "10.11"
    total = 0.0
    registry = REALTIME_SCENARIOS if realtime else SCENARIOS
    for name, scenario in registry.items():
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
        if not settings.get("pool_debug", True):
            pool_text += "; no SQLAlchemy pool log (pool_debug=False)"
        length = _minutes(scenario.duration) if realtime else f"{scenario.duration:.0f} s"
        lines = [
            f"### `{name}/` ({length}, {scenario.driver}, {'via proxy' if scenario.via_proxy else 'direct'}, {size / 1024:.0f} KiB)",
            "",
            scenario.summary,
            "",
            f"- pool: {pool_text}; workers: {settings.get('workers', scenario.groups)}"
            + (f"; server: {settings.get('server_options')}" if settings.get("server_options") else ""),
            f"- recorded {settings.get('recorded_start', '?')} .. {settings.get('recorded_end', '?')}",
        ]
        if realtime:
            lines.append("- phases (idle gaps in s): " + _phases_text(settings.get("phases", {})))
            lines.append("- timeline:")
            lines.append("")
            for ev in settings.get("events", []):
                args = ", ".join(f"{k}={v}" for k, v in ev["args"].items())
                lines.append(f"  - {ev['at']} `{ev['action']}` {args}")
            lines.append("")
        if truth:
            for w in truth:
                lines.append(f"- truth: `{w['cause']}` {w['start']} .. {w['end']}")
        else:
            lines.append("- truth: `[]` (no fault)")
        if realtime:
            lines += ["- client drops (`app.jsonl` ERRORs and listener-ping warnings) and their truth window:", ""]
            lines += [f"  - {d}" for d in _drops(sub, truth)] or ["  - none"]
            lines.append("")
        lines += ["- error signatures:", ""]
        counts = signatures.count_folder(sub)
        for fname, c in counts.items():
            body = ", ".join(f"{k}: {v}" for k, v in c.items()) or "none"
            lines.append(f"  - `{fname}`: {body}")
        lines.append("")
        parts.append("\n".join(lines))
    if realtime:
        header = REALTIME_HEADER.format(
            version=version,
            night_min=round(REALTIME_SCENARIOS["realtime_idle_night"].duration / 60),
            tutorial_min=round(REALTIME_SCENARIOS["realtime_idle_tutorial"].duration / 60),
        )
    else:
        header = HEADER.format(version=version, total_min=max(1, round(total / 60 + 0.5 * len(parts) / 6)))
    text = header + "\n".join(parts)
    out = folder / "README.md"
    out.write_text(text)
    return out


def _phases_text(phases: dict) -> str:
    out = []
    for phase, groups in phases.items():
        body = ", ".join(
            f"{g} {v['gap_s'][0]:g}-{v['gap_s'][1]:g}" if v.get("active", True) else f"{g} off"
            for g, v in groups.items()
        )
        out.append(f"{phase}: {body}")
    return "; ".join(out)


def _drops(folder: Path, truth: list[dict]) -> list[str]:
    app = folder / "app.jsonl"
    if not app.exists():
        return []
    out = []
    for line in app.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        ping = rec.get("level") == "WARNING" and "Connection ping failed" in rec.get("message", "")
        if rec.get("level") not in ("ERROR", "CRITICAL") and not ping:
            continue
        ts = rec.get("timestamp", "")
        inside = [w["cause"] for w in truth if w["start"] <= ts <= w["end"]]
        what = rec.get("message", "")
        if not ping:
            exc = [ln for ln in (rec.get("exc_info") or "").splitlines() if signatures._EXC_LINE.match(ln)]
            what += f" ({signatures.classify_client(exc[-1] if exc else what)})"
        out.append(f"{ts} {what} -> {', '.join(inside) or 'NO truth window'}")
    return out
