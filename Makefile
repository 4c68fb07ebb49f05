# One-command set-up: `make repro` runs the whole pipeline, `make test` runs the tests.
# Both create .venv when it is missing; `make test` also creates .venv-deploy, the MONAI Deploy app's own
# environment (deploy/requirements.txt: the SDK pulls Holoscan, which must not sit beside synthtrust's monai). PyTorch defaults to the CPU build 2.13.0; CUDA users override, e.g.
#   make repro TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url <your CUDA wheel index>"
PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
DEPLOY_VENV ?= .venv-deploy
BIN := $(VENV)/bin
STAMP := $(VENV)/.synthtrust-installed
DEPLOY_STAMP := $(DEPLOY_VENV)/.deploy-installed
DEPLOY_PYTHON := $(CURDIR)/$(DEPLOY_VENV)/bin/python
PYTEST = PATH="$(CURDIR)/$(BIN):$$PATH" SYNTHTRUST_DEPLOY_PYTHON="$(DEPLOY_PYTHON)" $(BIN)/python -m pytest

.PHONY: setup repro test test-gpu bench lint clean-venv deploy-env deploy-test

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/vendor-niivue.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python scripts/vendor-niivue.py   # NiiVue from the npm registry, pinned by version and sha512
	touch $@

repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup deploy-env
	$(PYTEST) $(PYTEST_ARGS)

# the GPU smoke suite: the paper profile at 128^3 (skips, saying so, without CUDA)
test-gpu: setup
	$(PYTEST) -m gpu -s $(PYTEST_ARGS)

# every benchmark on whatever device is present; medians into benchmarks/RESULTS.md (BENCH_ARGS: --only, --repeats)
BENCH_ARGS ?=
bench: setup deploy-env
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

deploy-env: $(DEPLOY_STAMP)

$(DEPLOY_STAMP): deploy/requirements.txt Makefile
	test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r deploy/requirements.txt
	touch $@

# the app on CPU against in-process bundle inference, and its bad-input exits
deploy-test: setup deploy-env
	$(PYTEST) tests/deploy tests/stages/test_export.py $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks deploy

clean-venv:
	rm -rf $(VENV) $(DEPLOY_VENV)
