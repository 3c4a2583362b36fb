"""The dashboard's pages.  Figures come from :mod:`pipeline.charts` (built and cached in
:mod:`dashboard.figures`); this module arranges them.

Each page draws its summary first, from light cached queries (the overview's four
numbers, the incident's verdict), and loads the heavy series and charts after it:
Streamlit sends every element as soon as it is drawn, so the summary shows while
the charts are still being built.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from dashboard import data, figures, state
from pipeline import charts
from pipeline import health as health_mod
from pipeline.causes import INCIDENT_CHARTS, by_name
from pipeline.kinds import CAUSES
from pipeline.store import StoreError

EVIDENCE_SHOWN = 6  # evidence lines shown before the rest fold into an expander
ZOOM_MIN_S, ZOOM_MAX_S = 90.0, 6 * 3600.0  # incident page: context shown before and after
WATCH_EVERY_S = 3.0  # how often an open page checks whether the store changed

# ----------------------------------------------------------------------------- helpers


def _plain(text) -> str:
    """Untrusted text made safe to put inside Markdown (no markup, no links, no HTML)."""
    text = str(text if text is not None else "")
    for ch in "\\`*_{}[]()<>#+|!~$":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def _fmt_ts(ts) -> str:
    if ts is None:
        return "-"
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class _Stale(Exception):
    """Raised out of a page when the store stayed busy: main() shows a notice and retries."""


def load(fn, *args):
    """Call a cached loader for the current store version; while an ingest holds the
    store, fall back to the version this session last read successfully."""
    db, ver = st.session_state["_db"], st.session_state["_ver"]
    good = st.session_state.get("_good_ver")
    if st.session_state.get("_stale") and good is not None:
        # the store was locked earlier in this run: do not wait for it again
        try:
            with data.quick_reads():
                return fn(db, good, *args)
        except data.Busy:
            raise _Stale() from None
    try:
        result = fn(db, ver, *args)
        st.session_state["_good_ver"] = ver
        return result
    except data.Busy:
        good = st.session_state.get("_good_ver")
        if good is not None and good != ver:
            try:
                with data.quick_reads():
                    result = fn(db, good, *args)
                st.session_state["_stale"] = True
                return result
            except data.Busy:
                pass
        raise _Stale() from None


# ----------------------------------------------------------------------------- state <-> URL


def _current_params() -> dict[str, list[str]]:
    return {key: list(st.query_params.get_all(key)) for key in st.query_params}


def _normalized(params: dict) -> dict[str, list[str]]:
    return {k: ([v] if isinstance(v, str) else list(v)) for k, v in params.items()}


def _init_from_url(meta: dict) -> None:
    """(Re)initialise the widgets from the URL on a session's first run, or when the URL changed."""
    params = _current_params()
    if st.session_state.get("_qp") == params:
        return
    view = state.from_params(st.query_params, hosts=meta["hosts"], causes=list(CAUSES))
    st.session_state["w_page"] = view.page
    st.session_state["w_range"] = view.range
    first, last = meta["span"] or (None, None)
    st.session_state["w_start"] = state.format_ts(view.start or first) if (view.start or first) else ""
    st.session_state["w_end"] = state.format_ts(view.end or last) if (view.end or last) else ""
    st.session_state["w_hosts"] = view.hosts
    st.session_state["w_causes"] = view.causes
    st.session_state["w_sources"] = view.sources
    st.session_state["w_incident_url"] = view.incident
    if view.incident:
        st.session_state["w_incident"] = view.incident
    st.session_state["_ignored"] = view.ignored


