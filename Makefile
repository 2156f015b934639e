# The two promises of the README: `make run` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SANDBOX_KEY_DIR ?= instance/wechatpay
export FLASK_APP := app
# axe-core for the accessibility tests, from the npm registry at the version tests/a11y/package-lock.json pins.
AXE := tests/a11y/node_modules/axe-core/axe.min.js

.PHONY: run test test-shop test-sandbox lint bench loadtest setup db seed clean

# Reinstall only when the requirements (or the sandbox package's) changed since the last install.
$(STAMP): requirements.txt requirements-dev.txt sandbox/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

# Without npm (a laptop) the accessibility tests skip; CI has it and they must run.
$(AXE): tests/a11y/package.json tests/a11y/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd tests/a11y && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/axe-core/axe.min.js; \
	else echo "npm not found: the accessibility tests will be skipped"; fi

db: setup
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty

# The sandbox writes its key folder first: the shop's development config reads it at start-up.
run: db
	$(BIN)/wechatpay-sandbox keys --keys $(SANDBOX_KEY_DIR)
	$(BIN)/python app.py

test: test-shop test-sandbox

test-shop: setup $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

# The sandbox's own suite, run from its folder with its own pytest settings (options: SANDBOX_PYTEST_ARGS).
test-sandbox: setup
	cd sandbox && ../$(BIN)/python -m pytest $(SANDBOX_PYTEST_ARGS)

bench: setup
	$(BIN)/python -m tests.bench

# About a minute of traffic against gunicorn, the jobs process and a misbehaving sandbox on 127.0.0.1, then the
# shop's books against the sandbox's (README "Load test"); exits non-zero on any mismatch. LOADTEST_ARGS: e.g.
# --seconds 120, --keep /tmp/loadtest (databases and logs), --postgres postgresql://user@127.0.0.1/postgres.
loadtest: setup
	$(BIN)/python -m tests.bench.loadtest $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache sandbox/.pytest_cache
