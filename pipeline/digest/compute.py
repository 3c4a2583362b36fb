"""The digest's numbers, computed from the store for one period.

Everything the digest says comes from here, as plain data: the renderers only
format it.  Definitions (docs/digest.md repeats them):

* An incident belongs to the period when it *starts* in ``[start, end)``.
* Drops are the client-side drop events of those incidents (``incidents.errors``).
* The baseline is the 7 periods of the same length right before ``start``; the
  trend compares the period with the baseline's average per period.
* A new cause has incidents in the period and none in the baseline.
* A source (events per source and host, latency per host and target, metrics per
  host) stopped sending when it usually sends (rows in at least 6 clock hours,
  and in at least half of the hours between its first and last row) but sent
  nothing during the last ``silence`` (6 hours) before ``end``.
* Rejects count the rejected lines of the files whose data overlaps the period.

Given the same store and period the result is the same: every list has a total
order, and nothing reads the clock except when the period itself is derived
from "now" (``--yesterday``, ``--since``, or no date: see :func:`last_data_days`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from pipeline import store as store_mod

BASELINE_PERIODS = 7
DEFAULT_SILENCE = timedelta(hours=6)
# A source "usually sends" when it sent something in at least MIN_ACTIVE_HOURS
# clock hours and in at least USUAL_ACTIVITY of the clock hours from its first
# to its last row (within the baseline and the period): an errors-only log that
# speaks twice a week, or a recording of a few minutes, is not reported as stopped.
USUAL_ACTIVITY = 0.5
MIN_ACTIVE_HOURS = 6
NO_HOST = "(no host)"


class DigestError(ValueError):
    """A bad period or zone: worth a one-line message."""


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    tz: str
    label: str  # "2026-11-23" for a day, else "start .. end"
    day: date | None = None  # set when the period is one calendar day in tz

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def key(self) -> str:
        """Identifies the period in the deliveries table."""
        if self.day is not None:
            return f"{self.day.isoformat()} {self.tz}"
        return f"{self.start.astimezone(UTC).isoformat()}/{self.end.astimezone(UTC).isoformat()}"

    @property
    def file_stem(self) -> str:
        if self.day is not None:
            return f"digest-{self.day.isoformat()}"
        return "digest-" + self.start.astimezone(ZoneInfo(self.tz)).strftime("%Y-%m-%dT%H%M")


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DigestError(f"unknown time zone {tz!r}") from exc


def day_period(day: date, tz: str = "UTC") -> Period:
    z = zone(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=z)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z)
    return Period(start=start, end=end, tz=tz, label=day.isoformat(), day=day)


def yesterday_period(tz: str = "UTC", now: datetime | None = None) -> Period:
    """The last complete calendar day in ``tz``."""
    now = now or datetime.now(UTC)
    today = now.astimezone(zone(tz)).date()
    return day_period(today - timedelta(days=1), tz)


def last_data_days(db: str | Path, tz: str = "UTC", now: datetime | None = None) -> tuple[date, date] | None:
    """The day a digest given no date reports, and the store's last day with data (in
    ``tz``); None when the store holds no data.  The day reported is the last one with
    data that is over: a day still going on would show its sources as stopped, so it is
    reported only when the data starts on it."""
    z = zone(tz)
    today = (now or datetime.now(UTC)).astimezone(z).date()
    today_start = datetime(today.year, today.month, today.day, tzinfo=z)
    with store_mod.opened(db, read_only=True) as con:
        before, last = con.execute(_LAST_DATA, [today_start] * 3).fetchone() or (None, None)
    if last is None:
        return None
    last_day = last.astimezone(z).date()
    return (before.astimezone(z).date() if before is not None else last_day), last_day


def parse_duration(text: str) -> timedelta:
    """A positive duration (``24h``, ``90m``, ``2d``), read by ``pipeline.timeparse``."""
    from pipeline import timeparse

    try:
        value = timeparse.parse_duration(text or "")
    except ValueError:
        raise DigestError(f"cannot read duration {text!r} (use e.g. 24h, 90m, 2d)") from None
    if value.total_seconds() <= 0:
        raise DigestError("the duration must be positive")
    return value


def since_period(since: str, tz: str = "UTC", now: datetime | None = None) -> Period:
    """The last ``since`` (e.g. ``24h``) up to ``now``, to the second."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    end = now.astimezone(zone(tz))
    start = end - parse_duration(since)
    fmt = "%Y-%m-%d %H:%M"
    return Period(start=start, end=end, tz=tz, label=f"{start.strftime(fmt)} .. {end.strftime(fmt)}")


