# b24-operator. Two commands matter: `make run` (the operator on an embedded default: local
# control plane, simulator, samples) and `make test` (every test, against a real API server).
# Every tool is built from the Go module proxy into bin/, pinned here, and cached.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT      := $(abspath .)
BIN       := $(ROOT)/bin
K8S_BIN   := $(BIN)/k8s
GO        ?= go
# The toolchain line of go.mod (a patched Go release, fetched through the module proxy) applies
# even where the local go env says GOTOOLCHAIN=local.
export GOTOOLCHAIN ?= auto

# Pinned tool versions. Changing one rebuilds that tool on the next run.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
HELM_VERSION             ?= v3.22.0
KUBECONFORM_VERSION      ?= v0.7.0
KUBE_SCORE_VERSION       ?= v1.20.0
# promtool (Prometheus v3) for the chart's alert unit tests: the Go module version of Prometheus.
PROMTOOL_VERSION         ?= v0.316.0
GOVULNCHECK_VERSION      ?= v1.9.0
# The Go vulnerability database is built offline from the golang.org/x/vulndb module (its
# data/osv reports, indexed by the module's own cmd/indexdb): move this pin to refresh it.
VULNDB_VERSION           ?= v0.0.0-20261105234957-e22db6528018
ACTIONLINT_VERSION       ?= v1.7.12
# The control plane for envtest and `make run` (kube-apiserver, etcd, kube-controller-manager)
# is pinned in hack/tools/envtest/go.mod.
ENVTEST_MOD := hack/tools/envtest/go.mod
ENVTEST_K8S_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2; exit}' $(ENVTEST_MOD))
ENVTEST_STAMP := $(K8S_BIN)/.stamp-$(shell cat $(ENVTEST_MOD) | sha256sum | cut -c1-16)-2
# kube-apiserver built with `go build` reports v0.0.0; stamp the real version for clients
# (helm's kubeVersion checks) that ask.
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(ENVTEST_K8S_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(ENVTEST_K8S_VERSION)))

CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
HELM           := $(BIN)/helm-$(HELM_VERSION)
KUBECONFORM    := $(BIN)/kubeconform-$(KUBECONFORM_VERSION)
KUBE_SCORE     := $(BIN)/kube-score-$(KUBE_SCORE_VERSION)
PROMTOOL       := $(BIN)/promtool-$(PROMTOOL_VERSION)
GOVULNCHECK    := $(BIN)/govulncheck-$(GOVULNCHECK_VERSION)
VULNDB_INDEXDB := $(BIN)/vulndb-indexdb-$(VULNDB_VERSION)
VULNDB         := $(BIN)/vulndb-$(VULNDB_VERSION)
ACTIONLINT     := $(BIN)/actionlint-$(ACTIONLINT_VERSION)

export KUBEBUILDER_ASSETS := $(K8S_BIN)
export HELM_BIN := $(HELM)
export KUBECONFORM_BIN := $(KUBECONFORM)
export KUBE_SCORE_BIN := $(KUBE_SCORE)
export PROMTOOL_BIN := $(PROMTOOL)
export ACTIONLINT_BIN := $(ACTIONLINT)

TEST_FLAGS ?=
# Fuzzing runs for a number of executions, not a duration: a duration budget can end in a
# spurious "context deadline exceeded" from the fuzz coordinator itself on a busy machine
# (go.dev/issue/75804, unfixed in Go 1.26). 100000 executions take about 10 s here.
FUZZTIME   ?= 100000x

##@ Main

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: run
run: envtest-bins ## Start a local control plane, the simulator and the operator, apply the samples, show their status.
	$(GO) run ./hack/devenv $(RUN_FLAGS)

.PHONY: test
test: tools verify-generated vet fmt-check mod-check vulncheck ## Every check and test: generated files, vet, gofmt, go.mod tidy, govulncheck, unit, envtest, chart.
	$(GO) test -count=1 -timeout 40m $(TEST_FLAGS) ./...
	$(GO) test -count=1 -run '^$$' -fuzz FuzzDecodeResponse -fuzztime $(FUZZTIME) ./internal/bitrix
	$(GO) test -count=1 -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./internal/metabot

