# The two commands a newcomer needs: `make demo` and `make test` (both as root, Debian 12).
GO      ?= go
BIN     := $(CURDIR)/bin
TOOLS   := $(BIN)/tools
VERSION ?= $(shell hack/version.sh)
LDFLAGS := -X github.com/crid-dev/crid/config.Version=$(VERSION)
# Static binaries start on every supported distribution whatever its glibc (Debian 11 has
# 2.31): cgo links libseccomp.a from libseccomp-dev; netgo and osusergo keep glibc's NSS,
# which a static glibc can only dlopen, out of the link.
STATIC  := -tags netgo,osusergo -ldflags "$(LDFLAGS) -extldflags -static"

GOLANGCI_LINT_VERSION := v2.15.0
# The version is in the name: bumping it builds the new one.
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# make deps ran with these inputs; it runs again only when one of them changes.
DEPS_STAMP := $(TOOLS)/deps.stamp

# After make deps nothing may reach the network: tests and lint use the module
# cache only, and a go.mod that needs more fails instead of downloading.
OFFLINE := GOPROXY=off GOFLAGS=-mod=readonly
PKGS     = $$($(GO) list ./... | grep -v /test/e2e)

.PHONY: all deps build demo test unit integration e2e lint fuzz vet bench bench-density clean require-root install uninstall test-vm cluster cluster-down conformance test-cluster

all: build

deps: $(DEPS_STAMP)

$(DEPS_STAMP): hack/setup.sh go.mod go.sum $(GOLANGCI_LINT)
	hack/setup.sh
	@mkdir -p $(TOOLS) && touch $@

$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS)/.build
	GOBIN=$(TOOLS)/.build $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/.build/golangci-lint $@

build: deps
	$(OFFLINE) $(GO) build $(STATIC) -o $(BIN)/crid ./cmd/crid
	$(OFFLINE) $(GO) build $(STATIC) -o $(BIN)/crid-monitor ./cmd/crid-monitor
	@for b in $(BIN)/crid $(BIN)/crid-monitor; do \
		LC_ALL=C ldd $$b 2>&1 | grep -q 'not a dynamic executable' || \
		{ echo "$$b is linked dynamically: it would not start on older distributions" >&2; ldd $$b >&2; exit 1; }; \
	done

# Everything, in order of cost: a lint finding or a unit failure stops before the root tests.
test: lint unit integration e2e fuzz

# golangci-lint with .golangci.yml (go vet included, plus the package arrows).
# depguard matches its file globs against absolute paths: a rule's "**/cgroups/**" would
# cover every file of a checkout under a directory named cgroups. Rules anchor at the root.
lint: deps
	@if grep -n '"!\{0,1\}\*\*/' .golangci.yml; then \
		echo '.golangci.yml: anchor file globs at $${config-path}/, not **/ (see the depguard comment)' >&2; exit 1; fi
	$(OFFLINE) $(GOLANGCI_LINT) run --allow-serial-runners ./...

vet: deps
	$(OFFLINE) $(GO) vet ./...

# Tests that need no root, with the race detector; the root-only ones skip here
# even when run as root (internal/testenv).
unit: deps
	CRID_TEST_UNPRIVILEGED=1 $(OFFLINE) $(GO) test -race -count=1 -timeout 15m $(PKGS)

# As root: the executor, the monitor, overlay snapshots, CNI, the daemon, wire.
integration: deps require-root
	$(OFFLINE) $(GO) test -count=1 -timeout 15m $(PKGS)

# Real crid daemons driven only through CRI gRPC.
e2e: build require-root
	CRID_BIN_DIR=$(BIN) $(OFFLINE) $(GO) test -count=1 -timeout 15m ./test/e2e/...

# Each fuzz target for FUZZTIME, from its checked-in seeds (offline). make test keeps it
# short so that CI stays well inside its time; hunt longer with FUZZTIME=5m make fuzz.
FUZZTIME ?= 10s
fuzz: deps
	FUZZTIME=$(FUZZTIME) $(OFFLINE) hack/fuzz.sh

