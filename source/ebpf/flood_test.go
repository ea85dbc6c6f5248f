package ebpf

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet/packettest"
)

// floodPackets is the size of each test flood: enough to churn a small
// stage 1, quick to send.
const floodPackets = 30000

// flood sends n spoofed SYNs to span ports of dst from random addresses
// of prefix, each address repeat times in a row, from the client
// namespace, through a raw socket opened there. sent counts the packets
// the socket took.
func flood(p *netnstest.Pair, prefix netip.Prefix, repeat int, dst netip.Addr, n int, sent *atomic.Int64) error {
	return p.Client.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		rng := rand.New(rand.NewPCG(1, 2))
		base := prefix.Masked().Addr().As4()
		hosts := uint32(1) << (32 - prefix.Bits())
		to := &unix.SockaddrInet4{Addr: dst.As4()}
		buf := make([]byte, 0, 64)
		var src netip.Addr
		for i := range n {
			if i%repeat == 0 {
				v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
				v += rng.Uint32N(hosts)
				src = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			}
			buf = pkt{Src: src, Dst: dst, Proto: 6, Port: 7000 + uint16(rng.IntN(256))}.appendIP(buf[:0])
			if unix.Sendto(fd, buf, 0, to) == nil {
				sent.Add(1)
			}
		}
		return nil
	})
}

// TestFlood: a real knock sent in the middle of a spoofed flood arrives
// whole, and the flood's sources are mostly not handed to userspace: from
// random addresses because they are seldom seen twice; from random
// addresses sent twice each (all promoted to stage 2) because none reaches
// the minimum, while the knock, whose packets come close together, stays
// among stage 2's most recently used; from a small prefix because each
// source has a budget.
func TestFlood(t *testing.T) {
	const budget = 16
	for _, tc := range []struct {
		name   string
		prefix netip.Prefix
		repeat int // packets per spoofed address, in a row
		// maxRecords bounds the records the flood may cause.
		maxRecords uint64
	}{
		{name: "random", prefix: netip.MustParsePrefix("100.64.0.0/10"), repeat: 1, maxRecords: floodPackets / 100},
		{name: "random pairs", prefix: netip.MustParsePrefix("100.64.0.0/10"), repeat: 2, maxRecords: floodPackets / 100},
		{name: "slash24", prefix: netip.MustParsePrefix("203.0.113.0/24"), repeat: 1, maxRecords: 256 * (1 + budget)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := needPair(t)
			hits := make(chan source.Hit, 2*floodPackets)
			s := attached(t, p, Config{MinKnock: 8, Budget: budget})
			running(t, s, hits)
			var sent atomic.Int64
			done := make(chan error, 1)
			go func() { done <- flood(p, tc.prefix, tc.repeat, p.HostV4, floodPackets, &sent) }()
			for sent.Load() < floodPackets/3 {
				select {
				case err := <-done:
					t.Fatalf("flood ended after %d packets: %v", sent.Load(), err)
				default:
				}
			}
			ks := knockOf(p, p.HostV4, 7002, 8)
			packettest.Send(t, p, ks...)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			marker := spa(p, p.HostV4, "after the flood")
			packettest.Send(t, p, marker)
			others := expect(t, hits, hitsOf(p, ks), packettest.HitOf(p, marker))
			c := s.Counters()
			t.Logf("flood of %d packets from %s: %d flood hits reached userspace; counters %v", sent.Load(), tc.prefix, others, c)
			if flood := c["ring_events"] - 2; flood > tc.maxRecords {
				t.Errorf("the flood caused %d ring records, want at most %d", flood, tc.maxRecords)
			}
			if c["ring_full"] != 0 {
				t.Errorf("ring buffer full %d times", c["ring_full"])
			}
		})
	}
}
