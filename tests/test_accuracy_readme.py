"""The accuracy tables of docs/accuracy.md are what `pipeline eval` gives now: on the lab
recordings (`sample_logs/`, `recordings/`) and on the labelled real excerpts (`tests/wild/`).

Regenerate them with ``python tests/test_accuracy_readme.py --write``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "accuracy.md"
# (marker on the page, folder scored)
TABLES = [("accuracy-lab", ROOT / "sample_logs"), ("accuracy-wild", ROOT / "tests" / "wild")]
if (ROOT / "recordings").is_dir():
    TABLES.insert(1, ("accuracy-realtime", ROOT / "recordings"))


def fresh_table(folder: Path) -> str:
    from pipeline.commands.evaluate import render_causes
    from pipeline.evaluate import evaluate

    return render_causes(evaluate(folder))


def fresh_limits() -> str:
    """The idle limits inferred against those the lab set, over every lab recording."""
    from pipeline.commands.evaluate import render_limits
    from pipeline.evaluate import evaluate

    limits = [lim for folder in (ROOT / "sample_logs", ROOT / "recordings") for lim in evaluate(folder)["idle_limits"]]
    return render_limits({"idle_limits": limits})


def shown_table(marker: str, text: str | None = None) -> str:
    text = PAGE.read_text(encoding="utf-8") if text is None else text
    return text.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0].strip()


@pytest.mark.slow
@pytest.mark.parametrize(("marker", "folder"), TABLES, ids=[m for m, _ in TABLES])
def test_the_accuracy_table_is_a_fresh_run(marker, folder):
    assert shown_table(marker) == fresh_table(folder)


@pytest.mark.slow
def test_the_idle_limit_table_is_a_fresh_run():
    assert shown_table("accuracy-limits") == fresh_limits()


def write_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for marker, table in [(m, fresh_table(f)) for m, f in TABLES] + [("accuracy-limits", fresh_limits())]:
        head, rest = text.split(f"<!-- {marker} -->", 1)
        _, tail = rest.split(f"<!-- /{marker} -->", 1)
        text = f"{head}<!-- {marker} -->\n\n{table}\n\n<!-- /{marker} -->{tail}"
    PAGE.write_text(text, encoding="utf-8")


if __name__ == "__main__" and "--write" in sys.argv:
    sys.path.insert(0, str(ROOT))
    write_page()
