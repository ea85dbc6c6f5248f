package afpacket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet"
	"github.com/portknock/knock/source/packet/packettest"
)

// macOffset is where a test block's frames put the packet after their
// tpacket3_hdr, as the kernel does: the header, then room for the
// sockaddr_ll, aligned.
const macOffset = 80

// makeBlock lays out packets in a block as the kernel does in a TPACKET_V3
// ring: a block header, then frames chained by tp_next_offset, each a
// tpacket3_hdr and the packet at tp_mac.
func makeBlock(size int, pkts ...[]byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, size)
	ne.PutUint32(b[blockStatus:], unix.TP_STATUS_USER)
	ne.PutUint32(b[blockPackets:], uint32(len(pkts)))
	off := 48 // after struct tpacket_block_desc, aligned
	ne.PutUint32(b[blockFirstPacket:], uint32(off))
	for i, p := range pkts {
		next := (macOffset + len(p) + 15) &^ 15
		if i == len(pkts)-1 {
			next = 0
		}
		h := b[off:]
		ne.PutUint32(h[frameNext:], uint32(next))
		ne.PutUint32(h[frameSnaplen:], uint32(len(p)))
		ne.PutUint32(h[16:], uint32(len(p))) // tp_len
		ne.PutUint16(h[frameMac:], macOffset)
		copy(h[macOffset:], p)
		off += next
	}
	return b
}

// TestFrames walks blocks, well-formed and not: a frame the block header
// or a frame header puts outside the block ends the walk with an error,
// never a read beyond it.
func TestFrames(t *testing.T) {
	ne := binary.NativeEndian
	a, b := []byte("first packet"), bytes.Repeat([]byte{0xab}, 1500)
	for _, tc := range []struct {
		name  string
		block []byte
		want  [][]byte
		err   error
	}{
		{name: "empty", block: makeBlock(4096)},
		{name: "two", block: makeBlock(4096, a, b), want: [][]byte{a, b}},
		{name: "one byte", block: makeBlock(4096, []byte{1}), want: [][]byte{{1}}},
		{name: "more packets than frames", block: func() []byte {
			blk := makeBlock(4096, a)
			ne.PutUint32(blk[blockPackets:], 1000)
			return blk
		}(), want: [][]byte{a}, err: errBlock},
		{name: "first frame outside", block: func() []byte {
			blk := makeBlock(4096, a)
			ne.PutUint32(blk[blockFirstPacket:], 4090)
			return blk
		}(), err: errBlock},
		{name: "snaplen beyond the block", block: func() []byte {
			blk := makeBlock(4096, a)
			ne.PutUint32(blk[48+frameSnaplen:], 5000)
			return blk
		}(), err: errBlock},
		{name: "mac beyond the block", block: func() []byte {
			blk := makeBlock(4096, a)
			ne.PutUint16(blk[48+frameMac:], 0xffff)
			return blk
		}(), err: errBlock},
		{name: "next beyond the block", block: func() []byte {
			blk := makeBlock(4096, a, a)
			ne.PutUint32(blk[48+frameNext:], 1<<31)
			return blk
		}(), want: [][]byte{a}, err: errBlock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFrames(tc.block)
			var got [][]byte
			for {
				p, ok := fs.next()
				if !ok {
					break
				}
				got = append(got, p)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d packets, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("packet %d is %q, want %q", i, got[i], tc.want[i])
				}
			}
			if !errors.Is(fs.err, tc.err) {
				t.Errorf("error %v, want %v", fs.err, tc.err)
			}
		})
	}
}

// TestRingRequest checks the ring's shape: what the kernel accepts (a
// block a multiple of the page, frames that divide it), at least two
// blocks, and about the size asked for.
func TestRingRequest(t *testing.T) {
	for _, size := range []int{1, 4096, 10000, 200 << 10, 256 << 10, DefaultReadBuffer, 100 << 20} {
		r := ringRequest(size)
		bs, n := int(r.Block_size), int(r.Block_nr)
		switch {
		case bs%4096 != 0 || bs > blockBytes || bs%int(r.Frame_size) != 0:
			t.Errorf("size %d: blocks of %d bytes, frames of %d", size, bs, r.Frame_size)
		case n < 2 || int(r.Frame_nr) != n*bs/int(r.Frame_size):
			t.Errorf("size %d: %d blocks, %d frames", size, n, r.Frame_nr)
		case size >= 2*blockBytes && (bs != blockBytes || bs*n < size || bs*(n-1) >= size):
			t.Errorf("size %d: %d blocks of %d bytes", size, n, bs)
		}
	}
	if r := ringRequest(DefaultReadBuffer); r.Block_nr != 32 || r.Retire_blk_tov != retireMs {
		t.Errorf("default ring %+v, want 32 blocks retired after %d ms", r, retireMs)
	}
}

// floodBlock is a block full of one kind of packet from the test vectors.
func floodBlock(tb testing.TB, vector string) (block []byte, n int) {
	tb.Helper()
	frame := packettest.Frames(tb, vectors)[vector]
	if frame == nil {
		tb.Fatalf("no vector %q", vector)
	}
	per := (macOffset + len(frame) + 15) &^ 15
	n = (blockBytes - 48) / per
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = frame
	}
	return makeBlock(blockBytes, pkts...), n
}

// deliverer is a source with no socket, for deliver, and a channel that
// takes a block's hits.
func deliverer() (s *Source, out chan source.Hit) {
	s = &Source{ethernet: true, iface: "eth0", filter: packet.NewFilter(ranges(0, 65535), nil)}
	out = make(chan source.Hit, 1<<16)
	return s, out
}

// TestDeliverNoAllocation checks the ring's share of the hot path: a
// block of packets that are no knocks, or of TCP knocks, allocates
// nothing; a block of UDP knocks allocates their payloads only.
func TestDeliverNoAllocation(t *testing.T) {
	for _, tc := range []struct {
		vector string
		perHit float64
	}{
		{"icmp4-echo", 0},
		{"tcp4-syn", 0},
		{"udp4-knock", 1},
	} {
		block, n := floodBlock(t, tc.vector)
		s, out := deliverer()
		ctx := context.Background()
		got := testing.AllocsPerRun(10, func() {
			if err := s.deliver(ctx, block, out); err != nil {
				t.Fatal(err)
			}
			for len(out) > 0 {
				<-out
			}
		})
		if want := tc.perHit * float64(n); got != want {
			t.Errorf("%s: %v allocations for a block of %d, want %v", tc.vector, got, n, want)
		}
	}
}

// TestHitOutlivesBlock checks that a hit's payload is a copy: the kernel
// writes over a block once it is handed back.
func TestHitOutlivesBlock(t *testing.T) {
	block, _ := floodBlock(t, "udp4-knock")
	s, out := deliverer()
	if err := s.deliver(context.Background(), block, out); err != nil {
		t.Fatal(err)
	}
	h := <-out
	want := string(h.Payload)
	clear(block)
	if len(want) == 0 || string(h.Payload) != want {
		t.Errorf("payload %q changed to %q with the block", want, h.Payload)
	}
}

// BenchmarkFrame measures Go's cost of one TPACKET_V3 frame: walking to it
// in a block and parsing it, for a flood that passes the kernel filter
// (TCP SYNs to the span, each a hit sent on the channel) and for packets
// that are no knocks.
//
//	go test -run XXX -bench Frame ./source/afpacket
func BenchmarkFrame(b *testing.B) {
	for _, vector := range []string{"tcp4-syn", "udp4-knock", "icmp4-echo"} {
		b.Run(vector, func(b *testing.B) {
			block, n := floodBlock(b, vector)
			s, out := deliverer()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				if err := s.deliver(ctx, block, out); err != nil {
					b.Fatal(err)
				}
				for len(out) > 0 {
					<-out
				}
			}
		})
	}
}
