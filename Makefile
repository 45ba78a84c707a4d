# Each target does its own set-up on a fresh machine: it makes .venv and installs what it needs.
PYTHON ?= python3.11
PORT ?= 8000
PORTAL_PORT ?= $(shell expr $(PORT) + 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench package publish-portal browser clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 wants pip<26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP) ## the API on 127.0.0.1:$(PORT), the portal on 127.0.0.1:$(PORTAL_PORT), AWS stand-in, demo data, events
	PORT=$(PORT) $(BIN)/python -m chalicelib.local.runner --port $(PORT) --portal-port $(PORTAL_PORT)

browser: ## Debian's chromium for tests/browser/ (apt-get once; nothing when it is there)
	sh scripts/install_browser.sh

test: $(STAMP) browser ## the whole suite: no network, no AWS account
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) ## DynamoDB requests per step, conflicts in a surge, import time
	$(BIN)/python scripts/bench.py

package: $(STAMP) ## build/sam.json and build/deployment.zip for AWS (STAGE=dev|prod, default prod); no account needed
	$(BIN)/python scripts/package.py --stage $(if $(STAGE),$(STAGE),prod)

publish-portal: $(STAMP) ## web/ + config.json into a deployed stack: STACK=timebok-prod SIGN_IN_URL=https://... [STAGE=dev]
	$(BIN)/python scripts/publish_portal.py --stack-name $(STACK) --stage $(if $(STAGE),$(STAGE),prod) --sign-in-url $(SIGN_IN_URL)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
