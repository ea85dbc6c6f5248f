package packet

import (
	"testing"
	"time"
)

// BenchmarkFilter measures packets filtered per second, the work a source
// does per packet read, on a mix of real captures: knocks, ACKs, fragments,
// other protocols.
//
//	go test -bench Filter -benchmem ./source/packet
func BenchmarkFilter(b *testing.B) {
	var frames [][]byte
	for _, v := range loadVectors(b) {
		frames = append(frames, v.frame)
	}
	f := NewFilter(PortsOf(800, 801, 803, 804, 805), time.Now)
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		f.Frame(frames[i%len(frames)])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packets/s")
}

// BenchmarkParseTCPSyn is the common knock: an IPv4 TCP SYN, as NFLOG
// delivers it.
func BenchmarkParseTCPSyn(b *testing.B) {
	ip, _ := ipPart(vectorFrame(b, "tcp4-syn"))
	f := NewFilter(PortsOf(800), time.Now)
	start := time.Now()
	for b.Loop() {
		f.IP(ip)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packets/s")
}
