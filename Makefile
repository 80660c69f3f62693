# oscdyn: `make demo` runs the integrator comparison, `make test` the test suite and linter.
# Both create .venv on first use (python3 -m venv), install the CPU build of torch first,
# then the package in editable mode with its test and ray extras (the Ray sweep
# tests run for real). The stamp file makes that happen
# once (again only when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.oscdyn-installed

.PHONY: demo test venv clean

demo: $(STAMP)
	$(VENV)/bin/oscdyn demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q
	$(VENV)/bin/ruff check

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install "$(TORCH)"
	$(VENV)/bin/python -m pip install -e '.[test,ray]'
	touch $@

clean:
	rm -rf oscdyn-demo .pytest_cache .ruff_cache build *.egg-info
