# Attune — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-sqlite test-postgresql bench lint fmt i18n clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: the CPU build on disk, never a multi-GB CUDA download.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[ml,dev]'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install Attune with everything it needs

demo: setup ## Run the sandbox store through the real app (see README)
	$(VENV)/bin/attune demo $(DEMO_ARGS)

test: setup ## The whole suite, on SQLite and PostgreSQL side by side (full-data backtests: make test-backtests)
	$(MAKE) -j2 test-sqlite test-postgresql

test-sqlite: setup
	ATTUNE_TEST_DATABASE=sqlite $(PY) -m pytest -n 2 -m "not backtest" $(PYTEST_ARGS)

test-postgresql: setup
	ATTUNE_TEST_DATABASE=postgresql ATTUNE_TEST_SLOT=$$(( $${ATTUNE_TEST_SLOT:-0} + 1 )) $(PY) -m pytest -n 2 -m "not browser and not backtest" $(PYTEST_ARGS)

test-backtests: setup ## Full real-data backtests against the issues' targets (needs ../shared/data; ~30 min)
	$(PY) -m pytest -m backtest -v $(PYTEST_ARGS)

bench: setup ## Every benchmark; rewrites BENCHMARKS.md
	$(VENV)/bin/attune bench all --write BENCHMARKS.md

lint: setup ## ruff, and import-linter's layer contracts (docs/architecture.md)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

fmt: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

i18n: setup ## Re-extract the messages' msgids (babel.cfg) and update every catalogue in app/channels/locales
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project Attune \
		--copyright-holder "Attune contributors" -o app/channels/locales/messages.pot .
	$(VENV)/bin/pybabel update -i app/channels/locales/messages.pot -d app/channels/locales --no-fuzzy-matching \
		--ignore-obsolete --width 110

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
