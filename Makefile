# The two commands a newcomer needs: `make demo` and `make test` (both as root, Debian 12).
GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/crid-dev/crid/config.Version=$(VERSION)

.PHONY: all deps build demo test unit e2e vet bench clean

all: build

deps:
	hack/setup.sh

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/crid ./cmd/crid
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/crid-monitor ./cmd/crid-monitor

vet:
	$(GO) vet ./...

# Unit and integration tests (integration tests need root and skip without it), then e2e.
test: deps build vet
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v /test/e2e)
	CRID_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 15m ./test/e2e/...

demo: deps build
	hack/demo.sh

bench: deps build
	$(GO) test -run '^$$' -bench . ./oci/... ./images/... ./cri/... ./cni/...

clean:
	rm -rf $(BIN)