def _sidebar(meta: dict) -> state.View:
    sb = st.sidebar
    sb.title("dropout-pipeline")
    sb.radio("Page", list(state.PAGES), format_func=state.PAGES.get, key="w_page")
    sb.divider()
    sb.selectbox("Time range", list(state.RANGES), format_func=lambda k: state.RANGES[k][0], key="w_range")
    view = state.View(page=st.session_state["w_page"], range=st.session_state["w_range"])
    if view.range == "custom":
        first, last = meta["span"] or (None, None)
        if not st.session_state.get("w_start") and first:
            st.session_state["w_start"] = state.format_ts(first)
        if not st.session_state.get("w_end") and last:
            st.session_state["w_end"] = state.format_ts(last)
        sb.text_input("From (UTC)", key="w_start", help="ISO time, e.g. 2025-01-31T12:00:00Z")
        sb.text_input("To (UTC)", key="w_end", help="ISO time, e.g. 2025-01-31T18:00:00Z")
        for key, attr in (("w_start", "start"), ("w_end", "end")):
            raw = st.session_state.get(key) or ""
            ts = state.parse_ts(raw)
            if raw and ts is None:
                sb.warning(f"Not a time: {_plain(raw[:60])} (use e.g. 2025-01-31T12:00:00Z)")
            setattr(view, attr, ts)
    for key, options in (("w_hosts", meta["hosts"]), ("w_causes", list(CAUSES)), ("w_sources", list(state.SOURCES))):
        # a value can vanish from the store between reruns (a re-ingest): keep only known ones
        st.session_state[key] = [v for v in st.session_state.get(key) or [] if v in options]
    sb.multiselect("Hosts", meta["hosts"], key="w_hosts", placeholder="all hosts")
    sb.multiselect(
        "Causes",
        list(CAUSES),
        key="w_causes",
        placeholder="all causes",
        help="Incident causes; applies to incident bands, counts and the incidents table.",
    )
    sb.multiselect(
        "Sources",
        list(state.SOURCES),
        format_func=state.SOURCES.get,
        key="w_sources",
        placeholder="all sources",
        help="Timeline lanes to draw.",
    )
    view.hosts = list(st.session_state["w_hosts"])
    view.causes = list(st.session_state["w_causes"])
    view.sources = list(st.session_state["w_sources"])
    view.incident = (
        st.session_state.get("w_incident")
        or st.session_state.get("_last_incident")
        or st.session_state.get("w_incident_url")
    )
    ignored = st.session_state.get("_ignored") or []
    if ignored:
        sb.warning("Ignored link values the store does not know: " + ", ".join(_plain(v[:60]) for v in ignored[:5]))
    sb.divider()
    sb.caption(f"Store: {_plain(st.session_state['_db'])}")
    if meta.get("last_change"):
        sb.caption(f"Last change: {_plain(meta['last_change'][:19])} UTC")
    return view


def _write_url(view: state.View) -> None:
    params = view.to_params()
    normalized = _normalized(params)
    if _current_params() != normalized:
        st.query_params.from_dict(params)
    st.session_state["_qp"] = normalized


def _go_to_incident(incident_id: str) -> None:
    st.session_state["w_page"] = "incident"
    st.session_state["w_incident"] = incident_id


def _on_table_select() -> None:
    table = st.session_state.get("incidents_table")
    rows = table.selection.rows if table is not None else []
    ids = st.session_state.get("_table_ids") or []
    if rows and rows[0] < len(ids):
        _go_to_incident(ids[rows[0]])


def _on_open_select() -> None:
    chosen = st.session_state.get("w_open")
    if chosen:
        _go_to_incident(chosen)
        st.session_state["w_open"] = None


# ----------------------------------------------------------------------------- main


def main() -> None:
    db = data.db_path()
    st.session_state["_db"] = str(db)
    st.session_state["_stale"] = False
    st.session_state["_busy"] = False
    if not db.exists():
        st.title("dropout-pipeline")
        st.info(
            f"There is no store at `{_plain(db)}` yet.\n\n"
            f"Load logs with `pipeline ingest LOG_DIR --db {_plain(db)}`, then reload this page "
            "(or start the dashboard with `pipeline dashboard --db FILE` for another store)."
        )
        return
    st.session_state["_ver"] = data.version(db)
    try:
        meta = load(data.meta)
    except _Stale:
        _busy_notice()
        _watch()
        return
    except (StoreError, duckdb.Error) as exc:
        st.title("dropout-pipeline")
        st.error(f"Cannot read the store: {_plain(exc)}")
        return

    _init_from_url(meta)
    view = _sidebar(meta)
    _write_url(view)

    first, last = meta["span"] or (None, None)
    start, end = state.time_window(view, first, last)
    try:
        if view.page == "health":
            page_health(meta)
        elif meta["span"] is None:
            _empty_store(meta)
        elif view.page == "incidents":
            page_incidents(meta, view, start, end)
        elif view.page == "incident":
            page_incident(meta, view, start, end)
        else:
            page_overview(meta, view, start, end)
    except _Stale:
        _busy_notice()
    except (StoreError, duckdb.Error) as exc:  # e.g. the file was replaced by something else
        st.error(f"Cannot read the store: {_plain(exc)}")
    if st.session_state.get("_stale"):
        st.caption(
            "An ingest is writing to the store: this shows the data as it was before; "
            "the page refreshes when the ingest lets go."
        )
    _watch()


