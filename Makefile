# fargate-bastion: every documented entry point. Each target does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench soak image system-deps lint render check-render clean help

help:
	@echo "make demo    - run a whole bastion session on the embedded local AWS (no AWS account)"
	@echo "make test    - run the whole test suite (installs what it needs)"
	@echo "make render  - regenerate workflows/asl/*.asl.json from workflows/*.py"
	@echo "make lint    - ruff and mypy"
	@echo "make bench   - measure time to bastion, transitions, cost, local throughput; writes docs/benchmarks.md"
	@echo "make soak    - 500 sessions under random AWS faults, then a leak audit (SOAK_ARGS=\"--seed N\")"
	@echo "make image   - build the bastion container image (needs a Docker engine)"

# The virtual environment, rebuilt when the dependencies change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

# OpenSSH's server and client, shellcheck, curl, jq and, as root, the unprivileged
# account the bastion's sshd runs as in the tests and the demo.
system-deps:
	bash scripts/install-test-deps.sh

# Without OpenSSH's server the demo still runs the whole session, with the task simulated.
# checkov in a virtual environment of its own: its many dependencies never move the
# project's pinned versions.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30
	@touch $@

demo: $(STAMP)
	@bash scripts/install-test-deps.sh || echo "make demo: continuing without a real sshd: the bastion task is simulated"
	$(BIN)/python -m bastion.demo $(DEMO_ARGS)

# The second ASL engine (aws-local-stepfunctions) and AWS's ASL language service, at the
# versions tools/node/package-lock.json pins; reinstalled only when the lock file changes.
NODE_TOOLS := tools/node
NODE_STAMP := $(NODE_TOOLS)/node_modules/.installed
$(NODE_STAMP): $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	cd $(NODE_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The tiers run in parallel processes (pytest-xdist), one per core by default: each
# process runs its own local AWS.
PYTEST_WORKERS ?= 2
test: $(STAMP) $(CHECKOV_STAMP) $(NODE_STAMP) system-deps lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

IMAGE ?= fargate-bastion:dev
PLATFORM ?= linux/arm64
IMAGE_OUTPUT ?= --load
IMAGE_BUILD_ARGS ?=

image:
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
		echo "make image needs a Docker engine (with BuildKit/buildx), and none is reachable here: 'docker info' failed." >&2; \
		echo "Install Docker or start its daemon, or build container/ on a machine that has one." >&2; \
		exit 1; \
	fi
	docker buildx build --platform $(PLATFORM) $(IMAGE_OUTPUT) --tag $(IMAGE) $(IMAGE_BUILD_ARGS) container

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

render: $(STAMP)
	$(BIN)/python -m workflows.render

check-render: $(STAMP)
	$(BIN)/python -m workflows.render --check

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(NODE_TOOLS)/node_modules .pytest_cache .ruff_cache .mypy_cache .aws-sam

# `sam build` calls build-<LogicalId> for each function (Metadata BuildMethod: makefile):
# every function ships the tasks package, and nothing else of the repository.
build-%Function:
	mkdir -p "$(ARTIFACTS_DIR)/tasks"
	cp -R tasks/*.py tasks/common "$(ARTIFACTS_DIR)/tasks/"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -prune -exec rm -rf {} +