class _BaselineAverages:
    """Per-period averages of counts summed over the ``BASELINE_PERIODS`` baseline periods."""

    baseline_incidents: int
    baseline_drops: int

    @property
    def baseline_avg_incidents(self) -> float:
        return round(self.baseline_incidents / BASELINE_PERIODS, 2)

    @property
    def baseline_avg_drops(self) -> float:
        return round(self.baseline_drops / BASELINE_PERIODS, 2)


@dataclass
class CauseRow(_BaselineAverages):
    cause: str
    incidents: int
    drops: int
    duration_s: float
    hosts: list[str]
    baseline_incidents: int = 0  # over all baseline periods
    baseline_drops: int = 0


@dataclass
class HostRow:
    host: str
    incidents: int
    drops: int
    causes: list[str]


@dataclass
class WorstIncident:
    incident_id: str
    start: datetime
    end: datetime
    cause: str
    confidence: float
    hosts: list[str]
    drops: int
    summary: str
    advice: list[str]

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class StoppedSource:
    stream: str  # events | latency | metrics
    source: str  # app/sqlalchemy/mysql/postgres, or latency target, or "metrics"
    host: str
    last_seen: datetime


@dataclass
class RejectRow:
    file: str
    rejects: int
    top_reason: str


@dataclass
class Digest(_BaselineAverages):
    period: Period
    incidents: int
    drops: int
    duration_s: float
    by_cause: list[CauseRow]
    by_host: list[HostRow]
    worst: WorstIncident | None
    baseline_incidents: int
    baseline_drops: int
    new_causes: list[str]
    stopped: list[StoppedSource]
    rejects: list[RejectRow]
    events_by_source: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # incidents for the image, by start

    @property
    def quiet(self) -> bool:
        return self.incidents == 0

    @property
    def reject_total(self) -> int:
        return sum(r.rejects for r in self.rejects)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["period"] = {
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "tz": self.period.tz,
            "label": self.period.label,
        }
        out["quiet"] = self.quiet
        out["baseline_avg_incidents"] = self.baseline_avg_incidents
        out["baseline_avg_drops"] = self.baseline_avg_drops
        out["reject_total"] = self.reject_total
        for row, d in zip(self.by_cause, out["by_cause"]):
            d["baseline_avg_incidents"] = row.baseline_avg_incidents
            d["baseline_avg_drops"] = row.baseline_avg_drops
        jsonable: dict[str, Any] = json.loads(json.dumps(out, default=_jsonable))
        return jsonable


def _jsonable(value: object) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(type(value))


# --- SQL -------------------------------------------------------------------------------------

_BY_CAUSE = """
    SELECT cause,
           count(*)::INTEGER                                        AS incidents,
           coalesce(sum(errors), 0)::BIGINT                         AS drops,
           coalesce(sum(epoch(end_ts) - epoch(start_ts)), 0)::DOUBLE AS duration_s
    FROM incidents
    WHERE start_ts >= ? AND start_ts < ?
    GROUP BY cause
"""

_CAUSE_HOSTS = """
    SELECT DISTINCT cause, coalesce(h, ?) AS host
    FROM (SELECT cause, unnest(CASE WHEN len(coalesce(hosts, [])) = 0 THEN [NULL::VARCHAR]
                                    ELSE hosts END) AS h
          FROM incidents WHERE start_ts >= ? AND start_ts < ?)
"""

