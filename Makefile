# fargate-bastion: every documented entry point. Each target does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench soak image image-deps system-deps lint render check-render clean help

help:
	@echo "make demo    - run a whole bastion session on the embedded local AWS (no AWS account)"
	@echo "make test    - run the whole test suite (installs what it needs)"
	@echo "make render  - regenerate workflows/asl/*.asl.json from workflows/*.py"
	@echo "make lint    - ruff and mypy"
	@echo "make bench   - measure time to bastion, transitions, cost, local throughput; writes docs/benchmarks.md"
	@echo "make soak    - 500 sessions under random AWS faults, then a leak audit (SOAK_ARGS=\"--seed N\")"
	@echo "make image   - build the bastion image: Docker where an engine answers, else podman (IMAGE_TARGET=tunnel|tools)"

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

# podman, mmdebstrap and what they need, for the image tests and `make image` where no
# Docker engine answers. Never fatal: without podman the image tests skip, saying why.
image-deps:
	bash scripts/install-image-deps.sh

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

# The tiers run in parallel processes (pytest-xdist), each with its own local AWS: three by
# default on the project's 2-core machines, because many container and lifetime tests spend
# their time waiting on a bastion's timers, not computing (8 min on two, 6 on three).
PYTEST_WORKERS ?= 3
test: $(STAMP) $(CHECKOV_STAMP) $(NODE_STAMP) system-deps image-deps lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The image's section of docs/benchmarks.md is written after the rest of the page.
bench: $(STAMP) image-deps
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.image $(IMAGE_BENCH_ARGS)

soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

# scripts/build-image.sh: Docker (buildx, PLATFORM default linux/arm64) where an engine
# answers, else podman (this machine's platform unless PLATFORM is set), on a base made
# from Debian's packages when no registry answers. IMAGE_TARGET: tunnel (the default,
# the tunnel-only bastion) or tools (the shell bastion's AWS CLI, kubectl, helm).
IMAGE ?= fargate-bastion:dev
IMAGE_TARGET ?= tunnel
PLATFORM ?=
IMAGE_OUTPUT ?= --load
IMAGE_BUILD_ARGS ?=

image: image-deps
	IMAGE='$(IMAGE)' IMAGE_TARGET='$(IMAGE_TARGET)' PLATFORM='$(PLATFORM)' \
		IMAGE_OUTPUT='$(IMAGE_OUTPUT)' IMAGE_BUILD_ARGS='$(IMAGE_BUILD_ARGS)' \
		bash scripts/build-image.sh

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
