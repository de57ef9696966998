# The two commands a newcomer needs: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# axe-core for the browser tests' accessibility check (package.json, locked).
NODE_STAMP := node_modules/.installed
# Where the PostgreSQL half of `make test` runs; skipped if nothing answers there
# (unless REQUIRE_POSTGRES=1, as in CI).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/slotfill
export TEST_DATABASE_URL

.PHONY: install run reset test test-sqlite test-postgres lint bench corpus simulate clean

install: $(STAMP) $(NODE_STAMP) .env

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Only the browser tests need it: without npm, `make run` still works (and says so).
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else \
		echo "npm not found: skipped axe-core, which only the browser tests use (apt-get install npm)"; \
	fi

# The development settings (DEBUG=true). No prerequisite on purpose: a developer's own
# .env is never overwritten, only made again when it is missing.
.env:
	cp .env.example .env

run: install .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Starting web (http://127.0.0.1:8000), Celery worker, Celery beat and the HL7 listener. Ctrl-C stops all."
	@# honcho's clock on each line is the clinic's, like the portal's times.
	@TZ="$$($(PY) manage.py shell -c 'from django.conf import settings; print(settings.TIME_ZONE)')" \
		$(VENV)/bin/honcho -f Procfile.dev start

# A fresh demo on the next `make run`: the demo database and the file broker's queue go.
reset:
	rm -rf db.sqlite3 db.sqlite3-shm db.sqlite3-wal var/celery-queue var/celery-control

test: install .env
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install .env
	DATABASE_URL=sqlite:///$(CURDIR)/db.sqlite3 $(PY) -m pytest $(PYTEST_ARGS)

test-postgres: install .env
	@if $(PY) -m clinic.lib.dbcheck "$(TEST_DATABASE_URL)"; then \
		DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest -m "not browser" $(PYTEST_ARGS); \
	elif [ "$(REQUIRE_POSTGRES)" = "1" ]; then \
		echo "PostgreSQL is required but does not answer at TEST_DATABASE_URL"; exit 1; \
	else \
		echo "PostgreSQL not reachable at TEST_DATABASE_URL: its half of the suite was skipped."; \
	fi

# ruff, the layers contract of pyproject.toml ([tool.importlinter]; also run by
# tests/test_architecture.py), and no model change without its migration.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) manage.py makemigrations --check --dry-run

bench: install
	bash bench/run.sh

# How replies are understood: agreement with messaging/corpus/replies.csv and a confusion
# table per intent and language (docs/replies.md). Fails on any false YES.
corpus: install
	$(PY) -m messaging.corpus

# The fill simulator (docs/simulator.md): every built-in policy over the same seeded
# clinic, typical day and sick day, in virtual time; writes bench/FILL.md and its charts.
SIMULATE_ARGS ?= --days 5 --waitlist 2000 --providers 20 --cancellations-per-day 40
simulate: install
	$(PY) manage.py simulate $(SIMULATE_ARGS) --scenario typical --scenario sick-day \
		--json bench/out/fill.json --report bench/FILL.md

clean:
	rm -rf $(VENV) node_modules var db.sqlite3*
