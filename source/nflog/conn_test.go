package nflog

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet"
	"github.com/portknock/knock/source/packet/packettest"
)

// message is one NFULNL_MSG_PACKET as the kernel sends it: a payload and,
// if seq >= 0, a sequence number, between other attributes.
func message(typ uint16, seq int64, payload []byte) []byte {
	attr := func(b []byte, t uint16, data []byte) []byte {
		b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
		b = binary.NativeEndian.AppendUint16(b, t)
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	body := []byte{unix.AF_INET, 0, 0, 7}
	body = attr(body, 1, []byte{0x08, 0x00, 1, 0}) // NFULA_PACKET_HDR
	if seq >= 0 {
		body = attr(body, attrSeq|0x4000, binary.BigEndian.AppendUint32(nil, uint32(seq)))
	}
	if payload != nil {
		body = attr(body, attrPayload, payload)
	}
	body = attr(body, 10, []byte("prefix\x00")) // NFULA_PREFIX
	m := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	m = binary.NativeEndian.AppendUint16(m, typ)
	m = append(m, make([]byte, 10)...) // flags, seq, pid
	return append(m, body...)
}

type got struct {
	seq     uint32
	hasSeq  bool
	payload string
}

func parse(b []byte) []got {
	var out []got
	packets(b, func(seq uint32, hasSeq bool, payload []byte) bool {
		out = append(out, got{seq, hasSeq, string(payload)})
		return true
	})
	return out
}

// A batch holds several packets, with or without sequence numbers, and
// other messages, which are skipped; a truncated message ends the batch.
func TestPackets(t *testing.T) {
	b := slices.Concat(
		message(msgPacket, 41, []byte("one!")),
		message(unix.NLMSG_DONE, -1, nil),
		message(msgPacket, -1, []byte("two")),
		message(msgPacket, 43, nil),
	)
	want := []got{{41, true, "one!"}, {0, false, "two"}, {43, true, ""}}
	if g := parse(b); !slices.Equal(g, want) {
		t.Fatalf("got %v, want %v", g, want)
	}
	if g := parse(b[:len(b)-3]); !slices.Equal(g, want[:2]) {
		t.Fatalf("truncated batch: got %v, want %v", g, want[:2])
	}
	bad := message(msgPacket, 1, []byte("x"))
	binary.NativeEndian.PutUint16(bad[unix.NLMSG_HDRLEN+4:], 200) // attribute longer than the message
	if g := parse(bad); len(g) != 1 || g[0].hasSeq || g[0].payload != "" {
		t.Fatalf("bad attribute: got %v", g)
	}
}

func FuzzPackets(f *testing.F) {
	f.Add(slices.Concat(message(msgPacket, 41, []byte("one!")), message(msgPacket, -1, []byte("two"))))
	f.Add(message(unix.NLMSG_DONE, -1, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		parse(b)
	})
}

// BenchmarkReceivePath is the reader's work for one logged UDP knock,
// from the socket's bytes to the hit handed over: parsing in place,
// the filter, the channel.
//
//	go test -run XXX -bench ReceivePath -benchmem ./source/nflog
func BenchmarkReceivePath(b *testing.B) {
	payload := []byte("single packet knock")
	ip := []byte{0x45, 0, 0, byte(28 + len(payload)), 0, 0, 0x40, 0, 64, unix.IPPROTO_UDP, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
		0x9c, 0x40, 0x03, 0x20, 0, byte(8 + len(payload)), 0, 0} // 10.0.0.2:40000 > 10.0.0.1:800
	ip = append(ip, payload...)
	msg := message(msgPacket, 0, ip)
	out := make(chan source.Hit, 1)
	r := &reader{filter: packet.NewFilter(packet.SpanPorts(packettest.Span(b, "745-1000")), nil), out: out, ctx: context.Background()}
	r.hookFn = r.hook
	b.ReportAllocs()
	for b.Loop() {
		packets(msg, r.hookFn)
		select {
		case <-out:
		default:
			b.Fatal("no hit")
		}
	}
}
