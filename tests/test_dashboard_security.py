"""The dashboard cannot change the store, whatever a link carries.

* every value from the URL is checked against the store or parsed before use,
  and whatever reaches SQL does so as a bound parameter: injection strings in
  any query parameter leave the store byte-for-byte unchanged and show no
  exception;
* the store is opened read-only;
* the server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from dashboard import demo
from pipeline import store as store_mod
from pipeline.commands import dashboard as dashboard_cmd
from tests.test_dashboard_apptest import summary

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")

INJECTIONS = [
    "x' OR 1=1 --",
    "'; DROP TABLE events; --",
    "idle_timeout;DROP TABLE events",
    "network' UNION SELECT path, format FROM files --",
    '") OR ("1"="1',
    "1); DELETE FROM incidents; --",
    "<script>alert(1)</script>",
    "[link](javascript:alert(1))",
    "x" * 5000,
    "%27%20OR%201%3D1",
    "app-1\x00",
]

PARAMS = ["host", "cause", "source", "page", "range", "start", "end", "incident"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return demo.make_store(tmp_path_factory.mktemp("sec") / "sec.duckdb")


def fingerprint(db: Path) -> tuple:
    """The file's bytes and every table's row count."""
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    with store_mod.opened(db, read_only=True) as con:
        tables = [
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()
        ]
        counts = tuple((t, con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables)
    return digest, counts


def run(db: Path, monkeypatch, params: dict) -> AppTest:
    monkeypatch.setenv(store_mod.ENV_DB, str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


@pytest.mark.parametrize("param", PARAMS)
def test_injection_strings_in_query_params(store, monkeypatch, param):
    before = fingerprint(store)
    for i, value in enumerate(INJECTIONS):
        if param == "incident":
            pages = ("incident",)
        else:  # every value on the incidents page, a few on the (slower) overview
            pages = ("incidents", "overview") if i < 2 else ("incidents",)
        for page in pages:
            params = {"page": page, param: value} if param != "page" else {param: value}
            if param in ("start", "end"):
                params["range"] = "custom"
            at = run(store, monkeypatch, params)
            assert not at.exception, (params, [e.value for e in at.exception])
            assert not at.error, (params, [e.value for e in at.error])
    assert fingerprint(store) == before


def test_injection_strings_typed_into_widgets(store, monkeypatch):
    before = fingerprint(store)
    at = run(store, monkeypatch, {})
    at.selectbox(key="w_range").set_value("custom").run()
    for value in INJECTIONS[:6]:
        at.text_input(key="w_start").set_value(value).run()
        assert not at.exception
        at.text_input(key="w_end").set_value(value).run()
        assert not at.exception
    assert fingerprint(store) == before


def test_unknown_values_are_reported_not_used(store, monkeypatch):
    at = run(store, monkeypatch, {"host": "x' OR 1=1 --", "cause": "network;DROP TABLE events"})
    assert not at.exception
    assert at.multiselect(key="w_hosts").value == []
    assert at.multiselect(key="w_causes").value == []
    notice = " ".join(w.value for w in at.sidebar.warning)
    assert "Ignored link values" in notice
    # the page shows every incident, as if the bad values were absent
    assert summary(at)["Incidents"] == "4"


def test_injected_incident_id_is_a_bound_parameter(store, monkeypatch):
    before = fingerprint(store)
    at = run(store, monkeypatch, {"page": "incident", "incident": "' OR '1'='1"})
    assert not at.exception
    assert any("no incident with that id" in w.value for w in at.warning)
    assert fingerprint(store) == before


def test_dashboard_opens_the_store_read_only(store, monkeypatch):
    from dashboard import data

    reader = data._store(str(store))
    assert reader.read_only
    with pytest.raises(Exception, match=r"(?i)read.only"):
        reader.sql("DELETE FROM incidents")
    before = fingerprint(store)
    for page in ("overview", "incidents", "incident", "health"):
        at = run(store, monkeypatch, {"page": page})
        assert not at.exception
    assert fingerprint(store) == before


def test_dashboard_code_formats_no_values_into_sql():
    """SQL text in the dashboard is constant: values go as parameters."""
    sources = list((ROOT / "dashboard").glob("*.py")) + [ROOT / "pipeline" / "health.py"]
    offenders = []
    for path in sources:
        text = path.read_text()
        for match in re.finditer(r"\.(?:execute|sql)\(\s*f[\"']", text):
            offenders.append(f"{path.name}:{text[: match.start()].count(chr(10)) + 1}")
    assert not offenders, offenders


def test_server_binds_localhost_by_default(tmp_path, monkeypatch):
    seen = {}

    def fake_exec(path, cmd, env):
        seen["cmd"], seen["env"] = cmd, env
        assert path == cmd[0]

    monkeypatch.setattr(dashboard_cmd.os, "execve", fake_exec)
    db = tmp_path / "x.duckdb"
    result = CliRunner().invoke(dashboard_cmd.dashboard_command, ["--db", str(db), "--port", "8599"])
    assert result.exit_code == 0, result.output
    cmd = seen["cmd"]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8599"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    assert cmd[-2:] == ["--db", str(db.resolve())]
    assert seen["env"][store_mod.ENV_DB] == str(db.resolve())
    assert Path(cmd[cmd.index("run") + 1]).name == "app.py"

    result = CliRunner().invoke(dashboard_cmd.dashboard_command, ["--db", str(db), "--host", "0.0.0.0"])
    assert result.exit_code == 0
    assert seen["cmd"][seen["cmd"].index("--server.address") + 1] == "0.0.0.0"


def test_db_from_environment(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(dashboard_cmd.os, "execve", lambda path, cmd, env: seen.setdefault("cmd", cmd))
    db = tmp_path / "env.duckdb"
    monkeypatch.setenv(store_mod.ENV_DB, str(db))
    result = CliRunner().invoke(dashboard_cmd.dashboard_command, [])
    assert result.exit_code == 0, result.output
    assert seen["cmd"][-1] == str(db.resolve())
