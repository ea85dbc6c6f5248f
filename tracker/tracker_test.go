package tracker_test

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock/tracker"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func addr(i uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestQueueOrderAndDepth(t *testing.T) {
	tr := tracker.New(tracker.Config{Depth: 4})
	a := addr(1)
	var got []uint16
	for i := 0; i < 6; i++ {
		got = tr.Add(a, uint16(100+i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if want := []uint16{102, 103, 104, 105}; !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v (oldest dropped at depth 4)", got, want)
	}
	tr.Drop(a, 3)
	if got := tr.Add(a, 106, t0.Add(10*time.Millisecond)); !slices.Equal(got, []uint16{105, 106}) {
		t.Fatalf("after Drop(3): %v", got)
	}
	tr.Consume(a)
	if got := tr.Add(a, 107, t0.Add(11*time.Millisecond)); !slices.Equal(got, []uint16{107}) {
		t.Fatalf("after Consume: %v", got)
	}
}

func TestTimeoutRestartsQueue(t *testing.T) {
	tr := tracker.New(tracker.Config{Timeout: time.Second})
	a := addr(7)
	tr.Add(a, 1, t0)
	tr.Add(a, 2, t0.Add(500*time.Millisecond))
	if got := tr.Add(a, 3, t0.Add(2*time.Second)); !slices.Equal(got, []uint16{3}) {
		t.Fatalf("active queue after a 1.5 s gap: %v, want [3]", got)
	}
	b := addr(8)
	tr.Add(b, 1, t0)
	if got := tr.Add(b, 2, t0.Add(3*time.Second)); !slices.Equal(got, []uint16{2}) {
		t.Fatalf("probation entry after a 3 s gap: %v, want [2]", got)
	}
	if s := tr.Stats(); s.Expired != 2 {
		t.Fatalf("Expired = %d, want 2", s.Expired)
	}
}

// A real client knocking slowly keeps its queue while a flood of spoofed
// single-packet sources, far more than the tracker holds, passes through.
func TestFloodDoesNotEvictClient(t *testing.T) {
	tr := tracker.New(tracker.Config{Probation: 4096, Active: 64, Timeout: 10 * time.Second})
	client := netip.MustParseAddr("2001:db8::42")
	rng := rand.New(rand.NewPCG(1, 1))
	now := t0
	var got []uint16
	for k := 0; k < 8; k++ {
		got = slices.Clone(tr.Add(client, uint16(900+k), now)) // valid until the next Add
		// Between two knocks of the client: 1000 spoofed packets.
		for i := 0; i < 1000; i++ {
			now = now.Add(100 * time.Microsecond)
			tr.Add(addr(rng.Uint32()), uint16(rng.IntN(256)), now)
		}
	}
	if want := []uint16{900, 901, 902, 903, 904, 905, 906, 907}; !slices.Equal(got, want) {
		t.Fatalf("client queue %v, want %v", got, want)
	}
	s := tr.Stats()
	if s.Probation > 4096 || s.Active > 64 {
		t.Fatalf("tracker over its bounds: %+v", s)
	}
	if s.Evicted == 0 {
		t.Fatalf("the flood should have evicted probation entries: %+v", s)
	}
}

// The first knock of a client must survive in probation until its second
// arrives; with a probation segment smaller than the flood between them,
// it is lost (this is what sizing Probation is for).
func TestProbationSizeBoundsSurvival(t *testing.T) {
	tr := tracker.New(tracker.Config{Probation: 100})
	c := addr(0xffffffff)
	tr.Add(c, 1, t0)
	for i := uint32(0); i < 200; i++ {
		tr.Add(addr(i), 0, t0)
	}
	if got := tr.Add(c, 2, t0); !slices.Equal(got, []uint16{2}) {
		t.Fatalf("queue %v: first knock should have been evicted", got)
	}
}

func TestNoAllocationsOnceWarm(t *testing.T) {
	tr := tracker.New(tracker.Config{Probation: 1024, Active: 128})
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 10000; i++ {
		tr.Add(addr(rng.Uint32()%4000), 1, t0)
	}
	allocs := testing.AllocsPerRun(10000, func() {
		tr.Add(addr(rng.Uint32()%4000), 1, t0)
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per Add at steady state", allocs)
	}
}

func BenchmarkAddSpoofedFlood(b *testing.B) {
	tr := tracker.New(tracker.Config{})
	rng := rand.New(rand.NewPCG(3, 3))
	b.ReportAllocs()
	for b.Loop() {
		tr.Add(addr(rng.Uint32()), 745, t0)
	}
}

func BenchmarkAddFewSources(b *testing.B) {
	tr := tracker.New(tracker.Config{})
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		tr.Add(addr(i%1000), uint16(i), t0)
	}
}

// The budget: full when a source becomes active, spent by Spend, earned
// back over Refill, never above Budget; running out is reported once
// until the budget is full again; a source seen once has none.
func TestBudget(t *testing.T) {
	tr := tracker.New(tracker.Config{Budget: 100, Refill: 10 * time.Second})
	a := addr(7)
	tr.Add(a, 1, t0)
	if got := tr.Allowance(a, t0); got != 0 {
		t.Fatalf("a source seen once has %d, want 0", got)
	}
	tr.Add(a, 2, t0)
	if got := tr.Allowance(a, t0); got != 100 {
		t.Fatalf("a new active source has %d, want 100", got)
	}
	if tr.Spend(a, 100, false) {
		t.Fatal("spending what it had throttled the source")
	}
	if !tr.Spend(a, 0, true) {
		t.Fatal("starved: not reported")
	}
	if tr.Spend(a, 0, true) {
		t.Fatal("starved again: reported twice")
	}
	if got := tr.Allowance(a, t0.Add(time.Second)); got != 10 {
		t.Fatalf("after 1 s of 10: %d, want 10", got)
	}
	if got := tr.Allowance(a, t0.Add(time.Hour)); got != 100 {
		t.Fatalf("after an hour: %d, want 100 (capped)", got)
	}
	if !tr.Spend(a, 100, true) {
		t.Fatal("a new episode after the budget was full again: not reported")
	}
	if s := tr.Stats(); s.Throttled != 2 {
		t.Fatalf("throttled %d times, want 2", s.Throttled)
	}
}
