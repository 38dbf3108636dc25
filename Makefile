# `make run` serves the app on embedded SQLite with demo data; `make test` runs the whole suite.
# TEST_BACKEND=postgres|mariadb make test runs the same suite on a server backend.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_BACKEND ?= sqlite
export TEST_BACKEND

TEST_EXTRAS := dev
ifeq ($(TEST_BACKEND),postgres)
TEST_EXTRAS := dev,postgres
endif
ifeq ($(TEST_BACKEND),mariadb)
TEST_EXTRAS := dev,mysql
endif

.PHONY: run test install lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One stamp per set of extras, redone when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$*]'
	touch $@

install: $(VENV)/.installed-base

$(VENV)/.installed-base: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

run: $(VENV)/.installed-base
	$(PY) manage.py migrate --noinput
	$(PY) manage.py migrate_departments --noinput --create-missing
	$(PY) manage.py setup_demo
	@echo "Serving on http://127.0.0.1:8000/ (staff sign-in at /accounts/login/, Ctrl-C to stop)"
	@echo "Email is sent by deliver_outbox in the background: read it in var/mail/*.eml"
	@# The outbox worker runs beside runserver and stops with it (Ctrl-C, or runserver exiting).
	@$(PY) manage.py deliver_outbox --verbosity 0 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:8000

test: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