require-root:
	@[ "$$(id -u)" = 0 ] || { echo "$(MAKECMDGOALS): needs root (run make unit for the tests that do not)" >&2; exit 1; }

demo: build
	hack/demo.sh

# The VM tier (hack/vm, README "Tests"): Debian guests with systemd, cgroup v2 and AppArmor,
# one per kernel of the supported matrix, booted under qemu. The guests run only what is
# built here, static so that every guest's glibc runs it.
VM_SUITES ?= bullseye bookworm trixie
test-vm: build require-root
	hack/setup.sh vm
	$(OFFLINE) $(GO) test -c $(STATIC) -o $(BIN)/vm/e2e.test ./test/e2e
	$(OFFLINE) $(GO) test -c $(STATIC) -o $(BIN)/vm/vm.test ./test/vm
	$(OFFLINE) $(GO) test -c $(STATIC) -o $(BIN)/vm/oci.test ./oci
	$(OFFLINE) $(GO) build $(STATIC) -o $(BIN)/vm/demo ./hack/demo
	hack/vm/test.sh $(VM_SUITES)

bench: build
	$(OFFLINE) $(GO) test -run '^$$' -bench . ./oci/... ./images/... ./cri/... ./cni/...

# A node at scale (issue 16.4): 250 pods by 10 workers against BENCH_ENDPOINT; BENCH_FLAGS adds
# more (another --endpoint to compare, --plot DIR, --json FILE). See README, Benchmarks.
BENCH_ENDPOINT ?= unix:///run/crid/crid.sock
bench-density:
	$(OFFLINE) $(GO) run ./hack/bench --endpoint $(BENCH_ENDPOINT) --density 250 --workers 10 $(BENCH_FLAGS)

# PREFIX (/usr/local), DESTDIR, UNITDIR (/etc/systemd/system), SYSCONFDIR (/etc): see hack/install.sh.
# The config file is written only if none exists, and uninstall never removes it.
install: build
	BIN=$(BIN) hack/install.sh install

uninstall:
	hack/install.sh uninstall

# A local Kubernetes cluster on crid (README "Kubernetes on crid"). The Kubernetes binaries
# are built from hack/cluster/k8s and hack/cluster/etcd (modules of their own) into
# /var/cache/crid-cluster on first use; NODES extra nodes run in network namespaces.
NODES ?= 1
CLUSTER_FLAGS ?=
CLUSTER_BIN = $$(hack/cluster/build.sh | tail -1)
# The registry puts e2etools (nc, curl, wget, nnp stand-ins) into the e2e images: static,
# as those images have no C library.
$(BIN)/cluster: $(BIN)/e2etools FORCE
	$(OFFLINE) $(GO) build -o $@ ./hack/cluster
$(BIN)/e2etools: FORCE
	$(OFFLINE) CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./hack/cluster/e2etools

cluster: build $(BIN)/cluster require-root
	$(BIN)/cluster up --nodes $(NODES) --k8s-bin "$(CLUSTER_BIN)" --crid-bin $(BIN) $(CLUSTER_FLAGS)

cluster-down: $(BIN)/cluster require-root
	$(BIN)/cluster down

# The kubelet node checks (one node: logs, exec, port-forward, probes, init containers,
# limits, crid restarted under live pods) on a cluster of their own, taken down pass or fail.
test-cluster: build $(BIN)/cluster require-root
	$(BIN)/cluster check --k8s-bin "$(CLUSTER_BIN)" --crid-bin $(BIN)

# Upstream [Conformance] specs (hack/cluster/conformance.sh) on a cluster of NODES (2 by
# default here) taken down afterwards; the JUnit report stays in bin/conformance.
conformance: build $(BIN)/cluster require-root
	NODES=$(if $(filter command line,$(origin NODES)),$(NODES),2) BIN=$(BIN) hack/cluster/conformance.sh

FORCE:

clean:
	rm -rf $(BIN)
