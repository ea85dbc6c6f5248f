package nflog_test

import (
	"testing"

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
	for _, tc := range []struct {
		name    string
		proto   string
		ipv6    bool
		payload []byte
	}{
		{"udp4", source.UDP, false, []byte("single packet knock")},
		{"udp6", source.UDP, true, []byte("single packet knock")},
		{"tcp4", source.TCP, false, nil},
		{"tcp6", source.TCP, true, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := needNetns(b)
			hits := make(chan source.Hit, 1)
			start(b, p, nflog.Config{Ports: ports(b, "745-1000")}, hits)
			k := packettest.Knock{Dst: p.HostV4, Proto: tc.proto, Port: 800, Payload: tc.payload}
			if tc.ipv6 {
				k.Dst = p.HostV6
			}
			packettest.Latency(b, p, hits, k, b.N)
		})
	}
}
