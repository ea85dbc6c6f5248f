package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// V1 of the compatibility notes: 142.103.205.1 asks for port 22 for 15
// minutes; FLAG0 carries the minutes, as in the prototype's example.
var v1 = []uint16{966, 914, 795, 964, 831, 862, 807, 932}

type rig struct {
	e   *Engine
	fw  *firewalltest.Backend
	clk *clock
}

func newRig(t *testing.T, mutate func(*Config, *legacy.Protocol)) *rig {
	t.Helper()
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	leg := &legacy.Protocol{Codec: codec, TimeField: "FLAG0", Window: time.Minute, ReplayTTL: 24 * time.Hour}
	cfg := Config{Protocols: []Protocol{leg}, Protected: []knock.Port{{Proto: "tcp", Port: 22}}, CheckClient: true, Replay: true}
	if mutate != nil {
		mutate(&cfg, leg)
	}
	if err := leg.CheckFields(); err != nil {
		t.Fatal(err)
	}
	rc := newMemClaims()
	fw := firewalltest.New(clk.now)
	e, err := New(cfg, Deps{Claims: rc, Firewall: fw, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{e: e, fw: fw, clk: clk}
}

func (r *rig) knock(src string, ports ...uint16) {
	for _, p := range ports {
		r.clk.t = r.clk.t.Add(100 * time.Millisecond)
		r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.MustParseAddr(src), Proto: knock.TCP, Port: p})
	}
	r.e.acts.drain()
}

func TestValidKnockOpensAndExpires(t *testing.T) {
	r := newRig(t, nil)
	r.knock("142.103.205.1", v1...)
	if got := r.fw.Active(); !slices.Equal(got, []string{"142.103.205.1 tcp/22"}) {
		t.Fatalf("active grants %v (log %v)", got, r.fw.Log)
	}
	if r.fw.Log[0] != "open 142.103.205.1 tcp/22 15m0s" {
		t.Fatalf("firewall log %v: want 15 minutes from FLAG0", r.fw.Log)
	}
	r.clk.t = r.clk.t.Add(16 * time.Minute)
	if got := r.fw.Active(); len(got) != 0 {
		t.Fatalf("still open after 16 minutes: %v", got)
	}
}

func TestStrayBeforeKnockIsSkipped(t *testing.T) {
	r := newRig(t, nil)
	r.knock("142.103.205.1", append([]uint16{800, 801}, v1...)...)
	if len(r.fw.Active()) != 1 {
		t.Fatalf("knock after strays not found: %v", r.fw.Log)
	}
}

func TestRejections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config, *legacy.Protocol)
		src    string
		ports  []uint16
		reason knock.Reason
	}{
		{"wrong source", nil, "10.9.9.9", v1, knock.ReasonClient},
		{"port not protected", func(c *Config, _ *legacy.Protocol) { c.Protected = []knock.Port{{Proto: "tcp", Port: 443}} }, "142.103.205.1", v1, knock.ReasonPort},
		{"changed port", nil, "142.103.205.1", append(slices.Clone(v1[:7]), 933), knock.ReasonDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.mutate)
			r.knock(tc.src, tc.ports...)
			if len(r.fw.Log) != 0 {
				t.Fatalf("firewall touched: %v", r.fw.Log)
			}
			if n := r.e.m.Rejected(tc.reason); n != 1 {
				t.Fatalf("rejected for %q %d times, want 1", tc.reason, n)
			}
		})
	}
}

func TestReplayRefused(t *testing.T) {
	r := newRig(t, nil)
	r.knock("142.103.205.1", v1...)
	r.knock("142.103.205.1", v1...)
	if len(r.fw.Log) != 1 || r.e.m.Rejected(knock.ReasonReplay) != 1 {
		t.Fatalf("replay: firewall %v, replay rejections %d", r.fw.Log, r.e.m.Rejected(knock.ReasonReplay))
	}
}

func TestStaleKnock(t *testing.T) {
	codec, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,THISMINUTE,CHECKSUM", Cipher: "Blowfish", Key: "k", Span: "745-1000",
		Now: func() time.Time { return time.Date(2026, 11, 22, 11, 50, 0, 0, time.UTC) }})
	ports, err := codec.Encode(legacy.Values{Client: netip.MustParseAddr("10.0.0.1"), Port: 22})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *Config, l *legacy.Protocol) { l.Codec, l.TimeField = codec, "" })
	r.knock("10.0.0.1", ports...) // made at 11:50, daemon at 12:00, window 1 min
	if r.e.m.Rejected(knock.ReasonStale) != 1 || len(r.fw.Log) != 0 {
		t.Fatalf("stale knock: rejections %d, firewall %v", r.e.m.Rejected(knock.ReasonStale), r.fw.Log)
	}
}

