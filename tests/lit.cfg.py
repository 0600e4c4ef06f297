# lit configuration of edgeir's FileCheck tests (tests/{passes,text,verify}/*.ir).
# Run with `lit -sv tests/` from the project venv, or through tests/test_lit.py.

import os
import shlex
import sys

import lit.formats

# Only these subdirectories of tests/ hold lit tests; .ir files anywhere else are data.
LIT_DIRS = ("passes", "text", "verify", "codegen")

config.name = "edgeir"
# lit >= 23 refuses ShTest(execute_external=True); its internal shell supports `not`,
# pipes and redirections, which is all the tests use.
config.test_format = lit.formats.ShTest(False)
config.suffixes = [".ir"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))

# Everything else at the top of tests/ is excluded (lit matches excludes by base name).
config.excludes = ["Output", "__pycache__"] + sorted(
    entry.name
    for entry in os.scandir(config.test_source_root)
    if (entry.is_dir() and entry.name not in LIT_DIRS) or entry.name.endswith(".ir")
)

# Tools come from the bin directory of the python running lit (the project venv).
bin_dir = os.path.dirname(sys.executable)
repo_root = os.path.dirname(config.test_source_root)


def tool(name):
    return shlex.quote(os.path.join(bin_dir, name))


config.substitutions.append(("%python", shlex.quote(sys.executable)))
# Whole words only, so that paths and longer names containing them are left alone.
config.substitutions.append((r"(?<![\w./-])edgeir(?![\w./-])", tool("edgeir")))
config.substitutions.append((r"(?<![\w./-])filecheck(?![\w./-])", tool("filecheck")))

config.environment["PATH"] = os.pathsep.join(
    [bin_dir, config.environment.get("PATH", os.environ.get("PATH", ""))]
)
# `%python -m compiler...` works from a source checkout even without an install.
config.environment["PYTHONPATH"] = os.pathsep.join(
    p for p in [repo_root, os.environ.get("PYTHONPATH", "")] if p
)
