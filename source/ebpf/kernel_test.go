package ebpf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet/packettest"
)

// XDP verdicts.
const (
	xdpDrop = 1
	xdpPass = 2
)

// loaded loads the program, attached nowhere, for BPF_PROG_TEST_RUN.
func loaded(tb testing.TB, cfg Config) *Source {
	tb.Helper()
	testenv.NeedRoot(tb)
	if cfg.MinKnock == 0 {
		cfg.MinKnock = 3
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Span == nil {
		cfg.Span = packettest.Span(tb, "7000-7255")
	}
	s, err := load(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// run runs the program on one packet and returns its verdict.
func (s *Source) run(tb testing.TB, p pkt) uint32 {
	tb.Helper()
	ret, err := s.objs.KnockXdp.Run(&ebpf.RunOptions{Data: p.frame()})
	if err != nil {
		tb.Fatal(err)
	}
	return ret
}

// drain returns the hits of the records waiting in the ring buffer.
func (s *Source) drain(tb testing.TB) []source.Hit {
	tb.Helper()
	var hits []source.Hit
	var rec ringbuf.Record
	for {
		s.rd.SetDeadline(time.Now())
		if err := s.rd.ReadInto(&rec); err != nil {
			return hits
		}
		var ok bool
		if hits, ok = s.dec.decode(hits, rec.RawSample, s.clock); !ok {
			tb.Fatalf("malformed record % x", rec.RawSample)
		}
	}
}

var (
	host   = netip.MustParseAddr("10.0.0.1")
	host6  = netip.MustParseAddr("fd00::1")
	client = netip.MustParseAddr("192.0.2.7")
)

func TestQueueHandedAtMinimum(t *testing.T) {
	s := loaded(t, Config{MinKnock: 3, SPAPorts: []uint16{62201}})
	ports := []uint16{7001, 7200, 7003}
	for i, port := range ports {
		if v := s.run(t, pkt{Src: client, Dst: host, Proto: 6, Port: port}); v != xdpDrop {
			t.Fatalf("span packet %d: verdict %d, want drop", i, v)
		}
		if got := s.drain(t); i < 2 && len(got) > 0 {
			t.Fatalf("packet %d: hits before the minimum: %v", i, got)
		} else if i == 2 && len(got) != 3 {
			t.Fatalf("got %d hits at the minimum, want 3: %v", len(got), got)
		}
	}
	// Then each further packet, one record each.
	s.run(t, pkt{Src: client, Dst: host, Proto: 17, Port: 7004})
	got := s.drain(t)
	if len(got) != 1 || got[0].Port != 7004 || got[0].Proto != source.UDP || got[0].Src != client || got[0].Dst != host {
		t.Fatalf("after the queue: %v", got)
	}
	// Outside the span: passes, unseen. A SYN-ACK or a plain ACK: passes.
	for _, p := range []pkt{
		{Src: client, Dst: host, Proto: 6, Port: 22},
		{Src: client, Dst: host, Proto: 6, Port: 7001, Flags: 0x12},
		{Src: client, Dst: host, Proto: 6, Port: 7001, Flags: 0x10},
	} {
		if v := s.run(t, p); v != xdpPass {
			t.Errorf("%v: verdict %d, want pass", p, v)
		}
	}
	// A single-packet datagram, from a new source: at once, with payload.
	v6 := netip.MustParseAddr("fd00::7")
	if v := s.run(t, pkt{Src: v6, Dst: host6, Proto: 17, Port: 62201, Payload: []byte("hello")}); v != xdpPass {
		t.Errorf("spa: verdict %d, want pass", v)
	}
	got = s.drain(t)
	if len(got) != 1 || string(got[0].Payload) != "hello" || got[0].Src != v6 {
		t.Fatalf("spa: %v", got)
	}
	t.Log(s.Counters())
}
