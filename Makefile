# LiberTEM Portal: `make serve` runs the portal, `make test` runs the checks and tests,
# `make serve-prod` runs the Procfile (Daphne, Celery worker + beat, dask) on PostgreSQL + Redis.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: serve serve-prod test lint format bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

serve: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py make_demo_data --if-missing
	$(BIN)/python manage.py serve --port $(PORT)

serve-prod: $(VENV)/.installed
	@if [ -z "$$DATABASE_URL" ] || [ -z "$$REDIS_URL" ] || [ -z "$$SECRET_KEY" ]; then \
	  echo "serve-prod needs DATABASE_URL, REDIS_URL and SECRET_KEY (see docs/deploy.md)"; exit 1; fi
	$(BIN)/python manage.py migrate --noinput -v0
	PYTHONPATH="$(CURDIR)" DASK_EXPECTED_WORKERS="$${DASK_EXPECTED_WORKERS:-node-a,node-b}" DASK_SCHEDULER_ADDRESS="$${DASK_SCHEDULER_ADDRESS:-tcp://127.0.0.1:$${DASK_SCHEDULER_PORT:-8786}}" \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m libertem_site.honcho_start start -f Procfile -p $(PORT)

# The OpenID provider the sign-in tests start (Node + oidc-provider, exact versions from the lock).
OIDC_PROVIDER := tests/accounts/oidc_provider
$(OIDC_PROVIDER)/node_modules/.installed: $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error
	touch $@

test: $(VENV)/.installed-dev $(OIDC_PROVIDER)/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== the portal tests again, on PostgreSQL + Redis ($$TEST_DATABASE_URL, $$TEST_REDIS_URL) =="; \
	  DATABASE_URL="$$TEST_DATABASE_URL" REDIS_URL="$$TEST_REDIS_URL" SECRET_KEY=ci-only-test-secret-key-0123456789abcdefghij HTTPS=0 \
	    $(BIN)/pytest tests --ignore=tests/core -m "not browser"; \
	fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py

clean-venv:
	rm -rf $(VENV)
