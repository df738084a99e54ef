#!/usr/bin/env bash
# make test-vm: the VM suite (hack/vm/guest-suite.sh) in one guest per Debian suite named,
# one after the other, with this checkout shared. Needs what `make test-vm` builds first
# (bin/, bin/vm/). Prints per suite: kernel, result, top-level test counts, boot and suite
# time; the whole log of each is kept in bin/vm/<suite>.log. Exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# The whole script is read before it runs (main is called on the last line), so editing it
# during a run cannot change what the run does.
main() {
	[ $# -gt 0 ] || { echo "usage: hack/vm/test.sh SUITE..." >&2; exit 2; }
	summary=() rc=0
	for suite in "$@"; do
		log=$repo/bin/vm/$suite.log
		start=$SECONDS
		set +e
		# run.sh gets SIGTERM (and stops its guest) if this script dies.
		setpriv --pdeathsig TERM -- hack/vm/run.sh --suite "$suite" --share "$repo" --timeout "${VM_TIMEOUT:-5400}" \
			-- "$repo/hack/vm/guest-suite.sh" 2>&1 | tee "$log"
		status=${PIPESTATUS[0]}
		set -e
		[ "$status" -eq 0 ] || rc=1
		pass=$(grep -c '^--- PASS' "$log" || true)
		fail=$(grep -c '^--- FAIL' "$log" || true)
		skip=$(grep -c '^--- SKIP' "$log" || true)
		kernel=$(sed -n 's/^vm-suite: .*kernel \([^,]*\),.*/\1/p' "$log" | head -1)
		boot=$(sed -n 's/.*(guest booted in \([0-9.?]*\)s).*/\1/p' "$log" | tail -1)
		built=$(sed -n 's/^vm: built .* image in \([0-9]*\)s.*/, image built in \1s/p' "$log" | tail -1)
		result=PASS
		[ "$status" -eq 0 ] || result="FAIL (exit $status)"
		summary+=("$(printf '%-9s kernel %-16s %-14s tests: %3d passed %2d failed %2d skipped; boot %ss, total %ds%s' \
			"$suite" "${kernel:-?}" "$result" "$pass" "$fail" "$skip" "${boot:-?}" $((SECONDS - start)) "$built")")
		while read -r line; do summary+=("    ${line#=== vm-suite: }"); done < <(grep -E '^=== vm-suite: .*: (PASS|FAIL)' "$log" || true)
		while read -r line; do summary+=("      $line"); done < <(grep -E '^ *--- FAIL' "$log" || true)
	done
	echo
	echo "make test-vm:"
	printf '  %s\n' "${summary[@]}"
	exit $rc
}

main "$@"; exit