@st.fragment(run_every=WATCH_EVERY_S)
def _watch() -> None:
    """Every few seconds: retry a view the store's lock kept from loading, and tell when
    the store changed (a scheduled ingest committed) since this view was drawn."""
    db = Path(st.session_state["_db"])
    if st.session_state.get("_busy") or st.session_state.get("_stale"):
        if st.session_state.get("_watch_armed"):
            st.session_state["_watch_armed"] = False
            st.rerun()
        st.session_state["_watch_armed"] = True  # the next tick reruns the whole page
        return
    st.session_state["_watch_armed"] = False
    if data.version(db) != st.session_state.get("_ver"):
        left, right = st.columns([4, 1])
        left.caption("The store has changed since this view was drawn (an ingest committed).")
        if right.button("Refresh", key="refresh"):
            st.rerun()


def _busy_notice() -> None:
    st.session_state["_busy"] = True
    st.info("An ingest is writing to the store right now; this page loads as soon as it lets go.")


def _empty_store(meta: dict) -> None:
    st.title("Database connection drops")
    counts = meta["counts"]
    if counts.get("files") or counts.get("rejects"):
        st.info(
            f"The store has {counts.get('files', 0)} files but no events, latency samples or "
            "metrics: every line was rejected or unrecognised. See **Data health** for why."
        )
    else:
        st.info(
            "The store is empty. Load logs with `pipeline ingest LOG_DIR --db "
            f"{_plain(st.session_state['_db'])}`; this page picks them up on the next reload."
        )


def _range_caption(start, end, view: state.View) -> str:
    parts = [f"{_fmt_ts(start)} to {_fmt_ts(end)} UTC"]
    if view.hosts:
        parts.append("hosts: " + ", ".join(_plain(h) for h in view.hosts))
    if view.causes:
        parts.append("causes: " + ", ".join(view.causes))
    return " · ".join(parts)


def _missing_notes(meta: dict, view: state.View) -> None:
    present = set(meta["sources"])
    notes = []
    if "latency" not in present:
        notes.append(health_mod.MISSING_MEANS["latency"])
    if "metrics" not in present:
        notes.append(health_mod.MISSING_MEANS["metrics"])
    if "server" not in present:
        notes.append(health_mod.MISSING_MEANS["server"])
    if "sqlalchemy" not in present:
        notes.append(health_mod.MISSING_MEANS["sqlalchemy"])
    for note in notes:
        st.caption("⚠️ " + note[0].upper() + note[1:] + ".")


# ----------------------------------------------------------------------------- overview

FAILURES_HELP = (
    "Requests the application logged as failing to get or use a database connection, "
    "counted once each even when several log files recorded them."
)


def most_frequent_causes(incidents: pl.DataFrame) -> tuple[list[str], int]:
    """The causes with the most incidents (every one of them on a tie, in the registry's
    order) and that number; ([], 0) without incidents."""
    if incidents.height == 0:
        return [], 0
    counts = dict(incidents.group_by("cause").len().iter_rows())
    top = max(counts.values())
    order = {name: i for i, name in enumerate(CAUSES)}
    tied = sorted((c for c, n in counts.items() if n == top), key=lambda c: (order.get(c, len(order)), c))
    return tied, int(top)


