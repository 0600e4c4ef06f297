"""The README's generated tables match the registries, and its commands exist."""

from pathlib import Path

from compiler.summary import readme_with_tables

ROOT = Path(__file__).resolve().parent.parent


def test_generated_tables_are_current():
    text = (ROOT / "README.md").read_text()
    assert readme_with_tables(text) == text, "README tables are stale: run `make readme`"


def test_quickstart_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo:", "test:", "test-fast:"):
        assert f"\n{target}" in makefile
