#!/usr/bin/env bash
# Builds the Kubernetes and etcd binaries that hack/cluster runs, from the modules pinned in
# hack/cluster/k8s and hack/cluster/etcd, into a cache outside the repository:
#   $CRID_CLUSTER_CACHE/<key>/bin   (default /var/cache/crid-cluster)
# where <key> hashes the modules' go.mod and go.sum (k8s, etcd, coredns) and the recipe below, so that a version
# bump builds anew and an unchanged pin costs nothing. Prints the bin directory on its last
# line. Also copies the data files of the e2e images that hack/cluster builds into
# $CRID_CLUSTER_CACHE/<key>/images.
#   build.sh            kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#                       kube-proxy, kubectl, agnhost, ginkgo, etcd, coredns, dig
#   build.sh e2e        the same plus e2e.test (make conformance)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CRID_CLUSTER_CACHE:-/var/cache/crid-cluster}
k8s_version=$(grep -oE '^\s*(require )?k8s.io/kubernetes v[^ ]+' "$here/k8s/go.mod" | awk '{print $NF}')
[ -n "$k8s_version" ] || { echo "cluster: no k8s.io/kubernetes version in $here/k8s/go.mod" >&2; exit 1; }

# The version the binaries report (/version, node status, kubectl): what Kubernetes' own
# build stamps (hack/lib/version.sh); without it they say v0.0.0-master and version checks
# of the e2e framework and kubectl skew warnings misfire.
minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done

tools=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl agnhost ginkgo)
# Bump when what is built or how changes (tools, flags): the key changes with it.
recipe="1 CGO_ENABLED=0 -trimpath $ldflags ${tools[*]}"
key=$( (cat "$here"/{k8s,etcd,coredns}/go.{mod,sum} "$here/coredns/main.go" "$here/coredns/dig/main.go"; echo "$recipe") | sha256sum | cut -c1-12)
bin=$cache/$k8s_version-$key/bin
mkdir -p "$bin"

# Static, like Kubernetes' release binaries; GOFLAGS=-mod=readonly so that a go.sum out of
# date fails instead of editing the tree.
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
built() { [ -x "$bin/$1" ]; }
missing=0
for t in "${tools[@]}"; do built "$t" || missing=1; done
if [ $missing = 1 ]; then
	echo "cluster: building Kubernetes $k8s_version into $bin (about 10 minutes cold on 2 idle cores)" >&2
	(cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$bin/.build/" tool)
	for t in "${tools[@]}"; do mv "$bin/.build/$t" "$bin/$t"; done
fi
if ! built etcd; then
	echo "cluster: building etcd into $bin" >&2
	(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin/.build/etcd" go.etcd.io/etcd/server/v3)
	mv "$bin/.build/etcd" "$bin/etcd"
fi
if ! built coredns || ! built dig; then
	echo "cluster: building coredns and dig into $bin" >&2
	(cd "$here/coredns" && go build -trimpath -ldflags "-s -w" -o "$bin/.build/" . ./dig)
	mv "$bin/.build/coredns" "$bin/.build/dig" "$bin/"
fi
if [ "${1:-}" = e2e ] && ! built e2e.test; then
	echo "cluster: building e2e.test into $bin" >&2
	(cd "$here/k8s" && go test -c -vet=off -trimpath -ldflags "$ldflags" -o "$bin/.build/e2e.test" k8s.io/kubernetes/test/e2e)
	mv "$bin/.build/e2e.test" "$bin/e2e.test"
fi
# The files the e2e images carry besides agnhost (porter's TLS pair, kitten's and
# nautilus' pages), from the pinned module's source.
images=$(dirname "$bin")/images
if [ ! -f "$images/.done" ]; then
	src=$(cd "$here/k8s" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images
	mkdir -p "$images/agnhost" "$images/kitten" "$images/nautilus"
	cp "$src/agnhost/porter/localhost.crt" "$src/agnhost/porter/localhost.key" "$images/agnhost/"
	cp "$src/kitten/html/"* "$images/kitten/"
	cp "$src/nautilus/html/"* "$images/nautilus/"
	chmod -R u+w "$images"
	touch "$images/.done"
fi
rmdir "$bin/.build" 2>/dev/null || true
echo "$bin"
