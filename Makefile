# The two commands that matter: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults test-protections lint check docs bench venv chromium clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# DEBUG (development error pages, a derived encryption key, the local fake API allowed) only
# for `make run`; every other process runs with production settings.
run: export DEBUG ?= true
run: venv
	$(BIN)/python manage.py migrate --noinput
	if [ -n "$$SYNC_CONFIG_FILE" ]; then $(BIN)/python manage.py sync_apply; fi
	$(BIN)/python -m xcoresite.devstack

# The admin browser tests drive Debian's chromium through Playwright (never `playwright
# install`): installed here when missing, as .ci/run does (as root, or through sudo).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the admin browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Tests keep their worker/beat logs and screenshots in their own folder, never in the running
# site's var/ (see docs/tests.md).
TEST_VAR := $(CURDIR)/var-test

test: venv chromium
	XCORESITE_VAR_DIR=$(TEST_VAR) $(BIN)/python -m pytest -m "not slow" -q

test-faults: venv
	XCORESITE_VAR_DIR=$(TEST_VAR) $(BIN)/python -m pytest -m slow -q

# Not in CI (about an hour): each fault test must fail with its protection switched off.
test-protections: venv
	$(BIN)/python -m tests.faults.protections

# ruff, mypy and the import contracts (lint-imports), all configured in pyproject.toml.
# django-stubs' mypy plugin loads the settings, which need a SECRET_KEY unless DEBUG is on;
# nothing else of DEBUG matters to a type check.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The documentation site (docs/, mkdocs.yml) into var/site/; strict: a broken link, a missing
# page or a reference generator's error (docs/gen/) fails the build.
docs: export NO_MKDOCS_2_WARNING = 1
docs: venv
	$(BIN)/mkdocs build --strict --quiet

check: export DEBUG ?= true
check: venv
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

# The benchmark (not part of make test): N=1000000 make bench for a million records.
bench: venv
	$(BIN)/python -m bench --beat --admin-list --dashboard

clean:
	rm -rf var var-test
