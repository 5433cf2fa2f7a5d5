# Two commands for a new user: `make run` and `make test`. Each sets itself up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup run test lint lab local bench clean

setup: $(INSTALLED)

# Reinstall when the dependencies change; pip's own output stays out of the way unless it fails.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing globaltables and its dependencies into $(VENV) …"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(INSTALLED)

run: setup
	$(PY) -m globaltables run --params params/local.yaml $(ARGS)

test: setup lint
	$(PY) -m pytest $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check lib tests benchmarks

lab: setup
	$(PY) -m globaltables lab $(ARGS)

local: setup
	$(PY) -m globaltables local $(ARGS)

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
