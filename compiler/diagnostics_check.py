"""``--verify-diagnostics``: check errors against ``expected-error`` annotations.

As in MLIR, a test file marks the error it expects with a comment:

    // expected-error@+1 {{result 0 is typed}}
    %b = relu(%a) : tensor<3xf32>

``@+N``/``@-N`` point N lines down/up from the comment (no offset: the comment's own
line). The run passes when the error edgeir reports is on an annotated line and contains
the annotation's text, and every annotation was matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from compiler.diagnostics import EdgeirError

_ANNOTATION = re.compile(r"//\s*expected-error(?:@([+-]\d+))?\s*\{\{(.*?)\}\}")
_LINE = re.compile(r":(\d+):(\d+)(?::|$)")


@dataclass
class Expected:
    line: int
    text: str
    matched: bool = False


def expectations(path: Path) -> list[Expected]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for m in _ANNOTATION.finditer(line):
            out.append(Expected(number + int(m.group(1) or 0), m.group(2)))
    return out


def error_line(err: EdgeirError) -> int | None:
    m = _LINE.search(err.where or "")
    return int(m.group(1)) if m else None


def check(path: Path, error: EdgeirError | None) -> list[str]:
    """Problems found (empty when the diagnostics are exactly as annotated)."""
    expected = expectations(path)
    problems = []
    if error is not None:
        line = error_line(error)
        hit = next((e for e in expected if e.line == line and e.text in error.line()), None)
        if hit is None:
            problems.append(f"unexpected error at line {line}: {error.line()}")
        else:
            hit.matched = True
    for e in expected:
        if not e.matched:
            problems.append(f"{path}:{e.line}: expected error {{{{{e.text}}}}} was not produced")
    return problems
