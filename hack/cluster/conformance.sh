#!/usr/bin/env bash
# make conformance: the upstream [Conformance] specs of sig-node, sig-apps and sig-network
# (FOCUS overrides) from the e2e.test of the pinned k8s.io/kubernetes, against a cluster of
# NODES crid nodes brought up here and taken down afterwards, pass or fail. Specs that
# cannot pass on this setup are skipped by hack/cluster/conformance-skip.txt, each with its
# reason. Parallel specs run on PARALLEL ginkgo processes, then the [Serial] ones alone
# (SERIAL=0 leaves them out, SERIAL=only runs only them).
# Prints "N passed, N failed, N skipped"; the JUnit reports stay in $BIN/conformance.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../../bin}
NODES=${NODES:-2}
PARALLEL=${PARALLEL:-3}
TIMEOUT=${TIMEOUT:-3h}   # ginkgo's, per pass: specs not started by then count as not run
FOCUS=${FOCUS:-'\[sig-(node|apps|network)\].*\[Conformance\]'}
out=$BIN/conformance
k8s=$("$here/build.sh" e2e | tail -1)

# The skip list: one regex per line, "  # " and the reason after it.
# An empty alternative would match every spec: the list is joined only when it has lines,
# and a never-matching pattern stands in for none.
skip=$(sed -e 's/[[:space:]]\+#.*$//' -e '/^[[:space:]]*$/d' -e '/^#/d' "$here/conformance-skip.txt" | paste -sd'|')
skip=${skip:-'^$'}

rm -rf "$out" && mkdir -p "$out"
"$BIN/cluster" up --nodes "$NODES" --k8s-bin "$k8s" --crid-bin "$BIN"
trap '"$BIN/cluster" down' EXIT
export KUBECONFIG=/var/lib/crid-cluster/kubeconfig/admin.conf

args=(--kubeconfig="$KUBECONFIG" --provider=skeleton --kubectl-path="$k8s/kubectl"
	--report-dir="$out" --dump-logs-on-failure=false --allowed-not-ready-nodes=0)
t0=$(date +%s)
status=0
reports=()
# --keep-going: one failed spec does not stop the others; the exit code still says it.
if [ "${SERIAL:-1}" != only ]; then
	reports+=("$out/junit-parallel.xml")
	"$k8s/ginkgo" --nodes="$PARALLEL" --keep-going --timeout="$TIMEOUT" --focus="$FOCUS" --skip="$skip|\[Serial\]" \
		--junit-report=junit-parallel.xml --output-dir="$out" --no-color "$k8s/e2e.test" -- "${args[@]}" \
		> "$out/parallel.log" 2>&1 || status=1
fi
if [ "${SERIAL:-1}" != 0 ]; then
	reports+=("$out/junit-serial.xml")
	# By label: the [Serial] tag sits between the sig and [Conformance] in the names
	# ("[sig-apps] Daemon set [Serial] should ... [Conformance]"), where a regex built
	# around FOCUS missed it (the first runs' serial pass ran none).
	"$k8s/ginkgo" --nodes=1 --keep-going --timeout="$TIMEOUT" --focus="$FOCUS" --label-filter=Serial --skip="$skip" \
		--junit-report=junit-serial.xml --output-dir="$out" --no-color "$k8s/e2e.test" -- "${args[@]}" \
		> "$out/serial.log" 2>&1 || status=1
fi
echo "conformance: $(( ($(date +%s) - t0) / 60 )) min on $NODES nodes; reports and logs in $out"
"$BIN/cluster" summary --focus "$FOCUS" --skip-list "$here/conformance-skip.txt" "${reports[@]}"
exit $status
