# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint install browser migrate clean mutmut

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Embedded default: SQLite file + Celery filesystem broker under var/, web and
# worker (with embedded beat) in one foreground command; Ctrl-C stops both.
run: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo --if-empty
	DJANGO_DEBUG=1 BIN=$(BIN) scripts/run.sh

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