func TestCloseKnock(t *testing.T) {
	codec, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000", IV: true})
	open, _ := codec.Encode(legacy.Values{Client: netip.MustParseAddr("10.0.0.1"), Port: 22, Flags: map[int]int{0: 30}})
	shut, _ := codec.Encode(legacy.Values{Client: netip.MustParseAddr("10.0.0.1"), Port: 22, Flags: map[int]int{0: 0}})
	r := newRig(t, func(c *Config, l *legacy.Protocol) { l.Codec = codec })
	r.knock("10.0.0.1", open...)
	r.knock("10.0.0.1", shut...)
	want := []string{"open 10.0.0.1 tcp/22 30m0s", "close 10.0.0.1 tcp/22"}
	if !slices.Equal(r.fw.Log, want) || len(r.fw.Active()) != 0 {
		t.Fatalf("firewall log %v, want %v", r.fw.Log, want)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	r := newRig(t, func(c *Config, _ *legacy.Protocol) { c.DryRun = true })
	r.knock("142.103.205.1", v1...)
	if len(r.fw.Log) != 0 || r.e.m.Accepted() != 1 {
		t.Fatalf("dry run: firewall %v, accepted %d", r.fw.Log, r.e.m.Accepted())
	}
}

func TestDurationCapped(t *testing.T) {
	r := newRig(t, func(c *Config, _ *legacy.Protocol) { c.MaxDuration = 10 * time.Minute; c.Duration = time.Minute })
	r.knock("142.103.205.1", v1...)
	if !slices.Equal(r.fw.Log, []string{"open 142.103.205.1 tcp/22 10m0s"}) {
		t.Fatalf("firewall log %v: 15 minutes asked, 10 allowed", r.fw.Log)
	}
}

// Under a flood of random sequences, garbage candidates decode now and
// then (padding and checksum pass about once in 65,000); none may open
// anything, because CLIENT must then also equal the spoofed source.
func TestGarbageNeverOpens(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config, _ *legacy.Protocol) { c.Replay = false })
	rng := rand.New(rand.NewPCG(11, 12))
	srcs := make([]netip.Addr, 64)
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, 1, byte(i), 1})
	}
	const packets = 600_000
	for i := 0; i < packets; i++ {
		r.clk.t = r.clk.t.Add(time.Microsecond)
		r.e.Handle(source.Hit{Time: r.clk.t, Src: srcs[rng.IntN(len(srcs))], Proto: knock.TCP, Port: uint16(745 + rng.IntN(256))})
	}
	r.e.acts.drain()
	decoded := r.e.m.Rejected(knock.ReasonClient) + r.e.m.Rejected(knock.ReasonPort)
	t.Logf("%d packets: %d garbage candidates decoded (client or port check refused them), %d failed the checksum",
		packets, decoded, r.e.m.Rejected(knock.ReasonChecksum))
	if len(r.fw.Log) != 0 {
		t.Fatalf("garbage opened the firewall: %v", r.fw.Log)
	}
	if decoded == 0 {
		t.Fatalf("no garbage candidate decoded in %d packets: the test no longer exercises the checks after decoding", packets)
	}
}

func TestCandidates(t *testing.T) {
	q := []uint16{1, 2, 3, 4, 5}
	collect := func(skip int) [][]uint16 {
		rec := &recorder{}
		r := &spanRoute{proto: rec, lengths: []int{3}, skip: skip, look: 8, skipPerHit: 100, buf: make([]uint16, 0, 8)}
		s := search{e: &Engine{now: time.Now}, r: r, queue: q, allow: 100}
		s.run()
		return rec.decoded
	}
	got := collect(0)
	if len(got) != 1 || !slices.Equal(got[0], []uint16{3, 4, 5}) {
		t.Fatalf("skip 0: %v", got)
	}
	// Skipping up to two foreign knocks: windows of 4 and 5 knocks, the
	// first and last always kept.
	got = collect(2)
	want := [][]uint16{{3, 4, 5}, {2, 4, 5}, {2, 3, 5}, {1, 4, 5}, {1, 3, 5}, {1, 2, 5}}
	if !slices.EqualFunc(got, want, slices.Equal[[]uint16]) {
		t.Fatalf("skip 2: %v, want %v", got, want)
	}
}

// recorder is a SpanProtocol that finds every candidate plausible and
// records, then refuses, what it is asked to decode.
type recorder struct{ decoded [][]uint16 }

func (*recorder) Name() knock.Protocol                  { return "recorder" }
func (*recorder) KnockSpan() *portspan.Span             { return nil }
func (*recorder) Lengths() []int                        { return []int{3} }
func (*recorder) Skip() int                             { return 2 }
func (*recorder) Plausible(prefix []uint16, n int) bool { return true }
func (r *recorder) Decode(ports []uint16, _ netip.Addr, _ time.Time) (knock.Request, error) {
	r.decoded = append(r.decoded, slices.Clone(ports))
	return knock.Request{}, knock.Refuse(knock.ReasonAuth, errors.New("recorded"))
}

// memClaims is a Claims in memory that can be told to fail.
type memClaims struct {
	mu   sync.Mutex
	ids  map[knock.ReplayID]time.Time
	fail error
}

func newMemClaims() *memClaims { return &memClaims{ids: map[knock.ReplayID]time.Time{}} }

func (m *memClaims) Claim(_ context.Context, id knock.ReplayID, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	if _, ok := m.ids[id]; ok {
		return false, nil
	}
	m.ids[id] = until
	return true, nil
}
