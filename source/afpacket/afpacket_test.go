package afpacket_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/afpacket"
	"github.com/portknock/knock/source/packet/packettest"
)

func needNetns(tb testing.TB) *netnstest.Pair {
	tb.Helper()
	testenv.NeedRoot(tb)
	testenv.NeedCommand(tb, "ip", "apt-get install iproute2")
	return netnstest.NewPair(tb)
}

// open opens a source in the host namespace: its socket belongs there.
func open(tb testing.TB, p *netnstest.Pair, cfg afpacket.Config) *afpacket.Source {
	tb.Helper()
	var s *afpacket.Source
	if err := p.Host.Do(func() (err error) {
		s, err = afpacket.Open(cfg)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// run runs a source until the test ends.
func run(tb testing.TB, s *afpacket.Source, hits chan source.Hit) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, hits) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

// sparse is a span of 128 single ports, more ranges than the kernel
// filter checks: Go alone keeps to the span.
func sparse() string {
	var ports []string
	for p := 7000; p < 7256; p += 2 {
		ports = append(ports, fmt.Sprint(p))
	}
	return strings.Join(ports, ",")
}

// TestKnocks is the end-to-end proof: real knocks from the client
// namespace, reported by the source on the host's eth0.
func TestKnocks(t *testing.T) {
	for _, tc := range []struct {
		name, span string
		in         []uint16
		out        uint16
		drop       string // the host's drop ruleset's ports, if any
		spa        uint16 // a single-packet port outside the span, if any
	}{
		{name: "contiguous", span: "745-1000", in: []uint16{745, 900, 1000}, out: 1001},
		{name: "non-contiguous", span: "7000-7003,8000-8003", in: []uint16{8003, 7000, 7002}, out: 7004},
		{name: "spa port", span: "745-1000", in: []uint16{62201, 745}, out: 62200, spa: 62201},
		{name: "sparse", span: sparse(), in: []uint16{7000, 7254, 7100}, out: 7001},
		{name: "host drops all", span: "7000-7003,8000-8003", in: []uint16{7001, 8000}, out: 9000, drop: "7000-9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := needNetns(t)
			if tc.drop != "" {
				testenv.NeedCommand(t, "nft", "apt-get install nftables")
				packettest.DropAll(t, p.Host, tc.drop)
			}
			hits := make(chan source.Hit, 100)
			var extra []uint16
			if tc.spa != 0 {
				extra = append(extra, tc.spa)
			}
			run(t, open(t, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(t, tc.span), Extra: extra}), hits)
			packettest.Scenario{Pair: p, Hits: hits, In: tc.in, Out: tc.out, Converse: tc.drop == ""}.Run(t)
		})
	}
}

// TestLoopback listens on lo, which has no Ethernet header to read: the
// socket reads IP packets. The client's knocks over eth0 are not seen; the
// host's knock to itself is, once (not again as outgoing).
func TestLoopback(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit, 100)
	run(t, open(t, p, afpacket.Config{Interface: "lo", Span: packettest.Span(t, "745-1000")}), hits)
	packettest.Send(t, p, packettest.Knock{Dst: p.HostV4, Proto: knock.TCP, Port: 800})
	self := []packettest.Knock{
		{Dst: p.HostV6, Proto: knock.TCP, Port: 801},
		{Dst: p.HostV4, Proto: knock.UDP, Port: 802, Payload: []byte("to myself")},
	}
	packettest.SendFrom(t, p.Host, self...)
	want := []source.Hit{{Src: p.HostV6, Dst: p.HostV6, Proto: knock.TCP, Port: 801}}
	marker := source.Hit{Src: p.HostV4, Dst: p.HostV4, Proto: knock.UDP, Port: 802, Payload: []byte("to myself")}
	packettest.Expect(t, hits, want, marker)
}

// TestClockAndCounters checks that hits carry the injected clock's time
// and that every packet the kernel filter passes is counted.
func TestClockAndCounters(t *testing.T) {
	p := needNetns(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hits := make(chan source.Hit, 100)
	s := open(t, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(t, "745-1000"), Now: func() time.Time { return now }})
	run(t, s, hits)
	k := packettest.Knock{Dst: p.HostV6, Proto: knock.UDP, Port: 745, Payload: []byte("knock")}
	packettest.Send(t, p, k, k)
	for range 2 {
		if h := <-hits; !h.Time.Equal(now) || !packettest.Same(h, packettest.HitOf(p, k)) {
			t.Errorf("hit %s at %v, want %s at the clock's %v", packettest.String(h), h.Time, packettest.String(packettest.HitOf(p, k)), now)
		}
	}
	c := s.Counters()
	if c["packets_seen"] != 2 || c["hits"] != 2 || c["packets_malformed"] != 0 || c["overruns"] != 0 {
		t.Errorf("counters %v, want 2 packets seen and 2 hits", c)
	}
}

// TestOverrun floods a socket nobody reads yet, with a tiny buffer: the
// kernel drops what does not fit, the source counts it, and delivers the
// rest and what comes after.
func TestOverrun(t *testing.T) {
	p := needNetns(t)
	s := open(t, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(t, "745-1000"), ReadBuffer: 1})
	flood := make([]packettest.Knock, 300)
	for i := range flood {
		flood[i] = packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 900, Payload: []byte("flood")}
	}
	packettest.Send(t, p, flood...)
	hits := make(chan source.Hit, len(flood))
	run(t, s, hits)
	n := drain(hits, 500*time.Millisecond)
	marker := packettest.Knock{Dst: p.HostV6, Proto: knock.UDP, Port: 901, Payload: []byte("marker")}
	packettest.Send(t, p, marker)
	packettest.Expect(t, hits, nil, packettest.HitOf(p, marker))
	c := s.Counters()
	t.Logf("%d of %d flood knocks delivered; counters %v", n, len(flood), c)
	// The kernel counts every packet its filter passed and the buffer
	// had no room for: the flood's, and the odd IPv6 multicast report.
	if c["overruns"] == 0 || uint64(n)+c["overruns"] < uint64(len(flood)) {
		t.Errorf("%d delivered and %d overruns, want some overruns and at least %d in all", n, c["overruns"], len(flood))
	}
}

// TestOpenErrors checks the refusals at start-up.
func TestOpenErrors(t *testing.T) {
	if _, err := afpacket.Open(afpacket.Config{Interface: "eth0"}); err == nil {
		t.Error("Open without a span succeeded")
	}
	_, err := afpacket.Open(afpacket.Config{Interface: "no-such-if0", Span: packettest.Span(t, "745-1000")})
	if err == nil || !strings.Contains(err.Error(), `"no-such-if0"`) {
		t.Errorf("Open on a missing interface: %v, want an error naming it", err)
	}
}

// drain reads hits until none has come for quiet, and returns how many.
func drain(hits <-chan source.Hit, quiet time.Duration) int {
	for n := 0; ; n++ {
		select {
		case <-hits:
		case <-time.After(quiet):
			return n
		}
	}
}

// TestDoorPorts checks knockd's door ports: a whole TCP conversation to
// one is reported with each segment's flags and the interface; the span
// still gets SYNs only.
func TestDoorPorts(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit, 100)
	s := open(t, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(t, "745-1000"), AnyFlags: []uint16{9100}, Extra: []uint16{9200}})
	run(t, s, hits)
	packettest.Converse(t, p, p.HostV4, 9100)
	packettest.Converse(t, p, p.HostV4, 800)
	marker := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 9200, Payload: []byte("marker")}
	packettest.Send(t, p, marker)
	var flags []uint8
	for h := range hits {
		if packettest.Same(h, packettest.HitOf(p, marker)) {
			break
		}
		if h.Iface != "eth0" {
			t.Errorf("hit %s from interface %q, want eth0", packettest.String(h), h.Iface)
		}
		switch {
		case h.Port == 9100:
			flags = append(flags, h.TCPFlags)
		case h.Port == 800 && h.TCPFlags == 0x02:
		default:
			t.Errorf("unexpected hit %s flags %#x", packettest.String(h), h.TCPFlags)
		}
	}
	ack := false
	for _, f := range flags {
		ack = ack || f&0x10 != 0
	}
	if len(flags) < 3 || flags[0] != 0x02 || !ack {
		t.Errorf("the conversation to a door's port gave flags %#x: want a SYN first, then segments with ACK", flags)
	}
}
