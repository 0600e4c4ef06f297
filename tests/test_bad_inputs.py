"""The bad-input corpus (tests/bad_inputs/): every refused input fails the documented way.

Each case of tests/bad_inputs/cases.toml runs `edgeir ARGS` in a fresh copy of the corpus
and must

(a) exit with the code of its kind (``compiler.diagnostics.EXIT_CODES``, the README table);
(b) print exactly one line on stderr, ``WHERE: error: WHAT; WHAT TO DO``, naming the place
    (the case's ``place`` strings and ``patterns``) and saying what to do (its ``hint``);
(c) show no traceback and print nothing on stdout;
(d) create no file: no output, no temporary, no reproducer;
(e) with ``--debug``, exit with the same code (the traceback is shown then).

Most cases call ``compiler.cli.main`` in-process (fd-level capture, so output from any
layer counts); the cases marked ``subprocess = true`` also run the installed `edgeir`
script, so the console entry point is covered too.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from compiler import cli
from compiler.diagnostics import EXIT_CODES

EDGEIR = Path(sys.executable).with_name("edgeir")
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = {case["name"]: case for case in tomllib.loads((CORPUS / "cases.toml").read_text())["case"]}
NOT_FIXTURES = {"cases.toml", "make_cases.py", "__pycache__"}
CATEGORIES = {"onnx": 15, "tflite": 8, "ir": 12, "cli": 8, "targets": 8, "calib": 8}


def materialize(tmp_path: Path, case: dict) -> Path:
    """A fresh copy of the corpus directories the case reads (its own and the ``../DIR``
    of its arguments); its directory, with an empty out/, to run in."""
    root = tmp_path / "corpus"
    dirs = {case["dir"]} | {a.split("/")[1] for a in case["args"] if a.startswith("../")}
    for d in dirs:
        shutil.copytree(CORPUS / d, root / d,
                        ignore=lambda _, names: [n for n in names if n in NOT_FIXTURES])
    cwd = root / case["dir"]
    (cwd / "out").mkdir()
    return cwd


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden files and temporaries too) with its content."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in root.rglob("*")}


def run_in_process(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
                   capfd: pytest.CaptureFixture) -> tuple[int, str, str]:
    capfd.readouterr()
    with monkeypatch.context() as m:
        m.chdir(cwd)
        code = cli.main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def run_subprocess(args: list[str], cwd: Path) -> tuple[int, str, str]:
    result = subprocess.run([str(EDGEIR), *args], cwd=cwd, capture_output=True, text=True,
                            timeout=300, check=False)
    return result.returncode, result.stdout, result.stderr


def check_line(case: dict, line: str, shown: str) -> None:
    """(b): the one error line names the place and says what to do."""
    assert "error:" in line, shown
    assert "internal error" not in line, shown
    where, _, message = line.partition("error: ")
    assert where.endswith(": ") and where.strip(": "), f"the error names no place\n{shown}"
    for needle in case.get("place", []):
        assert needle in line, f"{needle!r} not named\n{shown}"
    for pattern in case.get("patterns", []):
        assert re.search(pattern, line), f"{pattern!r} does not match\n{shown}"
    _, sep, todo = message.partition("; ")
    assert sep, f"the error says nothing to do (no '; HINT')\n{shown}"
    assert case["hint"] in todo, f"hint {case['hint']!r} not in {todo!r}\n{shown}"


def check_case(case: dict, run, tmp_path: Path) -> None:
    cwd = materialize(tmp_path, case)
    root = tmp_path / "corpus"
    before = snapshot(root)
    code, out, err = run(case["args"], cwd)
    shown = f"$ edgeir {' '.join(case['args'])}\nexit {code}\nstdout:\n{out}\nstderr:\n{err}"

    # (a) the documented exit code
    assert code == EXIT_CODES[case["kind"]], shown
    # (b) exactly one line on stderr, an error naming what is wrong and what to do
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), shown
    check_line(case, lines[0], shown)
    # (c) no traceback, nothing on stdout
    assert "Traceback" not in out + err, shown
    assert out == "", shown
    # (d) no output, temporary or reproducer file was created or changed
    after = snapshot(root)
    assert after == before, f"files created or changed: {sorted(set(after) ^ set(before))}\n{shown}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capfd: pytest.CaptureFixture) -> None:
    check_case(CASES[name], lambda args, cwd: run_in_process(args, cwd, monkeypatch, capfd),
               tmp_path)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.get("subprocess")))
def test_bad_input_subprocess(name: str, tmp_path: Path) -> None:
    check_case(CASES[name], run_subprocess, tmp_path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_debug(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capfd: pytest.CaptureFixture) -> None:
    """(e) --debug: the same exit code and error line (last), with the traceback before it;
    still nothing on stdout and no file."""
    case = CASES[name]
    cwd = materialize(tmp_path, case)
    before = snapshot(tmp_path / "corpus")
    code, out, err = run_in_process(["--debug", *case["args"]], cwd, monkeypatch, capfd)
    shown = (f"$ edgeir --debug {' '.join(case['args'])}\nexit {code}\nstdout:\n{out}\n"
             f"stderr:\n{err}")
    assert code == EXIT_CODES[case["kind"]], shown
    assert "Traceback" in err, shown
    check_line(case, err.splitlines()[-1], shown)
    assert out == "", shown
    assert snapshot(tmp_path / "corpus") == before, shown


def test_the_corpus_covers_every_category() -> None:
    counts = Counter(case["dir"] for case in CASES.values())
    assert set(counts) == set(CATEGORIES), counts
    for category, minimum in CATEGORIES.items():
        assert counts[category] >= minimum, (category, counts[category])
    assert len(CASES) >= 70
    kinds = Counter(case["kind"] for case in CASES.values())
    assert set(kinds) == set(EXIT_CODES) - {"pass"}, kinds  # a failing pass writes a reproducer


def test_every_case_is_well_formed() -> None:
    allowed = {"name", "dir", "args", "kind", "place", "patterns", "hint", "subprocess"}
    for name, case in CASES.items():
        assert set(case) <= allowed, (name, set(case) - allowed)
        assert case["kind"] in EXIT_CODES, name
        assert (CORPUS / case["dir"]).is_dir(), name
        assert case["hint"] and (case.get("place") or case.get("patterns")), name


def test_every_fixture_is_used() -> None:
    """No stale fixture: every file of the corpus is named by some case's command line."""
    words = {w for case in CASES.values() for w in case["args"]}
    for path in CORPUS.rglob("*"):
        rel = path.relative_to(CORPUS)
        if not path.is_file() or rel.parts[0] in NOT_FIXTURES:
            continue
        names = {str(rel.relative_to(rel.parts[0])), f"../{rel}",
                 *(str(p.relative_to(rel.parts[0])) for p in rel.parents if len(p.parts) > 1),
                 *(f"../{p}" for p in rel.parents if p.parts)}
        assert names & words, f"{rel} is used by no case"


