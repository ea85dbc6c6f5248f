#!/usr/bin/env bash
# Does knockdaemon work inside its unit's sandbox? systemd is not needed:
# this runs the daemon for real, but in a network namespace of its own,
# with the capability bounding set and no_new_privs of the unit (setpriv),
# under strace; knocks once (nflog, then afpacket); checks that the grant
# reached nftables; then compares the system calls and socket families the
# daemon used with the unit's SystemCallFilter= and RestrictAddressFamilies=.
# Not run by CI (it starts the daemon); run it as root after changing the
# unit or the daemon. Needs strace, setpriv, nft, ip, python3, systemd-analyze.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
unit=$top/examples/knockdaemon.service
tmp=$(mktemp -d)
ns=knocksandbox-$$
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT

(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$tmp" ./cmd/knockdaemon ./cmd/knockclient)
"$tmp/knockclient" -keygen -keyfile "$tmp/key" >/dev/null
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')

ip netns add "$ns"
ip -n "$ns" link set lo up
for capture in nflog afpacket; do
	echo "== capture = $capture, bounding set -all,$caps, no_new_privs"
	ip netns exec "$ns" setpriv --no-new-privs --bounding-set="-all,$caps" \
		strace -f -qq -o "$tmp/trace.$capture" "$tmp/knockdaemon" -conf "$top/examples/knockdaemon.conf" \
		-keyfile "$tmp/key" -replayfile "$tmp/replay" -capture "$capture" -interface lo >"$tmp/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q 'knockdaemon started' "$tmp/log" && break; sleep 0.1; done
	ip netns exec "$ns" "$tmp/knockclient" -conf "$top/examples/knockclient.conf" -keyfile "$tmp/key" \
		-remote 127.0.0.1 -quiet
	for _ in $(seq 100); do grep -q 'knock accepted' "$tmp/log" && break; sleep 0.1; done
	ip netns exec "$ns" nft list set inet portknock allowed4 | grep -q '127.0.0.1 . tcp . 22' ||
		{ cat "$tmp/log"; echo "FAIL: no grant in nftables"; exit 1; }
	echo "knock accepted, grant in nftables"
	daemon=$(for p in $(ip netns pids "$ns"); do [ "$(cat /proc/"$p"/comm)" = knockdaemon ] && echo "$p"; done)
	kill -HUP "$daemon"
	for _ in $(seq 100); do grep -q 'configuration reloaded' "$tmp/log" && break; sleep 0.1; done
	grep -q 'configuration reloaded' "$tmp/log" || { cat "$tmp/log"; echo "FAIL: no reload on SIGHUP"; exit 1; }
	echo "SIGHUP: configuration reloaded"
	kill -TERM "$daemon"
	wait "$pid" || true
	ip netns exec "$ns" "$tmp/knockdaemon" -conf "$top/examples/knockdaemon.conf" -keyfile "$tmp/key" -uninstall >/dev/null
done

echo "== system calls and socket families against $unit"
systemd-analyze syscall-filter >"$tmp/groups" 2>/dev/null
python3 - "$unit" "$tmp/groups" "$tmp"/trace.* <<'PY'
import re, sys
unit, groups_file, traces = sys.argv[1], sys.argv[2], sys.argv[3:]
groups, cur = {}, None
for line in open(groups_file):
    s = line.strip()
    if line.startswith('@'):
        cur = s.split()[0]; groups[cur] = []
    elif s and not s.startswith('#') and cur:
        groups[cur].append(s)
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups.get(n, [])) if n.startswith('@') else {n}
    return out
allowed, families = set(), set()
for line in open(unit):
    k, _, v = line.strip().partition('=')
    if k == 'SystemCallFilter':
        if v.startswith('~'):
            allowed -= expand(v[1:].split())
        else:
            allowed |= expand(v.split())
    elif k == 'RestrictAddressFamilies':
        families |= set(v.split())
used, fams = set(), set()
for t in traces:
    for line in open(t):
        m = re.match(r'\d+\s+([a-z0-9_]+)\(', line)
        if m:
            used.add(m.group(1))
        fams |= set(re.findall(r'socket\((AF_[A-Z0-9]+)', line))
used.discard('execve')  # the exec that starts the daemon, before the filter
bad = sorted(used - allowed) + sorted(fams - families)
print(f"{len(used)} system calls, families {sorted(fams)}")
if bad:
    sys.exit(f"FAIL: outside the unit's filters: {bad}")
print("all within SystemCallFilter= and RestrictAddressFamilies=")
PY
