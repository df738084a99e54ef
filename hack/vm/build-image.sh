#!/usr/bin/env bash
# Builds the guest image of the VM tier for one Debian suite:
#   hack/vm/build-image.sh SUITE OUTDIR
# OUTDIR gets disk.raw (the root filesystem: ext4 made with mkfs.ext4 -d, no loop device),
# vmlinuz and initrd.img (booted directly by qemu), build.log and build-seconds.
# hack/vm/run.sh calls it once per cache key (see vm_image_dir); it needs root, debootstrap
# and the apt mirror.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The whole script is read before it runs (main is called on the last line), so editing it
# during a build cannot change what the build does.
main() {
	suite=$1 out=$2
	start=$SECONDS
	mirror=$(vm_mirror)
	packages=$(grep -v '^#' "$vm_dir/packages" | xargs | tr ' ' ,)

	mkdir -p "$(dirname "$out")"
	work=$(mktemp -d "$out.build.XXXXXX")
	vm_claim "$work"
	root=$work/root
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP

	echo "vm: debootstrap $suite from $mirror" >&2
	debootstrap --variant=minbase --components=main --include="$packages" \
		"$suite" "$root" "$mirror" >"$work/build.log" 2>&1 || {
		tail -n 30 "$work/build.log" >&2
		[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
		exit 1
	}

	echo crid-vm >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tcrid-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
	# A throwaway test guest with no network: root logs in on the serial console without a password.
	chroot "$root" passwd -d root >/dev/null

	install -m 0755 "$vm_dir/guest/crid-vm-run" "$root/usr/local/sbin/crid-vm-run"
	install -m 0644 "$vm_dir/guest/crid-vm-run.service" "$root/etc/systemd/system/crid-vm-run.service"
	chroot "$root" systemctl enable crid-vm-run.service >/dev/null 2>&1
	# Nothing periodic may run during a test; /tmp on disk as on the host (trixie mounts a tmpfs).
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer \
		e2scrub_all.timer fstrim.timer dpkg-db-backup.timer logrotate.timer systemd-tmpfiles-clean.timer \
		tmp.mount >/dev/null 2>&1

	# The tests' static busybox, where hack/setup.sh puts it on the host (busybox-static
	# conflicts with busybox as a package, so it is unpacked, not installed).
	mkdir -p "$root/var/cache/crid-setup/deb"
	chroot "$root" sh -c 'apt-get update -qq && cd /var/cache/crid-setup/deb && apt-get download -qq busybox-static' >>"$work/build.log" 2>&1 || {
		tail -n 30 "$work/build.log" >&2
		exit 1
	}
	dpkg-deb -x "$root"/var/cache/crid-setup/deb/busybox-static_*.deb "$work/bbs"
	# bin/busybox up to bookworm, usr/bin/busybox from trixie on (merged /usr).
	bbs=$(find "$work/bbs" -path '*bin/busybox' -type f | head -n 1)
	[ -n "$bbs" ] || { echo "vm: no busybox binary in busybox-static_*.deb" >&2; exit 1; }
	install -m 0755 "$bbs" "$root/var/cache/crid-setup/busybox-static"
	rm -rf "$root/var/cache/crid-setup/deb" "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
	chroot "$root" apt-get clean

	# Under emulation every module the initramfs loads costs seconds: it needs only the disk.
	echo MODULES=list >"$root/etc/initramfs-tools/conf.d/crid-vm"
	printf '%s\n' virtio_pci virtio_blk crc32c_generic ext4 >"$root/etc/initramfs-tools/modules"
	chroot "$root" update-initramfs -u -k all >>"$work/build.log" 2>&1
	# Nor does the guest need KVM or the PC speaker that udev would load at every boot.
	printf 'blacklist %s\n' kvm kvm_amd kvm_intel pcspkr >"$root/etc/modprobe.d/crid-vm.conf"

	vm_unmount_under "$root"
	cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
	cp "$root"/boot/initrd.img-* "$work/initrd.img"
	# Room for the tests' images and containers; the file is sparse and every run writes to a
	# copy-on-write overlay, never to it.
	truncate -s 12G "$work/disk.raw"
	mkfs.ext4 -q -F -L crid-vm -d "$root" "$work/disk.raw"

	mkdir -p "$out"
	mv "$work/build.log" "$work/vmlinuz" "$work/initrd.img" "$out/"
	echo $((SECONDS - start)) >"$out/build-seconds"
	mv "$work/disk.raw" "$out/disk.raw" # last: its presence marks a complete image
	echo "vm: built $suite image in $((SECONDS - start))s: $out" >&2
	# Images of this suite with other keys are stale. A guest still booted from one keeps
	# its open file, so removing them is safe.
	for old in "$vm_cache/$suite"-*; do
		[ "$old" != "$out" ] && [ -f "$old/disk.raw" ] || continue
		echo "vm: removing the stale image $old" >&2
		rm -rf "$old" "$old.lock"
	done
	exit
}

work=""
cleanup() {
	[ -n "$work" ] || return 0
	vm_unmount_under "$work"
	rm -rf "$work"
}

main "$@"; exit
