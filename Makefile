# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# They create their own virtualenvs: .venv (the application, on the Lambda runtime's Python),
# .venv-tools (SAM CLI, cfn-lint) and .venv-checks (checkov, bandit), apart because they pin
# different versions of the same libraries.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.12 (template.yaml); run everything on that version so that what
# passes here is what runs on Lambda. pyenv installs are found even when not on PATH.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
RUNTIME_PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))

VENV := .venv
TOOLS := .venv-tools
CHECKS := .venv-checks
PY := $(VENV)/bin/python
STAMP := .make

export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true
export AWS_DEFAULT_REGION ?= us-east-1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# sam build (no container) needs the runtime's python3.12 on PATH.
export PATH := $(dir $(RUNTIME_PYTHON)):$(PATH)

.PHONY: help test lint template security hubspot-project unit integration e2e demo bench chaos clean check-python tests-main tests-e2e

help:
	@echo "make demo   - bring the local stack up with the sandboxes and run the sync"
	@echo "make test   - lint, type-check, template checks and the whole test suite"
	@echo "make bench  - measure calls, AWS requests, CPU, latency and cost per activity (BENCH_N=3000)"
	@echo "make chaos  - the fault suite: 2,000 activities under faults, nothing lost or duplicated (CHAOS_N)"
	@echo "make lint | template | security | hubspot-project | unit | integration | e2e | clean"

check-python:
	@if [ -z "$(RUNTIME_PYTHON)" ]; then \
	  echo "Python 3.12 (the Lambda runtime) not found: install it (e.g. 'pyenv install 3.12') or set RUNTIME_PYTHON=/path/to/python3.12" >&2; \
	  exit 1; fi

# uv (from PyPI, into the application venv) installs in seconds what pip takes minutes for;
# pip remains the fallback.
UV := $(VENV)/bin/uv

$(STAMP)/uv: | check-python
	@mkdir -p $(STAMP)
	@test -x $(PY) || $(RUNTIME_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv || true
	@touch $@

$(STAMP)/venv: pyproject.toml layers/activity_sync/requirements.txt $(STAMP)/uv
	$(UV) pip install --python $(PY) -q -e '.[dev]' || $(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(STAMP)/tools: tools/requirements.txt $(STAMP)/uv
	@test -x $(TOOLS)/bin/python || $(RUNTIME_PYTHON) -m venv $(TOOLS)
	$(UV) pip install --python $(TOOLS)/bin/python -q -r tools/requirements.txt \
	  || $(TOOLS)/bin/python -m pip install -q -r tools/requirements.txt
	@touch $@

$(STAMP)/checks: tools/requirements-checks.txt $(STAMP)/uv
	@test -x $(CHECKS)/bin/python || $(RUNTIME_PYTHON) -m venv $(CHECKS)
	$(UV) pip install --python $(CHECKS)/bin/python -q -r tools/requirements-checks.txt \
	  || $(CHECKS)/bin/python -m pip install -q -r tools/requirements-checks.txt
	@touch $@

lint: $(STAMP)/venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

template: $(STAMP)/tools
	$(TOOLS)/bin/sam validate --lint --template template.yaml
	$(TOOLS)/bin/sam validate --lint --template syncer.yaml
	$(TOOLS)/bin/sam validate --lint --template dashboard.yaml
	$(TOOLS)/bin/cfn-lint template.yaml syncer.yaml dashboard.yaml
	$(TOOLS)/bin/sam build --template template.yaml --build-dir .aws-sam/build --cached --parallel
	@! ls -d .aws-sam/build/SyncLayer/python/{boto3,botocore,s3transfer} 2>/dev/null \
	  || { echo "the layer ships what the Lambda runtime provides (layers/activity_sync/Makefile)" >&2; exit 1; }

# Fails on any finding that is not skipped with its reason: checkov skips live in the resource's
# Metadata, bandit's in "# nosec Bxxx  # reason" (tests/unit/test_security_skips.py checks both
# give one). bandit's "nosec encountered" warnings are about multi-line strings, not findings.
security: $(STAMP)/checks
	$(CHECKS)/bin/checkov --skip-download --quiet --compact --framework cloudformation \
	  -f template.yaml -f syncer.yaml -f dashboard.yaml
	$(CHECKS)/bin/bandit -q -r layers functions 2> >(grep -v "nosec encountered" >&2)

# The HubSpot app (hubspot-app/, rendered from rules/hubspot_subscriptions.py) checked with HubSpot's own
# project parser, offline (npm @hubspot/project-parsing-lib; tools/hubspot-project-check).
hubspot-project:
	bash tools/hubspot-project-check/check.sh hubspot-app

unit: $(STAMP)/venv
	$(VENV)/bin/pytest tests/unit

integration: $(STAMP)/venv
	$(VENV)/bin/pytest tests/integration tests/contract tests/sandboxes tests/local

e2e: $(STAMP)/venv
	$(VENV)/bin/pytest tests/e2e $(CHAOS_SHORT)
	$(VENV)/bin/pytest tests/cli  # a local stack of its own: one per process

# The end-to-end suite keeps one local stack up for its whole session (moto's state is
# process-wide), so it runs in a pytest process of its own - alongside the rest, on the two cores.
# The short fault run (a subprocess of its own) goes with it: the two halves take about as long.
CHAOS_SHORT := tests/chaos/test_chaos_short.py
test: lint template security hubspot-project $(STAMP)/venv
	$(MAKE) --no-print-directory -j2 tests-main tests-e2e

tests-main: $(STAMP)/venv
	$(VENV)/bin/pytest --ignore=tests/e2e --ignore=$(CHAOS_SHORT) -p no:cacheprovider

tests-e2e: $(STAMP)/venv
	$(VENV)/bin/pytest tests/e2e $(CHAOS_SHORT) -p no:cacheprovider

demo: $(STAMP)/venv
	$(PY) -m activity_sync_tools.demo

# A benchmark, not a test (never part of `make test`): prints one table and writes the figures to
# bench-results/<UTC start>.json. BENCH_N sets the size of the mixed run; BENCH_ARGS passes more
# options (e.g. BENCH_ARGS='--json out.json --markdown').
bench: $(STAMP)/venv
	$(PY) -m activity_sync_tools.bench $(if $(BENCH_N),--n $(BENCH_N)) $(BENCH_ARGS)

# The fault suite (issue #11), not part of `make test` (a short run of it is): 2,000 activities under
# vendor faults, duplicate deliveries, killed workers and a small API budget; exits 1 on any loss,
# duplicate or budget overrun. CHAOS_N sets its size; CHAOS_ARGS passes more options (--help).
chaos: $(STAMP)/venv
	$(PY) -m activity_sync_tools.chaos $(if $(CHAOS_N),--n $(CHAOS_N)) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKS) $(STAMP) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache \
	  tools/hubspot-project-check/node_modules .hubspot-project
