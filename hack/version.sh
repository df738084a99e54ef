#!/bin/sh
# crid's version, which the Makefile stamps into the binaries (config.Version): a semantic
# version, because kubelet parses the CRI runtime version as one (anything else shows as
# "crid://Unknown" in `kubectl get nodes -o wide`). The tag on HEAD (v1.2.3) when there is
# one, else the commit as a Go pseudo-version: v0.0.0-<commit time, UTC>-<12 hex digits>;
# "+dirty" when tracked files have uncommitted changes. Outside a git checkout: v0.0.0-dev.
set -eu
cd "$(dirname "$0")/.."
rev=$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo v0.0.0-dev; exit 0; }
v=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null) ||
	v=v0.0.0-$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S)-$rev
git diff --quiet HEAD 2>/dev/null || v=$v+dirty
echo "$v"
