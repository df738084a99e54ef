#!/usr/bin/env bash
# Exits 0 when KVM can boot the guest kernel of image dir $1 on this host. On some hosts
# /dev/kvm exists but a KVM guest hangs before printing a line, so the only proof is a
# boot: the kernel must reach its "no root" panic within 15 s (TCG needs a few seconds; a
# working KVM under one). The answer is cached until the host reboots.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

main() {
	local img=$1 state=/run/crid-vm boot_id result=broken
	[ -w /dev/kvm ] || exit 1
	boot_id=$(cat /proc/sys/kernel/random/boot_id)
	mkdir -p "$state"
	if [ -f "$state/kvm" ] && [ "$(cut -d' ' -f1 "$state/kvm")" = "$boot_id" ]; then
		[ "$(cut -d' ' -f2 "$state/kvm")" = ok ]
		exit
	fi
	log=$(mktemp /var/tmp/crid-vm-kvm.XXXXXX)
	trap 'stop; rm -f "$log"' EXIT
	trap 'exit 130' INT TERM HUP
	"${vm_qemu[@]}" -accel kvm -cpu host -m 256 -nodefaults -display none -monitor none \
		-serial "file:$log" -no-reboot -nic none -kernel "$img/vmlinuz" \
		-append "console=ttyS0 panic=-1 root=/dev/crid-vm-probe-none" </dev/null >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	stop
	grep -q "Kernel panic" "$log" && result=ok
	echo "$boot_id $result" >"$state/kvm"
	[ $result = ok ]
	exit
}

log="" pid=""
stop() {
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=""
}

main "$@"; exit