def summary_items(incidents: pl.DataFrame) -> list[tuple[str, str]]:
    """The overview's four numbers, (label, value)."""
    tied, _ = most_frequent_causes(incidents)
    failures = int(incidents["errors"].sum() or 0) if incidents.height else 0
    hosts = {h for hs in incidents["hosts"].to_list() for h in (hs or [])} if incidents.height else set()
    return [
        ("Incidents", f"{incidents.height:,}"),
        ("Connection failures in incidents", f"{failures:,}"),
        ("Most frequent causes (tied)" if len(tied) > 1 else "Most frequent cause", ", ".join(tied) or "-"),
        ("Hosts affected", f"{len(hosts):,}"),
    ]


def _summary(incidents: pl.DataFrame) -> None:
    """The overview's first paint: four numbers from the light incidents query, in plain
    text elements (the browser draws them with the code it already has for the title,
    without waiting for the chart and table components to load)."""
    with st.container(key="summary"):
        for column, (label, value) in zip(st.columns(4), summary_items(incidents)):
            column.caption(label)
            column.header(_plain(value), anchor=False)
        notes = ["Connection failures: " + FAILURES_HELP[0].lower() + FAILURES_HELP[1:]]
        tied, top = most_frequent_causes(incidents)
        if len(tied) > 1:
            notes.append(f"{len(tied)} causes tie at {top} incident{'s' if top != 1 else ''} each.")
        st.caption(" ".join(notes))


def page_overview(meta: dict, view: state.View, start, end) -> None:
    st.title("Database connection drops")
    st.caption(_range_caption(start, end, view))
    hosts, causes = tuple(view.hosts), tuple(view.causes)
    incidents: pl.DataFrame = load(data.incidents, start, end, hosts, causes)
    _summary(incidents)

    # the heavy part: event counts, latency and metrics over the range, then the figure
    with st.spinner("Drawing the timeline…"):
        fig = load(figures.overview_timeline, start, end, hosts, causes, tuple(view.sources))
    st.plotly_chart(fig, key="timeline", config={"displaylogo": False})
    _missing_notes(meta, view)

    if incidents.height == 0:
        if meta["counts"].get("incidents"):
            st.info(
                "No incidents in this range with these filters. Widen the time range or clear "
                "the host and cause filters."
            )
        else:
            st.info(
                "No incidents in this store: correlation found no dropped connections "
                "(or has not run yet; `pipeline ingest` runs it at the end)."
            )
        return

    if (end - start) >= dt.timedelta(days=2):  # per-day bars only say something over several days
        fig = load(figures.incidents_by_cause, start, end, hosts, causes)
        st.plotly_chart(fig, key="by_cause_chart", config={"displaylogo": False})
    failures_column = st.column_config.NumberColumn("connection failures", help=FAILURES_HELP)
    left, right = st.columns(2)
    with left:
        st.subheader("By cause")
        by_cause = (
            incidents.group_by("cause")
            .agg(pl.len().alias("incidents"), pl.col("errors").sum().alias("errors"))
            .sort("incidents", descending=True)
        )
        st.dataframe(by_cause, hide_index=True, key="by_cause", column_config={"errors": failures_column})
    with right:
        st.subheader("By host")
        by_host = (
            incidents.select("hosts", "errors")
            .explode("hosts")
            .rename({"hosts": "host"})
            .group_by("host")
            .agg(pl.len().alias("incidents"), pl.col("errors").sum().alias("errors"))
            .sort("incidents", descending=True)
        )
        st.dataframe(by_host, hide_index=True, key="by_host", column_config={"errors": failures_column})


# ----------------------------------------------------------------------------- incidents


def _incident_table(incidents: pl.DataFrame) -> pl.DataFrame:
    return incidents.select(
        pl.col("start_ts").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S").alias("start (UTC)"),
        pl.col("duration_s").map_elements(_fmt_duration, return_dtype=pl.String).alias("duration"),
        "cause",
        "confidence",
        pl.col("hosts").list.join(", ").alias("hosts"),
        "errors",
        "summary",
        "incident_id",
    )


