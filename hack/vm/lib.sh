# Shared by hack/vm/*.sh (sourced).

vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm_cache=${CRID_VM_CACHE:-/var/cache/crid-vm}

# vm_mirror prints the Debian mirror apt uses on this host (deb822 .sources first, then the
# one-line format), so the guests come from the same place as the host's packages.
vm_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return; }
	done
	echo "vm: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
	return 1
}

# vm_image_dir prints where the image of suite $1 is cached: keyed by everything that goes
# into it (build script, package list, guest files), so a change rebuilds it.
vm_image_dir() {
	local key
	key=$( { echo "$1"; cat "$vm_dir/build-image.sh" "$vm_dir/packages"; find "$vm_dir/guest" -type f | sort | xargs cat; } | sha256sum | cut -c1-12)
	echo "$vm_cache/$1-$key"
}

# vm_unmount_under unmounts everything mounted at or below $1, deepest first.
vm_unmount_under() {
	local m
	awk -v p="$1" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
}

# vm_claim DIR: marks DIR (a run's or an image build's scratch directory) as in use for as
# long as this shell lives, by holding an flock on DIR/.owner on fd 8. A runner killed with
# SIGKILL runs no trap; the next run finds its directory unlocked and vm_reap_stale removes it.
vm_claim() {
	exec 8>"$1/.owner"
	flock -n 8
}

# vm_reap_stale removes what runs and image builds killed without their traps left behind:
# scratch directories nobody holds (mounts under them first).
vm_reap_stale() {
	local d
	for d in /var/tmp/crid-vm-run.* "$vm_cache"/*.build.*; do
		[ -d "$d" ] || continue
		# A directory without .owner is being set up right now (vm_claim follows mktemp).
		[ -f "$d/.owner" ] || continue
		flock -n "$d/.owner" true || continue
		echo "vm: removing $d, left by a run that was killed" >&2
		vm_unmount_under "$d"
		rm -rf "$d"
	done
}

# vm_qemu is the qemu command line's start: qemu dies with the shell that started it (a
# parent-death signal, SIGKILL, set before exec), so even a SIGKILLed runner leaves no guest
# behind. Start it as a simple command ("${vm_qemu[@]}" ... &) so that shell is its parent.
vm_qemu=(setpriv --pdeathsig KILL -- qemu-system-x86_64)
