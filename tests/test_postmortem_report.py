"""What a reader of ``pipeline postmortem``'s HTML sees, over the store built from ``sample_logs/``.

* The appendix always lists the incident's own lines (its evidence and its member drops),
  then the lines nearest the incident from each source, and says how many lines of the
  window it left out (:func:`pipeline.postmortem.appendix`).
* Cells of the template tagged ``template-note`` (notes for whoever edits the template)
  are not in the report.
* The command prints its one line and nothing on stderr (the kernel it starts included).
* Text columns of the appendix table are left-aligned.

The report is rendered once (``report`` fixture) by running the command in a subprocess,
as a user would, for the incident whose window holds the most lines before it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from pipeline import postmortem as pm
from pipeline.api import Store
from pipeline.correlate.incidents import CLIENT_SOURCES, SERVER_DROP_KINDS, SERVER_SOURCES
from pipeline.kinds import CLIENT_DROP_KINDS
from tests.helpers import run_python

ROOT = Path(__file__).resolve().parents[1]
WINDOW = "10m"
NOTE_TAG = "template-note"
# what the appendix lists: connection errors and server events
KINDS = tuple(dict.fromkeys((*CLIENT_DROP_KINDS, *SERVER_DROP_KINDS)))


def _where(file: str, line_no: int) -> str:
    """How the report names a line: the last two components of its file, and its number."""
    return "/".join(Path(str(file)).parts[-2:]) + f":{line_no}"


def _in_list(values) -> str:
    return ", ".join("'" + v + "'" for v in values)


def _window_lines(store: Store, inc) -> list[dict]:
    """Every line of the appendix's kinds within the window, with its distance to the incident."""
    lo, hi = inc.around(WINDOW)
    frame = store.sql(
        f"""
        SELECT source, file, line_no, ts,
               greatest(epoch_ms(?::TIMESTAMPTZ) - epoch_ms(ts), epoch_ms(ts) - epoch_ms(?::TIMESTAMPTZ), 0) AS dist
        FROM events WHERE ts >= ? AND ts <= ? AND kind IN ({_in_list(KINDS)})
        """,
        [inc.start, inc.end, lo, hi],
    )
    return frame.to_dicts()


def _expected_drops(store: Store, inc) -> set[tuple[str, int]]:
    """The incident's member drops: the drops of its lane (client, or the server's when only the
    server's log saw it) within its span, less those of incidents that lie within that span."""
    sources, kinds = (
        (SERVER_SOURCES, SERVER_DROP_KINDS) if inc.details.server_only else (CLIENT_SOURCES, CLIENT_DROP_KINDS)
    )
    frame = store.sql(
        f"""
        SELECT file, line_no FROM events e
        WHERE ts >= ? AND ts <= ? AND source IN ({_in_list(sources)}) AND kind IN ({_in_list(kinds)})
          AND NOT EXISTS (
              SELECT 1 FROM incidents o
              WHERE o.incident_id <> ? AND o.start_ts >= ? AND o.end_ts <= ?
                AND e.ts >= o.start_ts AND e.ts <= o.end_ts)
        """,
        [inc.start, inc.end, inc.incident_id, inc.start, inc.end],
    )
    return {(r["file"], r["line_no"]) for r in frame.to_dicts()}


def _crowded_incident(store: Store) -> str:
    """The incident whose window holds the most appendix lines before its start."""
    best, most = None, -1
    for iid in store.incidents()["incident_id"].to_list():
        inc = store.incident(iid)
        before = sum(1 for r in _window_lines(store, inc) if r["ts"] < inc.start)
        if before > most:
            best, most = iid, before
    assert best is not None
    # more lines before the incident than the old appendix (the first 200 of the window) held
    assert most > 200, most
    return best


# --------------------------------------------------------------------------- the selection


def test_appendix_keeps_every_incident_line(sample_store):
    """Each incident of the sample store: its evidence lines and drops are all in its appendix."""
    store = Store.open(sample_store)
    ids = store.incidents()["incident_id"].to_list()
    assert ids
    for iid in ids:
        inc = store.incident(iid)
        app = pm.appendix(inc, WINDOW)
        shown = {(r["file"], r["line_no"]) for r in app.lines.to_dicts()}
        for r in inc.evidence.to_dicts():
            if r["file"] is not None:
                assert (r["file"], r["line_no"]) in shown, (iid, r)
        drops = _expected_drops(store, inc)
        assert drops, iid
        assert drops <= shown, (iid, sorted(drops - shown)[:5])
        roles = [r for r in app.lines["role"].to_list() if r.startswith("evidence ")]
        seqs = {int(n) for r in roles for n in r.removeprefix("evidence ").split(", ")}
        assert seqs == set(inc.evidence["seq"].to_list()), iid
        assert app.drops == len(drops) and app.drops_left_out == 0
        assert app.lines["ts"].is_sorted()