def page_incidents(meta: dict, view: state.View, start, end) -> None:
    st.title("Incidents")
    st.caption(_range_caption(start, end, view))
    incidents = load(data.incidents, start, end, tuple(view.hosts), tuple(view.causes))
    if incidents.height == 0:
        if meta["counts"].get("incidents"):
            st.info("No incidents in this range with these filters.")
        else:
            st.info("No incidents in this store: correlation found no dropped connections.")
        return
    st.session_state["_table_ids"] = incidents["incident_id"].to_list()
    st.caption(f"{incidents.height:,} incidents, newest first. Select a row to open it.")
    st.dataframe(
        _incident_table(incidents),
        hide_index=True,
        key="incidents_table",
        on_select=_on_table_select,
        selection_mode="single-row",
        column_config={
            "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="percent"),
            "errors": st.column_config.NumberColumn("connection failures", help=FAILURES_HELP),
            "summary": st.column_config.TextColumn("summary", width="large"),
        },
    )
    labels = _incident_labels(incidents)
    st.selectbox(
        "Open an incident",
        list(labels),
        format_func=labels.get,
        index=None,
        key="w_open",
        on_change=_on_open_select,
        placeholder="choose an incident",
    )


def _incident_labels(incidents: pl.DataFrame) -> dict[str, str]:
    return {
        row["incident_id"]: f"{_fmt_ts(row['start_ts'])} · {row['cause']} · {row['incident_id']}"
        for row in incidents.select("incident_id", "start_ts", "cause").to_dicts()
    }


# ----------------------------------------------------------------------------- incident


def charts_for(cause: str) -> tuple[str, ...]:
    """The incident page's charts for a cause, as its registry entry declares them; every
    chart for a cause the registry does not know (a cause module no longer loaded)."""
    try:
        return by_name(cause).charts
    except KeyError:
        return INCIDENT_CHARTS


def page_incident(meta: dict, view: state.View, start, end) -> None:
    incidents = load(data.incidents, start, end, tuple(view.hosts), tuple(view.causes))
    labels = _incident_labels(incidents)
    wanted = view.incident
    if wanted and wanted not in labels:
        labels = {wanted: f"{wanted} (outside the current filters)", **labels}
    if not labels:
        st.title("Incident")
        st.info(
            "No incidents in this range with these filters: pick a wider range on the left."
            if meta["counts"].get("incidents")
            else "No incidents in this store: correlation found no dropped connections."
        )
        return
    if st.session_state.get("w_incident") not in labels:  # not rendered on the last page: restore
        st.session_state["w_incident"] = wanted if wanted in labels else next(iter(labels))
    st.selectbox("Incident", list(labels), format_func=labels.get, key="w_incident")
    incident_id = st.session_state["w_incident"]
    st.session_state["_last_incident"] = incident_id
    view.incident = incident_id
    _write_url(view)

    verdict = load(data.incident, incident_id)
    if verdict is None:
        st.warning(
            "There is no incident with that id in this store (the link may be from another store, "
            "or correlation has run again since)."
        )
        return
    inc = verdict["incident"]
    duration_s = (inc["end_ts"] - inc["start_ts"]).total_seconds()
    window_s = min(max(2 * duration_s, ZOOM_MIN_S), ZOOM_MAX_S)  # context on each side
    shown = charts_for(inc["cause"])

    # the verdict first: it needs no series
    with st.container(key="incident_summary"):
        color = charts.cause_color(inc["cause"])
        st.markdown(
            f"## <span style='color:{color}'>■</span> {_plain(inc['cause'])} "
            f"<small>({inc['confidence']:.0%} confidence)</small>",
            unsafe_allow_html=True,
        )
        st.caption(
            f"{_plain(inc['incident_id'])} · {_fmt_ts(inc['start_ts'])} to {_fmt_ts(inc['end_ts'])} UTC "
            f"({_fmt_duration(duration_s)}) · {_failures(inc['errors'])} on "
            f"{_plain(', '.join(inc['hosts']) or 'unknown hosts')}",
            help=FAILURES_HELP,
        )

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Explanation")
        st.markdown(_plain(inc["summary"]))
        if inc["advice"]:
            st.subheader("What to change")
            st.markdown("\n".join(f"- {_plain(a)}" for a in inc["advice"]))
    with right:
        ranked = _ranked(inc["scores"])
        if ranked:
            st.subheader("Causes weighed")
            st.dataframe(
                pl.DataFrame(ranked, schema=["cause", "score"], orient="row"),
                hide_index=True,
                key="scores",
                column_config={
                    "score": st.column_config.ProgressColumn(
                        "score", min_value=0.0, max_value=max(1.0, max(s for _, s in ranked)), format="%.2f"
                    )
                },
            )

    if "timeline" in shown:
        st.subheader("Timeline around the incident")
        with st.spinner("Drawing the timeline…"):
            fig = load(figures.incident_timeline, incident_id, window_s)
        if fig is not None:
            st.plotly_chart(fig, key="incident_timeline", config={"displaylogo": False})

    st.subheader("Evidence")
    evidence: pl.DataFrame = verdict["evidence"]
    if evidence.height == 0:
        st.info("Correlation kept no evidence lines for this incident.")
    rows = evidence.to_dicts()
    for i, row in enumerate(rows):
        if i == EVIDENCE_SHOWN:
            more = st.expander(f"{len(rows) - EVIDENCE_SHOWN} more evidence lines")
        with more if i >= EVIDENCE_SHOWN else st.container():
            _evidence_line(row)

    side = [name for name in ("latency", "idle_times") if name in shown]
    if not side:
        return
    for name, column in zip(side, st.columns(2) if len(side) == 2 else [st.container()]):
        with column:
            if name == "latency":
                _latency_section(meta, incident_id, window_s)
            else:
                _idle_section(inc, incident_id, window_s)


