package afpacket_test

import (
	"testing"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/afpacket"
	"github.com/portknock/knock/source/packet/packettest"
)

// BenchmarkLatency measures knock-sent to hit-received through the packet
// socket, over veth between namespaces: each iteration is one knock, sent
// when the previous one has arrived.
//
//	go test -run XXX -bench Latency -benchtime 500x ./source/afpacket
func BenchmarkLatency(b *testing.B) {
	packettest.LatencyBenchmarks(b, func(b *testing.B, p *netnstest.Pair) <-chan source.Hit {
		hits := make(chan source.Hit, 1)
		run(b, open(b, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(b, "745-1000")}), hits)
		return hits
	})
}
