#!/usr/bin/env bash
# The VM suite, run inside a guest by hack/vm/test.sh (make test-vm) with this checkout
# shared at the same path. The guest compiles nothing: it runs what `make test-vm` built on
# the host (bin/, bin/vm/). Steps: the demo; the e2e tests that depend on the host's
# cgroups, kernel and security modules; then crid installed as a systemd service from
# hack/systemd/crid.service and test/vm against it, once per cgroup driver.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
e2e_run=${VM_E2E_RUN:-'^Test(CgroupView|Resources|ContainerStats|StatsPressureAndIO|ContainerEvents|OOMKilled|Seccomp|AppArmor|SecurityContext|Privileged|SysctlSmuggling|PodFilesReadOnly|Restart|ExitWhileDown|ExitCodes|PodLifecycle|Status|HostPort)'}
failed=()

# step NAME CMD...: runs one step, prints its result and time.
step() {
	local name=$1 start=$SECONDS rc
	shift
	echo "=== vm-suite: $name"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "=== vm-suite: $name: PASS in $((SECONDS - start))s"
	else
		echo "=== vm-suite: $name: FAIL (exit $rc) in $((SECONDS - start))s"
		failed+=("$name")
	fi
}

# service DRIVER: (re)starts the crid unit with that cgroup driver and runs test/vm on it.
service() {
	mkdir -p /etc/crid
	printf 'cgroup_driver = "%s"\n' "$1" >/etc/crid/crid.toml
	systemctl restart crid || { journalctl -u crid --no-pager | tail -n 40; return 1; }
	CRID_VM_SERVICE=crid CRID_VM_CGROUP_DRIVER=$1 "$repo/bin/vm/vm.test" -test.v -test.timeout 30m
	local rc=$?
	[ $rc -eq 0 ] || journalctl -u crid --no-pager | tail -n 60
	return $rc
}

. /etc/os-release
echo "vm-suite: $PRETTY_NAME, kernel $(uname -r), $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup, AppArmor $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo absent)"
install -m 0755 bin/crid bin/crid-monitor /usr/local/bin/
install -m 0644 hack/systemd/crid.service /etc/systemd/system/crid.service
systemctl daemon-reload

step demo "$repo/bin/vm/demo" --bin-dir /usr/local/bin
step e2e sh -c "cd '$repo/test/e2e' && CRID_BIN_DIR=/usr/local/bin '$repo/bin/vm/e2e.test' -test.v -test.timeout 60m -test.run '$e2e_run'"
step "service (cgroupfs driver)" service cgroupfs
step "service (systemd driver)" service systemd
systemctl stop crid

if [ ${#failed[@]} -gt 0 ]; then
	echo "vm-suite: FAILED: ${failed[*]}"
	exit 1
fi
echo "vm-suite: all steps passed"
