#!/usr/bin/env bash
# Runs a command as root inside a Debian guest booted with qemu (the VM tier):
#
#   hack/vm/run.sh --suite bookworm [--share DIR]... [--timeout SEC] [--boot-timeout SEC]
#                  [--mem MIB] [--cpus N] [--console FILE] -- CMD [ARG...]
#
# The guest image (systemd, cgroup v2, AppArmor, the suite's own kernel) is built once per
# suite and cached under /var/cache/crid-vm (hack/vm/build-image.sh); each run boots a
# copy-on-write overlay of it, so the cache stays pristine. Each --share DIR is mounted at
# the same path in the guest (9p, read-write): binaries in, results out. CMD runs with the
# current directory if it lies in a share, after systemd reached multi-user.target; its
# output streams here, its exit code is this script's. On failure or timeout the tail of
# the guest's serial console is printed. No qemu process, mount or loop device outlives it.
# Exit codes: CMD's; 124 on timeout; 125 when the guest never ran CMD.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The whole script is read before it runs (main is called on the last line), so editing it
# during a run cannot change what the run does.
main() {
	local suite="" timeout=3600 boot_timeout=900 mem=3072 cpus=2 console="" shares=() i
	while [ $# -gt 0 ]; do
		case $1 in
		--suite) suite=$2; shift 2 ;;
		--share) shares+=("$(cd "$2" && pwd)"); shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--boot-timeout) boot_timeout=$2; shift 2 ;;
		--mem) mem=$2; shift 2 ;;
		--cpus) cpus=$2; shift 2 ;;
		--console) console=$2; shift 2 ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	[ -n "$suite" ] && [ $# -gt 0 ] || usage
	[ "$(id -u)" -eq 0 ] || { echo "vm: run as root" >&2; exit 2; }
	mkdir -p "$vm_cache"
	vm_reap_stale

	# The image: built once per cache key; a lock keeps concurrent runs from building it twice.
	img=$(vm_image_dir "$suite")
	if [ ! -f "$img/disk.raw" ]; then
		exec 9>"$img.lock"
		flock 9
		[ -f "$img/disk.raw" ] || "$vm_dir/build-image.sh" "$suite" "$img"
		exec 9>&-
	fi

	run=$(mktemp -d /var/tmp/crid-vm-run.XXXXXX)
	vm_claim "$run"
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP

	ctl=$run/ctl
	mkdir -p "$ctl"
	printf '%q ' "$@" >"$ctl/cmd"
	echo >>"$ctl/cmd"
	pwd >"$ctl/cwd"
	virtfs=(-virtfs "local,path=$ctl,mount_tag=crid-vm-ctl,security_model=none,id=ctl")
	: >"$ctl/shares"
	for i in "${!shares[@]}"; do
		echo "share$i ${shares[$i]}" >>"$ctl/shares"
		virtfs+=(-virtfs "local,path=${shares[$i]},mount_tag=share$i,security_model=none,id=share$i")
	done

	accel=(-accel tcg,thread=multi -cpu max)
	if "$vm_dir/kvm-probe.sh" "$img" 2>/dev/null; then
		accel=(-accel kvm -cpu host)
	fi

	# One guest at a time on this host: two emulated guests on a small machine each run so
	# slowly that their tests' timeouts would fire. Others wait here, timeout not running.
	exec 7>"$vm_cache/guest.lock"
	if ! flock -n 7; then
		echo "vm: $suite: waiting for another run's guest to finish (one guest at a time)" >&2
		flock 7
	fi

	start=$SECONDS
	boot "$@"
	# Under emulation on a loaded host the kernel's IO-APIC timer check can fail (a panic,
	# "IO-APIC + timer doesn't work!") although no_timer_check skips most of it: a quirk of
	# the emulator, not of crid, so a guest that died of it before running anything boots
	# once more. Test failures are never retried.
	if [ ! -f "$ctl/boot-seconds" ] && grep -q "IO-APIC + timer doesn't work" "$run/console.log"; then
		echo "vm: $suite: the guest kernel panicked in its IO-APIC timer check (an emulation quirk); booting again" >&2
		tail -n 5 "$run/console.log" >&2
		boot "$@"
	fi
	[ -n "$console" ] && cp "$run/console.log" "$console"

	local bootsec rc=125
	bootsec=$(cat "$ctl/boot-seconds" 2>/dev/null || echo "?")
	if [ -n "$timed_out" ]; then
		echo "vm: $suite: $timed_out (guest booted in ${bootsec}s)" >&2
		rc=124
	elif [ -f "$ctl/rc" ]; then
		rc=$(cat "$ctl/rc")
		echo "vm: $suite: exit $rc after $((SECONDS - start))s (guest booted in ${bootsec}s)" >&2
	else
		echo "vm: $suite: the guest stopped without running the command" >&2
		cat "$run/qemu.log" >&2
	fi
	if [ "$rc" -ne 0 ]; then
		echo "vm: $suite: last lines of the guest's serial console:" >&2
		tail -n 80 "$run/console.log" >&2
	fi
	exit "$rc"
}

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

run="" qemu_pid="" tail_pid="" timed_out=""

stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

cleanup() {
	stop_pid "$qemu_pid"
	stop_pid "$tail_pid"
	[ -z "$run" ] || rm -rf "$run"
}

# boot: one boot of the guest on a fresh overlay, streaming the command's output until qemu
# exits (the guest powers off after the command) or a timeout kills it.
boot() {
	local t0=$SECONDS
	rm -f "$run/disk.qcow2" "$ctl/boot-seconds" "$ctl/rc"
	: >"$ctl/output"
	qemu-img create -q -f qcow2 -F raw -b "$img/disk.raw" "$run/disk.qcow2"
	"${vm_qemu[@]}" "${accel[@]}" -smp "$cpus" -m "$mem" \
		-nodefaults -display none -monitor none -serial "file:$run/console.log" -no-reboot \
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off no_timer_check" \
		-drive "file=$run/disk.qcow2,if=virtio,format=qcow2,cache=unsafe" \
		-device virtio-rng-pci -nic none "${virtfs[@]}" \
		</dev/null >"$run/qemu.log" 2>&1 &
	qemu_pid=$!
	tail --pid=$$ -n +1 -f "$ctl/output" &
	tail_pid=$!

	timed_out=""
	while kill -0 "$qemu_pid" 2>/dev/null; do
		if [ $((SECONDS - t0)) -ge "$timeout" ]; then
			timed_out="timed out after ${timeout}s"
		elif [ ! -f "$ctl/boot-seconds" ] && [ $((SECONDS - t0)) -ge "$boot_timeout" ]; then
			timed_out="the guest did not come up within ${boot_timeout}s"
		fi
		[ -z "$timed_out" ] || break
		sleep 1
	done
	[ -z "$timed_out" ] || kill "$qemu_pid" 2>/dev/null || true
	wait "$qemu_pid" || true
	qemu_pid=""
	sleep 0.5 # let tail print the last lines
	stop_pid "$tail_pid"
	tail_pid=""
}

main "$@"; exit
