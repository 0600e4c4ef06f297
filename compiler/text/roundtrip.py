"""Parse an ``.ir`` file and print it again: ``python -m compiler.text.roundtrip FILE``.

A small entry point for the lit tests of the textual IR. Errors print their one-line
``file:line:col: error: ...`` form on stderr and exit with 3.
"""

from __future__ import annotations

import sys

from compiler.diagnostics import EdgeirError
from compiler.text import parse_file, print_graph


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m compiler.text.roundtrip FILE.ir", file=sys.stderr)
        return 2
    try:
        graph = parse_file(args[0])
    except EdgeirError as err:
        print(err.line(), file=sys.stderr)
        return 3
    sys.stdout.write(print_graph(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
