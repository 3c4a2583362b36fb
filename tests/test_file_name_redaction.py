"""A secret in a file's or folder's name is masked before the name is stored or printed,
part by part, so the files below a masked folder keep names of their own and a second run
still knows them."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner

from pipeline.cli import cli

LINE = "2026-11-30 00:00:02,000 - app - ERROR - query failed: (2013, 'Lost connection to MySQL server')\n"


def test_secrets_in_paths_reach_neither_the_store_nor_the_output(tmp_path):
    folder = tmp_path / "logs" / "password=hunter2"
    folder.mkdir(parents=True)
    (folder / "app.log").write_text(LINE)
    (folder / "db.log").write_text(LINE.replace("00:02", "00:03"))
    (tmp_path / "logs" / "AKIAIOSFODNN7EXAMPLE.log").write_text(LINE)
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    first = runner.invoke(cli, ["ingest", str(tmp_path / "logs"), "--db", str(db), "--json"])
    assert first.exit_code == 0, first.output
    assert "hunter2" not in first.output and "AKIAIOSFODNN7EXAMPLE" not in first.output
    files = json.loads(first.output[first.output.index("{") :])["files"]
    names = sorted(f["path"].rsplit("logs/", 1)[1] for f in files)
    assert names == ["***.log", "password=***/app.log", "password=***/db.log"]
    with duckdb.connect(str(db), read_only=True) as con:
        for table, column in (("files", "path"), ("events", "file"), ("event_files", "file")):
            leaked = con.execute(
                f"SELECT count(*) FROM {table} WHERE contains({column}, 'hunter2') OR contains({column}, 'AKIA')"
            ).fetchone()[0]
            assert leaked == 0, table
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    again = runner.invoke(cli, ["ingest", str(tmp_path / "logs"), "--db", str(db), "--json"])
    statuses = [f["status"] for f in json.loads(again.output[again.output.index("{") :])["files"]]
    assert statuses == ["unchanged"] * 3
    shown = runner.invoke(cli, ["status", "--db", str(db)]).output
    assert "hunter2" not in shown
