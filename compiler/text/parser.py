"""Parser of the textual IR (lark grammar in ``grammar.lark``).

Errors are :class:`EdgeirError` located as ``file:line:col``. Parsed nodes remember their
source position (``node.src``) so that the verifier can point at the IR line too.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import lark
import numpy as np

from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import DTYPES, Graph, Node, PerAxis, PerTensor, TensorType, Value, constant
from compiler.ops.base import check_attr_value
from compiler.verify import quant_problem

GRAMMAR = Path(__file__).with_name("grammar.lark")


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(GRAMMAR.read_text(), parser="lalr", maybe_placeholders=True)


# How each attribute kind is written, for hints.
_EXAMPLES = {"int": "1", "float": "0.5", "bool": "true", "str": '"name"', "ints": "[1, 1]",
             "floats": "[0.5, 1.0]", "strs": '["a", "b"]'}


def _unquote(token: str) -> str:
    return json.loads(token)


class _Builder:
    def __init__(self, filename: str, base_dir: Path | None) -> None:
        self.filename = filename
        self.base_dir = base_dir
        self.values: dict[str, Value] = {}
        self.sidecars: dict[str, bytes] = {}

    def where(self, token: Any) -> str:
        line = getattr(token, "line", None)
        col = getattr(token, "column", None)
        if line is None:
            meta = getattr(token, "meta", None)
            line, col = getattr(meta, "line", "?"), getattr(meta, "column", "?")
        return f"{self.filename}:{line}:{col}"

    def error(self, token: Any, what: str, hint: str | None = None) -> EdgeirError:
        return EdgeirError(what, self.where(token), hint, kind="input")

    # -- types ------------------------------------------------------------------------
    def type(self, tree: lark.Tree) -> TensorType:
        spec = str(tree.children[0])
        *dims, dtype = spec.split("x")
        quant = None
        qtree = tree.children[1]
        if qtree is not None:
            if qtree.data == "per_tensor":
                quant = PerTensor(float(qtree.children[0]), int(qtree.children[1]))
            else:
                axis = int(qtree.children[0])
                *scales, zps_tree = qtree.children[1:]
                zps = [int(z) for z in zps_tree.children]
                if len(zps) == 1:
                    zps = zps * len(scales)
                if len(zps) != len(scales):
                    raise self.error(tree.children[0], f"{len(scales)} scales but {len(zps)} "
                                     "zero points", "give one zero point per scale, or one for "
                                     "all")
                quant = PerAxis(axis, tuple(float(s) for s in scales), tuple(zps))
        ttype = TensorType(dtype, tuple(int(d) for d in dims), quant)
        problem = quant_problem(ttype)
        if problem is not None:
            raise self.error(tree.children[0], problem, "fix the quantization parameters")
        return ttype

    # -- values -------------------------------------------------------------------------
    def define(self, token: lark.Token, value: Value) -> None:
        name = str(token)[1:]
        if name in self.values:
            raise self.error(token, f"%{name} is defined twice", "rename one of them")
        value.name = name
        self.values[name] = value

    def use(self, token: lark.Token) -> Value:
        name = str(token)[1:]
        value = self.values.get(name)
        if value is None:
            raise self.error(token, f"use of undefined value %{name}",
                             "define it before this line")
        return value

    # -- constants ----------------------------------------------------------------------
    def constant(self, tree: lark.Tree) -> Value:
        name_tok, body, type_tree = tree.children
        ttype = self.type(type_tree)
        dtype = DTYPES[ttype.dtype].newbyteorder("<")
        if body.data == "dense_hex":
            text = _unquote(str(body.children[0]))
            if not text.startswith("0x"):
                raise self.error(body.children[0], "hex constant must start with 0x",
                                 'write it as "0x" and two hex digits per byte')
            try:
                raw = bytes.fromhex(text[2:])
            except ValueError:
                raise self.error(body.children[0], "malformed hex constant",
                                 'write it as "0x" and two hex digits per byte') from None
            data = self._from_bytes(raw, dtype, ttype, body.children[0])
        elif body.data == "dense_list":
            elements = [c for c in body.children if c is not None]
            if len(elements) != ttype.numel:
                raise self.error(name_tok, f"constant has {len(elements)} elements, its type "
                                 f"needs {ttype.numel}", f"give {ttype.numel} elements or fix "
                                 "the type")
            try:
                data = np.array([self._element(e, dtype) for e in elements],
                                dtype=dtype).reshape(ttype.shape)
            except (ValueError, OverflowError) as err:
                raise self.error(name_tok, f"bad constant element: {err}",
                                 f"write every element as a {dtype.name} value") from None
        elif body.data == "dense_elided":
            raise self.error(body.children[0], "constant data was elided when this IR was "
                             "printed", "print it again without eliding (write it with -o)")
        else:
            file_tok, off_tok, size_tok = body.children
            raw = self._sidecar(file_tok)
            offset, size = int(off_tok), int(size_tok)
            if offset < 0 or offset + size > len(raw):
                raise self.error(off_tok, f"bytes {offset}..{offset + size} are outside "
                                 f"{_unquote(str(file_tok))} ({len(raw)} bytes)",
                                 "the .bin file does not belong to this .ir file; write both "
                                 "again")
            data = self._from_bytes(raw[offset : offset + size], dtype, ttype, off_tok)
        value = constant(data.astype(DTYPES[ttype.dtype]), quant=ttype.quant)
        self.define(name_tok, value)
        return value

    def _element(self, token: lark.Token, dtype: np.dtype) -> Any:
        text = str(token)
        if token.type in ("TRUE", "FALSE"):
            if dtype != np.bool_:
                raise ValueError(f"{text} in a {dtype} constant")
            return text == "true"
        if dtype == np.bool_:
            raise ValueError(f"{text} in a boolean constant")
        if np.issubdtype(dtype, np.integer):
            if token.type != "INT":
                raise ValueError(f"{text} in an integer constant")
            info = np.iinfo(dtype)
            if not info.min <= int(text) <= info.max:
                raise ValueError(f"{text} does not fit {dtype}")
            return int(text)
        with np.errstate(over="ignore"):
            value = dtype.type(text)
        if np.isinf(value) and "inf" not in text.lower():
            raise ValueError(f"{text} does not fit {dtype}")
        return value

    def _from_bytes(self, raw: bytes, dtype: np.dtype, ttype: TensorType, tok: Any) -> np.ndarray:
        if len(raw) != ttype.numel * dtype.itemsize:
            need = ttype.numel * dtype.itemsize
            raise self.error(tok, f"constant has {len(raw)} bytes, its type needs {need}",
                             f"give {need} bytes ({ttype.numel} x {dtype.itemsize}) or fix "
                             "the type")
        return np.frombuffer(raw, dtype=dtype).reshape(ttype.shape).copy()

    def _sidecar(self, token: lark.Token) -> bytes:
        name = _unquote(str(token))
        if name not in self.sidecars:
            if self.base_dir is None:
                raise self.error(token, "external constants need a file, but this IR was "
                                 "not read from one", "parse the .ir file by path")
            path = self.base_dir / name
            try:
                self.sidecars[name] = path.read_bytes()
            except OSError as err:
                raise self.error(token, f"cannot read constant file {path}: {err.strerror}",
                                 "keep the .bin file next to the .ir file") from None
        return self.sidecars[name]

    # -- nodes ---------------------------------------------------------------------------
    def node(self, tree: lark.Tree) -> Node:
        children = list(tree.children)
        op_index = next(i for i, c in enumerate(children)
                        if isinstance(c, lark.Token) and c.type == "OP_NAME")
        result_toks = children[:op_index]
        op_tok = children[op_index]
        rest = children[op_index + 1 :]
        operand_toks = [c for c in rest if isinstance(c, lark.Token) and c.type == "VALUE_ID"]
        attr_tree = next((c for c in rest if isinstance(c, lark.Tree) and c.data == "attr_dict"),
                         None)
        type_trees = [c for c in rest if isinstance(c, lark.Tree) and c.data == "type"]
        loc_tree = next((c for c in rest if isinstance(c, lark.Tree) and c.data == "loc"), None)

        opdef = ops.REGISTRY.get(str(op_tok))
        if opdef is None:
            raise self.error(op_tok, f"unknown op '{op_tok}'",
                             "see the README's op table for the supported ops")
        attrs = self.attrs(attr_tree, opdef, op_tok)
        if len(type_trees) != len(result_toks):
            raise self.error(op_tok, f"{len(result_toks)} results but {len(type_trees)} types",
                             "give one type per result")
        node = Node(str(op_tok), [self.use(t) for t in operand_toks],
                    [self.type(t) for t in type_trees], attrs,
                    loc=_unquote(str(loc_tree.children[0])) if loc_tree is not None else "")
        node.src = self.where(result_toks[0])
        for tok, value in zip(result_toks, node.results):
            self.define(tok, value)
        return node

    def attrs(self, tree: lark.Tree | None, opdef: ops.OpDef, op_tok: lark.Token) -> dict:
        out: dict[str, Any] = {}
        if tree is None:
            return out
        for entry in tree.children:
            if entry is None:
                continue
            key_tok, value_tree = entry.children
            key = str(key_tok)
            spec = opdef.all_attrs.get(key)
            if spec is None:
                raise self.error(key_tok, f"op '{opdef.name}' has no attribute '{key}'",
                                 f"its attributes are {sorted(opdef.attrs) or 'none'}")
            if key in out:
                raise self.error(key_tok, f"attribute '{key}' given twice", "give it once")
            try:
                out[key] = check_attr_value(spec.kind, self.attr_value(value_tree))
            except ValueError as err:
                raise self.error(key_tok, f"attribute '{key}' of '{opdef.name}' must be "
                                 f"{spec.kind}: {err}",
                                 f"write it like {key} = {_EXAMPLES.get(spec.kind, '...')}"
                                 ) from None
        return out

    def graph_attrs(self, tree: lark.Tree) -> dict:
        out: dict[str, Any] = {}
        for entry in tree.children:
            if entry is None:
                continue
            key_tok, value_tree = entry.children
            if str(key_tok) in out:
                raise self.error(key_tok, f"graph attribute '{key_tok}' given twice",
                                 "give it once")
            value = self.attr_value(value_tree)
            out[str(key_tok)] = tuple(value) if isinstance(value, list) else value
        return out

    def attr_value(self, tree: Any) -> Any:
        if isinstance(tree, lark.Token):
            if tree.type == "INT":
                return int(tree)
            if tree.type == "FLOAT":
                return float(tree)
            if tree.type in ("TRUE", "FALSE"):
                return tree.type == "TRUE"
        if tree.data == "string":
            return _unquote(str(tree.children[0]))
        return [self.attr_value(c) for c in tree.children if c is not None]

    # -- graph ---------------------------------------------------------------------------
    def graph(self, tree: lark.Tree) -> Graph:
        name_tok, *rest = tree.children
        graph = Graph(name=str(name_tok)[1:])
        for child in rest:
            if child is None:
                continue
            if child.data == "graph_attrs":
                graph.attrs = self.graph_attrs(child.children[0])
                continue
            if child.data == "arg":
                value_tok, type_tree, port = child.children
                value = Value(self.type(type_tree))
                self.define(value_tok, value)
                port_name = _unquote(str(port.children[0])) if port is not None else value.name
                if port_name in graph.input_names:
                    raise self.error(value_tok, f"duplicate input name {port_name!r}",
                                     "rename one of the inputs")
                graph.inputs.append(value)
                graph.input_names.append(port_name)
            elif child.data == "const_stmt":
                graph.constants.append(self.constant(child))
            elif child.data == "op_stmt":
                graph.append(self.node(child))
            elif child.data == "ret":
                for item in child.children:
                    if item is None:
                        continue
                    value_tok, port = item.children
                    value = self.use(value_tok)
                    port_name = _unquote(str(port.children[0])) if port is not None else value.name
                    if port_name in graph.output_names:
                        raise self.error(value_tok, f"duplicate output name {port_name!r}",
                                         "rename one of the outputs")
                    graph.add_output(value, port_name)
        return graph


def _syntax_error(err: lark.exceptions.LarkError, filename: str, text: str) -> EdgeirError:
    line = getattr(err, "line", "?")
    col = getattr(err, "column", "?")
    where = f"{filename}:{line}:{col}"
    if isinstance(err, lark.exceptions.UnexpectedToken):
        expected = sorted(err.accepts or err.expected)
        shown = ", ".join(_pretty_terminal(e) for e in expected[:6])
        more = ", ..." if len(expected) > 6 else ""
        token = err.token
        got = "end of file" if token.type == "$END" else repr(str(token))
        return EdgeirError(f"unexpected {got}", where, f"expected {shown}{more}", "input")
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        allowed = sorted(err.allowed or ())
        hint = (f"expected {', '.join(_pretty_terminal(a) for a in allowed[:6])}"
                f"{', ...' if len(allowed) > 6 else ''}" if allowed else
                "remove it (comments start with //)")
        return EdgeirError(f"unexpected character {char!r}", where, hint, "input")
    if isinstance(err, lark.exceptions.UnexpectedEOF):
        return EdgeirError("unexpected end of file", where, "complete the graph", "input")
    return EdgeirError(f"syntax error: {err}", where, "see the README's IR syntax", "input")


def _pretty_terminal(name: str) -> str:
    known = {"VALUE_ID": "a %value", "OP_NAME": "a name", "INT": "an integer",
             "FLOAT": "a number", "STRING": "a string", "GLOBAL_ID": "@name",
             "TENSOR_SPEC": "a shape and dtype like 1x8xf32", "LPAR": "'('", "RPAR": "')'",
             "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='",
             "LSQB": "'['", "RSQB": "']'", "LESSTHAN": "'<'", "MORETHAN": "'>'"}
    if name in known:
        return known[name]
    if name.isupper():
        return "'" + name.lower() + "'"
    return name


def parse(text: str, filename: str = "<string>", base_dir: Path | None = None) -> Graph:
    """Parse textual IR; ``base_dir`` is where external constant files are looked up."""
    try:
        tree = _lark().parse(text)
    except lark.exceptions.LarkError as err:
        raise _syntax_error(err, filename, text) from None
    builder = _Builder(filename, base_dir)
    return builder.graph(tree.children[0])


def parse_file(path: str | Path) -> Graph:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise EdgeirError("no such file", str(path), "check the path") from None
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise EdgeirError(f"cannot read IR file: byte {err.start} is not UTF-8",
                          f"{path}:{line}", "save the file as UTF-8") from None
    except OSError as err:
        raise EdgeirError(f"cannot read IR file: {err.strerror or err}", str(path),
                          "check the path and its permissions") from None
    return parse(text, str(path), path.parent)

