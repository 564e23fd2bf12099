# mk/pipeline.mk: the GitHub Actions pipeline (.github/) and the release steps
# it runs, as make targets so that CI and people run the same commands.
# Included by the root Makefile; see CONTRIBUTING.md and docs/releasing.md.

TOOLS_BIN ?= $(CURDIR)/.tools/bin

# actionlint comes from the Go module proxy (`go install`, checked against
# sum.golang.org), pinned here; bump the version and the next
# `make lint-workflows` reinstalls it.
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := $(TOOLS_BIN)/actionlint

# shellcheck is optional: actionlint runs it on every `run:` script when it is
# installed (Debian/Ubuntu: apt-get install shellcheck; GitHub's runners have it).
SHELLCHECK := $(or $(SHELLCHECK),$(shell command -v shellcheck 2>/dev/null))

PIPELINE_PYTHON ?= $(CURDIR)/.venv/bin/python
# The pinned kustomize of mk/k8s.mk when it is installed, else the one on PATH
# (CI runners ship one); `kustomize edit set image` is the same in every 5.x.
PIPELINE_KUSTOMIZE = $(or $(wildcard $(TOOLS_BIN)/kustomize),kustomize)
PIPELINE_SCRIPTS := $(wildcard .github/scripts/*.sh)

# Knobs of the release targets, given on the command line (docs/releasing.md):
# OVERLAY, TIMEOUT, SNAPSHOT, URL, TAG, IMAGE_REGISTRY, RELEASE_VERSION, DIGESTS. Their defaults
# are spelled inside the recipes so that these common names stay free for the
# other fragments.
PIPELINE_OVERLAY = $(or $(OVERLAY),deploy/overlays/prod)
PIPELINE_TIMEOUT = $(or $(TIMEOUT),300s)
PIPELINE_SNAPSHOT = $(or $(SNAPSHOT),$(CURDIR)/.tools/rollout-snapshot.txt)
SMOKE_TIMEOUT ?= 120

LINT_TARGETS += lint-workflows
TEST_TARGETS += test-pipeline

.PHONY: actionlint lint-workflows test-pipeline smoke check-release-tag \
	set-image-digests rollout-snapshot rollout-status rollout-undo rollout-diagnose

actionlint: ## install the pinned actionlint (ACTIONLINT_VERSION) into .tools/bin from the Go module proxy
	@if [ "$$($(ACTIONLINT) -version 2>/dev/null | head -n 1)" != "$(ACTIONLINT_VERSION)" ]; then \
		echo "installing actionlint $(ACTIONLINT_VERSION) into $(TOOLS_BIN)"; \
		mkdir -p "$(TOOLS_BIN)" && \
		GOBIN="$(TOOLS_BIN)" go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); \
	fi

lint-workflows: actionlint ## lint .github/workflows with actionlint, and .github/scripts with shellcheck when installed
ifneq ($(SHELLCHECK),)
	$(ACTIONLINT) -shellcheck=$(SHELLCHECK)
	$(SHELLCHECK) $(PIPELINE_SCRIPTS)
else
	@echo "lint-workflows: shellcheck not found, run: scripts are not shell-checked (apt-get install shellcheck)"
	$(ACTIONLINT) -shellcheck=
endif

test-pipeline: venv ## check the workflows' triggers, pins, permissions and secrets handling, and the release scripts
	$(PIPELINE_PYTHON) -m pytest -q tests/pipeline

smoke: ## submit a job through the public URL and wait until it succeeds: make smoke URL=https://...
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://conveyor.example.com" >&2; exit 2; }
	python3 .github/scripts/smoke.py --timeout $(SMOKE_TIMEOUT) "$(URL)"

check-release-tag: ## check that TAG is vX.Y.Z on a commit of origin/main: make check-release-tag TAG=v1.4.2
	@test -n "$(TAG)" || { echo "usage: make check-release-tag TAG=v1.4.2 [COMMIT=sha] [MAIN_REF=origin/main]" >&2; exit 2; }
	.github/scripts/check-release-tag.sh "$(TAG)" $(COMMIT) $(MAIN_REF)

set-image-digests: ## pin OVERLAY's images to digests: make set-image-digests IMAGE_REGISTRY=ghcr.io/owner RELEASE_VERSION=1.4.2 DIGESTS="api=sha256:..."
	@test -n "$(IMAGE_REGISTRY)" -a -n "$(DIGESTS)" || { echo "usage: make set-image-digests [OVERLAY=deploy/overlays/prod] IMAGE_REGISTRY=ghcr.io/owner [RELEASE_VERSION=1.4.2] DIGESTS=\"api=sha256:... worker=sha256:... frontend=sha256:...\"" >&2; exit 2; }
	KUSTOMIZE="$(PIPELINE_KUSTOMIZE)" .github/scripts/set-images.sh $(if $(RELEASE_VERSION),--tag "$(RELEASE_VERSION)") "$(PIPELINE_OVERLAY)" "$(IMAGE_REGISTRY)" $(DIGESTS)

rollout-snapshot: ## record the revision of each Deployment of OVERLAY (current kube context) in SNAPSHOT
	.github/scripts/rollout.sh snapshot "$(PIPELINE_OVERLAY)" "$(PIPELINE_SNAPSHOT)"

rollout-status: ## wait for every Deployment/StatefulSet of OVERLAY to roll out (TIMEOUT each, default 300s)
	.github/scripts/rollout.sh status "$(PIPELINE_OVERLAY)" "$(PIPELINE_TIMEOUT)"

rollout-undo: ## roll each Deployment of OVERLAY that moved since SNAPSHOT back to its recorded revision
	.github/scripts/rollout.sh undo "$(PIPELINE_OVERLAY)" "$(PIPELINE_SNAPSHOT)" "$(PIPELINE_TIMEOUT)"

rollout-diagnose: ## print state, events and recent logs of OVERLAY's namespaces
	.github/scripts/rollout.sh diagnose "$(PIPELINE_OVERLAY)"
