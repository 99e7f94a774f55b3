# The few commands people type; each is a thin wrapper over dev.py (which needs only Python 3.11+).
PYTHON ?= python3

.PHONY: run test lint bench

run:   ## install into .venv and serve the March 2022 demo on SQLite (http://127.0.0.1:8000/graphql)
	$(PYTHON) dev.py run

test:  ## install with the test extras and run the whole suite
	$(PYTHON) dev.py test

lint:  ## ruff and mypy
	$(PYTHON) dev.py lint

bench: ## the benchmarks (docs/benchmarks.md); e.g. make bench BENCH_ARGS="--size 1k,10k,100k"
	$(PYTHON) dev.py bench $(BENCH_ARGS)