.PHONY: bench
bench: envtest-bins ## Benchmarks (requests and API writes per resync, cold start vs rate floor, new Chat latency under a saturated drift pass; sizes: B24OPS_BENCH_CHATS=2000, B24OPS_BENCH_NEW_CHATS=3).
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and the API reference (docs/api.md).
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(GO) run ./hack/apidocs

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Regenerate CRDs and RBAC (and the chart's copy of the CRDs).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=b24-operator-manager paths=./internal/... output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) webhook paths=./internal/webhook/... output:webhook:artifacts:config=config/webhook
	rm -f charts/b24-operator/files/crds/*.yaml && cp config/crd/bases/*.yaml charts/b24-operator/files/crds/
	@if [ -f config/webhook/manifests.yaml ]; then cp config/webhook/manifests.yaml charts/b24-operator/files/webhook/manifests.yaml; fi

.PHONY: verify-generated
verify-generated: ## Fail when committed generated files differ from what the generators produce.
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	files="api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac config/webhook"; \
	files="$$files charts/b24-operator/files docs/api.md"; \
	for f in $$files; do mkdir -p $$tmp/$$(dirname $$f); cp -r $$f $$tmp/$$f; done; \
	$(MAKE) -s generate manifests; \
	for f in $$files; do diff -ru $$tmp/$$f $$f || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }; done

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@out=$$(find . -name '*.go' -not -path './bin/*' -not -path './.run/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: mod-check
mod-check: ## Fail when `go mod tidy` would change go.mod or go.sum.
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; }

.PHONY: vulncheck
vulncheck: $(GOVULNCHECK) $(VULNDB)/index/db.json ## govulncheck against the vulnerability database pinned above (offline).
	$(GOVULNCHECK) -db file://$(VULNDB) ./...

.PHONY: build
build: ## Build the manager and the simulator into bin/.
	$(GO) build -o $(BIN)/manager ./cmd/manager
	$(GO) build -o $(BIN)/b24sim ./cmd/b24sim

.PHONY: kubectl-b24
kubectl-b24: ## Build the kubectl plugin into bin/ (or: go install ./cmd/kubectl-b24).
	$(GO) build -o $(BIN)/kubectl-b24 ./cmd/kubectl-b24
##@ Release

# The version of a release is the chart's appVersion; images are named $(REGISTRY)/<name>:$(VERSION).
VERSION   ?= $(shell awk '$$1 == "appVersion:" {gsub(/"/, "", $$2); print $$2}' charts/b24-operator/Chart.yaml)
REGISTRY  ?= ghcr.io/b24ops
PLATFORMS ?= linux/amd64,linux/arm64
OUT       ?= $(ROOT)/out
# Every file in an image carries the commit's time, so a commit always gives the same digests.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null)

.PHONY: image
image: ## Build the manager and b24sim images (linux/amd64+arm64, no container engine) into out/image, twice, checking the digests match.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image -out $(OUT)/image -registry $(REGISTRY) \
		-tag $(VERSION) -platforms $(PLATFORMS) -revision "$(IMAGE_REVISION)" \
		b24-operator=./cmd/manager b24sim=./cmd/b24sim

.PHONY: install-yaml
install-yaml: $(HELM) ## Render out/install.yaml (namespace, CRDs and operator) from the chart with default values.
	@mkdir -p $(OUT)
	{ printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b24-operator-system\n'; \
	  $(HELM) template b24-operator charts/b24-operator --namespace b24-operator-system \
	    --kube-version $(ENVTEST_K8S_VERSION) --skip-tests; } > $(OUT)/install.yaml
	@echo "wrote $(OUT)/install.yaml"

##@ End to end

# `make e2e` runs a real single-node cluster on this machine (root; see hack/e2e). The node's
# kubelet and kube-proxy are pinned in hack/tools/e2e/go.mod: the last minor that supports
# containerd 1.x and cgroup v1; the control plane is the envtest one. containerd, runc and
# iptables come from Debian, pinned here.
E2E_MOD         := hack/tools/e2e/go.mod
E2E_K8S_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2; exit}' $(E2E_MOD))
E2E_BIN         := $(BIN)/e2e-node-$(E2E_K8S_VERSION)
E2E_STAMP       := $(E2E_BIN)/.stamp-$(shell cat $(E2E_MOD) $(ENVTEST_MOD) | sha256sum | cut -c1-16)
E2E_LDFLAGS     := -X k8s.io/component-base/version.gitVersion=$(E2E_K8S_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(E2E_K8S_VERSION)))
E2E_DEBS        ?= containerd=1.6.20~ds1-1+deb12u3 runc=1.1.5+ds1-1+deb12u1 iptables=1.8.9-2
E2E_WORK        ?= $(ROOT)/.run/e2e

.PHONY: e2e
e2e: envtest-bins $(HELM) e2e-node-bins e2e-debs ## Single-node cluster (root): chart, samples, webhook, failover, upgrade, rollback, helm test, uninstall.
	$(GO) run ./hack/image -out $(E2E_WORK)/images -registry $(REGISTRY) -tag $(VERSION) -platforms linux/$(shell $(GO) env GOARCH) \
		-verify=false b24-operator=./cmd/manager b24sim=./cmd/b24sim pause=./hack/e2e/pause
	$(GO) run ./hack/e2e -root $(ROOT) -work $(E2E_WORK) -images $(E2E_WORK)/images -k8s-bin $(K8S_BIN) \
		-node-bin $(E2E_BIN) -helm $(HELM) -registry $(REGISTRY) -version $(VERSION) -node-version $(E2E_K8S_VERSION) $(E2E_FLAGS)

.PHONY: e2e-node-bins
e2e-node-bins: $(E2E_STAMP) ## kubelet, kube-proxy, kube-scheduler and the CNI plugins for `make e2e`.

$(E2E_STAMP): $(E2E_MOD) $(ENVTEST_MOD)
	@echo ">> building kubelet and kube-proxy $(E2E_K8S_VERSION), kube-scheduler $(ENVTEST_K8S_VERSION) and the CNI plugins; a few minutes the first time"
	@mkdir -p $(E2E_BIN)/cni
	cd hack/tools/e2e && $(GO) build -ldflags "$(E2E_LDFLAGS)" -o $(E2E_BIN)/ k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
	cd hack/tools/e2e && $(GO) build -o $(E2E_BIN)/cni/ github.com/containernetworking/plugins/plugins/main/bridge \
		github.com/containernetworking/plugins/plugins/main/loopback github.com/containernetworking/plugins/plugins/ipam/host-local
	cd hack/tools/envtest && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(E2E_BIN)/kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
	@rm -f $(E2E_BIN)/.stamp-* && touch $@

.PHONY: e2e-debs
e2e-debs: ## containerd, runc and iptables from Debian, at the pinned versions.
	@if ! dpkg-query -W -f='$${Package}=$${Version}\n' $(foreach d,$(E2E_DEBS),$(firstword $(subst =, ,$(d)))) 2>/dev/null | sort | diff -q - <(printf '%s\n' $(E2E_DEBS) | sort) >/dev/null; then \
		echo ">> apt-get install $(E2E_DEBS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(E2E_DEBS); \
	fi

##@ Tools (built from the Go module proxy, cached in bin/)

.PHONY: tools
tools: envtest-bins $(CONTROLLER_GEN) $(HELM) $(KUBECONFORM) $(KUBE_SCORE)
tools: $(PROMTOOL)
tools: envtest-bins $(CONTROLLER_GEN) $(HELM) $(KUBECONFORM) $(KUBE_SCORE) $(ACTIONLINT)

.PHONY: envtest-bins
envtest-bins: $(ENVTEST_STAMP) ## kube-apiserver, etcd and kube-controller-manager for envtest and `make run`.

$(ENVTEST_STAMP): $(ENVTEST_MOD)
	@echo ">> building the control plane (kube-apiserver, etcd, kube-controller-manager) from $(ENVTEST_MOD); a few minutes the first time"
	@mkdir -p $(K8S_BIN)
	cd hack/tools/envtest && $(GO) build -o $(K8S_BIN)/etcd go.etcd.io/etcd/server/v3
	cd hack/tools/envtest && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(K8S_BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
	cd hack/tools/envtest && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(K8S_BIN)/kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
	@rm -f $(K8S_BIN)/.stamp-* && touch $@

$(CONTROLLER_GEN):
	GOBIN=$(BIN)/.gobin $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(BIN)/.gobin/controller-gen $@

$(HELM):
	GOBIN=$(BIN)/.gobin $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.gobin/helm $@

$(KUBECONFORM):
	GOBIN=$(BIN)/.gobin $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	mv $(BIN)/.gobin/kubeconform $@

$(KUBE_SCORE):
	GOBIN=$(BIN)/.gobin $(GO) install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)
	mv $(BIN)/.gobin/kube-score $@

$(PROMTOOL):
	GOBIN=$(BIN)/.gobin $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
	mv $(BIN)/.gobin/promtool $@
$(GOVULNCHECK):
	GOBIN=$(BIN)/.gobin $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	mv $(BIN)/.gobin/govulncheck $@

$(VULNDB_INDEXDB):
	GOBIN=$(BIN)/.gobin $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)
	mv $(BIN)/.gobin/indexdb $@

# Outside any module (cd /), so that downloading x/vulndb never touches go.sum.
$(VULNDB)/index/db.json: | $(VULNDB_INDEXDB)
	src=$$(cd / && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | awk -F'"' '$$2 == "Dir" {print $$4}'); \
	test -d "$$src/data/osv" || { echo "no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION)"; exit 1; }; \
	rm -rf $(VULNDB).tmp && $(VULNDB_INDEXDB) -vulns "$$src/data/osv" -out $(VULNDB).tmp && rm -rf $(VULNDB) && mv $(VULNDB).tmp $(VULNDB)
$(ACTIONLINT):
	GOBIN=$(BIN)/.gobin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(BIN)/.gobin/actionlint $@

.PHONY: clean
clean: ## Remove built binaries (keeps the cached control plane).
	rm -f $(BIN)/manager $(BIN)/b24sim
