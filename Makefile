# One task list for local runs, the pre-stop hook and CI.
#   make run   - set up, then run the embedded tiny workflow twice in one warm worker
#   make test  - set up, then lint and run every test (Python and the VS Code extension)
#   make lint  - ruff (format + check), mypy, import-linter contracts
#   make e2e-vscode - the extension in a real VS Code (code-server, cached in .dw-cache/)
#   make gpu-check - smoke-run one workflow per family on CUDA with stand-in models
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# The `tasks` extra, installed here without torchvision: PyPI has no torchvision for the CPU
# torch pinned in constraints.txt, and one that cannot load breaks transformers' image
# processors. controlnet-aux and spandrel therefore come without their dependencies; the
# ControlNet-aux detectors that need torchvision, and spandrel, then say so when run.
TASK_DEPS := opencv-python-headless einops scikit-image
TASK_PACKAGES := controlnet-aux spandrel

.PHONY: setup run test lint pytest extension e2e-vscode bench gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[worker,dev,cluster,quant]" $(TASK_DEPS)
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps $(TASK_PACKAGES)
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/dw-lsp run workflows/tiny-sd.json --repeat 2

lint: setup
	$(BIN)/ruff format --check dw_lsp tests bench editor/vscode/e2e
	$(BIN)/ruff check dw_lsp tests bench editor/vscode/e2e
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: setup
	$(BIN)/pytest -q

extension:
	cd editor/vscode && npm ci --no-audit --no-fund && npm run check

# code-server is installed once into .dw-cache/ (about 2-8 minutes); Debian's chromium,
# ripgrep and libkrb5-dev must be installed (.ci/run installs them).
e2e-vscode: setup
	$(BIN)/pytest -q editor/vscode/e2e

test: lint pytest extension e2e-vscode

# bench_editor needs Node 20+ and npm: it installs Microsoft's JSON server into .dw-cache/.
bench: setup
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_warm_run.py
	$(BIN)/python bench/bench_standins.py
	$(BIN)/python bench/bench_editor.py
	$(BIN)/python bench/bench_pool.py
	$(BIN)/python bench/bench_first_run.py

gpu-check: setup
	$(BIN)/python bench/gpu_check.py

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
