#!/usr/bin/env bash
# Runs a command as root inside a Debian guest booted with qemu (the VM tier):
#
#   hack/vm/run.sh --suite bookworm [--share DIR]... [--timeout SEC] [--mem MIB] [--cpus N]
#                  [--console FILE] -- CMD [ARG...]
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

suite="" timeout=3600 mem=3072 cpus=2 console="" shares=()
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--suite) suite=$2; shift 2 ;;
	--share) shares+=("$(cd "$2" && pwd)"); shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--console) console=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ -n "$suite" ] && [ $# -gt 0 ] || usage
[ "$(id -u)" -eq 0 ] || { echo "vm: run as root" >&2; exit 2; }

# The image: built once per cache key; a lock keeps concurrent runs from building it twice.
img=$(vm_image_dir "$suite")
mkdir -p "$vm_cache"
if [ ! -f "$img/disk.raw" ]; then
	exec 9>"$img.lock"
	flock 9
	[ -f "$img/disk.raw" ] || "$vm_dir/build-image.sh" "$suite" "$img"
	exec 9>&-
fi

run=$(mktemp -d /var/tmp/crid-vm-run.XXXXXX)
qemu_pid="" tail_pid=""
stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	stop_pid "$qemu_pid"
	stop_pid "$tail_pid"
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl=$run/ctl
mkdir -p "$ctl"
: >"$ctl/output"
printf '%q ' "$@" >"$ctl/cmd"
echo >>"$ctl/cmd"
pwd >"$ctl/cwd"
virtfs=(-virtfs "local,path=$ctl,mount_tag=crid-vm-ctl,security_model=none,id=ctl")
: >"$ctl/shares"
for i in "${!shares[@]}"; do
	echo "share$i ${shares[$i]}" >>"$ctl/shares"
	virtfs+=(-virtfs "local,path=${shares[$i]},mount_tag=share$i,security_model=none,id=share$i")
done
qemu-img create -q -f qcow2 -F raw -b "$img/disk.raw" "$run/disk.qcow2"

accel=(-accel tcg,thread=multi -cpu max)
if "$vm_dir/kvm-probe.sh" "$img"; then
	accel=(-accel kvm -cpu host)
fi

start=$SECONDS
qemu-system-x86_64 "${accel[@]}" -smp "$cpus" -m "$mem" \
	-nodefaults -display none -monitor none -serial "file:$run/console.log" -no-reboot \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off" \
	-drive "file=$run/disk.qcow2,if=virtio,format=qcow2,cache=unsafe" \
	-device virtio-rng-pci -nic none "${virtfs[@]}" \
	</dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f "$ctl/output" &
tail_pid=$!

timed_out=""
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		timed_out=1
		break
	fi
	sleep 1
done
if [ -n "$timed_out" ]; then
	kill "$qemu_pid"
fi
wait "$qemu_pid" || true
qemu_pid=""
sleep 0.5 # let tail print the last lines
stop_pid "$tail_pid"
tail_pid=""
[ -n "$console" ] && cp "$run/console.log" "$console"

boot=$(cat "$ctl/boot-seconds" 2>/dev/null || echo "?")
rc=125
if [ -n "$timed_out" ]; then
	echo "vm: $suite: timed out after ${timeout}s (guest booted in ${boot}s)" >&2
	rc=124
elif [ -f "$ctl/rc" ]; then
	rc=$(cat "$ctl/rc")
	echo "vm: $suite: exit $rc after $((SECONDS - start))s (guest booted in ${boot}s)" >&2
else
	echo "vm: $suite: the guest stopped without running the command" >&2
	cat "$run/qemu.log" >&2
fi
if [ "$rc" -ne 0 ]; then
	echo "vm: $suite: last lines of the guest's serial console:" >&2
	tail -n 60 "$run/console.log" >&2
fi
exit "$rc"
