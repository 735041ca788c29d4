# Quick start: `make demo` (install + whole workflow on the synthetic demo corpus) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
PYTEST_ARGS ?=
# Tests `make test` selects; .ci/run adds the cluster tests when it could start the local SLURM.
PYTEST_MARKERS ?= not bench and not cluster
# `make bench`: the whole workflow at this preset's scale on this many cores (benchmarks/scale.md;
# iemocap: well over 30 minutes and about 8 GB of disk; demo: minutes).
SCALE_PRESET ?= iemocap
SCALE_CORES ?= 2

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
	$(BIN)/pytest -m "$(PYTEST_MARKERS)" $(PYTEST_ARGS)

bench: install
	$(BIN)/pytest -m bench $(PYTEST_ARGS)
	$(BIN)/python benchmarks/bench_lld.py --out benchmarks/lld.md
	$(BIN)/python benchmarks/bench_lld_stage.py --preset $(SCALE_PRESET) --cores $(SCALE_CORES)
	$(BIN)/python benchmarks/bench_functionals.py --out benchmarks/functionals.md
	$(BIN)/python benchmarks/bench_cfs.py --out benchmarks/cfs.md
	$(BIN)/python benchmarks/bench_hmm.py --out benchmarks/hmm.md
	$(BIN)/python benchmarks/bench_rnn.py --out benchmarks/rnn.md
	$(BIN)/python benchmarks/bench_scale.py --preset $(SCALE_PRESET) --cores $(SCALE_CORES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake benchmarks/runs
