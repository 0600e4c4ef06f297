"""One error type for everything a user can get wrong.

An :class:`EdgeirError` carries what went wrong, where (a file, an IR line and column, a
node name) and what to do about it. The CLI turns it into exactly one line on stderr and
the exit code of its ``kind``; nothing else in edgeir prints errors.
"""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes, documented in the README. 1 is left to unexpected internal errors.
EXIT_CODES: dict[str, int] = {
    "usage": 2,  # bad command line: unknown option, bad pipeline string, bad pass option
    "input": 3,  # an input file that cannot be read or is not a valid model / IR / data file
    "unsupported": 4,  # a valid model that uses something edgeir does not support
    "verify": 5,  # the IR verifier rejected a graph
    "pass": 6,  # a pass failed (a reproducer is written)
    "output": 7,  # an output path cannot be written
}


@dataclass
class EdgeirError(Exception):
    """A user-facing error: ``what`` happened at ``where``; ``hint`` says what to do."""

    what: str
    where: str | None = None
    hint: str | None = None
    kind: str = "input"

    def __post_init__(self) -> None:
        super().__init__(self.line())

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    def line(self) -> str:
        """The one-line rendering: ``where: error: what (hint)``."""
        text = f"error: {self.what}"
        if self.where:
            text = f"{self.where}: {text}"
        if self.hint:
            text = f"{text}; {self.hint}"
        return text.replace("\n", " ")

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.line()
