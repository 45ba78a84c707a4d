# Each target does its own set-up on a fresh machine: it makes .venv and installs what it needs.
# `make help` lists the targets (from the `##` comments below).
PYTHON ?= python3.11
PORT ?= 8000
PORTAL_PORT ?= $(shell expr $(PORT) + 1)
STAGE ?= prod
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.DEFAULT_GOAL := help
.PHONY: help run test test-fast test-stress test-setup browser fhir-schema lint bench package publish-portal clean

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The venv: uv (installed with pip) installs requirements-dev.txt in seconds, with the same
# indexes as this machine's pip config (scripts/install.py); pip is the fallback.
$(STAMP): requirements.txt requirements-dev.txt scripts/install.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || { echo "==> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python scripts/install.py requirements-dev.txt
	@touch $(STAMP)

# Set-up the tests need beyond the venv: Debian's chromium for the portal's browser tests.
test-setup: $(STAMP) browser fhir-schema

fhir-schema: ## the official FHIR R4 JSON schema (npm) into build/fhir-schema/ for tests/standards/
	@sh scripts/install_fhir_schema.sh

browser: ## Debian's chromium for tests/browser/ (apt-get once; nothing when it is there)
	@sh scripts/install_browser.sh

run: $(STAMP) ## the API on 127.0.0.1:$(PORT), the portal on $(PORTAL_PORT), AWS stand-in, demo data, events
	@exec $(BIN)/python -m chalicelib.local.runner --port $(PORT) --portal-port $(PORTAL_PORT)

# The suite on every core (pytest-xdist), a whole file to one worker: a file's live stack or moto
# fixture is built once, not once per worker. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto

test: test-setup ## ruff, vulture (dead code) and the whole suite on every core: no network, no AWS account (minutes)
	$(BIN)/ruff check .
	$(BIN)/vulture
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile

# The fast tier: tests marked `fast` by tests/conftest.py (tests/domain/, tests/storage/ and
# tests/booking/ but the stateful property tests and crowds); only those directories are collected.
# The use-case tests of tests/booking/ run on the in-memory repository (tests/fakes/memory.py) but
# those marked `moto` (request counts, PynamoDB patched); tests/storage/test_contract.py runs the
# seam's cases on both. FAST_ARGS=--storage=moto puts the whole tier on moto, as before the fake.
FAST_PATHS := tests/domain tests/storage tests/booking

test-fast: test-setup ## rules, the storage contract (moto and fake), use-case tests on the fake, on every core
	$(PYTEST) -n auto -m fast $(FAST_ARGS) $(FAST_PATHS)

# `make test` while stress-ng loads every core (STRESS_CPUS, default 4): a test that depends on the
# wall clock or a fast machine fails here. STRESS_TESTS="tests/test_budget.py -q" runs only those
# pytest arguments instead (to try the target).
test-stress: test-setup ## the whole suite while stress-ng --cpu 4 loads the machine (apt-get stress-ng once)
	@sh scripts/test_stress.sh $(if $(STRESS_TESTS),$(PYTEST) $(STRESS_TESTS),$(MAKE) --no-print-directory test)

lint: $(STAMP) ## ruff, and vulture for code nothing calls (its allow-list: pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/vulture

bench: $(STAMP) ## DynamoDB requests per step, conflicts in a surge, import time (BENCH_ARGS="--places 8 --repeat 1")
	$(BIN)/python -m scripts.bench $(BENCH_ARGS)

package: $(STAMP) ## build/STAGE/sam.json + deployment.zip (STAGE=dev|prod, default prod); no AWS account
	$(BIN)/python scripts/package.py --stage $(STAGE)

publish-portal: $(STAMP) ## web/ + config.json into a deployed stack: STACK=timebok-prod CLIENT_ID=... [ISSUER=https://...]
	$(BIN)/python scripts/publish_portal.py --stack-name $(STACK) --stage $(STAGE) --client-id $(CLIENT_ID) $(if $(ISSUER),--issuer $(ISSUER))

clean: ## remove the venv, build/ and caches
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