_BY_HOST = """
    SELECT coalesce(h, ?) AS host,
           count(*)::INTEGER                   AS incidents,
           coalesce(sum(errors), 0)::BIGINT    AS drops,
           list(DISTINCT cause ORDER BY cause) AS causes
    FROM (SELECT cause, errors,
                 unnest(CASE WHEN len(coalesce(hosts, [])) = 0 THEN [NULL::VARCHAR]
                             ELSE list_distinct(hosts) END) AS h
          FROM incidents WHERE start_ts >= ? AND start_ts < ?)
    GROUP BY 1
    ORDER BY drops DESC, incidents DESC, host
"""

# worst: most drops, then longest, then earliest, then id (a total order)
_WORST = """
    SELECT incident_id, start_ts, end_ts, cause, confidence, coalesce(hosts, []), errors,
           summary, coalesce(advice, [])
    FROM incidents
    WHERE start_ts >= ? AND start_ts < ?
    ORDER BY errors DESC, epoch(end_ts) - epoch(start_ts) DESC, start_ts, incident_id
    LIMIT 1
"""

_TIMELINE = """
    SELECT incident_id, start_ts, end_ts, cause, errors, coalesce(hosts, [])
    FROM incidents
    WHERE start_ts >= ? AND start_ts < ?
    ORDER BY start_ts, incident_id
"""

# per stream over [baseline start, end): first and last row, and in how many clock hours it sent
_HOURS = "count(DISTINCT floor(epoch(ts) / 3600))"
_STREAMS = f"""
    SELECT 'events' AS stream, source, coalesce(host, ?) AS host, min(ts), max(ts), {_HOURS}
    FROM events WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'latency', coalesce(target, '?'), coalesce(host, ?), min(ts), max(ts), {_HOURS}
    FROM latency WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'metrics', 'metrics', coalesce(host, ?), min(ts), max(ts), {_HOURS}
    FROM metrics WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3
"""

_EVENTS_BY_SOURCE = """
    SELECT source, count(*)::BIGINT FROM events WHERE ts >= ? AND ts < ? GROUP BY source ORDER BY source
"""

# files whose rows overlap the period, with their reject count and commonest reason
_REJECTS = """
    WITH spans AS (
        SELECT file, min(ts) AS first, max(ts) AS last FROM events GROUP BY file
        UNION ALL SELECT file, min(ts), max(ts) FROM latency GROUP BY file
        UNION ALL SELECT file, min(ts), max(ts) FROM metrics GROUP BY file
    ),
    overlapping AS (
        SELECT DISTINCT file FROM spans WHERE first < ? AND last >= ?
    ),
    reasons AS (
        SELECT r.file, r.reason, count(*) AS n
        FROM rejects r JOIN overlapping o ON o.file = r.file
        GROUP BY r.file, r.reason
    )
    SELECT file, sum(n)::BIGINT AS rejects, first(reason ORDER BY n DESC, reason) AS top_reason
    FROM reasons
    GROUP BY file
    ORDER BY rejects DESC, file
"""


# the last time stamp before a moment, and the last of all
_LAST_DATA = """
    SELECT max(before), max(last) FROM (
        SELECT max(ts) FILTER (WHERE ts < ?) AS before, max(ts) AS last FROM events
        UNION ALL SELECT max(ts) FILTER (WHERE ts < ?), max(ts) FROM latency
        UNION ALL SELECT max(ts) FILTER (WHERE ts < ?), max(ts) FROM metrics)
"""


