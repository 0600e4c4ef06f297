"""Pipelines: parse ``-p 'pass-a,pass-b{opt=1}'`` and run passes with instrumentation.

After every pass the verifier runs (unless ``verify=False``). Instrumentation mirrors
``mlir-opt``: print the IR after every pass or after each pass that changed it, dump
numbered ``.ir`` files into a directory, time the passes, collect statistics. When a pass
fails (raises, or leaves IR the verifier rejects), a reproducer ``.ir`` is written whose
first line is the pipeline that fails on it.

Passes defined outside edgeir join the registry through ``register_pass``; ``load_plugin``
imports a Python file that calls it (``edgeir opt --plugin FILE.py``; the tutorial is
``examples/custom_pass``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from compiler.diagnostics import EdgeirError
from compiler.fileio import write_ir
from compiler.ir import Graph
from compiler.passbase import Pass
from compiler.text.printer import print_graph, print_graph_with_sidecar
from compiler.verify import verify

_ITEM = re.compile(r"\s*([a-z][a-z0-9-]*)\s*(\{([^{}]*)\})?\s*(,|$)")


def registry() -> dict[str, type[Pass]]:
    from backends.c.lower import LowerC
    from passes import PASSES
    from passes.place_weights import PlaceWeights

    return {**PASSES, LowerC.name: LowerC, PlaceWeights.name: PlaceWeights, **_PLUGINS}


# Passes defined outside edgeir, added by register_pass (e.g. from a file that
# `edgeir opt --plugin FILE.py` loads); registry() lists them with the built-in ones.
_PLUGINS: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Make a pass defined outside edgeir usable in pipelines; returns ``cls``, so it can
    decorate the class. ``cls`` is a ``Pass`` dataclass with a kebab-case ``name`` that no
    built-in pass has; registering the name again replaces the class (a plugin reloaded)."""
    where = f"register_pass({getattr(cls, '__qualname__', cls)!r})"
    # The class itself must be a dataclass (a subclass of one inherits is_dataclass), or its
    # options would not be fields.
    is_pass = isinstance(cls, type) and issubclass(cls, Pass)
    if not (is_pass and "__dataclass_fields__" in vars(cls)):
        raise EdgeirError("not a pass", where, "register a @dataclass subclass of "
                          "compiler.passbase.Pass", "usage")
    if not re.fullmatch(r"[a-z][a-z0-9-]*", cls.name):
        raise EdgeirError(f"bad pass name {cls.name!r}", where,
                          "set the class attribute name = 'kebab-case-name'", "usage")
    if cls.name in registry() and cls.name not in _PLUGINS:
        raise EdgeirError(f"'{cls.name}' is a built-in pass", where, "choose another name",
                          "usage")
    _PLUGINS[cls.name] = cls
    return cls


def load_plugin(path: str | Path) -> None:
    """Import the Python file ``path``, which registers its passes with register_pass."""
    path = Path(path)
    name = "edgeir_plugin_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path) if path.is_file() else None
    if spec is None or spec.loader is None:
        raise EdgeirError("no such Python file", str(path),
                          "give the path of a .py file that calls register_pass", "usage")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the class's module up there
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        if isinstance(err, EdgeirError):
            raise  # register_pass refused a class
        raise EdgeirError(f"cannot load the plugin: {type(err).__name__}: {err}", str(path),
                          "fix the file (--debug shows the traceback)", "input") from err


def parse_pipeline(text: str) -> list[Pass]:
    """Pass instances for a pipeline string; usage errors name the bad part."""
    passes: list[Pass] = []
    pos = 0
    text = text.strip()
    if not text:
        return passes
    known = registry()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if m is None or m.end() == pos:
            raise EdgeirError(f"cannot parse pipeline at character {pos + 1}: {text[pos:]!r}",
                              "-p", "write passes as 'pass-a,pass-b{option=value}'", "usage")
        name, options = m.group(1), m.group(3)
        cls = known.get(name)
        if cls is None:
            raise EdgeirError(f"unknown pass '{name}'", "-p",
                              f"available passes: {', '.join(sorted(known))}", "usage")
        passes.append(_instantiate(cls, options or ""))
        pos = m.end()
        if m.group(4) == "," and pos >= len(text):
            raise EdgeirError("pipeline ends with ','", "-p", "remove the trailing comma", "usage")
    return passes


