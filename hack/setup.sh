#!/usr/bin/env bash
# Installs what crid, its tests and its demo need on Debian 12 (with "vm": also the VM tier's
# tools). Idempotent: it installs only
# what is missing, so a second run costs a few dpkg queries.
set -euo pipefail

packages=(
	busybox                       # test images and the demo are built from it (dynamic, hard-linked applets)
	containernetworking-plugins   # bridge, host-local, portmap, loopback, bandwidth in /usr/lib/cni
	libseccomp-dev                # cgo build of the seccomp filter
	iptables                      # portmap and bridge plugins
	iproute2                      # tests inspect links and netns
	pkg-config
	curl                          # the demo fetches a page from the pod
	apparmor                      # apparmor_parser: compiles crid's RuntimeDefault profile in tests (nodes with AppArmor load it)
	runc crun                     # external OCI runtimes the runtime-handler e2e tests drive (crid itself never needs one)
)
# `hack/setup.sh vm` (make test-vm) also installs what the VM tier needs (hack/vm/).
if [ "${1:-}" = vm ]; then
	packages+=(
		qemu-system-x86   # boots the Debian guests (hack/vm/run.sh)
		qemu-utils        # qemu-img: a copy-on-write overlay per run over the cached image
		debootstrap       # builds the guest root filesystems from the apt mirror
		e2fsprogs         # mkfs.ext4 -d: a disk image from a directory, no loop device
	)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# busybox-static conflicts with busybox as a package; tests that want a static shell extract
# its binary from the .deb instead of installing it.
static=/var/cache/crid-setup/busybox-static
if [ ! -x "$static" ]; then
	mkdir -p /var/cache/crid-setup/deb
	(cd /var/cache/crid-setup/deb && apt-get download -qq busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq busybox-static; })
	dpkg-deb -x /var/cache/crid-setup/deb/busybox-static_*.deb /var/cache/crid-setup/deb/x
	# bin/busybox up to Debian 12, usr/bin/busybox from Debian 13 on (merged /usr).
	install -m 0755 "$(find /var/cache/crid-setup/deb/x -path '*bin/busybox' -type f | head -n 1)" "$static"
fi

go mod download
