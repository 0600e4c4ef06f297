# edgeir developer entry points. Everything runs from the project venv ($(VENV)), which
# `make venv` creates and (re)installs whenever pyproject.toml changes.

VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed

.PHONY: all venv test test-fast demo lint readme clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

# The main job on the bundled example: import, run the standard passes, print the
# summary, write the IR (and run it once on a random input).
STANDARD = canonicalize,fold-batchnorm,fuse-activation,fold-pad,to-nhwc
DEMO_OUT = out/demo

demo: venv
	mkdir -p $(DEMO_OUT)
	$(VENV)/bin/edgeir show examples/kws/model.onnx -p $(STANDARD) --stats
	$(VENV)/bin/edgeir opt examples/kws/model.onnx -p $(STANDARD) -o $(DEMO_OUT)/kws.ir
	$(PY) -c "import numpy as np; np.savez('$(DEMO_OUT)/input.npz', input=np.random.default_rng(0).standard_normal((1, 1, 49, 10)).astype(np.float32))"
	$(VENV)/bin/edgeir run $(DEMO_OUT)/kws.ir --input $(DEMO_OUT)/input.npz -o $(DEMO_OUT)/output.npz
	$(VENV)/bin/edgeir compile examples/kws/model.onnx --float --target cortex-m4 --name kws -o $(DEMO_OUT)/kws_c
	$(VENV)/bin/edgeir show examples/kws/model.onnx --memory --svg $(DEMO_OUT)/kws_memory.svg
	$(VENV)/bin/edgeir run $(DEMO_OUT)/kws_c --engine c --input $(DEMO_OUT)/input.npz -o $(DEMO_OUT)/output_c.npz
	$(PY) -c "import numpy as np; a, b = (np.load('$(DEMO_OUT)/' + f)['output'] for f in ('output.npz', 'output_c.npz')); print('generated C vs interpreter: max difference', float(abs(a - b).max()))"
	@echo "demo: wrote $(DEMO_OUT)/kws.ir (+ kws.bin), $(DEMO_OUT)/kws_c/ (the C library, report.json, kws_sections.ld), $(DEMO_OUT)/kws_memory.svg, input.npz, output.npz, output_c.npz"

readme: venv
	$(PY) -c "from pathlib import Path; from compiler.summary import readme_with_tables as r; p = Path('README.md'); p.write_text(r(p.read_text()))"

lint: venv
	$(VENV)/bin/ruff check

clean:
	rm -rf build dist out *.egg-info .pytest_cache .ruff_cache .hypothesis .lit_test_times.txt
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name Output \) -print \
		| xargs rm -rf
