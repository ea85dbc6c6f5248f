package engine

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/tracker"
)

func benchEngine(b testing.TB) (*Engine, *clock) {
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		b.Fatal(err)
	}
	clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	rc := newMemClaims()
	e, err := New(Config{
		Protocols: []Protocol{&legacy.Protocol{Codec: codec, TimeField: "FLAG0", Window: time.Minute, ReplayTTL: time.Hour}},
		Protected: []knock.Port{{Proto: "tcp", Port: 22}}, CheckClient: true, Replay: true,
	}, Deps{Claims: rc, Firewall: firewalltest.New(clk.now), Now: clk.now})
	if err != nil {
		b.Fatal(err)
	}
	return e, clk
}

// cpuMeter reports CPU time per operation as well as wall time: on a
// shared machine the wall clock counts other people's work.
type cpuMeter struct{ start time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuMeter { b.ResetTimer(); return cpuMeter{cpuTime()} }

func (m cpuMeter) report(b *testing.B) {
	cpu := cpuTime() - m.start
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "packets/cpu-s")
}

// BenchmarkDecisionFlood is the decision path under a spoofed flood: every
// packet from a random source, to a random port of the span. It reports
// packets per second on one core.
func BenchmarkDecisionFlood(b *testing.B) {
	e, clk := benchEngine(b)
	rng := rand.New(rand.NewPCG(1, 2))
	hits := make([]source.Hit, 1<<16)
	for i := range hits {
		hits[i] = source.Hit{Src: netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}), Proto: "tcp", Port: uint16(745 + rng.IntN(256))}
	}
	b.ReportAllocs()
	m := startCPU(b)
	for i := 0; b.Loop(); i++ {
		h := hits[i&(len(hits)-1)]
		clk.t = clk.t.Add(time.Microsecond)
		h.Time = clk.t
		e.Handle(h)
	}
	m.report(b)
}

// BenchmarkDecisionRepeatSources: 1000 sources sending random knocks, so
// queues are full and every packet decodes a candidate (the costly case).
func BenchmarkDecisionRepeatSources(b *testing.B) {
	e, clk := benchEngine(b)
	rng := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	m := startCPU(b)
	for b.Loop() {
		clk.t = clk.t.Add(time.Microsecond)
		e.Handle(source.Hit{Time: clk.t, Src: netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(250))}), Proto: "tcp", Port: uint16(745 + rng.IntN(256))})
	}
	m.report(b)
}

// BenchmarkDecisionValidKnock: a whole valid knock, decided and accepted.
func BenchmarkDecisionValidKnock(b *testing.B) {
	e, clk := benchEngine(b)
	e.cfg.Replay = false
	for b.Loop() {
		for _, p := range v1 {
			clk.t = clk.t.Add(time.Millisecond)
			e.Handle(source.Hit{Time: clk.t, Src: netip.MustParseAddr("142.103.205.1"), Proto: "tcp", Port: p})
		}
		e.acts.drain()
	}
}

// TestMemoryFlatUnderFlood sends a million spoofed sources through the
// engine and checks that the heap after them is what it was after the
// first hundred thousand: the tracker's memory is fixed at start.
func TestMemoryFlatUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a million packets")
	}
	e, clk := benchEngine(t)
	rng := rand.New(rand.NewPCG(5, 6))
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			clk.t = clk.t.Add(time.Microsecond)
			e.Handle(source.Hit{Time: clk.t, Src: netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}), Proto: "tcp", Port: uint16(745 + rng.IntN(256))})
		}
	}
	send(300_000) // fill the probation segment (131072 sources) and the map
	before := heap()
	send(1_000_000)
	after := heap()
	runtime.KeepAlive(e)
	t.Logf("heap after 300k spoofed sources: %d KiB; after 1.3M: %d KiB", before/1024, after/1024)
	if after > before+before/10 {
		t.Fatalf("heap grew from %d to %d bytes under the flood", before, after)
	}
}

// BenchmarkDecisionAdversarial is the audit's flood: one unspoofed source
// sending, at 2,600 packets a second, the one span port whose byte is a
// valid sealed header (version 1, IPv6: 32 bytes), so that every way of
// skipping packets at that length passes the first look.
//
// "flood" is the flood as it comes; "rich" gives the source its whole
// budget back before every packet (40 s apart, queues kept), which is
// the dearest a packet can be.
func BenchmarkDecisionAdversarial(b *testing.B) {
	for _, bc := range []struct {
		name    string
		gap     time.Duration
		timeout time.Duration
	}{{"flood", time.Second / 2600, 0}, {"rich", 40 * time.Second, time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			key, err := sealed.NewKey(bytes.Repeat([]byte{9}, sealed.KeySize))
			if err != nil {
				b.Fatal(err)
			}
			span, _ := portspan.Parse("40000-40255")
			clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
			e, err := New(Config{
				Protocols: []Protocol{&sealed.Protocol{Key: key, Span: span}},
				Protected: []knock.Port{{Proto: "tcp", Port: 22}}, CheckClient: true, Replay: true,
			}, Deps{Trackers: tracker.Config{Timeout: bc.timeout}, Claims: newMemClaims(), Firewall: firewalltest.New(clk.now), Now: clk.now})
			if err != nil {
				b.Fatal(err)
			}
			src := netip.MustParseAddr("10.66.0.1")
			for i := 0; i < 64; i++ { // fill the queue
				clk.t = clk.t.Add(time.Millisecond)
				e.Handle(source.Hit{Time: clk.t, Src: src, Proto: "tcp", Port: 40000 + 0x12})
			}
			b.ReportAllocs()
			m := startCPU(b)
			for b.Loop() {
				clk.t = clk.t.Add(bc.gap)
				e.Handle(source.Hit{Time: clk.t, Src: src, Proto: "tcp", Port: 40000 + 0x12})
			}
			m.report(b)
		})
	}
}
