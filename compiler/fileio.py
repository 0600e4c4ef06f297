"""Writing output files so that a failure leaves nothing half-written.

Every file is written to a temporary name in its destination directory and renamed into
place only when all files of the group are complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph


def check_parent(path: Path) -> Path:
    """The directory ``path`` would be written into; an error if there is none."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise EdgeirError(f"{parent} {what}", str(path),
                          "create it first or choose another output path", "output")
    return parent


def write_files(files: dict[Path, bytes | str]) -> None:
    """Write all ``files`` or none: temporaries first, then renames."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, content in files.items():
            path = Path(path)
            data = content.encode() if isinstance(content, str) else content
            parent = check_parent(path)
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
            except OSError as err:
                raise EdgeirError(f"cannot write output: {err.strerror}", str(path),
                                  "choose a writable output path", "output") from None
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        for tmp, path in temps:
            os.replace(tmp, path)
        temps.clear()
    finally:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def write_ir(graph: Graph, path: Path, sidecar_threshold: int = 1024) -> None:
    """Write ``path`` (.ir) and, if it has large constants, ``<stem>.bin`` beside it."""
    from compiler.text.printer import print_graph_with_sidecar

    path = Path(path)
    bin_path = path.with_suffix(".bin")
    text, blob = print_graph_with_sidecar(graph, bin_path.name, sidecar_threshold)
    files: dict[Path, bytes | str] = {path: text}
    if blob:
        files[bin_path] = blob
    write_files(files)
