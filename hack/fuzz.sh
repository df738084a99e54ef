#!/usr/bin/env bash
# Go native fuzzing of every parser crid runs on untrusted bytes.
#
#   hack/fuzz.sh -l            list the targets (package and Fuzz function)
#   hack/fuzz.sh [REGEX]       fuzz each target whose name matches REGEX (default: all)
#
# Each target runs for FUZZTIME (default 30s) from its seed corpus (f.Add and
# <package>/testdata/fuzz/<Target>/, which plain `go test` also runs, so CI replays them).
# A failing input is written by go test to <package>/testdata/fuzz/<Target>/: commit it
# with the fix, it becomes a seed. FUZZPARALLEL sets the workers (default: go's, one per
# CPU); FUZZMINIMIZETIME bounds the minimisation of each new input (default 10s). Ends
# with a table of each target's time, executions and result; exits 1 if any target failed.
#
# A FUZZTIME of a duration is not given to go as -fuzztime: go 1.26's coordinator can
# fail a target that found nothing with a bare "context deadline exceeded" when that
# deadline fires (golang/go#75804: it wakes on the deadline before the workers' context
# is cancelled, and the check that should swallow the deadline compares against the
# workers' error, still nil). Each target's test binary is built first (go test -c
# -fuzz) and stopped with SIGINT after FUZZTIME, which go handles without that race
# (testing's own interrupt context, compared with itself). A count (FUZZTIME=5000x) is
# passed as -fuzztime: it sets no deadline.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${FUZZTIME:-30s}
minimize=${FUZZMINIMIZETIME:-10s}
parallel=()
[ -n "${FUZZPARALLEL:-}" ] && parallel=(-test.parallel "$FUZZPARALLEL")

list() {
	grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sed 's|^\./||' | sort -u |
		while IFS= read -r pkg; do
			grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | sed 's/^func //' | sort -u |
				sed "s|^|$pkg |"
		done
}

if [ "${1:-}" = -l ]; then
	list
	exit 0
fi
filter=${1:-.}

# fuzz PKG TARGET: the package's instrumented test binary, run in the package's directory
# (as go test does: failing inputs go to its testdata/fuzz) with go test's fuzz cache.
fuzz() {
	local bin=$work/${1//\//_}.test args stop=()
	"$go" test -c -fuzz "^$2\$" -o "$bin" "./$1" || return
	args=(-test.run '^$' -test.fuzz "^$2\$" -test.fuzzminimizetime "$minimize"
		-test.fuzzcachedir "$("$go" env GOCACHE)/fuzz/$("$go" list "./$1")" "${parallel[@]}")
	if [[ $fuzztime == *x ]]; then
		args+=(-test.fuzztime "$fuzztime")
	else
		# Only the coordinator gets SIGINT: it stops its workers itself. A coordinator that
		# does not stop within a minute is killed (and the target fails).
		stop=(timeout --foreground --preserve-status -k 60s -s INT "$fuzztime")
	fi
	(cd "$1" && "${stop[@]}" "$bin" "${args[@]}")
}

status=0
summary=()
work=$(mktemp -d)
log=$work/log
trap 'rm -rf "$work"' EXIT
while read -r pkg target; do
	[[ $target =~ $filter ]] || continue
	echo "fuzz: $pkg $target ($fuzztime)"
	result=ok
	if ! fuzz "$pkg" "$target" </dev/null 2>&1 | tee "$log"; then
		result=FAIL
		status=1
	fi
	last=$(grep -E '^fuzz: elapsed' "$log" | tail -n 1 || true)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	elapsed=$(sed -nE 's/^fuzz: elapsed: ([^,]+),.*/\1/p' <<<"$last")
	summary+=("$(printf '%-28s %-26s %8s %12s  %s' "$target" "$pkg" "${elapsed:--}" "${execs:--}" "$result")")
done < <(list)

printf '\n%-28s %-26s %8s %12s  %s\n' target package time execs result
printf '%s\n' "${summary[@]}"
exit $status
