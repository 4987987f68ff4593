# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PLUGIN_DIRS := $(wildcard plugins/*)
PG_URL ?= postgresql+psycopg://portal:portal@127.0.0.1:5432/postgres
REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
# Four worker processes on the machine's 2 cores: much of a test is waiting on browsers,
# servers and subprocesses, and the extra workers fill those waits (the whole suite on
# PostgreSQL, 2026-12-02 15:00, one quiet machine, warm caches: 5:13 with 3 workers, 4:47
# with 4, the CPU the same; docs/bench.md). Each file runs whole on one worker; each worker
# has its own database, Redis database (REDIS_URL's number minus the worker index: 15, 14,
# 13 and 12), ports and tmp dirs (tests/portal_testing.py). `make test XDIST=` runs in one
# process.
# --no-loadscope-reorder keeps the order tests/portal_testing.py gives (longest groups first).
XDIST ?= -n 4 --dist loadgroup --no-loadscope-reorder

.PHONY: run test ci bench lint clean venv vendor i18n-extract i18n-update i18n-compile

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[test,bench]' $(foreach p,$(PLUGIN_DIRS),-e $(p))
	$(BIN)/python scripts/i18n.py compile
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/i18n.py compile
	$(BIN)/portal db upgrade
	$(BIN)/portal demo
	@# One process: pages, API and the live panel's realtime (Socket.IO) server; no Redis.
	$(BIN)/portal serve --host 127.0.0.1 --port 5000

test: $(STAMP)
	@# Catalogues edited since the install are compiled again (cheap; .mo are not committed).
	$(BIN)/python scripts/i18n.py compile
	$(BIN)/ruff check portal plugins tests bench conftest.py scripts migrations
	$(BIN)/ruff format --check portal plugins tests bench conftest.py scripts migrations
	$(BIN)/mypy
	@# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: pytest keeps each test
	@# module's assertion-rewritten code and every worker and subprocess (Celery, SFU, served
	@# portals) reuses compiled modules instead of compiling them again (from the second run on
	@# a checkout: ~9 s CPU less per worker).
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# CI: real PostgreSQL, Redis and Chromium; a missing service fails instead of skipping.
# The whole suite runs on PostgreSQL, then the database-facing tests again on SQLite.
ci:
	bash .ci/services.sh
	PORTAL_REQUIRE_SERVICES=1 PORTAL_TEST_DATABASE_URL=$(PG_URL) PORTAL_TEST_REDIS_URL=$(REDIS_URL) $(MAKE) test
	PORTAL_REQUIRE_SERVICES=1 PORTAL_TEST_REDIS_URL=$(REDIS_URL) $(MAKE) test PYTEST_ARGS="-m 'not browser'"

bench: $(STAMP)
	bash .ci/services.sh
	$(BIN)/python -m bench

# Re-fetch the pinned browser libraries (npm pack + sha256 check); the files are committed.
vendor:
	$(PYTHON) scripts/fetch_vendor.py

# Translations (docs/i18n.md): .pot from the sources; .po merged; .mo built (not committed).
i18n-extract: $(STAMP)
	$(BIN)/python scripts/i18n.py extract

i18n-update: $(STAMP)
	$(BIN)/python scripts/i18n.py update

i18n-compile: $(STAMP)
	$(BIN)/python scripts/i18n.py compile

lint: $(STAMP)
	$(BIN)/ruff check portal plugins tests bench conftest.py scripts migrations
	$(BIN)/ruff format --check portal plugins tests bench conftest.py scripts migrations
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache
