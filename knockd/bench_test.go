package knockd

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// BenchmarkMatcherFlood: spoofed packets from random sources over a door's
// ports, the Matcher full (capacity 4096, far below the sources): the cost
// per flood packet once eviction runs on every new source.
func BenchmarkMatcherFlood(b *testing.B) {
	for _, wipe := range []bool{false, true} {
		name := "per-source"
		if wipe {
			name = "knockd-wipe"
		}
		b.Run(name, func(b *testing.B) {
			c, err := ParseText("bench.conf", "[d]\nsequence = 7000,8000,9000\n[e]\nsequence = 7000,6000:udp\n")
			if err != nil {
				b.Fatal(err)
			}
			m := NewMatcher(c, MatcherConfig{Local: []netip.Addr{traceHost4}, Capacity: 4096, KnockdWipe: wipe})
			rng := rand.New(rand.NewPCG(1, 2))
			ports := []uint16{7000, 8000, 9000}
			packets := make([]Packet, 1<<16)
			for i := range packets {
				packets[i] = Packet{Time: traceEpoch, Dst: traceHost4, Iface: "eth0", Proto: TCP, TCPFlags: SYN,
					Src: netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}), Port: ports[rng.IntN(3)]}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Packet(packets[i&(len(packets)-1)])
			}
		})
	}
}
