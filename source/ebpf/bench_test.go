package ebpf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/portknock/knock/source"
)

// The kernel benchmarks run the program with BPF_PROG_TEST_RUN, one
// packet per run, and report the kernel's own measure of each run
// (ns/packet), which excludes the system call. b.N's ns/op includes it.

// runTimed runs the program once on frame and returns the kernel's time.
func (s *Source) runTimed(b *testing.B, frame []byte) time.Duration {
	_, d, err := s.objs.KnockXdp.Benchmark(frame, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// src returns the i-th benchmark source address (IPv4).
func src(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func report(b *testing.B, total time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64(total.Nanoseconds())/float64(n), "ns/packet")
	}
}

// BenchmarkPass is a packet to a port outside the span: parsed, passed.
func BenchmarkPass(b *testing.B) {
	s := loaded(b, Config{})
	frame := pkt{Src: client, Dst: host, Proto: 6, Port: 22}.frame()
	var total time.Duration
	for b.Loop() {
		total += s.runTimed(b, frame)
	}
	report(b, total, b.N)
}

// BenchmarkFirstSeen is a flood packet: a new source every packet, a
// stage-1 insert (evicting once stage 1 is full).
func BenchmarkFirstSeen(b *testing.B) {
	s := loaded(b, Config{})
	var total time.Duration
	i := 0
	for b.Loop() {
		total += s.runTimed(b, pkt{Src: src(i), Dst: host, Proto: 6, Port: 7000 + uint16(i%256)}.frame())
		i++
	}
	report(b, total, b.N)
}

// BenchmarkPromoted is a packet of a source in stage 2 whose queue is
// below the minimum: the queue is updated in place. Each source sends 30
// packets (below QueueLen = MinKnock); only the 3rd to 30th are timed.
func BenchmarkPromoted(b *testing.B) {
	s := loaded(b, Config{MinKnock: QueueLen})
	var total time.Duration
	timed, i := 0, 0
	for b.Loop() {
		frame := pkt{Src: src(i / 30), Dst: host, Proto: 6, Port: 7000 + uint16(i%256)}.frame()
		d := s.runTimed(b, frame)
		if i%30 >= 2 {
			total += d
			timed++
		}
		i++
	}
	report(b, total, timed)
	if c := s.Counters(); c["ring_events"] != 0 {
		b.Fatalf("promoted sources were handed up: %v", c)
	}
}

// BenchmarkRingEvent is a packet of a source whose queue went up: one
// ring buffer record each (the budget is unlimited here). The ring is
// drained, untimed, every 1000 packets.
func BenchmarkRingEvent(b *testing.B) {
	s := loaded(b, Config{MinKnock: 2, Budget: 1 << 30})
	frame := pkt{Src: client, Dst: host, Proto: 6, Port: 7001}.frame()
	s.runTimed(b, frame)
	s.runTimed(b, frame) // the queue goes up
	s.drainFast()
	var total time.Duration
	n := 0
	for b.Loop() {
		total += s.runTimed(b, frame)
		if n++; n%1000 == 0 {
			b.StopTimer()
			s.drainFast()
			b.StartTimer()
		}
	}
	report(b, total, n)
	if c := s.Counters(); c["ring_full"] != 0 {
		b.Fatalf("ring full: %v", c)
	}
}

// BenchmarkOverBudget is the steady state of a flood from a small prefix:
// a source past its budget, counted and dropped.
func BenchmarkOverBudget(b *testing.B) {
	s := loaded(b, Config{MinKnock: 2, Budget: 1})
	frame := pkt{Src: client, Dst: host, Proto: 6, Port: 7001}.frame()
	for range 4 {
		s.runTimed(b, frame)
	}
	var total time.Duration
	for b.Loop() {
		total += s.runTimed(b, frame)
	}
	report(b, total, b.N)
}

func (s *Source) drainFast() {
	var rec ringbuf.Record
	s.rd.SetDeadline(time.Now())
	for s.rd.ReadInto(&rec) == nil {
	}
}

// BenchmarkUserspace is Run's cost per ring record: reading it and
// turning it into hits, for single-packet records and for queues of 8.
// Records are made by the program between timed batches.
func BenchmarkUserspace(b *testing.B) {
	for _, tc := range []struct {
		name     string
		minKnock int
	}{{"hit", 2}, {"queue8", 8}} {
		b.Run(tc.name, func(b *testing.B) {
			s := loaded(b, Config{MinKnock: tc.minKnock, Budget: 1 << 30, Ring: 4 << 20})
			var rec ringbuf.Record
			hits := make([]source.Hit, 0, QueueLen)
			next := 0 // the next new source, for queues
			produce := func(n int) {
				for range n {
					packets, k := 1, 0 // hits: one packet of one source
					if tc.minKnock > 2 {
						packets, k = tc.minKnock, next // queues: a new source's knock
						next++
					}
					for range packets {
						frame := pkt{Src: src(k), Dst: host, Proto: 6, Port: 7001}.frame()
						if _, err := s.objs.KnockXdp.Run(&ebpf.RunOptions{Data: frame}); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			if tc.minKnock == 2 {
				produce(2) // the queue goes up; then one record per packet
				s.drainFast()
			}
			const batch = 1000
			b.ReportAllocs()
			b.StopTimer()
			for done := 0; done < b.N; done += batch {
				produce(min(batch, b.N-done))
				s.rd.SetDeadline(time.Now())
				b.StartTimer()
				for range min(batch, b.N-done) {
					if err := s.rd.ReadInto(&rec); err != nil {
						b.Fatal(err)
					}
					var ok bool
					if hits, ok = s.dec.decode(hits[:0], rec.RawSample, s.clock); !ok {
						b.Fatal("malformed record")
					}
				}
				b.StopTimer()
			}
			if c := s.Counters(); c["ring_full"] != 0 {
				b.Fatalf("ring full: %v", c)
			}
		})
	}
}

// BenchmarkPassLoop and BenchmarkOverBudgetLoop run the same packet b.N
// times inside the kernel (BPF_PROG_TEST_RUN's repeat): the program's cost
// without the test harness's per-run overhead, for the paths whose state
// does not change from one packet to the next.
func BenchmarkPassLoop(b *testing.B) {
	s := loaded(b, Config{})
	benchLoop(b, s, pkt{Src: client, Dst: host, Proto: 6, Port: 22}.frame())
}

func BenchmarkOverBudgetLoop(b *testing.B) {
	s := loaded(b, Config{MinKnock: 2, Budget: 1})
	frame := pkt{Src: client, Dst: host, Proto: 6, Port: 7001}.frame()
	for range 4 {
		s.runTimed(b, frame)
	}
	benchLoop(b, s, frame)
}

func benchLoop(b *testing.B, s *Source, frame []byte) {
	_, d, err := s.objs.KnockXdp.Benchmark(frame, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds()), "ns/packet")
}
