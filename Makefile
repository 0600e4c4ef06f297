# edgeir developer entry points. Everything runs from the project venv ($(VENV)), which
# `make venv` creates and (re)installs whenever pyproject.toml changes.

VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed

.PHONY: all venv test test-fast demo lint clean

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

demo: venv
	$(VENV)/bin/edgeir demo

lint: venv
	$(VENV)/bin/ruff check

clean:
	rm -rf build dist out *.egg-info .pytest_cache .ruff_cache .hypothesis .lit_test_times.txt
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name Output \) -print \
		| xargs rm -rf
