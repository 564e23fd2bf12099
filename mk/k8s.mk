# Kubernetes: the Kustomize manifests in deploy/, their offline checks, and
# deploying them to the cluster of the current kubeconfig context.
# docs/kubernetes.md explains the layout and the choices.

# Pinned tool versions. Each is built from source through the Go module proxy
# into .tools/bin the first time a target needs it (GOTOOLCHAIN=local: the Go
# on PATH builds them, nothing else is downloaded).
KUSTOMIZE_VERSION ?= v5.7.1
KUBECONFORM_VERSION ?= v0.7.0
CONFTEST_VERSION ?= v0.69.0
# kubectl: the one on PATH when there is one (CI runners and ci-env ship it);
# otherwise this version, built from deploy/tools/kubectl.
KUBECTL_VERSION ?= v1.34.4
# psa-check (deploy/tools/psa-check): the API server's Pod Security library,
# at the version its go.mod pins (a test keeps the two equal).
PSA_VERSION ?= v0.34.4
# The Kubernetes versions every rendered object is validated against: the
# local cluster's (hack/local-cluster) and the oldest one we support (the
# kubectl and kind node of CI).
K8S_SCHEMA_VERSIONS ?= 1.34.4 1.32.13

# The root Makefile sets these too (same values); defaults keep this fragment
# usable on its own.
TOOLS_BIN ?= $(CURDIR)/.tools/bin
VENV ?= $(CURDIR)/.venv
PYTEST ?= $(VENV)/bin/pytest

