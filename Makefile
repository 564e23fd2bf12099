# Conveyor: the one entry point that people and CI share. `make help` lists
# the targets. Each area keeps its own targets in mk/*.mk (Kubernetes, the
# pipeline, the local cluster); this file holds the application's.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

# Image tags come from git, so every build says which commit it is.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
export CONVEYOR_VERSION := $(VERSION)
export CONVEYOR_REVISION := $(REVISION)
IMAGES := conveyor-api conveyor-worker conveyor-frontend

TOOLS_BIN := $(CURDIR)/.tools/bin
VENV := $(CURDIR)/.venv
PYTEST := $(VENV)/bin/pytest
PYTHON := $(VENV)/bin/python
# uv locks and installs the Python dependencies; it is installed (pinned) into
# .tools/ with the host's Python, so nothing needs installing by hand.
UV_VERSION := 0.13.9
UV := $(CURDIR)/.tools/uv/bin/uv
COMPOSE := docker compose

# The areas add their checks to these (mk/*.mk).
TEST_TARGETS :=
LINT_TARGETS :=

-include mk/*.mk

.PHONY: help up down logs ps images secrets venv test test-python test-stack lint \
	lint-python lint-docker lint-compose bench clean

help: ## list the targets
	@grep -h -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) \
		| sort -u | awk -F':.*## ' '{printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

# --- the local stack -------------------------------------------------------------

secrets: .secrets/postgres_password .secrets/redis_password ## create local random passwords (git-ignored) if missing

.secrets/%:
	@mkdir -p .secrets && chmod 700 .secrets
	@# 0644 so the containers' unprivileged users can read the mounted file; the
	@# 0700 directory keeps other host users out.
	@umask 022 && openssl rand -hex 24 > $@ && echo "created $@"

up: secrets ## build the images and start the whole stack; waits until it is healthy
	$(COMPOSE) up -d --build --wait
	@echo "Conveyor $(VERSION) is up: dashboard http://localhost:$${CONVEYOR_HTTP_PORT:-8080}  API http://localhost:$${CONVEYOR_API_PORT:-8000}/api/docs"

down: ## stop the stack (the data volumes are kept)
	$(COMPOSE) down

logs: ## follow the logs of every service
	$(COMPOSE) logs -f --tail=100

ps: ## show the stack's containers and their health
	$(COMPOSE) ps

images: ## build the three images, tagged $(VERSION) (from git describe)
	$(COMPOSE) build api worker frontend
	@for image in $(IMAGES); do docker image inspect --format "{{index .RepoTags 0}}  {{.Size}} bytes" $$image:$(VERSION); done

# --- Python environment ----------------------------------------------------------

$(UV):
	python3 -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

venv: $(UV) ## create .venv with the locked dependencies (uv sync)
	$(UV) sync --frozen --quiet

# --- tests -------------------------------------------------------------------------

# The Python tests start their own PostgreSQL and Redis containers; the stack
# tests build the images and run their own compose project (ports 18080/18000).
test: venv test-python test-stack $(TEST_TARGETS) ## run every test (starts what it needs itself)

test-python: venv ## API, worker and library tests against real PostgreSQL and Redis containers
	$(PYTEST) libs services/api services/worker tests/docs

# The stack tests run their own compose project on other ports, so that a
# stack started with `make up` is left alone.
TEST_STACK := CONVEYOR_HTTP_PORT=18080 CONVEYOR_API_PORT=18000 $(COMPOSE) -p conveyor-test

test-stack: venv secrets images browser ## the compose stack end to end, and the dashboard in headless Chromium
	$(PYTEST) tests/compose
	trap '$(TEST_STACK) down --volumes --remove-orphans' EXIT; \
	$(TEST_STACK) up --detach --wait; \
	CHROMIUM_PATH="$${CHROMIUM_PATH:-$$(command -v chromium chromium-browser | head -n 1)}" \
	CONVEYOR_URL=http://127.0.0.1:18080 CONVEYOR_REQUIRE_STACK=1 $(PYTEST) services/frontend/tests

# The dashboard test drives Debian's Chromium (test tools may not download browsers here).
browser: ## install Debian's Chromium for the browser test when it is missing
	@if [ -z "$${CHROMIUM_PATH:-}" ] && ! command -v chromium chromium-browser >/dev/null; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian's chromium for the browser test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "the browser test needs Chromium: install it (e.g. apt-get install chromium) or set CHROMIUM_PATH" >&2; exit 1; \
		fi; \
	fi

# --- lint ------------------------------------------------------------------------

lint: venv lint-python lint-docker lint-compose $(LINT_TARGETS) ## ruff, hadolint, compose config, workflows and manifests

lint-python: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint-docker: venv ## hadolint on the Dockerfiles; shellcheck (when installed) on the scripts that go into images
	$(VENV)/bin/hadolint $(shell git ls-files '*Dockerfile')
	@if command -v shellcheck >/dev/null; then shellcheck $(shell git ls-files 'services/*.sh'); \
	else echo "lint-docker: shellcheck not found, the image scripts are not checked (apt-get install shellcheck)"; fi

lint-compose: secrets
	$(COMPOSE) config --quiet

# --- benchmark -------------------------------------------------------------------

bench: venv secrets images ## measure submit latency/throughput and end-to-end job throughput (see bench/README.md)
	$(PYTHON) -m bench.run

clean: ## remove the stack with its volumes, built images, local secrets, venvs and caches
	-$(COMPOSE) down --volumes --remove-orphans
	-$(TEST_STACK) down --volumes --remove-orphans
	-for image in $(IMAGES); do docker image rm $$image:$(VERSION) 2>/dev/null; done
	rm -rf .venv .tools .secrets reports .pytest_cache .ruff_cache
