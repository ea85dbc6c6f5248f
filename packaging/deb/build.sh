#!/usr/bin/env bash
# Build the Debian package knockdaemon_VERSION_amd64.deb from this source
# tree with Debian's own tools (dpkg-parsechangelog, dpkg-deb), into the
# directory given (default: the current one). Needs Go, dpkg-dev and the
# Go module proxy (or a filled module cache); runs as any user.
#
#   packaging/deb/build.sh [OUTDIR]
#
# The version is the one of packaging/deb/changelog: the upstream part goes
# into the binaries (-version), the whole into the package.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)

version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
maintainer=$(dpkg-parsechangelog -l "$here/changelog" -S Maintainer)
upstream=${version%-*}
# Every file's time is the changelog's: the same tree gives the same package.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$here/changelog" -S Timestamp)
export SOURCE_DATE_EPOCH

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
umask 022

# The programs: static (no cgo), no build paths, the version linked in.
ldflags="-s -w -X github.com/portknock/knock/internal/version.Version=$upstream"
build() { # build DIR/NAME ./cmd/NAME
	(cd "$top" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
		go build -trimpath -ldflags "$ldflags" -o "$root/$1" "$2")
}
build usr/sbin/knockdaemon ./cmd/knockdaemon
build usr/bin/knockclient ./cmd/knockclient
build usr/bin/knocklab ./cmd/knocklab

# Manuals, gzipped without names or times.
man() { # man SECTION FILE
	install -D -m644 "$top/$2" "$root/usr/share/man/man$1/$(basename "$2")"
	gzip -9n "$root/usr/share/man/man$1/$(basename "$2")"
}
man 8 cmd/knockdaemon/knockdaemon.8
man 1 cmd/knockclient/knockclient.1
man 1 cmd/knocklab/knocklab.1

# The configuration (a conffile) and the unit, both from examples/: the
# package's header before the example's text, and the package's paths.
install -d "$root/etc"
{ cat "$here/conf-header"; cat "$top/examples/knockdaemon.conf"; } >"$root/etc/knockdaemon.conf"
chmod 644 "$root/etc/knockdaemon.conf"
install -d "$root/lib/systemd/system"
{
	echo "# knockdaemon's unit, from the Debian package: installed, not enabled."
	echo "# See /etc/knockdaemon.conf for the steps before: systemctl enable --now knockdaemon"
	sed -e '1,/^\[Unit\]$/{/^\[Unit\]$/!d}' \
		-e 's#/usr/local/sbin/knockdaemon#/usr/sbin/knockdaemon#g' \
		"$top/examples/knockdaemon.service"
} >"$root/lib/systemd/system/knockdaemon.service"
chmod 644 "$root/lib/systemd/system/knockdaemon.service"

# Documentation.
doc=$root/usr/share/doc/knockdaemon
install -D -m644 "$here/copyright" "$doc/copyright"
install -m644 "$here/changelog" "$doc/changelog.Debian"
gzip -9n "$doc/changelog.Debian"
install -D -m644 "$top/examples/knockclient.conf" "$top/examples/knockclient-legacy.conf" "$top/examples/knockdaemon.rules.yml" -t "$doc/examples"
install -D -m644 "$top/examples/fail2ban/filter.d/knockdaemon.conf" -t "$doc/examples/fail2ban/filter.d"
install -D -m644 "$top/examples/fail2ban/jail.d/knockdaemon.conf" -t "$doc/examples/fail2ban/jail.d"
install -D -m644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/knockdaemon"

# The control area.
install -d "$root/DEBIAN"
install -m755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
echo /etc/knockdaemon.conf >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
size=$(du -s -k --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@SIZE@|$size|" \
	"$here/control.in" >"$root/DEBIAN/control"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
chmod 755 "$root"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out/knockdaemon_${version}_amd64.deb"