K8S_SCHEMA_DIR := $(CURDIR)/.tools/k8s-schemas
K8S_MANIFESTS_DIR := $(CURDIR)/build/manifests
K8S_SECRETS_ENV := deploy/base/secrets.env
KUSTOMIZE := $(TOOLS_BIN)/kustomize-$(KUSTOMIZE_VERSION)
KUBECONFORM := $(TOOLS_BIN)/kubeconform-$(KUBECONFORM_VERSION)
CONFTEST := $(TOOLS_BIN)/conftest-$(CONFTEST_VERSION)
PSA_CHECK := $(TOOLS_BIN)/psa-check-$(PSA_VERSION)
PSA_CHECK_SOURCES := $(wildcard deploy/tools/psa-check/*.go) deploy/tools/psa-check/go.mod deploy/tools/psa-check/go.sum
# The kubectl that KUBECTL names (other fragments and the command line may set
# it; default `kubectl`), as a path; when there is none, the one `make
# kubectl-install` builds into .tools/bin.
K8S_KUBECTL := $(or $(shell command -v $(or $(KUBECTL),kubectl) 2>/dev/null),$(TOOLS_BIN)/kubectl)
# checks.py and the tests read the same tools and versions.
K8S_CHECK_ENV = KUSTOMIZE=$(KUSTOMIZE) KUBECONFORM=$(KUBECONFORM) CONFTEST=$(CONFTEST) PSA_CHECK=$(PSA_CHECK) KUBECTL=$(K8S_KUBECTL) \
	K8S_SCHEMA_DIR=$(K8S_SCHEMA_DIR) K8S_SCHEMA_VERSIONS="$(K8S_SCHEMA_VERSIONS)"

ENV ?= dev

TEST_TARGETS += test-deploy
LINT_TARGETS += lint-k8s

.PHONY: k8s-tools kubectl-install k8s-schemas secrets-k8s manifests lint-k8s test-deploy deploy undeploy purge

# --- tools ---------------------------------------------------------------------

# Each tool is installed under a versioned name (kustomize-v5.7.1), so that
# changing a version above installs the new one; the plain name is a symlink
# to it for people and scripts that run .tools/bin/kustomize by hand.
# $(call k8s-go-install,NAME,PACKAGE@VERSION)
define k8s-go-install
	@echo "building $(1) $(lastword $(subst @, ,$(2))) into $(TOOLS_BIN)"
	@mkdir -p $(TOOLS_BIN) && tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		GOBIN=$$tmp GOTOOLCHAIN=local go install $(2) && mv "$$tmp/$(1)" $@
	@ln -sfn $(@F) $(TOOLS_BIN)/$(1)
endef

$(KUSTOMIZE): ## build the pinned kustomize
	$(call k8s-go-install,kustomize,sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION))

$(KUBECONFORM): ## build the pinned kubeconform
	$(call k8s-go-install,kubeconform,github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION))

# conftest takes a few minutes to build the first time (OPA and its parsers).
$(CONFTEST): ## build the pinned conftest
	$(call k8s-go-install,conftest,github.com/open-policy-agent/conftest@$(CONFTEST_VERSION))

# Rebuilt when its source changes (a few seconds).
$(PSA_CHECK): $(PSA_CHECK_SOURCES) ## build psa-check from deploy/tools/psa-check
	@echo "building psa-check (k8s.io/pod-security-admission $(PSA_VERSION)) into $(TOOLS_BIN)"
	@mkdir -p $(TOOLS_BIN) && tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		cd deploy/tools/psa-check && GOBIN=$$tmp GOTOOLCHAIN=local go install . && mv "$$tmp/psa-check" $@
	@ln -sfn $(@F) $(TOOLS_BIN)/psa-check

k8s-tools: $(KUSTOMIZE) $(KUBECONFORM) $(CONFTEST) $(PSA_CHECK) ## install the pinned kustomize, kubeconform, conftest and psa-check into .tools/bin when missing
	@echo "kustomize $(KUSTOMIZE_VERSION), kubeconform $(KUBECONFORM_VERSION), conftest $(CONFTEST_VERSION), psa-check $(PSA_VERSION) in $(TOOLS_BIN)"

# kubectl's main package lives in k8s.io/kubernetes, whose go.mod has replace
# directives that `go install pkg@version` refuses; deploy/tools/kubectl is
# the same few lines of main over the published k8s.io/kubectl module.
$(TOOLS_BIN)/kubectl: ## build kubectl KUBECTL_VERSION from deploy/tools/kubectl
	@echo "no kubectl on PATH: building kubectl $(KUBECTL_VERSION) into $(TOOLS_BIN) (several minutes)"
	@cd deploy/tools/kubectl && GOBIN=$(TOOLS_BIN) GOTOOLCHAIN=local go install -trimpath \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$(KUBECTL_VERSION) \
		-X k8s.io/client-go/pkg/version.gitVersion=$(KUBECTL_VERSION)" .

kubectl-install: $(K8S_KUBECTL) ## use the kubectl on PATH, or build KUBECTL_VERSION into .tools/bin when there is none
	@echo "kubectl: $(K8S_KUBECTL)" && $(K8S_KUBECTL) version --client

# --- manifests -----------------------------------------------------------------

define K8S_SECRETS_PY
import secrets
for key in ("postgres-password", "redis-password"):
    print(f"{key}={secrets.token_hex(24)}")
endef
export K8S_SECRETS_PY

# Random passwords for the base's secretGenerator. Only when the file is
# missing, and noclobber (set -C) on top: an existing file is never replaced,
# since a running PostgreSQL keeps the password it was initialised with.
$(K8S_SECRETS_ENV): ## random passwords, only when the file is missing
	@umask 077 && set -C && python3 -c "$$K8S_SECRETS_PY" > $@ && echo "created $@ (random, git-ignored)"

secrets-k8s: $(K8S_SECRETS_ENV) ## create deploy/base/secrets.env with random passwords if missing (never overwrites)

manifests: $(KUSTOMIZE) secrets-k8s ## render the dev and prod overlays into build/manifests/
	@$(K8S_CHECK_ENV) python3 tests/deploy/checks.py render --out $(K8S_MANIFESTS_DIR)

k8s-schemas: ## generate the Kubernetes JSON schemas of K8S_SCHEMA_VERSIONS into .tools/k8s-schemas (offline, via the Go module proxy)
	@python3 tests/deploy/k8s_schemas.py $(K8S_SCHEMA_VERSIONS) --out $(K8S_SCHEMA_DIR)

# --- checks --------------------------------------------------------------------

lint-k8s: k8s-tools k8s-schemas secrets-k8s ## render both overlays, validate against the Kubernetes schemas, run the policy checks
	@$(K8S_CHECK_ENV) python3 tests/deploy/checks.py all --out $(K8S_MANIFESTS_DIR)

test-deploy: venv k8s-tools k8s-schemas secrets-k8s ## tests of the manifests: render, schemas, policies, and that each check rejects a broken manifest
	@$(K8S_CHECK_ENV) $(PYTEST) tests/deploy -q

# --- cluster -------------------------------------------------------------------

# $(call k8s-guard,WHAT IT DOES TO PRODUCTION): ENV must be dev or prod, and
# prod needs CONFIRM=conveyor as well.
k8s-guard = case "$(ENV)" in dev) ;; prod) test "$(CONFIRM)" = conveyor || { echo "this $(1): make $@ ENV=prod CONFIRM=conveyor" >&2; exit 2; } ;; *) echo "ENV must be dev or prod" >&2; exit 2 ;; esac

# Renders with the pinned kustomize (the version the checks ran) and applies:
# the environment's namespace first (its own kustomization, so that undeploy
# keeps it and its data), then the overlay. Dev creates its random secrets when
# missing; prod needs deploy/base/secrets.env from the operator (or an external
# secret store, docs/kubernetes.md).
deploy: $(KUSTOMIZE) $(K8S_KUBECTL) ## apply an overlay (and its namespace) to the current kubeconfig context: make deploy ENV=dev|prod
	@case "$(ENV)" in dev) $(MAKE) secrets-k8s ;; prod) ;; *) echo "ENV must be dev or prod" >&2; exit 2 ;; esac
	@test -f $(K8S_SECRETS_ENV) || { echo "$(K8S_SECRETS_ENV) is missing (see docs/kubernetes.md, Secrets)" >&2; exit 2; }
	@echo "applying deploy/overlays/$(ENV) to context $$($(K8S_KUBECTL) config current-context)"
	@$(KUSTOMIZE) build deploy/overlays/$(ENV)/namespace | $(K8S_KUBECTL) apply -f -
	@$(KUSTOMIZE) build deploy/overlays/$(ENV) | $(K8S_KUBECTL) apply -f -

# `kubectl delete -k` of the overlay: every object it created goes, and the
# namespace stays with the PersistentVolumeClaims, so a later deploy finds its
# data. Production asks for CONFIRM=conveyor (it stops the service).
undeploy: $(KUSTOMIZE) $(K8S_KUBECTL) ## delete an overlay's objects, keeping its namespace and data: make undeploy ENV=dev|prod (prod: CONFIRM=conveyor)
	@$(call k8s-guard,stops production)
	@test -f $(K8S_SECRETS_ENV) || $(MAKE) secrets-k8s
	@echo "deleting deploy/overlays/$(ENV) from context $$($(K8S_KUBECTL) config current-context) (the namespace and its PersistentVolumeClaims stay)"
	@$(KUSTOMIZE) build deploy/overlays/$(ENV) | $(K8S_KUBECTL) delete --ignore-not-found --wait=true -f -

# The namespace with everything in it: the PersistentVolumeClaims and so the
# data too. Production asks for CONFIRM=conveyor.
purge: $(KUSTOMIZE) $(K8S_KUBECTL) ## delete an environment's namespace, data included: make purge ENV=dev|prod (prod: CONFIRM=conveyor)
	@$(call k8s-guard,deletes production and its data)
	@echo "deleting the namespace of deploy/overlays/$(ENV), data included, from context $$($(K8S_KUBECTL) config current-context)"
	@$(KUSTOMIZE) build deploy/overlays/$(ENV)/namespace | $(K8S_KUBECTL) delete --ignore-not-found --wait=true -f -
