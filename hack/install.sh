#!/bin/sh
# hack/install.sh install|uninstall — what `make install` and `make uninstall` run.
#
#   DESTDIR     staging root (packaging); empty installs for real
#   PREFIX      /usr/local: crid and crid-monitor go to $PREFIX/bin (kept together: crid
#               looks for crid-monitor next to itself)
#   UNITDIR     /etc/systemd/system: crid.service, its ExecStart pointing at $PREFIX/bin/crid
#   SYSCONFDIR  /etc: a commented default $SYSCONFDIR/crid/crid.toml only if none exists,
#               and the empty drop-in dir crid.d/
#   BIN         where the built binaries are (make build's bin/)
#
# uninstall removes the binaries and the unit; it never removes the config, which may be
# the operator's own.
set -eu

action=${1:?usage: $0 install|uninstall}
here=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SYSCONFDIR=${SYSCONFDIR:-/etc}
BIN=${BIN:-$here/bin}

bindir=$DESTDIR$PREFIX/bin
unit=$DESTDIR$UNITDIR/crid.service
confdir=$DESTDIR$SYSCONFDIR/crid

# systemd reads units only after daemon-reload; only for a real install on a systemd host.
reload_systemd() {
	if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl daemon-reload
	fi
}

case $action in
install)
	for b in crid crid-monitor; do
		[ -x "$BIN/$b" ] || { echo "$BIN/$b missing: run make build first" >&2; exit 1; }
	done
	install -d -m 0755 "$bindir" "$(dirname "$unit")"
	install -m 0755 "$BIN/crid" "$BIN/crid-monitor" "$bindir/"
	sed "s#^ExecStart=/usr/local/bin/crid\$#ExecStart=$PREFIX/bin/crid#" "$here/hack/systemd/crid.service" >"$unit.tmp"
	chmod 0644 "$unit.tmp"
	mv "$unit.tmp" "$unit"
	install -d -m 0755 "$confdir" "$confdir/crid.d"
	if [ -e "$confdir/crid.toml" ]; then
		echo "kept $confdir/crid.toml (crid config default prints the reference)"
	else
		"$BIN/crid" config default >"$confdir/crid.toml.tmp"
		chmod 0644 "$confdir/crid.toml.tmp"
		mv "$confdir/crid.toml.tmp" "$confdir/crid.toml"
		echo "wrote $confdir/crid.toml"
	fi
	reload_systemd
	echo "installed $bindir/crid, $bindir/crid-monitor, $unit; next: systemctl enable --now crid"
	;;
uninstall)
	rm -f "$bindir/crid" "$bindir/crid-monitor" "$unit"
	reload_systemd
	if [ -e "$confdir/crid.toml" ] || [ -d "$confdir/crid.d" ]; then
		echo "kept $confdir (your configuration)"
	fi
	;;
*)
	echo "usage: $0 install|uninstall" >&2
	exit 2
	;;
esac
