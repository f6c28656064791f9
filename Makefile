# jobctl — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The newest Python >= 3.11 on this machine (pyenv shims that cannot run are skipped).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
CFN_VENV := .venv-cfn
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PIPTOOLS_VENV := .venv-piptools
AUDIT_VENV := .venv-audit
SDK_VENV := .venv-sdk
# The Lambda runtime's Python (template.yaml: python3.12), for the lock and sam build, which
# runs python3.12 from PATH: that one if it runs, else pyenv's newest 3.12 (its shim runs
# it under PYENV_VERSION).
LAMBDA_PYENV := $(shell python3.12 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' \
	>/dev/null 2>&1 || pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | sort -V | tail -1)
LAMBDA_ENV := $(if $(LAMBDA_PYENV),PYENV_VERSION=$(LAMBDA_PYENV))
LAMBDA_PYTHON := $(LAMBDA_ENV) python3.12
NO_LAMBDA_PYTHON := sam build and the lock need Python 3.12 (the Lambda runtime) as python3.12 on PATH, or in pyenv
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "jobctl needs Python >= 3.11 on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(CFN_VENV)/.installed: requirements/cfn-lint.txt
	@test -n "$(PYTHON)" || { echo "jobctl needs Python >= 3.11 on PATH"; exit 1; }
	$(PYTHON) -m venv $(CFN_VENV)
	$(CFN_VENV)/bin/python -m pip install -q -r requirements/cfn-lint.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	@test -n "$(PYTHON)" || { echo "jobctl needs Python >= 3.11 on PATH"; exit 1; }
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements/checkov.txt
	@touch $@

$(SAM_VENV)/.installed: requirements/sam-cli.txt
	$(LAMBDA_PYTHON) -m venv $(SAM_VENV) 2>/dev/null || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q -r requirements/sam-cli.txt
	@touch $@

# pip-compile resolves for the interpreter it runs on: it must be the Lambda runtime's.
$(PIPTOOLS_VENV)/.installed: requirements/pip-tools.txt
	@$(LAMBDA_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || \
		{ echo "$(NO_LAMBDA_PYTHON)"; exit 1; }
	$(LAMBDA_PYTHON) -m venv $(PIPTOOLS_VENV)
	$(PIPTOOLS_VENV)/bin/python -m pip install -q -r requirements/pip-tools.txt
	@touch $@

# The SageMaker Python SDK, for the producer client's tests (it is not jobctl's dependency).
$(SDK_VENV)/.installed: requirements/sagemaker-sdk.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "jobctl needs Python >= 3.11 on PATH"; exit 1; }
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install -q --upgrade pip
	$(SDK_VENV)/bin/python -m pip install -q -e '.[local]' -r requirements/sagemaker-sdk.txt
	@touch $@

$(AUDIT_VENV)/.installed: requirements/pip-audit.txt
	@test -n "$(PYTHON)" || { echo "jobctl needs Python >= 3.11 on PATH"; exit 1; }
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install -q -r requirements/pip-audit.txt
	@touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv with jobctl and its development tools

.PHONY: demo
demo: $(VENV)/.installed ## Run the sample jobs through the controller on the embedded local stack
	$(PY) -m jobctl_tools.local.demo

.PHONY: soak
soak: $(VENV)/.installed ## Soak the local stack: 1,000 requests with faults, duplicates, lost events (CHAOS=1: and 5 % of the controller's AWS calls failing)
	$(PY) -m jobctl_tools.local.soak --requests $${SOAK_REQUESTS:-1000} --rate $${SOAK_RATE:-$(if $(CHAOS),1,2)} --budget-scale $${SOAK_BUDGET_SCALE:-4} --timeout $${SOAK_TIMEOUT:-$(if $(CHAOS),3600,1800)} $(if $(CHAOS),--chaos)

.PHONY: bench
bench: $(VENV)/.installed ## Benchmarks: API economy, handler overhead, cold start, local stack (bench/results.json, README table)
	$(PY) -m bench.run

.PHONY: test
test: lint typecheck lint-template checkov pytest sdk-test ## Everything CI runs: ruff, mypy, cfn-lint, checkov, pytest, the SDK tests

.PHONY: lint
lint: $(VENV)/.installed ## ruff (lint and format check)
	$(VENV)/bin/ruff check src cli producer tools tests scripts bench
	$(VENV)/bin/ruff format --check src cli producer tools tests scripts bench

.PHONY: format
format: $(VENV)/.installed ## Format the code with ruff
	$(VENV)/bin/ruff check --fix src cli producer tools tests scripts bench
	$(VENV)/bin/ruff format src cli producer tools tests scripts bench

.PHONY: typecheck
typecheck: $(VENV)/.installed ## mypy (strict) on src/, cli/, tools/, tests/ and bench/
	$(VENV)/bin/mypy

.PHONY: lint-template
lint-template: $(CFN_VENV)/.installed ## cfn-lint on template.yaml and on its SAM-translated form
	PATH=$(CURDIR)/$(CFN_VENV)/bin:$$PATH bash scripts/lint_template.sh

.PHONY: checkov
checkov: $(CHECKOV_VENV)/.installed ## checkov (CloudFormation) on template.yaml, offline
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation -f template.yaml

.PHONY: pytest
pytest: $(VENV)/.installed ## The test suite, with line coverage of the product (src/ and cli/)
	$(PY) -m pytest -n auto --dist worksteal --cov=jobctl --cov=jobctl_cli --cov-report=term

.PHONY: sdk-test
sdk-test: $(SDK_VENV)/.installed ## The producer client with the real SageMaker Python SDK (its own virtualenv)
	$(SDK_VENV)/bin/python -m pytest tests/sdk -q -p no:cacheprovider

.PHONY: unit
unit: $(VENV)/.installed ## The unit tests alone: the rules on in-memory fakes, no moto (seconds)
	$(PY) -m pytest tests/unit -q

.PHONY: requirements
requirements: $(PIPTOOLS_VENV)/.installed ## Lock src/requirements.txt (sam build's) from pyproject.toml: pinned, hashed, Python 3.12 (UPGRADE=1: newest)
	$(PIPTOOLS_VENV)/bin/python scripts/gen_requirements.py $(if $(UPGRADE),--upgrade)

.PHONY: audit
audit: $(AUDIT_VENV)/.installed ## pip-audit the Lambda lock (src/requirements.txt); warns and passes only if the database is unreachable
	$(AUDIT_VENV)/bin/python scripts/audit.py

.PHONY: validate
validate: $(SAM_VENV)/.installed ## sam validate --lint
	$(SAM_VENV)/bin/sam validate --lint

.PHONY: build
build: $(SAM_VENV)/.installed ## sam build (Lambda runtime python3.12)
	@$(LAMBDA_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || \
		{ echo "$(NO_LAMBDA_PYTHON)"; exit 1; }
	$(LAMBDA_ENV) $(SAM_VENV)/bin/sam build

.PHONY: deploy
deploy: build ## sam deploy --guided (needs AWS credentials)
	$(SAM_VENV)/bin/sam deploy --guided

.PHONY: clean
clean: ## Remove virtualenvs, caches and build output
	rm -rf $(VENV) $(CFN_VENV) $(SAM_VENV) $(CHECKOV_VENV) $(PIPTOOLS_VENV) $(AUDIT_VENV) $(SDK_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
