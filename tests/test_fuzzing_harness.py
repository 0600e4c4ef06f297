"""The fuzzers' harness (tests/fuzzing.py) catches what it is there to catch: a hang, a
runaway allocation and an error that is not clean each fail the example."""

from __future__ import annotations

import resource

import numpy as np
import pytest
from fuzzing import check_clean, limits

from compiler.diagnostics import EdgeirError


def test_a_hang_fails_even_inside_except_exception():
    with pytest.raises(pytest.fail.Exception, match="longer than 0.5 s"):
        with limits(timeout_s=0.5):
            while True:
                try:
                    sum(range(1000))
                except Exception:  # noqa: BLE001 - what careless code under test does
                    pass


def test_a_runaway_allocation_raises_memory_error_and_the_limit_is_restored():
    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError):
        with limits(memory_mb=256):
            np.ones(2**30, np.uint8)
    assert resource.getrlimit(resource.RLIMIT_AS) == before


@pytest.mark.parametrize("err", [
    EdgeirError("pass 'lower-c' crashed: IndexError", None, None, "pass"),  # edgeir's failure
    EdgeirError("", "model.onnx", None, "input"),  # no message
    EdgeirError("bad tensor", None, None, "input"),  # no location
    EdgeirError("bad tensor", "other.onnx", None, "input"),  # the wrong location
])
def test_an_unclean_error_fails(err):
    with pytest.raises(AssertionError):
        check_clean(err, "model.onnx")


def test_a_clean_error_passes():
    check_clean(EdgeirError("tensor 'w' has 3 bytes", "model.onnx: node 'conv'", "re-export",
                            "input"), "model.onnx")
