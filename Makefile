# Quick start: `make demo` (install + whole workflow on the synthetic demo corpus) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
PYTEST_ARGS ?=

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU wheel of torch first (an unpinned torch would pull a multi-GB CUDA build).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench,cluster]'
	touch $(STAMP)

demo: install
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	$(BIN)/python -m affectflow.summary results

test: install
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint
	$(BIN)/pytest -m "not bench and not cluster" $(PYTEST_ARGS)

bench: install
	$(BIN)/pytest -m bench $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake benchmarks/runs
