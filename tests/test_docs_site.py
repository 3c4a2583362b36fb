"""The docs site builds: ``mkdocs build --strict`` (a broken link or anchor, a page missing from
the nav or a nav entry without a page fails it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_python

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]' installs it)")
    pytest.importorskip("material", reason="mkdocs-material is not installed (pip install -e '.[test]' installs it)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    run_python(
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--config-file",
        ROOT / "mkdocs.yml",
        "--site-dir",
        site,
        env=env,
        timeout_s=300,
    )
    assert (site / "index.html").is_file()


def test_every_page_is_in_the_nav():
    """mkdocs only warns (info) about a page left out of nav in some versions: check it here too."""
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(nav):
        for item in nav:
            for value in item.values() if isinstance(item, dict) else [item]:
                if isinstance(value, list):
                    yield from pages(value)
                else:
                    yield value

    listed = set(pages(config["nav"]))
    on_disk = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert listed == on_disk
