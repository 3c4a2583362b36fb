"""A Parquet folder (an export, a collection) is read as a store by every reader."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import parquet_store
from pipeline import store as store_mod
from pipeline.export import export_parquet
from pipeline.ingest.runner import ingest_paths

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """The sample logs' store and its export."""
    tmp = tmp_path_factory.mktemp("parquet_store")
    db = tmp / "s.duckdb"
    ingest_paths([ROOT / "sample_logs"], db)
    export_parquet(db, tmp / "exp")
    return db, tmp / "exp"


@pytest.mark.parametrize(
    "command",
    [["incidents", "--format", "json"], ["status", "--format", "json"], ["digest", "--date", "2026-11-25"]],
    ids=["incidents", "status", "digest"],
)
def test_readers_see_the_export_as_the_store(exported, command):
    db, folder = exported
    from_store, from_folder = _cli(*command, "--db", str(db)), _cli(*command, "--db", str(folder))
    assert from_store.returncode == from_folder.returncode == 0, from_folder.stderr
    if command[0] == "status":  # it names the store it read, and the export has no progress of files read
        a, b = json.loads(from_store.stdout), json.loads(from_folder.stdout)
        for key in ("schema_version", "first", "last", "formats", "events_by_kind", "rejects", "incidents"):
            assert a[key] == b[key], key
    else:
        assert from_folder.stdout == from_store.stdout


def test_explain_and_the_python_api_read_the_folder(exported):
    from pipeline.api import Store

    db, folder = exported
    store, folder_store = Store.open(db), Store.open(folder)
    latest = store.latest_incident_id()
    assert latest and folder_store.latest_incident_id() == latest
    assert folder_store.incident(latest).evidence.equals(store.incident(latest).evidence)
    assert _cli("explain", latest, "--db", str(folder)).stdout == _cli("explain", latest, "--db", str(db)).stdout


def test_a_day_reads_only_that_days_partitions(exported):
    _, folder = exported
    day = dt.date(2026, 11, 25)
    with store_mod.connect(folder, read_only=True, days=(day, day)) as con:
        days = {d for (d,) in con.execute("SELECT DISTINCT (ts AT TIME ZONE 'UTC')::DATE FROM events").fetchall()}
    assert days == {day}
    with store_mod.connect(folder, read_only=True) as con:
        all_days = {d for (d,) in con.execute("SELECT DISTINCT (ts AT TIME ZONE 'UTC')::DATE FROM events").fetchall()}
    assert len(all_days) > 1


def test_a_collection_is_read_with_its_machines_progress(tmp_path):
    from pipeline.parquet_out import ingest_to_parquet

    logs = tmp_path / "logs"
    shutil.copytree(ROOT / "sample_logs" / "middlebox_idle_kill", logs / "middlebox_idle_kill")
    ingest_to_parquet([logs], tmp_path / "fleet", machine="app-1", jobs=1)
    status = _cli("status", "--db", str(tmp_path / "fleet"), "--format", "json")
    assert status.returncode == 0, status.stderr
    direct = tmp_path / "s.duckdb"
    ingest_paths([logs], direct, correlate=False)
    with (
        store_mod.connect(tmp_path / "fleet", read_only=True) as folder,
        store_mod.connect(direct, read_only=True) as con,
    ):
        query = "SELECT source, kind, count(*) FROM events GROUP BY ALL ORDER BY ALL"
        assert folder.execute(query).fetchall() == con.execute(query).fetchall()
        # each machine's progress stands for the files table
        assert (
            folder.execute("SELECT count(*) FROM files").fetchone()
            == con.execute("SELECT count(*) FROM files").fetchone()
        )
    version = parquet_store.version(tmp_path / "fleet")
    (logs / "middlebox_idle_kill" / "app.log").open("a").write("2026-11-25 01:00:00,000 ERROR app: one more line\n")
    ingest_to_parquet([logs], tmp_path / "fleet", machine="app-1", jobs=1)
    assert parquet_store.version(tmp_path / "fleet") != version  # caches (the dashboard's) see the change


def test_writing_to_a_folder_is_one_clear_error(exported, tmp_path):
    _, folder = exported
    wrote = _cli("correlate", "--db", str(folder))
    assert wrote.returncode == 1 and wrote.stderr.startswith("error: ") and "read-only" in wrote.stderr
    (tmp_path / "plain").mkdir()
    plain = _cli("incidents", "--db", str(tmp_path / "plain"))
    assert plain.returncode == 1 and "not a store" in plain.stderr and plain.stderr.count("\n") == 1
