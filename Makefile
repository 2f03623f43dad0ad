# Reproducible notebook-driven study. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
export PATH := $(abspath $(BIN)):$(PATH)
export WANDB_MODE ?= offline

.PHONY: help install repro smoke test test-fast lint format lab example-data example dvc-yaml notebooks lock clean serve load bench-serving promote rollback registry reload rollout-report docs

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

# Bytecode is compiled at install time: with PYTHONDONTWRITEBYTECODE set (as on our machines)
# Python would otherwise recompile TensorFlow on every import (15 s instead of 4.6 s per stage).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -c "from tabstudy import numerics; numerics.install_hook()"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv (if missing) and install the pinned environment + this package

repro: install ## Run the whole study on the shipped data (dvc repro, full profile), then register and promote the model if the champion gate passes, and regenerate the README's findings
	dvc repro
	$(BIN)/tabstudy registry promote --if-refused-exit-0 --if-unrecorded-exit-0
	$(BIN)/tabstudy docs --readme

.PHONY: restore
restore: ## After a failed run: every output back to what the committed dvc.lock records (from the DVC cache)
	if ! git diff --quiet -- dvc.lock; then git checkout -- dvc.lock; fi
	dvc checkout --force

smoke: install ## Run the smoke profile end to end in a scratch copy (same as the pipeline test)
	$(BIN)/python -m pytest -o addopts="" tests/test_pipeline.py -k repro_then_noop -q

docs: install ## Build the documentation site offline (docs/, the executed notebooks, the model card) -> build/docs/html; warnings are errors, links checked
	$(BIN)/tabstudy docs

test: install ## Lint, layer rules, Dockerfile lint, then every test (unit, bad input, nbval, DVC pipeline, serving)
	$(BIN)/ruff check src tests tools benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint Dockerfile
	$(BIN)/tabstudy dvc-yaml --check
	@command -v promtool >/dev/null || echo "NOTE: promtool not found: the Prometheus alert-rule tests will NOT run (apt-get install prometheus; .ci/run does)"
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install ## Unit and failure tests only (skips the end-to-end ones)
	$(BIN)/python -m pytest -m "not slow"

lint: install ## ruff check, the import-linter layer contracts (pyproject.toml), hadolint
	$(BIN)/ruff check src tests tools benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint Dockerfile

format: install ## ruff format + autofix
	$(BIN)/ruff check --fix src tests tools benchmarks
	$(BIN)/ruff format src tests tools benchmarks

promote: install ## Register the evaluated model; champion if the gate passed (REF=<commit or exp> FORCE="reason")
	$(BIN)/tabstudy registry promote $(if $(REF),--ref $(REF)) $(if $(FORCE),--force "$(FORCE)")

rollback: install ## The previous champion answers again (then POST /v1/admin/reload to a running service)
	$(BIN)/tabstudy registry rollback

registry: install ## List the registered model versions and their stages (prod, staging)
	$(BIN)/tabstudy registry list

reload: ## Tell a running `make serve` to load what the registry names now (one call)
	curl -fsS -X POST $(if $(TABSTUDY_API_TOKEN),-H "Authorization: Bearer $(TABSTUDY_API_TOKEN)") http://127.0.0.1:8000/v1/admin/reload

rollout-report: install ## Canary/shadow comparison from the request log (LABELS=file with outcomes)
	$(BIN)/tabstudy rollout-report $(if $(LABELS),--labels $(LABELS))

monitor-requests: install ## The monitor's report over the request log (LABELS=file with outcomes) -> reports/monitoring/requests/
	$(BIN)/tabstudy monitor $(if $(LABELS),--labels $(LABELS))

.PHONY: retrain monitor-requests
retrain: install ## Retrain for a month as a DVC experiment (MONTH=YYYY-MM POLICY=sliding|expanding; RUN=1 runs it)
	@test -n "$(MONTH)" || { echo "usage: make retrain MONTH=YYYY-MM [POLICY=sliding|expanding] [RUN=1]" >&2; exit 2; }
	PATH=$(BIN):$$PATH $(BIN)/tabstudy retrain --month "$(MONTH)" $(if $(POLICY),--policy $(POLICY)) $(if $(RUN),--run)

serve: install ## Serve the registry's champion (serve.* in params.yaml: shadow or canary beside it) on 127.0.0.1:8000 (docs at /docs)
	$(BIN)/tabstudy serve

.PHONY: score
score: install ## Score a file of raw rows in chunks (IN=file OUT=file.parquet)
	@test -n "$(IN)" || { echo "usage: make score IN=rows.csv|rows.parquet [OUT=file.parquet]" >&2; exit 2; }
	$(BIN)/tabstudy score "$(IN)" $(if $(OUT),-o "$(OUT)")

load: install ## Headless, bounded locust load test of a running `make serve` (8 users, 30 s)
	$(BIN)/locust -f benchmarks/locustfile.py --headless -u 8 -r 8 -t 30s --host http://127.0.0.1:8000

bench-serving: install ## Our service vs a naive one (pandas features + model.predict), side by side
	$(BIN)/python benchmarks/serving.py

lab: install ## Open JupyterLab on notebooks/ with this environment as the kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

example-data: install ## Write external/breast_cancer.csv from scikit-learn (bring-your-own-data example)
	$(BIN)/tabstudy example-data breast_cancer external/breast_cancer.csv

example: example-data ## Run the whole pipeline on the example table as a DVC experiment
	$(BIN)/dvc exp run -n breast-cancer -S profile=breast_cancer

dvc-yaml: install ## Regenerate dvc.yaml from src/tabstudy/pipeline/stages.py
	$(BIN)/tabstudy dvc-yaml > dvc.yaml.tmp && mv dvc.yaml.tmp dvc.yaml

notebooks: install ## Re-run notebooks under the smoke profile and store outputs as nbval references
	$(BIN)/tabstudy refresh-notebooks

lock: ## Re-resolve requirements.in into requirements.lock and environment.yml
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install -q uv==$(UV_VERSION); }
	$(BIN)/uv pip compile --quiet requirements.in -o requirements.lock --python-version 3.11 --generate-hashes
	$(BIN)/python tools/environment_yml.py requirements.lock > environment.yml

clean: ## Remove caches and the built docs (keeps .venv and DVC outputs)
	rm -rf .pytest_cache .ruff_cache .staging build

.PHONY: tune-distributed
tune-distributed: install ## keras-tuner's chief + tune.workers workers on this machine (distributed search over the tune space)
	$(BIN)/tabstudy tune-distributed $(if $(WORKERS),--workers $(WORKERS)) $(if $(PORT),--port $(PORT))
