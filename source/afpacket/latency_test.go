package afpacket_test

import (
	"testing"

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
	for _, tc := range []struct {
		name    string
		proto   string
		ipv6    bool
		payload []byte
	}{
		{"udp4", source.UDP, false, []byte("single packet knock")},
		{"tcp4", source.TCP, false, nil},
		{"tcp6", source.TCP, true, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := needNetns(b)
			hits := make(chan source.Hit, 1)
			run(b, open(b, p, afpacket.Config{Interface: "eth0", Ports: ports(b, "745-1000")}), hits)
			k := packettest.Knock{Dst: p.HostV4, Proto: tc.proto, Port: 800, Payload: tc.payload}
			if tc.ipv6 {
				k.Dst = p.HostV6
			}
			packettest.Latency(b, p, hits, k, b.N)
		})
	}
}
