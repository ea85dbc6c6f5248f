// Package packettest drives the end-to-end tests of the network sources
// (source/nflog, source/afpacket): the client namespace of a netnstest.Pair
// sends real knocks with the knock client's own sender, and the test checks
// that the source in the host namespace reports exactly those that reach
// the span, in order. It also makes the traffic that must not be reported:
// an established connection's ACKs, and a host that drops everything.
package packettest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sender"
	"github.com/portknock/knock/source"
)

// Span parses a span such as "7000-7003,8000-8003".
func Span(tb testing.TB, text string) *portspan.Span {
	tb.Helper()
	sp, err := portspan.Parse(text)
	if err != nil {
		tb.Fatal(err)
	}
	return sp
}

// Knock is one packet the client sends to the host.
type Knock struct {
	Dst     netip.Addr
	Proto   knock.Proto // knock.TCP or knock.UDP
	Port    uint16
	Payload []byte // UDP only
}

func (k Knock) String() string {
	return fmt.Sprintf("%s %s port %d payload %q", k.Proto, k.Dst, k.Port, k.Payload)
}

// Send sends the knocks from the client namespace, in order, with the
// knock client's sender: a SYN abandoned at once, or one datagram.
func Send(tb testing.TB, p *netnstest.Pair, knocks ...Knock) {
	tb.Helper()
	SendFrom(tb, p.Client, knocks...)
}

// SendFrom sends the knocks from namespace ns.
func SendFrom(tb testing.TB, ns *netnstest.NS, knocks ...Knock) {
	tb.Helper()
	err := ns.Do(func() error {
		for _, k := range knocks {
			s, err := sender.New(k.Dst), error(nil)
			if err != nil {
				return err
			}
			err = s.Send(sender.Packet{Proto: k.Proto, Port: k.Port, Payload: k.Payload})
			s.Close()
			if err != nil {
				return fmt.Errorf("sending %v: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// HitOf is the hit the host should see for a knock from the pair's client.
func HitOf(p *netnstest.Pair, k Knock) source.Hit {
	src := p.ClientV4
	if k.Dst.Is6() {
		src = p.ClientV6
	}
	return source.Hit{Src: src, Dst: k.Dst, Proto: k.Proto, Port: k.Port, Payload: k.Payload}
}

// Converse opens a listener on the host's port and has the client connect
// to dst, send a line, read the answer and close: one SYN, then segments
// with ACK set, which no source may report.
func Converse(tb testing.TB, p *netnstest.Pair, dst netip.Addr, port uint16) {
	tb.Helper()
	var ln net.Listener
	if err := p.Host.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, port).String())
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- serveOne(ln) }()
	err := p.Client.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(dst, port).String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			return err
		}
		got, err := io.ReadAll(c) // until the host closes
		if err == nil && string(got) != "pong\n" {
			err = fmt.Errorf("host answered %q", got)
		}
		return err
	})
	if err == nil {
		err = <-served
	}
	if err != nil {
		tb.Fatalf("conversation with %s port %d: %v", dst, port, err)
	}
}

func serveOne(ln net.Listener) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line := make([]byte, 5)
	if _, err := io.ReadFull(c, line); err != nil {
		return err
	}
	_, err = io.WriteString(c, "pong\n")
	return err
}

// DropAll gives the host namespace a ruleset as hostile to knocks as a
// firewall gets: TCP and UDP to the ports (an nft set expression such as
// "745-1000, 2000") dropped in prerouting at raw priority, before
// connection tracking, and everything else dropped on input but the
// neighbour discovery that keeps IPv6 working.
func DropAll(tb testing.TB, ns *netnstest.NS, ports string) {
	tb.Helper()
	rules := strings.ReplaceAll(`table inet hostile {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		meta l4proto { tcp, udp } th dport { PORTS } drop
	}
	chain in {
		type filter hook input priority filter; policy drop;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept
	}
}
`, "PORTS", ports)
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("installing the host's drop ruleset: %v\n%s", err, out)
	}
}

// Expect reads hits until one equals marker, and checks that those before
// it are exactly want, in order. Send the marker knock last: everything the
// source reports before it is then known. Times are not compared.
func Expect(tb testing.TB, hits <-chan source.Hit, want []source.Hit, marker source.Hit) {
	tb.Helper()
	var got []source.Hit
	timeout := time.After(10 * time.Second)
	for {
		select {
		case h := <-hits:
			if Same(h, marker) {
				if !sameList(got, want) {
					tb.Fatalf("source reported\n%s\nwant\n%s", list(got), list(want))
				}
				return
			}
			got = append(got, h)
		case <-timeout:
			tb.Fatalf("no marker %s after 10s; source reported\n%s\nwant\n%s", String(marker), list(got), list(want))
		}
	}
}

// Same reports whether two hits are the same packet, whatever their times.
func Same(a, b source.Hit) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.Proto == b.Proto && a.Port == b.Port &&
		bytes.Equal(a.Payload, b.Payload)
}

func sameList(a, b []source.Hit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Same(a[i], b[i]) {
			return false
		}
	}
	return true
}

// String formats a hit for test failures.
func String(h source.Hit) string {
	return fmt.Sprintf("%s %s -> %s port %d payload %q", h.Proto, h.Src, h.Dst, h.Port, h.Payload)
}

func list(hs []source.Hit) string {
	if len(hs) == 0 {
		return "\t(none)"
	}
	var b strings.Builder
	for i, h := range hs {
		fmt.Fprintf(&b, "\t%d: %s\n", i, String(h))
	}
	return b.String()
}
