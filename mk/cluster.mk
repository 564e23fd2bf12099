# A Kubernetes cluster to run Conveyor on, and the proofs that run on it: the
# end-to-end tests and the demos. Everything here uses the current kubeconfig
# context; `make cluster` starts one and makes it current (hack/cluster: kind,
# minikube, or the source-built hack/local-cluster). docs/e2e.md explains it.

# auto | kind | minikube | local
CLUSTER_PROVIDER ?= auto
# The tag the dev overlay (deploy/overlays/dev) gives the Conveyor images.
E2E_TAG ?= dev
E2E_OVERLAY := deploy/overlays/dev
CLUSTER_CMD := hack/cluster
# The root Makefile sets these; defaults keep this fragment usable on its own.
VENV ?= $(CURDIR)/.venv
PYTEST ?= $(VENV)/bin/pytest
PYTHON ?= $(VENV)/bin/python
KUBECTL ?= kubectl
E2E_ENV = KUBECTL=$(KUBECTL) CONVEYOR_NAMESPACE=conveyor-dev

CLUSTER_SCRIPTS := hack/cluster $(addprefix hack/local-cluster/,up down clean status load hostpath-perms lib.sh config.sh)
SHELLCHECK ?= $(shell command -v shellcheck 2>/dev/null)
LINT_TARGETS += lint-cluster

.PHONY: cluster cluster-down cluster-status cluster-images e2e demo selfheal-demo rollout-demo lint-cluster

cluster: ## start a cluster (kind, else minikube, else hack/local-cluster) and make it the current kubeconfig context
	@CLUSTER_PROVIDER=$(CLUSTER_PROVIDER) KUBECTL=$(KUBECTL) $(CLUSTER_CMD) up

cluster-down: ## stop the current context's cluster (kind: deleted; minikube, local: stopped, state kept)
	@KUBECTL=$(KUBECTL) $(CLUSTER_CMD) down

cluster-status: ## the current context, its nodes and its pods
	@KUBECTL=$(KUBECTL) $(CLUSTER_CMD) status

cluster-images: secrets-k8s ## build the images with the dev overlay's tag and load them, with the overlay's other images, into the current cluster
	@$(MAKE) images VERSION=$(E2E_TAG)
	@KUBECTL=$(KUBECTL) $(CLUSTER_CMD) load-overlay $(E2E_OVERLAY)

e2e: venv cluster-images ## end-to-end tests on the current context's cluster: deploy dev from nothing, self-heal, roll, policies, delete (wipes conveyor-dev)
	CONVEYOR_E2E=1 $(E2E_ENV) $(PYTEST) -m cluster tests/e2e -v -p no:cacheprovider --timeout=900

demo: venv cluster-images ## build and load the images, deploy the dev overlay, wait for every rollout, print the URL
	@$(E2E_ENV) $(PYTHON) -m tests.e2e.demo deploy

selfheal-demo: venv ## delete an api, a worker, the redis and the postgres pod in turn under a trickle of jobs; show each coming back
	@$(E2E_ENV) $(PYTHON) -m tests.e2e.demo selfheal

rollout-demo: venv ## roll the api to a new image tag under continuous requests; count the failed ones
	@$(E2E_ENV) $(PYTHON) -m tests.e2e.demo rollout

lint-cluster: ## shellcheck the cluster scripts (hack/cluster, hack/local-cluster) when shellcheck is installed
	@if [ -n "$(SHELLCHECK)" ]; then $(SHELLCHECK) -x $(CLUSTER_SCRIPTS); \
	else echo "lint-cluster: shellcheck not found, the cluster scripts are not checked (apt-get install shellcheck)"; fi
