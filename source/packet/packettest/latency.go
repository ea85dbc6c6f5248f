package packettest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/sender"
	"github.com/portknock/knock/source"
)

// Latency sends n copies of knock from the client, one at a time, and
// times each from just before the knock client's sender is called to the
// moment its hit comes out of hits: the source's share of knock-to-open.
// It reports the median, the 99th percentile and the worst as benchmark
// metrics.
func Latency(b *testing.B, p *netnstest.Pair, hits <-chan source.Hit, knock Knock, n int) {
	b.Helper()
	want := HitOf(p, knock)
	lat := make([]time.Duration, 0, n)
	err := p.Client.Do(func() error {
		s, err := sender.New(knock.Dst), error(nil)
		if err != nil {
			return err
		}
		defer s.Close()
		pkt := sender.Packet{Proto: knock.Proto, Port: knock.Port, Payload: knock.Payload}
		for range n {
			t0 := time.Now()
			if err := s.Send(pkt); err != nil {
				return err
			}
			select {
			case h := <-hits:
				lat = append(lat, time.Since(t0))
				if !Same(h, want) {
					return fmt.Errorf("hit %s, want %s", String(h), String(want))
				}
			case <-time.After(5 * time.Second):
				return fmt.Errorf("knock %d of %d: no hit after 5s", len(lat)+1, n)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-median")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "µs-p99")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "µs-max")
}

// LatencyBenchmarks runs Latency as sub-benchmarks for UDP with a payload
// and TCP, over IPv4 and IPv6, each in a fresh pair of namespaces. start
// starts the source under test in the pair's host namespace, watching
// port 800 (745-1000 will do), for the rest of the benchmark.
func LatencyBenchmarks(b *testing.B, start func(b *testing.B, p *netnstest.Pair) <-chan source.Hit) {
	for _, tc := range []struct {
		name    string
		proto   knock.Proto
		ipv6    bool
		payload []byte
	}{
		{"udp4", knock.UDP, false, []byte("single packet knock")},
		{"udp6", knock.UDP, true, []byte("single packet knock")},
		{"tcp4", knock.TCP, false, nil},
		{"tcp6", knock.TCP, true, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			testenv.NeedRoot(b)
			testenv.NeedCommand(b, "ip", "apt-get install iproute2")
			p := netnstest.NewPair(b)
			hits := start(b, p)
			k := Knock{Dst: p.HostV4, Proto: tc.proto, Port: 800, Payload: tc.payload}
			if tc.ipv6 {
				k.Dst = p.HostV6
			}
			Latency(b, p, hits, k, b.N)
		})
	}
}