def _instantiate(cls: type[Pass], options: str) -> Pass:
    fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(cls)}
    kwargs = {}
    for item in filter(None, (o.strip() for o in options.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        f = fields.get(key)
        if f is None or not sep:
            listed = ", ".join(f"{k} ({fld.type})" for k, fld in fields.items()) or "none"
            what = f"unknown option '{key}'" if f is None else f"option '{key}' needs a value"
            raise EdgeirError(f"{what} for pass '{cls.name}'", "-p",
                              f"its options are: {listed}", "usage")
        kwargs[f.name] = _convert(cls.name, key, str(f.type), raw.strip())
    return cls(**kwargs)


def _convert(pass_name: str, key: str, type_name: str, raw: str) -> object:
    try:
        if type_name == "bool":
            if raw not in ("true", "false", "1", "0"):
                raise ValueError
            return raw in ("true", "1")
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        return raw
    except ValueError:
        article = "an" if type_name[0] in "aeiou" else "a"
        example = {"bool": "true", "int": "4", "float": "0.5"}.get(type_name, "...")
        raise EdgeirError(f"option '{key}' of pass '{pass_name}' must be {article} "
                          f"{type_name}, got {raw!r}", "-p", f"write {key}={example}",
                          "usage") from None


@dataclass
class Instrumentation:
    print_after_all: bool = False
    print_after_change: bool = False
    dump_dir: Path | None = None
    time_passes: bool = False
    verify: bool = True
    reproducer: Path | None = None  # the CLI sets one; library callers opt in
    elide_bytes: int | None = 1024
    out: TextIO = field(default_factory=lambda: sys.stderr)
    timings: list[tuple[str, float]] = field(default_factory=list)
    stats: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    reports: list[tuple[str, dict]] = field(default_factory=list)
    dumps: int = 0  # dump files written so far: numbering continues across pipelines


def run_pipeline(graph: Graph, passes: list[Pass], inst: Instrumentation | None = None) -> Graph:
    """Run ``passes`` in order on ``graph`` (in place) and return it."""
    inst = inst or Instrumentation()
    if inst.verify:
        verify(graph)  # the input: an invalid graph is the user's error, not a pass's
    if inst.dump_dir is not None and inst.dumps == 0:
        _dump(graph, inst, "input")
    for index, p in enumerate(passes):
        before = _snapshot(graph, inst)
        start = time.perf_counter()
        try:
            result = p.run(graph)
            if inst.verify:
                verify(graph)
        except EdgeirError as err:
            if err.kind in ("usage", "input", "unsupported", "output"):
                raise  # the user's to fix: no reproducer needed
            _reproduce(inst, before, passes[index:])
            raise EdgeirError(f"pass '{p.name}' failed: {err.what}", err.where,
                              _repro_hint(inst), "pass") from None
        except Exception as err:  # a bug in the pass: keep what reproduces it
            _reproduce(inst, before, passes[index:])
            raise EdgeirError(f"pass '{p.name}' crashed: {type(err).__name__}: {err}", None,
                              _repro_hint(inst), "pass") from err
        inst.timings.append((p.name, time.perf_counter() - start))
        inst.stats.append((p.name, dict(result.stats)))
        if result.report is not None:
            inst.reports.append((p.name, result.report))
        if inst.print_after_all or (inst.print_after_change and result.changed):
            inst.out.write(f"// -----// IR Dump After {p.spec()} //----- //\n")
            inst.out.write(print_graph(graph, elide_bytes=inst.elide_bytes))
        if inst.dump_dir is not None:
            _dump(graph, inst, p.name)
    return graph


def _dump(graph: Graph, inst: Instrumentation, name: str) -> None:
    """The next numbered dump (00-input.ir, then one per pass, across every pipeline the
    same Instrumentation runs, e.g. the several pipelines of `edgeir compile`)."""
    write_ir(graph, inst.dump_dir / f"{inst.dumps:02d}-{name}.ir")
    inst.dumps += 1


def _snapshot(graph: Graph, inst: Instrumentation) -> tuple[str, bytes] | None:
    """The graph as a pass sees it, for the reproducer: the IR text, large constants in a
    sidecar next to the reproducer (raw bytes: printing them as hex before every pass
    would cost more than the passes on a large model)."""
    if inst.reproducer is None:
        return None
    return print_graph_with_sidecar(graph, inst.reproducer.with_suffix(".bin").name)


def _reproduce(inst: Instrumentation, before: tuple[str, bytes] | None,
               rest: list[Pass]) -> None:
    if inst.reproducer is None or before is None:
        return
    pipeline = ",".join(p.spec() for p in rest)
    text = f"// RUN: edgeir opt %s -p '{pipeline}'\n" + before[0]
    try:
        if before[1]:
            inst.reproducer.with_suffix(".bin").write_bytes(before[1])
        inst.reproducer.write_text(text)
    except OSError:
        inst.reproducer = None


def _repro_hint(inst: Instrumentation) -> str:
    if inst.reproducer is None:
        return "rerun with --debug for the traceback"
    return f"reproducer written to {inst.reproducer}; rerun it with `edgeir opt {inst.reproducer}`"
