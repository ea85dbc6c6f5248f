#!/bin/bash
# Makes real netfilter LOG lines for the vectors in lines/: two network
# namespaces over veth, LOG rules (iptables and nftables) in the host one,
# packets from the client. Run as root: ./gen-netfilter.sh > netfilter-dmesg.txt
# It turns net.netfilter.nf_log_all_netns on for its few seconds (the kernel
# logs nothing from other namespaces otherwise) and back off.
set -e
A=lfgenA$$; B=lfgenB$$
old=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
cleanup() { ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; echo $old > /proc/sys/net/netfilter/nf_log_all_netns; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add va netns $A type veth peer name vb netns $B
ip -n $A addr add 10.77.9.2/24 dev va; ip -n $B addr add 10.77.9.1/24 dev vb
ip -n $A addr add fd77:9::2/64 dev va nodad; ip -n $B addr add fd77:9::1/64 dev vb nodad
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set va up; ip -n $B link set vb up
echo 1 > /proc/sys/net/netfilter/nf_log_all_netns
# iptables LOG in host B for 745 (tcp, udp), with tcp sequence numbers for 747
ip netns exec $B iptables -A INPUT -p tcp --dport 745 -j LOG --log-prefix "knock: "
ip netns exec $B iptables -A INPUT -p udp --dport 745 -j LOG --log-prefix "knock: "
ip netns exec $B iptables -A INPUT -p tcp --dport 747 -j LOG --log-prefix "knockseq: " --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid
ip netns exec $B ip6tables -A INPUT -p tcp --dport 745 -j LOG --log-prefix "knock6: "
ip netns exec $B ip6tables -A INPUT -p udp --dport 745 -j LOG --log-prefix "knock6: "
# nftables log in B for 746 (all tcp packets, so ACKs too) and 748 udp
ip netns exec $B nft add table inet kn
ip netns exec $B nft add chain inet kn in '{ type filter hook input priority 0; }'
ip netns exec $B nft add rule inet kn in tcp dport 746 log prefix '"nft-knock: "'
ip netns exec $B nft add rule inet kn in udp dport 748 log prefix '"nft-knock: "'
# client A logs ICMP errors it receives (they quote the packet that caused them)
ip netns exec $A iptables -A INPUT -p icmp -j LOG --log-prefix "icmp-in: "
ip netns exec $A ip6tables -A INPUT -p ipv6-icmp -j LOG --log-prefix "icmp6-in: "
dmesg -C
ip netns exec $B python3 - <<'PY' &
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(("0.0.0.0",746)); s.listen(5)
s6=socket.socket(socket.AF_INET6); s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY,1); s6.bind(("::",746)); s6.listen(5)
s.settimeout(5); s6.settimeout(5)
for l in (s,s6):
    c,_=l.accept(); c.recv(100); c.sendall(b"bye"); c.close()
PY
sleep 0.5
ip netns exec $A python3 - <<'PY'
import socket,time
def tcp(fam,addr,port):
    s=socket.socket(fam); s.settimeout(1)
    try: s.connect((addr,port))
    except Exception: pass
    s.close()
def udp(fam,addr,port,data=b"x"):
    s=socket.socket(fam,socket.SOCK_DGRAM); s.sendto(data,(addr,port)); s.close()
tcp(socket.AF_INET,"10.77.9.1",745)
udp(socket.AF_INET,"10.77.9.1",745)
tcp(socket.AF_INET,"10.77.9.1",747)
tcp(socket.AF_INET6,"fd77:9::1",745)
udp(socket.AF_INET6,"fd77:9::1",745)
udp(socket.AF_INET,"10.77.9.1",748)
udp(socket.AF_INET6,"fd77:9::1",748)
for fam,a in ((socket.AF_INET,"10.77.9.1"),(socket.AF_INET6,"fd77:9::1")):
    s=socket.socket(fam); s.connect((a,746)); s.sendall(b"hello"); s.recv(10); s.close()
time.sleep(0.3)
PY
wait
sleep 0.3
dmesg
