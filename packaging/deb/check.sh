#!/usr/bin/env bash
# Build the Debian package, install it on this machine, check what it
# installed, then purge it: the package works as a Debian admin meets it.
# CI runs it (.ci/run); run it as root on a machine (or container) where
# knockdaemon is not installed. It starts no service: the unit is only
# verified, and knockdaemon -test (which changes no firewall) runs in a
# network namespace of its own. Whatever happens, the package is purged and
# the namespace removed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "check.sh: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "run as root: it installs the package with dpkg -i"
if dpkg-query -W -f='${Status}' knockdaemon 2>/dev/null | grep -Eq 'ok (installed|config-files)'; then
	fail "knockdaemon is installed here (or its configuration is); this check would purge it"
fi

tmp=$(mktemp -d)
ns=knockdeb-$$
installed=
cleanup() {
	set +e
	ip netns del "$ns" 2>/dev/null
	if [ -n "$installed" ]; then
		step "dpkg --purge knockdaemon"
		dpkg --purge knockdaemon
		for f in /etc/knockdaemon.conf /usr/sbin/knockdaemon /lib/systemd/system/knockdaemon.service /var/lib/knockdaemon; do
			[ ! -e "$f" ] || echo "check.sh: FAIL: $f is left after the purge" >&2
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

step "build"
deb=$("$here/build.sh" "$tmp")
version=$(dpkg-deb -f "$deb" Version)
echo "$deb"

step "lintian --fail-on error,warning"
lintian --fail-on error,warning "$deb" || fail "lintian"

step "dpkg -i"
installed=yes
dpkg -i "$deb"
dpkg-query -W -f='${Conffiles}\n' knockdaemon | grep -q '^ /etc/knockdaemon.conf ' || fail "/etc/knockdaemon.conf is not a conffile"
for f in /usr/sbin/knockdaemon /usr/bin/knockclient /usr/bin/knocklab \
	/usr/share/man/man8/knockdaemon.8.gz /usr/share/man/man1/knockclient.1.gz /usr/share/man/man1/knocklab.1.gz; do
	[ -e "$f" ] || fail "$f is missing"
done
# Installed, not enabled: nothing wants it until the admin says so.
if ls /etc/systemd/system/*.wants/knockdaemon.service >/dev/null 2>&1; then
	fail "the postinst enabled knockdaemon.service"
fi

step "-version"
for cmd in knockdaemon knockclient knocklab; do
	line=$("$cmd" -version)
	echo "$line"
	[[ $line == "$cmd ${version%-*} (go"*")" ]] || fail "$cmd -version printed \"$line\""
done

step "systemd-analyze verify"
systemd-analyze verify /lib/systemd/system/knockdaemon.service || fail "systemd-analyze verify"

# The daemon's checks run in a network namespace of their own, so that
# nothing in this machine's network or firewall can change.
ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }

step "knockdaemon -test -conf /etc/knockdaemon.conf (as installed: no key yet)"
set +e
out=$(inns timeout 20 knockdaemon -test -conf /etc/knockdaemon.conf 2>&1)
rc=$?
set -e
echo "$out"
echo "exit status $rc"
if [ -e /etc/knock.key ]; then
	echo "(this machine has /etc/knock.key: the configuration is complete)"
else
	[ "$rc" = 1 ] && [[ $out == *"keyfile"*"knockclient -keygen"* ]] ||
		fail "expected exit 1 naming the missing key and how to make it"
fi

# With a key, as the unit runs it: only CAP_NET_ADMIN and CAP_NET_RAW,
# no new privileges.
step "knockdaemon -test with a key, capabilities as in the unit"
knockclient -keygen -keyfile "$tmp/knock.key" >/dev/null
set +e
out=$(inns setpriv --no-new-privs --bounding-set=-all,+net_admin,+net_raw \
	timeout 20 knockdaemon -test -conf /etc/knockdaemon.conf \
	-keyfile "$tmp/knock.key" -replayfile "$tmp/replay" 2>&1)
rc=$?
set -e
echo "$out"
echo "exit status $rc"
# A failure here is reported at the end, after the removal is checked too.
failed=
case $rc in
0) ;;
124) failed="knockdaemon -test did not exit within 20 seconds after checking" ;;
*) failed="knockdaemon -test failed" ;;
esac

# Removed, not purged: the programs go, the admin's configuration stays.
step "dpkg -r knockdaemon"
dpkg -r knockdaemon
[ ! -e /usr/sbin/knockdaemon ] || fail "/usr/sbin/knockdaemon is left after dpkg -r"
[ -e /etc/knockdaemon.conf ] || fail "dpkg -r removed the conffile /etc/knockdaemon.conf"

[ -z "$failed" ] || fail "$failed"
step "ok"
