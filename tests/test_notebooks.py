"""The notebooks: stored without outputs, and executed end to end with papermill.

Execution runs each notebook in a ``python3`` Jupyter kernel, as
``pipeline postmortem`` does; a failing cell fails the test.  Over a hand-built
store (one incident per cause, see ``test_api.build_store``) and over the store
built from ``sample_logs/`` (one incident of each cause found there).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from pipeline import postmortem as pm
from pipeline.api import Store
from tests.helpers import generate_logs
from tests.test_api import EVIDENCE_WHY, build_store, incident_id

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "pipeline" / "notebooks").glob("*.ipynb"))


def _text(nb) -> str:
    """Everything the executed notebook shows: markdown, streams, displayed text and HTML."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
            else:
                data = out.get("data", {})
                for mime in ("text/markdown", "text/plain", "text/html"):
                    if mime in data:
                        value = data[mime]
                        parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def _figures(nb) -> list[dict]:
    figs = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get("application/vnd.plotly.v1+json")
            if fig:
                figs.append(fig if isinstance(fig, dict) else json.loads(fig))
    return figs


def _errors(nb) -> list[str]:
    return [
        out.get("ename", "") + ": " + out.get("evalue", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


# --------------------------------------------------------------------------- stored form


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"postmortem.ipynb", "explore.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], (
                f"{path.name} cell {i} has outputs: run `python -m pipeline.postmortem strip {path}`"
            )
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.slow
def test_strip_outputs(built, tmp_path):
    out = tmp_path / "executed.ipynb"
    pm.execute(pm.EXPLORE, out, {"db": str(built)})
    assert pm.strip_outputs(out) is True
    nb = nbformat.read(str(out), as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert "papermill" not in nb.metadata
    assert pm.strip_outputs(out) is False
    assert pm._main(["strip", str(out)]) == 0
    assert pm._main([]) == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_parameters_cell(path):
    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    assert "db = None" in cells[0].source
    if path.name == "postmortem.ipynb":
        assert "incident_id = None" in cells[0].source
        assert "window = " in cells[0].source


def test_postmortem_sections():
    nb = nbformat.read(str(pm.TEMPLATE), as_version=4)
    headings = [
        line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("## ")
    ]
    for section in (
        "## Summary and verdict",
        "## Timeline across sources",
        "## Evidence",
        "## The evidence series",
        "## Advice",
        "## Actions",
    ):
        assert section in headings


# --------------------------------------------------------------------------- executed


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("nb") / "t.duckdb")


def _run_postmortem(db: Path, iid: str | None, tmp_path: Path, window: str = "10m"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "executed.ipynb"
    pm.execute(pm.TEMPLATE, out, {"db": str(db), "incident_id": iid, "window": window})
    return nbformat.read(str(out), as_version=4)


@pytest.mark.slow
@pytest.mark.parametrize("cause", ["idle_timeout", "network", "max_connections"])
def test_postmortem_executes_per_cause(built, cause, tmp_path):
    nb = _run_postmortem(built, incident_id(cause), tmp_path)
    text = _text(nb)
    assert not _errors(nb)
    assert incident_id(cause) in text
    assert f"**{cause}**" in text
    assert EVIDENCE_WHY[cause] in text
    assert f"advice for {cause}" in text
    figs = _figures(nb)
    assert figs, "the timeline should be drawn"
    titles = [((f.get("layout") or {}).get("title") or {}).get("text") for f in figs]
    if cause == "idle_timeout":
        assert "Inferred idle limit: between 240 s and 310 s" in text
        assert "During the incident 3 of 8 checkouts failed, after idling 310.0-330.0 s." in text
        assert any(t and t.startswith("idle time before checkout") for t in titles)
    else:
        assert "latency around the incident" in titles
    if cause == "max_connections":
        assert "During the incident threads_connected peaked at 151 with max_connections at 151." in text
    if cause == "network":
        assert "During the incident: 7 latency probes, 3 lost, worst round trip 900.0 ms." in text


@pytest.mark.slow
def test_postmortem_defaults_to_latest(built, tmp_path):
    nb = _run_postmortem(built, None, tmp_path)
    assert incident_id("unknown") in _text(nb)


@pytest.mark.slow
def test_explore_executes(built, tmp_path):
    out = tmp_path / "explore.ipynb"
    pm.execute(pm.EXPLORE, out, {"db": str(built)})
    nb = nbformat.read(str(out), as_version=4)
    text = _text(nb)
    assert not _errors(nb)
    assert "incident_evidence" in text  # the example queries ran
    for cause in ("idle_timeout", "network", "max_connections"):
        assert cause in text
    assert len(_figures(nb)) >= 3


@pytest.mark.slow
def test_failing_cell_fails(built, tmp_path):
    nb = nbformat.read(str(pm.TEMPLATE), as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('broken on purpose')"))
    template = tmp_path / "broken.ipynb"
    nbformat.write(nb, str(template))
    with pytest.raises(pm.PostmortemError, match="broken on purpose"):
        pm.execute(template, tmp_path / "out.ipynb", {"db": str(built)})


@pytest.mark.slow
def test_cli_renders_html(built, tmp_path):
    from pipeline.cli import cli

    out = tmp_path / "report.html"
    keep = tmp_path / "kept.ipynb"
    iid = incident_id("idle_timeout")
    result = CliRunner().invoke(
        cli, ["postmortem", iid[:18], "--db", str(built), "--out", str(out), "--notebook", str(keep)]
    )
    assert result.exit_code == 0, result.output
    assert f"{iid} (idle_timeout)" in result.output
    html = out.read_text()
    assert "idle_timeout" in html and EVIDENCE_WHY["idle_timeout"] in html
    assert "Traceback" not in html
    assert "raise " not in html  # code hidden by default
    assert keep.exists()


def test_cli_unknown_incident_fails_fast(built, tmp_path):
    from pipeline.cli import cli

    result = CliRunner().invoke(cli, ["postmortem", "nope", "--db", str(built), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert "no incident 'nope'" in result.output
    missing = CliRunner().invoke(cli, ["postmortem", "--db", str(tmp_path / "absent.duckdb")])
    assert missing.exit_code == 1
    assert "no store" in missing.output


def test_cli_honours_env_db(built, tmp_path, monkeypatch):
    from pipeline.cli import cli

    monkeypatch.setenv("PIPELINE_DB", str(tmp_path / "absent.duckdb"))
    result = CliRunner().invoke(cli, ["postmortem", "x"])
    assert result.exit_code == 1
    assert "absent.duckdb" in result.output


# --------------------------------------------------------------------------- sample logs


def _one_incident_per_cause(db: Path) -> dict[str, str]:
    frame = Store.open(db).incidents()
    out: dict[str, str] = {}
    # the most confident incident of each cause
    for row in frame.sort("confidence", descending=True).iter_rows(named=True):
        out.setdefault(row["cause"], row["incident_id"])
    return out


def _check_each_cause(db: Path, tmp_path: Path) -> set[str]:
    """Execute the postmortem for one incident of each cause; it must show the cause and evidence."""
    per_cause = _one_incident_per_cause(db)
    if not per_cause:
        pytest.skip("the store has no incidents")
    store = Store.open(db)
    for cause, iid in sorted(per_cause.items()):
        inc = store.incident(iid)
        nb = _run_postmortem(db, iid, tmp_path / cause)
        text = _text(nb)
        assert not _errors(nb), (cause, _errors(nb))
        assert iid in text, cause
        assert f"**{cause}**" in text, cause
        assert inc.summary.replace("|", "\\|").replace("`", "'") in text, cause
        assert inc.evidence.height > 0, f"{cause}: no evidence recorded"
        for why in inc.evidence["why"].drop_nulls().head(3).to_list():
            assert html.escape(why, quote=False) in text, (cause, why)
        if cause == "idle_timeout":
            assert "checkouts with a known idle time" in text
            assert "idle limit" in text.lower()
        else:
            assert "During the incident: " in text
    return set(per_cause)


@pytest.mark.slow
def test_sample_postmortem_each_cause(sample_store, tmp_path):
    """Each cause found in sample_logs/: the executed postmortem shows it and its evidence."""
    _check_each_cause(sample_store, tmp_path)


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory) -> Path:
    """A small fleet from the benchmark generator (one planted incident of every cause), ingested."""
    from pipeline.ingest.runner import ingest_paths

    out = tmp_path_factory.mktemp("fleet")
    generate_logs(out / "gen", seed=3)
    db = out / "fleet.duckdb"
    ingest_paths([out / "gen" / "logs"], db)
    return db


@pytest.mark.slow
def test_fleet_postmortem_each_cause(fleet_store, tmp_path):
    """Over generated logs with every cause planted: each cause's postmortem executes and shows it."""
    found = _check_each_cause(fleet_store, tmp_path)
    assert {"idle_timeout", "network", "max_connections", "server_restart"} <= found


@pytest.mark.slow
def test_sample_explore(sample_store, tmp_path):
    out = tmp_path / "explore.ipynb"
    pm.execute(pm.EXPLORE, out, {"db": str(sample_store)})
    nb = nbformat.read(str(out), as_version=4)
    assert not _errors(nb)
    causes = set(Store.open(sample_store).incidents()["cause"])
    text = _text(nb)
    for cause in causes:
        assert cause in text
