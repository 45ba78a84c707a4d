# Each target does its own set-up on a fresh machine: it makes .venv and installs what it needs.
PYTHON ?= python3.11
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench package clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 wants pip<26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP) ## the service on 127.0.0.1:$(PORT) with the AWS stand-in, demo data and events
	PORT=$(PORT) $(BIN)/python -m chalicelib.local.runner --port $(PORT)

test: $(STAMP) ## the whole suite: no network, no AWS account
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) ## DynamoDB requests per step, conflicts in a surge, import time
	$(BIN)/python scripts/bench.py

package: $(STAMP) ## build/sam.json and build/deployment.zip for AWS (STAGE=dev|prod, default prod); no account needed
	$(BIN)/python scripts/package.py --stage $(if $(STAGE),$(STAGE),prod)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
