# One task list for local runs, the pre-stop hook and CI.
#   make run   - set up, then run the embedded tiny workflow twice in one warm worker
#   make test  - set up, then lint and run every test (Python and the VS Code extension)
#   make lint  - ruff (format + check), mypy, import-linter contracts
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test lint pytest extension bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[worker,dev,cluster]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/dw-lsp run workflows/tiny-sd.json --repeat 2

lint: setup
	$(BIN)/ruff format --check dw_lsp tests bench
	$(BIN)/ruff check dw_lsp tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: setup
	$(BIN)/pytest -q

extension:
	cd editor/vscode && npm ci --no-audit --no-fund && npm run check

test: lint pytest extension

bench: setup
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_warm_run.py
	$(BIN)/python bench/bench_pool.py

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
