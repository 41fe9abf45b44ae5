# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: run manage test lint install browser migrate clean mutmut

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Local development settings, written once and never committed (.gitignore): DEBUG on and a random
# secret key, so `.venv/bin/python manage.py ...` in a second terminal runs as `make run` does.
# The settings read it; a variable set in the environment wins over it. The tests never read it.
.env:
	@umask 077 && printf '%s\n' \
	  '# Local development settings written by `make run`. Never commit this file.' \
	  '# A variable set in the environment wins over this file; the test suite ignores it.' \
	  'DJANGO_DEBUG=1' \
	  "DJANGO_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Wrote .env: local development settings (DJANGO_DEBUG=1, a new DJANGO_SECRET_KEY)."

# Embedded default: SQLite file + Celery filesystem broker under var/, web and
# worker (with embedded beat) in one foreground command; Ctrl-C stops both.
# `make run PORT=8123` serves on another port.
run: install .env
	BIN=$(BIN) PORT=$(PORT) scripts/run.sh

# Any management command with the project's venv and .env: make manage ARGS="run_cycle --company demo"
manage: install .env
	$(BIN)/python manage.py $(ARGS)

# Dashboard end-to-end tests drive Debian's chromium through playwright.
browser:
	@test -x /usr/bin/chromium || scripts/install_chromium.sh

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# Mutation testing of the critical modules (issue 9 §5); needs DATABASE_URL on PostgreSQL. See scripts/mutmut.sh.
mutmut: install
	BIN=$(BIN) MUTANTS='$(MUTANTS)' scripts/mutmut.sh
	$(BIN)/python scripts/mutation_score.py

clean:
	rm -rf $(VENV) var staticfiles