def _failures(n: int) -> str:
    return f"{n:,} connection failure{'s' if n != 1 else ''}"


def _latency_section(meta: dict, incident_id: str, window_s: float) -> None:
    fig = load(figures.incident_latency, incident_id, window_s)
    if fig is None:
        st.subheader("Latency")
        st.info(
            "No latency data around this incident: `network` cannot be judged."
            if "latency" in meta["sources"]
            else "No latency data in this store: `network` cannot be judged. Record it with "
            "`pipeline probe` or ping -D next time."
        )
        return
    st.plotly_chart(fig, key="incident_latency", config={"displaylogo": False})


def _idle_section(inc: dict, incident_id: str, window_s: float) -> None:
    found = load(data.incident_idle, incident_id, window_s)
    fig = load(figures.incident_idle, incident_id, window_s)
    known = figures.known_idle(found["idle"]) if found else None
    if fig is None or found is None or known is None or known.height == 0:
        st.subheader("Idle times")
        st.info(
            "No SQLAlchemy pool checkouts with a known idle time around this incident, "
            "so idle times cannot be compared with a limit (log `sqlalchemy.pool` at DEBUG)."
        )
        return
    st.plotly_chart(fig, key="incident_idle", config={"displaylogo": False})
    st.markdown(idle_notes(inc, known, found))


def idle_notes(inc: dict, known: pl.DataFrame, found: dict) -> str:
    """What the idle chart's numbers count, in plain words, beside the incident's connection
    failures (a different count): failed checkouts during the incident, the checkouts the
    chart draws over its wider window, and the idle limit (inferred, or only the server's
    wait_timeout, which is not a limit these failures showed)."""
    failed = known.filter(pl.col("failed"))
    within = found["drop_within_s"]
    # a checkout fails up to drop_within_s before the failure that opens the incident
    during = failed.filter(
        (pl.col("ts") >= inc["start_ts"] - dt.timedelta(seconds=within)) & (pl.col("ts") <= inc["end_ts"])
    ).height
    errors = int(inc["errors"])
    lo_ts, hi_ts = found["window"]
    if during > errors:
        why = (
            "more than the failures: the pool can find a dead connection at checkout and replace it "
            "before any request fails, and one failure can follow several checkouts"
        )
    elif during < errors:
        why = (
            "fewer than the failures: a failure on a new connection (a refused or failed connect) or "
            "on a connection whose idle time is unknown has no checkout here"
        )
    else:
        why = "as many as the failures"
    lines = [
        f"- **{_failures(errors)}** in the incident: requests the application logged as failed, "
        f"{_fmt_ts(inc['start_ts'])} to {_fmt_ts(inc['end_ts'])} UTC.",
        f"- **{during:,} failed checkout{'s' if during != 1 else ''}** in the same time ({why}). A checkout "
        f"failed when the pool discarded its connection or a connection failure followed within {within:g} s.",
        f"- The chart covers {known.height:,} checkouts from {_fmt_ts(lo_ts)} to {_fmt_ts(hi_ts)} UTC, "
        f"before and after the incident too: {failed.height:,} of them failed.",
    ]
    limit, wait_timeout = found["limit"], found["wait_timeout"]
    if limit:
        lo, hi = limit
        lines.append(
            "- Idle limit inferred from the failures: "
            + (f"between {lo:g} s and {hi:g} s." if lo is not None and lo != hi else f"about {hi:g} s.")
        )
    elif wait_timeout:
        lines.append(
            "- No idle limit could be inferred from these checkouts (the server's wait_timeout is "
            f"{wait_timeout:g} s, {_fmt_duration(wait_timeout)})."
        )
    else:
        lines.append("- No idle limit could be inferred from these checkouts.")
    return "\n".join(lines)


