# lit configuration of the tutorial's FileCheck test: edgeir's own (tests/lit.cfg.py, for the
# edgeir, filecheck and %python substitutions), rooted in this directory.
# Run with `lit -sv examples/custom_pass` from the project venv.
# ruff: noqa: F821 - lit injects `config` and `lit_config`

import os

here = os.path.dirname(os.path.abspath(__file__))
lit_config.load_config(config, os.path.join(here, "..", "..", "tests", "lit.cfg.py"))
config.name = "edgeir-custom-pass"
config.test_source_root = here
# A RUN line whose pass fails leaves edgeir_reproducer.ir here: data, not a test.
config.excludes = ["Output", "__pycache__", "edgeir_reproducer.ir"]
