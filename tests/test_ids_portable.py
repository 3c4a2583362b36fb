"""Event and incident ids do not depend on where the logs sit: the same logs ingested
from two folders (another clone, a re-mounted disk) give the same ids, so bookmarks,
digests, postmortem links and the ids shown in the docs stay true."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipeline.ingest.runner import ingest_paths

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
SCENARIOS = ("server_wait_timeout", "server_restart", "pool_exhaustion")


def _ids(db: Path) -> tuple[list, list]:
    with duckdb.connect(str(db), read_only=True) as con:
        incidents = con.execute("SELECT incident_id, cause FROM incidents ORDER BY ALL").fetchall()
        events = con.execute("SELECT event_id FROM events ORDER BY ALL").fetchall()
    return incidents, events


def test_the_same_logs_in_two_places_get_the_same_ids(tmp_path):
    stores = []
    for where in ("a/deep/copy", "elsewhere"):
        root = tmp_path / where / "logs"
        for name in SCENARIOS:
            shutil.copytree(SAMPLES / name, root / name)
        db = tmp_path / f"{where.replace('/', '-')}.duckdb"
        ingest_paths([root], db)
        stores.append(_ids(db))
    (incidents_a, events_a), (incidents_b, events_b) = stores
    assert incidents_a and incidents_a == incidents_b
    assert len(events_a) > 100 and events_a == events_b


def test_a_file_given_alone_or_in_its_folder_gets_the_same_ids(tmp_path):
    log = SAMPLES / "server_wait_timeout" / "app.log"
    alone, in_folder = tmp_path / "alone.duckdb", tmp_path / "folder.duckdb"
    ingest_paths([log], alone, correlate=False)
    ingest_paths([log.parent], in_folder, correlate=False)
    with duckdb.connect(str(in_folder), read_only=True) as con:
        from_folder = con.execute("SELECT event_id FROM events WHERE file = ? ORDER BY ALL", [str(log)]).fetchall()
    assert _ids(alone)[1] == from_folder


def test_two_files_with_the_same_name_and_first_line_still_get_ids_of_their_own(tmp_path):
    line = "2026-11-30 00:00:02,000 - app - INFO - started\n"
    for host in ("web-1", "web-2"):
        (tmp_path / "logs" / host).mkdir(parents=True)
        (tmp_path / "logs" / host / "app.log").write_text(line + f"2026-11-30 00:00:03,000 - app - INFO - {host}\n")
    db = tmp_path / "s.duckdb"
    ingest_paths([tmp_path / "logs"], db, correlate=False)
    with duckdb.connect(str(db), read_only=True) as con:
        ids = con.execute("SELECT event_id FROM events").fetchall()
    assert len(ids) == 4 and len(set(ids)) == 4