def test_appendix_context_is_balanced_and_nearest(sample_store):
    """Context: from each source the lines nearest the incident, at most ``per_source`` of them;
    the note counts the lines of the window left out."""
    store = Store.open(sample_store)
    inc = store.incident(_crowded_incident(store))
    per_source = 7
    app = pm.appendix(inc, WINDOW, per_source=per_source)
    window = _window_lines(store, inc)
    rows = app.lines.to_dicts()
    shown = {(r["file"], r["line_no"]) for r in rows}
    context = [r for r in rows if r["role"] == "context"]
    own = {(r["file"], r["line_no"]) for r in rows if r["role"] != "context"}
    assert context

    for source in {r["source"] for r in window}:
        mine = [r for r in window if r["source"] == source]
        left = [r for r in mine if (r["file"], r["line_no"]) not in shown]
        ctx = [r for r in context if r["source"] == source]
        not_own = [r for r in mine if (r["file"], r["line_no"]) not in own]
        assert len(ctx) == min(per_source, len(not_own)), source
        if ctx and left:
            dist = {(r["file"], r["line_no"]): r["dist"] for r in mine}
            assert max(dist[(c["file"], c["line_no"])] for c in ctx) <= min(r["dist"] for r in left), source

    in_window = sum(1 for r in window if (r["file"], r["line_no"]) in shown)
    assert app.window_lines == len(window)
    assert app.left_out == len(window) - in_window > 0
    note = app.note()
    assert f"{app.left_out:,} of the {len(window):,} lines" in note
    assert f"up to {per_source} lines from each source" in note


def test_appendix_evidence_without_event(tmp_path):
    """An evidence line that is no event of the store (a latency or metrics line) is still listed."""
    from tests.test_api import build_store, incident_id

    db = build_store(tmp_path / "t.duckdb")
    inc = Store.open(db).incident(incident_id("network"))
    app = pm.appendix(inc, WINDOW)
    ev = app.lines.filter(app.lines["role"] == "evidence 1").to_dicts()
    assert len(ev) == 1
    assert ev[0]["message"] == "line showing network"
    html = app.html()
    assert "line showing network" in html
    assert html.count("<tr") == app.lines.height + 1


def test_appendix_caps_drops(sample_store):
    store = Store.open(sample_store)
    inc = store.incident(_crowded_incident(store))
    app = pm.appendix(inc, WINDOW, max_drops=2, per_source=0)
    assert app.drops > 2
    assert (app.lines["role"] == "drop").sum() <= 2
    assert app.drops_left_out > 0
    assert f"{app.drops_left_out} more" in app.note()


def test_appendix_html_escapes_and_aligns():
    import polars as pl

    lines = pl.DataFrame(
        {
            "ts": [dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC)],
            "role": ["drop"],
            "source": ["app"],
            "host": ["web-1"],
            "kind": ["lost_connection"],
            "error_code": [2013],
            "message": ["<script>alert(1)</script> " + "x" * 1000],
            "file": ["/logs/a/app.log"],
            "line_no": [7],
        }
    )
    app = pm.Appendix(lines=lines, window="10m", window_lines=1, left_out=0, per_source=20, drops=1)
    html = app.html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "x" * 1000 not in html
    cells = _cells(html)
    assert cells["message"] == ["left"] and cells["where"] == ["left"] and cells["code"] == ["right"]


# --------------------------------------------------------------------------- the rendered report