def compute(con: duckdb.DuckDBPyConnection, period: Period, *, silence: timedelta = DEFAULT_SILENCE) -> Digest:
    """All of the digest's numbers for ``period`` from an open store connection."""
    tz = zone(period.tz)
    start, end = period.start, period.end
    base_start = start - BASELINE_PERIODS * period.length

    def local(ts: datetime) -> datetime:
        return ts.astimezone(tz)

    cur_rows = {r[0]: r for r in con.execute(_BY_CAUSE, [start, end]).fetchall()}
    base_rows = {r[0]: r for r in con.execute(_BY_CAUSE, [base_start, start]).fetchall()}
    cause_hosts: dict[str, list[str]] = {}
    for cause, host in con.execute(_CAUSE_HOSTS, [NO_HOST, start, end]).fetchall():
        cause_hosts.setdefault(cause, []).append(host)

    by_cause = []
    for cause, row in cur_rows.items():
        base = base_rows.get(cause)
        by_cause.append(
            CauseRow(
                cause=cause,
                incidents=int(row[1]),
                drops=int(row[2]),
                duration_s=round(float(row[3]), 3),
                hosts=sorted(cause_hosts.get(cause, [])),
                baseline_incidents=int(base[1]) if base else 0,
                baseline_drops=int(base[2]) if base else 0,
            )
        )
    # causes seen only in the baseline still matter to the trend ("fewer")
    for cause, base in base_rows.items():
        if cause not in cur_rows:
            by_cause.append(
                CauseRow(
                    cause=cause,
                    incidents=0,
                    drops=0,
                    duration_s=0.0,
                    hosts=[],
                    baseline_incidents=int(base[1]),
                    baseline_drops=int(base[2]),
                )
            )
    by_cause.sort(key=lambda r: (-r.drops, -r.incidents, -r.baseline_drops, r.cause))

    by_host = [
        HostRow(host=h, incidents=int(n), drops=int(d), causes=list(c))
        for h, n, d, c in con.execute(_BY_HOST, [NO_HOST, start, end]).fetchall()
    ]

    worst = None
    w = con.execute(_WORST, [start, end]).fetchone()
    if w:
        worst = WorstIncident(
            incident_id=w[0],
            start=local(w[1]),
            end=local(w[2]),
            cause=w[3],
            confidence=round(float(w[4]), 3),
            hosts=sorted(w[5]),
            drops=int(w[6]),
            summary=w[7],
            advice=list(w[8]),
        )

    timeline = [
        {
            "incident_id": r[0],
            "start": local(r[1]),
            "end": local(r[2]),
            "cause": r[3],
            "drops": int(r[4]),
            "hosts": sorted(r[5]),
        }
        for r in con.execute(_TIMELINE, [start, end]).fetchall()
    ]

    silence = min(silence, period.length)
    cutoff = end - silence
    stopped = []
    for s, src, h, first, last, hours in con.execute(
        _STREAMS, [NO_HOST, base_start, end, NO_HOST, base_start, end, NO_HOST, base_start, end]
    ).fetchall():
        if last >= cutoff:
            continue
        # only a source that usually sends: a few hours of history, sending in most of them
        span_hours = math.floor(last.timestamp() / 3600) - math.floor(first.timestamp() / 3600) + 1
        if hours >= MIN_ACTIVE_HOURS and hours / span_hours >= USUAL_ACTIVITY:
            stopped.append(StoppedSource(stream=s, source=src, host=h, last_seen=local(last)))
    stopped.sort(key=lambda s: (s.last_seen, s.stream, s.source, s.host))

    rejects = [
        RejectRow(file=f, rejects=int(n), top_reason=reason)
        for f, n, reason in con.execute(_REJECTS, [end, start]).fetchall()
        if n
    ]

    events_by_source = {s: int(n) for s, n in con.execute(_EVENTS_BY_SOURCE, [start, end]).fetchall()}

    cur_causes = {c for c, r in cur_rows.items() if r[1]}
    return Digest(
        period=period,
        incidents=sum(r.incidents for r in by_cause),
        drops=sum(r.drops for r in by_cause),
        duration_s=round(sum(r.duration_s for r in by_cause), 3),
        by_cause=by_cause,
        by_host=by_host,
        worst=worst,
        baseline_incidents=sum(r.baseline_incidents for r in by_cause),
        baseline_drops=sum(r.baseline_drops for r in by_cause),
        new_causes=sorted(cur_causes - set(base_rows)),
        stopped=stopped,
        rejects=rejects,
        events_by_source=events_by_source,
        timeline=timeline,
    )


def compute_from_store(db: str | Path, period: Period, *, silence: timedelta = DEFAULT_SILENCE) -> Digest:
    """Open the store read-only just long enough to compute the digest."""
    # a Parquet folder reads only the days the digest looks at: the period and its baseline
    days = ((period.start - BASELINE_PERIODS * period.length).date() - timedelta(days=1), period.end.date())
    with store_mod.opened(db, read_only=True, days=days) as con:
        return compute(con, period, silence=silence)
