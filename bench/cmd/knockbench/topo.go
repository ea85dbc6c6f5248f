package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portknock/knock/bench/internal/lossy"
	"github.com/portknock/knock/bench/internal/netns"
)

// The addresses of the harness's two namespaces. The host runs every
// daemon; the client sends the legitimate knocks, the flood and the
// connection attempts. Nothing else is reachable from either: neither
// has a default route, and the veth pair is their only link.
var (
	hostIP   = netip.MustParseAddr("10.88.0.1") // every daemon listens here (knockd only here: it filters on the interface's address)
	clientIP = netip.MustParseAddr("10.88.0.2")
	// Extra host addresses, one per concurrent lane of real clients
	// (lossy link): each client's source address follows the route to its
	// own destination.
	laneIPs = []netip.Addr{netip.MustParseAddr("10.88.0.3"), netip.MustParseAddr("10.88.0.4"), netip.MustParseAddr("10.88.0.5"), netip.MustParseAddr("10.88.0.6")}
	// Legitimate clients: every attempt gets an address of its own, so a
	// grant left from an earlier attempt can never make a later one look
	// open. The whole prefix is local to the client (AnyIP: a local route
	// on lo), and the host routes it back over the veth.
	poolPrefix = netip.MustParsePrefix("10.78.0.0/16")
)

// The ports, shared by every scenario.
const (
	spanText  = "40000-40255" // our knock span; knockd's sequence lies inside it
	spanLo    = 40000
	spanHi    = 40255
	oursSPA   = 62301 // our single-packet port (fwknopd keeps its 62201)
	fwknopSPA = 62201
	fwknopUDP = 62202 // the second fwknopd, in UDP server mode
)

// The protected port of each daemon: each guards its own, so that one
// daemon's grant never opens another's port.
const (
	portOurs       = 2201
	portKnockd     = 2202
	portFwknop     = 2203
	portFwknopUDP  = 2204
	portOursPacket = 2205
	portOursKnockd = 2206 // knockdaemon serving knockd's door: its commands open this one
	portOursGuard  = 2207 // knockdaemon serving knockd's door: its own protected port, unused
)

var protectedPorts = []uint16{portOurs, portKnockd, portFwknop, portFwknopUDP, portOursPacket, portOursKnockd, portOursFwknop}

// topo is the host and client namespaces joined by veth, or, for the
// lossy link, through a middle namespace whose relay loses, delays and
// reorders frames (package lossy: this kernel has no netem).
type topo struct {
	host, client *netns.NS
	mid          *netns.NS // lossy topologies only
	relay        *lossy.Relay
	impair       *lossy.Impairer
	relayStop    context.CancelFunc
	relayDone    chan struct{}
	next         atomic.Uint32 // last pool address handed out
	listeners    []net.Listener
	wg           sync.WaitGroup
}

