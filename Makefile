# CosmosQuest: `make run` plays the game at http://127.0.0.1:8000, `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The Groq stand-in server of `make demo` and `make stub`.
STUB_PORT ?= 8900
# `make demo` keeps to its own database and files: the stand-in's keys and missions never
# reach the database `make run` plays on.
DEMO_DATABASE_URL ?= sqlite:///$(CURDIR)/demo.sqlite3
DEMO_FILES ?= $(CURDIR)/.demo
# The development server runs with DEBUG on unless told otherwise; tests set their own.
RUN_ENV := DEBUG=$${DEBUG:-true}

.PHONY: setup run superuser demo-superuser test lint migrate stub demo bench reliability clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "CosmosQuest needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed

# The cache table holds the game's live-mission limits (shared by every worker; Redis instead
# when REDIS_URL is set): it is created wherever migrate runs.
migrate: setup
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py createcachetable

# Web server and django-q2 cluster side by side; Ctrl-C stops both.
run: migrate
	$(RUN_ENV) $(BIN)/python manage.py keys import-env
	$(RUN_ENV) $(BIN)/python manage.py schedules_setup
	@echo "CosmosQuest on http://$(HOST):$(PORT)  (admin: http://$(HOST):$(PORT)/admin/, create a login with 'make superuser')"
	@$(RUN_ENV) $(BIN)/python manage.py qcluster & QPID=$$!; \
	  trap 'kill $$QPID 2>/dev/null' EXIT INT TERM; \
	  $(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

superuser: migrate
	$(RUN_ENV) $(BIN)/python manage.py createsuperuser

# An admin login for `make demo`, in the demo's own database (`make superuser` writes the main one).
demo-superuser: setup
	$(RUN_ENV) DATABASE_URL=$(DEMO_DATABASE_URL) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) DATABASE_URL=$(DEMO_DATABASE_URL) $(BIN)/python manage.py createcachetable
	$(RUN_ENV) DATABASE_URL=$(DEMO_DATABASE_URL) $(BIN)/python manage.py createsuperuser

# The game against the Groq stand-in server, for playing without real keys, on its own database
# (DEMO_DATABASE_URL). The stand-in's keys are the same every time: kept in the git-ignored
# $(DEMO_FILES)-stub.json; $(DEMO_FILES)-keys.env gets them with the stand-in's URL at each start.
# No code reloader: the demo is for playing, and one server process stops at once on Ctrl-C.
demo: setup
	$(RUN_ENV) DATABASE_URL=$(DEMO_DATABASE_URL) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) DATABASE_URL=$(DEMO_DATABASE_URL) $(BIN)/python manage.py createcachetable
	@test -f $(DEMO_FILES)-stub.json || $(BIN)/python -c 'import json; from keymanager.testing.groqstub import make_key; \
	  print(json.dumps({"orgs": {f"org_{n}": {"keys": [make_key()]} for n in (1, 2)}}))' > $(DEMO_FILES)-stub.json
	@rm -f $(DEMO_FILES)-keys.env; \
	  $(BIN)/python -m keymanager.testing.groqstub --port $(STUB_PORT) --config $(DEMO_FILES)-stub.json --keys-file $(DEMO_FILES)-keys.env & SPID=$$!; \
	  trap 'kill $$SPID 2>/dev/null' EXIT INT TERM; \
	  for _ in $$(seq 150); do test -f $(DEMO_FILES)-keys.env && break; kill -0 $$SPID 2>/dev/null || exit 1; sleep 0.2; done; \
	  set -a; . $(DEMO_FILES)-keys.env; DATABASE_URL=$(DEMO_DATABASE_URL); set +a; \
	  $(RUN_ENV) $(BIN)/python manage.py keys import-env; \
	  $(RUN_ENV) $(BIN)/python manage.py schedules_setup; \
	  echo "CosmosQuest demo on http://$(HOST):$(PORT) against the Groq stand-in on port $(STUB_PORT) (database: $(DEMO_DATABASE_URL); admin login: 'make demo-superuser')"; \
	  $(RUN_ENV) $(BIN)/python manage.py qcluster & QPID=$$!; \
	  trap 'kill $$SPID $$QPID 2>/dev/null' EXIT INT TERM; \
	  $(RUN_ENV) $(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

stub: setup
	$(BIN)/python -m keymanager.testing.groqstub --port $(STUB_PORT) --orgs 4 --keys-per-org 1

# Benchmarks and long reliability runs (by hand; figures in the README).
bench: setup
	mkdir -p bench/results
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	LITELLM_LOCAL_MODEL_COST_MAP=True $(BIN)/python bench/pool_goodput.py --json bench/results/goodput.json
	$(BIN)/python bench/acquire.py
	$(BIN)/python bench/dashboard.py --db sqlite
	$(BIN)/python bench/game_load.py --duration 30s

reliability: setup
	$(BIN)/python bench/reliability.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
