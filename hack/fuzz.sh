#!/usr/bin/env bash
# Runs every Fuzz* target of the module for FUZZTIME each (default 10s), starting
# from its seed corpus (f.Add and testdata/fuzz): offline, after make deps.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
go=${GO:-go}
status=0
while IFS= read -r pkgdir; do
	for target in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$pkgdir"/*_test.go | sed 's/^func //' | sort -u); do
		echo "fuzz: $pkgdir $target ($fuzztime)"
		"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$pkgdir" || status=1
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sed 's|^\./||' | sort -u)
exit $status
