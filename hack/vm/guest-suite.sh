#!/usr/bin/env bash
# The VM suite, run inside a guest by hack/vm/test.sh (make test-vm) with this checkout
# shared at the same path. The guest compiles nothing: it runs what `make test-vm` built on
# the host (bin/, bin/vm/). Steps: the demo; the executor's (package oci) and the e2e tests
# that depend on the host's cgroups, kernel and security modules; then crid installed as a
# systemd service from hack/systemd/crid.service and test/vm against it, once per cgroup
# driver. The tests that
# prove what only a guest can (cgroup v2 limits, OOM, PSI, AppArmor, the systemd driver)
# skip on a host without it, so here each of them must PASS: a skip fails the suite.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
e2e_run=${VM_E2E_RUN:-'^Test(CgroupView|Resources|ContainerStats|StatsPressureAndIO|ContainerEvents|OOMKilled|Seccomp|AppArmor|SecurityContext|Privileged|SysctlSmuggling|PodFilesReadOnly|Restart|ExitWhileDown|ExitCodes|PodLifecycle|Status|HostPort|SystemdDriver|MonitorOwnScope|UserNamespacePod)'}
oci_run=${VM_OCI_RUN:-'^Test(PauseCannotReachTheHost|UserNamespace|PodUserNamespace|CgroupV|SystemdDriver|OOMKilled|NotOOMKilled|ExecAndUpdate|DeviceCgroup|AppArmor|Inside)'}
# What each step must have passed (not skipped) in a guest.
oci_required="TestSystemdDriverContainer TestSystemdDriverOOMKilled TestOOMKilled TestExecAndUpdate TestDeviceCgroup"
e2e_required="TestCgroupViewInContainer TestResources TestContainerStats TestStatsPressureAndIO TestOOMKilled
	TestAppArmorRuntimeDefault TestAppArmorLocalhostNotLoaded TestSystemdDriver TestMonitorOwnScopeWithCgroupfs"
vm_required="TestServiceUnit TestLimitsInOwnCgroupFiles TestPodSurvivesServiceRestart TestMonitorsOutsideServiceCgroup"
out=/var/tmp/crid-vm-suite
failed=()

# step NAME CMD...: runs one step, prints its result and time; its output is also kept in
# $out/NAME.log for required.
step() {
	local name=$1 start=$SECONDS rc
	shift
	echo "=== vm-suite: $name"
	"$@" 2>&1 | tee "$out/$name.log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		echo "=== vm-suite: $name: PASS in $((SECONDS - start))s"
	else
		echo "=== vm-suite: $name: FAIL (exit $rc) in $((SECONDS - start))s"
		failed+=("$name")
	fi
}

# required NAME TEST...: fails step NAME unless each TEST passed in it.
required() {
	local name=$1 t missing=()
	shift
	for t in "$@"; do
		grep -q "^--- PASS: $t " "$out/$name.log" || missing+=("$t")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "=== vm-suite: $name: FAIL: did not pass (skipped or not run) in the guest: ${missing[*]}"
		failed+=("$name (required)")
	fi
}

# service DRIVER: (re)starts the crid unit with that cgroup driver and runs test/vm on it.
service() {
	mkdir -p /etc/crid
	printf 'cgroup_driver = "%s"\n' "$1" >/etc/crid/crid.toml
	systemctl restart crid || { journalctl -u crid --no-pager | tail -n 40; return 1; }
	CRID_VM_SERVICE=crid CRID_VM_CGROUP_DRIVER=$1 "$repo/bin/vm/vm.test" -test.v -test.timeout 30m
	local rc=$?
	if [ $rc -ne 0 ]; then
		journalctl -u crid --no-pager | tail -n 60
		# systemd's own word on crid's units (why a scope's start job failed: "Failed to add
		# PIDs to scope's control group: <errno>"), which crid only sees as "job failed".
		echo "--- systemd (PID 1) on crid's units, failures:"
		journalctl -b --no-pager _PID=1 | grep -F crid | grep -i -E 'fail|refus|couldn' | tail -n 40
	fi
	return $rc
}

# The whole script is read before it runs (main is called on the last line): the guest reads
# it from the host's checkout, which may be edited during a run.
main() {
	. /etc/os-release
	echo "vm-suite: $PRETTY_NAME, kernel $(uname -r), $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup, AppArmor $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo absent)"
	mkdir -p "$out"
	install -m 0755 bin/crid bin/crid-monitor /usr/local/bin/
	install -m 0644 hack/systemd/crid.service /etc/systemd/system/crid.service
	systemctl daemon-reload

	step demo "$repo/bin/vm/demo" --bin-dir /usr/local/bin
	step oci sh -c "cd '$repo/oci' && '$repo/bin/vm/oci.test' -test.v -test.timeout 20m -test.run '$oci_run'"
	[ -n "${VM_OCI_RUN:-}" ] || required oci $oci_required
	step e2e sh -c "cd '$repo/test/e2e' && CRID_BIN_DIR=/usr/local/bin '$repo/bin/vm/e2e.test' -test.v -test.timeout 60m -test.run '$e2e_run'"
	[ -n "${VM_E2E_RUN:-}" ] || required e2e $e2e_required
	step cgroupfs-service service cgroupfs
	required cgroupfs-service $vm_required
	step systemd-service service systemd
	required systemd-service $vm_required TestSystemdDriverUnits
	systemctl stop crid

	if [ ${#failed[@]} -gt 0 ]; then
		echo "vm-suite: FAILED: ${failed[*]}"
		exit 1
	fi
	echo "vm-suite: all steps passed"
	exit 0
}

main "$@"; exit