class _Cells(HTMLParser):
    """The text-align of each cell of the last table, by its column heading."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.aligns: list[tuple[int, str]] = []
        self._col = -1
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        style = dict(attrs).get("style") or ""
        align = re.search(r"text-align:\s*(\w+)", style)
        if tag == "table":
            self.headings, self.aligns = [], []
        elif tag == "tr":
            self._col = -1
        elif tag == "th":
            self._in_th = True
            self.headings.append("")
        elif tag == "td":
            self._col += 1
            self.aligns.append((self._col, align.group(1) if align else ""))

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._in_th:
            self.headings[-1] += data


def _cells(html: str) -> dict[str, list[str]]:
    parser = _Cells()
    parser.feed(html)
    out: dict[str, list[str]] = {h.strip(): [] for h in parser.headings}
    for col, align in parser.aligns:
        out[parser.headings[col].strip()].append(align)
    return out


@pytest.fixture(scope="module")
def report(sample_store, tmp_path_factory):
    """``pipeline postmortem`` for the crowded incident, run as a user runs it: (incident id, HTML,
    the kept notebook, the finished process)."""
    iid = _crowded_incident(Store.open(sample_store))
    out = tmp_path_factory.mktemp("report")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = run_python(
        "-m",
        "pipeline.cli",
        "postmortem",
        iid,
        "--db",
        sample_store,
        "--out",
        out / "report.html",
        "--notebook",
        out / "kept.ipynb",
        cwd=out,
        env=env,
    )
    return iid, (out / "report.html").read_text(encoding="utf-8"), out / "kept.ipynb", proc


def _appendix_html(html: str) -> str:
    marker = "Appendix: log lines around the incident"
    assert marker in html
    return html[html.rindex(marker) :]


@pytest.mark.slow
def test_command_output_is_clean(report):
    iid, _, kept, proc = report
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{iid} (") and lines[0].endswith(f"and {kept}")


@pytest.mark.slow
def test_report_appendix_shows_incident_lines(report, sample_store):
    iid, html, _, _ = report
    store = Store.open(sample_store)
    inc = store.incident(iid)
    appendix = _appendix_html(html)
    for r in inc.evidence.to_dicts():
        if r["file"] is not None:
            assert f">{_where(r['file'], r['line_no'])}<" in appendix, r
    drops = _expected_drops(store, inc)
    assert drops
    for file, line_no in drops:
        assert f">{_where(file, line_no)}<" in appendix, (file, line_no)
    # each source of the window has lines in the appendix
    for source in {r["source"] for r in _window_lines(store, inc)}:
        assert f">{source}<" in appendix, source
    assert re.search(r"[\d,]+ of the [\d,]+ lines of the ±10m window were left out", appendix)


def test_template_notes_are_tagged():
    template = nbformat.read(str(pm.TEMPLATE), as_version=4)
    assert pm.NOTE_TAG == NOTE_TAG
    notes = [c for c in template.cells if NOTE_TAG in c.metadata.get("tags", [])]
    assert notes, f"the template's notes for its editors should be tagged {NOTE_TAG!r}"
    assert all(c.cell_type == "markdown" for c in notes)
    assert any("papermill pipeline/notebooks/postmortem.ipynb" in c.source for c in notes)
    assert template.cells[0].source.startswith("# Postmortem") and not template.cells[0].metadata.get("tags")


@pytest.mark.slow
def test_report_has_no_template_notes(report):
    _, html, kept, _ = report
    template = nbformat.read(str(pm.TEMPLATE), as_version=4)
    notes = [c for c in template.cells if NOTE_TAG in c.metadata.get("tags", [])]
    assert notes
    markdown = [c for c in template.cells if c.cell_type == "markdown"]
    assert len(re.findall(r'class="[^"]*\bjp-MarkdownCell\b', html)) == len(markdown) - len(notes)
    assert "Template for writing up" not in html
    assert "papermill pipeline/notebooks/postmortem.ipynb" not in html
    assert "Postmortem: database connection drops" in html  # the title stays
    # the kept notebook, the author's starting point, still has them
    assert any(NOTE_TAG in c.metadata.get("tags", []) for c in nbformat.read(str(kept), as_version=4).cells)


def test_to_html_removes_tagged_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Kept heading"),
        nbformat.v4.new_markdown_cell("Editing notes nobody else reads", metadata={"tags": [NOTE_TAG]}),
        nbformat.v4.new_markdown_cell("Kept paragraph"),
    ]
    html = pm.to_html(nb, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Kept heading" in html and "Kept paragraph" in html
    assert "Editing notes" not in html


def _one_cell(tmp_path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source)]
    path = tmp_path / "one.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_kernel_uses_ipc(tmp_path):
    """Where the platform has Unix sockets the kernel listens on them, not on TCP ports."""
    import zmq

    if not zmq.has("ipc"):
        pytest.skip("no IPC sockets here")
    source = "from ipykernel import get_connection_info\nprint(get_connection_info(unpack=True)['transport'])"
    nb = pm.execute(_one_cell(tmp_path, source), tmp_path / "out.ipynb", {})
    assert nb.cells[0].outputs[0]["text"].strip() == "ipc"


@pytest.mark.slow
def test_dead_kernel_error_quotes_its_log(tmp_path):
    """The kernel's log stays off the terminal, but an error the kernel caused quotes it."""
    source = "import os, sys\nprint('last words', file=sys.__stderr__, flush=True)\nos._exit(3)"
    with pytest.raises(pm.PostmortemError, match=r"(?s)kernel died while running one\.ipynb.*last words"):
        pm.execute(_one_cell(tmp_path, source), tmp_path / "out.ipynb", {})


@pytest.mark.slow
def test_report_text_columns_left_aligned(report):
    _, html, _, _ = report
    cells = _cells(_appendix_html(html))
    for column in ("time (UTC)", "role", "source", "host", "kind", "message", "where"):
        assert cells[column] and set(cells[column]) == {"left"}, column
    assert set(cells["code"]) == {"right"}
