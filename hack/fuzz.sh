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
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${FUZZTIME:-30s}
minimize=${FUZZMINIMIZETIME:-10s}
parallel=()
[ -n "${FUZZPARALLEL:-}" ] && parallel=(-parallel "$FUZZPARALLEL")

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

status=0
summary=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while read -r pkg target; do
	[[ $target =~ $filter ]] || continue
	echo "fuzz: $pkg $target ($fuzztime)"
	result=ok
	if ! "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" \
		"${parallel[@]}" "./$pkg" </dev/null 2>&1 | tee "$log"; then
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
