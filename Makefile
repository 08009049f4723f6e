# LiberTEM Portal: `make serve` runs the portal, `make test` runs the checks and tests,
# `make test-fast` the daily loop (no browser, no services, no slow tests; the Core without Django),
# `make serve-prod` runs the Procfile (Daphne, Celery worker + beat, dask) on PostgreSQL + Redis.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: serve serve-prod test test-fast lint format bench bench-compressed bench-cold bench-sparse bench-interactive bench-live bench-ssb clean-venv reference-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt clients/python/pyproject.toml | $(BIN)/python
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

# The reference implementations the comparison tests run (LiberTEM 0.16 and friends), in a venv of
# their own: never the project's dependencies. Without it those tests skip; CI builds it.
REFERENCE_VENV := .venv-reference
reference-venv: $(REFERENCE_VENV)/.installed
$(REFERENCE_VENV)/.installed: references/requirements.txt
	$(PYTHON) -m venv $(REFERENCE_VENV) || python3 -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/pip install -q -r references/requirements.txt
	touch $@

# The OpenID provider the sign-in tests start (Node + oidc-provider, exact versions from the lock).
OIDC_PROVIDER := tests/accounts/oidc_provider
$(OIDC_PROVIDER)/node_modules/.installed: $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error
	touch $@

# The second pass leaves out the Core (no database) and the client's tests (they start a portal
# of the embedded default whatever the environment says).
test: $(VENV)/.installed-dev $(OIDC_PROVIDER)/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== the portal tests again, on PostgreSQL + Redis ($$TEST_DATABASE_URL, $$TEST_REDIS_URL) =="; \
	  DATABASE_URL="$$TEST_DATABASE_URL" REDIS_URL="$$TEST_REDIS_URL" SECRET_KEY=ci-only-test-secret-key-0123456789abcdefghij HTTPS=0 \
	    $(BIN)/pytest tests --ignore=tests/core --ignore=tests/client -m "not browser"; \
	fi

# The daily loop: the Core's tests without Django (as they must run), then the portal's tests that
# need no browser, no PostgreSQL/Redis and are not marked slow.
test-fast: $(VENV)/.installed-dev
	$(BIN)/pytest -p no:django tests/core -m "not slow"
	$(BIN)/pytest --ignore=tests/core -m "not browser and not services and not slow"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py
	$(MAKE) bench-compressed
	$(MAKE) bench-cold
	$(BIN)/python benchmarks/cold_start.py
	$(MAKE) bench-sparse
	$(MAKE) bench-interactive

# compressed HDF5 (issue 26): bitshuffle/LZ4, 1 and 8 frames per chunk, against LiberTEM and
# the machine's decoding limit
bench-compressed: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/compressed.py

# cold data (issue 26): 1, 4 and 16 GiB float32 files evicted from the page cache before every
# run, against the disk's read rate and LiberTEM; COLD_SIZES=1,4 for a quick run (1,4,16 needs
# 21 GiB free; the 16 GiB file is deleted afterwards)
COLD_SIZES ?= 1,4,16
bench-cold: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/cold.py --sizes $(COLD_SIZES)

# electron-counted data (issue 26): raw_csr at 0.01 and 0.1 electrons per pixel, against LiberTEM
bench-sparse: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/sparse.py

# interactive latency (issue 26): a ring dragged in Chromium on the demo, last mouse move to the
# final image (p50, p95); a job's fixed cost outside the Core, step by step (embedded default;
# also on PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set)
bench-interactive: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/interactive.py
	$(BIN)/python benchmarks/job_overhead.py

# live reception (issue 24): the Core and LiberTEM-live on the same Merlin simulator replay
bench-live: $(VENV)/.installed-dev reference-venv
	$(BIN)/python benchmarks/live.py
	$(BIN)/python benchmarks/live_dectris.py

# SSB ptychography against ptychography40 (the reference venv); SCAN=64 for a quick run
bench-ssb: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/ssb.py --scan $(or $(SCAN),128)

clean-venv:
	rm -rf $(VENV)
