package nflog_test

import (
	"testing"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/nflog"
	"github.com/portknock/knock/source/packet/packettest"
)

// BenchmarkLatency measures knock-sent to hit-received through NFLOG, over
// veth between namespaces: each iteration is one knock, sent when the
// previous one has arrived.
//
//	go test -run XXX -bench Latency -benchtime 500x ./source/nflog
func BenchmarkLatency(b *testing.B) {
	packettest.LatencyBenchmarks(b, func(b *testing.B, p *netnstest.Pair) <-chan source.Hit {
		hits := make(chan source.Hit, 1)
		start(b, p, nflog.Config{Span: packettest.Span(b, "745-1000")}, hits)
		return hits
	})
}

// BenchmarkLatencyBatched is BenchmarkLatency with the kernel gathering
// up to 32 packets per message: a lone knock waits the flush timeout.
//
//	go test -run XXX -bench LatencyBatched -benchtime 300x ./source/nflog
func BenchmarkLatencyBatched(b *testing.B) {
	packettest.LatencyBenchmarks(b, func(b *testing.B, p *netnstest.Pair) <-chan source.Hit {
		hits := make(chan source.Hit, 1)
		start(b, p, nflog.Config{Span: packettest.Span(b, "745-1000"), Batch: 32}, hits)
		return hits
	})
}
