"""What the three fuzzers (tests/test_fuzz_*.py) share: settings, limits, the oracle.

The oracle: feeding edgeir a broken input must end in success or in an
:class:`~compiler.diagnostics.EdgeirError` that a user can act on: a kind other than
``pass`` (which means edgeir itself failed), a message, and a location. Anything else (an
IndexError from a flatbuffer, a protobuf DecodeError, a RecursionError, a hang, gigabytes
allocated for a declared dimension) fails the test.

Environment variables (all optional):

* ``EDGEIR_FUZZ_EXAMPLES``: examples per fuzzer (default: each fuzzer's CI count, about a
  minute on 2 cores).
* ``EDGEIR_FUZZ_RANDOM=1``: a new random search each run instead of the fixed derandomized
  one CI runs (failing examples are then kept in .hypothesis/ and replayed first).
* ``EDGEIR_FUZZ_TIMEOUT``: seconds one example may take before it counts as a hang (20).
* ``EDGEIR_FUZZ_MEMORY_MB``: address space one example may add (3000).

The long run, one fuzzer at a time (benchmarks/RESULTS.md has its command and figures)::

    EDGEIR_FUZZ_RANDOM=1 EDGEIR_FUZZ_EXAMPLES=40000 .venv/bin/python -m pytest -q \
        --hypothesis-show-statistics tests/test_fuzz_onnx.py
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import resource
import shutil
import signal
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st

from compiler.diagnostics import EXIT_CODES, EdgeirError
from compiler.ir import Graph
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.verify import verify

RANDOM = os.environ.get("EDGEIR_FUZZ_RANDOM", "") not in ("", "0")
TIMEOUT_S = float(os.environ.get("EDGEIR_FUZZ_TIMEOUT", "20"))
MEMORY_MB = int(os.environ.get("EDGEIR_FUZZ_MEMORY_MB", "3000"))

# Interesting integers: zero, signs, the edges of every integer width edgeir meets.
EDGE_INTS = [0, 1, -1, 2, 3, 7, 8, 127, 128, -128, 255, 256, 32767, -32768, 65535,
             2**31 - 1, -(2**31), 2**31, 2**32 - 1, 2**32, 2**53, 2**62, 2**63 - 1, -(2**63)]


def examples(ci_count: int) -> int:
    return int(os.environ.get("EDGEIR_FUZZ_EXAMPLES", str(ci_count)))


def fuzz_settings(ci_count: int) -> settings:
    """CI: ``ci_count`` derandomized examples (the same inputs every run)."""
    return settings(
        max_examples=examples(ci_count),
        deadline=None,
        derandomize=not RANDOM,
        database=settings.default.database if RANDOM else None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        phases=[p for p in Phase if p != Phase.explain],  # explaining costs minutes
    )


@contextlib.contextmanager
def limits(timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB) -> Iterator[None]:
    """Run one example with a time limit (a hang fails the test instead of stalling CI)
    and an address-space limit (a huge declared dimension that makes edgeir allocate
    gigabytes raises MemoryError instead of swapping the machine to death)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * resource.getpagesize()
    cap = in_use + memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    def on_alarm(signum: int, frame: object) -> None:
        # pytest's Failed is a BaseException: an `except Exception` in the code under test
        # cannot turn a hang into a "clean" error, and hypothesis still shrinks it.
        pytest.fail(f"one example ran longer than {timeout_s:g} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    # A hang inside C code never returns to Python to see the alarm: dump every thread's
    # stack and exit, so CI fails instead of stalling.
    faulthandler.dump_traceback_later(4 * timeout_s + 60, exit=True, file=sys.stderr)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_clean(err: EdgeirError, where_prefix: str | None = None) -> None:
    """``err`` is a clean, user-facing error: a documented kind that is not edgeir's own
    failure, a message, and a location (starting with ``where_prefix`` if given)."""
    assert err.kind in EXIT_CODES, f"unknown error kind {err.kind!r}: {err.line()}"
    assert err.kind != "pass", f"edgeir failed on its own, not the input: {err.line()}"
    assert err.what.strip(), f"an error without a message: {err!r}"
    if where_prefix is not None:
        assert err.where and err.where.startswith(where_prefix), (
            f"the error does not say where (expected {where_prefix!r}...): {err.line()}")
    assert "\n" not in err.line()


def byte_edit(draw, data: bytes) -> bytes:
    """``data`` truncated, or one byte flipped, or a run of bytes (offsets and lengths that
    point anywhere: -1, 2**31, an unterminated varint) written over or into it."""
    if not data:
        return data
    i = draw(st.integers(0, len(data) - 1), label="offset")
    how = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert"]), label="bytes how")
    if how == "truncate":
        return data[:i]
    if how == "flip":
        mask = draw(st.integers(1, 255), label="mask")
        return data[:i] + bytes([data[i] ^ mask]) + data[i + 1:]
    run = draw(st.sampled_from([b"\xff" * 4, b"\x00" * 4, b"\x80\x80\x80\x80\x80\x01",
                                struct.pack("<i", -1), struct.pack("<I", 2**31)]), label="run")
    if how == "overwrite":
        return data[:i] + run + data[i + len(run):]
    return data[:i] + run + data[i:]


def run_stages(load: Callable[[], Graph], where: str, target: str | None, float_model: bool,
               outdir: Path, label: str = "") -> None:
    """Import (``load``), verify, canonicalize and, if ``target``, compile to C into
    ``outdir`` (float kernels if ``float_model``). The import must succeed or fail with a
    clean error naming the file (``where``); what it returns must verify; the later stages
    must succeed or fail with a clean error."""
    try:
        graph = load()
    except EdgeirError as err:
        check_clean(err, where)
        event(f"{label}import error: {err.kind} {err.what[:50]}")
        return
    # What an importer returns must verify: a model it cannot represent is an import
    # error naming the file (`edgeir import` writes the graph without verifying it).
    verify(graph)
    try:
        run_pipeline(graph, parse_pipeline("canonicalize"))
    except EdgeirError as err:
        check_clean(err)
        event(f"{label}canonicalize error: {err.kind}")
        return
    if target is None:
        event(f"{label}imported")
        return
    from backends.c.driver import compile_model

    shutil.rmtree(outdir, ignore_errors=True)
    try:
        compile_model(graph, outdir, "fuzz", target, float_model=float_model,
                      source=where, allow_soft_float=True)
    except EdgeirError as err:
        check_clean(err)
        event(f"{label}compile error: {err.kind}")
        return
    event(f"{label}compiled")