def test_the_readme_documents_every_exit_code() -> None:
    """The README's table lists exactly the codes edgeir exits with, each with its kind."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Errors and exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M))
    assert set(rows) == {"0", "1", *(str(code) for code in EXIT_CODES.values())}, rows
    words = {"usage": "usage", "input": "bad input", "unsupported": "unsupported",
             "verify": "verifier", "pass": "a pass failed", "output": "output path"}
    for kind, code in EXIT_CODES.items():
        assert words[kind] in rows[str(code)], (kind, code, rows[str(code)])
    assert "tests/bad_inputs/" in section


def _generator():
    spec = importlib.util.spec_from_file_location("make_cases", CORPUS / "make_cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_fixtures_equal_the_generator() -> None:
    files = _generator().all_files()
    assert files, "make_cases.py makes nothing"
    for rel, data in sorted(files.items()):
        path = CORPUS / rel
        assert path.is_file(), f"{rel} is not committed: run python {CORPUS / 'make_cases.py'}"
        assert path.read_bytes() == data, f"{rel} differs from make_cases.py's output: rerun it"


def test_the_generator_is_deterministic() -> None:
    gen = _generator()
    assert gen.all_files() == gen.all_files()


def test_edgeir_script_exists() -> None:
    assert EDGEIR.exists(), f"{EDGEIR} is missing: pip install -e '.[test]'"
