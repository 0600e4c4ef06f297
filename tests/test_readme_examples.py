"""Every command line of README.md runs, with the exit code the README states.

The README's fenced code blocks follow three conventions, which this test relies on:

* In a block tagged ``sh``, each line (joined over trailing backslashes) is a command. Lines
  starting with one of ``RUN_PREFIXES`` run, in README order, through bash in one scratch
  directory that holds copies of ``examples/`` and ``tests/c/`` (so the commands use the
  bundled files by their repository paths and write into ``out/``), with the venv's
  ``bin`` first on PATH and an empty build cache. Lines starting with one of
  ``SKIP_PREFIXES`` (installing, make targets, benchmarks that need ../shared/models) are
  not run; any other line fails the test, so no command goes untested unnoticed.
* A block right after ``<!-- synopsis -->`` shows syntax with placeholders: skipped.
* A block right after ``<!-- file: PATH -->`` is the content of PATH (an IR file, a target
  description, a main.c), written into the scratch directory before the commands run.

A command must exit with 0, or with N when its line ends with ``# fails with exit code N``.
``KNOWN_BUGS`` lists commands that fail because of a bug reported but not fixed yet: they
are strict xfails, so the fix makes this test fail until the entry is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # C builds for the host and Cortex-M, the emulator: ~1 min

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

RUN_PREFIXES = ("edgeir ", "python -c ", "mkdir ", "cp ", "arm-none-eabi-gcc ")
SKIP_PREFIXES = ("make ", "pip ", "sudo ", "source ", "python3 -m venv ", ".venv/bin/python ",
                 "EDGEIR_BENCH_CFLAGS=", "python examples/", "python tests/", "lit ",
                 "pytest ")
EXPECTED = re.compile(r"#\s*fails with exit code (\d+)\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")
FILE_MARK = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->$")
SYNOPSIS_MARK = "<!-- synopsis -->"

# Command prefix -> the reported, not yet fixed bug that makes it fail (a strict xfail).
KNOWN_BUGS: dict[str, str] = {}


@dataclass(frozen=True)
class Command:
    line: str
    lineno: int
    expected: int


@dataclass(frozen=True)
class Readme:
    commands: list[Command]
    files: dict[str, str]
    unknown: list[tuple[int, str]]


def parse(text: str) -> Readme:
    commands: list[Command] = []
    files: dict[str, str] = {}
    unknown: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    previous = ""  # the last non-blank line outside a block
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        tag, start = m.group(1), i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        mark, previous = previous, ""
        file_mark = FILE_MARK.match(mark)
        if file_mark:
            files[file_mark.group(1)] = "\n".join(body) + "\n"
            continue
        if tag != "sh" or mark == SYNOPSIS_MARK:
            continue
        k = 0
        while k < len(body):
            lineno, line = start + k + 1, body[k]
            while line.endswith("\\") and k + 1 < len(body):
                k += 1
                line = line[:-1] + " " + body[k].strip()
            k += 1
            line = line.strip()
            if not line or line.startswith("#") or line.startswith(SKIP_PREFIXES):
                continue
            if not line.startswith(RUN_PREFIXES):
                unknown.append((lineno, line))
                continue
            expected = EXPECTED.search(line)
            commands.append(Command(line, lineno, int(expected.group(1)) if expected else 0))
    return Readme(commands, files, unknown)


README_DOC = parse(README.read_text())


def _param(index: int, cmd: Command):
    marks = [pytest.mark.xfail(strict=True, reason=reason)
             for prefix, reason in KNOWN_BUGS.items() if cmd.line.startswith(prefix)]
    return pytest.param(index, id=f"L{cmd.lineno}-{cmd.line.split()[0]}", marks=marks)


@dataclass
class Result:
    returncode: int
    output: str
    seconds: float


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    ignore = shutil.ignore_patterns("__pycache__", "Output", "*.pyc")
    shutil.copytree(ROOT / "examples", root / "examples", ignore=ignore)
    shutil.copytree(ROOT / "tests" / "c", root / "tests" / "c", ignore=ignore)
    for path, content in README_DOC.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root


@pytest.fixture(scope="module")
def results(scratch: Path) -> list[Result]:
    """Run every command in README order in the scratch directory."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CACHE_HOME"] = str(scratch / "cache")  # fresh builds: no cached ELF or binary
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the plugin example must not write into examples/
    env["COLUMNS"] = "120"
    out = []
    for cmd in README_DOC.commands:
        start = time.perf_counter()
        proc = subprocess.run(["bash", "-c", cmd.line], cwd=scratch, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        out.append(Result(proc.returncode, proc.stdout, time.perf_counter() - start))
    return out


def test_every_code_line_is_understood():
    assert not README_DOC.unknown, (
        "README.md sh lines this test neither runs nor skips (add them to RUN_PREFIXES or "
        f"SKIP_PREFIXES, or mark the block <!-- synopsis -->): {README_DOC.unknown}")
    assert len(README_DOC.commands) >= 30
    names = {"out/tiny.ir", "out/main.c", "out/board.toml"}
    assert names <= README_DOC.files.keys()


@pytest.mark.parametrize("index", [_param(i, c) for i, c in enumerate(README_DOC.commands)])
def test_readme_command(index: int, results: list[Result]):
    cmd = README_DOC.commands[index]
    result = results[index]
    assert result.returncode == cmd.expected, (
        f"README.md line {cmd.lineno}: `{cmd.line}` exited with {result.returncode}, "
        f"expected {cmd.expected}:\n{result.output[-3000:]}")


def test_firmware_places_the_model_where_the_target_says(scratch: Path, results):
    """The README's firmware (out/fw.elf): pinned weights in SRAM loaded from FLASH, the
    arena in SRAM (the built-in cortex-m4: FLASH 0x08000000 1 MB, SRAM 0x20000000 256 KB)."""
    elf = scratch / "out" / "fw.elf"
    assert elf.exists()
    dump = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True,
                          text=True, check=True).stdout
    sections = {}
    for line in dump.splitlines():
        m = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m:
            sections[m.group(1)] = tuple(int(m.group(g), 16) for g in (2, 3, 4))

    def inside(addr: int, size: int, base: int, length: int) -> bool:
        return base <= addr and addr + size <= base + length

    flash, sram = (0x08000000, 1 << 20), (0x20000000, 256 << 10)
    size, vma, lma = sections[".edgeir_vib_pinned"]
    assert size > 0 and inside(vma, size, *sram) and inside(lma, size, *flash)
    size, vma, _ = sections[".edgeir_vib_arena"]
    assert size == 10224 and inside(vma, size, *sram)  # VIB_ARENA_SIZE, as the README shows