def _evidence_line(row: dict) -> None:
    where = f"{row['file']}:{row['line_no']}" if row.get("file") else ""
    st.markdown(
        f"**{_fmt_ts(row['ts'])}** · `{_plain(row['source'])}`"
        + (f" · {_plain(row['kind'])}" if row.get("kind") else "")
        + (f" — {_plain(row['why'])}" if row.get("why") else "")
        + (f" · <small>{_plain(where)}</small>" if where else ""),
        unsafe_allow_html=True,
    )
    st.code(row.get("line") or "", language=None, wrap_lines=True)


def _ranked(scores: dict) -> list[tuple[str, float]]:
    out = []
    for cause, value in (scores or {}).items():
        score = value.get("score") if isinstance(value, dict) else value
        try:
            out.append((str(cause), float(score)))
        except (TypeError, ValueError):
            continue
    return sorted(out, key=lambda kv: -kv[1])


# ----------------------------------------------------------------------------- data health


def page_health(meta: dict) -> None:
    st.title("Data health")
    report = load(data.health)
    coverage = report["coverage"]
    counts = meta["counts"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Files ingested", f"{len(report['files']):,}")
    c2.metric("Formats", f"{len({f['format'] for f in report['files']}):,}")
    c3.metric("Rejected lines", f"{report['rejected_lines']:,}")
    c4.metric("Incidents", f"{counts.get('incidents', 0):,}")

    st.subheader("Coverage per source")
    for item in report["missing"]:
        st.warning(f"**{item['source']}**: {item['means']}.")
    if not report["missing"]:
        st.success("Every source is present: all causes can be judged.")
    rows = {r["source"]: r["rows"] for r in coverage}
    shown = [
        r
        for r in coverage  # one server log kind is enough: hide the other when empty
        if r["rows"] or r["source"] not in ("mysql", "postgres") or not (rows.get("mysql") or rows.get("postgres"))
    ]
    st.caption("Over the whole store, whatever the filters.")
    st.dataframe(
        pl.DataFrame([{**r, "first": _fmt_ts(r["first"]), "last": _fmt_ts(r["last"])} for r in shown]),
        hide_index=True,
        key="coverage",
    )
    if report["buckets"]:
        st.plotly_chart(
            health_mod.coverage_chart(report["buckets"]), key="coverage_chart", config={"displaylogo": False}
        )

    st.subheader("Formats")
    if report["formats"]:
        st.dataframe(pl.DataFrame(report["formats"]), hide_index=True, key="formats")
    else:
        st.info("No files ingested yet.")

    st.subheader("Rejected lines")
    if not report["rejects"]:
        st.success("No rejected lines.")
    else:
        by_reason: dict[str, list[dict]] = {}
        for r in report["rejects"]:
            by_reason.setdefault(r["reason"], []).append(r)
        for reason, rows in by_reason.items():
            with st.expander(f"{reason}: {rows[0]['lines']:,} lines", expanded=len(by_reason) <= 3):
                for r in rows:
                    st.caption(f"{_plain(r['file'])}:{r['line_no']}")
                    st.code(r["raw"] or "", language=None, wrap_lines=True)

    st.subheader("Files")
    if report["files"]:
        files = pl.DataFrame(report["files"]).with_columns(
            pl.col("ingested_at").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S")
        )
        st.dataframe(files, hide_index=True, key="files")
