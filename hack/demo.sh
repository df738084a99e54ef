#!/usr/bin/env bash
# make demo: crid on its built-in defaults, end to end, through CRI only (hack/demo/main.go).
# Needs root, hack/setup.sh and make build. Exits non-zero if any step fails; leaves nothing
# behind (the Go program cleans up on every exit, including Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root" >&2; exit 1; }
for b in bin/crid bin/crid-monitor; do
	[ -x "$b" ] || { echo "demo: $b missing: run make build" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/crid-demo-bin.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/demo" ./hack/demo
"$tmp/demo" --bin-dir bin "$@"
