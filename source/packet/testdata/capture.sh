#!/usr/bin/env bash
# capture.sh makes the real-packet vectors of package packet: it builds two
# throwaway network namespaces joined by veth, sends knocks and ordinary traffic from the client, and
# captures each packet of interest with tcpdump -w on the host's eth0. Every
# capture becomes vectors/NAME.hex: "# want:" lines saying what the parser
# must make of it, then the frame as hex.
#
# Run as root from this directory: ./capture.sh  (needs iproute2, tcpdump,
# xxd, python3 for the one established connection). The vectors derived from
# these (802.1Q and 802.1ad tagged copies: the test kernel has no 8021q
# module; truncated and damaged copies) are made by ../mutate.go.
set -euo pipefail
cd "$(dirname "$0")"
H=knkcap-host C=knkcap-client
tmp=$(mktemp -d)
cleanup() { ip netns del $H 2>/dev/null || true; ip netns del $C 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
cleanup; tmp=$(mktemp -d)

ip netns add $H; ip netns add $C
ip -n $H link add eth0 type veth peer name eth0 netns $C
for ns in $H $C; do
	ip netns exec $ns sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n $ns link set lo up
done
ip -n $H addr add 10.77.0.1/24 dev eth0; ip -n $H addr add fd77::1/64 dev eth0 nodad
ip -n $C addr add 10.77.0.2/24 dev eth0; ip -n $C addr add fd77::2/64 dev eth0 nodad
for ns in $H $C; do
	ip -n $ns link set eth0 up
done
# Prime the neighbour caches so that knocks are not preceded by ARP/NDP.
for a in 10.77.0.1 fd77::1; do ip netns exec $C ping -c1 -W2 $a >/dev/null; done

# capture NAME WANT FILTER COMMAND...: capture the first packet matching
# FILTER on the host's eth0 while COMMAND runs in the client namespace.
capture() {
	local name=$1 want=$2 filter=$3; shift 3
	ip netns exec $H tcpdump -U -n -i eth0 -c 1 -w "$tmp/$name.pcap" "$filter" 2>"$tmp/$name.err" &
	local pid=$!
	until grep -qs "listening on" "$tmp/$name.err"; do sleep 0.05; done
	ip netns exec $C "$@" || true
	wait $pid
	{
		echo "# $name: captured with tcpdump -w on the host's eth0 (capture.sh)"
		echo "# filter: $filter"
		echo "# want: $want"
		# Skip the pcap file header (24 bytes) and the record header (16).
		xxd -p -s 40 "$tmp/$name.pcap"
	} >"vectors/$name.hex"
	echo "vectors/$name.hex"
}

payload=knock-$(printf '%s' 'single packet')
capture tcp4-syn "hit tcp 10.77.0.2 10.77.0.1 800" 'ip and tcp dst port 800' \
	bash -c 'exec 3<>/dev/tcp/10.77.0.1/800'
capture tcp6-syn "hit tcp fd77::2 fd77::1 801" 'ip6 and tcp dst port 801' \
	bash -c 'exec 3<>/dev/tcp/fd77::1/801'
capture tcp4-rstack "not-knock" 'ip and tcp src port 802' \
	bash -c 'exec 3<>/dev/tcp/10.77.0.1/802'
capture udp4-knock "hit udp 10.77.0.2 10.77.0.1 803 payload=$(printf %s "$payload" | xxd -p)" 'ip and udp dst port 803' \
	bash -c "printf %s '$payload' >/dev/udp/10.77.0.1/803"
capture udp6-knock "hit udp fd77::2 fd77::1 804 payload=$(printf %s "$payload" | xxd -p)" 'ip6 and udp dst port 804' \
	bash -c "printf %s '$payload' >/dev/udp/fd77::1/804"
capture udp4-empty "hit udp 10.77.0.2 10.77.0.1 805 payload=" 'ip and udp dst port 805' \
	python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"", ("10.77.0.1", 805))'
capture icmp4-echo "not-knock" 'icmp[icmptype] = icmp-echo' ping -c1 -W1 10.77.0.1
capture icmp6-echo "not-knock" 'icmp6 and ip6[40] = 128' ping -6 -c1 -W1 fd77::1
capture arp-request "not-knock" 'arp' bash -c 'ip neigh flush dev eth0; ping -c1 -W1 10.77.0.1'
# 3000 bytes do not fit the 1500-byte MTU: fragments.
big=$(printf '%03000d' 7)
capture udp4-frag-first "hit udp 10.77.0.2 10.77.0.1 806 payload-len=1472" 'ip and ip[6:2] & 0x3fff = 0x2000' \
	bash -c "printf %s '$big' >/dev/udp/10.77.0.1/806"
capture udp4-frag-later "not-knock" 'ip and ip[6:2] & 0x1fff != 0' \
	bash -c "printf %s '$big' >/dev/udp/10.77.0.1/806"
capture udp6-frag-first "hit udp fd77::2 fd77::1 807 payload-len=1440" 'ip6 and ip6[6] = 44 and ip6[42:2] & 0xfff8 = 0' \
	bash -c "printf %s '$big' >/dev/udp/fd77::1/807"
capture udp6-frag-later "not-knock" 'ip6 and ip6[6] = 44 and ip6[42:2] & 0xfff8 != 0' \
	bash -c "printf %s '$big' >/dev/udp/fd77::1/807"

# An established connection: the client's ACKs are not knocks.
ip netns exec $H python3 -c '
import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 810)); s.listen(); s.settimeout(10)
for _ in range(2):
    c, _ = s.accept(); c.recv(100); c.sendall(b"ok"); c.close()
' & lpid=$!
sleep 0.3
capture tcp4-ack "not-knock" 'ip and tcp dst port 810 and tcp[13] = 0x10' \
	bash -c 'exec 3<>/dev/tcp/10.77.0.1/810; printf hi >&3; cat <&3 >/dev/null'
capture tcp6-psh-ack "not-knock" 'ip6 and tcp dst port 810 and ip6[53] = 0x18' \
	bash -c 'exec 3<>/dev/tcp/fd77::1/810; printf hi >&3; cat <&3 >/dev/null'
wait $lpid || true

# Multicast listener reports carry a hop-by-hop header: the walk must step
# over it. Last, because taking the link down drops the client's routes.
capture icmp6-mld-hbh "not-knock" 'ip6 and ip6[6] = 0' bash -c 'ip link set eth0 down; ip link set eth0 up; sleep 1'