// newTopo builds both namespaces. On error everything made so far is
// removed again.
func newTopo(floods []netip.Prefix, lossyLink bool) (_ *topo, err error) {
	routes := map[netip.Prefix]bool{}
	for _, f := range floods {
		if poolPrefix.Overlaps(f) || f.Contains(hostIP) || f.Contains(clientIP) {
			return nil, fmt.Errorf("flood prefix %s overlaps the harness's own addresses (%s, %s, %s)", f, hostIP, clientIP, poolPrefix)
		}
		routes[f.Masked()] = true
	}
	t := &topo{}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.host, err = netns.New("host"); err != nil {
		return nil, err
	}
	if t.client, err = netns.New("client"); err != nil {
		return nil, err
	}
	if err = t.link(lossyLink); err != nil {
		return nil, err
	}
	steps := [][]string{}
	host := func(args ...string) { steps = append(steps, append([]string{"H"}, args...)) }
	client := func(args ...string) { steps = append(steps, append([]string{"C"}, args...)) }
	host("ip", "addr", "add", hostIP.String()+"/24", "dev", "eth0")
	for _, a := range laneIPs {
		host("ip", "addr", "add", a.String()+"/24", "dev", "eth0")
	}
	client("ip", "addr", "add", clientIP.String()+"/24", "dev", "eth0")
	host("ip", "link", "set", "eth0", "up")
	client("ip", "link", "set", "eth0", "up")
	// Replies to the legitimate clients' pool, and to the flood's
	// spoofed sources, go back over the veth (where the client, which
	// does not forward, drops the latter). With the route back, the
	// spoofed packets pass reverse-path filtering even where it is on.
	host("ip", "route", "add", poolPrefix.String(), "via", clientIP.String())
	for f := range routes {
		host("ip", "route", "add", f.String(), "via", clientIP.String())
	}
	host("sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.eth0.rp_filter=0")
	client("ip", "route", "add", "local", poolPrefix.String(), "dev", "lo")
	client("sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
	for _, s := range steps {
		ns := t.host
		if s[0] == "C" {
			ns = t.client
		}
		if _, err = ns.Run(s[1:]...); err != nil {
			return nil, err
		}
	}
	if err = t.hostRules(); err != nil {
		return nil, err
	}
	if err = t.listen(); err != nil {
		return nil, err
	}
	return t, t.ping()
}

// link joins host and client: directly, or through the relay.
func (t *topo) link(lossyLink bool) (err error) {
	if !lossyLink {
		_, err = t.host.Run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", t.client.Name)
		return err
	}
	if t.mid, err = netns.New("link"); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"ip", "link", "add", "toclient", "type", "veth", "peer", "name", "eth0", "netns", t.client.Name},
		{"ip", "link", "add", "tohost", "type", "veth", "peer", "name", "eth0", "netns", t.host.Name},
		{"sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"},
		{"ip", "link", "set", "toclient", "up"},
		{"ip", "link", "set", "tohost", "up"},
	} {
		if _, err = t.mid.Run(s...); err != nil {
			return err
		}
	}
	t.impair = lossy.NewImpairer(lossy.Config{}, uint64(time.Now().UnixNano()))
	if err = t.mid.Do(func() (err error) { t.relay, err = lossy.OpenRelay("toclient", "tohost", t.impair); return err }); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.relayStop, t.relayDone = cancel, make(chan struct{})
	go func() { t.relay.Run(ctx); close(t.relayDone) }()
	return nil
}

// hostRules is the harness's own table in the host namespace. The knock
// span is closed and silent, as on any knock host: its packets are
// dropped at input, after every daemon's capture has seen them (pcap at
// the device, NFLOG at prerouting), so the host answers the flood with
// no resets. They are not tracked either: 2 million spoofed SYNs would
// otherwise fill the connection-tracking table, whose limit the whole
// machine shares, and the table would drop the legitimate connections
// the scenarios measure, for every daemon alike.
func (t *topo) hostRules() error {
	rules := fmt.Sprintf(`table inet kbench {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport %d-%d notrack
		udp dport { %d, %d, %d } notrack
	}
	chain in {
		type filter hook input priority filter + 10; policy accept;
		tcp dport %d-%d drop
		udp dport { %d, %d, %d } drop
	}
}
`, spanLo, spanHi, fwknopSPA, fwknopUDP, oursFwknopSPA, spanLo, spanHi, oursSPA, fwknopSPA, oursFwknopSPA)
	cmd := t.host.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("loading the harness's host rules: %w: %s", err, out)
	}
	return nil
}

// listen opens the protected ports on the host: whatever connects is
// accepted and hung up on.
func (t *topo) listen() error {
	return t.host.Do(func() error {
		for _, p := range protectedPorts {
			ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", p))
			if err != nil {
				return err
			}
			t.listeners = append(t.listeners, ln)
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		return nil
	})
}

func (t *topo) ping() error {
	if _, err := t.client.Run("ping", "-c1", "-W2", hostIP.String()); err != nil {
		return fmt.Errorf("the veth link does not come up: %w", err)
	}
	return nil
}

// addr hands out the next legitimate client address of the pool.
func (t *topo) addr() netip.Addr {
	n := t.next.Add(1)%65000 + 1
	base := poolPrefix.Addr().As4()
	v := (uint32(base[0])<<24 | uint32(base[1])<<16) + n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// close removes both namespaces, and with them the veth pair, the routes
// and every rule any daemon made in them.
func (t *topo) close() {
	for _, ln := range t.listeners {
		ln.Close()
	}
	t.wg.Wait()
	if t.relay != nil {
		t.relayStop()
		<-t.relayDone
		t.relay.Close()
	}
	for _, n := range []*netns.NS{t.client, t.mid, t.host} {
		if n != nil {
			n.Delete()
		}
	}
}
