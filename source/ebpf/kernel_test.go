package ebpf

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/portknock/knock"
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
	if len(got) != 1 || got[0].Port != 7004 || got[0].Proto != knock.UDP || got[0].Src != client || got[0].Dst != host {
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

// TestQueueForgetsOldPackets: packets older than the timeout do not count
// toward the minimum; a source quiet for a timeout starts over.
func TestQueueForgetsOldPackets(t *testing.T) {
	const timeout = 200 * time.Millisecond
	s := loaded(t, Config{MinKnock: 3, Timeout: timeout})
	send := func(port uint16) { s.run(t, pkt{Src: client, Dst: host, Proto: 6, Port: port}) }
	send(7001)
	send(7002) // promoted, 2 of 3
	start := time.Now()
	for time.Since(start) <= 2*timeout { // the kernel's clock runs with ours
		time.Sleep(timeout / 4)
	}
	send(7003)
	send(7004)
	if got := s.drain(t); len(got) != 0 {
		t.Fatalf("old packets counted toward the minimum: %v", got)
	}
	send(7005)
	got := s.drain(t)
	if len(got) != 3 || got[0].Port != 7003 || got[2].Port != 7005 {
		t.Fatalf("want the queue 7003-7005, got %v", got)
	}
	if !got[0].Time.Before(got[2].Time) || got[0].Time.Sub(start) < 2*timeout {
		t.Errorf("hit times %v, %v: want increasing, after the pause", got[0].Time, got[2].Time)
	}
}

// TestStage1IsKeyed: where a source lands in stage 1 depends on the key
// drawn at load (Config.Rand), so that a sender cannot aim its sources
// at a knocker's set; the same key, the same set.
func TestStage1IsKeyed(t *testing.T) {
	set := func(key byte) uint32 {
		s := loaded(t, Config{Stage1: 1024, Rand: bytes.NewReader(bytes.Repeat([]byte{key}, 16))})
		s.run(t, pkt{Src: client, Dst: host, Proto: 6, Port: 7001})
		var (
			idx uint32
			v   knockSet
		)
		found := -1
		it := s.objs.Stage1.Iterate()
		for it.Next(&idx, &v) {
			for _, tag := range v.Tag {
				if tag != 0 {
					found = int(idx)
				}
			}
		}
		if err := it.Err(); err != nil || found < 0 {
			t.Fatalf("key %d: no slot taken (%v)", key, err)
		}
		return uint32(found)
	}
	a, b, c := set(1), set(1), set(2)
	if a != b {
		t.Errorf("the same key put the source in sets %d and %d", a, b)
	}
	if a == c {
		t.Errorf("keys 1 and 2 both put the source in set %d", a)
	}
}

// TestBudgetLetsAKnockerKnockAgain: the default budget lets one address
// knock again and again within the timeout (five knocks of 20 packets
// here: a client's retries, or one knock per port); 64 records, the
// first default, cut the fourth knock short.
func TestBudgetLetsAKnockerKnockAgain(t *testing.T) {
	s := loaded(t, Config{MinKnock: 16})
	const knocks, packets = 5, 20
	for i := range knocks * packets {
		s.run(t, pkt{Src: client, Dst: host, Proto: 6, Port: 7000 + uint16(i%packets)})
	}
	if got := s.drain(t); len(got) != knocks*packets {
		t.Fatalf("%d of %d packets reached userspace; counters %v", len(got), knocks*packets, s.Counters())
	}
}

// TestKnockKeepsItsSlotThroughAFlood: new sources landing in a knocker's
// set (one set of Ways slots here) take the other slots, not the
// knocker's while its knock is under way, so a packet that comes after
// them, even the knock's last, goes up at once.
func TestKnockKeepsItsSlotThroughAFlood(t *testing.T) {
	s := loaded(t, Config{MinKnock: 3, Stage1: Ways})
	send := func(src netip.Addr, port uint16) { s.run(t, pkt{Src: src, Dst: host, Proto: 6, Port: port}) }
	for port := uint16(7001); port <= 7003; port++ {
		send(client, port)
	}
	if got := s.drain(t); len(got) != 3 {
		t.Fatalf("want the queue 7001-7003, got %v", got)
	}
	for i := range 3 * Ways {
		send(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 7100)
	}
	send(client, 7004)
	if got := s.drain(t); len(got) != 1 || got[0].Port != 7004 {
		t.Fatalf("after a flood of new sources in its set, want the knock's next packet 7004 at once, got %v; counters %v", got, s.Counters())
	}
}

// TestQueueOutlivesItsStage1Slot: a source in stage 2 whose stage-1 slot
// was taken anyway (its whole set held other sources in stage 2, the one
// case where a knock under way gives up its slot) keeps its queue: the
// packet that lands in stage 1 again and the next go on the same queue, in
// order, and the knock is handed up whole.
func TestQueueOutlivesItsStage1Slot(t *testing.T) {
	s := loaded(t, Config{MinKnock: 5, Stage1: Ways})
	send := func(src netip.Addr, port uint16) { s.run(t, pkt{Src: src, Dst: host, Proto: 6, Port: port}) }
	send(client, 7001)
	send(client, 7002) // promoted
	for i := range Ways {
		other := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		send(other, 7100)
		send(other, 7101) // promoted too: the last takes the client's slot
	}
	if c := s.Counters(); c["promotions"] != 1+Ways || c["stage1_inserts"] != 1+Ways {
		t.Fatalf("counters %v: want %d promotions and %d stage-1 inserts", c, 1+Ways, 1+Ways)
	}
	send(client, 7003) // stage 1 again
	send(client, 7004) // found in stage 2: both go on the queue
	if got := s.drain(t); len(got) != 0 {
		t.Fatalf("hits before the minimum: %v", got)
	}
	send(client, 7005)
	got := s.drain(t)
	if len(got) != 5 {
		t.Fatalf("want the whole knock 7001-7005, got %v; counters %v", got, s.Counters())
	}
	for i, h := range got {
		if h.Port != 7001+uint16(i) || h.Src != client {
			t.Fatalf("hit %d: %v, want port %d from %s", i, h, 7001+i, client)
		}
	}
	if c := s.Counters(); c["promotions"] != 1+Ways {
		t.Errorf("counters %v: finding the queue again is no promotion", c)
	}
}

// TestBudget: once its queue went up, a source causes at most Budget
// records per timeout; the rest are counted.
func TestBudget(t *testing.T) {
	s := loaded(t, Config{MinKnock: 2, Budget: 3})
	for i := range 7 {
		s.run(t, pkt{Src: client, Dst: host, Proto: 17, Port: 7000 + uint16(i)})
	}
	got := s.drain(t)
	// The queue (2 hits, 1 record) and 2 single records: 3 records.
	if len(got) != 4 || got[3].Port != 7003 {
		t.Fatalf("want 4 hits up to port 7003, got %v", got)
	}
	if c := s.Counters(); c["over_budget"] != 3 || c["ring_events"] != 3 {
		t.Errorf("counters %v: want 3 over budget, 3 ring events", c)
	}
}

// TestParse: the shapes the kernel parser must read, and those it must let
// pass untouched.
func TestParse(t *testing.T) {
	s := loaded(t, Config{MinKnock: 2})
	v6 := netip.MustParseAddr("2001:db8::7")
	syn6 := pkt{Src: v6, Dst: host6, Proto: 6, Port: 7100}.frame()
	vlan := pkt{Src: client, Dst: host, Proto: 17, Port: 7101}.frame()
	vlan = append(append(append([]byte{}, vlan[:12]...), 0x81, 0x00, 0, 5), vlan[12:]...)
	frag := pkt{Src: client, Dst: host, Proto: 17, Port: 7102}.frame()
	frag[14+6], frag[14+7] = 0x20, 0x10 // more fragments, offset 16 words: not the first
	for _, tc := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"ipv6 syn", syn6, xdpDrop},
		{"vlan udp", vlan, xdpDrop},
		{"later fragment", frag, xdpPass},
		{"truncated tcp", syn6[:len(syn6)-1], xdpPass},
		{"ethernet only", syn6[:14], xdpPass},
		{"arp", append(append([]byte{}, syn6[:12]...), 0x08, 0x06, 0, 1), xdpPass},
	} {
		ret, err := s.objs.KnockXdp.Run(&ebpf.RunOptions{Data: tc.frame})
		if err != nil {
			t.Fatal(err)
		}
		if ret != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, ret, tc.want)
		}
	}
}

