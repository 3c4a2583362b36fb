"""Secrets never reach the store: planted in every kind of input, then looked for in
every table and in the raw bytes of the store's files."""

from __future__ import annotations

import json

from pipeline.ingest.runner import ingest_paths
from tests.store_dump import dump

SECRETS = [
    "PLANTED-URL-PW",
    "PLANTED-KV-PW",
    "PLANTED-PWD",
    "PLANTED-SQL-PW",
    "PLANTED-JSON-PW",
    "PLANTED-REJECT-PW",
    "PLANTED-TARGET-PW",
    "PLANTED-DICT-PW",
]


def test_planted_secrets_are_nowhere_in_the_store(tmp_path):
    root = tmp_path / "logs" / "web-1"
    root.mkdir(parents=True)
    (root / "app.log").write_text(
        "  orphan line before any event password=PLANTED-REJECT-PW\n"
        "2026-11-20 10:00:00,000 - app - INFO - engine mysql+pymysql://app:PLANTED-URL-PW@db-1:3306/app\n"
        "2026-11-20 10:00:01,000 - app - INFO - connect password=PLANTED-KV-PW host=db-1\n"
        "2026-11-20 10:00:02,000 - app - ERROR - odbc failed\n"
        "  DSN=prod;UID=app;PWD=PLANTED-PWD;\n"
        "2026-11-20 10:00:03,000 - app - INFO - ran CREATE USER 'x'@'%' IDENTIFIED BY 'PLANTED-SQL-PW'\n"
        "2026-11-20 10:00:04,000 - app - INFO - settings {'user': 'app', 'password': 'PLANTED-DICT-PW'}\n"
    )
    (root / "app.jsonl").write_text(
        json.dumps(
            {
                "timestamp": "2026-11-20T10:00:05Z",
                "level": "INFO",
                "message": "cfg",
                "extra": {"password": "PLANTED-JSON-PW"},
            }
        )
        + "\n"
    )
    (root / "latency.csv").write_text(
        "timestamp,target,rtt_ms\n2026-11-20T10:00:06.000000Z,mysql://probe:PLANTED-TARGET-PW@db-1:3306,0.5\n"
    )
    db = tmp_path / "s.duckdb"
    summary = ingest_paths([tmp_path / "logs"], db)
    assert summary.totals()["rejects"] >= 1 and summary.totals()["latency"] == 1
    tables = dump(db)
    text = repr(tables)
    for secret in SECRETS:
        assert secret not in text, f"{secret} reached a table"
    assert "app:***@db-1" in text  # redacted, not dropped: the line is still there
    for path in tmp_path.glob("s.duckdb*"):
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} found in {path.name}"
