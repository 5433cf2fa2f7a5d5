# Two commands for a new user: `make run` and `make test`. Each sets itself up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup browser run test lint lab local bench clean

setup: $(INSTALLED)

# Reinstall when the dependencies change; pip's own output stays out of the way unless it fails.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing globaltables and its dependencies into $(VENV) …"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(INSTALLED)

run: setup
	$(PY) -m globaltables run $(ARGS)

# Tests run in TEST_WORKERS processes (pytest-xdist), each with its own embedded AWS: most of a test's
# time is spent waiting (kernels starting, tables changing state), so more workers than cores pay off.
# loadfile keeps each test file on one worker, so the tests that share one killed-and-resumed run
# share it (loadgroup's xdist_group marks are ignored under pytest 9.2: pytest-xdist#1386).
# The ten slowest tests are listed at the end. `make test TEST_WORKERS=0` runs them in one process.
TEST_WORKERS ?= 4

test: setup lint browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=10 $(ARGS)

# The walkthrough test needs Debian's Chromium: installed when missing and this machine allows it
# (root with apt-get); otherwise the test says why it is skipped (and fails under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's Chromium for the browser test …"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "Could not install Chromium: the browser test will be skipped (or fail under CI=true)"; \
	  else echo "No Chromium and no way to install it here: the browser test will be skipped"; fi; }

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check lib tests benchmarks notebooks functions

lab: setup
	$(PY) -m globaltables lab $(ARGS)

local: setup
	$(PY) -m globaltables local $(ARGS)

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
