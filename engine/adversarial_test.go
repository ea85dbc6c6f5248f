package engine

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/source"
)

// counting is the real sealed protocol, counting its full decodes.
type counting struct {
	*sealed.Protocol
	decodes int
}

func (c *counting) Decode(ports []uint16, src netip.Addr, now time.Time) (knock.Request, error) {
	c.decodes++
	return c.Protocol.Decode(ports, src, now)
}

// floodRate is the audit's: about 2,600 SYN a second (1 Mbit/s).
const floodRate = time.Second / 2600

type advRig struct {
	*rig
	proto *counting
	key   *sealed.Key
	span  *portspan.Span
	logs  *bytes.Buffer
	bound int // decodes one hit may cost
}

func newAdvRig(t testing.TB) *advRig {
	t.Helper()
	key, err := sealed.NewKey(bytes.Repeat([]byte{9}, sealed.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	span, _ := portspan.Parse("40000-40255")
	clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	fw := firewalltest.New(clk.now)
	p := &counting{Protocol: &sealed.Protocol{Key: key, Span: span}}
	logs := &bytes.Buffer{}
	cfg := Config{Protocols: []Protocol{p}, Protected: []knock.Port{{Proto: "tcp", Port: 22}}, CheckClient: true, Replay: true}
	e, err := New(cfg, Deps{Claims: newMemClaims(), Firewall: fw, Now: clk.now, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &advRig{rig: &rig{e: e, fw: fw, clk: clk}, proto: p, key: key, span: span, logs: logs, bound: len(p.Lengths()) + SkipCost(p)}
}

// hit sends one packet after gap and returns the decodes it cost.
func (r *advRig) hit(src netip.Addr, port uint16, gap time.Duration) int {
	r.clk.t = r.clk.t.Add(gap)
	before := r.proto.decodes
	r.e.Handle(source.Hit{Time: r.clk.t, Src: src, Proto: knock.TCP, Port: port})
	return r.proto.decodes - before
}

// knockSeq is a sealed knock from client, with foreign packets injected
// before the knocks at the positions in inject.
func (r *advRig) knockSeq(t testing.TB, client netip.Addr, nonce uint16, inject ...int) []uint16 {
	t.Helper()
	b, err := sealed.SealNonce(r.key, sealed.Message{Client: client, Port: 22, Proto: "tcp", Time: r.clk.t, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	var seq []uint16
	for i, p := range sealed.Encode(r.span, b) {
		if slices.Contains(inject, i) {
			seq = append(seq, r.span.Port(i*7%r.span.Size()))
		}
		seq = append(seq, p)
	}
	return seq
}

var attacker = netip.MustParseAddr("10.66.0.1")

// Worst sequences from one unspoofed source, each port a valid or
// near-valid header, so that the first look passes as often as it can.
var worst = map[string]func(i int, rng *rand.Rand) uint16{
	// The audit's: one port whose byte is a version 1 IPv6 header (32 bytes).
	"repeated IPv6 header":     func(int, *rand.Rand) uint16 { return 40000 + 0x12 },
	"repeated implicit header": func(int, *rand.Rand) uint16 { return 40000 + 0x10 },
	// A header every third packet: every hit completes a window that
	// starts with one, for one of the skip counts.
	"header every third": func(i int, _ *rand.Rand) uint16 {
		if i%3 == 0 {
			return 40000 + 0x12
		}
		return 40000 + 0xff
	},
	// Headers of every length and version, at random.
	"random headers": func(_ int, rng *rand.Rand) uint16 {
		return 40000 + uint16([]byte{0x10, 0x11, 0x12, 0x20, 0x21, 0x22}[rng.IntN(6)])
	},
	"random ports": func(_ int, rng *rand.Rand) uint16 { return 40000 + uint16(rng.IntN(256)) },
}

// Whatever one source sends, a hit costs at most the bound, the flood
// costs about one decode a packet beyond the source's budget, nothing
// opens, and the source is throttled, counted and logged once.
func TestWorstSequencesBounded(t *testing.T) {
	for name, next := range worst {
		t.Run(name, func(t *testing.T) {
			r := newAdvRig(t)
			rng := rand.New(rand.NewPCG(1, 2))
			const packets = 6000
			most, total := 0, 0
			for i := 0; i < packets; i++ {
				d := r.hit(attacker, next(i, rng), floodRate)
				most, total = max(most, d), total+d
			}
			r.e.acts.drain()
			elapsed := packets * floodRate
			budget := BudgetFor(r.proto)
			allowed := packets + budget + int(int64(budget)*int64(elapsed)/int64(budgetRefill)) + 1
			t.Logf("%d packets: %d decodes (%.2f a packet), at most %d in one (bound %d); throttled %d",
				packets, total, float64(total)/packets, most, r.bound, sum(r.e.m.throttled, nil))
			if most > r.bound {
				t.Errorf("one hit cost %d decodes, bound %d", most, r.bound)
			}
			if total > allowed {
				t.Errorf("%d decodes for %d packets in %s, bound %d", total, packets, elapsed, allowed)
			}
			if len(r.fw.Log) != 0 || r.e.m.Accepted() != 0 {
				t.Fatalf("the flood opened: %v", r.fw.Log)
			}
			if name == "random ports" {
				return // rarely a skip window: no throttling expected
			}
			if n := sum(r.e.m.throttled, nil); n != 1 {
				t.Errorf("throttled %d times, want 1", n)
			}
			if n := strings.Count(r.logs.String(), "source throttled"); n != 1 || !strings.Contains(r.logs.String(), "src="+attacker.String()) {
				t.Errorf("%d throttle warnings, want 1 naming %s:\n%s", n, attacker, r.logs)
			}
		})
	}
}

// The audit's flood: after the source's budget is spent, a flood packet
// costs at most one decode, so its cost no longer depends on what came
// before it.
func TestAuditFloodCostsOneDecodeAPacket(t *testing.T) {
	r := newAdvRig(t)
	for i := 0; i < 40; i++ {
		r.hit(attacker, 40000+0x12, floodRate)
	}
	for i := 0; i < 2600; i++ {
		if d := r.hit(attacker, 40000+0x12, floodRate); d > 2 {
			t.Fatalf("flood packet %d cost %d decodes after the budget was spent", i, d)
		}
	}
}

// Another source's knock, with two foreign packets injected, opens at
// once in the middle of the flood; so does the flooder's own knock after
// the flood, plain at once, injected once its budget is back.
func TestKnocksOpenDuringAndAfterFlood(t *testing.T) {
	r := newAdvRig(t)
	rng := rand.New(rand.NewPCG(3, 4))
	flood := func(n int) {
		for i := 0; i < n; i++ {
			r.hit(attacker, worst["random headers"](i, rng), floodRate)
		}
	}
	flood(2000)
	other := netip.MustParseAddr("10.77.0.2")
	for _, inject := range [][]int{nil, {5, 11}, {1, 30}} {
		r.fw.Log = nil
		for _, p := range r.knockSeq(t, other, uint16(rng.IntN(1<<14)), inject...) {
			flood(3)
			r.hit(other, p, floodRate)
		}
		r.e.acts.drain()
		if !slices.Equal(r.fw.Log, []string{"open 10.77.0.2 tcp/22 5m0s"}) {
			t.Fatalf("knock injected before %v from another source during the flood: firewall %v", inject, r.fw.Log)
		}
	}

	// The flood ends; its queue still holds the flood's ports.
	r.fw.Log = nil
	for _, p := range r.knockSeq(t, attacker, 1) {
		r.hit(attacker, p, time.Millisecond)
	}
	r.e.acts.drain()
	if len(r.fw.Log) != 1 {
		t.Fatalf("the flooder's own knock after the flood: firewall %v", r.fw.Log)
	}
	r.fw.Log = nil
	flood(2000)
	r.clk.t = r.clk.t.Add(budgetRefill)
	for _, p := range r.knockSeq(t, attacker, 2, 4, 20) {
		r.hit(attacker, p, time.Millisecond)
	}
	r.e.acts.drain()
	if len(r.fw.Log) != 1 {
		t.Fatalf("the flooder's own injected knock after its budget came back: firewall %v", r.fw.Log)
	}
}

// The decision path allocates nothing for a flood packet, before and
// after the budget runs out, and for garbage from spoofed sources.
func TestFloodPacketAllocatesNothing(t *testing.T) {
	r := newAdvRig(t)
	port := func() uint16 { return 40000 + 0x12 }
	if a := testing.AllocsPerRun(3000, func() { r.hit(attacker, port(), floodRate) }); a != 0 {
		t.Errorf("audit flood: %v allocations a packet", a)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	if a := testing.AllocsPerRun(3000, func() {
		r.hit(netip.AddrFrom4([4]byte{10, 9, 0, byte(rng.IntN(4))}), 40000+uint16(rng.IntN(256)), floodRate)
	}); a != 0 {
		t.Errorf("random ports from a few sources: %v allocations a packet", a)
	}
	if a := testing.AllocsPerRun(3000, func() {
		r.hit(netip.AddrFrom4([4]byte{10, 8, byte(rng.IntN(256)), byte(rng.IntN(256))}), 40000+0x12, floodRate)
	}); a != 0 {
		t.Errorf("spoofed sources: %v allocations a packet", a)
	}
}

// A flood from many addresses, each repeating the header port long
// enough to fill its queue, gets a fresh budget per address; the
// engine-wide budget bounds them all, and a plain knock from another
// source still opens.
func TestManySourcesShareOneBudget(t *testing.T) {
	r := newAdvRig(t)
	const sources, each = 200, 40
	total := 0
	for s := 0; s < sources; s++ {
		src := netip.AddrFrom4([4]byte{10, 66, byte(s >> 8), byte(s)})
		for i := 0; i < each; i++ {
			total += r.hit(src, 40000+0x12, floodRate)
		}
	}
	elapsed := sources * each * floodRate
	capacity := sharedSearches * SkipCost(r.proto)
	allowed := sources*each + capacity + int(int64(capacity)*int64(elapsed)/int64(time.Second)) + 1
	t.Logf("%d packets from %d sources in %s: %d decodes (bound %d, %d a source without the shared budget); shed %d, throttled %d",
		sources*each, sources, elapsed, total, allowed, BudgetFor(r.proto), sum(r.e.m.shed, nil), sum(r.e.m.throttled, nil))
	if total > allowed {
		t.Errorf("%d decodes, bound %d", total, allowed)
	}
	if sum(r.e.m.shed, nil) == 0 {
		t.Error("nothing shed: the engine-wide budget was never the limit")
	}
	other := netip.MustParseAddr("10.77.0.2")
	for _, p := range r.knockSeq(t, other, 7) {
		r.hit(other, p, floodRate)
	}
	r.e.acts.drain()
	if len(r.fw.Log) != 1 {
		t.Fatalf("a plain knock during the flood: firewall %v", r.fw.Log)
	}
}

// On a span of 16 ports the header takes two ports, so a foreign packet
// can sit inside it: the first look is then asked per way of skipping.
func TestInjectedInsideTwoPortHeader(t *testing.T) {
	for _, inject := range [][]int{{1}, {1, 2}, {2, 20}} {
		r := newAdvRig(t)
		span, _ := portspan.Parse("40000-40015")
		p := &counting{Protocol: &sealed.Protocol{Key: r.key, Span: span}}
		e, err := New(Config{Protocols: []Protocol{p}, Protected: []knock.Port{{Proto: "tcp", Port: 22}}}, Deps{Firewall: r.fw, Now: r.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		r.e, r.span, r.proto = e, span, p
		client := netip.MustParseAddr("10.77.0.3")
		for _, port := range r.knockSeq(t, client, 5, inject...) {
			r.hit(client, port, time.Millisecond)
		}
		r.e.acts.drain()
		if len(r.fw.Log) != 1 {
			t.Errorf("injected before %v on 16 ports: firewall %v", inject, r.fw.Log)
		}
	}
}
