package knockd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// feed sends packets written as in traces ("seconds source destination
// proto/port [flags]") and returns "door source" per open.
func feed(t *testing.T, m *Matcher, lines ...string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		p, err := parsePacket(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range m.Packet(p) {
			out = append(out, ev.Door.Name+" "+ev.Src.String())
		}
	}
	return out
}

func testMatcher(t *testing.T, conf string, mc MatcherConfig) *Matcher {
	t.Helper()
	c, err := ParseText("test.conf", conf)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Local == nil {
		mc.Local = []netip.Addr{traceHost4, traceHost6}
	}
	return NewMatcher(c, mc)
}

func expectOpens(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("opened %q, want %q", got, want)
	}
}

func TestMatcherTimeoutWholeSeconds(t *testing.T) {
	conf := "[d]\nsequence = 1,2\nseq_timeout = 5\n"
	m := testMatcher(t, conf, MatcherConfig{})
	// knockd compares whole seconds: 10.9 -> 15.0 is 5 s, late; 10.0 ->
	// 14.99 is 4 s, on time.
	expectOpens(t, feed(t, m, "10.9 10.1.0.1 host tcp/1", "15.0 10.1.0.1 host tcp/2"))
	expectOpens(t, feed(t, m, "10.0 10.1.0.2 host tcp/1", "14.99 10.1.0.2 host tcp/2"), "d 10.1.0.2")
	// The timeout counts from the first knock, not the last.
	expectOpens(t, feed(t, m, "20 10.1.0.3 host tcp/1", "24 10.1.0.3 host tcp/1", "25 10.1.0.3 host tcp/2"))
	// Zero: only one-step doors can open.
	m = testMatcher(t, "[d]\nsequence = 1,2\nseq_timeout = 0\n[one]\nsequence=3\nseq_timeout=0\n", MatcherConfig{})
	expectOpens(t, feed(t, m, "0 10.1.0.1 host tcp/1", "0 10.1.0.1 host tcp/2", "0 10.1.0.1 host tcp/3"), "one 10.1.0.1")
}

func TestMatcherInterface(t *testing.T) {
	conf := "[options]\ninterface = wan0\n[d]\nsequence = 1\n"
	m := testMatcher(t, conf, MatcherConfig{})
	p, _ := parsePacket("0 10.1.0.1 host tcp/1")
	if ev := m.Packet(p); len(ev) != 0 {
		t.Errorf("a packet on eth0 opened %v; the file says wan0", ev)
	}
	p.Iface = "wan0"
	if ev := m.Packet(p); len(ev) != 1 {
		t.Errorf("a packet on wan0 opened %v", ev)
	}
	// The command line's interface wins; without either, eth0.
	m = testMatcher(t, conf, MatcherConfig{Interface: "eth0"})
	expectOpens(t, feed(t, m, "0 10.1.0.1 host tcp/1"), "d 10.1.0.1")
	m = testMatcher(t, "[d]\nsequence = 1\n", MatcherConfig{})
	expectOpens(t, feed(t, m, "0 10.1.0.1 host tcp/1"), "d 10.1.0.1")
}

func TestMatcherLocalAddresses(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1").WithZone("eth0")
	m := testMatcher(t, "[d]\nsequence = 1,2\n", MatcherConfig{Local: []netip.Addr{traceHost4, ll}})
	expectOpens(t, feed(t, m, "0 fe80::9 fe80::1 tcp/1", "0 fe80::9 fe80::1 tcp/2"), "d fe80::9")
	// Not an address of the interface: unseen, even mid-sequence.
	expectOpens(t, feed(t, m, "0 10.1.0.1 host tcp/1", "0 10.1.0.1 10.77.0.2 tcp/1", "0 10.1.0.1 host tcp/2"), "d 10.1.0.1")
	expectOpens(t, feed(t, m, "0 fd77::9 host6 tcp/1", "0 fd77::9 host6 tcp/2"))
}

func TestMatcherFlagsNotSeen(t *testing.T) {
	// With only flag-restricted doors, a packet of other flags is never
	// seen: it neither starts nor ends anything.
	m := testMatcher(t, "[d]\nsequence = 1,2,1\ntcpflags = syn\n", MatcherConfig{})
	expectOpens(t, feed(t, m,
		"0 10.1.0.1 host tcp/1 syn", "0 10.1.0.1 host tcp/1 ack", "0 10.1.0.1 host tcp/2 rst",
		"0 10.1.0.1 host tcp/2 syn", "0 10.1.0.1 host tcp/1 syn,ack"), "d 10.1.0.1")
}

