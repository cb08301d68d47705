# fargate-bastion: every documented entry point. Each target does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint render check-render clean help

help:
	@echo "make demo    - run a whole bastion session on the embedded local AWS (no AWS account)"
	@echo "make test    - run the whole test suite (installs what it needs)"
	@echo "make render  - regenerate workflows/asl/*.asl.json from workflows/*.py"
	@echo "make lint    - ruff and mypy"

# The virtual environment, rebuilt when the dependencies change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m bastion.demo $(DEMO_ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

render: $(STAMP)
	$(BIN)/python -m workflows.render

check-render: $(STAMP)
	$(BIN)/python -m workflows.render --check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .aws-sam

# `sam build` calls build-<LogicalId> for each function (Metadata BuildMethod: makefile):
# every function ships the tasks package, and nothing else of the repository.
build-%Function:
	mkdir -p "$(ARTIFACTS_DIR)/tasks"
	cp -R tasks/*.py tasks/common "$(ARTIFACTS_DIR)/tasks/"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -prune -exec rm -rf {} +
