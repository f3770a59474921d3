# The two commands: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# Local commands that load settings outside the stack launcher run with DEBUG on.
LOCAL := DEBUG=1

.PHONY: install run test test-fast test-browser test-faults lint fmt migrate manage bench readme-map

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m project.devstack.stack run -- honcho start -f Procfile.dev

# Test processes (pytest-xdist workers), each on its own embedded PostgreSQL and Redis; files
# are kept whole on one worker, so a module's shared worker process starts once.
XDIST ?= 2
PYTEST := $(BIN)/python -m pytest -n $(XDIST) --dist loadfile

# The fast tier: every test that starts no process (no worker, beat, scheduler, server,
# browser or fresh interpreter), on real PostgreSQL and Redis. Run it while you work.
test-fast: install
	$(PYTEST) -m "not integration" $(PYTEST_ARGS)

# The whole suite, as CI runs it, in one pytest session on XDIST_ALL processes, each with its own
# PostgreSQL and Redis: the files with process tests are handed out first (they mostly wait on
# ticks), and the fast files fill the gaps. The browser tests in it are skipped, with the reason,
# without Chromium. Run it before you push.
XDIST_ALL ?= 4
test: install lint
	$(BIN)/python -m pytest -n $(XDIST_ALL) --dist loadfile -rs $(PYTEST_ARGS)

# Only the browser tests (Playwright + Debian's Chromium); screenshots in tests/browser/artifacts/.
test-browser: install
	REQUIRE_BROWSER=1 $(PYTEST) -rs tests/browser $(PYTEST_ARGS)

# The fault-injection suite alone (make test runs it too): kills workers, takes Redis and
# PostgreSQL down and back, all on loopback.
test-faults: install
	$(PYTEST) tests/faults $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install
	$(BIN)/python -m project.devstack.stack run -- true

manage: install
	$(BIN)/python -m project.devstack.stack exec -- python manage.py $(ARGS)

# The README's architecture map, rewritten from the modules' docstrings (tests/readme_map.py).
readme-map: install
	$(BIN)/python -m tests.readme_map --write

bench: install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
