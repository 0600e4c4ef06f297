# edgeir developer entry points. Everything runs from the project venv ($(VENV)), which
# `make venv` creates and (re)installs whenever pyproject.toml changes.

VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed

.PHONY: all venv test test-fast demo playbook lint readme hashes clean

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

# The main job on the bundled example: the latency playbook on the CNC-spindle vibration
# model (FP32 -> INT8 -> dead-channel elimination -> weights pinned in SRAM), each
# configuration compiled to C for a Cortex-M4 with QSPI flash, run on the emulated core, and
# measured on the validation set. Leaves in $(DEMO_OUT): the table (playbook.md/.json) and per
# configuration the generated C project with report.json, sim.json and memory.svg.
DEMO_OUT = out/demo

demo: venv
	$(PY) benchmarks/playbook.py -o $(DEMO_OUT)
	@echo "demo: the playbook table is $(DEMO_OUT)/playbook.md; the C projects (sources, report.json, sim.json, memory.svg) are $(DEMO_OUT)/*/"

playbook: venv
	$(PY) benchmarks/playbook.py -o out/playbook

readme: venv
	$(PY) -c "from pathlib import Path; from compiler.summary import readme_with_tables as r; p = Path('README.md'); p.write_text(r(p.read_text()))"

# The sha256 of every file a full compile of the shared models writes
# (tests/determinism/hashes.json, checked by tests/test_determinism.py). Run it when a
# change alters the generated code on purpose, and commit the manifest with the change.
hashes: venv
	$(PY) tests/tools/determinism.py --write

lint: venv
	$(VENV)/bin/ruff check

clean:
	rm -rf build dist out *.egg-info .pytest_cache .ruff_cache .hypothesis .lit_test_times.txt
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name Output \) -print \
		| xargs rm -rf
