"""Shared fixtures.

``sample_store`` ingests ``sample_logs/`` once per test session into a temporary
store (correlation included) and gives its path; tests that only read it share it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = ROOT / "sample_logs"
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    from pipeline.ingest.runner import ingest_paths

    if not any(SAMPLE_LOGS.rglob("*.log")):
        pytest.skip("sample_logs/ holds no logs")
    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    ingest_paths([SAMPLE_LOGS], db)
    return db


@pytest.fixture
def sample_store_copy(sample_store, tmp_path) -> Path:
    """A private copy of the sample store, for tests that write to it."""
    target = tmp_path / "sample.duckdb"
    shutil.copy(sample_store, target)
    return target


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS
