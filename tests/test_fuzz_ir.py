"""Fuzzing the textual IR parser and the verifier with mutated valid IR.

The seeds are every ``.ir`` file under tests/ and the shared models printed at several
pipeline stages (as imported, after the front-end pipelines, after lower-c and plan-memory,
whose memory plan the verifier checks too), large constants in ``.bin`` sidecars. Each
example mutates one seed one to four times: tokens deleted, duplicated, swapped or
replaced; numbers made huge, negative or zero; tensor shapes and dtypes changed; attribute
lists replaced; attribute values set to edge values; value names redirected; hex constants
damaged; lines deleted, duplicated or swapped; characters flipped; two seeds spliced. Then
parse and verify.

Passes when every example either fails with a clean EdgeirError (located at the IR file's
line:col or at a node) or parses and verifies, and then print -> parse -> print gives the
same text and the reparsed graph verifies. See tests/fuzzing.py for the settings, the time
and memory limits and the long run.
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from fuzzing import EDGE_INTS, check_clean, fuzz_settings, limits
from hypothesis import event, given
from hypothesis import strategies as st

from compiler import ops
from compiler.cli import load_model
from compiler.diagnostics import EdgeirError
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.text import parse, print_graph
from compiler.text.printer import print_graph_with_sidecar
from compiler.verify import verify

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parent
MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
FILENAME = "fuzz.ir"

# Seeds printed from the shared models: (model, pipeline run on it before printing).
BACKEND = "schedule,lower-c,plan-memory"
FRONT_QDQ = "canonicalize,fold-batchnorm,fuse-activation,qdq-to-int,fold-pad,to-nhwc,canonicalize"
FRONT_FLOAT = "canonicalize,fold-batchnorm,fuse-activation,fold-pad,to-nhwc,canonicalize"
MODEL_SEEDS = [
    ("kws_int8.tflite", ""),
    ("kws_int8.tflite", BACKEND),
    ("kws_qdq.onnx", ""),
    ("kws_qdq.onnx", FRONT_QDQ),
    ("resnet8_qdq.onnx", f"{FRONT_QDQ},{BACKEND}"),
    ("ad_fp32.onnx", ""),
    ("ad_fp32.onnx", f"{FRONT_FLOAT},{BACKEND}"),
    ("vww_int8.tflite", ""),
]

TOKEN = re.compile(r'''
    "(?:[^"\\\n]|\\.)*"                                   # string
  | //[^\n]*                                              # comment
  | [%@][A-Za-z0-9_.$-]+                                  # value / graph name
  | (?:[0-9]+x)+[a-z0-9]+ | (?:f16|f32|f64|i16|i1|i8|ui8|i32|i64)\b  # tensor spec
  | [-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)  # float
  | [-+]?[0-9]+                                           # int
  | [A-Za-z_][A-Za-z0-9_]*                                # name / keyword
  | \s+                                                   # white space
  | .                                                     # punctuation, anything else
''', re.VERBOSE | re.DOTALL)
SPEC = re.compile(r"^((?:[0-9]+x)*)([a-z][a-z0-9]*)$")
SHAPED = re.compile(r"^(?:[0-9]+x)+[a-z][a-z0-9]*$")
NUMBER = re.compile(r"^[-+]?[0-9]")
DTYPES = ["f16", "f32", "f64", "i1", "i8", "ui8", "i16", "i32", "i64", "u8", "bf16"]
WEIRD_NUMBERS = [str(i) for i in EDGE_INTS] + [
    "-0", "+1", "10" * 12, "-" + "9" * 30, "0.0", "-0.0", "1e308", "1e-320", "1e999", "-1e999",
    "nan", "inf", "-inf", "0.5", "-1.5", "3.4028235e38", "6.1e-5", "0001", "1.", "1e5"]
WEIRD_DIMS = [0, 1, 2, 3, 7, 16, 1000, 65536, 2**31, 2**40, 10**20]
KEYWORDS = ["graph", "const", "dense", "external", "return", "as", "attributes", "tensor",
            "loc", "q", "axis", "true", "false", "elided 4 bytes"]
PUNCTUATION = list("%@(){}[]<>,:=\"x-") + ["\\", "//", "\n", "\x00", "é", "\u2028"]


@dataclass(frozen=True)
class Seed:
    name: str
    text: str


@functools.cache
def corpus() -> tuple[Path, list[Seed]]:
    """The seeds, and the directory that holds their .bin sidecars (a function, not a
    fixture: hypothesis would print a fixture's whole value with every failing example)."""
    directory = Path(tempfile.mkdtemp(prefix="edgeir-fuzz-ir-"))
    atexit.register(shutil.rmtree, directory, True)
    seeds = [Seed(str(p.relative_to(TESTS)), p.read_bytes().decode("utf-8", "replace"))
             for p in sorted(TESTS.rglob("*.ir")) if "Output" not in p.parts]
    for i, (model, pipeline) in enumerate(MODEL_SEEDS):
        graph = load_model(str(MODELS / model))
        if pipeline:
            run_pipeline(graph, parse_pipeline(pipeline))
        text, data = print_graph_with_sidecar(graph, f"seed{i}.bin", threshold=256)
        (directory / f"seed{i}.bin").write_bytes(data)
        seeds.append(Seed(f"{model} after '{pipeline or 'import'}'", text))
    for seed in seeds[-len(MODEL_SEEDS):]:  # the model seeds are valid IR
        verify(parse(seed.text, FILENAME, directory))
    return directory, seeds


# -- mutations: each takes hypothesis' draw, the text and the other seeds -------------------


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _pick(draw, items: list, what: str = "index") -> int:
    return draw(st.integers(0, len(items) - 1), label=what)


def _significant(tokens: list[str], pred=lambda t: not t.isspace()) -> list[int]:
    return [i for i, t in enumerate(tokens) if pred(t)]


def _vocabulary(tokens: list[str]) -> list[str]:
    return KEYWORDS + PUNCTUATION + sorted(ops.REGISTRY) + WEIRD_NUMBERS + sorted(
        {t for t in tokens if t[0] in "%@"})[:40]


def token_edit(draw, text: str, seeds: list[Seed]) -> str:
    tokens = _tokens(text)
    where = _significant(tokens)
    if not where:
        return text
    i = where[_pick(draw, where)]
    how = draw(st.sampled_from(["delete", "duplicate", "swap", "replace"]), label="how")
    if how == "delete":
        del tokens[i]
    elif how == "duplicate":
        tokens.insert(i, tokens[i] + " ")
    elif how == "swap":
        j = where[_pick(draw, where)]
        tokens[i], tokens[j] = tokens[j], tokens[i]
    else:
        tokens[i] = draw(st.sampled_from(_vocabulary(tokens)), label="token")
    return "".join(tokens)


def number_edit(draw, text: str, seeds: list[Seed]) -> str:
    tokens = _tokens(text)
    where = _significant(tokens, lambda t: bool(NUMBER.match(t)) and not SPEC.match(t))
    if not where:
        return text
    i = where[_pick(draw, where)]
    tokens[i] = draw(st.one_of(st.sampled_from(WEIRD_NUMBERS),
                               st.integers(-(2**70), 2**70).map(str),
                               st.floats().map(repr)), label="number")
    return "".join(tokens)


def spec_edit(draw, text: str, seeds: list[Seed]) -> str:
    """A tensor type's shape or dtype changed: a dimension set, dropped or added."""
    tokens = _tokens(text)
    where = _significant(tokens, lambda t: bool(SHAPED.match(t)) or t in DTYPES)
    if not where:
        return text
    i = where[_pick(draw, where)]
    dims_text, dtype = SPEC.match(tokens[i]).groups()
    dims = [int(d) for d in dims_text.split("x") if d]
    how = draw(st.sampled_from(["dtype", "set", "drop", "add", "scalar"]), label="how")
    if how == "dtype":
        dtype = draw(st.sampled_from(DTYPES), label="dtype")
    elif how == "set" and dims:
        dims[_pick(draw, dims)] = draw(st.sampled_from(WEIRD_DIMS), label="dim")
    elif how == "drop" and dims:
        del dims[_pick(draw, dims)]
    elif how == "add":
        dims.insert(draw(st.integers(0, len(dims))), draw(st.sampled_from(WEIRD_DIMS)))
    else:
        dims = []
    tokens[i] = "".join(f"{d}x" for d in dims) + dtype
    return "".join(tokens)


def list_edit(draw, text: str, seeds: list[Seed]) -> str:
    """An attribute or element list ``[...]`` replaced by another (empty, longer, nested)."""
    tokens = _tokens(text)
    opens = _significant(tokens, lambda t: t == "[")
    if not opens:
        return text
    start = opens[_pick(draw, opens)]
    depth, end = 0, len(tokens) - 1
    for j in range(start, len(tokens)):
        depth += {"[": 1, "]": -1}.get(tokens[j], 0)
        if depth == 0:
            end = j
            break
    items = draw(st.lists(st.one_of(st.sampled_from(WEIRD_NUMBERS),
                                    st.sampled_from(['"x"', "true", "[1, 2]", "[]"])),
                          max_size=9), label="items")
    return "".join(tokens[:start]) + "[" + ", ".join(items) + "]" + "".join(tokens[end + 1:])


def attr_edit(draw, text: str, seeds: list[Seed]) -> str:
    """One attribute's value (``name = 3`` or one element of ``name = [1, 1]``, the list
    keeping its length) set to an edge value: 0, negative, huge, a float, a string."""
    tokens = _tokens(text)
    names = [i for i, t in enumerate(tokens) if t[0].isalpha() and _next(tokens, i) == "="]
    if not names:
        return text
    j = tokens.index("=", names[_pick(draw, names)]) + 1
    while j < len(tokens) and tokens[j].isspace():
        j += 1
    if j == len(tokens):
        return text
    if tokens[j] == "[":
        end = next((k for k in range(j, len(tokens)) if tokens[k] == "]"), len(tokens))
        elements = [k for k in range(j + 1, end) if NUMBER.match(tokens[k])]
        if elements:
            j = elements[_pick(draw, elements)]
    tokens[j] = draw(st.sampled_from(["0", "-1", "-2", "1", "2", "3", "4", "127", "-128",
                                      "65536", str(2**31), str(2**63), "0.0", "-0.5", "nan",
                                      "inf", '"x"', "true", "[]"]), label="value")
    return "".join(tokens)


def _next(tokens: list[str], i: int) -> str | None:
    """The next token after ``i`` that is not white space."""
    return next((t for t in tokens[i + 1:i + 3] if not t.isspace()), None)


def rename_edit(draw, text: str, seeds: list[Seed]) -> str:
    """One use (or every occurrence) of a value name redirected to another value."""
    tokens = _tokens(text)
    where = _significant(tokens, lambda t: t.startswith("%"))
    if len(where) < 2:
        return text
    i = where[_pick(draw, where)]
    new = tokens[where[_pick(draw, where)]]
    if draw(st.booleans(), label="everywhere"):
        old = tokens[i]
        tokens = [new if t == old else t for t in tokens]
    else:
        tokens[i] = new
    return "".join(tokens)


def hex_edit(draw, text: str, seeds: list[Seed]) -> str:
    """A dense hex constant truncated, lengthened, made odd or given a non-hex digit."""
    tokens = _tokens(text)
    where = _significant(tokens, lambda t: t.startswith('"0x'))
    if not where:
        return text
    i = where[_pick(draw, where)]
    digits = tokens[i][3:-1]
    how = draw(st.sampled_from(["cut", "odd", "grow", "garbage", "prefix"]), label="how")
    if how == "cut":
        digits = digits[: draw(st.integers(0, len(digits)))]
    elif how == "odd":
        digits = digits + "F"
    elif how == "grow":
        digits = digits + "00" * draw(st.integers(1, 64))
    elif how == "garbage" and digits:
        k = _pick(draw, list(digits))
        digits = digits[:k] + draw(st.sampled_from("gZ \"\\x-")) + digits[k + 1:]
    else:
        tokens[i] = '"' + digits + '"'
        return "".join(tokens)
    tokens[i] = '"0x' + digits + '"'
    return "".join(tokens)


def line_edit(draw, text: str, seeds: list[Seed]) -> str:
    lines = text.split("\n")
    i = _pick(draw, lines)
    how = draw(st.sampled_from(["delete", "duplicate", "swap"]), label="how")
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    else:
        j = _pick(draw, lines)
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def char_edit(draw, text: str, seeds: list[Seed]) -> str:
    if not text:
        return text
    i = draw(st.integers(0, len(text) - 1), label="position")
    new = draw(st.one_of(st.sampled_from(PUNCTUATION + list("0123456789 xfi")),
                         st.characters()), label="char")
    how = draw(st.sampled_from(["replace", "insert", "delete"]), label="how")
    if how == "replace":
        return text[:i] + new + text[i + 1:]
    if how == "insert":
        return text[:i] + new + text[i:]
    return text[:i] + text[i + 1:]


def splice_edit(draw, text: str, seeds: list[Seed]) -> str:
    other = seeds[_pick(draw, seeds, "other seed")].text.split("\n")
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines)), label="cut")
    j = draw(st.integers(0, len(other)), label="cut other")
    return "\n".join(lines[:i] + other[j:])


MUTATIONS = [token_edit, number_edit, spec_edit, list_edit, attr_edit, attr_edit, rename_edit,
             hex_edit, line_edit, char_edit, splice_edit]


@fuzz_settings(12000)
@given(data=st.data())
def test_fuzz_ir_parser_and_verifier(data):
    directory, seeds = corpus()
    seed = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    text = seed.text
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        mutate = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        text = mutate(data.draw, text, seeds)
    with limits():
        try:
            graph = parse(text, FILENAME, directory)
        except EdgeirError as err:
            check_clean(err, f"{FILENAME}:")
            event("parse error")
            return
        try:
            verify(graph)
        except EdgeirError as err:
            check_clean(err)
            event("verify error")
            return
        event("valid")
        printed = print_graph(graph)
        again = parse(printed, "printed.ir")
        verify(again)
        assert print_graph(again) == printed