// FuzzProgram runs the kernel program on arbitrary frames: every verdict
// is pass or drop, and every record it writes decodes.
func FuzzProgram(f *testing.F) {
	v6 := netip.MustParseAddr("2001:db8::7")
	for _, p := range []pkt{
		{Src: client, Dst: host, Proto: 6, Port: 7001},
		{Src: v6, Dst: host6, Proto: 17, Port: 7002},
		{Src: client, Dst: host, Proto: 17, Port: 62201, Payload: []byte("payload")},
	} {
		f.Add(p.frame())
	}
	s := loaded(f, Config{MinKnock: 2, SPAPorts: []uint16{62201}})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 {
			return // the kernel refuses to run XDP on less than a header
		}
		ret, err := s.objs.KnockXdp.Run(&ebpf.RunOptions{Data: frame})
		if err != nil {
			t.Fatal(err)
		}
		if ret != xdpPass && ret != xdpDrop {
			t.Fatalf("verdict %d", ret)
		}
		for _, h := range s.drain(t) {
			if !h.Src.IsValid() || len(h.Payload) > PayloadMax {
				t.Fatalf("bad hit %+v", h)
			}
		}
	})
}

// TestClock: hits are stamped on the injected clock, plus the kernel's
// monotonic time since New.
func TestClock(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := loaded(t, Config{MinKnock: 2, Now: func() time.Time { return now }})
	s.run(t, pkt{Src: client, Dst: host, Proto: 6, Port: 7001})
	s.run(t, pkt{Src: client, Dst: host, Proto: 6, Port: 7002})
	got := s.drain(t)
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	for _, h := range got {
		if h.Time.Before(now) || h.Time.After(now.Add(time.Minute)) {
			t.Errorf("hit at %v, want just after %v", h.Time, now)
		}
	}
}
