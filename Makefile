# Conveyor: the one entry point that people and CI share. `make help` lists the verbs.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CONVEYOR_VERSION := $(VERSION)
export CONVEYOR_REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := $(CURDIR)/.tools/uv/bin/uv
ACTIONLINT_IMAGE := rhysd/actionlint:1.7.12
# The Kubernetes versions the manifests are validated against: the local cluster's and CI's kind.
K8S_VERSIONS := 1.34.0 1.32.0
ENV ?= dev
OVERLAY := deploy/overlays/$(ENV)
KUBECTL ?= $(BIN)/kubectl
E2E_ENV = KUBECTL=$(KUBECTL) CONVEYOR_NAMESPACE=conveyor-dev

# One compose project per checkout (docker compose reads .env), so two clones never share volumes.
COMPOSE := docker compose
TEST_STACK := CONVEYOR_HTTP_PORT=18080 CONVEYOR_API_PORT=18000 $(COMPOSE) -p conveyor-test
PROJECT = $(shell sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env)

.PHONY: help up down logs test lint images manifests deploy undeploy backup restore cluster demo e2e bench clean \
	venv secrets browser promtool e2e-images

help:
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

# --- the local stack ------------------------------------------------------------------

.env:
	@echo "COMPOSE_PROJECT_NAME=conveyor-$$(printf %s "$(CURDIR)" | sha256sum | cut -c1-8)" >> $@

# A new password for a database volume that already exists would lock the stack out of its data.
.secrets/%: | .env
	@if [ $* = postgres_password ] && docker volume inspect "$(PROJECT)_postgres-data" >/dev/null 2>&1; then \
		echo "$@ is missing, but volume $(PROJECT)_postgres-data holds a database made with it: restore .secrets/ or run \`make clean\` (deletes the data)" >&2; exit 2; fi
	@mkdir -p .secrets && chmod 700 .secrets
	@umask 022 && openssl rand -hex 24 > $@ && echo "created $@"

secrets: .env .secrets/postgres_password .secrets/redis_password

up: secrets ## build the images and start the stack, waiting until it is healthy
	$(COMPOSE) up -d --build --wait
	@echo "Conveyor $(VERSION): dashboard http://localhost:$${CONVEYOR_HTTP_PORT:-8080}, API http://localhost:$${CONVEYOR_API_PORT:-8000}/api/docs"

down: ## stop the stack, keeping its data
	$(COMPOSE) down

logs: ## follow the logs of every service
	$(COMPOSE) logs -f --tail=100

# The three images, tagged from git describe: a step of up, test and e2e.
images: .env
	$(COMPOSE) build api worker frontend

# --- checks ----------------------------------------------------------------------------

$(UV):
	python3 -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

venv: $(UV)
	$(UV) sync --frozen --quiet