func TestMatcherWipeOnTimeout(t *testing.T) {
	conf := "[d]\nsequence = 1,2,3\nseq_timeout = 5\n"
	packets := []string{
		"0 10.1.0.9 host tcp/1", // the oldest attempt, left to time out
		"4 10.1.0.1 host tcp/1",
		"5 10.1.0.1 host tcp/2", // 10.1.0.9 timed out: with the wipe, 10.1.0.1 goes too
		"6 10.1.0.1 host tcp/3",
	}
	expectOpens(t, feed(t, testMatcher(t, conf, MatcherConfig{KnockdWipe: true}), packets...))
	expectOpens(t, feed(t, testMatcher(t, conf, MatcherConfig{}), packets...), "d 10.1.0.1")
}

func TestMatcherOneTime(t *testing.T) {
	dir := t.TempDir()
	seqs := filepath.Join(dir, "sequences")
	const file = "# used up\n\n  junk\n7000,8000\n9000:udp\n"
	if err := os.WriteFile(seqs, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(conf, []byte("[otp]\none_time_sequences = "+seqs+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(conf)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Step{{TCP, 7000}, {TCP, 8000}}; !slices.Equal(c.Doors[0].Sequence, want) {
		t.Fatalf("sequence %v, want %v", c.Doors[0].Sequence, want)
	}
	m := NewMatcher(c, MatcherConfig{Local: []netip.Addr{traceHost4}})
	expectOpens(t, feed(t, m, "0 10.1.0.2 host tcp/7000", "0 10.1.0.1 host tcp/7000", "0 10.1.0.1 host tcp/8000"), "otp 10.1.0.1")
	b, _ := os.ReadFile(seqs)
	// knockd's way: the line's first byte becomes '#'; the junk line
	// before it is left alone (knockd would comment it out instead).
	if want := "# used up\n\n  junk\n#000,8000\n9000:udp\n"; string(b) != want {
		t.Errorf("file after use:\n%s\nwant:\n%s", b, want)
	}
	// The old sequence no longer works, and 10.1.0.2's attempt on it is gone.
	expectOpens(t, feed(t, m, "0 10.1.0.2 host tcp/8000", "0 10.1.0.3 host tcp/7000", "0 10.1.0.3 host tcp/8000"))
	p, _ := parsePacket("0 10.1.0.4 host udp/9000")
	ev := m.Packet(p)
	if len(ev) != 1 || !errors.Is(ev[0].Disabled, ErrNoSequence) {
		t.Fatalf("last sequence: %+v, want an open and the door disabled", ev)
	}
	if _, ok := m.Sequence(c.Doors[0]); ok {
		t.Error("the door is still enabled")
	}
	expectOpens(t, feed(t, m, "0 10.1.0.4 host udp/9000"))
	if seq, err := ConsumeOneTime(seqs, nil); !errors.Is(err, ErrNoSequence) {
		t.Errorf("file still has %v (%v)", seq, err)
	}
	// Parse refuses a file with no valid line, as knockd does.
	if _, err := Parse(conf); err == nil || !strings.Contains(err.Error(), "no sequence left") {
		t.Errorf("Parse with a used-up file: %v", err)
	}
}

// TestMatcherCapacity floods the Matcher with far more spoofed first knocks
// than it holds: state stays bounded, and a knocker past the first step
// still opens.
func TestMatcherCapacity(t *testing.T) {
	const capacity = 64
	m := testMatcher(t, "[d]\nsequence = 1,2,3\n[e]\nsequence = 1,4\n", MatcherConfig{Capacity: capacity})
	expectOpens(t, feed(t, m, "0 192.0.2.1 host tcp/1", "0 192.0.2.1 host tcp/2"))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 * capacity {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		port := []uint16{1, 2, 3, 4}[rng.IntN(4)]
		m.Packet(Packet{Time: traceEpoch, Src: src, Dst: traceHost4, Iface: "eth0", Proto: TCP, Port: port, TCPFlags: SYN})
		if n := m.Sources(); n > capacity {
			t.Fatalf("%d sources followed, capacity %d", n, capacity)
		}
	}
	expectOpens(t, feed(t, m, "0 192.0.2.1 host tcp/3"), "d 192.0.2.1")
}

// TestFloodChance measures how often a flood of spoofed packets over a
// three-step door's ports opens it by chance, with and without knockd's
// wipe, and whether legitimate knocks sent during it open (docs/knockd.md).
// KNOCKD_FLOOD_RATES=10000,50000,100000 measures more rates.
func TestFloodChance(t *testing.T) {
	rates := []int{10000}
	if env := os.Getenv("KNOCKD_FLOOD_RATES"); env != "" {
		rates = nil
		for f := range strings.SplitSeq(env, ",") {
			var n int
			fmt.Sscan(f, &n)
			rates = append(rates, n)
		}
	}
	for _, rate := range rates {
		for _, wipe := range []bool{false, true} {
			opens, distinct, legit := floodChance(t, rate, 20*time.Second, 10*time.Millisecond, MatcherConfig{KnockdWipe: wipe})
			t.Logf("flood %d/s for 20 s from a /16 over 3 ports, KnockdWipe %v: %d opens, %d distinct spoofed sources, %d/7 legitimate knocks opened",
				rate, wipe, opens, distinct, legit)
			if !wipe && legit != 7 {
				t.Errorf("only %d/7 legitimate knocks opened during the flood", legit)
			}
		}
	}
}

// TestFloodProgressed: the bound on the sources past their first step
// (MatcherConfig.Progressed) evicts spoofed sources stuck halfway through
// the sequence, so a flood completes it by chance far less often, and the
// legitimate knocks sent during it all open. The reference is the Matcher
// without the bound (Progressed as large as it goes), which in this
// flood evicts nobody and behaves as the Matcher did before the bound.
func TestFloodProgressed(t *testing.T) {
	cases := []struct {
		rate int
		d    time.Duration
		gap  time.Duration // between a legitimate knock's steps
	}{
		{10000, 20 * time.Second, 10 * time.Millisecond},
		{10000, 20 * time.Second, 100 * time.Millisecond},
		{100000, 4 * time.Second, 10 * time.Millisecond},
	}
	for _, c := range cases {
		before, _, legitBefore := floodChance(t, c.rate, c.d, c.gap, MatcherConfig{Progressed: DefaultCapacity})
		after, distinct, legit := floodChance(t, c.rate, c.d, c.gap, MatcherConfig{})
		t.Logf("flood %d/s for %v from a /16 over 3 ports, steps %v apart: spoofed opens %d unbounded, %d with Progressed %d (%d distinct); legitimate %d/7 and %d/7",
			c.rate, c.d, c.gap, before, after, DefaultProgressed, distinct, legitBefore, legit)
		if legit != 7 {
			t.Errorf("flood %d/s, steps %v apart: only %d/7 legitimate knocks opened", c.rate, c.gap, legit)
		}
		if after*4 > before {
			t.Errorf("flood %d/s: %d spoofed opens with the bound, %d without: not a quarter", c.rate, after, before)
		}
	}
}

func floodChance(t *testing.T, rate int, d, gap time.Duration, mc MatcherConfig) (opens, distinct, legit int) {
	m := testMatcher(t, "[d]\nsequence = 7000,8000,9000\n", mc)
	rng := rand.New(rand.NewPCG(7, uint64(rate)))
	ports := []uint16{7000, 8000, 9000}
	legitSrc := netip.MustParseAddr("192.0.2.1")
	n := int(d.Seconds()) * rate
	step := d / time.Duration(n)
	seen := map[netip.Addr]bool{}
	// Seven legitimate knocks spread over the flood, steps gap apart.
	var knocks []Packet
	for k := 1; k <= 7; k++ {
		for j, port := range ports {
			at := traceEpoch.Add(time.Duration(k)*d/8 + time.Duration(j)*gap)
			knocks = append(knocks, Packet{Time: at, Src: legitSrc, Dst: traceHost4, Iface: "eth0", Proto: TCP, Port: port, TCPFlags: SYN})
		}
	}
	for i := range n {
		now := traceEpoch.Add(time.Duration(i) * step)
		for len(knocks) > 0 && !knocks[0].Time.After(now) {
			legit += len(m.Packet(knocks[0]))
			knocks = knocks[1:]
		}
		p := Packet{Time: now, Dst: traceHost4, Iface: "eth0", Proto: TCP, TCPFlags: SYN}
		p.Src = netip.AddrFrom4([4]byte{10, 200, byte(rng.IntN(256)), byte(rng.IntN(256))})
		p.Port = ports[rng.IntN(3)]
		for _, ev := range m.Packet(p) {
			opens++
			if !seen[ev.Src] {
				seen[ev.Src] = true
				distinct++
			}
		}
	}
	return opens, distinct, legit
}

// TestMatcherProgressedOldestFirst: with Progressed sources past their
// first step, the next to get there evicts the oldest of them, and only
// that one; new first knocks evict none of them.
func TestMatcherProgressedOldestFirst(t *testing.T) {
	const progressed = 4
	m := testMatcher(t, "[d]\nsequence = 1,2,3\n", MatcherConfig{Capacity: 64, Progressed: progressed})
	src := func(i int) string { return fmt.Sprintf("192.0.2.%d", i+1) }
	for i := range progressed + 1 {
		feed(t, m, "0 "+src(i)+" host tcp/1", "0 "+src(i)+" host tcp/2")
	}
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		m.Packet(Packet{Time: traceEpoch, Src: a, Dst: traceHost4, Iface: "eth0", Proto: TCP, Port: 1, TCPFlags: SYN})
	}
	expectOpens(t, feed(t, m, "0 "+src(0)+" host tcp/3"))
	for i := 1; i <= progressed; i++ {
		expectOpens(t, feed(t, m, "0 "+src(i)+" host tcp/3"), "d "+src(i))
	}
	// One past its first step, and the first knocks beyond the room the
	// progressed sources leave.
	if n, want := m.Evicted(), uint64(1+1000-(64-progressed)); n != want {
		t.Errorf("evicted %d sources, want %d", n, want)
	}
}
