"""Runs the lit/FileCheck tests (tests/{passes,text,verify}/*.ir), one pytest test each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LIT_DIRS = ("passes", "text", "verify", "codegen")  # keep in sync with lit.cfg.py
LIT_FILES = sorted(p for d in LIT_DIRS for p in (TESTS / d).glob("*.ir"))
# lit.main has no `if __name__ == "__main__"`, so `python -m lit.main` would run nothing.
LIT = [sys.executable, "-c", "import sys, lit.main; sys.exit(lit.main.main())"]


def run_lit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LIT, *args], capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.mark.parametrize("path", LIT_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_lit(path: Path) -> None:
    result = run_lit("-sv", str(path))
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"lit failed on {path}:\n{output}"
    assert "Passed: 1" in output, f"lit ran no test for {path}:\n{output}"


def test_lit_discovers_exactly_these_files() -> None:
    """`lit tests/` finds the files parametrized above and nothing else."""
    result = run_lit("--show-tests", str(TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    listed = sorted(
        line.split("::", 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.strip().startswith("edgeir ::")
    )
    assert listed == [str(p.relative_to(TESTS)) for p in LIT_FILES]
