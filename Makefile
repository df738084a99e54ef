# The two commands a newcomer needs: `make demo` and `make test` (both as root, Debian 12).
GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/crid-dev/crid/config.Version=$(VERSION)
# Static binaries start on every supported distribution whatever its glibc (Debian 11 has
# 2.31): cgo links libseccomp.a from libseccomp-dev; netgo and osusergo keep glibc's NSS,
# which a static glibc can only dlopen, out of the link.
STATIC  := -tags netgo,osusergo -ldflags "$(LDFLAGS) -extldflags -static"

.PHONY: all deps build demo test unit e2e vet bench clean

all: build

deps:
	hack/setup.sh

build:
	$(GO) build $(STATIC) -o $(BIN)/crid ./cmd/crid
	$(GO) build $(STATIC) -o $(BIN)/crid-monitor ./cmd/crid-monitor
	@for b in $(BIN)/crid $(BIN)/crid-monitor; do \
		LC_ALL=C ldd $$b 2>&1 | grep -q 'not a dynamic executable' || \
		{ echo "$$b is linked dynamically: it would not start on older distributions" >&2; ldd $$b >&2; exit 1; }; \
	done

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