lint: venv secrets manifests ## ruff, hadolint, shellcheck, compose config, actionlint, zizmor, kubernetes-validate, checkov
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint $$(git ls-files '*Dockerfile')
	$(BIN)/shellcheck -x $$(git ls-files '*.sh'; git ls-files -s hack .ci | awk '$$1 == 100755 { print $$4 }')
	$(COMPOSE) config --quiet
	docker run --rm -v "$(CURDIR):/repo:ro" -w /repo $(ACTIONLINT_IMAGE) -color
	$(BIN)/zizmor --offline --quiet .github/workflows
	for version in $(K8S_VERSIONS); do $(BIN)/kubernetes-validate --strict --quiet -k $$version build/manifests/*.yaml; done
	$(BIN)/checkov --quiet --compact --config-file deploy/checkov.yaml -d build/manifests

test: venv secrets images browser promtool ## every test: Python against real PostgreSQL and Redis, the compose stack, the dashboard in Chromium, the manifests, the release scripts
	$(BIN)/pytest libs services/api services/worker tests/chaos tests/docs tests/deploy tests/pipeline tests/monitoring
	$(BIN)/pytest tests/compose
	trap '$(TEST_STACK) down --volumes --remove-orphans' EXIT; $(TEST_STACK) up --detach --wait; \
	CHROMIUM_PATH="$${CHROMIUM_PATH:-$$(command -v chromium chromium-browser | head -n 1)}" \
	CONVEYOR_URL=http://127.0.0.1:18080 CONVEYOR_REQUIRE_STACK=1 $(BIN)/pytest services/frontend/tests

# The browser test drives Debian's Chromium: test tools may not download browsers here.
browser:
	@if [ -z "$${CHROMIUM_PATH:-}" ] && ! command -v chromium chromium-browser >/dev/null; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "the browser test needs Chromium: install it or set CHROMIUM_PATH" >&2; exit 1; fi; fi

# promtool (rules unit tests, PromQL checks) from Debian's prometheus package, in
# an image built like the local cluster's Prometheus: no Go, and no server on the host.
promtool:
	@if [ -z "$${PROMTOOL:-}" ] && ! command -v promtool >/dev/null && ! docker image inspect conveyor-promtool >/dev/null 2>&1; then \
		docker build --quiet -t conveyor-promtool -f hack/local-cluster/images/prometheus.Dockerfile hack/local-cluster/images >/dev/null; fi

bench: venv secrets images ## submit, bulk submit, end-to-end and drain throughput, stats and scheduling (bench/README.md)
	$(BIN)/python -m bench.run

# --- Kubernetes ------------------------------------------------------------------------

manifests: venv ## render both overlays into build/manifests/
	@mkdir -p build/manifests
	for env in dev prod; do $(KUBECTL) kustomize deploy/overlays/$$env > build/manifests/$$env.yaml; done

# dev holds its namespace; prod's is a cluster admin's, applied on its own (docs/kubernetes.md).
deploy: venv ## kubectl apply -k an overlay on the current context: make deploy ENV=dev|prod
	@test -d $(OVERLAY) || { echo "ENV must be dev or prod" >&2; exit 2; }
	if [ -d $(OVERLAY)/namespace ]; then $(KUBECTL) apply -k $(OVERLAY)/namespace; fi
	$(KUBECTL) apply -k $(OVERLAY)

# Everything the overlay renders but its Namespace: the claims and the Secret in it stay, so the
# next deploy finds the data (a plain `kubectl delete -k` deletes the namespace, data and all).
undeploy: venv ## delete an overlay's objects, keeping its data: make undeploy ENV=dev|prod (prod: CONFIRM=conveyor)
	@test -d $(OVERLAY) || { echo "ENV must be dev or prod" >&2; exit 2; }
	@test "$(ENV)" != prod -o "$(CONFIRM)" = conveyor || { echo "this stops production: make undeploy ENV=prod CONFIRM=conveyor" >&2; exit 2; }
	$(KUBECTL) delete --ignore-not-found --wait -k $(OVERLAY) -l 'app.kubernetes.io/component!=namespace'

# The overlay's namespace, where its backup CronJobs run (deploy/components/backup).
BACKUP_ENV = KUBECTL=$(KUBECTL) NAMESPACE=$(if $(filter prod,$(ENV)),conveyor,conveyor-dev)

backup: venv ## take a PostgreSQL backup now (a Job from its CronJob) and print its name and size: ENV=dev|prod
	@$(BACKUP_ENV) hack/backup take

restore: venv ## restore the newest backup, or DUMP=conveyor-<time>.dump, api and worker stopped meanwhile (prod: CONFIRM=conveyor)
	@test "$(ENV)" != prod -o "$(CONFIRM)" = conveyor || { echo "this replaces production's data: make restore ENV=prod CONFIRM=conveyor" >&2; exit 2; }
	@$(BACKUP_ENV) hack/backup restore $(DUMP)

cluster: venv ## start a local cluster (kind, minikube, or one built from source) as the current context
	@KUBECTL=$(KUBECTL) hack/cluster up

# CI builds the images once and loads them itself: E2E_BUILD=0 skips the build.
e2e-images: venv
	@if [ "$${E2E_BUILD:-1}" != 0 ]; then $(MAKE) images VERSION=dev; fi
	@KUBECTL=$(KUBECTL) hack/cluster load-overlay deploy/overlays/dev

demo: e2e-images ## deploy the dev overlay on the current context and print its URL; DEMO=selfheal|rollout|autoscale runs a scenario
	@$(E2E_ENV) $(BIN)/python -m demo $(or $(DEMO),deploy)

e2e: e2e-images ## prove it all on the current context's cluster (wipes conveyor-dev)
	CONVEYOR_E2E=1 $(E2E_ENV) $(BIN)/pytest -m cluster tests/e2e -v -p no:cacheprovider --timeout=1800

clean: ## remove the stack with its volumes, the images, local secrets, venvs and caches
	-$(COMPOSE) down --volumes --remove-orphans
	-$(TEST_STACK) down --volumes --remove-orphans
	-docker image rm conveyor-api:$(VERSION) conveyor-worker:$(VERSION) conveyor-frontend:$(VERSION) 2>/dev/null
	rm -rf .venv .tools .secrets build reports .pytest_cache .ruff_cache
