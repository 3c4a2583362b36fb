"""Correlation: group client-side drops into incidents, name the cause, keep the proof.

``correlate_store(con, settings)`` rebuilds the ``incidents`` and
``incident_evidence`` tables from ``events``, ``latency`` and ``metrics`` inside
one transaction on an open read-write connection.  The result depends only on
the stored rows and the settings: the same data gives the same ids and rows.

Stages (modules of this package):

``incidents``  group drops separated by less than ``gap_seconds``;
``idle``       idle time of each pooled connection before checkout, idle limit per host;
``evidence``   server lines, latency and metrics around each incident;
``causes``     score each cause from client / server / network / metrics evidence;
``advice``     summary sentence, why each line matters, what to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from pipeline.engines import Engine

import gzip
import json
import time
from pathlib import Path

from pipeline import store as store_mod
from pipeline.causes import Facts, all_causes, build_details, gather_own, score_causes, verdict
from pipeline.correlate import advice as _advice
from pipeline.correlate.details import IncidentDetails
from pipeline.correlate.evidence import gather
from pipeline.correlate.idle import build_idle_limits, build_pool, idle_limits
from pipeline.correlate.incidents import (
    aborts_claimed_by_clients,
    build_groups,
    build_incidents,
    episode_map,
    merge_groups,
)
from pipeline.correlate.nearest import nearest_unused
from pipeline.correlate.settings import DEFAULTS, resolve

__all__ = ["DEFAULTS", "assess_all", "correlate_store"]

MAX_EVIDENCE = 24
TEMP_TABLES = (
    "c_drops",
    "c_inc",
    "c_checkouts",
    "c_idle_inc",
    "c_wt",
    "c_srv",
    "c_srv_inc",
    "c_lat",
    "c_lat_inc",
    "c_met",
    "c_met_inc",
)


def rebuild(con: DuckDBPyConnection, settings: dict[str, Any] | None = None, *, force: bool = False) -> dict[str, Any]:
    """The one way incidents are (re)built, whoever asks (ingest, ``pipeline correlate``,
    the evaluation): rebuild unless nothing changed since the last correlation (``force``
    rebuilds anyway), and mark the store changed when it did, so readers refresh.

    ``con`` is a read-write connection with no transaction open.
    """
    from pipeline.store import touch_changed

    result = correlate_store(con, settings) if force else correlate_if_changed(con, settings)
    if "skipped" not in result:
        touch_changed(con)
    return result


def correlate_store(con: DuckDBPyConnection, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild incidents and their evidence; return {"incidents", "by_cause", "seconds"}.

    Runs in its own transaction: call it on a connection with none open.
    """
    t0 = time.perf_counter()
    s = resolve(settings)
    own_tx = _begin(con)
    try:
        with store_mod.work_memory(con):
            summary = _correlate(con, s)
        # what these incidents were built from: the data and the effective thresholds
        con.execute("INSERT OR REPLACE INTO meta VALUES ('correlated', ?)", [_fingerprint(con, s)])
        if own_tx:
            con.execute("COMMIT")
    except Exception:
        if own_tx:
            con.execute("ROLLBACK")
        raise
    finally:
        for name in TEMP_TABLES:
            try:
                con.execute(f"DROP TABLE IF EXISTS {name}")
            except Exception:  # pragma: no cover - connection already broken
                pass
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def correlate_if_changed(con: DuckDBPyConnection, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`correlate_store`, unless the incidents were last built from the same data with
    the same effective thresholds (a re-run over unchanged logs then costs next to nothing).
    Any rebuild, by any command, records what it was built from, so incidents built with
    other thresholds are never kept as if they were current."""
    if _current_fingerprint(con) == _fingerprint(con, resolve(settings)):
        return {"skipped": "nothing changed since the last correlation"}
    return correlate_store(con, settings)


def _fingerprint(con: DuckDBPyConnection, effective: dict[str, Any]) -> str:
    row = con.execute("SELECT value FROM meta WHERE key = 'data_change'").fetchone()
    return f"{row[0] if row else None}|{json.dumps(effective, sort_keys=True, default=str)}"


def _current_fingerprint(con: DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = 'correlated'").fetchone()
    return row[0] if row else None


def _begin(con: DuckDBPyConnection) -> bool:
    """Open the one transaction the rebuild runs in (the caller must not hold one)."""
    con.execute("BEGIN TRANSACTION")
    return True


def _correlate(con: DuckDBPyConnection, s: dict[str, Any]) -> dict[str, Any]:
    assessed = assess_all(con, s)
    _write(con, assessed["rows"], assessed["evidence"])
    return {"incidents": len(assessed["incidents"]), "by_cause": dict(sorted(assessed["by_cause"].items()))}


def assess_all(con: Engine, s: dict[str, Any]) -> dict[str, Any]:
    """Every stage but the writing, on any engine (:mod:`pipeline.engines`): the incidents
    of the data in ``c_inc``, and their rows and evidence to write (``rows``, ``evidence``)."""
    build_incidents(con, s)
    build_pool(con, s)
    assessed = _assess(con, s)
    # idle kills the server logged, found by the application later: the client's evidence
    claimed = aborts_claimed_by_clients(assessed["incidents"], assessed["causes"], s)
    if claimed:
        con.execute(f"DELETE FROM c_drops WHERE grp IN ({', '.join(str(int(g)) for g in claimed)})")
        build_groups(con, s)
        assessed = _assess(con, s)
    # isolated idle kills over hours are one finding: merge them, then assess again
    mapping = episode_map(assessed["incidents"], assessed["causes"], s)
    if mapping:
        members: dict[int, int] = {}
        for to_grp in mapping.values():
            members[to_grp] = members.get(to_grp, 0) + 1
        merge_groups(con, mapping)
        build_groups(con, s, episodes=frozenset(members))
        assessed = _assess(con, s, episode_sizes=members)
    _resolve_lines([r for _, _, r in assessed["evidence"]])
    return assessed


def _assess(con: Engine, s: dict[str, Any], episode_sizes: dict[int, int] | None = None) -> dict[str, Any]:
    """Evidence, scores, verdict, details, summary and advice of every group in ``c_inc``."""
    build_idle_limits(con, s)
    limits = idle_limits(con)
    features, rows, ctx = gather(con, s)
    gather_own(con, s, features)
    incs = _fetch_incidents(con)

    seen_pool = _pool_seen_in_logs(con)
    in_store = _sources_in_store(con)
    inc_rows, ev_rows = [], []
    by_cause: dict[str, int] = {}
    causes: dict[int, str] = {}
    for inc in incs:
        grp = inc["grp"]
        f = features.get(grp, {})
        f["errors"] = inc["errors"]
        if inc["server_only"]:
            f["server_only"] = True
        scores = score_causes(f, s)
        cause, confidence = verdict(scores, s)
        causes[grp] = cause
        det = IncidentDetails(
            scores=scores,
            features=_clean(f),
            server_only=bool(inc["server_only"]),
            sources_in_store=in_store,
            causes=build_details(Facts(incident=inc, features=f, settings=s, idle_limits=limits.get(grp, {}))),
            **_pool_settings(inc, s.get("pool") or {}, seen_pool),
        )
        if cause == "unknown":
            det.nearest_unused = nearest_unused(con, inc, s)
        if episode_sizes and episode_sizes.get(grp, 0) > 1:
            det.episode_incidents = episode_sizes[grp]
        evidence = _pick_evidence(cause, scores, rows.get(grp, []), inc, ctx)
        for r in evidence:
            r["why"] = _advice.why(r, f)
            if r.get("for_cause") not in (None, cause):
                r["why"] += f" [{r['for_cause']}]"
        inc_rows.append(
            {
                "grp": grp,
                "incident_id": inc["incident_id"],
                "cause": cause,
                "confidence": confidence,
                "errors": inc["errors"],
                "summary": _advice.summarize(cause, inc, f, det),
                "advice": _advice.advise(cause, inc, f, det),
                "scores": json.dumps({c: v["score"] for c, v in sorted(scores.items())}, sort_keys=True),
                "details": det.to_json(),
            }
        )
        for seq, r in enumerate(evidence, 1):
            ev_rows.append((inc["incident_id"], seq, r))
        by_cause[cause] = by_cause.get(cause, 0) + 1
    return {"incidents": incs, "causes": causes, "rows": inc_rows, "evidence": ev_rows, "by_cause": by_cause}


def _fetch_incidents(con: Engine) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT grp, incident_id, start_ms, end_ms, hosts, errors, n_lines, server_only FROM c_inc ORDER BY grp"
    )
    cols = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        d = dict(zip(cols, r))
        d["hosts"] = list(d["hosts"] or [])
        out.append(d)
    return out


def _clean(f: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in sorted(f.items()) if v is not None}


def _sources_in_store(con: Engine) -> dict[str, int]:
    """Rows per kind of evidence in the whole store, so advice never asks for what is there:
    application lines, pool lines with a connection identity (SQLAlchemy's pool log at DEBUG),
    server lines, latency samples and status snapshots."""
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM event_rows WHERE source = 'app'),
               (SELECT count(*) FROM event_rows WHERE source = 'sqlalchemy' AND conn_ref IS NOT NULL),
               (SELECT count(*) FROM event_rows WHERE source IN ('mysql', 'postgres')),
               (SELECT count(*) FROM latency),
               (SELECT count(*) FROM metrics)
        """
    ).fetchone()
    names = ("app", "pool_debug", "server", "latency", "metrics")
    return {name: int(n) for name, n in zip(names, row or (0,) * len(names))}


def _pool_seen_in_logs(con: Engine) -> dict[str | None, dict[str, bool]]:
    """Per host, the pool settings its logs show: SQLAlchemy's own pre-ping lines
    (pool_pre_ping=True), its recycle lines (pool_recycle set), a checkout listener's ping
    (the tutorial's liveness check: its failures carry no connection identity)."""
    rows = con.execute(
        """
        SELECT f.host,
               bool_or(e.kind = 'pre_ping' AND e.conn_ref IS NOT NULL) AS pool_pre_ping,
               bool_or(e.kind = 'recycle') AS recycles,
               bool_or(e.kind = 'pre_ping_fail' AND e.conn_ref IS NULL) AS listener_ping
        FROM event_rows e JOIN event_files f ON f.file_id = e.file_id
        WHERE e.source = 'sqlalchemy' AND e.kind IN ('pre_ping', 'recycle', 'pre_ping_fail')
        GROUP BY f.host
        """
    ).fetchall()
    return {host: {"pool_pre_ping": pp, "recycles": rc, "listener_ping": lp} for host, pp, rc, lp in rows}


def _pool_settings(
    inc: dict[str, Any], given: dict[str, Any], seen: dict[str | None, dict[str, bool]]
) -> dict[str, Any]:
    """What the incident's details say about the application's pool: the user's [pool]
    settings, completed by what the logs of its hosts show."""
    from_logs: dict[str, bool] = {}
    for host in inc["hosts"] or [None]:
        for key, value in (seen.get(host) or {}).items():
            if value:
                from_logs[key] = True
    if from_logs.get("pool_pre_ping") and "pool_pre_ping" in given:
        from_logs.pop("pool_pre_ping")
    settings = {**from_logs, **given}
    if not settings:
        return {}
    source = " and ".join(x for x, present in (("pipeline.toml", given), ("the logs", from_logs)) if present)
    return {"pool_settings": settings, "pool_settings_from": source}


def _pick_evidence(
    cause: str, scores: dict[str, Any], rows: list[dict[str, Any]], inc: dict[str, Any], ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    """Evidence for the named cause first, then for the other causes that scored."""
    order = [cause] + [c for c, _ in sorted(scores.items(), key=lambda kv: -kv[1]["score"]) if c != cause]
    pool = list(rows)
    if ("idle_timeout" in scores or cause == "idle_timeout") and inc["grp"] in ctx["wait_rows"]:
        pool.append(dict(ctx["wait_rows"][inc["grp"]]))
    chosen: list[dict[str, Any]] = []
    seen = set()
    cause_evidence = {c.name: c.evidence for c in all_causes()}
    for c in order:
        cats = cause_evidence.get(c, ())
        picked = sorted(
            (r for r in pool if r["category"] in cats),
            key=lambda r: (cats.index(r["category"]), r["t_ms"] or 0, r.get("file") or "", r.get("line_no") or 0),
        )
        for r in picked:
            key = (r["category"], r.get("file"), r.get("line_no"), r.get("t_ms"))
            if key in seen:
                continue
            seen.add(key)
            r["for_cause"] = c
            chosen.append(r)
    if cause == "unknown" or not chosen:
        for r in sorted((r for r in pool if r["category"].startswith("client:")), key=lambda r: r["t_ms"]):
            key = (r["category"], r.get("file"), r.get("line_no"), r.get("t_ms"))
            if key not in seen:
                seen.add(key)
                r["for_cause"] = "unknown"
                chosen.append(r)
    return chosen[:MAX_EVIDENCE]


def _event_line(raw: str | None, fallback: str | None) -> str:
    """The event's first line; for a traceback, plus the line naming the database error."""
    text = raw or fallback or ""
    # split on newlines only: str.splitlines also breaks on \r, \x0b, \x1c-\x1e, U+2028...,
    # which would drop the rest of a hostile line from the evidence
    lines = [ln.rstrip("\r") for ln in text.split("\n") if ln.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(lines) > 1:
        for ln in reversed(lines[1:]):
            if (
                "Error" in ln
                and ("(" in ln or ":" in ln)
                and not ln.lstrip().startswith(("File ", "^", "[SQL", "(Background"))
            ):
                if ln.strip() not in first:
                    return f"{first} | {ln.strip()}"
                break
    return first


def _resolve_lines(rows: list[dict[str, Any]]) -> None:
    """The raw line for each evidence row: the event text, or the file's line for samples."""
    wanted: dict[str, set[int]] = {}
    for r in rows:
        if r.get("event_id") is not None:
            r["line"] = _event_line(r.get("raw"), r.get("line"))
        elif r.get("file") and r.get("line_no"):
            wanted.setdefault(r["file"], set()).add(int(r["line_no"]))
    found = {}
    for path, nums in wanted.items():
        found.update({(path, n): t for n, t in _read_lines(path, nums).items()})
    if not found:
        return
    from pipeline.ingest.redact import redact_text  # polars: loaded only when lines are read

    for r in rows:
        if r.get("event_id") is None and (r.get("file"), r.get("line_no")) in found:
            # read from the log file as written: redacted here as ingest redacts the store
            r["line"] = redact_text(found[(r["file"], r["line_no"])])


def _read_lines(path: str, nums: set[int], max_bytes: int = 256 * 1024 * 1024) -> dict[int, str]:
    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size > max_bytes:
            return {}
        opener = gzip.open if p.suffix == ".gz" else open
        out, last = {}, max(nums)
        with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh, 1):
                if i in nums:
                    out[i] = line.rstrip("\r\n")
                if i >= last:
                    break
        return out
    except OSError:
        return {}


def _write(
    con: DuckDBPyConnection, inc_rows: list[dict[str, Any]], ev_rows: list[tuple[str, int, dict[str, Any]]]
) -> None:
    import pyarrow as pa

    con.execute("DELETE FROM incident_evidence")
    con.execute("DELETE FROM incidents")
    if not inc_rows:
        return
    inc_tab = pa.table(
        {
            "grp": pa.array([r["grp"] for r in inc_rows], pa.int64()),
            "cause": [r["cause"] for r in inc_rows],
            "confidence": pa.array([r["confidence"] for r in inc_rows], pa.float64()),
            "summary": [r["summary"] for r in inc_rows],
            "advice": pa.array([r["advice"] for r in inc_rows], pa.list_(pa.string())),
            "scores": [r["scores"] for r in inc_rows],
            "details": [r["details"] for r in inc_rows],
        }
    )
    con.register("c_py_inc", inc_tab)
    try:
        con.execute(
            """
            INSERT INTO incidents (incident_id, start_ts, end_ts, cause, confidence, hosts, errors,
                                   summary, advice, scores, details)
            SELECT i.incident_id, i.start_ts, i.end_ts, p.cause, p.confidence, i.hosts, i.errors,
                   p.summary, p.advice, p.scores, p.details
            FROM c_py_inc p JOIN c_inc i USING (grp)
            ORDER BY i.start_ts, i.incident_id
            """
        )
    finally:
        con.unregister("c_py_inc")
    if not ev_rows:
        return
    ev_tab = pa.table(
        {
            "incident_id": [i for i, _, _ in ev_rows],
            "seq": pa.array([q for _, q, _ in ev_rows], pa.int32()),
            "source": [r["source"] for _, _, r in ev_rows],
            "t_ms": pa.array([r["t_ms"] for _, _, r in ev_rows], pa.int64()),
            "kind": [r.get("kind") for _, _, r in ev_rows],
            "line": [r.get("line") for _, _, r in ev_rows],
            "why": [r.get("why") for _, _, r in ev_rows],
            "event_id": [r.get("event_id") for _, _, r in ev_rows],
            "file": [r.get("file") for _, _, r in ev_rows],
            "line_no": pa.array([r.get("line_no") for _, _, r in ev_rows], pa.int64()),
        }
    )
    con.register("c_py_ev", ev_tab)
    try:
        con.execute(
            """
            INSERT INTO incident_evidence
            SELECT incident_id, seq, source, timezone('UTC', epoch_ms(t_ms)), kind, line, why,
                   event_id, file, line_no
            FROM c_py_ev ORDER BY incident_id, seq
            """
        )
    finally:
        con.unregister("c_py_ev")
